"""When the next SMS to a tech may go out (oncall.sms_limits): pure, tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall.sms_limits import limited, next_allowed

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def at(*minutes: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in minutes]


@pytest.mark.parametrize(
    ("sent", "now", "gap", "per_15m", "allowed"),
    [
        ([], 0, MIN, 0, 0),  # nothing sent yet
        (at(0), 0.5, MIN, 0, 1),  # one a minute
        (at(0), 2, MIN, 0, 2),
        (at(0, 1, 2), 3, timedelta(0), 3, 15),  # three in 15 minutes: wait for the first to leave
        (at(0, 1, 2), 3, timedelta(0), 4, 3),
        (at(0, 14), 14.5, MIN, 2, 15),  # both limits: the window decides
        (at(10), 10.2, MIN, 5, 11),  # ... or the gap does
        (at(0, 1, 2), 3, timedelta(0), 0, 3),  # no limits
    ],
)
def test_next_allowed(
    sent: list[datetime], now: float, gap: timedelta, per_15m: int, allowed: float
) -> None:
    instant = T0 + timedelta(minutes=now)
    assert next_allowed(sent, instant, gap, per_15m) == T0 + timedelta(minutes=allowed)


def test_limits_are_off_by_default() -> None:
    assert not limited(timedelta(0), 0)
    assert limited(MIN, 0) and limited(timedelta(0), 4)
