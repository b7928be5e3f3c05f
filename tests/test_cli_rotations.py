"""The rotation commands through click's CliRunner: `oncall shifts` (the JSON contract other
tools rely on), `oncall who` with the shift's end, `oncall gaps`, and `oncall check` on
coverage (exit 2 for a first-step gap within 7 days, warnings otherwise)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from calendar_files import (
    add_remote_rotation,
    calendar_text,
    event,
    shift_event,
    utc,
    write_ics,
)
from calendar_host import CalendarHost
from click.testing import CliRunner, Result
from harness import REPO, SECRET, write_config

from oncall.cli import main
from oncall.rotations import parse_rotation, shifts

REPO_CONFIG = REPO / "config.example.toml"
FIXTURE = REPO / "tests" / "fixtures" / "ics" / "rie_issue_48_dst.ics"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ONCALL_CONFIG", raising=False)
    monkeypatch.setenv("ONCALL_TEST_SECRET", SECRET)


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def exits(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result.stderr


def own_rotations(tmp_path: Path) -> Path:
    """primary: alice then bob, an empty shift, then nobody from 2026-06-16; bob's week has
    a swap in primary.overrides.ics. backup: carol every day, dave overlapping once."""
    rotations = tmp_path / "rotations"
    rotations.mkdir()
    write_ics(
        rotations,
        "primary.ics",
        *shift_event("20260601T130000Z", "20260608T130000Z", "alice", "week-1"),
        *shift_event("20260608T130000Z", "20260615T130000Z", "bob", "week-2"),
        *shift_event("20260615T130000Z", "20260616T130000Z", "Mallory", "typo"),
    )
    write_ics(
        rotations,
        "primary.overrides.ics",
        *shift_event("20260610T000000Z", "20260611T000000Z", "carol", "swap"),
    )
    write_ics(
        rotations,
        "backup.ics",
        *event(
            "DTSTART:20260101T000000Z",
            "DTEND:20260102T000000Z",
            "RRULE:FREQ=DAILY",
            "SUMMARY:carol",
            uid="daily",
        ),
        *shift_event("20260602T060000Z", "20260602T090000Z", "dave\\, alice", "extra"),
    )
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(str(REPO / "rotations"), str(rotations)))
    return config


# --------------------------------------------------------------------------- shifts


def test_shifts_json_is_the_contract(tmp_path: Path) -> None:
    out = ok(
        oncall(
            "shifts", "primary", "--from", "2026-11-23T00:00:00Z", "--to", "2026-12-07T14:00:00Z",
            "--format", "json", "--config", REPO_CONFIG,
        )
    )  # fmt: skip
    assert json.loads(out) == [
        {
            "start": "2026-11-16T14:00:00Z",
            "end": "2026-11-23T14:00:00Z",
            "summary": "bob",
            "tech": "bob",
            "rotation": "primary",
        },
        {
            "start": "2026-11-23T14:00:00Z",
            "end": "2026-11-30T14:00:00Z",
            "summary": "alice",
            "tech": "alice",
            "rotation": "primary",
        },
        {
            "start": "2026-11-30T14:00:00Z",
            "end": "2026-12-07T14:00:00Z",
            "summary": "bob",
            "tech": "bob",
            "rotation": "primary",
        },
    ]
    assert all(
        list(row) == ["start", "end", "summary", "tech", "rotation"] for row in json.loads(out)
    )


def test_shifts_one_row_per_tech_null_for_an_empty_shift_overrides_applied(
    tmp_path: Path,
) -> None:
    config = own_rotations(tmp_path)
    args = ("--from", "2026-06-02T05:00:00Z", "--to", "2026-06-02T10:00:00Z", "--config", config)
    rows = json.loads(ok(oncall("shifts", "backup", *args, "--format", "json")))
    assert [(r["summary"], r["tech"]) for r in rows] == [
        ("carol", "carol"),
        ("dave, alice", "dave"),
        ("dave, alice", "alice"),
    ]
    args = ("--from", "2026-06-09T00:00:00Z", "--to", "2026-06-17T00:00:00Z", "--config", config)
    rows = json.loads(ok(oncall("shifts", "primary", *args, "--format", "json")))
    assert [(r["start"], r["end"], r["tech"]) for r in rows] == [
        ("2026-06-08T13:00:00Z", "2026-06-10T00:00:00Z", "bob"),  # cut around the swap
        ("2026-06-10T00:00:00Z", "2026-06-11T00:00:00Z", "carol"),
        ("2026-06-11T00:00:00Z", "2026-06-15T13:00:00Z", "bob"),
        ("2026-06-15T13:00:00Z", "2026-06-16T13:00:00Z", None),
    ]
    table = ok(oncall("shifts", "primary", *args))
    # in the MSP's zone: the swap starts 2026-06-10 00:00 UTC, 19:00 the evening before in Chicago
    assert "2026-06-08 08:00 CDT  2026-06-09 19:00 CDT  bob" in table
    carol = next(line for line in table.splitlines() if "carol" in line)
    assert carol.rstrip().endswith("overrides")
    assert "(nobody)" in next(line for line in table.splitlines() if "Mallory" in line)
    reader = csv.DictReader(io.StringIO(ok(oncall("shifts", "primary", *args, "--format", "csv"))))
    assert reader.fieldnames == ["start", "end", "summary", "tech", "rotation"]
    assert [row["tech"] for row in reader] == ["bob", "carol", "bob", ""]


def test_shifts_of_any_file_without_a_config(tmp_path: Path) -> None:
    args = ("--from", "2020-12-11T10:00", "--to", "2020-12-11T15:00", "--format", "json")
    rows = json.loads(ok(oncall("shifts", FIXTURE, *args, "--config", tmp_path / "none.toml")))
    # no config: times without an offset are read in the calendar's zone (America/Chicago)
    assert rows == [
        {"start": s, "end": e, "summary": n, "tech": None, "rotation": "rie_issue_48_dst"}
        for s, e, n in [
            ("2020-12-11T16:15:00Z", "2020-12-11T16:30:00Z", "Event#2"),
            ("2020-12-11T18:30:00Z", "2020-12-11T18:45:00Z", "Event#3"),
            ("2020-12-11T20:15:00Z", "2020-12-11T20:30:00Z", "Event#4"),
        ]
    ]


def test_shifts_of_a_file_with_a_config_resolve_its_techs(tmp_path: Path) -> None:
    path = write_ics(
        tmp_path,
        "swap.ics",
        *shift_event("20260601T000000Z", "20260602T000000Z", "Bob Okafor", "s"),
    )
    args = ("--from", "2026-06-01T00:00:00Z", "--format", "json", "--config", REPO_CONFIG)
    [row] = json.loads(ok(oncall("shifts", path, *args)))
    assert (row["tech"], row["rotation"], row["summary"]) == ("bob", "swap", "Bob Okafor")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "name a ROTATION"),
        (("nightshift",), 1, "unknown rotation 'nightshift' (have: backup, primary)"),
        (("--tech", "zed"), 2, "unknown tech 'zed'"),
        (("primary", "--from", "2026-06-02", "--to", "2026-06-01"), 2, "must be after --from"),
        (("primary", "--from", "someday"), 2, "cannot read time 'someday'"),
        (("missing.ics",), 2, "missing.ics: cannot read calendar: file not found"),
    ],
)
def test_shifts_bad_usage(args: tuple[str, ...], code: int, message: str) -> None:
    assert message in exits(oncall("shifts", *args, "--config", REPO_CONFIG), code)


def test_shifts_of_a_broken_file_name_it_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.ics"
    path.write_text(calendar_text("BEGIN:VEVENT", "UID:x", "DTSTART:tomorrow", "END:VEVENT"))
    err = exits(oncall("shifts", path, "--config", tmp_path / "none.toml"), 2)
    assert f"{path}: line 6: cannot read calendar" in err


def test_a_techs_feed_across_every_rotation(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    args = ("--from", "2026-06-01T00:00:00Z", "--to", "2026-06-09T00:00:00Z", "--config", config)
    text = ok(oncall("shifts", "--tech", "alice", "--format", "ics", *args))
    feed = parse_rotation(text, "feed", tmp_path / "feed.ics")
    assert feed.calendar["X-WR-CALNAME"] == "On call: Alice Nguyen"
    found = shifts(feed, {}, utc(2026, 1, 1), utc(2027, 1, 1))
    assert [(s.summary, s.start.isoformat()) for s in found] == [
        ("On call: primary", "2026-06-01T13:00:00+00:00"),
        ("On call: backup", "2026-06-02T06:00:00+00:00"),
    ]
    rows = json.loads(ok(oncall("shifts", "--tech", "alice", "--format", "json", *args)))
    assert [(r["rotation"], r["tech"]) for r in rows] == [("primary", "alice"), ("backup", "alice")]


# --------------------------------------------------------------------------- who


def test_who_says_until_when(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    at = ("--at", "2026-06-09T12:00:00Z", "--config", config)
    rows = json.loads(ok(oncall("who", "primary", *at, "--format", "json")))
    # bob's week is cut by the swap: he is on call until it starts
    assert rows == [
        {
            "rotation": "primary",
            "tech": "bob",
            "name": "Bob Okafor",
            "phone": "+15550001002",
            "until": "2026-06-10T00:00:00Z",
        }
    ]
    table = ok(oncall("who", "primary", *at))
    assert "2026-06-09 19:00 CDT" in table and "until" in table.splitlines()[0]


def test_who_uncovered_says_when_someone_is_on_call_again(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    result = oncall(
        "who", "primary", "--at", "2026-05-31T12:00:00Z", "--format", "json", "--config", config
    )
    assert result.exit_code == 1
    [row] = json.loads(result.stdout)
    assert (row["tech"], row["name"], row["until"]) == (
        "",
        "(nobody: uncovered)",
        "2026-06-01T13:00:00Z",
    )
    result = oncall(
        "who", "primary", "--at", "2026-06-20T00:00:00Z", "--format", "json", "--config", config
    )
    assert result.exit_code == 1 and json.loads(result.stdout)[0]["until"] is None


# --------------------------------------------------------------------------- gaps


def test_gaps_lists_uncovered_time_of_rotations_chains_use(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    start = ("--from", "2026-06-01T00:00:00Z", "--config", config)
    result = oncall("gaps", *start, "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "rotation": "primary",
            "start": "2026-06-01T00:00:00Z",
            "end": "2026-06-01T13:00:00Z",
            "used_by": "testco step 1",
        }
    ]
    result = oncall("gaps", *start, "--days", "20", "--format", "json")
    assert [(r["start"], r["end"]) for r in json.loads(result.stdout)] == [
        ("2026-06-01T00:00:00Z", "2026-06-01T13:00:00Z"),
        ("2026-06-15T13:00:00Z", "2026-06-21T00:00:00Z"),  # the empty shift is a gap too
    ]
    table = oncall("gaps", *start)
    assert table.exit_code == 1 and "2026-05-31 19:00 CDT" in table.stdout
    days = oncall("gaps", "--from", "2026-06-02T00:00:00Z", "--days", "3", "--config", config)
    assert days.exit_code == 0 and "No gaps" in days.stdout


def test_gaps_none_in_the_example(tmp_path: Path) -> None:
    assert "No gaps" in ok(oncall("gaps", "--config", REPO_CONFIG))
    assert json.loads(ok(oncall("gaps", "--format", "json", "--config", REPO_CONFIG))) == []


# --------------------------------------------------------------------------- check


def test_check_fails_on_a_first_step_gap_within_7_days(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    err = exits(oncall("check", "--at", "2026-06-10T00:00:00Z", "--config", config), 2)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "rotation 'primary' (first step for testco) has nobody on call from" in errors[0]
    assert "Mon 2026-06-15 08:00 CDT on" in errors[0]


def test_check_warns_about_later_gaps_overlaps_and_empty_shifts(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    write_ics(tmp_path / "rotations", "nightshift.overrides.ics")
    result = oncall("check", "--at", "2026-06-02T00:00:00Z", "--config", config)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")
    warnings = result.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in warnings)
    text = "\n".join(warnings)
    assert "nightshift.overrides.ics: no rotation 'nightshift' to override" in text
    assert "shifts 'carol' and 'dave, alice' overlap" in text and "both are paged" in text
    assert "empty shift 'Mallory' (UID typo)" in text
    assert (
        "rotation 'primary' (first step for testco) has nobody on call from Mon 2026-06-15 08:00 CDT"
        in text
    )


def test_check_warns_when_a_remote_calendar_comes_from_its_cached_copy(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    body = calendar_text(*shift_event("20260101T000000Z", "20280101T000000Z", "carol", "n"))
    with CalendarHost(body=body.encode()) as host:
        add_remote_rotation(config, "night-desk", host.url)
        ok(oncall("check", "--config", config))
        host.status = 500
        result = oncall("check", "--config", config)
    assert result.exit_code == 0
    assert "warning: http://127.0.0.1:" in result.stderr and "HTTP 500" in result.stderr
    assert "private-" not in result.stderr
    assert "3 rotations (backup, night-desk, primary)" in result.stdout


def test_check_fails_when_a_remote_calendar_was_never_fetched(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with CalendarHost(status=503) as host:
        add_remote_rotation(config, "night-desk", host.url)
        err = exits(oncall("check", "--config", config), 2)
    assert "rotations.remote.night-desk" in err and "no cached copy" in err
