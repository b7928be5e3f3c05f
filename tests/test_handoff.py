"""Tests for oncall.handoff: which handoff notices are due at an instant (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.handoff import (
    LATE_LIMIT,
    Stretch,
    due,
    next_due,
    notice_text,
    stretches,
    window,
)
from oncall.rotations import Shift

CHICAGO = ZoneInfo("America/Chicago")
BERLIN = ZoneInfo("Europe/Berlin")
MON = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # Mon 08:00 CST
H = timedelta(hours=1)
D = timedelta(days=1)


def shift(start: datetime, end: datetime, *techs: str, rotation: str = "primary") -> Shift:
    return Shift(rotation, start, end, tuple(techs), summary=" ".join(techs), uid="u")


def stretch(
    start: datetime, end: datetime, tech: str = "bob", rotation: str = "primary"
) -> Stretch:
    return Stretch(rotation, tech, start, end)


# -- stretches ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param([shift(MON, MON + 7 * D, "bob")], [stretch(MON, MON + 7 * D)], id="one shift"),
        pytest.param(
            [shift(MON, MON + D, "bob"), shift(MON + D, MON + 2 * D, "bob")],
            [stretch(MON, MON + 2 * D)],
            id="back-to-back shifts join",
        ),
        pytest.param(
            [shift(MON, MON + 2 * D, "bob"), shift(MON + D, MON + 3 * D, "bob")],
            [stretch(MON, MON + 3 * D)],
            id="overlapping shifts join",
        ),
        pytest.param(
            [shift(MON, MON + D, "bob"), shift(MON + 2 * D, MON + 3 * D, "bob")],
            [stretch(MON, MON + D), stretch(MON + 2 * D, MON + 3 * D)],
            id="a gap makes two stretches (a shift cut by an override)",
        ),
        pytest.param(
            [shift(MON, MON + D, "alice", "bob")],
            [stretch(MON, MON + D, "alice"), stretch(MON, MON + D, "bob")],
            id="every tech a shift names",
        ),
        pytest.param([shift(MON, MON + D)], [], id="an empty shift notifies nobody"),
        pytest.param(
            [shift(MON, MON + D, "bob"), shift(MON + D, MON + 2 * D, "bob", rotation="backup")],
            [stretch(MON, MON + D), stretch(MON + D, MON + 2 * D, rotation="backup")],
            id="rotations are separate",
        ),
    ],
)
def test_stretches(given: list[Shift], expected: list[Stretch]) -> None:
    assert stretches(given) == expected


# -- due ---------------------------------------------------------------------------------

WEEK = stretch(MON, MON + 7 * D)


@pytest.mark.parametrize(
    ("now", "lead", "sent", "expected"),
    [
        pytest.param(MON - timedelta(seconds=1), timedelta(0), set(), [], id="before the start"),
        pytest.param(MON, timedelta(0), set(), [WEEK], id="at the start"),
        pytest.param(MON + H, timedelta(0), set(), [WEEK], id="late (daemon was down)"),
        pytest.param(MON + LATE_LIMIT, timedelta(0), set(), [WEEK], id="at the late limit"),
        pytest.param(
            MON + LATE_LIMIT + timedelta(seconds=1), timedelta(0), set(), [], id="too late"
        ),
        pytest.param(MON, timedelta(0), {WEEK.key}, [], id="already sent"),
        pytest.param(
            MON - 15 * timedelta(minutes=1),
            15 * timedelta(minutes=1),
            set(),
            [WEEK],
            id="lead time: due early",
        ),
        pytest.param(
            MON - 16 * timedelta(minutes=1),
            15 * timedelta(minutes=1),
            set(),
            [],
            id="lead time: not yet",
        ),
    ],
)
def test_due(
    now: datetime, lead: timedelta, sent: set[tuple[str, str, datetime]], expected: list[Stretch]
) -> None:
    assert due([WEEK], sent, now, lead) == expected


def test_a_stretch_that_is_over_is_not_due() -> None:
    short = stretch(MON, MON + H)
    assert due([short], set(), MON + H, timedelta(0)) == []


def test_next_due_is_the_earliest_unsent_start_after_now() -> None:
    later = stretch(MON + 7 * D, MON + 14 * D, "alice")
    found = [WEEK, later]
    assert next_due(found, set(), MON - H, timedelta(0)) == MON
    assert next_due(found, set(), MON - H, 10 * timedelta(minutes=1)) == MON - 10 * timedelta(
        minutes=1
    )
    assert next_due(found, set(), MON, timedelta(0)) == MON + 7 * D  # MON itself is due, not next
    assert next_due(found, {later.key}, MON, timedelta(0)) is None


def test_window_reaches_back_to_the_late_limit_and_past_the_lead() -> None:
    start, end = window(MON, H)
    assert start == MON - LATE_LIMIT
    assert end > MON + H + 28 * D


# -- text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "now", "zone", "expected"),
    [
        pytest.param(
            WEEK,
            MON,
            CHICAGO,
            "oncall: you are on call for primary from now until Mon 08:00 CST.",
            id="the week's handoff",
        ),
        pytest.param(
            WEEK,
            MON + H,
            CHICAGO,
            "oncall: you are on call for primary from now until Mon 08:00 CST.",
            id="sent late",
        ),
        pytest.param(
            WEEK,
            MON - 15 * timedelta(minutes=1),
            CHICAGO,
            "oncall: you are on call for primary from Mon 08:00 CST until Mon Dec 7 08:00 CST.",
            id="sent ahead (over a week to the end: with the date)",
        ),
        pytest.param(
            stretch(MON, MON + 16 * H, rotation="backup"),
            MON,
            BERLIN,
            "oncall: you are on call for backup from now until Tue 07:00 CET.",
            id="in the MSP's zone",
        ),
        pytest.param(
            stretch(MON, MON + 14 * D),
            MON,
            CHICAGO,
            "oncall: you are on call for primary from now until Mon Dec 14 08:00 CST.",
            id="over a week away: with the date",
        ),
        pytest.param(
            stretch(datetime(2026, 3, 2, 14, tzinfo=UTC), datetime(2026, 3, 9, 13, tzinfo=UTC)),
            datetime(2026, 3, 2, 14, tzinfo=UTC),
            CHICAGO,
            "oncall: you are on call for primary from now until Mon 08:00 CDT.",
            id="across the DST change",
        ),
    ],
)
def test_notice_text(item: Stretch, now: datetime, zone: ZoneInfo, expected: str) -> None:
    assert notice_text(item, now, zone) == expected
