"""oncall.rotations with its shift index: DST-crossing hand-offs in America/Chicago and
Europe/Berlin stay at 08:00 local, and indexed lookups agree with expanding the calendars."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calendar_files import BERLIN, CHICAGO, TECHS, event, utc, write_ics

from oncall.rotations import Rotation, load_rotation, load_rotations, on_call, shifts, shifts_at

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ics"

# Windows VTIMEZONE blocks as Outlook writes them (US and EU rules).
OUTLOOK_CENTRAL = (
    "BEGIN:VTIMEZONE",
    "TZID:Central Standard Time",
    "BEGIN:STANDARD",
    "DTSTART:16010101T020000",
    "TZOFFSETFROM:-0500",
    "TZOFFSETTO:-0600",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=1SU;BYMONTH=11",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:16010101T020000",
    "TZOFFSETFROM:-0600",
    "TZOFFSETTO:-0500",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=2SU;BYMONTH=3",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
)
OUTLOOK_W_EUROPE = (
    "BEGIN:VTIMEZONE",
    "TZID:W. Europe Standard Time",
    "BEGIN:STANDARD",
    "DTSTART:16010101T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:16010101T020000",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
)

# (zone, how the file names it, its header, the first Monday, the DST changes in 2026)
STYLES = {
    "chicago-iana": (CHICAGO, "America/Chicago", ("X-WR-TIMEZONE:America/Chicago",)),
    "chicago-outlook": (CHICAGO, "Central Standard Time", OUTLOOK_CENTRAL),
    "berlin-iana": (BERLIN, "Europe/Berlin", ("X-WR-TIMEZONE:Europe/Berlin",)),
    "berlin-outlook": (BERLIN, "W. Europe Standard Time", OUTLOOK_W_EUROPE),
}
# Mondays around 2026's changes: Chicago 03-08 and 11-01, Berlin 03-29 and 10-25.
MONDAYS = {
    CHICAGO: ["2026-03-02", "2026-03-09", "2026-03-16", "2026-10-26", "2026-11-02", "2026-11-09"],
    BERLIN: ["2026-03-23", "2026-03-30", "2026-04-06", "2026-10-19", "2026-10-26", "2026-11-02"],
}


def weekly_rotation(tmp_path: Path, style: str) -> tuple[Path, ZoneInfo]:
    """alice and bob hand over every Monday 08:00 local, from 2026-01-05."""
    zone, tzid, header = STYLES[style]
    path = write_ics(
        tmp_path,
        f"{style}.ics",
        *event(
            f"DTSTART;TZID={tzid}:20260105T080000",
            f"DTEND;TZID={tzid}:20260112T080000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            "SUMMARY:alice",
            uid="alice",
        ),
        *event(
            f"DTSTART;TZID={tzid}:20260112T080000",
            f"DTEND;TZID={tzid}:20260119T080000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            "SUMMARY:bob",
            uid="bob",
        ),
        header=header,
    )
    return path, zone


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "expanded"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_weekly_handoff_stays_at_0800_local_across_dst(
    tmp_path: Path, style: str, indexed: bool
) -> None:
    path, zone = weekly_rotation(tmp_path, style)
    rotation = load_rotation(path, now=utc(2026, 6, 1) if indexed else None)
    assert rotation.zone == zone
    assert (rotation.index is not None) == indexed
    for monday in MONDAYS[zone]:
        day = datetime.fromisoformat(monday)
        handoff = day.replace(hour=8, tzinfo=zone)
        before = [t.id for t in on_call(rotation, TECHS, handoff - timedelta(seconds=1))]
        after = [t.id for t in on_call(rotation, TECHS, handoff)]
        assert len(before) == len(after) == 1 and before != after, monday
        [shift] = shifts_at(rotation, TECHS, handoff)
        local_start = shift.start.astimezone(zone)
        local_end = shift.end.astimezone(zone)
        assert (local_start.weekday(), local_start.hour, local_start.minute) == (0, 8, 0)
        assert (local_end.weekday(), local_end.hour, local_end.minute) == (0, 8, 0)
        assert shift.start == handoff.astimezone(UTC)
        # a week with a DST change is 167 or 169 hours long, never a shifted hand-off
        hours = (shift.end - shift.start) / timedelta(hours=1)
        assert hours in (167, 168, 169), (monday, hours)


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "expanded"])
def test_the_utc_instant_of_the_handoff_moves_with_dst(tmp_path: Path, indexed: bool) -> None:
    now = utc(2026, 6, 1) if indexed else None
    chicago = load_rotation(weekly_rotation(tmp_path, "chicago-outlook")[0], now=now)
    berlin = load_rotation(weekly_rotation(tmp_path, "berlin-iana")[0], now=now)
    starts = lambda rotation, a, b: [s.start for s in shifts(rotation, TECHS, a, b)]  # noqa: E731
    assert starts(chicago, utc(2026, 3, 2, 14), utc(2026, 3, 16, 12)) == [
        utc(2026, 3, 2, 14),  # 08:00 CST
        utc(2026, 3, 9, 13),  # 08:00 CDT
    ]
    assert starts(chicago, utc(2026, 10, 26, 13), utc(2026, 11, 9, 12)) == [
        utc(2026, 10, 26, 13),  # 08:00 CDT
        utc(2026, 11, 2, 14),  # 08:00 CST
    ]
    assert starts(berlin, utc(2026, 3, 23, 7), utc(2026, 4, 6)) == [
        utc(2026, 3, 23, 7),  # 08:00 CET
        utc(2026, 3, 30, 6),  # 08:00 CEST
    ]
    assert starts(berlin, utc(2026, 10, 19, 6), utc(2026, 11, 2)) == [
        utc(2026, 10, 19, 6),  # 08:00 CEST
        utc(2026, 10, 26, 7),  # 08:00 CET
    ]
    # the night of the change itself belongs to the week's tech, hour by hour
    for hour in range(0, 6):
        at = utc(2026, 3, 29, hour)  # Berlin: 02:00 CET becomes 03:00 CEST at 01:00Z
        assert [t.id for t in on_call(berlin, TECHS, at)] == ["bob"]


# --------------------------------------------------------------------------- agreement


def sample_instants(rotation: Rotation, start: datetime, end: datetime) -> list[datetime]:
    """Shift boundaries in the range (up to 40 shifts), a second either side, and random
    instants."""
    rng = random.Random(7)
    found = shifts(rotation, TECHS, start, end)
    instants = []
    for shift in rng.sample(found, min(len(found), 40)):
        for edge in (shift.start, shift.end):
            instants += [edge - timedelta(seconds=1), edge, edge + timedelta(seconds=1)]
    span = (end - start).total_seconds()
    instants += [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(150)]
    return [i for i in instants if start <= i < end]


CALENDARS = sorted((REPO / "rotations").glob("*.ics")) + sorted(FIXTURES.glob("*.ics"))


def near_its_events(rotation: Rotation) -> datetime:
    """A 'now' 20 days after the calendar's first DTSTART, so the horizon holds its events."""
    starts = []
    for vevent in rotation.calendar.walk("VEVENT"):
        value = vevent["DTSTART"].dt
        if not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        starts.append(value if value.tzinfo else value.replace(tzinfo=rotation.zone))
    return min(starts).astimezone(UTC) + timedelta(days=20)


