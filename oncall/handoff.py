"""Handoff notices, the pure part: which "you are on call now" SMS are due at an instant.

A tech's *stretch* in a rotation is their time on call there with back-to-back shifts joined
(a Mon–Tue and a Tue–Wed event are one stretch; a shift cut in two by an override is two).
A notice is due for a stretch once ``start - lead <= now``, while the stretch lasts, and at
most LATE_LIMIT after it started (a daemon down longer than that does not send stale notices
on start-up). Each stretch gets one notice, keyed by (rotation, tech, start): the caller says
which keys were already sent (or queued), and the shell (oncall.handoff_sender) stores them.

Nothing here reads a clock or a database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncall.rotations import Shift

# A notice not sent within this long after its stretch started is not sent at all.
LATE_LIMIT = timedelta(hours=12)
# How far ahead of now stretches are looked at (their ends too: a stretch running past this
# is told "until" its last shift found within it).
LOOK_AHEAD = timedelta(days=35)

Key = tuple[str, str, datetime]  # (rotation, tech id, stretch start in UTC)


@dataclass(frozen=True)
class Stretch:
    """One tech's unbroken time on call in one rotation."""

    rotation: str
    tech_id: str
    start: datetime
    end: datetime

    @property
    def key(self) -> Key:
        return (self.rotation, self.tech_id, self.start)


def window(now: datetime, lead: timedelta) -> tuple[datetime, datetime]:
    """The range of shifts to hand to :func:`stretches` for deciding at ``now``."""
    return now - LATE_LIMIT, now + lead + LOOK_AHEAD


def stretches(shifts: Iterable[Shift]) -> list[Stretch]:
    """Each tech's shifts per rotation joined where they touch or overlap, by start."""
    spans: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for shift in shifts:
        for tech_id in shift.tech_ids:
            spans.setdefault((shift.rotation, tech_id), []).append((shift.start, shift.end))
    found: list[Stretch] = []
    for (rotation, tech_id), pieces in spans.items():
        pieces.sort()
        start, end = pieces[0]
        for piece_start, piece_end in pieces[1:]:
            if piece_start <= end:
                end = max(end, piece_end)
                continue
            found.append(Stretch(rotation, tech_id, start, end))
            start, end = piece_start, piece_end
        found.append(Stretch(rotation, tech_id, start, end))
    return sorted(found, key=lambda s: (s.start, s.rotation, s.tech_id))


def due(
    found: Iterable[Stretch], sent: Collection[Key], now: datetime, lead: timedelta
) -> list[Stretch]:
    """The stretches whose notice is due at now and not yet sent, by start."""
    return [
        s
        for s in found
        if s.key not in sent and s.start - lead <= now < s.end and now - s.start <= LATE_LIMIT
    ]


def next_due(
    found: Iterable[Stretch], sent: Collection[Key], now: datetime, lead: timedelta
) -> datetime | None:
    """When the next notice falls due after now (None: none within the window)."""
    upcoming = [s.start - lead for s in found if s.key not in sent and s.start - lead > now]
    return min(upcoming, default=None)


def notice_text(stretch: Stretch, now: datetime, zone: ZoneInfo) -> str:
    """'oncall: you are on call for primary from now until Mon 08:00 CST.' (times in zone;
    the date too when the end is a week or more away; 'from <start>' when sent ahead)."""
    begins = "now" if stretch.start <= now else _when(stretch.start, now, zone)
    return (
        f"oncall: you are on call for {stretch.rotation} from {begins} "
        f"until {_when(stretch.end, now, zone)}."
    )


def _when(instant: datetime, now: datetime, zone: ZoneInfo) -> str:
    local = instant.astimezone(zone)
    if instant - now > timedelta(days=7):
        return f"{local:%a %b} {local.day} {local:%H:%M %Z}"
    return f"{local:%a %H:%M %Z}"
