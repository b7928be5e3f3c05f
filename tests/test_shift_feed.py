"""Tests for oncall.shift_feed: a tech's shifts as an iCalendar feed that reads back the same."""

from __future__ import annotations

from pathlib import Path

from calendar_files import TECHS, utc

from oncall.rotations import Shift, parse_rotation, shifts
from oncall.shift_feed import feed_uid, shift_feed

NOW = utc(2026, 11, 23, 12)
SHIFTS = [
    Shift("primary", utc(2026, 11, 23, 14), utc(2026, 11, 30, 14), ("alice",), "alice", "p-a"),
    Shift("backup", utc(2026, 12, 1), utc(2026, 12, 2), ("alice",), "Alice Nguyen", "b-1"),
]


def test_the_feed_reads_back_as_the_same_shifts() -> None:
    text = shift_feed(SHIFTS, "On call: Alice Nguyen", NOW)
    assert b"X-WR-CALNAME:On call: Alice Nguyen" in text
    assert b"DTSTAMP:20261123T120000Z" in text
    feed = parse_rotation(text, "feed", Path("feed.ics"))
    found = shifts(feed, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert [(s.start, s.end, s.summary) for s in found] == [
        (utc(2026, 11, 23, 14), utc(2026, 11, 30, 14), "On call: primary"),
        (utc(2026, 12, 1), utc(2026, 12, 2), "On call: backup"),
    ]
    descriptions = [str(e["DESCRIPTION"]) for e in feed.calendar.walk("VEVENT")]
    assert descriptions == ["alice", "Alice Nguyen"]


def test_uids_are_stable_and_distinct() -> None:
    assert feed_uid(SHIFTS[0]) == feed_uid(SHIFTS[0])
    assert feed_uid(SHIFTS[0]) != feed_uid(SHIFTS[1])
    assert feed_uid(SHIFTS[0]).endswith("@oncall")
    text = shift_feed(SHIFTS, "x", NOW).decode()
    assert text.count("UID:") == 2 and feed_uid(SHIFTS[1]) in text


def test_an_empty_feed_is_still_a_calendar() -> None:
    feed = parse_rotation(shift_feed([], "nothing", NOW), "feed", Path("feed.ics"))
    assert feed.calendar.walk("VEVENT") == []
