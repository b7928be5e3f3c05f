"""Rotation calendars (.ics) → shifts → who is on call at an instant.

One calendar per on-call role (``rotations/primary.ics`` …), optionally with
``<name>.overrides.ics`` beside it. Each event is a shift; it names its techs through
SUMMARY, ATTENDEE or DESCRIPTION (oncall.shift_names). A shift covers ``start <= T < end``;
``STATUS:CANCELLED`` occurrences are not shifts; an event naming nobody we know is an *empty
shift* (that time is uncovered). Overlapping events in one calendar all count: every tech on
them is on call, and paged. Overrides beat the base calendar wherever they overlap: the base
shift is cut around them (oncall.overrides).

Reading and checking a file is oncall.calendar_file's job; recurrence (RRULE, RDATE, EXDATE,
RECURRENCE-ID) and zones are left to icalendar, recurring-ical-events and x-wr-timezone. This
module converts occurrences to UTC, reading all-day and floating times in the calendar's zone.

A rotation loaded with a ``now`` carries a ShiftIndex: its calendars expanded once over a
horizon around now, so :func:`on_call` on the paging hot path is a binary search. Instants
and ranges outside the horizon are answered by expanding the calendars directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from oncall.calendar_file import calendar_zone, parse_calendar, read_calendar_file
from oncall.config import Tech
from oncall.errors import ConfigError
from oncall.overrides import apply_overrides
from oncall.shift_index import DEFAULT_HORIZON, Horizon, ShiftIndex
from oncall.shift_names import EventNames

__all__ = [
    "OVERRIDES_SUFFIX",
    "Occurrence",
    "Rotation",
    "Shift",
    "calendar_zone",
    "load_rotation",
    "load_rotations",
    "occurrences",
    "on_call",
    "overrides_path",
    "parse_rotation",
    "rotation_files",
    "shifts",
    "shifts_at",
    "with_local_overrides",
]

OVERRIDES_SUFFIX = ".overrides.ics"
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shift:
    """One occurrence of a rotation event (or the part of it no override replaces)."""

    rotation: str  # rotation name
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (exclusive)
    tech_ids: tuple[str, ...]  # techs named by the event; empty = "empty shift"
    summary: str
    uid: str
    override: bool = False  # from <rotation>.overrides.ics

    def covers(self, instant: datetime) -> bool:
        """True when instant (any aware datetime) falls in [start, end)."""
        return self.start <= instant < self.end


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event before its names are matched against the techs."""

    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (exclusive)
    summary: str
    uid: str
    names: EventNames
    override: bool = False

    def shift(self, rotation: str, techs: Mapping[str, Tech]) -> Shift:
        return Shift(
            rotation=rotation,
            start=self.start,
            end=self.end,
            tech_ids=self.names.tech_ids(techs),
            summary=self.summary,
            uid=self.uid,
            override=self.override,
        )


@dataclass(frozen=True)
class Rotation:
    """A parsed rotation calendar (plus its overrides), ready to be queried.

    ``zone`` (the zone all-day and floating times are read in) and the recurrence query are
    derived from ``calendar`` when the object is created.
    """

    name: str  # file stem, e.g. "primary"
    path: Path
    calendar: icalendar.Calendar  # already normalised with x_wr_timezone.to_standard()
    overrides: Rotation | None = None  # <name>.overrides.ics
    index: ShiftIndex[Occurrence] | None = field(default=None, compare=False, repr=False)
    source: str | None = None  # where a remote calendar came from (secret part hidden)
    zone: ZoneInfo = field(init=False, compare=False)
    _query: recurring_ical_events.CalendarQuery = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", calendar_zone(self.calendar))
        object.__setattr__(self, "_query", recurring_ical_events.of(self.calendar))

    @property
    def where(self) -> str:
        """Where the base calendar came from, for messages: its file or (hidden) URL."""
        return self.source or str(self.path)

    def with_overrides(self, overrides: Rotation | None) -> Rotation:
        return replace(self, overrides=overrides, index=None)

    def indexed(self, now: datetime, horizon: Horizon = DEFAULT_HORIZON) -> Rotation:
        """This rotation with its shifts expanded once over the horizon around now.

        Raises ConfigError (naming the file) if the calendar libraries cannot expand it.
        """
        start, end = horizon.around(now)
        try:
            found = _expand(self, start, end)
        except Exception as exc:  # the libraries raise several types for invalid content
            reason = str(exc) or type(exc).__name__
            raise ConfigError(self.where, None, f"cannot expand calendar: {reason}") from exc
        return replace(self, index=ShiftIndex(found, start, end))

    def needs_index(self, now: datetime, horizon: Horizon = DEFAULT_HORIZON) -> bool:
        """True when there is no index yet or it is due to be rebuilt around now."""
        return self.index is None or self.index.needs_rebuild(now, horizon)


# --------------------------------------------------------------------------- loading


def load_rotation(path: Path, now: datetime | None = None) -> Rotation:
    """Read and check one rotation calendar (no overrides); its name is the file stem.

    Raises ConfigError naming the file (and the line where it can tell) when the file cannot
    be read, is not an iCalendar calendar, or has an event whose timing cannot be read.
    Files that calendar apps accept (no VERSION or UID, LF endings, blank lines) load.
    With ``now``, the rotation is indexed around that instant.
    """
    path = Path(path)
    return parse_rotation(read_calendar_file(path), name=path.stem, path=path, now=now)


