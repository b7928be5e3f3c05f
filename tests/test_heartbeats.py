"""Heartbeat schedules (oncall.heartbeats): pure tables, DST days included, and SOP errors."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sop_files import MINIMAL, line_of, load, write_sop

from oncall import heartbeats
from oncall.errors import ConfigError
from oncall.heartbeats import HeartbeatCheck

CHICAGO = ZoneInfo("America/Chicago")
NIGHTLY = HeartbeatCheck("backup", None, time(3, 0), timedelta(minutes=30), "error", "no backup")
HOURLY = HeartbeatCheck("sync", timedelta(hours=1), None, timedelta(minutes=5), "warning", "x")


def local(text: str) -> datetime:
    """A Chicago wall-clock time (first occurrence if repeated)."""
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "by", "expected_utc"),
    [
        ("2026-11-28", "03:00", "2026-11-28T09:00"),  # CST
        ("2026-07-01", "03:00", "2026-07-01T08:00"),  # CDT
        # Spring forward (2026-03-08): 02:30 never happens; due when the clocks jump.
        ("2026-03-08", "02:30", "2026-03-08T08:00"),
        ("2026-03-08", "03:00", "2026-03-08T08:00"),
        # Fall back (2026-11-01): 01:30 happens twice; due the first time.
        ("2026-11-01", "01:30", "2026-11-01T06:30"),
        ("2026-11-01", "03:00", "2026-11-01T09:00"),
    ],
)
def test_daily_instant_follows_the_wall_clock(day: str, by: str, expected_utc: str) -> None:
    at = local(f"{day}T12:00")
    assert heartbeats.daily_instant(at, time.fromisoformat(by), CHICAGO) == utc(expected_utc)


@pytest.mark.parametrize(
    ("checkin", "current", "expected"),
    [
        # On time: next is tomorrow night.
        ("2026-11-28T02:40", "2026-11-28T03:00", "2026-11-29T03:00"),
        # Late but inside grace, and late after a miss: still that night's, next is tomorrow.
        ("2026-11-28T03:20", "2026-11-28T03:00", "2026-11-29T03:00"),
        ("2026-11-28T04:10", "2026-11-29T03:00", "2026-11-29T03:00"),
        # Early (the job ran before midnight): counts for the coming night.
        ("2026-11-27T23:30", "2026-11-28T03:00", "2026-11-29T03:00"),
        # A second check-in the same night changes nothing.
        ("2026-11-28T02:50", "2026-11-29T03:00", "2026-11-29T03:00"),
    ],
)
def test_a_daily_check_in_counts_for_the_nearest_night(
    checkin: str, current: str, expected: str
) -> None:
    got = heartbeats.expected_after_checkin(NIGHTLY, local(checkin), local(current), CHICAGO)
    assert got == local(expected)


def test_a_daily_deadline_across_the_spring_forward_night_is_23_hours_later() -> None:
    got = heartbeats.expected_after_checkin(
        NIGHTLY, local("2026-03-07T02:55"), local("2026-03-07T03:00"), CHICAGO
    )
    assert got == local("2026-03-08T03:00")
    assert got == utc("2026-03-08T08:00")  # 03:00 CDT, 23 hours after 03:00 CST
    assert heartbeats.deadline(NIGHTLY, got) == utc("2026-03-08T08:30")


def test_an_interval_counts_from_the_check_in_and_advances_one_period_per_miss() -> None:
    at = utc("2026-11-28T10:17")
    assert heartbeats.expected_after_checkin(HOURLY, at, at, CHICAGO) == utc("2026-11-28T11:17")
    assert heartbeats.first_expected(HOURLY, at, CHICAGO) == utc("2026-11-28T11:17")
    assert heartbeats.expected_after_miss(HOURLY, at, CHICAGO) == utc("2026-11-28T11:17")
    assert heartbeats.deadline(HOURLY, at) == utc("2026-11-28T10:22")


def test_a_daily_check_is_first_expected_at_the_next_deadline_time() -> None:
    assert heartbeats.first_expected(NIGHTLY, local("2026-11-28T02:59"), CHICAGO) == local(
        "2026-11-28T03:00"
    )
    assert heartbeats.first_expected(NIGHTLY, local("2026-11-28T03:00"), CHICAGO) == local(
        "2026-11-29T03:00"
    )
    assert heartbeats.expected_after_miss(NIGHTLY, local("2026-11-28T03:00"), CHICAGO) == local(
        "2026-11-29T03:00"
    )


@pytest.mark.parametrize(
    ("last", "missed", "state"),
    [(None, None, "never"), (utc("2026-11-28T09:00"), None, "ok")]
    + [
        (None, utc("2026-11-28T09:30"), "late"),
        (utc("2026-11-27T09:00"), utc("2026-11-28"), "late"),
    ],
)
def test_state(last: datetime | None, missed: datetime | None, state: str) -> None:
    assert heartbeats.state(last, missed) == state


def test_the_missed_alert_is_a_heartbeat_alert_deduplicated_per_check() -> None:
    alert = heartbeats.missed_alert("acme", NIGHTLY, local("2026-11-28T03:00"), None, CHICAGO)
    assert (alert.source, alert.host, alert.dedup_key) == (
        "heartbeat",
        "backup",
        "heartbeat:acme:backup",
    )
    assert alert.status == "triggered" and alert.severity == "error"
    assert (
        "expected by 2026-11-28 03:00 CST" in alert.details and "never checked in" in alert.details
    )
    resolved = heartbeats.checked_in_alert("acme", NIGHTLY, local("2026-11-28T04:00"), CHICAGO)
    assert resolved.status == "resolved" and resolved.dedup_key == alert.dedup_key


# --------------------------------------------------------------------------- the SOP


def test_sop_heartbeats_are_read(tmp_path) -> None:
    sop = load(
        write_sop(
            tmp_path,
            MINIMAL
            + '[[heartbeat]]\nname = "backup"\nby = "03:00"\nseverity = "critical"\n'
            + '[[heartbeat]]\nname = "av-sync"\nevery = "1d"\ngrace = "2h"\n',
        )
    )
    backup, sync = sop.heartbeats
    assert backup == HeartbeatCheck(
        "backup", None, time(3, 0), timedelta(minutes=30), "critical", "backup did not check in"
    )
    assert sync.every == timedelta(days=1) and sync.grace == timedelta(hours=2)
    assert backup.schedule == "daily by 03:00, grace 30m" and sync.schedule == "every 1d, grace 2h"


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('name = "backup"\n', "heartbeat[0]", "either every"),
        ('name = "backup"\nevery = "1h"\nby = "03:00"\n', "heartbeat[0]", "either every"),
        ('every = "1h"\n', "heartbeat[0].name", "missing"),
        ('name = "backup"\nby = "3am"\n', "heartbeat[0].by", "HH:MM"),
        ('name = "backup"\nby = "25:00"\n', "heartbeat[0].by", "HH:MM"),
        ('name = "backup"\nevery = "0s"\n', "heartbeat[0].every", "positive"),
        ('name = "backup"\nevery = "1h"\nseverity = "loud"\n', "heartbeat[0].severity", "loud"),
        ('name = "backup"\nevery = "1h"\ncron = "x"\n', "heartbeat[0].cron", "unknown key"),
    ],
)
def test_sop_heartbeat_errors_name_the_key_and_line(
    tmp_path, table: str, key: str, message: str
) -> None:
    front = MINIMAL + "[[heartbeat]]\n" + table
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == key
    assert message in caught.value.message
    line = int(caught.value.message.split(":")[0].removeprefix("line "))
    assert line >= line_of(front, "[[heartbeat]]")


def test_a_check_declared_twice_is_an_error(tmp_path) -> None:
    twice = '[[heartbeat]]\nname = "backup"\nevery = "1h"\n'
    with pytest.raises(ConfigError, match="declared twice") as caught:
        load(write_sop(tmp_path, MINIMAL + twice + twice))
    assert caught.value.where == "heartbeat[1].name"
