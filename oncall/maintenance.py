"""Maintenance windows: while one is open, a client's alerts are recorded but page nobody.

Pure: the SOP's weekly `[[maintenance]]` windows (weekdays and a wall-clock range in the
client's zone, e.g. patch night), ad-hoc windows started from the shell (rows the caller
reads from SQLite), and the decision "is this instant inside one, and which". A weekly range
follows the wall clock on DST days, like the support window; a range whose end is not after
its start ("22:00-02:00") runs past midnight into the next day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_string_list, check_keys, get_text
from oncall.heartbeats import daily_instant
from oncall.support_window import WEEKDAYS

ACTION = "maintenance"
_KEYS = frozenset({"days", "hours", "reason"})
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WeeklyWindow:
    """A maintenance window declared in the SOP: every `days`, `start` to `end` local time."""

    days: frozenset[int]  # 0 = Monday .. 6 = Sunday: the day the window starts
    start: time
    end: time  # not after start: the window ends on the next day
    reason: str

    def describe(self) -> str:
        days = ", ".join(WEEKDAYS[d].capitalize() for d in sorted(self.days))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class AdHocWindow:
    """A window started with `oncall maintenance CLIENT --for 2h` (a row of `maintenance`)."""

    id: int
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True)
class OpenWindow:
    """The window an instant falls in: why, until when, and where it was declared."""

    reason: str
    ends_at: datetime  # UTC
    declared: str  # "SOP: Tuesday 22:00-02:00" / "ad hoc #3"


def parse_maintenance(value: Any, path: Path) -> tuple[WeeklyWindow, ...]:
    """The SOP's `[[maintenance]]` tables; a ConfigError names the file and key."""
    windows: list[WeeklyWindow] = []
    for i, table in enumerate(as_array_of_tables(value, path, "maintenance")):
        where = f"maintenance[{i}]"
        check_keys(table, _KEYS, path, f"{where}.")
        if "days" not in table:
            raise ConfigError(path, f"{where}.days", 'missing (weekdays, e.g. ["tuesday"])')
        days: set[int] = set()
        for name in as_string_list(table["days"], path, f"{where}.days"):
            if name.lower() not in WEEKDAYS:
                raise ConfigError(
                    path, f"{where}.days", f"unknown weekday {name!r} ({', '.join(WEEKDAYS)})"
                )
            days.add(WEEKDAYS.index(name.lower()))
        hours = get_text(table, "hours", path, f"{where}.", required=True)
        assert hours is not None
        start, end = _range(hours, path, f"{where}.hours")
        reason = get_text(table, "reason", path, f"{where}.", required=True)
        assert reason is not None
        windows.append(WeeklyWindow(frozenset(days), start, end, reason))
    return tuple(windows)


def _range(text: str, path: Path, key: str) -> tuple[time, time]:
    match = _RANGE.match(text)
    if match is None:
        raise ConfigError(path, key, f"cannot read {text!r}: expected 'HH:MM-HH:MM'")
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if max(start_h, end_h) > 23 or max(start_m, end_m) > 59:
        raise ConfigError(path, key, f"{text!r} is not a range of times of day (00:00 to 23:59)")
    start, end = time(start_h, start_m), time(end_h, end_m)
    if start == end:
        raise ConfigError(path, key, f"{text!r} is an empty range")
    return start, end


def weekly_end(window: WeeklyWindow, at: datetime, zone: ZoneInfo) -> datetime | None:
    """When the weekly window `at` falls in ends (UTC), or None if `at` is outside it."""
    local = at.astimezone(zone)
    wall, weekday = local.time(), local.weekday()
    if window.start < window.end:
        if weekday in window.days and window.start <= wall < window.end:
            return daily_instant(local, window.end, zone)
        return None
    # Past midnight: from start to midnight on its day, and to end on the next.
    if weekday in window.days and wall >= window.start:
        return daily_instant(local + timedelta(days=1), window.end, zone)
    if (weekday - 1) % 7 in window.days and wall < window.end:
        return daily_instant(local, window.end, zone)
    return None


def open_window(
    weekly: tuple[WeeklyWindow, ...], ad_hoc: list[AdHocWindow], at: datetime, zone: ZoneInfo
) -> OpenWindow | None:
    """The window `at` is inside (the one lasting longest if several), or None."""
    found: list[OpenWindow] = [
        OpenWindow(w.reason, w.ends_at.astimezone(UTC), f"ad hoc #{w.id}")
        for w in ad_hoc
        if w.starts_at <= at < w.ends_at
    ]
    for window in weekly:
        end = weekly_end(window, at, zone)
        if end is not None:
            found.append(OpenWindow(window.reason, end, f"SOP: {window.describe()}"))
    return max(found, key=lambda w: w.ends_at, default=None)
