"""Tests for oncall.calendar_upkeep, one tick at a time on a fake clock, through the daemon's
own reload (keep-last-good) without starting its servers."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from calendar_files import add_remote_rotation, calendar_text, shift_event, utc, write_ics
from calendar_host import CalendarHost
from harness import REPO, SECRET, write_config
from structlog.testing import capture_logs

from oncall.calendar_upkeep import CalendarUpkeep
from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.daemon import Daemon

ENV = {"ONCALL_TEST_SECRET": SECRET}
NOW = utc(2026, 11, 28, 8)  # a Saturday: alice is primary, carol backup


def setup(tmp_path: Path, config: Path | None = None) -> tuple[Daemon, CalendarUpkeep, FakeClock]:
    if config is None:
        config = write_config(tmp_path)
        shutil.copytree(REPO / "rotations", tmp_path / "rotations")
        config.write_text(
            config.read_text().replace(str(REPO / "rotations"), str(tmp_path / "rotations"))
        )
    clock = FakeClock(NOW)
    daemon = Daemon(load_catalog(config, ENV, now=NOW), clock=clock, env=ENV)
    upkeep = CalendarUpkeep(
        catalog=lambda: daemon.catalog,
        swap=daemon._swap,
        reload=daemon.reload_in_background,
        clock=clock,
    )
    return daemon, upkeep, clock


def primary(daemon: Daemon) -> list[str]:
    return [tech.id for tech in daemon.catalog.on_call("primary", NOW)]


def hand_alices_weeks_to(text: str, tech: str, name: str) -> str:
    """The example calendar with alice (SUMMARY, ATTENDEE) replaced by another tech."""
    return text.replace("Alice Nguyen", name).replace("alice", tech)


def test_a_changed_calendar_is_swapped_in(tmp_path: Path) -> None:
    daemon, upkeep, _ = setup(tmp_path)
    assert asyncio.run(upkeep.check_files()) is None  # nothing changed yet
    ics = tmp_path / "rotations" / "primary.ics"
    ics.write_text(hand_alices_weeks_to(ics.read_text(), "dave", "Dave Kim"))
    with capture_logs() as logs:
        assert asyncio.run(upkeep.check_files()) is True
    assert primary(daemon) == ["dave"]
    assert [entry["event"] for entry in logs] == ["calendars.changed", "reload.ok"]
    assert asyncio.run(upkeep.check_files()) is None


def test_a_new_overrides_file_is_picked_up(tmp_path: Path) -> None:
    daemon, upkeep, _ = setup(tmp_path)
    write_ics(
        tmp_path / "rotations",
        "primary.overrides.ics",
        *shift_event("20261128T000000Z", "20261129T000000Z", "bob", "swap"),
    )
    assert asyncio.run(upkeep.check_files()) is True
    assert primary(daemon) == ["bob"]


def test_a_broken_change_keeps_the_last_good_rotations_and_says_why_once(
    tmp_path: Path,
) -> None:
    daemon, upkeep, _ = setup(tmp_path)
    ics = tmp_path / "rotations" / "primary.ics"
    good = ics.read_text()
    ics.write_text(good.replace("END:VCALENDAR", ""))  # cut short, as by a half-done save
    with capture_logs() as logs:
        assert asyncio.run(upkeep.check_files()) is False
        assert asyncio.run(upkeep.check_files()) is None  # not retried every tick
    [failed] = [entry for entry in logs if entry["event"] == "reload.failed"]
    assert "primary.ics" in failed["error"] and "END:VCALENDAR" in failed["error"]
    assert failed["kept"] == "last good configuration" and failed["log_level"] == "error"
    assert primary(daemon) == ["alice"]  # still paging from the last good calendar
    ics.write_text(hand_alices_weeks_to(good, "carol", "Carol Diaz"))
    assert asyncio.run(upkeep.check_files()) is True
    assert primary(daemon) == ["carol"]


def test_an_index_running_low_is_re_expanded(tmp_path: Path) -> None:
    daemon, upkeep, clock = setup(tmp_path)
    before = daemon.catalog
    asyncio.run(upkeep.reindex())
    assert daemon.catalog is before  # nothing due
    clock.advance(timedelta(days=40))
    asyncio.run(upkeep.reindex())
    index = daemon.catalog.rotations["primary"].index
    assert daemon.catalog is not before and index is not None
    assert index.covers(clock.now() + timedelta(days=399))


def test_remote_calendars_are_refreshed_when_due(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    alice = calendar_text(*shift_event("20261101T000000Z", "20270101T000000Z", "alice", "n"))
    bob = calendar_text(*shift_event("20261101T000000Z", "20270101T000000Z", "bob", "n"))
    with CalendarHost(body=alice.encode(), etag='"1"') as host:
        add_remote_rotation(config, "night-desk", host.url, refresh="15m")
        daemon, upkeep, clock = setup(tmp_path, config)
        night_desk = lambda: [t.id for t in daemon.catalog.on_call("night-desk", NOW)]  # noqa: E731
        assert night_desk() == ["alice"] and len(host.requests) == 1
        host.body, host.etag = bob.encode(), '"2"'
        asyncio.run(upkeep.refresh_remote())
        assert len(host.requests) == 1  # not due yet
        clock.advance(timedelta(minutes=15))
        with capture_logs() as logs:
            asyncio.run(upkeep.refresh_remote())
        assert night_desk() == ["bob"]
        assert [entry["event"] for entry in logs] == ["calendar.updated"]
        assert daemon.catalog.rotations["night-desk"].index is not None
        host.status, host.body = 503, b"down for maintenance"
        clock.advance(timedelta(minutes=15))
        with capture_logs() as logs:
            asyncio.run(upkeep.refresh_remote())
        assert night_desk() == ["bob"]  # coverage did not disappear
        [warning] = logs
        assert warning["event"] == "calendar.fetch_failed" and warning["log_level"] == "warning"
        assert "HTTP 503; using the copy cached" in warning["error"]
        assert "private-" not in warning["error"]
        host.status = 200
        with capture_logs() as logs:
            asyncio.run(upkeep.refresh_remote(force=True))
        assert logs == [] and host.requests[-1]["if-none-match"] == '"2"'  # a quiet 304


def test_run_keeps_ticking_after_an_unexpected_error(tmp_path: Path) -> None:
    daemon, upkeep, _ = setup(tmp_path)
    settings = replace(daemon.catalog.config.rotation_settings, watch_interval=timedelta(0))
    daemon._swap(
        replace(daemon.catalog, config=replace(daemon.catalog.config, rotation_settings=settings))
    )
    calls: list[int] = []

    async def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    upkeep.tick = tick  # type: ignore[method-assign]

    async def main() -> None:
        task = asyncio.create_task(upkeep.run())
        while len(calls) < 3:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_logs() as logs:
        asyncio.run(main())
    assert [entry["event"] for entry in logs] == ["calendars.upkeep_failed"]
