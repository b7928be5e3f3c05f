"""SOP files: the examples load, every key is validated, and every error names file and key/line."""

from __future__ import annotations

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from oncall.config import Defaults
from oncall.errors import ConfigError
from oncall.intake import Alert
from oncall.sops import (
    END_OF_DAY,
    EmergencyRule,
    Sop,
    check_references,
    collect_sops,
    format_ranges,
    load_sop,
    load_sops,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SOPS = REPO / "sops"
EXAMPLE_TECHS = ("alice", "bob", "carol", "dave", "owner")
EXAMPLE_ROTATIONS = ("primary", "backup")
EXAMPLE_SECRETS = {
    "ONCALL_SECRET_ACME_MANUFACTURING": "acme-secret",
    "ONCALL_SECRET_HARBOR_LAW": "harbor-secret",
    "ONCALL_SECRET_RIVERSIDE_CLINIC": "riverside-secret",
}
DEFAULTS = Defaults(
    ack_timeout=timedelta(minutes=5),
    repeats=2,
    send_retries=3,
    retry_backoff=timedelta(seconds=2),
)
ENV = {"ONCALL_SECRET_ACME": "s3cret-acme"}

# A small valid front matter; each error case below changes one line of it.
MINIMAL = """\
client = "acme"
name = "Acme"
timezone = "America/Chicago"
caller_ids = ["+1 312 555 0142"]
alert_secret = "env:ONCALL_SECRET_ACME"

[support_window]
monday = "07:00-18:00"

[[emergency]]
id = "production-stopped"
priority = "P1"
label = "production is stopped"
hosts = ["plc-*"]

[escalation]
final_contacts = ["owner"]

[[escalation.steps]]
rotation = "primary"
"""


def write_sop(
    directory: Path, front_matter: str, name: str = "acme", body: str = "# Runbook\n"
) -> Path:
    path = directory / f"{name}.md"
    path.write_text(f"+++\n{front_matter}+++\n{body}", encoding="utf-8")
    return path


def load(path: Path, *, env: dict[str, str] | None = None, sandbox: bool = False) -> Sop:
    return load_sop(path, DEFAULTS, env=ENV if env is None else env, sandbox=sandbox)


def line_of(front_matter: str, text: str) -> int:
    """The file line (front matter starts on line 2) of the first line containing text."""
    for number, line in enumerate(front_matter.splitlines(), start=2):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in front matter")


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


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ('monday = "07:00-18:00"', {0: ((time(7), time(18)),)}),
        ('monday = " 7:00 - 18:30 "', {0: ((time(7), time(18, 30)),)}),
        ('monday = "closed"', {}),
        ("monday = []", {}),
        ('monday = "00:00-24:00"', {0: ((time(0), END_OF_DAY),)}),
        (
            'tuesday = ["13:00-22:00", "06:00-12:00"]',
            {1: ((time(6), time(12)), (time(13), time(22)))},
        ),
        ('monday = ["06:00-12:00", "11:00-14:00", "14:00-15:00"]', {0: ((time(6), time(15)),)}),
        (
            'monday = "22:00-06:00"',
            {0: ((time(22), END_OF_DAY),), 1: ((time(0), time(6)),)},
        ),
        ('monday = "22:00-00:00"', {0: ((time(22), END_OF_DAY),)}),
        (
            'sunday = "20:00-02:00"\nmonday = "08:00-17:00"',
            {6: ((time(20), END_OF_DAY),), 0: ((time(0), time(2)), (time(8), time(17)))},
        ),
        (
            'monday = "18:00-24:00"\ntuesday = "00:00-24:00"',
            {0: ((time(18), END_OF_DAY),), 1: ((time(0), END_OF_DAY),)},
        ),
    ],
)
def test_support_window_hours(
    tmp_path: Path, window: str, expected: dict[int, tuple[tuple[time, time], ...]]
) -> None:
    front = MINIMAL.replace('monday = "07:00-18:00"', window)
    hours = load(write_sop(tmp_path, front)).support_window.hours
    assert set(hours) == set(range(7))
    assert {day: ranges for day, ranges in hours.items() if ranges} == expected


def test_format_ranges_prints_end_of_day_as_24() -> None:
    assert (
        format_ranges(((time(6), time(12)), (time(22), END_OF_DAY))) == "06:00-12:00, 22:00-24:00"
    )


def test_holidays_extra_dates_and_not_observed(tmp_path: Path) -> None:
    front = MINIMAL + (
        '[holidays]\ncountry = "us"\nsubdivision = "IL"\n'
        'extra = ["2026-12-24", 2026-12-31]\nnot_observed = ["Columbus Day", "Election Day"]\n'
    )
    window = load(write_sop(tmp_path, front)).support_window
    assert window.holiday_country == "US" and window.holiday_subdivision == "IL"
    assert window.extra_closed == {date(2026, 12, 24), date(2026, 12, 31)}
    assert window.holiday(date(2026, 11, 26)) == "Thanksgiving Day"
    assert window.holiday(date(2026, 7, 3)) == "Independence Day (observed)"
    assert window.holiday(date(2026, 12, 24)) == "extra closed date 2026-12-24"
    assert window.holiday(date(2026, 10, 12)) is None  # Columbus Day: not observed
    assert window.holiday(date(2026, 11, 30)) is None
    assert window.ranges_on(date(2026, 11, 26)) == ()  # Thanksgiving
    assert window.ranges_on(date(2026, 10, 12)) == ((time(7), time(18)),)


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
        'name = "Rockwell"\nurl = "https://rockwell.example"\naccount = "TC-1"\n'
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


