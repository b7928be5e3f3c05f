"""Maintenance windows (oncall.maintenance): which instants are inside, DST and midnight edges,
ad-hoc windows, and the SOP's `[[maintenance]]` errors."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall.errors import ConfigError
from oncall.maintenance import AdHocWindow, WeeklyWindow, open_window, weekly_end

CHICAGO = ZoneInfo("America/Chicago")
# Patch night: Tuesday 22:00 to Wednesday 02:00; a Saturday morning window on the same day.
PATCH_NIGHT = WeeklyWindow(frozenset({1}), time(22, 0), time(2, 0), "patch night")
SATURDAY = WeeklyWindow(frozenset({5}), time(6, 0), time(8, 0), "UPS test")
# 2026-03-08 (spring forward) and 2026-11-01 (fall back) are Sundays.
SUNDAY_EARLY = WeeklyWindow(frozenset({6}), time(1, 0), time(3, 0), "san firmware")


def local(text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO, fold=fold)


@pytest.mark.parametrize(
    ("window", "at", "ends"),
    [
        (PATCH_NIGHT, "2026-12-01T21:59", None),  # Tuesday, just before
        (PATCH_NIGHT, "2026-12-01T22:00", "2026-12-02T02:00"),  # opens on the minute
        (PATCH_NIGHT, "2026-12-01T23:59", "2026-12-02T02:00"),
        (PATCH_NIGHT, "2026-12-02T01:59", "2026-12-02T02:00"),  # Wednesday, past midnight
        (PATCH_NIGHT, "2026-12-02T02:00", None),  # closes on the minute
        (PATCH_NIGHT, "2026-12-02T22:30", None),  # Wednesday evening is not patch night
        (PATCH_NIGHT, "2026-12-01T01:00", None),  # Tuesday early: Monday has no window
        (SATURDAY, "2026-11-28T06:00", "2026-11-28T08:00"),
        (SATURDAY, "2026-11-28T08:00", None),
        (SATURDAY, "2026-11-29T07:00", None),
        # Spring forward: 02:00-03:00 is skipped, the window still ends at 03:00 CDT.
        (SUNDAY_EARLY, "2026-03-08T01:30", "2026-03-08T03:00"),
        (SUNDAY_EARLY, "2026-03-08T03:00", None),
    ],
)
def test_weekly_windows(window: WeeklyWindow, at: str, ends: str | None) -> None:
    got = weekly_end(window, local(at), CHICAGO)
    assert got == (local(ends).astimezone(UTC) if ends else None)


def test_on_the_fall_back_night_the_window_lasts_an_hour_longer() -> None:
    start = local("2026-11-01T01:00")
    end = weekly_end(SUNDAY_EARLY, start, CHICAGO)
    assert end is not None and end - start == timedelta(hours=3)
    # Both 01:30s are inside.
    assert weekly_end(SUNDAY_EARLY, local("2026-11-01T01:30", fold=1), CHICAGO) == end


def test_open_window_picks_ad_hoc_and_weekly_and_the_longest() -> None:
    at = local("2026-12-01T23:00")
    ad_hoc = AdHocWindow(3, at - timedelta(minutes=5), at + timedelta(hours=5), "server move")
    found = open_window((PATCH_NIGHT,), [ad_hoc], at, CHICAGO)
    assert found is not None and found.declared == "ad hoc #3" and found.reason == "server move"
    short = AdHocWindow(4, at - timedelta(minutes=5), at + timedelta(minutes=10), "reboot")
    found = open_window((PATCH_NIGHT,), [short], at, CHICAGO)
    assert found is not None and found.reason == "patch night"
    assert found.declared == "SOP: Tuesday 22:00-02:00"


@pytest.mark.parametrize(
    ("offset", "inside"),
    [(timedelta(minutes=-1), False), (timedelta(0), True), (timedelta(hours=2), False)],
)
def test_ad_hoc_window_edges(offset: timedelta, inside: bool) -> None:
    start = local("2026-11-28T10:00")
    window = AdHocWindow(1, start, start + timedelta(hours=2), "x")
    assert (open_window((), [window], start + offset, CHICAGO) is not None) == inside


def test_sop_maintenance_is_read(tmp_path) -> None:
    sop = load(
        write_sop(
            tmp_path,
            MINIMAL
            + '[[maintenance]]\ndays = ["Tuesday", "thursday"]\nhours = "22:00-02:00"\n'
            + 'reason = "patch night"\n',
        )
    )
    (window,) = sop.maintenance
    assert window == WeeklyWindow(frozenset({1, 3}), time(22), time(2), "patch night")


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('hours = "22:00-02:00"\nreason = "x"\n', "maintenance[0].days", "missing"),
        ('days = "funday"\nhours = "22:00-02:00"\nreason = "x"\n', "maintenance[0].days", "funday"),
        ('days = "tuesday"\nhours = "late"\nreason = "x"\n', "maintenance[0].hours", "HH:MM-HH:MM"),
        (
            'days = "tuesday"\nhours = "22:00-22:00"\nreason = "x"\n',
            "maintenance[0].hours",
            "empty",
        ),
        (
            'days = "tuesday"\nhours = "22:00-24:00"\nreason = "x"\n',
            "maintenance[0].hours",
            "23:59",
        ),
        ('days = "tuesday"\nhours = "22:00-23:00"\n', "maintenance[0].reason", "missing"),
    ],
)
def test_sop_maintenance_errors(tmp_path, table: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, MINIMAL + "[[maintenance]]\n" + table))
    assert caught.value.where == key and message in caught.value.message
    assert caught.value.message.startswith("line ")
