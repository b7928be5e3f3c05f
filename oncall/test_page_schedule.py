"""Test pages, the pure part: the `[test_pages]` settings and the weekly schedule.

config.toml:

    [test_pages]
    weekly = "tuesday 10:00"      # in daemon.timezone; absent or "" = no weekly test
    techs = ["alice", "bob"]      # default: every tech
    ack_within = "15m"            # an unacknowledged test page is reported to daemon.owner
    channels = ["sms", "voice"]   # the ladder the test page uses (the call 2m after the SMS, or half of ack_within if sooner)

`next_occurrence` answers when the weekly test is next due, as a UTC instant, from the
wall-clock day and time in the zone: a time that does not exist on a spring-forward day
(02:30 when clocks jump 02:00 → 03:00) moves on by the gap (03:30); a time that happens
twice on a fall-back day is the first of the two. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oncall.durations import parse_duration
from oncall.errors import ConfigError

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHANNELS = ("sms", "voice")
DEFAULT_ACK_WITHIN = timedelta(minutes=15)
DEFAULT_CHANNELS = ("sms", "voice")
_SCHEDULE = re.compile(r"^\s*([a-z]+)\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Weekly:
    """One day of the week and a wall-clock time: 'tuesday 10:00'."""

    weekday: int  # 0 = Monday
    at: time

    def text(self) -> str:
        return f"{DAYS[self.weekday]} {self.at:%H:%M}"


@dataclass(frozen=True)
class TestPageSettings:
    """The `[test_pages]` table, resolved; `techs` empty means every tech."""

    __test__ = False  # not a pytest test class, whatever its name

    weekly: Weekly | None = None
    techs: tuple[str, ...] = ()
    ack_within: timedelta = DEFAULT_ACK_WITHIN
    channels: tuple[str, ...] = DEFAULT_CHANNELS


def parse_weekly(text: str) -> Weekly:
    """'tuesday 10:00', 'Tue 9:30' → Weekly; raises ValueError saying what is wrong."""
    match = _SCHEDULE.match(text)
    if match is None:
        raise ValueError(f"expected a day and a time like 'tuesday 10:00', got {text!r}")
    day, hour, minute = match.group(1).lower(), int(match.group(2)), int(match.group(3))
    found = [i for i, name in enumerate(DAYS) if len(day) >= 3 and name.startswith(day)]
    if len(found) != 1:
        raise ValueError(f"unknown day {match.group(1)!r} (monday … sunday)")
    if hour > 23 or minute > 59:
        raise ValueError(f"no such time of day {match.group(2)}:{match.group(3)}")
    return Weekly(found[0], time(hour, minute))


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day: a skipped time moves on by the gap,
    a repeated time is the first of the two."""
    # PEP 495: fold=0 reads a skipped time with the offset from before the jump (so it lands
    # the gap later) and a repeated time as its first occurrence.
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


def next_occurrence(weekly: Weekly, after: datetime, zone: ZoneInfo) -> datetime:
    """The first instant strictly after `after` at which the weekly schedule is due."""
    start = after.astimezone(zone).date()
    for offset in range(15):
        day = start + timedelta(days=offset)
        if day.weekday() != weekly.weekday:
            continue
        due = wall_clock(day, weekly.at, zone)
        if due > after:
            return due
    raise AssertionError("a weekly schedule is always due within two weeks")


def parse_test_page_settings(
    raw: Any, path: Path | str | None, techs: dict[str, Any]
) -> TestPageSettings:
    """Read config.toml's `[test_pages]` table (absent: no weekly test, defaults for the rest)."""
    if raw is None:
        return TestPageSettings()
    if not isinstance(raw, dict):
        raise ConfigError(path, "test_pages", "expected a table")
    allowed = {"weekly", "techs", "ack_within", "channels"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                path, f"test_pages.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )
    weekly: Weekly | None = None
    text = raw.get("weekly", "")
    if not isinstance(text, str):
        raise ConfigError(path, "test_pages.weekly", f"expected 'tuesday 10:00', got {text!r}")
    if text.strip():
        try:
            weekly = parse_weekly(text)
        except ValueError as exc:
            raise ConfigError(path, "test_pages.weekly", str(exc)) from exc
    chosen = raw.get("techs", [])
    if not isinstance(chosen, list) or not all(isinstance(t, str) for t in chosen):
        raise ConfigError(path, "test_pages.techs", f"expected a list of tech ids, got {chosen!r}")
    for tech_id in chosen:
        if tech_id not in techs:
            raise ConfigError(
                path,
                "test_pages.techs",
                f"unknown tech {tech_id!r} (techs: {', '.join(sorted(techs))})",
            )
    channels = raw.get("channels", list(DEFAULT_CHANNELS))
    if (
        not isinstance(channels, list)
        or not channels
        or any(c not in CHANNELS for c in channels)
        or len(set(channels)) != len(channels)
    ):
        raise ConfigError(
            path, "test_pages.channels", f'expected a list like ["sms", "voice"], got {channels!r}'
        )
    ack_within = (
        parse_duration(raw["ack_within"], path, "test_pages.ack_within")
        if "ack_within" in raw
        else DEFAULT_ACK_WITHIN
    )
    return TestPageSettings(
        weekly=weekly,
        techs=tuple(dict.fromkeys(chosen)),
        ack_within=ack_within,
        channels=tuple(channels),
    )
