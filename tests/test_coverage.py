"""Tests for oncall.coverage: gaps, overlaps, empty shifts and what `oncall check` makes of
them (errors for first-step gaps within 7 days, warnings otherwise)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from calendar_files import CHICAGO, TECHS, event, shift_event, utc, write_ics

from oncall.coverage import (
    Gap,
    coverage_findings,
    covered_again,
    empty_shifts,
    gaps,
    local,
    overlaps,
)
from oncall.rotations import Shift, load_rotations

NOW = utc(2026, 6, 1)


def shift(tech: str | None, start: int, end: int, summary: str = "") -> Shift:
    """A shift from NOW + start hours to NOW + end hours."""
    return Shift(
        rotation="primary",
        start=NOW + timedelta(hours=start),
        end=NOW + timedelta(hours=end),
        tech_ids=(tech,) if tech else (),
        summary=summary or (tech or "nobody"),
        uid=f"{summary or tech}-{start}",
    )


def hours(found: list[Gap]) -> list[tuple[float, float]]:
    return [
        ((g.start - NOW) / timedelta(hours=1), (g.end - NOW) / timedelta(hours=1)) for g in found
    ]


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        ([], [(0, 48)]),
        ([shift("alice", -10, 100)], []),
        ([shift("alice", 0, 24), shift("bob", 24, 48)], []),  # back to back: no gap
        ([shift("alice", 0, 20), shift("bob", 24, 48)], [(20, 24)]),
        ([shift("alice", 2, 20)], [(0, 2), (20, 48)]),
        ([shift("alice", 0, 30), shift("bob", 10, 20)], [(30, 48)]),  # nested
        ([shift("alice", 0, 24), shift(None, 24, 48)], [(24, 48)]),  # empty shift: uncovered
        ([shift(None, 0, 48), shift("carol", 12, 13)], [(0, 12), (13, 48)]),
    ],
)
def test_gaps(found: list[Shift], expected: list[tuple[float, float]]) -> None:
    result = gaps("primary", found, NOW, NOW + timedelta(hours=48))
    assert hours(result) == expected
    assert all(g.rotation == "primary" for g in result)


def test_no_gaps_in_an_empty_range() -> None:
    assert gaps("primary", [], NOW, NOW) == []


def test_overlaps_are_pairs_of_shifts_running_at_once() -> None:
    a, b, c = shift("alice", 0, 24), shift("bob", 20, 30), shift("carol", 22, 23)
    d = shift("dave", 30, 40)  # touching b: no overlap
    found = overlaps([d, c, b, a])
    assert [(o.first.uid, o.second.uid) for o in found] == [
        (a.uid, b.uid),
        (a.uid, c.uid),
        (b.uid, c.uid),
    ]
    assert [hours([Gap("primary", o.start, o.end)]) for o in found] == [
        [(20, 24)],
        [(22, 23)],
        [(22, 23)],
    ]
    assert overlaps([a, d]) == []


def test_empty_shifts_name_no_known_tech() -> None:
    empty = shift(None, 0, 4, "Mallory")
    assert empty_shifts([shift("alice", 0, 4), empty]) == [empty]


def test_local_times_read_like_an_owner_reads_them() -> None:
    assert local(utc(2026, 11, 30, 14), CHICAGO) == "Mon 2026-11-30 08:00 CST"
    assert local(utc(2026, 6, 1, 13), CHICAGO) == "Mon 2026-06-01 08:00 CDT"


# --------------------------------------------------------------------------- with calendars


def rotations_in(tmp_path: Path) -> dict:
    """primary: alice then an empty shift then nothing after 2026-06-10;
    backup: bob and carol overlapping on 2026-06-02; spare: nobody, used by no chain."""
    write_ics(
        tmp_path,
        "primary.ics",
        *shift_event("20260525T000000Z", "20260603T000000Z", "alice", "a1"),
        *shift_event("20260603T000000Z", "20260604T000000Z", "Mallory", "m1"),
        *shift_event("20260604T000000Z", "20260610T000000Z", "alice", "a2"),
    )
    write_ics(
        tmp_path,
        "backup.ics",
        *event(
            "DTSTART:20260101T000000Z",
            "DTEND:20260102T000000Z",
            "RRULE:FREQ=DAILY",
            "SUMMARY:bob",
            uid="daily",
        ),
        *shift_event("20260602T060000Z", "20260602T090000Z", "carol", "c1"),
    )
    write_ics(tmp_path, "spare.ics")
    return load_rotations(tmp_path, now=NOW)


def test_findings_for_check(tmp_path: Path) -> None:
    rotations = rotations_in(tmp_path)
    uses = {"primary": [("acme", 1)], "backup": [("acme", 2), ("harbor", 2)]}
    findings = coverage_findings(rotations, TECHS, uses, NOW, CHICAGO)
    errors = [str(f) for f in findings if f.level == "error"]
    warnings = [str(f) for f in findings if f.level == "warning"]
    primary = str(tmp_path / "primary.ics")
    backup = str(tmp_path / "backup.ics")
    # the empty shift is a gap in the first step within 7 days: an error
    assert errors == [
        f"{primary}: rotation 'primary' (first step for acme) has nobody on call from "
        "Tue 2026-06-02 19:00 CDT to Wed 2026-06-03 19:00 CDT"
    ]
    assert warnings == [
        # nobody after 2026-06-10: more than 7 days ahead, so a warning
        f"{backup}: rotation 'backup': shifts 'bob' and 'carol' overlap from "
        "Tue 2026-06-02 01:00 CDT to Tue 2026-06-02 04:00 CDT; both are on call and both "
        "are paged",
        f"{primary}: rotation 'primary' (first step for acme) has nobody on call from "
        "Tue 2026-06-09 19:00 CDT on (checked up to Sun 2026-06-14 19:00 CDT)",
        f"{primary}: rotation 'primary': empty shift 'Mallory' (UID m1) from "
        "Tue 2026-06-02 19:00 CDT to Wed 2026-06-03 19:00 CDT names no known tech (id, name "
        "or e-mail), so nobody is on call then",
    ]


def test_gaps_in_later_steps_are_warnings_and_unused_rotations_have_no_gaps(
    tmp_path: Path,
) -> None:
    rotations = rotations_in(tmp_path)
    uses = {"primary": [("acme", 2)], "spare": [("harbor", 3)]}
    findings = coverage_findings(rotations, TECHS, uses, NOW, CHICAGO)
    assert {f.level for f in findings} == {"warning"}
    assert any("'spare' (used by harbor step 3) has nobody on call" in str(f) for f in findings)
    assert not any("'backup'" in str(f) and "nobody on call" in str(f) for f in findings)


def test_the_check_window_starts_now(tmp_path: Path) -> None:
    rotations = rotations_in(tmp_path)
    later = utc(2026, 6, 20)  # the empty shift and the overlap are in the past by then
    findings = coverage_findings(rotations, TECHS, {"primary": [("acme", 1)]}, later, CHICAGO)
    assert [f.level for f in findings] == ["error"]
    assert "from Fri 2026-06-19 19:00 CDT on" in str(findings[0])


def test_covered_again_says_when_someone_is_on_call_after_a_gap(tmp_path: Path) -> None:
    rotations = rotations_in(tmp_path)
    primary = rotations["primary"]
    assert covered_again(primary, TECHS, utc(2026, 6, 3, 12)) == utc(2026, 6, 4)
    assert covered_again(primary, TECHS, utc(2026, 6, 11)) is None  # nobody, ever again
    assert covered_again(primary, TECHS, utc(2026, 5, 20)) == utc(2026, 5, 25)
