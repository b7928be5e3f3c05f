"""Tests for oncall.cli_support: reading and writing instants the way every command does."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from oncall.cli_support import instant_text, local_text, parse_instant, utc_text

CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30T08:00:00", datetime(2026, 11, 30, 14, tzinfo=UTC)),  # read in the zone
        ("2026-03-09T08:00", datetime(2026, 3, 9, 13, tzinfo=UTC)),  # CDT
        ("2026-11-30T08:00:00Z", datetime(2026, 11, 30, 8, tzinfo=UTC)),
        ("2026-11-30T08:00:00+01:00", datetime(2026, 11, 30, 7, tzinfo=UTC)),
        ("2026-11-30", datetime(2026, 11, 30, 6, tzinfo=UTC)),  # midnight in Chicago
    ],
)
def test_parse_instant(text: str, expected: datetime) -> None:
    parsed = parse_instant(text, CHICAGO)
    assert parsed == expected and parsed.tzinfo is UTC


def test_parse_instant_defaults_to_now_and_exits_2_on_garbage() -> None:
    before = datetime.now(UTC)
    assert before <= parse_instant(None, CHICAGO) <= datetime.now(UTC)
    with pytest.raises(SystemExit) as info:
        parse_instant("next tuesday-ish", CHICAGO)
    assert info.value.code == 2


def test_instants_for_machines_and_for_people() -> None:
    instant = datetime(2026, 11, 30, 14, tzinfo=UTC)
    assert utc_text(instant) == "2026-11-30T14:00:00Z"
    assert utc_text(instant.astimezone(CHICAGO)) == "2026-11-30T14:00:00Z"
    assert local_text(instant, CHICAGO) == "2026-11-30 08:00 CST"
    assert instant_text(instant, "table", CHICAGO) == "2026-11-30 08:00 CST"
    assert instant_text(instant, "json", CHICAGO) == instant_text(instant, "csv", CHICAGO)
    assert instant_text(instant, "json", CHICAGO) == "2026-11-30T14:00:00Z"
