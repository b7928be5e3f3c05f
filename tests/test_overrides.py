"""Tests for oncall.overrides: `<name>.overrides.ics` beats the base calendar, the base shift
is cut around it — as pure functions, and through load_rotations / on_call / shifts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from calendar_files import CHICAGO, TECHS, event, shift_event, utc, write_ics

from oncall.overrides import apply_overrides, covered_stretches, cut_around
from oncall.rotations import Rotation, load_rotations, on_call, shifts, shifts_at

# --------------------------------------------------------------------------- pure


@dataclass(frozen=True)
class Block:
    name: str
    start: datetime
    end: datetime


def h(hour: float) -> datetime:
    return datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=hour)


def b(name: str, start: float, end: float) -> Block:
    return Block(name, h(start), h(end))


def spans(items: list[Block]) -> list[tuple[str, float, float]]:
    return [
        (i.name, (i.start - h(0)).total_seconds() / 3600, (i.end - h(0)).total_seconds() / 3600)
        for i in items
    ]


def test_covered_stretches_merge_overlapping_and_touching_items() -> None:
    items = [b("x", 5, 7), b("y", 0, 2), b("z", 1, 3), b("w", 3, 4), b("empty", 9, 9)]
    assert covered_stretches(items) == [(h(0), h(4)), (h(5), h(7))]
    assert covered_stretches([]) == []


@pytest.mark.parametrize(
    ("stretches", "expected"),
    [
        ([], [("s", 0, 10)]),
        ([(12, 14)], [("s", 0, 10)]),  # after the item
        ([(-4, -1)], [("s", 0, 10)]),  # before it
        ([(10, 12)], [("s", 0, 10)]),  # touching its end
        ([(2, 4)], [("s", 0, 2), ("s", 4, 10)]),  # inside: cut in two
        ([(-1, 3)], [("s", 3, 10)]),  # over its start
        ([(8, 12)], [("s", 0, 8)]),  # over its end
        ([(-1, 11)], []),  # all of it
        ([(0, 10)], []),
        ([(1, 2), (4, 5), (9, 10)], [("s", 0, 1), ("s", 2, 4), ("s", 5, 9)]),
        ([(-5, -4), (1, 2), (20, 30)], [("s", 0, 1), ("s", 2, 10)]),
    ],
)
def test_cut_around(stretches: list[tuple[float, float]], expected: list) -> None:
    cover = [(h(s), h(e)) for s, e in stretches]
    assert spans(cut_around(b("s", 0, 10), cover)) == expected


def test_apply_overrides_cuts_base_items_and_keeps_overrides_whole() -> None:
    base = [b("alice", 0, 24), b("bob", 24, 48)]
    overrides = [b("carol", 20, 30), b("dave", 22, 26)]
    assert spans(apply_overrides(base, overrides)) == [
        ("alice", 0, 20),
        ("bob", 30, 48),
        ("carol", 20, 30),
        ("dave", 22, 26),
    ]
    assert apply_overrides(base, []) == base


# --------------------------------------------------------------------------- calendars

WEEKLY = (
    "DTSTART;TZID=America/Chicago:20260601T080000",
    "DTEND;TZID=America/Chicago:20260608T080000",
    "RRULE:FREQ=WEEKLY;INTERVAL=2",
)
BOB_WEEKLY = (
    "DTSTART;TZID=America/Chicago:20260608T080000",
    "DTEND;TZID=America/Chicago:20260615T080000",
    "RRULE:FREQ=WEEKLY;INTERVAL=2",
)
HEADER = ("X-WR-TIMEZONE:America/Chicago",)
NOW = utc(2026, 6, 1)


def chicago(day: int, hour: int = 0, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO)


def rotation_with(tmp_path: Path, *override_lines: str, indexed: bool) -> Rotation:
    write_ics(
        tmp_path,
        "primary.ics",
        *event(*WEEKLY, "SUMMARY:alice", uid="alice"),
        *event(*BOB_WEEKLY, "SUMMARY:bob", uid="bob"),
        header=HEADER,
    )
    write_ics(tmp_path, "primary.overrides.ics", *override_lines, header=HEADER)
    return load_rotations(tmp_path, now=NOW if indexed else None)["primary"]


# Alice is sick Wednesday evening to Thursday morning (local): Carol covers.
SICK_NIGHT = event(
    "DTSTART;TZID=America/Chicago:20260603T180000",
    "DTEND;TZID=America/Chicago:20260604T060000",
    "SUMMARY:carol",
    uid="swap-1",
)


@pytest.mark.parametrize("indexed", [True, False])
def test_an_override_beats_the_base_shift_and_cuts_it(tmp_path: Path, indexed: bool) -> None:
    rotation = rotation_with(tmp_path, *SICK_NIGHT, indexed=indexed)
    assert (rotation.index is not None) == indexed
    ids = lambda at: [t.id for t in on_call(rotation, TECHS, at)]  # noqa: E731
    assert ids(chicago(3, 17, 59)) == ["alice"]
    assert ids(chicago(3, 18)) == ["carol"]  # not alice and carol: the override wins
    assert ids(chicago(4, 5, 59)) == ["carol"]
    assert ids(chicago(4, 6)) == ["alice"]
    week = shifts(rotation, TECHS, chicago(1, 8), chicago(8, 8))
    assert [(s.tech_ids, s.start, s.end, s.override) for s in week] == [
        (("alice",), chicago(1, 8), chicago(3, 18), False),
        (("carol",), chicago(3, 18), chicago(4, 6), True),
        (("alice",), chicago(4, 6), chicago(8, 8), False),
    ]
    assert all(s.rotation == "primary" and s.start.tzinfo is UTC for s in week)
    assert {s.uid for s in week} == {"alice", "swap-1"}
    # "until" for who: the base shift ends where the override starts
    [now_on] = shifts_at(rotation, TECHS, chicago(2, 12))
    assert (now_on.tech_ids, now_on.end) == (("alice",), chicago(3, 18))


@pytest.mark.parametrize("indexed", [True, False])
def test_an_override_across_a_handoff_cuts_both_shifts(tmp_path: Path, indexed: bool) -> None:
    swap = event(
        "DTSTART;TZID=America/Chicago:20260606T000000",
        "DTEND;TZID=America/Chicago:20260610T000000",
        "SUMMARY:Dave Kim",
        uid="swap-2",
    )
    rotation = rotation_with(tmp_path, *swap, indexed=indexed)
    found = shifts(rotation, TECHS, chicago(1, 8), chicago(15, 8))
    assert [(s.tech_ids, s.start, s.end) for s in found] == [
        (("alice",), chicago(1, 8), chicago(6)),
        (("dave",), chicago(6), chicago(10)),
        (("bob",), chicago(10), chicago(15, 8)),
    ]


def test_overlapping_overrides_are_all_on_call(tmp_path: Path) -> None:
    rotation = rotation_with(
        tmp_path,
        *SICK_NIGHT,
        *event(
            "DTSTART;TZID=America/Chicago:20260603T220000",
            "DTEND;TZID=America/Chicago:20260604T020000",
            "SUMMARY:bob",
            uid="swap-3",
        ),
        indexed=True,
    )
    assert [t.id for t in on_call(rotation, TECHS, chicago(3, 23))] == ["carol", "bob"]
    assert [t.id for t in on_call(rotation, TECHS, chicago(4, 3))] == ["carol"]


def test_an_override_naming_nobody_known_leaves_that_time_uncovered(tmp_path: Path) -> None:
    rotation = rotation_with(
        tmp_path,
        *shift_event("20260603T000000Z", "20260603T060000Z", "Mallory", "typo"),
        indexed=True,
    )
    assert on_call(rotation, TECHS, utc(2026, 6, 3, 3)) == []
    [empty] = shifts_at(rotation, TECHS, utc(2026, 6, 3, 3))
    assert empty.override and empty.tech_ids == () and empty.summary == "Mallory"


def test_a_cancelled_override_changes_nothing(tmp_path: Path) -> None:
    rotation = rotation_with(
        tmp_path,
        *shift_event("20260603T000000Z", "20260603T060000Z", "carol", "off", "STATUS:CANCELLED"),
        indexed=True,
    )
    assert [t.id for t in on_call(rotation, TECHS, utc(2026, 6, 3, 3))] == ["alice"]


def test_all_day_overrides_are_read_in_the_overrides_file_zone(tmp_path: Path) -> None:
    write_ics(
        tmp_path,
        "primary.ics",
        *event(*WEEKLY, "SUMMARY:alice", uid="alice"),
        header=HEADER,
    )
    write_ics(
        tmp_path,
        "primary.overrides.ics",
        *event("DTSTART;VALUE=DATE:20260603", "DTEND;VALUE=DATE:20260604", "SUMMARY:bob"),
        header=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    rotation = load_rotations(tmp_path, now=NOW)["primary"]
    assert rotation.overrides is not None and str(rotation.overrides.zone) == "Europe/Berlin"
    # 2026-06-03 00:00 in Berlin is 2026-06-02 22:00 UTC
    assert [t.id for t in on_call(rotation, TECHS, utc(2026, 6, 2, 21, 59))] == ["alice"]
    assert [t.id for t in on_call(rotation, TECHS, utc(2026, 6, 2, 22))] == ["bob"]
    assert [t.id for t in on_call(rotation, TECHS, utc(2026, 6, 3, 22))] == ["alice"]


def test_a_recurring_override_cuts_every_occurrence(tmp_path: Path) -> None:
    # Bob takes every Friday night (local) for four weeks, whoever's week it is.
    rotation = rotation_with(
        tmp_path,
        *event(
            "DTSTART;TZID=America/Chicago:20260605T180000",
            "DTEND;TZID=America/Chicago:20260606T060000",
            "RRULE:FREQ=WEEKLY;COUNT=4",
            "SUMMARY:bob",
            uid="fridays",
        ),
        indexed=True,
    )
    for day in (5, 12, 19, 26):
        assert [t.id for t in on_call(rotation, TECHS, chicago(day, 23))] == ["bob"], day
    assert [t.id for t in on_call(rotation, TECHS, chicago(5, 17))] == ["alice"]
    assert [t.id for t in on_call(rotation, TECHS, chicago(12, 17))] == ["bob"]  # his own week
    # COUNT=4: the fifth Friday is alice's again (her week starts Monday 2026-06-29)
    assert [t.id for t in on_call(rotation, TECHS, chicago(3, 23, month=7))] == ["alice"]