# --------------------------------------------------------------------------- alert secret


@pytest.mark.parametrize(
    ("reference", "env", "files", "expected", "source"),
    [
        ("env:HOOK", {"HOOK": " from-env \n"}, {}, "from-env", "env:HOOK"),
        ("file:secrets/acme.txt", {}, {"secrets/acme.txt": "from-file\n"}, "from-file", None),
        (
            "credential:acme-hook",
            {"CREDENTIALS_DIRECTORY": "{creds}"},
            {"creds/acme-hook": "from-credential\n"},
            "from-credential",
            "credential:acme-hook",
        ),
        ("k8Zq2LrX0vT4pN7w", {}, {}, "k8Zq2LrX0vT4pN7w", "literal"),
    ],
)
def test_alert_secret_sources(
    tmp_path: Path,
    reference: str,
    env: dict[str, str],
    files: dict[str, str],
    expected: str,
    source: str | None,
) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    env = {key: value.replace("{creds}", str(tmp_path / "creds")) for key, value in env.items()}
    front = MINIMAL.replace('"env:ONCALL_SECRET_ACME"', f'"{reference}"')
    sop = load(write_sop(tmp_path, front), env=env, sandbox=False)
    assert sop.alert_secret == expected
    assert not sop.alert_secret_is_sandbox_default
    assert sop.alert_secret_source == (source or f"file:{tmp_path / 'secrets/acme.txt'}")


@pytest.mark.parametrize(
    ("reference", "env", "mentions"),
    [
        ('"env:ONCALL_SECRET_ACME"', {}, "ONCALL_SECRET_ACME"),
        ('"env:ONCALL_SECRET_ACME"', {"ONCALL_SECRET_ACME": "  "}, "ONCALL_SECRET_ACME"),
        ('"file:missing.txt"', {}, "missing.txt"),
        ('"credential:acme-hook"', {}, "CREDENTIALS_DIRECTORY"),
        ('"credential:acme-hook"', {"CREDENTIALS_DIRECTORY": "/nonexistent"}, "acme-hook"),
        (None, {}, "missing"),
    ],
)
def test_missing_secret_is_an_error_in_live_mode_and_a_placeholder_in_sandbox(
    tmp_path: Path, reference: str | None, env: dict[str, str], mentions: str
) -> None:
    if reference is None:
        front = MINIMAL.replace('alert_secret = "env:ONCALL_SECRET_ACME"\n', "")
    else:
        front = MINIMAL.replace('"env:ONCALL_SECRET_ACME"', reference)
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path, env=env, sandbox=False)
    assert caught.value.path == str(path)
    assert caught.value.where == "alert_secret"
    assert mentions in caught.value.message
    sop = load(path, env=env, sandbox=True)
    assert sop.alert_secret == "sandbox-acme"
    assert sop.alert_secret_is_sandbox_default


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
        '[[vendors]]\nname = "Rockwell"\nfax = "1"\n[escalation]\n',
        "vendors[0].fax",
        "allowed: account",
    ),
    (
        "[escalation]\n",
        '[[vendors]]\nname = "Rockwell"\n[escalation]\n',
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


@pytest.mark.parametrize(
    ("old", "new", "located_text"),
    [
        ('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"', "timezone ="),
        ('monday = "07:00-18:00"', 'monday = "7am-6pm"', "monday ="),
        ('hosts = ["plc-*"]', "hosts = []", "hosts ="),
        ('rotation = "primary"', 'rotation = "primary"\nack_timeout = "soon"', "ack_timeout ="),
        ('name = "Acme"', 'name = "Acme"\ncolour = "blue"', "colour ="),
        (
            'caller_ids = ["+1 312 555 0142"]',
            'caller_ids = [\n  "+1 312 555 0142",\n  "bad",\n]',
            "caller_ids =",
        ),
    ],
)
def test_key_errors_also_give_the_line(
    tmp_path: Path, old: str, new: str, located_text: str
) -> None:
    front = MINIMAL.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.message.startswith(f"line {line_of(front, located_text)}: ")


def test_key_error_in_second_array_table_points_at_its_line(tmp_path: Path) -> None:
    front = MINIMAL + '[[escalation.steps]]\nrotation = "backup"\nack_timeout = "later"\n'
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == "escalation.steps[1].ack_timeout"
    assert caught.value.message.startswith(f"line {line_of(front, 'ack_timeout = ')}: ")


@pytest.mark.parametrize(
    ("broken_line", "column"),
    [
        ('name = "Acme', None),
        ("name = Acme", "column 8"),
        ('monday = "07:00-18:00" x', None),
        ("[support_window", None),
    ],
)
def test_toml_errors_give_the_line_in_the_file(
    tmp_path: Path, broken_line: str, column: str | None
) -> None:
    original = 'name = "Acme"' if broken_line.startswith("name") else None
    if broken_line.startswith("monday"):
        original = 'monday = "07:00-18:00"'
    if broken_line.startswith("[support_window"):
        original = "[support_window]"
    assert original is not None
    front = MINIMAL.replace(original, broken_line, 1)
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert caught.value.where == f"line {line_of(front, broken_line)}"
    assert caught.value.message.startswith("not valid TOML: ")
    if column:
        assert column in caught.value.message


def test_toml_error_at_end_of_front_matter(tmp_path: Path) -> None:
    front = MINIMAL + "final = [1,\n"
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == f"line {line_of(front, 'final = [1,')}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must start with a line '+++'"),
        ("# Acme\nJust a runbook.\n", "must start with a line '+++'"),
        ('---\nclient = "acme"\n---\n', "must start with a line '+++'"),
        (f"+++\n{MINIMAL}# no closing fence\n", "never closed"),
    ],
)
def test_missing_fence_is_an_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "acme.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert caught.value.where == "line 1"
    assert fragment in caught.value.message


