"""The weekly test-page schedule and the `[test_pages]` settings: tables of cases, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.errors import ConfigError
from oncall.test_page_schedule import (
    DEFAULT_ACK_WITHIN,
    TestPageSettings,
    Weekly,
    next_occurrence,
    parse_test_page_settings,
    parse_weekly,
)

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
TECHS = {"alice": object(), "bob": object()}


@pytest.mark.parametrize(
    ("text", "weekday", "at"),
    [
        ("tuesday 10:00", 1, time(10, 0)),
        ("Tuesday 10:00", 1, time(10, 0)),
        ("tue 9:30", 1, time(9, 30)),
        ("  SUNDAY   02:30 ", 6, time(2, 30)),
        ("mon 00:00", 0, time(0, 0)),
        ("sat 23:59", 5, time(23, 59)),
        ("thurs 12:05", 3, time(12, 5)),
    ],
)
def test_schedules_people_write_are_read(text: str, weekday: int, at: time) -> None:
    assert parse_weekly(text) == Weekly(weekday, at)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("tuesday", "expected a day and a time"),
        ("10:00", "expected a day and a time"),
        ("tuesday 10am", "expected a day and a time"),
        ("tu 10:00", "unknown day"),
        ("funday 10:00", "unknown day"),
        ("tuesday 24:00", "no such time"),
        ("tuesday 10:60", "no such time"),
        ("tuesday 10:00 and friday 11:00", "expected a day and a time"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_weekly(text)


def local(text: str, zone: ZoneInfo = CHICAGO) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        # An ordinary week: Monday → the coming Tuesday 10:00 CST (16:00 UTC).
        ("tuesday 10:00", local("2026-11-23T09:00"), "2026-11-24T16:00:00+00:00"),
        # Exactly at the time: the next week (strictly after).
        ("tuesday 10:00", local("2026-11-24T10:00"), "2026-12-01T16:00:00+00:00"),
        # A minute before: today.
        ("tuesday 10:00", local("2026-11-24T09:59"), "2026-11-24T16:00:00+00:00"),
        # Across spring forward (Sunday 2026-03-08): 10:00 CDT is 15:00 UTC, not 16:00.
        ("tuesday 10:00", local("2026-03-04T12:00"), "2026-03-10T15:00:00+00:00"),
        # Across fall back (Sunday 2026-11-01): 10:00 CST is 16:00 UTC again.
        ("tuesday 10:00", local("2026-10-28T12:00"), "2026-11-03T16:00:00+00:00"),
        # A time skipped by spring forward moves on by the gap: 02:30 → 03:30 CDT.
        ("sunday 02:30", local("2026-03-07T12:00"), "2026-03-08T08:30:00+00:00"),
        # A time that happens twice on fall-back day is the first of the two (CDT).
        ("sunday 01:30", local("2026-10-31T12:00"), "2026-11-01T06:30:00+00:00"),
        # ... and once that first one has passed, the next is a week later, not an hour.
        ("sunday 01:30", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "2026-11-08T07:30:00+00:00"),
        # Europe changes on other Sundays (2026-03-29): Berlin's week before and after.
        ("monday 09:00", local("2026-03-25T12:00", BERLIN), "2026-03-30T07:00:00+00:00"),
        ("monday 09:00", local("2026-03-20T12:00", BERLIN), "2026-03-23T08:00:00+00:00"),
        # The zone's day counts, not UTC's: Monday 23:00 CST is already Tuesday in UTC.
        ("tuesday 00:30", local("2026-11-23T23:00"), "2026-11-24T06:30:00+00:00"),
    ],
)
def test_next_occurrence_follows_the_wall_clock(
    schedule: str, after: datetime, expected: str
) -> None:
    zone = after.tzinfo if isinstance(after.tzinfo, ZoneInfo) else CHICAGO
    due = next_occurrence(parse_weekly(schedule), after.astimezone(UTC), zone)
    assert due == datetime.fromisoformat(expected)
    assert due > after


def test_weekly_occurrences_are_a_week_apart_in_local_time_all_year() -> None:
    weekly = parse_weekly("tuesday 10:00")
    due = next_occurrence(weekly, datetime(2026, 1, 1, tzinfo=UTC), CHICAGO)
    for _ in range(60):
        following = next_occurrence(weekly, due, CHICAGO)
        assert following.astimezone(CHICAGO).strftime("%a %H:%M") == "Tue 10:00"
        assert following - due in (
            timedelta(days=7),
            timedelta(days=7, hours=1),
            timedelta(days=7, hours=-1),
        )
        due = following


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, TestPageSettings()),
        ({}, TestPageSettings()),
        ({"weekly": ""}, TestPageSettings()),
        (
            {"weekly": "tuesday 10:00", "techs": ["bob"], "ack_within": "2m", "channels": ["sms"]},
            TestPageSettings(
                weekly=Weekly(1, time(10)),
                techs=("bob",),
                ack_within=timedelta(minutes=2),
                channels=("sms",),
            ),
        ),
        ({"channels": ["voice"]}, TestPageSettings(channels=("voice",))),
    ],
)
def test_settings_are_read_with_defaults(raw: object, expected: TestPageSettings) -> None:
    assert parse_test_page_settings(raw, "config.toml", TECHS) == expected
    assert TestPageSettings().ack_within == DEFAULT_ACK_WITHIN


@pytest.mark.parametrize(
    ("raw", "key", "why"),
    [
        ("weekly", "test_pages", "expected a table"),
        ({"weekly": "someday"}, "test_pages.weekly", "expected a day and a time"),
        ({"weekly": 10}, "test_pages.weekly", "expected 'tuesday 10:00'"),
        ({"techs": ["zed"]}, "test_pages.techs", "unknown tech 'zed'"),
        ({"techs": "alice"}, "test_pages.techs", "expected a list"),
        ({"channels": ["fax"]}, "test_pages.channels", "expected a list"),
        ({"channels": []}, "test_pages.channels", "expected a list"),
        ({"ack_within": "soon"}, "test_pages.ack_within", "cannot read duration"),
        ({"ack_within": "0s"}, "test_pages.ack_within", "must be positive"),
        ({"every": "week"}, "test_pages.every", "unknown key"),
    ],
)
def test_bad_settings_name_the_key(raw: object, key: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why) as info:
        parse_test_page_settings(raw, "config.toml", TECHS)
    assert key in str(info.value)
