"""`oncall doctor`: pure checks, and the command in live mode against the sandbox Twilio peer."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner
from harness import AFTER_HOURS, SECRET, PeerThread, write_config

from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.doctor import (
    check_chains,
    check_coverage,
    check_database,
    check_number,
    check_public_url,
    check_skew,
    webhook_lines,
)

SID = "AC" + "d" * 32
TOKEN = "doctor-token-0123456789abcdef"
FROM = "+15550009999"
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def levels(lines) -> list[str]:
    return [line.level for line in lines]


@pytest.mark.parametrize(
    ("url", "level"),
    [
        ("https://oncall.example.com", "ok"),
        ("http://127.0.0.1:8787", "ok"),
        ("http://localhost:8787", "ok"),
        ("http://oncall.example.com", "warn"),
    ],
)
def test_public_url_should_be_https(url: str, level: str) -> None:
    assert check_public_url(url).level == level


def test_clock_skew_warns_beyond_30_seconds() -> None:
    assert check_skew(format_datetime(NOW, usegmt=True), NOW + timedelta(seconds=2)).level == "ok"
    late = check_skew(format_datetime(NOW, usegmt=True), NOW + timedelta(seconds=95))
    assert late.level == "warn" and "+95 s" in late.message
    assert check_skew(format_datetime(NOW, usegmt=True), NOW - timedelta(seconds=31)).level == (
        "warn"
    )
    assert check_skew(None, NOW).level == "warn"
    assert check_skew("yesterday-ish", NOW).level == "warn"


def test_from_number_must_be_owned_with_sms_and_voice() -> None:
    def listing(**capabilities: bool) -> dict:
        return {"incoming_phone_numbers": [{"phone_number": FROM, "capabilities": capabilities}]}

    assert check_number(listing(sms=True, voice=True), FROM).level == "ok"
    no_voice = check_number(listing(sms=True, voice=False), FROM)
    assert no_voice.level == "fail" and "voice" in no_voice.message
    assert check_number({"incoming_phone_numbers": []}, FROM).level == "fail"


def test_database_writable_missing_and_locked(tmp_path) -> None:
    db = tmp_path / "var" / "oncall.db"
    assert check_database(db).level == "ok" and "does not exist yet" in str(check_database(db))
    db.parent.mkdir()
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    assert check_database(db).level == "ok"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        locked = check_database(db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.level == "fail" and "locked" in locked.message


def test_chains_and_coverage_of_the_shipped_rotations(tmp_path) -> None:
    catalog = load_catalog(write_config(tmp_path), {"ONCALL_TEST_SECRET": SECRET}, now=AFTER_HOURS)
    chains = check_chains(catalog, AFTER_HOURS)
    assert levels(chains) == ["ok"], chains
    on_call = [catalog.on_call(r, AFTER_HOURS)[0].id for r in ("primary", "backup")]
    assert chains[0].message == f"testco: escalation chain reaches {', '.join(on_call)}"
    assert "fail" not in levels(check_coverage(catalog, AFTER_HOURS))

    nobody = replace(catalog, rotations={})
    lines = check_chains(nobody, AFTER_HOURS)
    assert levels(lines) == ["warn", "warn", "fail"]
    assert "step 1 (rotation 'primary') reaches nobody" in lines[0].message
    coverage = check_coverage(replace(catalog, rotations={}), AFTER_HOURS)
    assert "fail" not in levels(coverage)  # no rotation to cover; the chain check fails instead


def test_webhook_urls_to_paste(tmp_path) -> None:
    catalog = load_catalog(write_config(tmp_path), {"ONCALL_TEST_SECRET": SECRET}, now=AFTER_HOURS)
    text = "\n".join(str(line) for line in webhook_lines(catalog))
    base = catalog.config.public_url
    assert f"POST {base}/twilio/sms" in text and f"POST {base}/twilio/voice" in text
    assert f"POST {base}/alerts/testco" in text and SECRET not in text


def live_config(tmp_path, peer: PeerThread):
    config = write_config(tmp_path, extra_twilio=f'api_base_url = "{peer.url}"\n')
    config.write_text(config.read_text().replace('mode = "sandbox"', 'mode = "live"'))
    return config


def doctor(config, token: str = TOKEN):
    env = {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": token, "ONCALL_TEST_SECRET": SECRET}
    at = AFTER_HOURS.isoformat()
    return CliRunner().invoke(main, ["doctor", "--config", str(config), "--at", at], env=env)


def test_doctor_live_against_the_sandbox_peer(tmp_path) -> None:
    with PeerThread(SID, TOKEN) as peer:
        peer.peer.account.numbers[FROM] = ("sms", "voice")
        result = doctor(live_config(tmp_path, peer))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"ok: twilio: credentials valid, account {SID} is active" in lines
    assert any(line.startswith("ok: clock: within") for line in lines)
    assert f"ok: from_number {FROM} is on the account with SMS and voice" in lines
    assert any(line.startswith("ok: database ") for line in lines)
    assert any(line.startswith("ok: testco: escalation chain reaches") for line in lines)
    assert all(line.split(":")[0] in ("ok", "warn") for line in lines)
    assert TOKEN not in result.output and SECRET not in result.output


def test_doctor_fails_on_bad_credentials_and_a_foreign_number(tmp_path) -> None:
    with PeerThread(SID, TOKEN) as peer:
        config = live_config(tmp_path, peer)
        wrong = doctor(config, token="not-the-token")
        foreign = doctor(config)
        peer.peer.account.numbers[FROM] = ("sms",)
        sms_only = doctor(config)
    assert wrong.exit_code == 1
    assert "fail: twilio: credentials rejected (401)" in wrong.output
    assert "not-the-token" not in wrong.output
    assert foreign.exit_code == 1
    assert f"fail: from_number {FROM} is not a number of this Twilio account" in foreign.output
    assert sms_only.exit_code == 1 and "cannot do voice" in sms_only.output


def test_doctor_in_sandbox_mode_calls_no_one(tmp_path) -> None:
    result = doctor(write_config(tmp_path))
    assert result.exit_code == 0, result.output
    assert "ok: twilio: sandbox mode; credentials and numbers not checked" in result.output
