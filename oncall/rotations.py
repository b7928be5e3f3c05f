"""Rotation calendars (.ics) → who is on call at an instant.

One calendar file per on-call role (``rotations/primary.ics`` …). Each event is a shift; it
names its techs through SUMMARY, ATTENDEE (e-mail or CN) or DESCRIPTION, matched by
:meth:`oncall.config.Tech.matches`. A shift covers ``start <= T < end``; ``STATUS:CANCELLED``
occurrences are not shifts; an event naming nobody we know is an *empty shift*.

Recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID) and time zones (VTIMEZONE, Windows zone
names, X-WR-TIMEZONE) are left to icalendar, recurring-ical-events and x-wr-timezone.
This module only decides which zone all-day and floating times are read in — the calendar's
zone: X-WR-TIMEZONE, else the first VTIMEZONE's TZID if it names an IANA zone (Windows
names are mapped with icalendar's table), else UTC — and converts results to UTC.

Each file is parsed and checked once by :func:`load_rotation`; the recurrence query is built
then and reused, so :func:`on_call` on the paging hot path does no parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar.parser import Contentline
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from oncall.config import Tech
from oncall.errors import ConfigError

OVERRIDES_SUFFIX = ".overrides.ics"

# Properties a shift's timing depends on: if one of them cannot be read, the file is rejected
# rather than silently dropping or misplacing shifts.
_TIMING_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
_ZONED_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE")
# "alice, bob", "Alice & Bob", "alice and bob", one name per line.
_NAME_SEPARATORS = re.compile(r"\s*(?:,|&|\r?\n|\band\b)\s*", re.IGNORECASE)
_UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Shift:
    """One occurrence of a rotation event."""

    rotation: str  # rotation name
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (exclusive)
    tech_ids: tuple[str, ...]  # techs named by the event; empty = "empty shift"
    summary: str
    uid: str

    def covers(self, instant: datetime) -> bool:
        """True when instant (any aware datetime) falls in [start, end)."""
        return self.start <= instant < self.end


@dataclass(frozen=True)
class Rotation:
    """A parsed rotation calendar, ready to be queried.

    ``zone`` (the zone all-day and floating times are read in) and the recurrence query are
    derived from ``calendar`` when the object is created.
    """

    name: str  # file stem, e.g. "primary"
    path: Path
    calendar: icalendar.Calendar  # already normalised with x_wr_timezone.to_standard()
    zone: ZoneInfo = field(init=False, compare=False)
    _query: recurring_ical_events.CalendarQuery = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", calendar_zone(self.calendar))
        object.__setattr__(self, "_query", recurring_ical_events.of(self.calendar))


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


def load_rotation(path: Path) -> Rotation:
    """Read and check one rotation calendar; its name is the file stem.

    Raises ConfigError naming the file (and the line where it can tell) when the file cannot
    be read, is not an iCalendar calendar, or has an event whose timing cannot be read.
    Files that calendar apps accept (no VERSION or UID, LF endings, blank lines) load.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, None, "cannot read calendar: file not found") from None
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read calendar: {exc.strerror or exc}") from exc
    return parse_rotation(data, name=path.stem, path=path)


def parse_rotation(data: bytes | str, name: str, path: Path) -> Rotation:
    """Parse calendar text already in memory (e.g. a fetched remote calendar).

    ``path`` is only used to name the source in errors and on the Rotation.
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
        calendar = x_wr_timezone.to_standard(calendar)
        return Rotation(name=name, path=path, calendar=calendar)
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


def load_rotations(directory: Path) -> dict[str, Rotation]:
    """Every ``*.ics`` in directory by name, skipping ``*.overrides.ics`` and hidden files."""
    directory = Path(directory)
    if not directory.is_dir():
        reason = "is not a directory" if directory.exists() else "not found"
        raise ConfigError(directory, None, f"rotations directory {reason}")
    rotations: dict[str, Rotation] = {}
    for path in sorted(directory.glob("*.ics")):
        if path.name.startswith(".") or path.name.endswith(OVERRIDES_SUFFIX):
            continue
        rotation = load_rotation(path)
        rotations[rotation.name] = rotation
    return rotations


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")


def _to_utc(value: date | datetime, zone: ZoneInfo) -> datetime:
    """An occurrence's start or end as aware UTC; dates and floating times are in zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)


def _text(component: icalendar.Component, prop_name: str) -> str:
    value = component.get(prop_name)
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def _named_techs(component: icalendar.Component, techs: Mapping[str, Tech]) -> tuple[str, ...]:
    """Tech ids named by SUMMARY, then ATTENDEEs, then DESCRIPTION, without repeats."""
    found: list[str] = []

    def add(name: str) -> bool:
        matched = False
        for tech in techs.values():
            if tech.matches(name):
                matched = True
                if tech.id not in found:
                    found.append(tech.id)
        return matched

    def add_list(text: str) -> None:
        if text.strip() and not add(text):
            for part in _NAME_SEPARATORS.split(text):
                if part.strip():
                    add(part)

    add_list(_text(component, "SUMMARY"))
    attendees = component.get("ATTENDEE")
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if attendee is None:
            continue
        if not add(str(attendee)):
            cn = getattr(attendee, "params", {}).get("CN")
            if cn:
                add(str(cn))
    add_list(_text(component, "DESCRIPTION"))
    return tuple(found)


def _to_shift(
    rotation: Rotation, component: icalendar.Component, techs: Mapping[str, Tech]
) -> Shift | None:
    if str(component.get("STATUS", "")).strip().upper() == "CANCELLED":
        return None
    start = _to_utc(component["DTSTART"].dt, rotation.zone)
    end = _to_utc(component["DTEND"].dt, rotation.zone) if "DTEND" in component else start
    if end <= start:  # covers no instant
        return None
    return Shift(
        rotation=rotation.name,
        start=start,
        end=end,
        tech_ids=_named_techs(component, techs),
        summary=str(component.get("SUMMARY", "")).strip(),
        uid=str(component.get("UID", "")),
    )


def _sort_key(shift: Shift) -> tuple[datetime, datetime, str, str]:
    return (shift.start, shift.end, shift.uid, shift.summary)


def shifts(
    rotation: Rotation, techs: Mapping[str, Tech], start: datetime, end: datetime
) -> list[Shift]:
    """Shifts overlapping [start, end), sorted by start (then end, UID, summary)."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return []
    components = rotation._query.between(
        start.astimezone(rotation.zone), end.astimezone(rotation.zone)
    )
    result = []
    for component in components:
        shift = _to_shift(rotation, component, techs)
        if shift is not None and shift.start < end and shift.end > start:
            result.append(shift)
    return sorted(result, key=_sort_key)


def shifts_at(rotation: Rotation, techs: Mapping[str, Tech], at: datetime) -> list[Shift]:
    """Shifts with start <= at < end, sorted by start."""
    _require_aware(at, "at")
    result = []
    for component in rotation._query.at(at.astimezone(rotation.zone)):
        shift = _to_shift(rotation, component, techs)
        if shift is not None and shift.covers(at):
            result.append(shift)
    return sorted(result, key=_sort_key)


def on_call(rotation: Rotation, techs: Mapping[str, Tech], at: datetime) -> list[Tech]:
    """Techs of every shift covering at, de-duplicated, by shift start then as named."""
    result: list[Tech] = []
    for shift in shifts_at(rotation, techs, at):
        for tech_id in shift.tech_ids:
            tech = techs[tech_id]
            if tech not in result:
                result.append(tech)
    return result
