"""Heartbeat checks: jobs that must check in (a nightly backup) and the deadlines they keep.

Pure: the SOP's `[[heartbeat]]` tables, when the next check-in is expected, and the alert a
missed one becomes. A check is either `every = "1d"` (due that long after the last check-in)
or `by = "03:00"` (due every day at that wall-clock time in the client's zone); `grace` is
how long after that a check-in still counts. A daily time the clocks skip (02:30 on a
spring-forward day) is due when the clocks jump; one a fall-back day repeats is due the first
time the wall clock reads it. The daemon side (rows, timers, the HTTP check-in) is
`oncall.heartbeat_watch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oncall.durations import parse_duration
from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_id, check_keys, get_text
from oncall.intake import Alert, AlertError, normalise_severity
from oncall.texts import duration

SOURCE = "heartbeat"
OK, LATE, NEVER = "ok", "late", "never"
DEFAULT_GRACE = timedelta(minutes=30)
DEFAULT_SEVERITY = "error"

_KEYS = frozenset({"name", "every", "by", "grace", "severity", "summary"})
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class HeartbeatCheck:
    """One job that must check in: `every` an interval, or `by` a daily local time."""

    name: str
    every: timedelta | None
    by: time | None
    grace: timedelta
    severity: str  # of the alert a missed check-in becomes
    summary: str  # that alert's summary

    @property
    def schedule(self) -> str:
        """'every 1d, grace 30m' / 'daily by 03:00, grace 30m': also how a change is noticed."""
        when = f"every {duration(self.every)}" if self.every else f"daily by {self.by:%H:%M}"
        return f"{when}, grace {duration(self.grace)}"


def parse_heartbeats(value: Any, path: Path) -> tuple[HeartbeatCheck, ...]:
    """The SOP's `[[heartbeat]]` tables; a ConfigError names the file and key."""
    checks: list[HeartbeatCheck] = []
    for i, table in enumerate(as_array_of_tables(value, path, "heartbeat")):
        where = f"heartbeat[{i}]"
        check_keys(table, _KEYS, path, f"{where}.")
        if "name" not in table:
            raise ConfigError(path, f"{where}.name", "missing (the check's name, e.g. 'backup')")
        name = as_id(table["name"], path, f"{where}.name")
        if any(check.name == name for check in checks):
            raise ConfigError(path, f"{where}.name", f"{name!r} is declared twice")
        if ("every" in table) == ("by" in table):
            raise ConfigError(
                path, where, 'give either every = "1d" (an interval) or by = "03:00" (daily)'
            )
        every = by = None
        if "every" in table:
            every = parse_duration(table["every"], path, f"{where}.every")
        else:
            by = _clock_time(table["by"], path, f"{where}.by")
        grace = (
            parse_duration(table["grace"], path, f"{where}.grace")
            if "grace" in table
            else DEFAULT_GRACE
        )
        try:
            severity = normalise_severity(str(table.get("severity", DEFAULT_SEVERITY)))
        except AlertError as exc:
            raise ConfigError(path, f"{where}.severity", str(exc)) from exc
        summary = get_text(table, "summary", path, f"{where}.") or f"{name} did not check in"
        checks.append(HeartbeatCheck(name, every, by, grace, severity, summary))
    return tuple(checks)


def _clock_time(value: Any, path: Path, key: str) -> time:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ConfigError(
            path, key, f"expected a time of day 'HH:MM' (e.g. '03:00'), got {value!r}"
        )
    return time(int(match.group(1)), int(match.group(2)))


# --------------------------------------------------------------------------- schedule


def daily_instant(day: datetime, by: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the wall clock in `zone` reads `by` on day's local date.

    Skipped by a spring-forward jump: the instant of the jump. Repeated by a fall-back: the
    first time.
    """
    naive = datetime.combine(day.astimezone(zone).date(), by)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In the gap fold=1 reads the time with the offset after the jump (before the jump
    # happens) and fold=0 with the offset before it (after the jump): the jump is between.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _daily_after(at: datetime, by: time, zone: ZoneInfo) -> datetime:
    """The first daily `by` instant strictly after `at`."""
    for days in range(-1, 3):
        candidate = daily_instant(at + timedelta(days=days), by, zone)
        if candidate > at:
            return candidate
    raise AssertionError("a daily time always recurs within two days")  # pragma: no cover


def _daily_before(at: datetime, by: time, zone: ZoneInfo) -> datetime:
    """The last daily `by` instant at or before `at`."""
    for days in range(1, -3, -1):
        candidate = daily_instant(at + timedelta(days=days), by, zone)
        if candidate <= at:
            return candidate
    raise AssertionError("a daily time always recurs within two days")  # pragma: no cover


def first_expected(check: HeartbeatCheck, now: datetime, zone: ZoneInfo) -> datetime:
    """When a check the daemon has just started watching is first expected."""
    if check.every is not None:
        return now + check.every
    assert check.by is not None
    return _daily_after(now, check.by, zone)


def expected_after_checkin(
    check: HeartbeatCheck, at: datetime, current: datetime, zone: ZoneInfo
) -> datetime:
    """When the next check-in is expected after one at `at` (`current`: expected until now).

    An interval counts from the check-in. A daily check-in counts for the daily time nearest
    to it (a backup finishing at 02:40 or, late, at 04:10 is that night's for 'by 03:00'), so
    the next is the day after; a second check-in the same night changes nothing.
    """
    if check.every is not None:
        return at + check.every
    assert check.by is not None
    before, after = _daily_before(at, check.by, zone), _daily_after(at, check.by, zone)
    nearest = before if at - before <= after - at else after
    return max(current, _daily_after(nearest, check.by, zone))


def expected_after_miss(check: HeartbeatCheck, missed: datetime, zone: ZoneInfo) -> datetime:
    """After a missed check-in the next period is watched too: each missed one alerts once."""
    if check.every is not None:
        return missed + check.every
    assert check.by is not None
    return _daily_after(missed, check.by, zone)


def deadline(check: HeartbeatCheck, expected: datetime) -> datetime:
    return expected + check.grace


def state(last_checkin: datetime | None, missed_since: datetime | None) -> str:
    """'late' once a deadline passed without a check-in, 'never' before a first check-in."""
    if missed_since is not None:
        return LATE
    return NEVER if last_checkin is None else OK


# --------------------------------------------------------------------------- alerts


def dedup_key(client: str, name: str) -> str:
    return f"heartbeat:{client}:{name}"


def missed_alert(
    client: str,
    check: HeartbeatCheck,
    expected: datetime,
    last_checkin: datetime | None,
    zone: ZoneInfo,
) -> Alert:
    """The alert a missed check-in becomes; classified like any other alert."""
    local = expected.astimezone(zone)
    last = (
        f"last check-in {last_checkin.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        if last_checkin is not None
        else "it has never checked in"
    )
    return Alert(
        client=client,
        source=SOURCE,
        severity=check.severity,
        summary=check.summary,
        details=(
            f"heartbeat {check.name!r} ({check.schedule}) was expected by "
            f"{local:%Y-%m-%d %H:%M %Z}; {last}"
        ),
        host=check.name,
        dedup_key=dedup_key(client, check.name),
    )


def checked_in_alert(client: str, check: HeartbeatCheck, at: datetime, zone: ZoneInfo) -> Alert:
    """The resolved alert a late check-in sends, closing what the missed one opened."""
    return Alert(
        client=client,
        source=SOURCE,
        severity=check.severity,
        summary=f"{check.name} checked in again",
        details=f"late check-in at {at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
        host=check.name,
        dedup_key=dedup_key(client, check.name),
        status="resolved",
    )
