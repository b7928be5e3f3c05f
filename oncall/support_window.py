"""The client's support window: when their service desk is staffed, and the holidays it is not.

Read from an SOP's `[support_window]` (hours per weekday, in the client's zone) and
`[holidays]` (a country's public-holiday calendar, extra closed dates, holidays the client
works on). Whether a given instant is inside the window is `oncall.classify`'s job.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import holidays

from oncall.errors import ConfigError
from oncall.front_matter import as_string_list, as_table, check_keys, get_text

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The close of a range that runs to midnight ("24:00"). A range covers open <= t < close,
# except that a range closing at END_OF_DAY covers the rest of the day.
END_OF_DAY = time.max

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_HOLIDAY_KEYS = frozenset({"country", "subdivision", "extra", "not_observed"})
# Holiday names are checked against these years: wide enough for every name a country uses.
_HOLIDAY_NAME_YEARS = range(2000, 2051)
_OBSERVED_SUFFIX = " (observed)"


@dataclass(frozen=True)
class SupportWindow:
    """When the client's service desk is staffed, as wall-clock hours in the client's zone.

    `hours` has a key for every weekday (0 = Monday .. 6 = Sunday); each value is a sorted
    tuple of non-overlapping (open, close) pairs with open < close, covering open <= t < close.
    A close of END_OF_DAY (time.max) means 24:00. A range written across midnight
    ("22:00-06:00") is stored as (22:00, END_OF_DAY) on its day and (00:00, 06:00) on the next.
    A holiday closes its whole calendar date, including the after-midnight part of a range
    that started the day before.
    """

    hours: Mapping[int, tuple[tuple[time, time], ...]] = field(hash=False)
    holiday_country: str | None
    holiday_subdivision: str | None
    extra_closed: frozenset[date]
    not_observed: frozenset[str] = frozenset()  # casefolded holiday names the client works on

    def holiday(self, day: date) -> str | None:
        """The name of the holiday that closes `day` (client's local date), or None."""
        if self.holiday_country is not None:
            names = _holidays_in_year(self.holiday_country, self.holiday_subdivision, day.year).get(
                day, ()
            )
            observed = [n for n in names if _holiday_base_name(n) not in self.not_observed]
            if observed:
                return "; ".join(observed)
        if day in self.extra_closed:
            return f"extra closed date {day.isoformat()}"
        return None

    def ranges_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """The open ranges on a local date: none on a holiday."""
        if self.holiday(day) is not None:
            return ()
        return self.hours.get(day.weekday(), ())


def format_ranges(ranges: Iterable[tuple[time, time]]) -> str:
    """'06:00-12:00, 13:00-22:00'; END_OF_DAY prints as 24:00."""
    return ", ".join(f"{_hhmm(open_)}-{_hhmm(close)}" for open_, close in ranges)


def _hhmm(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


# --------------------------------------------------------------------------- holiday calendars


@functools.lru_cache(maxsize=512)
def _holidays_in_year(
    country: str, subdivision: str | None, year: int
) -> Mapping[date, tuple[str, ...]]:
    """Public holidays of one year, computed on first use and kept (pure: same in, same out)."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return MappingProxyType(
        {day: tuple(name.split("; ")) for day, name in sorted(calendar.items())}
    )


@functools.lru_cache(maxsize=64)
def _holiday_names(country: str, subdivision: str | None) -> frozenset[str]:
    """Every (casefolded, '(observed)'-less) holiday name the calendar uses in any year."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=_HOLIDAY_NAME_YEARS)
    return frozenset(
        _holiday_base_name(name) for names in calendar.values() for name in names.split("; ")
    )


def _holiday_base_name(name: str) -> str:
    return name.removesuffix(_OBSERVED_SUFFIX).strip().casefold()


# --------------------------------------------------------------------------- reading the SOP


def parse_support_window(data: Mapping[str, Any], path: Path) -> SupportWindow:
    """The window from an SOP's `[support_window]` and `[holidays]` tables."""
    if "support_window" not in data:
        raise ConfigError(
            path,
            "support_window",
            "missing: add [support_window] with the service desk's hours per weekday "
            "(an empty table means always after hours)",
        )
    window = as_table(data["support_window"], path, "support_window")
    check_keys(window, frozenset(WEEKDAYS), path, "support_window.")
    minutes: dict[int, list[tuple[int, int]]] = {weekday: [] for weekday in range(7)}
    for weekday, day_name in enumerate(WEEKDAYS):
        if day_name not in window:
            continue
        for start, end in _day_ranges(window[day_name], path, f"support_window.{day_name}"):
            if end > start:
                minutes[weekday].append((start, end))
            else:  # runs past midnight into the next day
                minutes[weekday].append((start, 24 * 60))
                if end > 0:
                    minutes[(weekday + 1) % 7].append((0, end))
    hours = {weekday: _merge(ranges) for weekday, ranges in minutes.items()}
    country, subdivision, extra, not_observed = _holidays(data.get("holidays", {}), path)
    return SupportWindow(
        hours=MappingProxyType(hours),
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_closed=extra,
        not_observed=not_observed,
    )


def _day_ranges(value: Any, path: Path, key: str) -> list[tuple[int, int]]:
    """Minutes since midnight, (start, end); end <= start means it runs past midnight."""
    if isinstance(value, str) and value.strip().lower() == "closed":
        return []
    items = value if isinstance(value, list) else [value]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(
                path, key, f"expected 'HH:MM-HH:MM', a list of them, or 'closed'; got {item!r}"
            )
        ranges.append(_range_minutes(item, path, key))
    return ranges


def _range_minutes(text: str, path: Path, key: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if not match:
        raise ConfigError(
            path,
            key,
            f"cannot read {text!r}: expected 'HH:MM-HH:MM' (e.g. '07:00-18:00') or 'closed'",
        )
    open_h, open_m, close_h, close_m = (int(g) for g in match.groups())
    if open_h > 23 or open_m > 59 or close_m > 59 or close_h > 24 or (close_h == 24 and close_m):
        raise ConfigError(path, key, f"{text!r} is not a time of day (00:00 to 24:00)")
    start, end = open_h * 60 + open_m, close_h * 60 + close_m
    if start == end:
        raise ConfigError(
            path, key, f"{text!r} is an empty range (for the whole day write '00:00-24:00')"
        )
    return start, end


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[time, time], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((_minute_time(start), _minute_time(end)) for start, end in merged)


def _minute_time(minutes: int) -> time:
    return END_OF_DAY if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


def _holidays(
    value: Any, path: Path
) -> tuple[str | None, str | None, frozenset[date], frozenset[str]]:
    table = as_table(value, path, "holidays")
    check_keys(table, _HOLIDAY_KEYS, path, "holidays.")
    country = get_text(table, "country", path, "holidays.")
    subdivision = get_text(table, "subdivision", path, "holidays.")
    if subdivision is not None and country is None:
        raise ConfigError(path, "holidays.subdivision", "needs holidays.country as well")
    if country is not None:
        country = country.upper()
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            supported = holidays.list_supported_countries()
            if country not in supported:
                raise ConfigError(
                    path,
                    "holidays.country",
                    f"no holiday calendar for country {country!r} (use an ISO 3166 code such "
                    "as 'US', 'CA', 'GB')",
                ) from exc
            raise ConfigError(
                path,
                "holidays.subdivision",
                f"{country} has no subdivision {subdivision!r} "
                f"(subdivisions: {', '.join(supported[country])})",
            ) from exc
    extra: set[date] = set()
    raw_extra = table.get("extra", [])
    if not isinstance(raw_extra, list):
        raise ConfigError(path, "holidays.extra", "expected a list of dates like 2026-12-24")
    for i, raw in enumerate(raw_extra):
        extra.add(_date(raw, path, f"holidays.extra[{i}]"))
    not_observed: set[str] = set()
    if "not_observed" in table:
        if country is None:
            raise ConfigError(path, "holidays.not_observed", "needs holidays.country as well")
        known = _holiday_names(country, subdivision)
        for name in as_string_list(table["not_observed"], path, "holidays.not_observed"):
            base = _holiday_base_name(name)
            if base not in known:
                region = f"{country}-{subdivision}" if subdivision else country
                raise ConfigError(
                    path,
                    "holidays.not_observed",
                    f"{name!r} is not a holiday name in the {region} calendar",
                )
            not_observed.add(base)
    return country, subdivision, frozenset(extra), frozenset(not_observed)


def _date(value: Any, path: Path, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip())
    raise ConfigError(path, key, f"expected a date like 2026-12-24, got {value!r}")
