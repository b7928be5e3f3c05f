"""SOP files: the examples load, every key is validated, and every error names file and key/line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sop_files import DEFAULTS, ENV, MINIMAL, load, write_sop

from oncall.errors import ConfigError
from oncall.intake import Alert
from oncall.sops import check_references, collect_sops, load_sop, load_sops

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SOPS = REPO / "sops"
EXAMPLE_TECHS = ("alice", "bob", "carol", "dave", "owner")
EXAMPLE_ROTATIONS = ("primary", "backup")
EXAMPLE_SECRETS = {
    "ONCALL_SECRET_ACME_MANUFACTURING": "acme-secret",
    "ONCALL_SECRET_HARBOR_LAW": "harbor-secret",
    "ONCALL_SECRET_RIVERSIDE_CLINIC": "riverside-secret",
}


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("sandbox", [True, False])
def test_example_sops_load_and_reference_known_techs_and_rotations(sandbox: bool) -> None:
    sops = load_sops(EXAMPLE_SOPS, DEFAULTS, env=EXAMPLE_SECRETS, sandbox=sandbox)
    assert set(sops) == {"acme-manufacturing", "harbor-law", "riverside-clinic"}
    assert check_references(sops, EXAMPLE_TECHS, EXAMPLE_ROTATIONS) == []
    for sop in sops.values():
        assert not sop.alert_secret_is_sandbox_default
        assert (
            sop.alert_secret == EXAMPLE_SECRETS[f"ONCALL_SECRET_{sop.id.upper().replace('-', '_')}"]
        )
        assert sop.runbook.startswith("# ")
        assert sop.escalation.final_contacts == ("owner",)
        assert sop.phone_menu, "every example offers emergencies in the phone menu"


def test_example_sops_fall_back_to_sandbox_secrets_without_environment() -> None:
    sops = load_sops(EXAMPLE_SOPS, DEFAULTS, env={}, sandbox=True)
    assert {sop.alert_secret for sop in sops.values()} == {
        "sandbox-acme-manufacturing",
        "sandbox-harbor-law",
        "sandbox-riverside-clinic",
    }
    assert all(sop.alert_secret_is_sandbox_default for sop in sops.values())


def test_demo_alert_matches_an_acme_emergency() -> None:
    acme = load_sop(
        EXAMPLE_SOPS / "acme-manufacturing.md", DEFAULTS, env=EXAMPLE_SECRETS, sandbox=False
    )
    alert = Alert(
        client="acme-manufacturing",
        source="ninjaone",
        severity="critical",
        summary="PLC line 3 offline",
        host="plc-line3",
    )
    matched = [rule.id for rule in acme.emergencies if rule.matches(alert)]
    assert matched and matched[0] == "production-stopped"
    assert acme.emergency("production-stopped") is not None
    assert acme.timezone.key == "America/Chicago"
    assert acme.caller_ids[0] == "+18155550140"


def test_example_secret_reference_missing_in_live_mode_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_sops(EXAMPLE_SOPS, DEFAULTS, env={}, sandbox=False)
    assert caught.value.where == "alert_secret"
    assert caught.value.path is not None and caught.value.path.endswith("acme-manufacturing.md")
    assert "ONCALL_SECRET_ACME_MANUFACTURING" in caught.value.message


# --------------------------------------------------------------------------- valid content


def test_minimal_sop_fills_defaults(tmp_path: Path) -> None:
    sop = load(write_sop(tmp_path, MINIMAL, body="\n\n# Acme runbook\nCall Dana.\n\n"))
    assert sop.id == "acme"
    assert sop.path == tmp_path / "acme.md"
    assert sop.caller_ids == ("+13125550142",)
    assert sop.pin is None
    assert sop.service_desk is None
    assert sop.alert_secret == "s3cret-acme"
    assert sop.alert_secret_source == "env:ONCALL_SECRET_ACME"
    assert "s3cret" not in repr(sop)
    assert sop.runbook == "# Acme runbook\nCall Dana.\n"
    step = sop.escalation.steps[0]
    assert step.rotation == "primary" and step.techs == ()
    assert step.ack_timeout == DEFAULTS.ack_timeout
    assert step.channels == ("sms",)
    assert sop.escalation.repeats == DEFAULTS.repeats
    assert sop.support_window.holiday_country is None
    assert sop.support_window.extra_closed == frozenset()
    assert sop.client_updates.every is None and sop.vendors == ()


def test_full_sop_keys(tmp_path: Path) -> None:
    front = MINIMAL.replace(
        'caller_ids = ["+1 312 555 0142"]',
        'caller_ids = ["+1 312 555 0142"]\npin = "04821"\nservice_desk = "(312) 555-0100"',
    ).replace(
        'hosts = ["plc-*"]',
        'hosts = "plc-*"\nsources = ["Ninja*"]\nmin_severity = "error"\nkeywords = ["line down"]\n'
        "phone_menu = false",
    ) + (
        '[[emergency]]\nid = "other"\npriority = "p3"\nlabel = "something else"\n'
        "[[escalation.steps]]\n"
        'techs = ["owner", "dave"]\nack_timeout = "90s"\nchannels = ["sms"]\n'
        '[client_updates]\nevery = "45m"\n'
        "[[client_updates.contacts]]\n"
        'name = "Dana Reyes"\nrole = "Plant manager"\nphone = "+1 312 555 0199"\n'
        "[[vendors]]\n"
        'id = "rockwell"\nname = "Rockwell"\nurl = "https://rockwell.example"\naccount = "TC-1"\n'
    )
    sop = load(write_sop(tmp_path, front))
    assert sop.pin == "04821"
    assert sop.service_desk == "+13125550100"
    first, other = sop.emergencies
    assert first.hosts == ("plc-*",) and first.sources == ("Ninja*",)
    assert first.min_severity == "error" and first.keywords == ("line down",)
    assert not first.phone_menu
    assert other.priority == "P3" and not other.matches_alerts
    assert sop.phone_menu == (other,)
    owner_step = sop.escalation.steps[1]
    assert owner_step.rotation is None and owner_step.techs == ("owner", "dave")
    assert owner_step.ack_timeout == timedelta(seconds=90)
    assert owner_step.channels == ("sms",)
    assert sop.client_updates.every == timedelta(minutes=45)
    assert sop.client_updates.contacts[0].phone == "+13125550199"
    assert sop.vendors[0].url == "https://rockwell.example"


# --------------------------------------------------------------------------- errors


ERROR_CASES = [
    # (replace this, with this, where, message fragment)
    ('name = "Acme"', 'name = "Acme"\ncolour = "blue"', "colour", "allowed: alert_secret"),
    ('client = "acme"', 'client = "acme-corp"', "client", "file name 'acme'"),
    ('client = "acme"', 'client = "Acme Corp"', "client", "a-z, 0-9"),
    ('client = "acme"\n', "", "client", "missing"),
    ('name = "Acme"\n', "", "name", "missing"),
    (
        'timezone = "America/Chicago"',
        'timezone = "America/Chicgo"',
        "timezone",
        "unknown time zone",
    ),
    ('timezone = "America/Chicago"\n', "", "timezone", "missing"),
    (
        'caller_ids = ["+1 312 555 0142"]',
        'caller_ids = ["+1 312 555 0142", "call me"]',
        "caller_ids[1]",
        "phone number",
    ),
    (
        'caller_ids = ["+1 312 555 0142"]',
        'caller_ids = ["+1 312 555 0142", "+13125550142"]',
        "caller_ids[1]",
        "listed twice",
    ),
    ('name = "Acme"', 'name = "Acme"\npin = 4821', "pin", "quoted string"),
    ('name = "Acme"', 'name = "Acme"\npin = "48a1"', "pin", "4 to 8 digits"),
    ('name = "Acme"', 'name = "Acme"\nservice_desk = "desk"', "service_desk", "phone number"),
    (
        '"env:ONCALL_SECRET_ACME"',
        '"evn:ONCALL_SECRET_ACME"',
        "alert_secret",
        "unknown secret source 'evn:'",
    ),
    ('"env:ONCALL_SECRET_ACME"', '"env:"', "alert_secret", "needs a name"),
    ('"env:ONCALL_SECRET_ACME"', '"credential:../x"', "alert_secret", "plain file name"),
    ('monday = "07:00-18:00"', 'monday = "7am-6pm"', "support_window.monday", "HH:MM-HH:MM"),
    ('monday = "07:00-18:00"', 'monday = "07:00-25:00"', "support_window.monday", "time of day"),
    ('monday = "07:00-18:00"', 'monday = "24:00-06:00"', "support_window.monday", "time of day"),
    ('monday = "07:00-18:00"', 'monday = "07:60-18:00"', "support_window.monday", "time of day"),
    ('monday = "07:00-18:00"', 'monday = "08:00-08:00"', "support_window.monday", "empty range"),
    ('monday = "07:00-18:00"', "monday = [700]", "support_window.monday", "HH:MM-HH:MM"),
    ('monday = "07:00-18:00"', 'mon = "07:00-18:00"', "support_window.mon", "allowed: friday"),
    ("[support_window]\n", "", "monday", "allowed:"),
    (
        '[support_window]\nmonday = "07:00-18:00"\n',
        "",
        "support_window",
        "missing",
    ),
    ("[[emergency]]\n", '[holidays]\ncountry = "XX"\n[[emergency]]\n', "holidays.country", "XX"),
    (
        "[[emergency]]\n",
        '[holidays]\ncountry = "US"\nsubdivision = "ZZ"\n[[emergency]]\n',
        "holidays.subdivision",
        "IL",
    ),
    (
        "[[emergency]]\n",
        '[holidays]\nsubdivision = "IL"\n[[emergency]]\n',
        "holidays.subdivision",
        "needs holidays.country",
    ),
    (
        "[[emergency]]\n",
        '[holidays]\ncountry = "US"\nextra = ["12/24/2026"]\n[[emergency]]\n',
        "holidays.extra[0]",
        "2026-12-24",
    ),
    (
        "[[emergency]]\n",
        '[holidays]\ncountry = "US"\nnot_observed = ["Groundhog Day"]\n[[emergency]]\n',
        "holidays.not_observed",
        "Groundhog Day",
    ),
    (
        "[[emergency]]\n",
        '[holidays]\ncountry = "US"\nstate = "IL"\n[[emergency]]\n',
        "holidays.state",
        "allowed: country",
    ),
    ('hosts = ["plc-*"]', 'hostz = ["plc-*"]', "emergency[0].hostz", "allowed:"),
    ('hosts = ["plc-*"]', "hosts = []", "emergency[0].hosts", "non-empty list"),
    ('hosts = ["plc-*"]', 'hosts = ["plc-*", ""]', "emergency[0].hosts", "non-empty strings"),
    ('priority = "P1"', 'priority = "urgent"', "emergency[0].priority", "P1, P2, P3, P4"),
    ('priority = "P1"\n', "", "emergency[0].priority", "P1, P2, P3, P4"),
    ('label = "production is stopped"\n', "", "emergency[0].label", "missing"),
    ('id = "production-stopped"', 'id = "Production Stopped"', "emergency[0].id", "a-z"),
    (
        'hosts = ["plc-*"]',
        'hosts = ["plc-*"]\nmin_severity = "sev1"',
        "emergency[0].min_severity",
        "info, warning, error, critical",
    ),
    (
        'hosts = ["plc-*"]',
        'hosts = ["plc-*"]\nphone_menu = "no"',
        "emergency[0].phone_menu",
        "true or false",
    ),
    ('hosts = ["plc-*"]', "phone_menu = false", "emergency[0]", "can never fire"),
    (
        "[escalation]\n",
        '[[emergency]]\nid = "production-stopped"\npriority = "P2"\nlabel = "again"\n'
        "[escalation]\n",
        "emergency[1].id",
        "duplicate",
    ),
    ("[[emergency]]\n", "[emergency]\n", "emergency", "[[emergency]]"),
    (
        'rotation = "primary"',
        'rotation = "primary"\nack_timeout = "soon"',
        "escalation.steps[0].ack_timeout",
        "duration",
    ),
    (
        'rotation = "primary"',
        'rotation = "primary"\nack_timeout = "0s"',
        "escalation.steps[0].ack_timeout",
        "positive",
    ),
    (
        'rotation = "primary"',
        'rotation = "primary"\nchannels = ["pager"]',
        "escalation.steps[0].channels",
        "unknown channel 'pager'",
    ),
    (
        'rotation = "primary"',
        'rotation = "primary"\nchannels = ["sms", "sms"]',
        "escalation.steps[0].channels",
        "twice",
    ),
    (
        'rotation = "primary"',
        'rotation = "primary"\ntechs = ["bob"]',
        "escalation.steps[0]",
        "either",
    ),
    ('rotation = "primary"', 'ack_timeout = "5m"', "escalation.steps[0]", "either"),
    ('rotation = "primary"', 'rotation = ""', "escalation.steps[0].rotation", "non-empty"),
    ('rotation = "primary"', "techs = []", "escalation.steps[0].techs", "non-empty list"),
    ("[[escalation.steps]]\n", "steps = []\n#", "escalation.steps", "at least one"),
    ('final_contacts = ["owner"]\n', "", "escalation.final_contacts", "missing"),
    (
        'final_contacts = ["owner"]',
        'final_contacts = ["owner"]\nrepeats = -1',
        "escalation.repeats",
        ">= 0",
    ),
    (
        'final_contacts = ["owner"]',
        'final_contacts = ["owner"]\ntimeout = "5m"',
        "escalation.timeout",
        "allowed: final_contacts, repeats, steps",
    ),
    (
        '[escalation]\nfinal_contacts = ["owner"]\n\n[[escalation.steps]]\nrotation = "primary"\n',
        "",
        "escalation",
        "missing",
    ),
    (
        "[escalation]\n",
        '[client_updates]\nevery = "often"\n[escalation]\n',
        "client_updates.every",
        "duration",
    ),
    (
        "[escalation]\n",
        '[client_updates]\n[[client_updates.contacts]]\nname = "Dana"\n[escalation]\n',
        "client_updates.contacts[0]",
        "a phone or an email",
    ),
    (
        "[escalation]\n",
        '[[vendors]]\nid = "rw"\nname = "Rockwell"\nfax = "1"\n[escalation]\n',
        "vendors[0].fax",
        "allowed: account",
    ),
    (
        "[escalation]\n",
        '[[vendors]]\nid = "rw"\nname = "Rockwell"\n[escalation]\n',
        "vendors[0]",
        "a phone, an email or a url",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "fragment"), ERROR_CASES)
def test_errors_name_file_and_key(
    tmp_path: Path, old: str, new: str, where: str, fragment: str
) -> None:
    assert old in MINIMAL, f"test case does not apply: {old!r}"
    front = MINIMAL.replace(old, new, 1)
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path)
    error = caught.value
    assert error.path == str(path)
    assert error.where == where
    assert fragment in error.message
    assert str(error).startswith(f"{path}: {where}: ")


# --------------------------------------------------------------------------- directories


def test_load_sops_reads_every_md_by_client_id(tmp_path: Path) -> None:
    write_sop(tmp_path, MINIMAL)
    write_sop(
        tmp_path,
        MINIMAL.replace('"acme"', '"harbor"').replace("+1 312 555 0142", "+1 212 555 0160"),
        name="harbor",
    )
    (tmp_path / ".#acme.md").write_text("editor lock", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not an SOP", encoding="utf-8")
    sops = load_sops(tmp_path, DEFAULTS, env=ENV, sandbox=True)
    assert sorted(sops) == ["acme", "harbor"]


def test_load_sops_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_sops(tmp_path / "sops", DEFAULTS, env=ENV, sandbox=True)
    assert caught.value.path == str(tmp_path / "sops")
    assert "not found" in caught.value.message


def test_collect_sops_reports_every_broken_file_and_shared_caller_ids(tmp_path: Path) -> None:
    write_sop(tmp_path, MINIMAL)
    write_sop(tmp_path, MINIMAL.replace('"acme"', '"bravo"'), name="bravo")
    broken = write_sop(
        tmp_path, MINIMAL.replace('"acme"', '"charlie"').replace("P1", "P9"), name="charlie"
    )
    sops, errors = collect_sops(tmp_path, DEFAULTS, env=ENV, sandbox=True)
    assert sorted(sops) == ["acme", "bravo"]
    assert [(e.path, e.where) for e in errors] == [
        (str(broken), "emergency[0].priority"),
        (str(tmp_path / "bravo.md"), "caller_ids[0]"),
    ]
    assert "client 'acme'" in errors[1].message
    with pytest.raises(ConfigError) as caught:
        load_sops(tmp_path, DEFAULTS, env=ENV, sandbox=True)
    assert caught.value.where == "emergency[0].priority"


def test_check_references_names_unknown_techs_and_rotations(tmp_path: Path) -> None:
    front = MINIMAL.replace('final_contacts = ["owner"]', 'final_contacts = ["owner", "zed"]') + (
        '[[escalation.steps]]\ntechs = ["alice", "mallory"]\n'
        '[[escalation.steps]]\nrotation = "erp-specialists"\n'
    )
    sop = load(write_sop(tmp_path, front))
    errors = check_references({"acme": sop}, EXAMPLE_TECHS, EXAMPLE_ROTATIONS)
    assert [(e.path, e.where) for e in errors] == [
        (str(sop.path), "escalation.steps[1].techs"),
        (str(sop.path), "escalation.steps[2].rotation"),
        (str(sop.path), "escalation.final_contacts"),
    ]
    assert "'mallory'" in errors[0].message and "alice" in errors[0].message
    assert "'erp-specialists'" in errors[1].message and "backup, primary" in errors[1].message
    assert "'zed'" in errors[2].message
    assert (
        check_references(
            {"acme": sop}, [*EXAMPLE_TECHS, "mallory", "zed"], ["primary", "erp-specialists"]
        )
        == []
    )


def test_a_step_can_ladder_sms_then_voice(tmp_path) -> None:
    front = MINIMAL.replace(
        'rotation = "primary"',
        'rotation = "primary"\nack_timeout = "10m"\nchannels = ["sms", "voice"]\nvoice_after = "3m"',
    )
    step = load(write_sop(tmp_path, front)).escalation.steps[0]
    assert step.channels == ("sms", "voice") and step.voice_after == timedelta(minutes=3)


@pytest.mark.parametrize(
    ("ack_timeout", "voice_after"),
    [("5m", timedelta(minutes=2)), ("1m", timedelta(seconds=30)), ("2s", timedelta(seconds=1))],
)
def test_voice_after_defaults_to_2m_or_half_the_ack_timeout(
    tmp_path, ack_timeout: str, voice_after: timedelta
) -> None:
    front = MINIMAL.replace(
        'rotation = "primary"',
        f'rotation = "primary"\nack_timeout = "{ack_timeout}"\nchannels = ["sms", "voice"]',
    )
    assert load(write_sop(tmp_path, front)).escalation.steps[0].voice_after == voice_after


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ('channels = ["sms"]\nvoice_after = "1m"', "second channel"),
        ('ack_timeout = "2m"\nchannels = ["sms", "voice"]\nvoice_after = "2m"', "shorter"),
        ('channels = ["sms", "voice"]\nvoice_after = "soon"', "cannot read duration"),
    ],
)
def test_bad_voice_after_is_refused(tmp_path, step: str, fragment: str) -> None:
    front = MINIMAL.replace('rotation = "primary"', f'rotation = "primary"\n{step}')
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == "escalation.steps[0].voice_after"
    assert fragment in caught.value.message
