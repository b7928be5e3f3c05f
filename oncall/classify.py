"""Classify an event against a client's SOP at an instant: service desk, page, queue or record.

Pure functions of (SOP, alert, instant): no I/O, no clock. The support window is wall-clock
hours in the client's zone (zoneinfo does the zone math), so on a DST day it follows the
clocks on the wall:
- a window opening at a time the clocks skip (02:30 on a spring-forward day) opens when the
  clocks jump (03:00); one closing in the skipped hour closes at the jump;
- in the hour a fall-back day repeats, the window is open or closed both times the wall clock
  reads that time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall.emergency import EmergencyRule
from oncall.intake import Alert
from oncall.sops import Sop
from oncall.support_window import END_OF_DAY, SupportWindow, format_ranges

ACTIONS = ("service_desk", "page", "queue", "record")
MAX_SEARCH_DAYS = 400
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Decision:
    """What to do with an event, and why: the record `oncall explain` shows."""

    action: str  # "service_desk" | "page" | "queue" | "record"
    reason: str  # a sentence: the window and the rule that decided it
    window: str  # "Saturday: closed" / "Monday 07:00-18:00 America/Chicago" / "holiday: ..."
    rule_id: str | None  # the matching emergency (also set for "service_desk": would have paged)
    priority: str | None  # that emergency's priority
    next_business_start: datetime | None  # UTC; set for "queue" when the window ever opens

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.next_business_start is not None:
            data["next_business_start"] = self.next_business_start.isoformat()
        return data


def support_window_status(sop: Sop, at: datetime) -> tuple[bool, str]:
    """(inside the support window?, that local day's window in words)."""
    local = _local(sop, at)
    return _is_open(sop.support_window, local), _describe_day(sop, local.date())


def next_business_start(sop: Sop, at: datetime) -> datetime:
    """The first instant >= at inside the support window, in UTC.

    Raises ValueError when the window does not open within MAX_SEARCH_DAYS days.
    """
    start = _local(sop, at).astimezone(UTC)
    window, zone = sop.support_window, sop.timezone
    if _is_open(window, start.astimezone(zone)):
        return start
    # The window can only open where a range opens on the wall clock or where the wall clock
    # jumps (a DST transition); scan one UTC day at a time and test those instants in order.
    for offset in range(MAX_SEARCH_DAYS):
        day_start = start + timedelta(days=offset)
        day_end = day_start + timedelta(days=1)
        candidates = _transitions(zone, day_start, day_end)
        first_date = day_start.astimezone(zone).date() - timedelta(days=1)
        last_date = day_end.astimezone(zone).date() + timedelta(days=1)
        day = first_date
        while day <= last_date:
            for open_, _close in window.ranges_on(day):
                candidates.update(_instants_at(day, open_, zone))
            day += timedelta(days=1)
        for candidate in sorted(c for c in candidates if day_start <= c < day_end):
            if _is_open(window, candidate.astimezone(zone)):
                return candidate
    raise ValueError(
        f"{sop.id}: the support window does not open within {MAX_SEARCH_DAYS} days of "
        f"{start.isoformat()}"
    )


def match_emergency(sop: Sop, alert: Alert) -> EmergencyRule | None:
    """The first emergency rule, in file order, that the alert matches."""
    return next((rule for rule in sop.emergencies if rule.matches(alert)), None)


def classify(sop: Sop, alert: Alert, at: datetime) -> Decision:
    """Decide what happens to an alert received at `at` (timezone-aware)."""
    inside, window = support_window_status(sop, at)
    when = _when(sop, at)
    if alert.status == "resolved":
        return Decision(
            action="record",
            reason=(
                f"{when} ({'inside' if inside else 'outside'} the support window: {window}): "
                "the alert reports a resolution, so it is recorded only; nothing is routed."
            ),
            window=window,
            rule_id=None,
            priority=None,
            next_business_start=None,
        )
    rule = match_emergency(sop, alert)
    rule_id = rule.id if rule else None
    priority = rule.priority if rule else None
    if inside:
        reason = f"{when} is inside the support window ({window}): routed to the service desk."
        if rule is not None:
            reason += (
                f" After hours it would page as emergency {rule.id!r} ({rule.priority}, "
                f"{rule.label}): {rule.explain(alert)}."
            )
        return Decision("service_desk", reason, window, rule_id, priority, None)
    if rule is not None:
        reason = (
            f"{when} is outside the support window ({window}) and the alert matches emergency "
            f"{rule.id!r} ({rule.priority}, {rule.label}): {rule.explain(alert)}. Paging."
        )
        return Decision("page", reason, window, rule_id, priority, None)
    try:
        opens: datetime | None = next_business_start(sop, at)
    except ValueError:
        opens = None
    if opens is None:
        queued = f"queued, but the support window does not open in the next {MAX_SEARCH_DAYS} days"
    else:
        queued = f"queued for the next business day, {_when(sop, opens)}"
    rules = (
        f"matches none of the {len(sop.emergencies)} emergency rules"
        if sop.emergencies
        else "the SOP defines no emergencies"
    )
    reason = f"{when} is outside the support window ({window}) and {rules}: {queued}."
    return Decision("queue", reason, window, None, None, opens)


# --------------------------------------------------------------------------- helpers


def _local(sop: Sop, at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"need a timezone-aware instant, got {at!r}")
    return at.astimezone(sop.timezone)


def _is_open(window: SupportWindow, local: datetime) -> bool:
    wall = local.time()
    return any(
        open_ <= wall and (close == END_OF_DAY or wall < close)
        for open_, close in window.ranges_on(local.date())
    )


def _describe_day(sop: Sop, day: date) -> str:
    holiday = sop.support_window.holiday(day)
    if holiday is not None:
        return f"holiday: {holiday}"
    ranges = sop.support_window.hours.get(day.weekday(), ())
    weekday = WEEKDAY_NAMES[day.weekday()]
    if not ranges:
        return f"{weekday}: closed"
    return f"{weekday} {format_ranges(ranges)} {sop.timezone.key}"


def _when(sop: Sop, at: datetime) -> str:
    """'Monday 2026-11-30 06:00 CST' in the client's zone."""
    local = at.astimezone(sop.timezone)
    return f"{WEEKDAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} {local.tzname()}"


def _instants_at(day: date, wall: time, zone: ZoneInfo) -> set[datetime]:
    """Every UTC instant whose wall clock in `zone` reads day+wall: none in a spring-forward
    gap, two in a fall-back repeat."""
    naive = datetime.combine(day, wall)
    instants: set[datetime] = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive:
            instants.add(instant)
    return instants


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> set[datetime]:
    """The UTC offset change in [start, end) (at most one a day), to the second."""
    before, after = start.astimezone(zone).utcoffset(), end.astimezone(zone).utcoffset()
    if before == after:
        return set()
    # Transitions fall on whole seconds; search whole seconds so the answer is exact.
    low = start.replace(microsecond=0)  # offset(low) == before
    high = end.replace(microsecond=0) + timedelta(seconds=1 if end.microsecond else 0)
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return {high}
