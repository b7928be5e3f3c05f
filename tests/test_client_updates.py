"""Client updates, the pure part: cadence per priority, templates, the 'next update' phrase and
phone redaction; and reading `[client_updates]` from an SOP and config.toml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from harness import write_config
from sop_files import MINIMAL, load, write_sop

from oncall import client_updates as cu
from oncall.config import load_config
from oncall.errors import ConfigError

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
# 02:00 CST on a Saturday.
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def sop_with(updates: str, tmp_path):
    return load(write_sop(tmp_path, MINIMAL + updates))


# --------------------------------------------------------------------------- SOP keys


@pytest.mark.parametrize(
    ("every", "priority", "expected"),
    [
        ('every = "45m"', "P1", timedelta(minutes=45)),
        ('every = "45m"', "P3", timedelta(minutes=45)),
        ('every = { P1 = "30m", P2 = "1h" }', "P1", timedelta(minutes=30)),
        ('every = { P1 = "30m", P2 = "1h" }', "P2", timedelta(hours=1)),
        ('every = { P1 = "30m", P2 = "1h" }', "P3", None),
        ('every = { P1 = "30m" }', None, None),
        ("", "P1", None),
    ],
)
def test_cadence_per_priority(tmp_path, every, priority, expected) -> None:
    sop = sop_with(f"[client_updates]\n{every}\n", tmp_path)
    assert sop.client_updates.cadence(priority) == expected


def test_full_client_updates_table(tmp_path) -> None:
    sop = sop_with(
        "[client_updates]\n"
        'every = { P1 = "30m", P2 = "2h" }\n'
        'grace = "10m"\n'
        "[client_updates.templates]\n"
        'first = "{company}: on it (#{number}). Next: {next_update}"\n'
        "[[client_updates.contacts]]\n"
        'name = "Dana Reyes"\nphone = "+1 312 555 0199"\npriorities = ["P1"]\n'
        "[[client_updates.contacts]]\n"
        'name = "Sam Ortiz"\nphone = "+1 312 555 0198"\n'
        "[[client_updates.contacts]]\n"
        'name = "Accounts"\nemail = "it@acme.example"\n',
        tmp_path,
    )
    updates = sop.client_updates
    assert updates.grace == timedelta(minutes=10)
    assert updates.templates == {"first": "{company}: on it (#{number}). Next: {next_update}"}
    assert [c.name for c in updates.recipients("P1")] == ["Dana Reyes", "Sam Ortiz"]
    assert [c.name for c in updates.recipients("P2")] == ["Sam Ortiz"]
    assert updates.contacts[0].priorities == ("P1",)
    assert updates.contacts[1].priorities == ()


def test_defaults(tmp_path) -> None:
    sop = sop_with('[client_updates]\nevery = "1h"\n', tmp_path)
    assert sop.client_updates.grace == timedelta(minutes=15)
    assert sop.client_updates.templates == {}


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('every = { P1 = "soon" }', "client_updates.every.P1", "cannot read duration"),
        ('grace = "0s"', "client_updates.grace", "positive"),
        (
            '[client_updates.templates]\nfirst = "Hi {contact}"',
            "client_updates.templates.first",
            "unknown placeholder {contact}",
        ),
        (
            '[client_updates.templates]\ngreeting = "Hi"',
            "client_updates.templates.greeting",
            "unknown template",
        ),
        (
            '[client_updates.templates]\nupdate = "#{number:>5}"',
            "client_updates.templates.update",
            "no format spec",
        ),
        ('[client_updates.templates]\nclosing = "{"', "client_updates.templates.closing", "braces"),
        (
            '[[client_updates.contacts]]\nname = "Dana"\nphone = "+13125550199"\npriorities = 1',
            "client_updates.contacts[0].priorities",
            "list of strings",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path, table, key, message) -> None:
    with pytest.raises(ConfigError) as info:
        sop_with(f"[client_updates]\n{table}\n", tmp_path)
    assert info.value.where == key and message in info.value.message
    assert info.value.path is not None and info.value.path.endswith("acme.md")


def test_config_company_and_templates(tmp_path) -> None:
    path = write_config(tmp_path, daemon='company = "Northwind IT"\n')
    text = path.read_text() + '\n[client_updates.templates]\nclosing = "All fixed. {note}"\n'
    path.write_text(text)
    config = load_config(path, {})
    assert config.company == "Northwind IT"
    assert config.client_templates == {"closing": "All fixed. {note}"}


def test_config_template_error_names_the_key(tmp_path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + '\n[client_updates.templates]\nupdate = "{host} down"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.where == "client_updates.templates.update"
    assert info.value.path is not None and info.value.path.endswith("config.toml")


def test_company_default(tmp_path) -> None:
    assert load_config(write_config(tmp_path), {}).company == "Your IT provider"


# --------------------------------------------------------------------------- templates


def test_choose_template_sop_before_config_before_default() -> None:
    sop, config = {"first": "sop"}, {"first": "config", "update": "config"}
    assert cu.choose_template("first", sop, config) == "sop"
    assert cu.choose_template("update", sop, config) == "config"
    assert cu.choose_template("closing", sop, config) == cu.DEFAULT_TEMPLATES["closing"]


def test_default_templates_are_valid_and_render() -> None:
    for kind, text in cu.DEFAULT_TEMPLATES.items():
        assert cu.check_template(text, None, kind) == text
    values = {
        "company": "Northwind IT",
        "client": "Acme",
        "number": 12,
        "priority": "P1",
        "message": "Server restarting.",
        "note": "",
        "next_update": "02:30 CST",
    }
    assert cu.render(cu.DEFAULT_TEMPLATES["update"], values) == (
        "Northwind IT update on #12 for Acme: Server restarting. Next update by 02:30 CST."
    )
    # An empty note leaves no trailing space.
    assert cu.render(cu.DEFAULT_TEMPLATES["closing"], values) == (
        "Northwind IT: the issue for Acme (ref #12) is resolved."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("done", "Done."),
        ("done.", "Done."),
        ("Really?", "Really?"),
        ("", ""),
        (" ok ", "Ok."),
        ("- line 3 running again", "Line 3 running again."),
        ("[number removed] , vendor engaged", "[number removed], vendor engaged."),
        (", vendor engaged", "Vendor engaged."),
    ],
)
def test_sentence(text, expected) -> None:
    assert cu.sentence(text) == expected


# --------------------------------------------------------------------------- next update


def _at(hour: int, minute: int, zone: ZoneInfo = CHICAGO, day: int = 28) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected", "rest"),
    [
        ("Server restarting, next update 02:30", _at(2, 30), "Server restarting"),
        ("next update at 2:30am", _at(2, 30), ""),
        ("Rebooting. Next update: 2:45", _at(2, 45), "Rebooting"),
        ("next update tomorrow", None, "next update tomorrow"),
        ("Next update at 2:30 a.m. - ISP engaged", _at(2, 30), "ISP engaged"),
        ("next update 3pm", _at(15, 0), ""),
        ("next update by 0330", _at(3, 30), ""),
        ("next update in 45m", NOW + timedelta(minutes=45), ""),
        ("ISP on site. Next update in 1 hour", NOW + timedelta(hours=1), "ISP on site"),
        ("next update in 1h30m", NOW + timedelta(minutes=90), ""),
        # A time already past today is tomorrow's.
        ("next update 01:00", _at(1, 0, day=29), ""),
        ("next update 25:00", None, ""),
        ("next update 13pm", None, ""),
        ("no promise here", None, "no promise here"),
    ],
)
def test_parse_next_update(text, expected, rest) -> None:
    assert cu.parse_next_update(text, NOW, CHICAGO) == (expected, rest)


def test_next_update_is_read_in_the_clients_zone() -> None:
    due, _ = cu.parse_next_update("next update 10:00", NOW, BERLIN)
    assert due == datetime(2026, 11, 28, 10, 0, tzinfo=BERLIN).astimezone(UTC)
    assert cu.client_time(due, BERLIN) == "10:00 CET"


def test_client_time_names_the_day_when_it_is_not_today() -> None:
    # 'next update 01:00' at 02:00 is tomorrow's 01:00: shown with its day, so neither the
    # client nor the tech reads it as a time already past.
    tomorrow = _at(1, 0, day=29)
    assert cu.client_time(tomorrow, CHICAGO, NOW) == "Sun 01:00 CST"
    assert cu.client_time(_at(2, 30), CHICAGO, NOW) == "02:30 CST"
    assert cu.client_time(tomorrow, CHICAGO) == "01:00 CST"  # no reference: time only


def test_next_update_across_a_dst_change() -> None:
    # 01:00 CDT on the night clocks go back (Sunday 2026-11-01 02:00 CDT → 01:00 CST).
    now = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 CDT
    due, _ = cu.parse_next_update("next update 03:00", now, CHICAGO)
    assert due == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # 03:00 CST
    assert due - now == timedelta(hours=3)


@pytest.mark.parametrize(
    ("text", "expected", "named"),
    [
        ("next update 02:30", _at(2, 30), True),
        ("next update in 23h", NOW + timedelta(hours=23), True),
        ("next update in 25h", NOW + timedelta(minutes=30), False),  # too far: cadence
        ("next update in 0m", NOW + timedelta(minutes=30), False),  # not in the future
        ("rebooting", NOW + timedelta(minutes=30), False),
    ],
)
def test_next_due(text, expected, named) -> None:
    due, _, was_named = cu.next_due(text, NOW, CHICAGO, timedelta(minutes=30))
    assert (due, was_named) == (expected, named)


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call Alice on 312-555-0101", "call Alice on [number removed]"),
        ("or +1 (312) 555-0101.", "or [number removed]."),
        ("desk: 312 555 0100", "desk: 312 555 0100"),  # not a tech's: stays
        ("ticket 4471 open", "ticket 4471 open"),
        ("3125550101 and 3125550102", "[number removed] and [number removed]"),
    ],
)
def test_redact_tech_phones(text, expected) -> None:
    assert cu.redact(text, {"+13125550101", "+13125550102"}) == expected
