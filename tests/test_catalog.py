"""Tests for oncall.catalog's rotation side: indexes around the load instant, reindexing,
remote rotations with cached copies, overrides files, and what check_all reports."""

from __future__ import annotations

import shutil
from pathlib import Path

from calendar_files import (
    TECHS,
    add_remote_rotation,
    calendar_text,
    shift_event,
    utc,
    write_ics,
)
from calendar_host import CalendarHost
from harness import REPO, SECRET, write_config

from oncall.catalog import catalog_for, check_all, load_catalog, orphan_overrides
from oncall.config import load_config
from oncall.rotations import on_call

ENV = {"ONCALL_TEST_SECRET": SECRET}
NOW = utc(2026, 11, 23)


def own_rotations(tmp_path: Path) -> Path:
    """The test config with a private copy of the example rotations."""
    config = write_config(tmp_path)
    shutil.copytree(REPO / "rotations", tmp_path / "rotations")
    config.write_text(
        config.read_text().replace(str(REPO / "rotations"), str(tmp_path / "rotations"))
    )
    return config


def test_rotations_are_indexed_around_the_load_instant(tmp_path: Path) -> None:
    catalog = load_catalog(write_config(tmp_path), ENV, now=NOW)
    for rotation in catalog.rotations.values():
        assert rotation.index is not None and rotation.index.covers(NOW)
    assert catalog.rotation_uses() == {"primary": [("testco", 1)], "backup": [("testco", 2)]}
    assert [name for name, _, _ in catalog.rotation_files] == ["backup.ics", "primary.ics"]
    assert not catalog.needs_reindex(NOW)
    later = utc(2027, 1, 15)
    assert catalog.needs_reindex(later)
    moved = catalog.reindexed(later)
    assert all(
        r.index is not None and r.index.covers(utc(2028, 1, 1)) for r in moved.rotations.values()
    )
    assert [t.id for t in moved.on_call("primary", later)] == [
        t.id for t in catalog.on_call("primary", later)
    ]


def test_with_rotation_replaces_one_rotation(tmp_path: Path) -> None:
    catalog = load_catalog(write_config(tmp_path), ENV, now=NOW)
    backup = catalog.rotations["backup"]
    swapped = catalog.with_rotation(backup.__class__("primary", backup.path, backup.calendar))
    assert swapped.rotations["primary"].calendar is backup.calendar
    assert catalog.rotations["primary"].calendar is not backup.calendar  # unchanged


def test_overrides_files_are_checked_and_orphans_found(tmp_path: Path) -> None:
    config = own_rotations(tmp_path)
    rotations = tmp_path / "rotations"
    (rotations / "primary.overrides.ics").write_text("BEGIN:VCALENDAR\r\nnot a line\r\n")
    problems = check_all(config, ENV)
    assert [p.path for p in problems] == [str(rotations / "primary.overrides.ics")]
    write_ics(
        rotations,
        "primary.overrides.ics",
        *shift_event("20261201T000000Z", "20261202T000000Z", "dave", "o"),
    )
    write_ics(rotations, "nightshift.overrides.ics")
    assert check_all(config, ENV) == []
    catalog = load_catalog(config, ENV, now=NOW)
    assert orphan_overrides(catalog) == [rotations / "nightshift.overrides.ics"]
    assert [t.id for t in catalog.on_call("primary", utc(2026, 12, 1, 12))] == ["dave"]


def test_remote_rotations_join_the_catalog_and_keep_working_from_the_cache(tmp_path: Path) -> None:
    config_path = write_config(tmp_path)
    sop = tmp_path / "sops" / "testco.md"
    sop.write_text(sop.read_text().replace('rotation = "backup"', 'rotation = "night-desk"'))
    body = calendar_text(*shift_event("20261101T000000Z", "20270101T000000Z", "carol", "n"))
    with CalendarHost(body=body.encode(), etag='"1"') as host:
        add_remote_rotation(config_path, "night-desk", host.url)
        assert check_all(config_path, ENV) == []  # a remote rotation is a rotation SOPs may use
        catalog = load_catalog(config_path, ENV, now=NOW)
        assert catalog.warnings == ()
        host.status, host.body, host.etag = 502, b"Bad gateway", None
        degraded = load_catalog(config_path, ENV, now=NOW)
    assert [t.id for t in catalog.on_call("night-desk", NOW)] == ["carol"]
    assert [t.id for t in degraded.on_call("night-desk", NOW)] == ["carol"]
    [warning] = degraded.warnings
    assert "the host answered HTTP 502; using the copy cached" in warning
    assert catalog.rotation_uses()["night-desk"] == [("testco", 2)]
    # a reload (no fetching) uses the cached copy without asking the host, which is gone
    offline = catalog_for(load_config(config_path, ENV), ENV, now=NOW, fetch_remote=False)
    assert offline.warnings == () and "night-desk" in offline.rotations


def test_a_remote_rotation_named_like_a_file_is_refused(tmp_path: Path) -> None:
    config_path = write_config(tmp_path)
    add_remote_rotation(config_path, "primary", "https://calendar.example/private/basic.ics")
    [problem] = check_all(config_path, ENV)
    assert problem.where == "rotations.remote.primary" and "already defines rotation" in str(
        problem
    )


def test_tech_resolution_uses_the_configured_techs(tmp_path: Path) -> None:
    catalog = load_catalog(write_config(tmp_path), ENV, now=NOW)
    at = utc(2026, 11, 28, 8)
    assert catalog.on_call("primary", at) == on_call(
        catalog.rotations["primary"], catalog.techs, at
    )
    assert on_call(catalog.rotations["primary"], TECHS, at)[0].id == "alice"
    assert catalog.on_call("nightshift", at) == []
