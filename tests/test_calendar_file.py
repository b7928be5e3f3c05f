"""Tests for oncall.calendar_file used directly (the reading rules and every error case are
exercised through load_rotation in tests/test_rotations.py)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calendar_files import calendar_text, shift_event

from oncall.calendar_file import calendar_zone, parse_calendar, read_calendar_file
from oncall.errors import ConfigError


def test_parse_calendar_names_any_source_in_errors() -> None:
    source = "https://calendar.google.com/…"
    with pytest.raises(ConfigError) as info:
        parse_calendar(b"<html><body>Sign in</body></html>", source)
    assert info.value.path == source and info.value.where == "line 1"
    assert str(info.value).startswith(f"{source}: line 1: cannot read calendar:")


def test_parse_calendar_normalises_x_wr_timezone() -> None:
    text = calendar_text(
        *shift_event("20260601T080000", "20260601T170000", "alice", "a"),
        header=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    calendar = parse_calendar(text, "mem.ics")
    assert calendar_zone(calendar) == ZoneInfo("Europe/Berlin")
    start = calendar.walk("VEVENT")[0]["DTSTART"].dt
    assert start.tzinfo is not None and start.utcoffset().total_seconds() == 7200


def test_read_calendar_file(tmp_path: Path) -> None:
    path = tmp_path / "primary.ics"
    path.write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    assert read_calendar_file(path).startswith(b"BEGIN:VCALENDAR")
    with pytest.raises(ConfigError, match="missing.ics: cannot read calendar: file not found"):
        read_calendar_file(tmp_path / "missing.ics")
    with pytest.raises(ConfigError, match="cannot read calendar: Is a directory"):
        read_calendar_file(tmp_path)
