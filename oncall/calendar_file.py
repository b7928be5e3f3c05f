"""Read one iCalendar (.ics) text into a checked, normalised icalendar.Calendar.

The rules calendar apps follow: files they accept (no VERSION or UID, LF line endings, blank
lines, Exchange's ``BYDAY=MO, TU``) load; a file that truly cannot be read is a ConfigError
naming the file, the line where it can tell, and the reason — never a silently empty calendar.
Google's X-WR-TIMEZONE calendars are normalised with x-wr-timezone; Windows zone names are
mapped with icalendar's table. :func:`calendar_zone` says which zone all-day and floating
times are read in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import x_wr_timezone
from icalendar.parser import Contentline
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from oncall.errors import ConfigError

# Properties a shift's timing depends on: if one of them cannot be read, the file is rejected
# rather than silently dropping or misplacing shifts.
_TIMING_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
_ZONED_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE")
_UTC_ZONE = ZoneInfo("UTC")


def calendar_zone(calendar: icalendar.Calendar) -> ZoneInfo:
    """The zone a calendar's all-day and floating times are read in.

    X-WR-TIMEZONE if present, else the first VTIMEZONE's TZID if it is an IANA name (or a
    Windows name icalendar maps to one), else UTC.
    """
    x_wr = calendar.get("X-WR-TIMEZONE")
    if x_wr is not None:
        candidate: str | None = str(x_wr)
    else:
        timezones = calendar.walk("VTIMEZONE")
        candidate = str(timezones[0].get("TZID", "")) if timezones else None
    if candidate:
        zone = _iana_zone(candidate)
        if zone is not None:
            return zone
    return _UTC_ZONE


def _iana_zone(name: str) -> ZoneInfo | None:
    cleaned = name.strip().strip("/")
    cleaned = WINDOWS_TO_OLSON.get(cleaned, cleaned)
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def read_calendar_file(path: Path) -> bytes:
    """The bytes of a calendar file, or a ConfigError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, None, "cannot read calendar: file not found") from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read calendar: {exc.strerror or exc}") from exc


def parse_calendar(data: bytes | str, path: Path | str) -> icalendar.Calendar:
    """Parse and check calendar text; ``path`` names the source in errors.

    Raises ConfigError (with the line where it can tell) when the text is not one iCalendar
    calendar or has an event whose timing cannot be read.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data

    def fail(where: str | None, reason: str) -> ConfigError:
        return ConfigError(path, where, f"cannot read calendar: {reason}")

    try:
        components = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # icalendar raises ValueError and a few others for bad input
        raise fail(_line_of_parse_error(text), str(exc)) from exc
    calendars = [c for c in components if c.name == "VCALENDAR"]
    if not calendars:
        if components:
            found = components[0].name or "an unnamed component"
            raise fail(None, f"expected BEGIN:VCALENDAR, found {found} at the top level")
        if re.search(r"^BEGIN:VCALENDAR", text, re.IGNORECASE | re.MULTILINE):
            raise fail(None, "BEGIN:VCALENDAR has no matching END:VCALENDAR (file cut short?)")
        raise fail(None, "no VCALENDAR found; is this an iCalendar (.ics) file?")
    if len(calendars) > 1:
        raise fail(None, f"the file holds {len(calendars)} calendars; a rotation is one")
    calendar = calendars[0]

    x_wr = calendar.get("X-WR-TIMEZONE")
    if x_wr is not None:
        zone = _iana_zone(str(x_wr))
        if zone is None:
            raise fail(_find_line(text, "X-WR-TIMEZONE"), f"unknown X-WR-TIMEZONE {str(x_wr)!r}")
        calendar["X-WR-TIMEZONE"] = zone.key
    for event in calendar.walk("VEVENT"):
        _check_event(event, text, fail)
    try:
        return x_wr_timezone.to_standard(calendar)
    except Exception as exc:  # the libraries raise several types for invalid content
        raise fail(None, str(exc) or type(exc).__name__) from exc


def _check_event(
    event: icalendar.Component, text: str, fail: Callable[[str | None, str], ConfigError]
) -> None:
    """Reject an event whose timing cannot be read; repair what calendar apps tolerate."""
    uid = str(event.get("UID", ""))
    summary = str(event.get("SUMMARY", "")).strip()
    label = "event" + (f" {summary!r}" if summary else "") + (f" (UID {uid})" if uid else "")
    if "DTSTART" not in event:
        where = _find_line(text, "UID", uid) if uid else None
        raise fail(where, f"{label} has no DTSTART")
    for prop_name in _TIMING_PROPERTIES:
        values = event.get(prop_name)
        if values is None:
            continue
        items = values if isinstance(values, list) else [values]
        if not any(isinstance(value, icalendar.vBroken) for value in items):
            continue
        repaired: list[Any] = []
        for value in items:
            if isinstance(value, icalendar.vBroken):
                fixed = _repair(prop_name, str(value))
                if fixed is None:
                    raise fail(
                        _find_line(text, prop_name, str(value)),
                        f"{label}: cannot read {prop_name} {str(value)!r}: {value.parse_error}",
                    )
                value = fixed
            repaired.append(value)
        event[prop_name] = repaired if isinstance(values, list) else repaired[0]
    for prop_name in _ZONED_PROPERTIES:
        values = event.get(prop_name)
        for value in values if isinstance(values, list) else [values]:
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid and any(_is_naive(dt) for dt in _datetimes(value)):
                raise fail(
                    _find_line(text, prop_name, tzid),
                    f"{label}: unknown time zone {tzid!r} in {prop_name} "
                    "(no VTIMEZONE defines it and it is not an IANA or Windows zone name)",
                )


def _repair(prop_name: str, raw: str) -> Any:
    """Exchange writes 'BYDAY=MO, TU'; RRULE values never contain spaces, so drop them."""
    if prop_name != "RRULE":
        return None
    try:
        return icalendar.vRecur.from_ical(re.sub(r"\s+", "", raw))
    except ValueError:
        return None


def _datetimes(value: Any) -> Iterator[Any]:
    if hasattr(value, "dts"):
        for item in value.dts:
            yield item.dt
    elif hasattr(value, "dt"):
        yield value.dt


def _is_naive(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfolded content lines with the number of the physical line each starts on."""
    start, parts = 0, list[str]()
    for number, line in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if line[:1] in (" ", "\t") and parts:
            parts.append(line[1:])
            continue
        if parts:
            yield start, "".join(parts)
        start, parts = number, [line] if line.strip() else []
    if parts:
        yield start, "".join(parts)


def _find_line(text: str, prop_name: str, needle: str = "") -> str | None:
    """'line N' of the first content line of prop_name containing needle."""
    for number, line in _logical_lines(text):
        name = re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()
        if name == prop_name and needle in line:
            return f"line {number}"
    return None


def _line_of_parse_error(text: str) -> str | None:
    """'line N' of the first line icalendar's parser rejects, following its rules."""
    stack: list[str] = []
    for number, line in _logical_lines(text.lstrip("\ufeff")):
        try:
            name, _params, value = Contentline(line).parts()
        except ValueError:
            if not stack or stack[-1] != "VEVENT":  # icalendar skips bad lines in events
                return f"line {number}"
            continue
        name = name.upper()
        if name == "BEGIN":
            stack.append(value.upper())
        elif name == "END":
            if not stack:
                return f"line {number}"
            stack.pop()
        elif not stack and name != "X-COMMENT":
            return f"line {number}"
    return None