def parse_rotation(
    data: bytes | str,
    name: str,
    path: Path,
    now: datetime | None = None,
    source: str | None = None,
) -> Rotation:
    """Parse calendar text already in memory (e.g. a fetched remote calendar).

    ``source`` (else ``path``) names where the text came from in errors and messages.
    """
    where = source or path
    calendar = parse_calendar(data, where)
    try:
        rotation = Rotation(name=name, path=path, calendar=calendar, source=source)
    except Exception as exc:  # the libraries raise several types for invalid content
        raise ConfigError(
            where, None, f"cannot read calendar: {exc or type(exc).__name__}"
        ) from exc
    return rotation if now is None else rotation.indexed(now)


def overrides_path(directory: Path, name: str) -> Path:
    return Path(directory) / f"{name}{OVERRIDES_SUFFIX}"


def with_local_overrides(rotation: Rotation, directory: Path) -> Rotation:
    """The rotation with ``<directory>/<name>.overrides.ics`` attached, if that file exists."""
    path = overrides_path(directory, rotation.name)
    if not path.is_file():
        return rotation
    return rotation.with_overrides(load_rotation(path))


def load_rotations(directory: Path, now: datetime | None = None) -> dict[str, Rotation]:
    """Every ``*.ics`` in directory by name, each with its ``<name>.overrides.ics`` if any;
    hidden files are skipped. With ``now``, each rotation is indexed around that instant."""
    directory = Path(directory)
    if not directory.is_dir():
        reason = "is not a directory" if directory.exists() else "not found"
        raise ConfigError(directory, None, f"rotations directory {reason}")
    rotations: dict[str, Rotation] = {}
    for path in sorted(directory.glob("*.ics")):
        if path.name.startswith(".") or path.name.endswith(OVERRIDES_SUFFIX):
            continue
        rotation = with_local_overrides(load_rotation(path), directory)
        rotations[rotation.name] = rotation if now is None else rotation.indexed(now)
    return rotations


def rotation_files(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and modification time (ns) of every calendar file in directory, overrides
    included: it changes whenever a rotation file is added, removed or edited."""
    found = []
    for path in sorted(Path(directory).glob("*.ics")):
        if path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except OSError:  # removed while we looked
            continue
        found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


# --------------------------------------------------------------------------- expanding


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


def _occurrence(
    rotation: Rotation, component: icalendar.Component, override: bool
) -> Occurrence | None:
    if str(component.get("STATUS", "")).strip().upper() == "CANCELLED":
        return None
    start = _to_utc(component["DTSTART"].dt, rotation.zone)
    end = _to_utc(component["DTEND"].dt, rotation.zone) if "DTEND" in component else start
    if end <= start:  # covers no instant
        return None
    return Occurrence(
        start=start,
        end=end,
        summary=str(component.get("SUMMARY", "")).strip(),
        uid=str(component.get("UID", "")),
        names=EventNames.of(component),
        override=override,
    )


def _sort_key(item: Occurrence) -> tuple[datetime, datetime, str, str]:
    return (item.start, item.end, item.uid, item.summary)


def _one_calendar(
    rotation: Rotation, start: datetime, end: datetime, override: bool = False
) -> list[Occurrence]:
    """Occurrences of this calendar alone overlapping [start, end)."""
    components = rotation._query.between(
        start.astimezone(rotation.zone), end.astimezone(rotation.zone)
    )
    found = (_occurrence(rotation, component, override) for component in components)
    return [o for o in found if o is not None and o.start < end and o.end > start]


def _expand(rotation: Rotation, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences overlapping [start, end) with overrides applied, sorted."""
    found = _one_calendar(rotation, start, end)
    if rotation.overrides is not None:
        # Overrides over the whole span of the base shifts found, so a cut base shift ends
        # where the next override starts even when that lies beyond `end`.
        low = min([start, *(o.start for o in found)])
        high = max([end, *(o.end for o in found)])
        replacing = _one_calendar(rotation.overrides, low, high, override=True)
        merged = apply_overrides(found, replacing)
        found = [o for o in merged if o.start < end and o.end > start]
    return sorted(found, key=_sort_key)


def occurrences(rotation: Rotation, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences overlapping [start, end), overrides applied, sorted by start (then end,
    UID, summary): from the index when it holds the range, else expanded now."""
    if rotation.index is not None and rotation.index.covers(start, end):
        return rotation.index.between(start, end)
    return _expand(rotation, start, end)


def _occurrences_at(rotation: Rotation, at: datetime) -> Sequence[Occurrence]:
    if rotation.index is not None and rotation.index.covers(at):
        return rotation.index.at(at)
    return [o for o in _expand(rotation, at, at + _INSTANT) if o.start <= at < o.end]


# --------------------------------------------------------------------------- queries


def shifts(
    rotation: Rotation, techs: Mapping[str, Tech], start: datetime, end: datetime
) -> list[Shift]:
    """Shifts overlapping [start, end), sorted by start (then end, UID, summary)."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return []
    return [o.shift(rotation.name, techs) for o in occurrences(rotation, start, end)]


def shifts_at(rotation: Rotation, techs: Mapping[str, Tech], at: datetime) -> list[Shift]:
    """Shifts with start <= at < end, sorted by start."""
    _require_aware(at, "at")
    return [o.shift(rotation.name, techs) for o in _occurrences_at(rotation, at)]


def on_call(rotation: Rotation, techs: Mapping[str, Tech], at: datetime) -> list[Tech]:
    """Techs of every shift covering at, de-duplicated, by shift start then as named."""
    _require_aware(at, "at")
    result: list[Tech] = []
    for occurrence in _occurrences_at(rotation, at):
        for tech_id in occurrence.names.tech_ids(techs):
            tech = techs[tech_id]
            if tech not in result:
                result.append(tech)
    return result
