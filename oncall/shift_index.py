"""A precomputed, sorted shift index: "who is on call at T" is a binary search, not a
recurrence expansion.

A rotation's calendars are expanded once over a *horizon* around "now" (by default from 35
days ago to 400 days ahead) and the timeline is cut at every shift start and end into
*segments*; each segment lists the shifts covering all of it. :meth:`ShiftIndex.at` finds an
instant's segment by bisection. The same cut (:func:`segments`) gives gaps and overlaps.

Everything here is generic over values with aware ``start`` and ``end`` datetimes (end
exclusive) and keeps the order it was given, so the caller decides how simultaneous shifts
are ordered. Nothing here reads a clock: "now" is always passed in.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...


T = TypeVar("T", bound=Timed)


@dataclass(frozen=True)
class Horizon:
    """How far around "now" an index reaches, and when it is due to be rebuilt."""

    behind: timedelta = timedelta(days=35)
    ahead: timedelta = timedelta(days=400)
    # Rebuild once less than this is left ahead of now (about a month after a build).
    low_water: timedelta = timedelta(days=365)

    def around(self, now: datetime) -> tuple[datetime, datetime]:
        return now - self.behind, now + self.ahead


DEFAULT_HORIZON = Horizon()


@dataclass(frozen=True)
class Segment(Generic[T]):
    """A stretch of time in which the same items are active (in the given order)."""

    start: datetime
    end: datetime
    items: tuple[T, ...]


def _sweep(items: Sequence[T]) -> tuple[list[datetime], list[list[int]]]:
    """Every start and end, sorted, and for each piece between two of them the positions of
    the items covering it, in the order given. Items that cover no instant are left out."""
    timed = [(i, item) for i, item in enumerate(items) if item.start < item.end]
    bounds = sorted({item.start for _, item in timed} | {item.end for _, item in timed})
    active: list[list[int]] = [[] for _ in range(max(len(bounds) - 1, 0))]
    for position, item in timed:
        for k in range(bisect_left(bounds, item.start), bisect_left(bounds, item.end)):
            active[k].append(position)
    return bounds, active


def segments(items: Sequence[T]) -> list[Segment[T]]:
    """The timeline from the first start to the last end, cut wherever any item starts or
    ends; pieces nothing covers are included, with no items."""
    bounds, active = _sweep(items)
    return [
        Segment(bounds[k], bounds[k + 1], tuple(items[p] for p in positions))
        for k, positions in enumerate(active)
    ]


class ShiftIndex(Generic[T]):
    """Items (shifts) over ``[start, end)``, answering "which cover T" by bisection.

    Build it from every item overlapping the horizon; lookups outside the horizon raise
    ValueError (the caller expands the calendars instead). Immutable once built.
    """

    def __init__(self, items: Sequence[T], start: datetime, end: datetime) -> None:
        if end <= start:
            raise ValueError(f"empty horizon {start} .. {end}")
        self.start = start
        self.end = end
        self.items: tuple[T, ...] = tuple(items)
        bounds, active = _sweep(self.items)
        self._bounds = bounds
        self._active = [tuple(self.items[p] for p in positions) for positions in active]
        self._positions = active

    @classmethod
    def around(
        cls, items: Sequence[T], now: datetime, horizon: Horizon = DEFAULT_HORIZON
    ) -> ShiftIndex[T]:
        start, end = horizon.around(now)
        return cls(items, start, end)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<ShiftIndex {len(self.items)} items {self.start} .. {self.end}>"

    def covers(self, start: datetime, end: datetime | None = None) -> bool:
        """True when the instant (or the whole range [start, end)) lies inside the horizon."""
        if end is None:
            return self.start <= start < self.end
        return self.start <= start and end <= self.end

    def needs_rebuild(self, now: datetime, horizon: Horizon = DEFAULT_HORIZON) -> bool:
        """True once now has left the horizon or too little of it is left ahead of now."""
        return not (self.start <= now and self.end - now >= horizon.low_water)

    def at(self, instant: datetime) -> tuple[T, ...]:
        """The items with start <= instant < end, in the order given."""
        if not self.covers(instant):
            raise ValueError(f"{instant} is outside the index horizon {self.start} .. {self.end}")
        k = bisect_right(self._bounds, instant) - 1
        if k < 0 or k >= len(self._active):
            return ()
        return self._active[k]

    def between(self, start: datetime, end: datetime) -> list[T]:
        """The items overlapping [start, end), in the order given."""
        if not self.covers(start, end):
            raise ValueError(
                f"{start} .. {end} is not inside the index horizon {self.start} .. {self.end}"
            )
        if end <= start:
            return []
        first = max(bisect_right(self._bounds, start) - 1, 0)
        last = min(bisect_left(self._bounds, end), len(self._positions))
        positions = {p for k in range(first, last) for p in self._positions[k]}
        return [self.items[p] for p in sorted(positions)]
