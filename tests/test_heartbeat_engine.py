"""Heartbeats and maintenance in the engine, with a clock the test moves: a missed check-in
becomes a classified alert, a late one resolves it, deadlines survive a restart, and alerts
inside a maintenance window are recorded without paging."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.heartbeat_watch import heartbeat_report
from oncall.intake import Alert
from oncall.maintenance_windows import end_window, start_window
from oncall.store import Store, parse_ts

# AFTER_HOURS is Saturday 2026-11-28 02:00 in Chicago.
NIGHTLY = '\n[[heartbeat]]\nname = "backup"\nby = "03:00"\ngrace = "30m"\nseverity = "{severity}"\n'
SAN_DOWN = Alert(client="testco", source="zabbix", severity="critical", summary="SAN offline")


def make_engine(tmp_path, tables: str, *, auto_resolve: bool = False) -> Engine:
    config = write_config(tmp_path, ack="5m", tables=tables, auto_resolve=auto_resolve)
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    store = Store(tmp_path / "e.db", durable=False)
    engine = Engine(catalog, store, None, FakeClock(AFTER_HOURS))
    engine.rearm()
    return engine


def heartbeat_timers(engine: Engine) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == "heartbeat"]


def fire_heartbeat(engine: Engine) -> dict:
    (timer,) = heartbeat_timers(engine)
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    return timer


def alerts(engine: Engine) -> list[dict]:
    return engine.store.all("SELECT * FROM alerts ORDER BY id")


def test_a_missed_backup_at_night_is_queued_for_the_morning(tmp_path) -> None:
    engine = make_engine(tmp_path, NIGHTLY.format(severity="error"))
    (timer,) = heartbeat_timers(engine)
    assert timer["due_at"] == "2026-11-28T09:30:00.000000Z"  # 03:00 CST + 30m grace
    fired = fire_heartbeat(engine)
    (alert,) = alerts(engine)
    assert (alert["source"], alert["host"], alert["dedup_key"]) == (
        "heartbeat",
        "backup",
        "heartbeat:testco:backup",
    )
    assert json.loads(alert["decision"])["action"] == "queue"
    assert engine.store.all("SELECT * FROM incidents") == []
    kinds = [e["kind"] for e in engine.store.events(client="testco")]
    assert "heartbeat.missed" in kinds and "decision.queue" in kinds
    # Fires once per miss: the same timer again does nothing; the next is tomorrow night.
    asyncio.run(engine._fire(fired["id"]))
    assert len(alerts(engine)) == 1
    (following,) = heartbeat_timers(engine)
    assert following["due_at"] == "2026-11-29T09:30:00.000000Z"
    (row,) = heartbeat_report(engine.store, engine.catalog.sops, engine.clock.now())
    assert row["state"] == "late" and row["last_checkin"] is None


def test_a_missed_emergency_check_pages_and_the_late_check_in_resolves_it(tmp_path) -> None:
    engine = make_engine(tmp_path, NIGHTLY.format(severity="critical"), auto_resolve=True)
    fire_heartbeat(engine)
    incident = engine.store.incident(1)
    assert incident is not None and incident["state"] == "paging"
    assert incident["rule_id"] == "server-down"
    engine.clock.advance(timedelta(minutes=40))  # type: ignore[attr-defined]
    answer = engine.heartbeats.check_in("testco", "backup")
    assert answer["late"] is True and answer["resolved_alert"] == 2
    assert answer["next_deadline"] == "2026-11-29T09:30:00.000000Z"
    assert alerts(engine)[-1]["status"] == "resolved"
    assert engine.store.incident(1)["state"] == "resolved"
    (row,) = heartbeat_report(engine.store, engine.catalog.sops, engine.clock.now())
    assert row["state"] == "ok"


def test_an_on_time_check_in_moves_the_deadline_and_sends_nothing(tmp_path) -> None:
    engine = make_engine(tmp_path, NIGHTLY.format(severity="critical"))
    (first,) = heartbeat_timers(engine)
    engine.clock.advance(timedelta(minutes=40))  # type: ignore[attr-defined]  # 02:40
    answer = engine.heartbeats.check_in("testco", "backup")
    assert answer == {
        "client": "testco",
        "check": "backup",
        "late": False,
        "next_deadline": "2026-11-29T09:30:00.000000Z",
        "resolved_alert": None,
    }
    assert alerts(engine) == []
    asyncio.run(engine._fire(first["id"]))  # the old deadline, already in flight
    assert alerts(engine) == []
    assert engine.store.one("SELECT outcome FROM timers WHERE id = ?", (first["id"],)) == {
        "outcome": "rescheduled"
    }


def test_deadlines_survive_a_restart_and_are_not_duplicated(tmp_path) -> None:
    engine = make_engine(tmp_path, NIGHTLY.format(severity="error"))
    (before,) = heartbeat_timers(engine)
    engine.store.close()
    again = make_engine(tmp_path, NIGHTLY.format(severity="error"))
    assert heartbeat_timers(again) == [before]
    # Down for three nights: one alert covers them, and the next deadline is in the future.
    again.clock.set(AFTER_HOURS + timedelta(days=3))  # type: ignore[attr-defined]
    asyncio.run(again._fire(before["id"]))
    assert len(alerts(again)) == 1
    (after,) = heartbeat_timers(again)
    assert after["due_at"] == "2026-12-01T09:30:00.000000Z"


def test_an_interval_check_changed_in_the_sop_is_rescheduled(tmp_path) -> None:
    engine = make_engine(tmp_path, '\n[[heartbeat]]\nname = "sync"\nevery = "1h"\ngrace = "5m"\n')
    (timer,) = heartbeat_timers(engine)
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(minutes=65)
    engine.store.close()
    engine = make_engine(tmp_path, '\n[[heartbeat]]\nname = "sync"\nevery = "2h"\ngrace = "5m"\n')
    (timer,) = heartbeat_timers(engine)
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(minutes=125)


# --------------------------------------------------------------------------- maintenance


def test_an_ad_hoc_window_records_alerts_without_paging_until_it_ends(tmp_path) -> None:
    engine = make_engine(tmp_path, "")
    now = engine.clock.now()
    window_id = start_window(engine.store, "testco", now, timedelta(hours=2), "SAN swap", "alice")
    outcome = engine.receive_alert(SAN_DOWN, b"{}")
    assert outcome.decision.action == "maintenance" and outcome.incident_id is None
    assert (
        "SAN swap" in outcome.decision.reason and f"ad hoc #{window_id}" in outcome.decision.reason
    )
    assert engine.store.all("SELECT * FROM pages") == []
    (logged,) = [e for e in engine.store.events() if e["kind"] == "decision.maintenance"]
    assert "SAN swap" in logged["message"]
    # The window ends by itself.
    engine.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    assert engine.receive_alert(SAN_DOWN, b"{}").decision.action == "page"


def test_ending_a_window_early_pages_again(tmp_path) -> None:
    engine = make_engine(tmp_path, "")
    now = engine.clock.now()
    window_id = start_window(engine.store, "testco", now, timedelta(hours=2), "x", "alice")
    assert end_window(engine.store, window_id, now, "alice") is not None
    assert end_window(engine.store, window_id, now, "alice") is None
    assert engine.receive_alert(SAN_DOWN, b"{}").decision.action == "page"


def test_a_weekly_sop_window_quiets_its_night_and_a_resolution_still_resolves(tmp_path) -> None:
    weekly = (
        '\n[[maintenance]]\ndays = ["saturday"]\nhours = "01:00-04:00"\nreason = "patch night"\n'
    )
    engine = make_engine(tmp_path, weekly, auto_resolve=True)
    outcome = engine.receive_alert(SAN_DOWN, b"{}")
    assert outcome.decision.action == "maintenance"
    assert "patch night" in outcome.decision.reason
    resolved = engine.receive_alert(Alert(**(SAN_DOWN.to_dict() | {"status": "resolved"})), b"{}")
    assert resolved.decision.action == "record"
    engine.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]  # 04:00
    assert engine.receive_alert(SAN_DOWN, b"{}").decision.action == "page"
