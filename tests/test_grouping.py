"""Alert grouping rules as a table: dedup, storms, resolution, priorities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall.grouping import (
    OpenIncident,
    fold_key,
    fold_target,
    higher_priority,
    resolve_target,
    storm_summary,
)
from oncall.intake import Alert

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=3)


def alert(
    summary: str = "Disk failed", host: str = "fs01", key: str = "", source: str = "ninjaone"
) -> Alert:
    return Alert(
        client="c", source=source, severity="critical", summary=summary, host=host, dedup_key=key
    )


def incident(id: int, key: str, minutes_ago: float, priority: str = "P2") -> OpenIncident:
    return OpenIncident(id, key, priority, NOW - timedelta(minutes=minutes_ago))


def test_fold_key_prefers_the_dedup_key_and_ignores_case_and_spacing_of_summary() -> None:
    assert fold_key(alert(key="abc")) == "key:abc"
    assert fold_key(alert("Disk  FAILED")) == fold_key(alert("disk failed"))
    assert fold_key(alert(host="fs02")) != fold_key(alert())
    assert fold_key(alert(source="zabbix")) != fold_key(alert())


@pytest.mark.parametrize(
    ("open_incidents", "window", "expected"),
    [
        ([], WINDOW, None),
        ([incident(4, fold_key(alert()), 600)], WINDOW, (4, False)),  # same condition, any age
        ([incident(4, "other", 2)], WINDOW, (4, True)),  # storm within the window
        ([incident(4, "other", 5)], WINDOW, None),  # outside the window
        ([incident(4, "other", 1)], timedelta(0), None),  # grouping off
        ([incident(4, "a", 2), incident(5, "b", 1)], WINDOW, (5, True)),  # the most recent one
        (
            [incident(4, "a", 1), incident(5, fold_key(alert()), 60)],
            WINDOW,
            (5, False),
        ),  # dedup first
    ],
)
def test_fold_target(open_incidents, window, expected) -> None:
    fold = fold_target(alert(), open_incidents, NOW, window)
    assert (None if fold is None else (fold.incident_id, fold.storm)) == expected


def test_resolve_target_needs_the_same_condition() -> None:
    opened = [incident(7, fold_key(alert(key="k")), 30)]
    assert resolve_target(alert(key="k"), opened) == 7
    assert resolve_target(alert(key="other"), opened) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("P1", "P3", "P1"), ("P4", "P2", "P2"), (None, "P3", "P3"), ("P2", None, "P2")],
)
def test_higher_priority(a, b, expected) -> None:
    assert higher_priority(a, b) == expected


def test_storm_summary() -> None:
    text = storm_summary(14, "Acme", timedelta(minutes=2, seconds=50), "PLC line 3 offline")
    assert text == "14 alerts at Acme in 3 min: PLC line 3 offline, ..."