@pytest.mark.parametrize("path", CALENDARS, ids=lambda p: p.name)
def test_indexed_lookups_agree_with_expanding(path: Path) -> None:
    plain = load_rotation(path)
    indexed = plain.indexed(near_its_events(plain))
    assert indexed.index is not None and plain.index is None
    start, end = indexed.index.start, indexed.index.end
    found = shifts(plain, TECHS, start, end)
    assert found, "the horizon holds some shifts"
    assert shifts(indexed, TECHS, start, end) == found
    for at in sample_instants(plain, start, end):
        assert on_call(indexed, TECHS, at) == on_call(plain, TECHS, at), at
        assert shifts_at(indexed, TECHS, at) == shifts_at(plain, TECHS, at), at


def test_instants_outside_the_horizon_are_expanded_on_demand() -> None:
    rotations = load_rotations(REPO / "rotations", now=utc(2026, 11, 23))
    primary = rotations["primary"]
    assert primary.index is not None
    assert not primary.index.covers(utc(2040, 1, 1))
    assert [t.id for t in on_call(primary, TECHS, utc(2040, 1, 2, 20))] in (["alice"], ["bob"])
    assert on_call(primary, TECHS, utc(2025, 6, 1)) == []  # before the first hand-off
    far = shifts(primary, TECHS, utc(2030, 1, 1), utc(2030, 2, 1))
    assert len(far) == 5 and all(s.end - s.start >= timedelta(hours=167) for s in far)


def test_needs_index_and_reindexing_move_the_horizon() -> None:
    rotation = load_rotation(REPO / "rotations" / "primary.ics")
    assert rotation.needs_index(utc(2026, 11, 23))
    indexed = rotation.indexed(utc(2026, 11, 23))
    assert indexed == rotation  # the same calendar; the index is not part of equality
    assert not indexed.needs_index(utc(2026, 12, 23))
    assert indexed.needs_index(utc(2027, 1, 1))  # under 365 days left ahead
    later = indexed.indexed(utc(2027, 1, 1))
    assert later.index is not None and later.index.covers(utc(2028, 1, 1))