def test_fence_tolerates_bom_and_trailing_spaces(tmp_path: Path) -> None:
    path = tmp_path / "acme.md"
    path.write_text(f"\ufeff+++  \r\n{MINIMAL}+++\t\r\n# Runbook\r\n", encoding="utf-8")
    assert load(path).runbook == "# Runbook\n"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nobody.md")


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


# --------------------------------------------------------------------------- emergency rules


def rule(**conditions: object) -> EmergencyRule:
    fields: dict[str, object] = {
        "id": "r",
        "priority": "P1",
        "label": "l",
        "sources": (),
        "min_severity": None,
        "hosts": (),
        "keywords": (),
    }
    fields.update(conditions)
    return EmergencyRule(**fields)  # type: ignore[arg-type]


PLC_ALERT = Alert(
    client="acme",
    source="NinjaOne",
    severity="critical",
    summary="PLC line 3 offline",
    details="Controller stopped   answering;\nLine DOWN",
    host="PLC-Line3",
)


@pytest.mark.parametrize(
    ("conditions", "matches", "explanation"),
    [
        ({"sources": ("ninja*",)}, True, "source NinjaOne ~ ninja*"),
        ({"sources": ("datto", "n-central")}, False, "source NinjaOne !~ datto, n-central"),
        ({"min_severity": "critical"}, True, "severity critical >= critical"),
        ({"min_severity": "error"}, True, "severity critical >= error"),
        ({"hosts": ("scada-*", "plc-*")}, True, "host PLC-Line3 ~ plc-*"),
        ({"hosts": ("plc-line[12]",)}, False, "host PLC-Line3 !~ plc-line[12]"),
        ({"keywords": ("line down",)}, True, "keyword 'line down' in summary/details"),
        (
            {"keywords": ("stopped answering",)},
            True,
            "keyword 'stopped answering' in summary/details",
        ),
        ({"keywords": ("fire",)}, False, "none of the keywords 'fire' in summary/details"),
        (
            {"min_severity": "critical", "hosts": ("plc-*",)},
            True,
            "severity critical >= critical; host PLC-Line3 ~ plc-*",
        ),
        (
            {"sources": ("datto",), "hosts": ("plc-*",)},
            False,
            "source NinjaOne !~ datto; host PLC-Line3 ~ plc-*",
        ),
        ({}, False, "phone-menu-only emergency: never matches an alert"),
    ],
)
def test_emergency_rule_matches_and_explains(
    conditions: dict[str, object], matches: bool, explanation: str
) -> None:
    emergency = rule(**conditions)
    assert emergency.matches(PLC_ALERT) is matches
    assert emergency.explain(PLC_ALERT) == explanation


@pytest.mark.parametrize(
    ("alert_changes", "explanation"),
    [
        ({"severity": "warning"}, "severity warning < critical"),
        ({"host": ""}, "host (none) !~ plc-*"),
    ],
)
def test_emergency_rule_failing_conditions(alert_changes: dict[str, str], explanation: str) -> None:
    emergency = rule(min_severity="critical", hosts=("plc-*",))
    alert = Alert(**(PLC_ALERT.to_dict() | alert_changes))
    assert not emergency.matches(alert)
    assert explanation in emergency.explain(alert)


def test_voice_channel_is_refused_until_voice_paging_exists(tmp_path) -> None:
    front = MINIMAL.replace('rotation = "primary"', 'rotation = "primary"\nchannels = ["voice"]')
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert "channels" in str(caught.value) and "voice" in str(caught.value)
