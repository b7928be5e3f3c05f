"""Helpers for tests that write rotation calendars: techs, events, files, instants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from oncall.config import Tech

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def make_techs(*entries: tuple[str, str, str | None]) -> dict[str, Tech]:
    return {
        tech_id: Tech(id=tech_id, name=name, phone=f"+1555000{3000 + i}", email=email)
        for i, (tech_id, name, email) in enumerate(entries)
    }


TECHS = make_techs(
    ("alice", "Alice Nguyen", "alice@example-msp.com"),
    ("bob", "Bob Okafor", "bob@example-msp.com"),
    ("carol", "Carol Diaz", "carol@example-msp.com"),
    ("dave", "Dave Kim", None),
)


def calendar_text(*lines: str, header: tuple[str, ...] = ()) -> str:
    """A calendar around the given content lines, CRLF like a calendar app writes."""
    body = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//oncall tests//EN", *header, *lines]
    return "\r\n".join([*body, "END:VCALENDAR"]) + "\r\n"


def write_ics(directory: Path, name: str, *lines: str, header: tuple[str, ...] = ()) -> Path:
    path = directory / name
    path.write_bytes(calendar_text(*lines, header=header).encode("utf-8"))
    return path


def event(*props: str, uid: str = "e1") -> tuple[str, ...]:
    return ("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *props, "END:VEVENT")


def shift_event(start: str, end: str, summary: str, uid: str, *extra: str) -> tuple[str, ...]:
    """An event from start to end (iCalendar UTC text like 20260601T080000Z)."""
    return event(f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}", *extra, uid=uid)


def add_remote_rotation(config: Path, name: str, url: str, **settings: str | float) -> None:
    """Put a [rotations.remote] entry (and [rotations] settings) into a copy of the example
    config, whose [rotations] table is already there."""
    text = config.read_text()
    for key, value in settings.items():
        start = text.index(f"{key} = ", text.index("[rotations]"))
        end = text.index("\n", start)
        literal = f'"{value}"' if isinstance(value, str) else str(value)
        text = text[:start] + f"{key} = {literal}" + text[end:]
    anchor = text.index("\n", text.index("[rotations.remote]")) + 1
    config.write_text(text[:anchor] + f'"{name}" = "{url}"\n' + text[anchor:])
