"""Tests for oncall.shift_index: segments, bisect lookups, ranges and the horizon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from oncall.shift_index import DEFAULT_HORIZON, Horizon, Segment, ShiftIndex, segments


@dataclass(frozen=True)
class Block:
    name: str
    start: datetime
    end: datetime


def at(hour: float) -> datetime:
    return datetime(2026, 6, 1, tzinfo=UTC) + timedelta(hours=hour)


def block(name: str, start: float, end: float) -> Block:
    return Block(name, at(start), at(end))


A = block("a", 0, 8)
B = block("b", 8, 16)
C = block("c", 6, 10)  # overlaps a and b
D = block("d", 20, 24)  # after a hole 16..20
ITEMS = [A, C, B, D]  # sorted by start, the order the index keeps


def names(items: tuple[Block, ...] | list[Block]) -> list[str]:
    return [item.name for item in items]


def test_segments_cut_the_timeline_at_every_start_and_end() -> None:
    assert [(s.start, s.end, names(s.items)) for s in segments(ITEMS)] == [
        (at(0), at(6), ["a"]),
        (at(6), at(8), ["a", "c"]),
        (at(8), at(10), ["c", "b"]),
        (at(10), at(16), ["b"]),
        (at(16), at(20), []),  # a hole is a segment with nothing in it
        (at(20), at(24), ["d"]),
    ]


def test_segments_of_nothing_and_of_empty_items() -> None:
    assert segments([]) == []
    assert segments([block("zero", 3, 3), block("backwards", 5, 4)]) == []
    assert segments([A]) == [Segment(at(0), at(8), (A,))]


HORIZON = ShiftIndex(ITEMS, at(-24), at(48))


@pytest.mark.parametrize(
    ("hour", "expected"),
    [
        (-1, []),  # inside the horizon, before every item
        (0, ["a"]),  # start is inclusive
        (5.99, ["a"]),
        (6, ["a", "c"]),
        (7.99, ["a", "c"]),
        (8, ["c", "b"]),  # a's end is exclusive
        (10, ["b"]),
        (15.999, ["b"]),
        (16, []),
        (19.5, []),
        (20, ["d"]),
        (24, []),
        (47.99, []),
    ],
)
def test_at_finds_the_items_covering_an_instant(hour: float, expected: list[str]) -> None:
    assert names(HORIZON.at(at(hour))) == expected


def test_at_reads_instants_in_any_zone() -> None:
    from zoneinfo import ZoneInfo

    chicago = at(7).astimezone(ZoneInfo("America/Chicago"))
    assert names(HORIZON.at(chicago)) == ["a", "c"]


def test_lookups_outside_the_horizon_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the index horizon"):
        HORIZON.at(at(48))
    with pytest.raises(ValueError, match="outside the index horizon"):
        HORIZON.at(at(-24.01))
    with pytest.raises(ValueError, match="not inside the index horizon"):
        HORIZON.between(at(0), at(49))
    assert HORIZON.covers(at(-24)) and not HORIZON.covers(at(48))
    assert HORIZON.covers(at(-24), at(48)) and not HORIZON.covers(at(-25), at(0))


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (-5, 30, ["a", "c", "b", "d"]),
        (7, 9, ["a", "c", "b"]),  # kept in the order given, each once
        (8, 10, ["c", "b"]),  # a ends exactly at 8: not overlapping
        (16, 20, []),
        (15, 21, ["b", "d"]),
        (23.5, 40, ["d"]),
        (5, 5, []),
        (9, 3, []),
    ],
)
def test_between_finds_the_items_overlapping_a_range(
    start: float, end: float, expected: list[str]
) -> None:
    assert names(HORIZON.between(at(start), at(end))) == expected


def test_duplicate_items_are_both_kept() -> None:
    index = ShiftIndex([A, A], at(-1), at(10))
    assert index.at(at(1)) == (A, A)
    assert index.between(at(0), at(10)) == [A, A]
    assert len(index) == 2


def test_an_item_longer_than_the_horizon_is_found_everywhere_in_it() -> None:
    year = Block("year", at(-24 * 400), at(24 * 400))
    index = ShiftIndex([year, B], at(-24), at(48))
    assert names(index.at(at(-23))) == ["year"]
    assert names(index.at(at(9))) == ["year", "b"]


def test_the_horizon_around_now_and_when_it_needs_rebuilding() -> None:
    now = at(0)
    index = ShiftIndex.around(ITEMS, now)
    assert (index.start, index.end) == (now - timedelta(days=35), now + timedelta(days=400))
    assert not index.needs_rebuild(now)
    assert not index.needs_rebuild(now + timedelta(days=35))  # 365 days still ahead
    assert index.needs_rebuild(now + timedelta(days=35, seconds=1))
    assert index.needs_rebuild(now - timedelta(days=36))  # the clock went back
    small = Horizon(behind=timedelta(hours=1), ahead=timedelta(days=2), low_water=timedelta(days=1))
    assert small.around(now) == (now - timedelta(hours=1), now + timedelta(days=2))
    assert not ShiftIndex.around(ITEMS, now, small).needs_rebuild(now + timedelta(hours=23), small)
    assert ShiftIndex.around(ITEMS, now, small).needs_rebuild(now + timedelta(hours=25), small)
    assert Horizon() == DEFAULT_HORIZON


def test_an_empty_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="empty horizon"):
        ShiftIndex(ITEMS, at(5), at(5))
