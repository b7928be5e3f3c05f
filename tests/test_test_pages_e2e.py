"""Test pages end to end: a running daemon, the sandbox Twilio peer and the techs' phones.

A test page arrives like a real one and is acknowledged like one (SMS or a key on the call);
one nobody acknowledges is reported to the owner; `oncall page --test` from the shell is
picked up by the running daemon; the weekly schedule survives restarts (a clean stop, and
kill -9 of a real process)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import structlog
from click.testing import CliRunner
from harness import AFTER_HOURS, Harness, eventually, write_config
from test_restart import setup  # noqa: F401 (a fixture: a real daemon process)

from oncall.cli import main
from oncall.clock import OffsetClock, SystemClock
from oncall.store import parse_ts

# AFTER_HOURS is Saturday 2026-11-28 02:00 Chicago; the next Tuesday 10:00 Chicago in UTC:
NEXT_TUESDAY = parse_ts("2026-12-01T16:00:00.000000Z")


def config_with(tmp_path: Path, test_pages: str) -> Path:
    path = write_config(tmp_path, daemon='owner = "owner"\n')
    path.write_text(path.read_text() + "\n[test_pages]\n" + test_pages)
    return path


def page(h: Harness, tech_id: str) -> int:
    engine = h.daemon.engine
    assert engine is not None
    (number,) = h.call(lambda: engine.test_pages.page([tech_id], "e2e"))
    return int(number)


def test_a_test_page_arrives_and_ack_says_the_phone_works(tmp_path: Path) -> None:
    with Harness(config_with(tmp_path, 'channels = ["sms"]\nack_within = "1m"\n')) as h:
        number = page(h, "alice")
        alice = h.phone("alice")
        alice.expect_sms(f"Test page — reply ACK {number} to confirm your phone works")
        alice.reply(f"ACK {number}").expect(
            "Test page acknowledged — your phone works. Nothing to do."
        )
        incident = h.incident(number)
        assert incident["state"] == "resolved" and incident["acked_by"] == "alice"
        assert incident["test"] == 1
        h.phone("owner").expect_no_sms(0.5)
        alice.expect_no_sms(0.1)
        metrics = h.http.get(f"{h.url}/metrics").text
        assert 'oncall_test_pages_total{outcome="acknowledged"} 1.0' in metrics
        # Test pages stay out of the real acknowledgment latency.
        assert "oncall_ack_latency_seconds_count 0.0" in metrics


def test_a_test_call_is_acknowledged_with_a_key(tmp_path: Path) -> None:
    with Harness(config_with(tmp_path, 'channels = ["voice"]\n')) as h:
        number = page(h, "bob")
        bob = h.phone("bob")
        call = bob.expect_call("test page")
        call.expect("There is no emergency").expect("Press 1 to acknowledge")
        call.press("1").expect("your phone works")
        assert h.incident(number)["acked_by"] == "bob"
        # An answering machine hears that it is a test, not an emergency being escalated.
        number = page(h, "bob")
        machine = bob.expect_call(answer=False).voicemail()
        machine.expect(f"test page, incident {number}").expect("Reply to the text message")
        assert "escalated" not in machine.heard


def test_an_unacknowledged_test_page_is_reported_to_the_owner(tmp_path: Path) -> None:
    with Harness(config_with(tmp_path, 'channels = ["sms"]\nack_within = "2s"\n')) as h:
        number = page(h, "bob")
        bob = h.phone("bob").expect_sms(f"reply ACK {number}")
        h.phone("owner").expect_sms(
            "Test page to Bob Okafor (sent Sat 02:00 CST) was not acknowledged within 2s"
            " — check their phone, SMS opt-out state and number.",
            timeout=6,
        )
        incident = h.incident(number)
        assert incident["state"] == "resolved" and incident["resolved_by"] == "test-timeout"
        assert incident["acked_at"] is None
        bob.reply(f"ACK {number}").expect(f"#{number} is already resolved.")


def test_oncall_page_test_from_the_shell_reaches_the_phone(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'channels = ["sms"]\nack_within = "1m"\n')
    saved = structlog.get_config()
    try:
        with Harness(config, clock=SystemClock()) as h:
            result = CliRunner().invoke(main, ["page", "--test", "carol", "--config", str(config)])
            assert result.exit_code == 0, result.output
            assert result.stdout.startswith("Test page #1 to Carol Diaz (sms): ACK 1 within 1m.")
            carol = h.phone("carol").expect_sms("Test page — reply ACK 1", timeout=8)
            carol.reply("ACK").expect("your phone works")
            assert h.incident(1)["state"] == "resolved"
    finally:
        structlog.configure(**saved)


def pending_schedule(h: Harness) -> list[dict]:
    return h.query("SELECT * FROM timers WHERE kind = 'test_schedule' AND done_at IS NULL")


def test_the_weekly_schedule_survives_a_restart_and_fires(tmp_path: Path) -> None:
    config = config_with(
        tmp_path, 'weekly = "tuesday 10:00"\ntechs = ["alice"]\nchannels = ["sms"]\n'
    )
    with Harness(config, clock=OffsetClock.starting_at(AFTER_HOURS)) as h:
        (timer,) = pending_schedule(h)
        assert parse_ts(timer["due_at"]) == NEXT_TUESDAY
    # Back up a little before the weekly test is due: the same timer, not a second one.
    clock = OffsetClock.starting_at(NEXT_TUESDAY - timedelta(seconds=1))
    with Harness(config, clock=clock) as h:
        assert [t["id"] for t in pending_schedule(h)] == [timer["id"]]
        alice = h.phone("alice").expect_sms("Test page — reply ACK", timeout=6)
        alice.reply("ACK").expect("your phone works")
        (following,) = eventually(lambda: pending_schedule(h))
        assert parse_ts(following["due_at"]) == NEXT_TUESDAY + timedelta(days=7)
    # Down over the time it was due, up again shortly after (within the hour): it still goes.
    clock = OffsetClock.starting_at(NEXT_TUESDAY + timedelta(days=7, minutes=5))
    with Harness(config, clock=clock) as h:
        h.phone("alice").expect_sms("Test page — reply ACK", timeout=6)


def schedule_rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT id, due_at FROM timers WHERE kind = 'test_schedule' AND done_at IS NULL"
        ).fetchall()


def test_the_weekly_timer_survives_kill_9(setup, tmp_path: Path) -> None:  # noqa: F811
    _, daemon, _ = setup
    config = daemon.config
    config.write_text(config.read_text() + '\n[test_pages]\nweekly = "monday 09:00"\n')
    daemon.start()
    db = tmp_path / "oncall.db"
    (row,) = eventually(lambda: schedule_rows(db))
    daemon.kill9()
    daemon.start()
    assert schedule_rows(db) == [row]
    assert daemon.terminate() == 0


def test_a_reload_replans_the_weekly_test(tmp_path: Path) -> None:
    config = config_with(tmp_path, 'weekly = "tuesday 10:00"\n')
    with Harness(config) as h:
        (old,) = pending_schedule(h)
        config.write_text(config.read_text().replace("tuesday 10:00", "wednesday 09:00"))
        assert h.call(h.daemon.reload) is True
        (new,) = pending_schedule(h)
        assert parse_ts(new["due_at"]) == parse_ts("2026-12-02T15:00:00.000000Z")
        config.write_text(config.read_text().replace('weekly = "wednesday 09:00"', ""))
        assert h.call(h.daemon.reload) is True
        assert pending_schedule(h) == []
        outcomes = h.query("SELECT outcome FROM timers WHERE kind = 'test_schedule' ORDER BY id")
        assert [o["outcome"] for o in outcomes] == ["rescheduled", "off"]
        assert old["id"] != new["id"]
