"""Overrides beat the base calendar: ``rotations/<name>.overrides.ics`` (shift swaps, sick
days) replaces the base rotation wherever an override shift runs.

A base shift is cut around every override: the parts before and after an override stay (the
same event, shorter), the part an override covers is dropped. Overrides are kept whole, also
when several overlap each other (then all of them count, like overlaps in any calendar). The
rule holds whoever the override names — an override naming nobody known leaves that time
uncovered, which ``oncall check`` and ``oncall gaps`` report.

Pure functions of shift lists; generic over frozen dataclasses with ``start`` and ``end``.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from oncall.shift_index import Timed

T = TypeVar("T", bound=Timed)


def covered_stretches(items: Sequence[Timed]) -> list[tuple[datetime, datetime]]:
    """The union of the items' [start, end) intervals as sorted, disjoint stretches."""
    merged: list[tuple[datetime, datetime]] = []
    for item in sorted((i for i in items if i.start < i.end), key=lambda i: i.start):
        if merged and item.start <= merged[-1][1]:
            if item.end > merged[-1][1]:
                merged[-1] = (merged[-1][0], item.end)
        else:
            merged.append((item.start, item.end))
    return merged


def cut_around(item: T, stretches: Sequence[tuple[datetime, datetime]]) -> list[T]:
    """The parts of item outside every stretch (sorted, disjoint), as shortened copies."""
    start, end = item.start, item.end
    pieces: list[T] = []
    k = max(bisect_right(stretches, (start,)) - 1, 0)
    cursor = start
    while k < len(stretches) and stretches[k][0] < end:
        cover_start, cover_end = stretches[k]
        if cover_end > cursor:
            if cover_start > cursor:
                pieces.append(_span(item, cursor, cover_start))
            cursor = max(cursor, cover_end)
        k += 1
    if cursor < end:
        pieces.append(item if cursor == start else _span(item, cursor, end))
    return pieces


def apply_overrides(base: Sequence[T], overrides: Sequence[T]) -> list[T]:
    """Base shifts cut around every override, then the overrides; not sorted."""
    stretches = covered_stretches(overrides)
    if not stretches:
        return list(base)
    kept = [piece for item in base for piece in cut_around(item, stretches)]
    return kept + list(overrides)


def _span(item: T, start: datetime, end: datetime) -> T:
    return dataclasses.replace(item, start=start, end=end)  # type: ignore[type-var]
