"""The digest's pure part: settings from config.toml and the text of the e-mail and the SMS."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from harness import write_config

from oncall.config import load_config
from oncall.digest import DigestSettings, Item, compose, counts, parse_digest_settings
from oncall.errors import ConfigError

CHICAGO = ZoneInfo("America/Chicago")
PATH = Path("/etc/oncall/config.toml")
MONDAY_8 = datetime.fromisoformat("2026-11-30T08:00:00-06:00")


def item(id_: int, kind: str, when: str, new: bool = True, summary: str = "") -> Item:
    return Item(
        id=id_,
        kind=kind,
        summary=summary or f"{kind} {id_}",
        received_at=datetime.fromisoformat(when),
        new=new,
    )


FRIDAY_NIGHT = item(3, "call", "2026-11-27T22:00:00-06:00", summary="Voicemail from +18155550141")
SATURDAY = item(4, "alert", "2026-11-28T02:00:00-06:00", summary="warning alert from zabbix: disk")
SUNDAY = item(5, "call", "2026-11-29T09:15:00-06:00")
OLD = item(1, "heartbeat", "2026-11-25T03:00:00-06:00", new=False, summary="Missed heartbeat x")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([FRIDAY_NIGHT], "1 voicemail"),
        ([FRIDAY_NIGHT, SUNDAY, SATURDAY], "2 voicemails, 1 alert"),
        ([OLD, SATURDAY], "1 alert, 1 missed heartbeat"),
        ([OLD, OLD], "2 missed heartbeats"),
    ],
)
def test_counts_name_each_kind(items: list[Item], expected: str) -> None:
    assert counts(items) == expected


def test_the_sms_is_short_and_says_where_to_look() -> None:
    composed = compose(
        "acme-manufacturing", "Acme", [SATURDAY, SUNDAY, FRIDAY_NIGHT], CHICAGO, MONDAY_8
    )
    assert composed.sms == (
        "oncall digest Acme: 3 open since Fri 22:00 - 2 voicemails, 1 alert. "
        "oncall queue --client acme-manufacturing"
    )
    assert len(composed.sms) <= 160
    assert composed.subject == "oncall digest Acme: 3 open since Fri 22:00 (2 voicemails, 1 alert)"


def test_the_body_lists_new_items_then_those_still_open_from_before() -> None:
    composed = compose("acme", "Acme", [SATURDAY, OLD, FRIDAY_NIGHT], CHICAGO, MONDAY_8)
    body = composed.body
    assert "Acme (acme), Monday 2026-11-30 08:00 CST" in body
    new_at, old_at = body.index("New since the last digest:"), body.index("Still open from before:")
    assert new_at < old_at
    assert body.index("#3 ") < body.index("#4 ") < old_at < body.index("#1 ")
    assert "Fri 27 Nov 22:00  voicemail  Voicemail from +18155550141" in body
    assert "oncall queue done 1 3 4 --as YOU" in body
    assert "Times are in the client's zone (America/Chicago)." in body


def test_only_old_items_means_no_new_section() -> None:
    body = compose("acme", "Acme", [OLD], CHICAGO, MONDAY_8).body
    assert "New since the last digest" not in body and "Still open from before:" in body


def test_times_are_in_the_clients_zone() -> None:
    tokyo = compose("acme", "Acme", [SATURDAY], ZoneInfo("Asia/Tokyo"), MONDAY_8)
    assert "since Sat 17:00" in tokyo.sms  # 02:00 CST is 17:00 JST


def test_no_digest_without_items() -> None:
    with pytest.raises(AssertionError):
        compose("acme", "Acme", [], CHICAGO, MONDAY_8)


def test_settings_default_to_off() -> None:
    assert parse_digest_settings(None, PATH, False) == DigestSettings()


def test_settings_read_every_key() -> None:
    settings = parse_digest_settings(
        {"email_to": ["desk@msp.example"], "sms": True, "retries": 2, "retry_backoff": "1m"},
        PATH,
        True,
    )
    assert settings == DigestSettings(("desk@msp.example",), True, 2, timedelta(minutes=1))
    assert [settings.retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert parse_digest_settings({"email_to": "a@b.example"}, PATH, True).email_to == (
        "a@b.example",
    )


@pytest.mark.parametrize(
    ("raw", "smtp", "key"),
    [
        ({"email_to": ["desk@msp.example"]}, False, "digest.email_to"),
        ({"email_to": ["not an address"]}, True, "digest.email_to"),
        ({"email_to": [3]}, True, "digest.email_to"),
        ({"sms": "yes"}, True, "digest.sms"),
        ({"retries": -1}, True, "digest.retries"),
        ({"retries": True}, True, "digest.retries"),
        ({"retry_backoff": "soon"}, True, "digest.retry_backoff"),
        ({"emails": []}, True, "digest.emails"),
        ("on", True, "digest"),
    ],
)
def test_bad_settings_name_the_key(raw: object, smtp: bool, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_digest_settings(raw, PATH, smtp)
    assert error.value.where == key and str(PATH) in str(error.value)


def test_config_toml_reads_smtp_and_digest_and_names_the_key(tmp_path) -> None:
    path = write_config(tmp_path)
    base = path.read_text()
    path.write_text(base + '\n[digest]\nemail_to = ["desk@msp.example"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(path, {})
    assert error.value.where == "digest.email_to" and str(path) in str(error.value)
    path.write_text(
        base
        + '\n[smtp]\nhost = "mail.msp.example"\nfrom = "oncall@msp.example"\n'
        + 'username = "oncall"\npassword = "env:SMTP_PW"\n'
        + '\n[digest]\nemail_to = ["desk@msp.example"]\nsms = true\n'
    )
    config = load_config(path, {"SMTP_PW": "pw"})
    assert config.smtp is not None and config.smtp.port == 587 and config.smtp.password == "pw"
    assert config.digest.email_to == ("desk@msp.example",) and config.digest.sms
    path.write_text(base)
    plain = load_config(path, {})
    assert plain.smtp is None and plain.digest == DigestSettings()
