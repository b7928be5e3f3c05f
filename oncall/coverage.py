"""Coverage of a rotation: gaps (nobody on call), overlaps and empty shifts.

A *gap* is time no shift naming a known tech covers (an empty shift covers nothing). An
*overlap* is two shifts of one rotation running at once: both techs are on call and both are
paged, which is allowed but usually a mistake. An *empty shift* is an event naming nobody
known. ``oncall check`` turns them into findings: a gap in the next 7 days in a rotation that
is the first step of some escalation chain is an error; other gaps of rotations an
escalation chain uses, overlaps and empty shifts in the next 14 days are warnings.

Pure functions of shifts, rotations and instants.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncall.config import Tech
from oncall.overrides import covered_stretches, cut_around
from oncall.rotations import Rotation, Shift, shifts

ERROR_WINDOW = timedelta(days=7)
CHECK_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Gap:
    """An interval in which nobody is on call in a rotation."""

    rotation: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Overlap:
    """Two shifts of one rotation running at once, over [start, end)."""

    rotation: str
    start: datetime
    end: datetime
    first: Shift
    second: Shift


@dataclass(frozen=True)
class Finding:
    """Something `oncall check` reports: an error fails the check, a warning does not."""

    level: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return self.message


def gaps(rotation: str, found: Sequence[Shift], start: datetime, end: datetime) -> list[Gap]:
    """The parts of [start, end) no shift naming a known tech covers."""
    if end <= start:
        return []
    covered = covered_stretches([shift for shift in found if shift.tech_ids])
    return cut_around(Gap(rotation, start, end), covered)


def overlaps(found: Sequence[Shift]) -> list[Overlap]:
    """Every pair of shifts that run at once, in order of the later shift's start."""
    result: list[Overlap] = []
    running: list[Shift] = []
    for shift in sorted(found, key=lambda s: (s.start, s.end)):
        running = [other for other in running if other.end > shift.start]
        for other in running:
            end = min(other.end, shift.end)
            result.append(Overlap(shift.rotation, shift.start, end, other, shift))
        running.append(shift)
    return result


def empty_shifts(found: Sequence[Shift]) -> list[Shift]:
    return [shift for shift in found if not shift.tech_ids]


def covered_again(
    rotation: Rotation,
    techs: Mapping[str, Tech],
    at: datetime,
    within: timedelta = timedelta(days=366),
) -> datetime | None:
    """When someone is on call again after an instant nobody is (None: not within)."""
    end = at + within
    holes = gaps(rotation.name, shifts(rotation, techs, at, end), at, end)
    if holes and holes[0].start == at and holes[0].end < end:
        return holes[0].end
    return None


def local(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as an owner reads it: 'Mon 2026-11-30 08:00 CST'."""
    return instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def coverage_findings(
    rotations: Mapping[str, Rotation],
    techs: Mapping[str, Tech],
    uses: Mapping[str, Collection[tuple[str, int]]],
    now: datetime,
    zone: ZoneInfo,
) -> list[Finding]:
    """What `oncall check` says about the next CHECK_WINDOW of every rotation.

    ``uses`` maps a rotation name to the (client, step number) pairs of the escalation
    chains that page it; step 1 makes gaps in the next ERROR_WINDOW errors.
    """
    end = now + CHECK_WINDOW
    findings: list[Finding] = []
    for name in sorted(rotations):
        rotation = rotations[name]
        found = shifts(rotation, techs, now, end)
        used_by = sorted(uses.get(name, ()))
        if used_by:
            first = [client for client, step in used_by if step == 1]
            role = (
                f"first step for {', '.join(first)}"
                if first
                else "used by " + ", ".join(f"{client} step {step}" for client, step in used_by)
            )
            for gap in gaps(name, found, now, end):
                error = bool(first) and gap.start < now + ERROR_WINDOW
                if gap.end < end:
                    until = f"to {local(gap.end, zone)}"
                else:
                    until = f"on (checked up to {local(end, zone)})"
                findings.append(
                    Finding(
                        "error" if error else "warning",
                        f"{rotation.where}: rotation {name!r} ({role}) has nobody on call "
                        f"from {local(gap.start, zone)} {until}",
                    )
                )
        for overlap in overlaps(found):
            a, b = overlap.first, overlap.second
            findings.append(
                Finding(
                    "warning",
                    f"{_where(rotation, b)}: rotation {name!r}: shifts {a.summary!r} and "
                    f"{b.summary!r} overlap from {local(overlap.start, zone)} to "
                    f"{local(overlap.end, zone)}; both are on call and both are paged",
                )
            )
        for shift in empty_shifts(found):
            uid = f" (UID {shift.uid})" if shift.uid else ""
            findings.append(
                Finding(
                    "warning",
                    f"{_where(rotation, shift)}: rotation {name!r}: empty shift "
                    f"{shift.summary!r}{uid} from {local(shift.start, zone)} to "
                    f"{local(shift.end, zone)} names no known tech (id, name or e-mail), "
                    "so nobody is on call then",
                )
            )
    return findings


def _where(rotation: Rotation, shift: Shift) -> str:
    if shift.override and rotation.overrides is not None:
        return rotation.overrides.where
    return rotation.where
