"""Tests for oncall.rotations: rotation calendars → shifts → who is on call.

The fixture tests at the bottom check every STATED and DERIVED expectation recorded in
tests/fixtures/ics/SOURCES.md through load_rotation + shifts/on_call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import x_wr_timezone
from icalendar.timezone import tzid_from_dt
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from oncall.config import Tech, load_config
from oncall.errors import ConfigError
from oncall.rotations import (
    Rotation,
    Shift,
    load_rotation,
    load_rotations,
    on_call,
    shifts,
    shifts_at,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ics"
CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
NO_TECHS: dict[str, Tech] = {}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def chicago(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=CHICAGO, fold=fold)


def make_techs(*entries: tuple[str, str, str | None]) -> dict[str, Tech]:
    return {
        tech_id: Tech(id=tech_id, name=name, phone=f"+1555000{2000 + i}", email=email)
        for i, (tech_id, name, email) in enumerate(entries)
    }


TECHS = make_techs(
    ("alice", "Alice Nguyen", "alice@example-msp.com"),
    ("bob", "Bob Okafor", "bob@example-msp.com"),
    ("carol", "Carol Diaz", "carol@example-msp.com"),
    ("dave", "Dave Kim", None),
)


def ids(techs: list[Tech]) -> list[str]:
    return [tech.id for tech in techs]


def write_ics(directory: Path, name: str, *lines: str, header: tuple[str, ...] = ()) -> Path:
    """A calendar file around the given content lines, CRLF like a calendar app writes."""
    body = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//oncall tests//EN",
        *header,
        *lines,
        "END:VCALENDAR",
    ]
    path = directory / name
    path.write_bytes(("\r\n".join(body) + "\r\n").encode("utf-8"))
    return path


def vtimezone(tzid: str, standard: str, daylight: str | None = None) -> tuple[str, ...]:
    """A VTIMEZONE as Exchange writes it: offsets like "-0800", US rules when daylight."""
    if daylight is None:
        rules: tuple[str, ...] = (
            "BEGIN:STANDARD",
            "DTSTART:16010101T000000",
            f"TZOFFSETFROM:{standard}",
            f"TZOFFSETTO:{standard}",
            "END:STANDARD",
        )
    else:
        rules = (
            "BEGIN:STANDARD",
            "DTSTART:16010101T020000",
            f"TZOFFSETFROM:{daylight}",
            f"TZOFFSETTO:{standard}",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            f"TZOFFSETFROM:{standard}",
            f"TZOFFSETTO:{daylight}",
            "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3",
            "END:DAYLIGHT",
        )
    return ("BEGIN:VTIMEZONE", f"TZID:{tzid}", *rules, "END:VTIMEZONE")


def event(*props: str, uid: str = "e1") -> tuple[str, ...]:
    return ("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *props, "END:VEVENT")


def one_rotation(tmp_path: Path, *lines: str, header: tuple[str, ...] = ()) -> Rotation:
    return load_rotation(write_ics(tmp_path, "test.ics", *lines, header=header))


def fixture(name: str) -> Rotation:
    return load_rotation(FIXTURES / name)


def day_shifts(rotation: Rotation, day: date, zone: ZoneInfo) -> list[Shift]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return shifts(rotation, NO_TECHS, start, end)


# --- the shipped example rotations ------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> tuple[dict[str, Rotation], Mapping[str, Tech]]:
    config = load_config(ROOT / "config.example.toml", env={})
    return load_rotations(config.rotations_dir), config.techs


def test_example_rotations_are_written_like_a_calendar_app_writes_them() -> None:
    for name in ("primary", "backup"):
        raw = (ROOT / "rotations" / f"{name}.ics").read_bytes()
        assert raw.count(b"\n") == raw.count(b"\r\n"), "CRLF line endings"
        assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "folded at 75 octets"
        calendar = load_rotation(ROOT / "rotations" / f"{name}.ics").calendar
        assert calendar["VERSION"] == "2.0" and calendar.get("PRODID")
        assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/Chicago"]
        events = calendar.walk("VEVENT")
        assert len(events) == 2
        for vevent in events:
            assert vevent.get("UID") and vevent.get("DTSTAMP")
            assert vevent["RRULE"]["FREQ"] == ["WEEKLY"] and vevent["RRULE"]["INTERVAL"] == [2]
            assert "UNTIL" not in vevent["RRULE"] and "COUNT" not in vevent["RRULE"]
            assert vevent.end - vevent.start == timedelta(days=7)


def test_load_rotations_finds_both_example_rotations(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
) -> None:
    rotations, _ = example
    assert sorted(rotations) == ["backup", "primary"]
    assert rotations["primary"].name == "primary"
    assert rotations["primary"].zone == CHICAGO


@pytest.mark.parametrize(
    ("at", "primary", "backup"),
    [
        (chicago(2026, 1, 5, 7, 59, 59), [], []),  # before the first hand-off
        (chicago(2026, 1, 5, 8, 0), ["alice"], ["carol"]),  # first shift starts exactly
        (chicago(2026, 1, 9, 23, 0), ["alice"], ["carol"]),
        (chicago(2026, 1, 12, 7, 59, 59), ["alice"], ["carol"]),  # last second before hand-off
        (chicago(2026, 1, 12, 8, 0), ["bob"], ["dave"]),  # hand-off: end is exclusive
        (utc(2026, 1, 12, 14, 0), ["bob"], ["dave"]),  # the same instant in UTC
        (utc(2026, 1, 12, 13, 59, 59), ["alice"], ["carol"]),
        (chicago(2026, 1, 19, 8, 0), ["alice"], ["carol"]),
        (datetime(2026, 1, 19, 15, 0, tzinfo=BERLIN), ["alice"], ["carol"]),  # any zone
        # spring forward, Sunday 2026-03-08 02:00 CST -> 03:00 CDT (alice's week)
        (chicago(2026, 3, 8, 1, 59, 59), ["alice"], ["carol"]),
        (chicago(2026, 3, 8, 3, 0), ["alice"], ["carol"]),
        (chicago(2026, 3, 9, 7, 59, 59), ["alice"], ["carol"]),
        (chicago(2026, 3, 9, 8, 0), ["bob"], ["dave"]),  # 08:00 CDT = 13:00Z
        (utc(2026, 3, 9, 12, 59, 59), ["alice"], ["carol"]),
        (utc(2026, 3, 9, 13, 0), ["bob"], ["dave"]),
        # fall back, Sunday 2026-11-01 02:00 CDT -> 01:00 CST (alice's week again)
        (chicago(2026, 11, 1, 1, 30, fold=0), ["alice"], ["carol"]),
        (chicago(2026, 11, 1, 1, 30, fold=1), ["alice"], ["carol"]),
        (chicago(2026, 11, 2, 7, 59, 59), ["alice"], ["carol"]),
        (chicago(2026, 11, 2, 8, 0), ["bob"], ["dave"]),  # 08:00 CST = 14:00Z
        (utc(2026, 11, 2, 13, 59, 59), ["alice"], ["carol"]),
        (utc(2026, 11, 2, 14, 0), ["bob"], ["dave"]),
    ],
)
def test_who_is_on_call_in_the_example_rotations(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
    at: datetime,
    primary: list[str],
    backup: list[str],
) -> None:
    rotations, techs = example
    assert ids(on_call(rotations["primary"], techs, at)) == primary
    assert ids(on_call(rotations["backup"], techs, at)) == backup


def test_example_rotations_cover_every_instant_from_the_first_handoff_on(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
) -> None:
    rotations, techs = example
    first = chicago(2026, 1, 5, 8, 0)
    for name, pair in (("primary", ("alice", "bob")), ("backup", ("carol", "dave"))):
        found = shifts(rotations[name], techs, first, first + timedelta(days=3 * 365))
        assert found[0].start == first
        for i, (before, after) in enumerate(zip(found, found[1:], strict=False)):
            assert before.end == after.start, f"gap or overlap at {before.end}"
            assert before.tech_ids == (pair[i % 2],)
        for shift in found:
            local_start = shift.start.astimezone(CHICAGO)
            assert (local_start.weekday(), local_start.hour, local_start.minute) == (0, 8, 0)
        for far in (utc(2031, 7, 4, 3), utc(2045, 2, 28, 12), utc(2099, 12, 31, 23, 59)):
            assert len(on_call(rotations[name], techs, far)) == 1


def test_shift_fields_are_utc_and_name_the_rotation(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
) -> None:
    rotations, techs = example
    [shift] = shifts_at(rotations["primary"], techs, chicago(2026, 3, 8, 12))
    assert shift == Shift(
        rotation="primary",
        start=utc(2026, 3, 2, 14),
        end=utc(2026, 3, 9, 13),
        tech_ids=("alice",),
        summary="alice",
        uid="primary-alice-20260105@example-msp.com",
    )
    assert shift.start.tzinfo is UTC and shift.end.tzinfo is UTC


def test_shifts_overlap_the_window_and_are_sorted(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
) -> None:
    rotations, techs = example
    primary = rotations["primary"]
    # starts mid-shift: that shift is included; ends exactly at a hand-off: the next is not
    found = shifts(primary, techs, chicago(2026, 1, 7), chicago(2026, 1, 19, 8))
    assert [s.tech_ids for s in found] == [("alice",), ("bob",)]
    assert [s.start for s in found] == sorted(s.start for s in found)
    assert shifts(primary, techs, chicago(2026, 1, 7), chicago(2026, 1, 7)) == []
    assert shifts(primary, techs, utc(2025, 1, 1), utc(2026, 1, 5, 14)) == []


def test_naive_datetimes_are_rejected(
    example: tuple[dict[str, Rotation], Mapping[str, Tech]],
) -> None:
    rotations, techs = example
    with pytest.raises(ValueError, match="timezone-aware"):
        on_call(rotations["primary"], techs, datetime(2026, 2, 1, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        shifts(rotations["primary"], techs, datetime(2026, 2, 1), utc(2026, 3, 1))


# --- how events name techs --------------------------------------------------------------

SHIFT_TIMES = ("DTSTART:20260601T000000Z", "DTEND:20260602T000000Z")
NOON = utc(2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (("SUMMARY:alice",), ["alice"]),
        (("SUMMARY:ALICE",), ["alice"]),
        (("SUMMARY:Alice Nguyen",), ["alice"]),
        (("SUMMARY: alice nguyen ",), ["alice"]),
        (("SUMMARY:alice@example-msp.com",), ["alice"]),
        (("SUMMARY:alice\\, bob",), ["alice", "bob"]),
        (("SUMMARY:Bob Okafor & Alice Nguyen",), ["bob", "alice"]),
        (("SUMMARY:carol and Dave Kim",), ["carol", "dave"]),
        (("SUMMARY:alice\\, bob\\, and carol",), ["alice", "bob", "carol"]),
        (("ATTENDEE:mailto:bob@example-msp.com",), ["bob"]),
        (("ATTENDEE:MAILTO:BOB@EXAMPLE-MSP.COM",), ["bob"]),
        (("ATTENDEE;CN=Dave Kim:mailto:dave.kim@personal.example",), ["dave"]),
        (
            (
                "ATTENDEE;CN=Carol Diaz:mailto:carol@example-msp.com",
                "ATTENDEE;CN=Alice Nguyen:mailto:alice@example-msp.com",
            ),
            ["carol", "alice"],
        ),
        (("SUMMARY:Primary", "DESCRIPTION:dave"), ["dave"]),
        (("SUMMARY:Primary", "DESCRIPTION:Alice Nguyen\\nBob Okafor"), ["alice", "bob"]),
        (("SUMMARY:Primary", "DESCRIPTION:Call the office first."), []),
        # SUMMARY first, then ATTENDEE, then DESCRIPTION; each tech once
        (
            (
                "SUMMARY:bob",
                "ATTENDEE;CN=Alice Nguyen:mailto:alice@example-msp.com",
                "ATTENDEE:mailto:bob@example-msp.com",
                "DESCRIPTION:carol\\, alice",
            ),
            ["bob", "alice", "carol"],
        ),
        # unknown names make an empty shift, not an error
        (("SUMMARY:Mallory",), []),
        (("SUMMARY:On call: Alice Nguyen",), []),
        (("ATTENDEE;CN=Someone Else:mailto:someone@elsewhere.example",), []),
        ((), []),
    ],
)
def test_events_name_techs(tmp_path: Path, props: tuple[str, ...], expected: list[str]) -> None:
    rotation = one_rotation(tmp_path, *event(*SHIFT_TIMES, *props))
    [shift] = shifts_at(rotation, TECHS, NOON)
    assert list(shift.tech_ids) == expected
    assert ids(on_call(rotation, TECHS, NOON)) == expected


def test_unknown_names_give_an_empty_shift(tmp_path: Path) -> None:
    rotation = one_rotation(tmp_path, *event(*SHIFT_TIMES, "SUMMARY:Mallory"))
    [shift] = shifts(rotation, TECHS, utc(2026, 6, 1), utc(2026, 6, 2))
    assert shift.tech_ids == () and shift.summary == "Mallory"
    assert on_call(rotation, TECHS, NOON) == []


def test_overlapping_shifts_are_ordered_by_start_then_as_named(tmp_path: Path) -> None:
    rotation = one_rotation(
        tmp_path,
        *event("DTSTART:20260601T060000Z", "DTEND:20260601T180000Z", "SUMMARY:carol", uid="b"),
        *event(
            "DTSTART:20260601T000000Z", "DTEND:20260602T000000Z", "SUMMARY:bob\\, carol", uid="a"
        ),
        *event("DTSTART:20260601T120000Z", "DTEND:20260601T130000Z", "SUMMARY:alice", uid="c"),
    )
    assert ids(on_call(rotation, TECHS, NOON)) == ["bob", "carol", "alice"]
    assert [s.uid for s in shifts_at(rotation, TECHS, NOON)] == ["a", "b", "c"]
    assert ids(on_call(rotation, TECHS, utc(2026, 6, 1, 13))) == ["bob", "carol"]


# --- what a shift covers ----------------------------------------------------------------


def test_cancelled_occurrences_are_not_shifts(tmp_path: Path) -> None:
    rotation = one_rotation(
        tmp_path,
        *event(
            "DTSTART:20260601T000000Z",
            "DTEND:20260602T000000Z",
            "RRULE:FREQ=DAILY;COUNT=3",
            "SUMMARY:alice",
            uid="series",
        ),
        *event(
            "RECURRENCE-ID:20260602T000000Z",
            "DTSTART:20260602T000000Z",
            "DTEND:20260603T000000Z",
            "SUMMARY:alice",
            "STATUS:CANCELLED",
            uid="series",
        ),
        *event(
            "DTSTART:20260601T000000Z",
            "DTEND:20260604T000000Z",
            "SUMMARY:bob",
            "STATUS:CANCELLED",
            uid="single",
        ),
    )
    found = shifts(rotation, TECHS, utc(2026, 5, 1), utc(2026, 7, 1))
    assert [(s.start.day, s.tech_ids) for s in found] == [(1, ("alice",)), (3, ("alice",))]
    assert on_call(rotation, TECHS, utc(2026, 6, 2, 12)) == []
    assert ids(on_call(rotation, TECHS, utc(2026, 6, 3, 12))) == ["alice"]


@pytest.mark.parametrize(
    ("header", "zone"),
    [
        (("X-WR-TIMEZONE:America/Chicago",), CHICAGO),
        (vtimezone("Europe/Berlin", "+0100"), BERLIN),
        (vtimezone("Custom Zone", "+0300"), ZoneInfo("UTC")),
        ((), ZoneInfo("UTC")),
    ],
)
def test_all_day_events_are_read_in_the_calendar_zone(
    tmp_path: Path, header: tuple[str, ...], zone: ZoneInfo
) -> None:
    rotation = one_rotation(
        tmp_path,
        *event("DTSTART;VALUE=DATE:20260706", "DTEND;VALUE=DATE:20260713", "SUMMARY:dave"),
        header=header,
    )
    assert rotation.zone == zone
    [shift] = shifts(rotation, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert shift.start == datetime(2026, 7, 6, tzinfo=zone)
    assert shift.end == datetime(2026, 7, 13, tzinfo=zone)  # DTEND is exclusive
    assert ids(on_call(rotation, TECHS, datetime(2026, 7, 6, tzinfo=zone))) == ["dave"]
    assert ids(on_call(rotation, TECHS, datetime(2026, 7, 12, 23, 59, 59, tzinfo=zone))) == ["dave"]
    assert on_call(rotation, TECHS, datetime(2026, 7, 13, tzinfo=zone)) == []
    assert on_call(rotation, TECHS, datetime(2026, 7, 5, 23, 59, 59, tzinfo=zone)) == []


def test_all_day_event_without_dtend_lasts_one_day(tmp_path: Path) -> None:
    rotation = one_rotation(
        tmp_path,
        *event("DTSTART;VALUE=DATE:20260706", "SUMMARY:dave"),
        header=("X-WR-TIMEZONE:Europe/Berlin",),
    )
    [shift] = shifts(rotation, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert (shift.start, shift.end) == (utc(2026, 7, 5, 22), utc(2026, 7, 6, 22))


def test_duration_instead_of_dtend(tmp_path: Path) -> None:
    rotation = one_rotation(
        tmp_path,
        *event(
            "DTSTART;TZID=America/Chicago:20260302T080000",
            "DURATION:P7D",
            "RRULE:FREQ=WEEKLY",
            "SUMMARY:alice",
            uid="weekly",
        ),
        *event("DTSTART:20260401T220000Z", "DURATION:PT12H", "SUMMARY:bob", uid="night"),
        header=("X-WR-TIMEZONE:America/Chicago",),
    )
    # P7D is nominal: 08:00 to 08:00 local across the DST change
    [week] = shifts_at(rotation, TECHS, chicago(2026, 3, 8, 12))
    assert (week.start, week.end) == (utc(2026, 3, 2, 14), utc(2026, 3, 9, 13))
    night = [s for s in shifts_at(rotation, TECHS, utc(2026, 4, 2, 9)) if s.uid == "night"]
    assert [(s.start, s.end) for s in night] == [(utc(2026, 4, 1, 22), utc(2026, 4, 2, 10))]
    assert "bob" in ids(on_call(rotation, TECHS, utc(2026, 4, 2, 9, 59, 59)))
    assert "bob" not in ids(on_call(rotation, TECHS, utc(2026, 4, 2, 10)))


@pytest.mark.parametrize(
    ("header", "start"),
    [
        (("X-WR-TIMEZONE:America/Chicago",), utc(2026, 6, 1, 13)),
        (vtimezone("Europe/Berlin", "+0100"), utc(2026, 6, 1, 6)),
        ((), utc(2026, 6, 1, 8)),
    ],
)
def test_floating_times_use_the_calendar_zone(
    tmp_path: Path, header: tuple[str, ...], start: datetime
) -> None:
    rotation = one_rotation(
        tmp_path,
        *event("DTSTART:20260601T080000", "DTEND:20260601T170000", "SUMMARY:carol"),
        header=header,
    )
    [shift] = shifts(rotation, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert (shift.start, shift.end) == (start, start + timedelta(hours=9))
    assert ids(on_call(rotation, TECHS, start)) == ["carol"]
    assert on_call(rotation, TECHS, start - timedelta(seconds=1)) == []


def test_zero_length_events_cover_nothing(tmp_path: Path) -> None:
    rotation = one_rotation(tmp_path, *event("DTSTART:20260601T120000Z", "SUMMARY:alice"))
    assert shifts(rotation, TECHS, utc(2026, 6, 1), utc(2026, 6, 2)) == []
    assert on_call(rotation, TECHS, NOON) == []


# --- Windows time-zone names (icalendar 7 maps them through WINDOWS_TO_OLSON) -----------


@pytest.mark.parametrize(
    ("tzid", "local", "expected_utc"),
    [
        ("Pacific Standard Time", "20260115T080000", utc(2026, 1, 15, 16)),  # PST
        ("Pacific Standard Time", "20260715T080000", utc(2026, 7, 15, 15)),  # PDT
        ("W. Europe Standard Time", "20260115T080000", utc(2026, 1, 15, 7)),  # CET
        ("W. Europe Standard Time", "20260715T080000", utc(2026, 7, 15, 6)),  # CEST
    ],
)
def test_windows_zone_names_resolve_without_a_vtimezone(
    tmp_path: Path, tzid: str, local: str, expected_utc: datetime
) -> None:
    rotation = one_rotation(
        tmp_path,
        *event(f"DTSTART;TZID={tzid}:{local}", "DURATION:PT1H", "SUMMARY:alice"),
    )
    [shift] = shifts(rotation, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert shift.start == expected_utc
    assert ids(on_call(rotation, TECHS, expected_utc)) == ["alice"]


def test_windows_vtimezone_name_sets_the_all_day_zone(tmp_path: Path) -> None:
    rotation = one_rotation(
        tmp_path,
        *event("DTSTART;VALUE=DATE:20260706", "DTEND;VALUE=DATE:20260707", "SUMMARY:alice"),
        header=vtimezone("Pacific Standard Time", "-0800", "-0700"),
    )
    assert WINDOWS_TO_OLSON["Pacific Standard Time"] == "America/Los_Angeles"
    assert rotation.zone == ZoneInfo("America/Los_Angeles")
    [shift] = shifts(rotation, TECHS, utc(2026, 1, 1), utc(2027, 1, 1))
    assert shift.start == utc(2026, 7, 6, 7)


# --- errors -----------------------------------------------------------------------------


def read_error(tmp_path: Path, content: bytes, name: str = "broken.ics") -> ConfigError:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_rotation(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert "cannot read calendar" in info.value.message
    return info.value


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.ics"
    with pytest.raises(ConfigError, match="nope.ics.*file not found"):
        load_rotation(path)


@pytest.mark.parametrize(
    ("content", "where", "reason"),
    [
        (b"", None, "no VCALENDAR found"),
        (b"\r\n\r\n", None, "no VCALENDAR found"),
        (b"<html><body>404 Not Found</body></html>\n", "line 1", "could not be parsed"),
        (b'{"calendar": []}', "line 1", "could not be parsed"),
        (bytes(range(256)), "line 1", "could not be parsed"),
        (
            b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nthis is not a content line\r\nEND:VCALENDAR\r\n",
            "line 3",
            "could not be parsed",
        ),
        (b"SUMMARY:alice\r\n", "line 1", "does not have a parent"),
        (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nEND:VCALENDAR\r\n", "line 3", "END"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T000000Z\r\n",
            None,
            "no matching END:VCALENDAR",
        ),
        (
            b"BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n",
            None,
            "expected BEGIN:VCALENDAR, found VEVENT",
        ),
        (
            b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            None,
            "2 calendars",
        ),
    ],
)
def test_garbage_is_an_error_not_an_empty_rotation(
    tmp_path: Path, content: bytes, where: str | None, reason: str
) -> None:
    error = read_error(tmp_path, content)
    assert error.where == where
    assert reason in error.message


@pytest.mark.parametrize(
    ("lines", "where", "reason"),
    [
        (("BEGIN:VEVENT", "UID:no-start", "SUMMARY:alice", "END:VEVENT"), "line 5", "no DTSTART"),
        (event("DTSTART:tomorrow", "SUMMARY:alice"), "line 7", "cannot read DTSTART 'tomorrow'"),
        (
            event("DTSTART:20260101T000000Z", "DTEND:20260101T080000Z", "RRULE:FREQ=SOMETIMES"),
            "line 9",
            "cannot read RRULE",
        ),
        (
            event("DTSTART;TZID=America/Chicgo:20260101T080000", "DURATION:PT1H"),
            "line 7",
            "unknown time zone 'America/Chicgo' in DTSTART",
        ),
    ],
)
def test_events_whose_timing_cannot_be_read_are_errors(
    tmp_path: Path, lines: tuple[str, ...], where: str, reason: str
) -> None:
    path = write_ics(tmp_path, "broken.ics", *lines)
    with pytest.raises(ConfigError) as info:
        load_rotation(path)
    assert info.value.path == str(path)
    assert info.value.where == where
    assert reason in info.value.message


def test_unknown_x_wr_timezone_is_an_error(tmp_path: Path) -> None:
    path = write_ics(tmp_path, "x.ics", header=("X-WR-TIMEZONE:Mars/Olympus_Mons",))
    with pytest.raises(ConfigError, match="unknown X-WR-TIMEZONE 'Mars/Olympus_Mons'") as info:
        load_rotation(path)
    assert info.value.where == "line 4"


def test_real_world_broken_files_still_load(tmp_path: Path) -> None:
    # LF endings, no VERSION/PRODID/UID/DTSTAMP, blank lines, a junk line inside the event
    path = tmp_path / "sloppy.ics"
    path.write_bytes(
        b"BEGIN:VCALENDAR\n\nBEGIN:VEVENT\nDTSTART:20260601T000000Z\n\n"
        b"DTEND:20260602T000000Z\nnot a property\nSUMMARY:bob\nEND:VEVENT\n\nEND:VCALENDAR"
    )
    rotation = load_rotation(path)
    assert ids(on_call(rotation, TECHS, NOON)) == ["bob"]
    [shift] = shifts_at(rotation, TECHS, NOON)
    assert shift.uid == ""


def test_an_empty_calendar_is_an_empty_rotation(tmp_path: Path) -> None:
    rotation = one_rotation(tmp_path)
    assert shifts(rotation, TECHS, utc(2000, 1, 1), utc(2100, 1, 1)) == []


def test_load_rotations_reads_every_ics_and_attaches_overrides(tmp_path: Path) -> None:
    write_ics(tmp_path, "primary.ics", *event(*SHIFT_TIMES, "SUMMARY:alice"))
    write_ics(tmp_path, "erp-specialists.ics", *event(*SHIFT_TIMES, "SUMMARY:carol"))
    write_ics(
        tmp_path,
        "primary.overrides.ics",
        *event("DTSTART:20260601T120000Z", "DTEND:20260601T130000Z", "SUMMARY:bob"),
    )
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.ics").write_text("ignored")
    rotations = load_rotations(tmp_path)
    assert sorted(rotations) == ["erp-specialists", "primary"]
    assert ids(on_call(rotations["erp-specialists"], TECHS, NOON)) == ["carol"]
    assert rotations["erp-specialists"].overrides is None
    overrides = rotations["primary"].overrides
    assert overrides is not None and overrides.path == tmp_path / "primary.overrides.ics"
    assert ids(on_call(rotations["primary"], TECHS, NOON)) == ["bob"]


def test_load_rotations_reports_a_broken_overrides_file(tmp_path: Path) -> None:
    write_ics(tmp_path, "primary.ics", *event(*SHIFT_TIMES, "SUMMARY:alice"))
    (tmp_path / "primary.overrides.ics").write_bytes(b"not even a calendar")
    with pytest.raises(ConfigError, match=r"primary\.overrides\.ics: line 1"):
        load_rotations(tmp_path)


def test_load_rotations_reports_a_bad_file(tmp_path: Path) -> None:
    write_ics(tmp_path, "primary.ics", *event(*SHIFT_TIMES, "SUMMARY:alice"))
    (tmp_path / "backup.ics").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="backup.ics"):
        load_rotations(tmp_path)


def test_load_rotations_needs_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.*rotations directory not found"):
        load_rotations(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        load_rotations(tmp_path / "file")


# --- real-world fixtures: every expectation in tests/fixtures/ics/SOURCES.md ------------

COVERED_FIXTURES = {
    "rie_issue_48_dst.ics",
    "rie_issue_20_exdate_ignored.ics",
    "rie_each_week_but_two_deleted.ics",
    "rie_issue_36_recurrence_ID_format.ics",
    "rie_recurring_events_changed_duration.ics",
    "rie_issue_18_cancel_status.ics",
    "rie_issue_27_t1.ics",
    "rie_issue_28_rrule_with_UTC_endinginZ.ics",
    "rie_issue_44_double_event.ics",
    "rie_issue_128_only_first_event.ics",
    "xwr_single-events-DTSTART-DTEND.in.ics",
    "xwr_single-events-DTSTART-DTEND.out.ics",
    "ical_issue_836_do_not_quote_tzid.ics",
    "ical_issue_165_missing_event.ics",
    "ical_america_new_york.ics",
}
EVERYTHING = (utc(1900, 1, 1), utc(2100, 1, 1))


def test_every_fixture_has_tests_and_loads() -> None:
    assert {p.name for p in FIXTURES.glob("*.ics")} == COVERED_FIXTURES
    for name in sorted(COVERED_FIXTURES):
        rotation = fixture(name)
        assert rotation.name == name.removesuffix(".ics")
        assert rotation.calendar.walk("VEVENT"), name


def test_fixture_sources_and_licenses_are_shipped() -> None:
    assert (FIXTURES / "SOURCES.md").is_file()
    licenses = {p.name for p in (FIXTURES / "LICENSES").iterdir()}
    assert {
        "BSD-2-Clause_icalendar.rst",
        "GPL-3.0.txt",
        "LGPL-3.0_python-recurring-ical-events.txt",
        "LGPL-3.0_x-wr-timezone.txt",
    } <= licenses


def test_rie_issue_48_dst() -> None:
    rotation = fixture("rie_issue_48_dst.ics")
    found = shifts(rotation, NO_TECHS, chicago(2020, 12, 11, 10), chicago(2020, 12, 11, 15))
    # STATED: 3 occurrences; DERIVED: which ones
    assert [(s.uid, s.summary, s.start, s.end) for s in found] == [
        ("p1lc8@google.com", "Event#2", utc(2020, 12, 11, 16, 15), utc(2020, 12, 11, 16, 30)),
        ("mji2s@google.com", "Event#3", utc(2020, 12, 11, 18, 30), utc(2020, 12, 11, 18, 45)),
        ("m4dpn70@google.com", "Event#4", utc(2020, 12, 11, 20, 15), utc(2020, 12, 11, 20, 30)),
    ]
    # the Thanksgiving EXDATEs (TZID) remove Event#1 on 11-26 and 11-27
    for day in (26, 27):
        assert "c4p6@google.com" not in {
            s.uid for s in day_shifts(rotation, date(2020, 11, day), CHICAGO)
        }
    assert "c4p6@google.com" in {s.uid for s in day_shifts(rotation, date(2020, 11, 30), CHICAGO)}


def test_rie_issue_20_exdate_ignored() -> None:
    rotation = fixture("rie_issue_20_exdate_ignored.ics")
    for day in ("2019-10-15", "2019-10-22", "2019-11-05", "2019-11-19", "2019-11-26"):
        assert day_shifts(rotation, date.fromisoformat(day), BERLIN) == [], day
    for day in ("2019-12-03", "2019-12-17", "2019-12-24", "2019-12-31", "2020-02-04"):
        assert day_shifts(rotation, date.fromisoformat(day), BERLIN) == [], day
    days = ("2019-10-29", "2019-11-12", "2019-12-10", "2020-01-07", "2020-01-14")
    for day in (*days, "2020-01-21", "2020-01-28"):
        assert len(day_shifts(rotation, date.fromisoformat(day), BERLIN)) == 1, day
    found = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert len(found) == 7
    for shift in found:  # DERIVED: 16:15–17:45 CET = 15:15Z–16:45Z, DURATION:PT1H30M
        assert (shift.start.time().isoformat(), shift.end.time().isoformat()) == (
            "15:15:00",
            "16:45:00",
        )


def test_rie_each_week_but_two_deleted() -> None:
    rotation = fixture("rie_each_week_but_two_deleted.ics")
    found = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert len(found) == 6  # STATED
    assert [s.start for s in found] == [  # DERIVED
        utc(2019, 3, 3, 23, 30),
        utc(2019, 3, 17, 23, 30),
        utc(2019, 3, 31, 22, 30),
        utc(2019, 4, 7, 22, 30),
        utc(2019, 4, 14, 22, 30),
        utc(2019, 4, 21, 22, 30),
    ]
    assert all(s.end - s.start == timedelta(minutes=30) for s in found)
    local_days = {s.start.astimezone(BERLIN).date() for s in found}
    assert date(2019, 3, 11) not in local_days and date(2019, 3, 25) not in local_days


@pytest.mark.parametrize(
    ("day", "summary"),
    [
        (date(2020, 9, 17), "Modified event"),
        (date(2020, 9, 14), "Modified event 1"),
        (date(2020, 9, 21), "Modified event 2"),
    ],
)
def test_rie_issue_36_recurrence_id_format(day: date, summary: str) -> None:
    rotation = fixture("rie_issue_36_recurrence_ID_format.ics")
    assert rotation.zone == ZoneInfo("UTC")  # no VTIMEZONE, no X-WR-TIMEZONE
    assert [s.summary for s in day_shifts(rotation, day, rotation.zone)] == [summary]


def test_rie_recurring_events_changed_duration() -> None:
    rotation = fixture("rie_recurring_events_changed_duration.ics")
    assert rotation.zone == BERLIN
    expected = {  # STATED durations; DERIVED times (CET = UTC+1)
        date(2019, 3, 7): (utc(2019, 3, 7, 1), timedelta(hours=1)),
        date(2019, 3, 8): (utc(2019, 3, 8, 0), timedelta(hours=2)),
        date(2019, 3, 9): (utc(2019, 3, 9, 2), timedelta(minutes=30)),
        date(2019, 3, 10): (utc(2019, 3, 9, 23), timedelta(days=1)),  # all-day, DTEND wins
    }
    for day, (start, duration) in expected.items():
        [shift] = day_shifts(rotation, day, BERLIN)
        assert shift.summary == "New Event"
        assert (shift.start, shift.end - shift.start) == (start, duration), day
    test7 = [
        s
        for s in shifts(rotation, NO_TECHS, *EVERYTHING)
        if s.uid == "5d4c6843-9300-4f91-8d88-6094d4b0b840"
    ]
    assert [(s.start, s.end, s.summary) for s in test7] == [
        (utc(2019, 3, 18, 3), utc(2019, 3, 18, 4), "test7"),
        (utc(2019, 3, 19, 3), utc(2019, 3, 19, 4), "test7 - edited"),
        (utc(2019, 3, 20, 3), utc(2019, 3, 20, 4), "test7"),
    ]


def test_rie_issue_18_cancel_status() -> None:
    rotation = fixture("rie_issue_18_cancel_status.ics")
    # STATED, read from the loaded rotation's calendar with the library
    occurrences = recurring_ical_events.of(rotation.calendar).between(
        datetime(2020, 1, 28, tzinfo=BERLIN), datetime(2020, 1, 31, tzinfo=BERLIN)
    )
    by_day = {o["DTSTART"].dt.date(): o for o in occurrences}
    assert [by_day[date(2020, 1, d)].get("STATUS") for d in (28, 29, 30)] == [
        None,
        "CANCELLED",
        None,
    ]
    assert {by_day[date(2020, 1, d)].get("TRANSP") for d in (28, 29, 30)} == {"OPAQUE"}
    # policy: the cancelled occurrence is not a shift; DERIVED times 21:00Z–22:00Z
    found = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert [(s.start, s.end) for s in found] == [
        (utc(2020, 1, 28, 21), utc(2020, 1, 28, 22)),
        (utc(2020, 1, 30, 21), utc(2020, 1, 30, 22)),
    ]
    techs = make_techs(("oncall", "one is cancelled", None))
    assert ids(on_call(rotation, techs, utc(2020, 1, 28, 21, 30))) == ["oncall"]
    assert on_call(rotation, techs, utc(2020, 1, 29, 21, 30)) == []
    assert ids(on_call(rotation, techs, utc(2020, 1, 30, 21))) == ["oncall"]


def test_rie_issue_27_windows_vtimezone_and_floating_until() -> None:
    rotation = fixture("rie_issue_27_t1.ics")
    assert rotation.zone == BERLIN  # "W. Europe Standard Time" via WINDOWS_TO_OLSON
    found = shifts(
        rotation,
        NO_TECHS,
        datetime(2020, 4, 25, tzinfo=BERLIN),
        datetime(2020, 4, 30, tzinfo=BERLIN),
    )
    assert [(s.start, s.end) for s in found] == [  # STATED: 2; DERIVED: which
        (utc(2020, 4, 26, 12), utc(2020, 4, 26, 12, 30)),
        (utc(2020, 4, 28, 12), utc(2020, 4, 28, 12, 30)),
    ]


def test_rie_issue_28_all_day_biweekly_with_moved_occurrences() -> None:
    rotation = fixture("rie_issue_28_rrule_with_UTC_endinginZ.ics")
    assert rotation.zone == LONDON  # "GMT Standard Time" via WINDOWS_TO_OLSON

    def between(start: date, end: date) -> list[Shift]:
        return shifts(
            rotation,
            NO_TECHS,
            datetime(start.year, start.month, start.day, tzinfo=LONDON),
            datetime(end.year, end.month, end.day, tzinfo=LONDON),
        )

    assert len(between(date(2020, 5, 25), date(2020, 9, 5))) == 15  # STATED
    [moved] = between(date(2020, 9, 3), date(2020, 9, 5))  # STATED: 1 (moved)
    assert moved.start.astimezone(LONDON).date() == date(2020, 9, 4)

    def local_days(summary: str) -> list[str]:
        return [
            s.start.astimezone(LONDON).date().isoformat()[5:]
            for s in shifts(rotation, NO_TECHS, *EVERYTHING)
            if s.summary == summary
        ]

    assert local_days("Refuse black bin") == [  # DERIVED
        "04-02",
        "04-17",
        "04-30",
        "05-14",
        "05-29",
        "06-11",
        "06-25",
        "07-09",
        "07-23",
        "08-06",
        "08-20",
        "09-04",
    ]
    blue = [(date(2020, 4, 9) + timedelta(days=14 * i)).isoformat()[5:] for i in range(12)]
    assert blue[-1] == "09-10"
    assert local_days("Blue Recycle bin") == blue


def test_rie_issue_44_all_day_end_is_exclusive() -> None:
    rotation = fixture("rie_issue_44_double_event.ics")
    assert rotation.zone == LONDON
    assert [s.summary for s in day_shifts(rotation, date(2020, 8, 14), LONDON)] == ["test2"]
    assert day_shifts(rotation, date(2020, 8, 13), LONDON) == []
    assert day_shifts(rotation, date(2020, 8, 15), LONDON) == []
    techs = make_techs(("t", "test2", None))
    assert ids(on_call(rotation, techs, datetime(2020, 8, 14, tzinfo=LONDON))) == ["t"]
    assert ids(on_call(rotation, techs, utc(2020, 8, 14, 22, 59, 59))) == ["t"]
    assert on_call(rotation, techs, datetime(2020, 8, 15, tzinfo=LONDON)) == []
    assert on_call(rotation, techs, utc(2020, 8, 13, 22, 59, 59)) == []


def test_rie_issue_128_week_long_blocks_with_negative_count() -> None:
    rotation = fixture("rie_issue_128_only_first_event.ics")
    found = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert len(found) == 7  # STATED
    assert [s.start.date().isoformat() for s in found] == [  # DERIVED (calendar zone: UTC)
        "2023-10-02",
        "2023-10-30",
        "2023-11-27",
        "2023-12-25",
        "2024-01-22",
        "2024-02-19",
        "2024-03-18",
    ]
    assert all(s.start.weekday() == 0 and s.end - s.start == timedelta(days=7) for s in found)
    techs = make_techs(("t", "test123", None))
    assert ids(on_call(rotation, techs, utc(2023, 10, 8, 23, 59, 59))) == ["t"]  # weekend
    assert on_call(rotation, techs, utc(2023, 10, 9)) == []


XWR_IN = "xwr_single-events-DTSTART-DTEND.in.ics"
XWR_OUT = "xwr_single-events-DTSTART-DTEND.out.ics"


def test_xwr_conversion_changes_the_time_zone() -> None:
    rotation = fixture(XWR_IN)
    text = rotation.calendar.to_ical().decode()
    for line in (
        "DTSTART;TZID=America/New_York:20211222T120000",
        "DTEND;TZID=America/New_York:20211222T130000",
        "DTSTART;TZID=America/New_York:20211222T210000",
        "DTEND;TZID=America/New_York:20211222T220000",
    ):
        assert line in text


def test_xwr_timezone_parameter() -> None:
    # STATED for x_wr_timezone.to_standard(timezone=...); load_rotation has no such
    # parameter, so this one is checked on the library with the fixture.
    raw = icalendar.Calendar.from_ical((FIXTURES / XWR_IN).read_bytes())
    paris = x_wr_timezone.to_standard(raw, timezone=ZoneInfo("Europe/Paris")).to_ical()
    assert b"DTSTART;TZID=Europe/Paris:20211223T030000" in paris
    in_utc = x_wr_timezone.to_standard(raw, timezone=UTC).to_ical()
    assert b"DTSTART:20211222T170000Z" in in_utc


@pytest.mark.parametrize("name", [XWR_IN, XWR_OUT])
@pytest.mark.parametrize(
    ("hour", "minute", "count"),
    [
        (12, 0, 1),
        (11, 59, 0),
        (12, 59, 1),
        (13, 0, 0),
        (21, 0, 1),
        (20, 59, 0),
        (21, 59, 1),
        (22, 0, 0),
    ],
)
def test_xwr_new_york_local_times(name: str, hour: int, minute: int, count: int) -> None:
    rotation = fixture(name)
    at = datetime(2021, 12, 22, hour, minute, tzinfo=NEW_YORK)
    assert len(shifts_at(rotation, NO_TECHS, at)) == count


@pytest.mark.parametrize("name", [XWR_IN, XWR_OUT])
def test_xwr_instants(name: str) -> None:
    found = shifts(fixture(name), NO_TECHS, *EVERYTHING)
    assert [(s.start, s.end) for s in found] == [  # DERIVED
        (utc(2021, 12, 22, 17), utc(2021, 12, 22, 18)),
        (utc(2021, 12, 23, 2), utc(2021, 12, 23, 3)),
    ]


def test_ical_issue_836_windows_tzid() -> None:
    rotation = fixture("ical_issue_836_do_not_quote_tzid.ics")
    # STATED: serialised without quotes; "Eastern Standard Time" maps to America/New_York
    assert b"DTSTART;TZID=Eastern Standard Time:20241028T170000" in rotation.calendar.to_ical()
    assert WINDOWS_TO_OLSON["Eastern Standard Time"] == "America/New_York"
    assert rotation.zone == NEW_YORK
    [shift] = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert (shift.start, shift.end) == (utc(2024, 10, 28, 21), utc(2024, 10, 28, 22))  # DERIVED


def test_ical_issue_165_spaces_in_byday() -> None:
    rotation = fixture("ical_issue_165_missing_event.ics")
    assert len(rotation.calendar.walk("VEVENT")) == 1  # STATED
    found = shifts(rotation, NO_TECHS, *EVERYTHING)
    days = ["03", "06", "07", "08", "09", "10", "13", "14", "15", "16", "17", "20", "21", "22"]
    assert [s.start for s in found] == [utc(2015, 7, int(d), 8) for d in days]  # DERIVED
    assert all(s.end - s.start == timedelta(minutes=30) for s in found)
    assert all(s.start.weekday() < 5 for s in found)
    assert {s.summary for s in found} == {"Sprint 25 Daily Standup"}


def test_ical_america_new_york_custom_vtimezone() -> None:
    rotation = fixture("ical_america_new_york.ics")
    start = rotation.calendar.walk("VEVENT")[0]["DTSTART"].dt
    assert tzid_from_dt(start) == "custom_America/New_York"  # STATED
    assert start.tzname() == "EDT"
    [shift] = shifts(rotation, NO_TECHS, *EVERYTHING)
    assert (shift.start, shift.end) == (utc(2014, 8, 29, 12), utc(2014, 8, 29, 14))  # DERIVED


def test_ical_america_new_york_transitions_match_the_iana_zone() -> None:
    # STATED (with pytz in the source; zoneinfo here): between 1967-04-30 and 2037-11-01
    # the custom VTIMEZONE changes offset exactly when America/New_York does.
    custom = fixture("ical_america_new_york.ics").calendar.walk("VEVENT")[0]["DTSTART"].dt.tzinfo

    def offset(instant: datetime) -> timedelta | None:
        return instant.astimezone(NEW_YORK).utcoffset()

    transitions = []  # America/New_York changes on the hour
    instant, end = utc(1967, 4, 30), utc(2037, 11, 2)
    while instant < end:
        following = instant + timedelta(days=1)
        if offset(instant) != offset(following):
            hours = (instant + timedelta(hours=h) for h in range(1, 25))
            transitions.append(next(t for t in hours if offset(t) != offset(instant)))
        instant = following
    assert len(transitions) == 2 * (2037 - 1967 + 1)
    checks = [t - timedelta(seconds=1) for t in transitions] + transitions
    checks += [utc(1967, 5, 1) + timedelta(weeks=w) for w in range(0, 3675)]
    for check in checks:
        assert check.astimezone(custom).utcoffset() == check.astimezone(NEW_YORK).utcoffset(), check
