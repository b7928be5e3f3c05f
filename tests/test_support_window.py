"""The support window: hours per weekday (past midnight, merged, 24:00) and holiday calendars."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall.support_window import END_OF_DAY, format_ranges


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ('monday = "07:00-18:00"', {0: ((time(7), time(18)),)}),
        ('monday = " 7:00 - 18:30 "', {0: ((time(7), time(18, 30)),)}),
        ('monday = "closed"', {}),
        ("monday = []", {}),
        ('monday = "00:00-24:00"', {0: ((time(0), END_OF_DAY),)}),
        (
            'tuesday = ["13:00-22:00", "06:00-12:00"]',
            {1: ((time(6), time(12)), (time(13), time(22)))},
        ),
        ('monday = ["06:00-12:00", "11:00-14:00", "14:00-15:00"]', {0: ((time(6), time(15)),)}),
        (
            'monday = "22:00-06:00"',
            {0: ((time(22), END_OF_DAY),), 1: ((time(0), time(6)),)},
        ),
        ('monday = "22:00-00:00"', {0: ((time(22), END_OF_DAY),)}),
        (
            'sunday = "20:00-02:00"\nmonday = "08:00-17:00"',
            {6: ((time(20), END_OF_DAY),), 0: ((time(0), time(2)), (time(8), time(17)))},
        ),
        (
            'monday = "18:00-24:00"\ntuesday = "00:00-24:00"',
            {0: ((time(18), END_OF_DAY),), 1: ((time(0), END_OF_DAY),)},
        ),
    ],
)
def test_support_window_hours(
    tmp_path: Path, window: str, expected: dict[int, tuple[tuple[time, time], ...]]
) -> None:
    front = MINIMAL.replace('monday = "07:00-18:00"', window)
    hours = load(write_sop(tmp_path, front)).support_window.hours
    assert set(hours) == set(range(7))
    assert {day: ranges for day, ranges in hours.items() if ranges} == expected


def test_format_ranges_prints_end_of_day_as_24() -> None:
    assert (
        format_ranges(((time(6), time(12)), (time(22), END_OF_DAY))) == "06:00-12:00, 22:00-24:00"
    )


def test_holidays_extra_dates_and_not_observed(tmp_path: Path) -> None:
    front = MINIMAL + (
        '[holidays]\ncountry = "us"\nsubdivision = "IL"\n'
        'extra = ["2026-12-24", 2026-12-31]\nnot_observed = ["Columbus Day", "Election Day"]\n'
    )
    window = load(write_sop(tmp_path, front)).support_window
    assert window.holiday_country == "US" and window.holiday_subdivision == "IL"
    assert window.extra_closed == {date(2026, 12, 24), date(2026, 12, 31)}
    assert window.holiday(date(2026, 11, 26)) == "Thanksgiving Day"
    assert window.holiday(date(2026, 7, 3)) == "Independence Day (observed)"
    assert window.holiday(date(2026, 12, 24)) == "extra closed date 2026-12-24"
    assert window.holiday(date(2026, 10, 12)) is None  # Columbus Day: not observed
    assert window.holiday(date(2026, 11, 30)) is None
    assert window.ranges_on(date(2026, 11, 26)) == ()  # Thanksgiving
    assert window.ranges_on(date(2026, 10, 12)) == ((time(7), time(18)),)
