"""The next-business-day queue: an item per queued alert and missed heartbeat, written with its
source, due when the client's window next opens, with one digest planned per opening; marking
items done; the schema-8 backfill of what was queued before the queue existed."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest
from harness import AFTER_HOURS, SECRET, write_config

from oncall import queue
from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.store import _MIGRATIONS, Store, _split_sql, parse_ts

# AFTER_HOURS is Saturday 2026-11-28 02:00 in Chicago; TestCo's window opens 08:00 Mon-Fri.
MONDAY_8 = "2026-11-30T14:00:00.000000Z"
DISK = Alert(client="testco", source="zabbix", severity="warning", summary="disk 91%", host="fs1")
SAN_DOWN = Alert(client="testco", source="zabbix", severity="critical", summary="SAN offline")
NIGHTLY = '\n[[heartbeat]]\nname = "backup"\nby = "03:00"\ngrace = "30m"\nseverity = "error"\n'


def make_engine(tmp_path, tables: str = "", at: datetime = AFTER_HOURS) -> Engine:
    config = write_config(tmp_path, ack="5m", tables=tables)
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    engine = Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(at))
    engine.rearm()
    return engine


def items(engine: Engine) -> list[dict]:
    return engine.store.all("SELECT * FROM queue ORDER BY id")


def digest_timers(engine: Engine) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == queue.DIGEST]


def test_a_non_emergency_alert_at_night_is_queued_for_monday_morning(tmp_path) -> None:
    engine = make_engine(tmp_path)
    outcome = engine.receive_alert(DISK, b"{}")
    assert outcome.decision.action == "queue" and outcome.incident_id is None
    (item,) = items(engine)
    assert (item["client"], item["kind"], item["ref"]) == ("testco", "alert", outcome.alert_id)
    assert item["summary"] == "warning alert from zabbix on fs1: disk 91%"
    assert item["received_at"] == "2026-11-28T08:00:00.000000Z"
    assert item["due_at"] == MONDAY_8 and item["done_at"] is None and item["digest_id"] is None
    (digest,) = engine.store.all("SELECT * FROM digests")
    assert (digest["client"], digest["due_at"], digest["sent_at"]) == ("testco", MONDAY_8, None)
    (timer,) = digest_timers(engine)
    assert (timer["ref"], timer["incident_id"], timer["due_at"]) == (digest["id"], 0, MONDAY_8)
    assert engine.wheel.knows(timer["id"])
    (added,) = [e for e in engine.store.events() if e["kind"] == "queue.added"]
    assert added["client"] == "testco" and added["data"]["queue_id"] == item["id"]


def test_a_weekend_of_alerts_shares_one_digest(tmp_path) -> None:
    engine = make_engine(tmp_path)
    engine.receive_alert(DISK, b"{}")
    engine.clock.set(datetime.fromisoformat("2026-11-29T21:00:00-06:00"))  # type: ignore[attr-defined]
    engine.receive_alert(DISK, b"{}")
    assert [i["due_at"] for i in items(engine)] == [MONDAY_8, MONDAY_8]
    assert len(engine.store.all("SELECT * FROM digests")) == 1
    assert len(digest_timers(engine)) == 1


def test_emergencies_resolutions_and_daytime_alerts_are_not_queued(tmp_path) -> None:
    engine = make_engine(tmp_path)
    assert engine.receive_alert(SAN_DOWN, b"{}").decision.action == "page"
    resolved = Alert(
        client="testco", source="zabbix", severity="warning", summary="ok", status="resolved"
    )
    assert engine.receive_alert(resolved, b"{}").decision.action == "record"
    engine.clock.set(datetime.fromisoformat("2026-11-30T10:00:00-06:00"))  # type: ignore[attr-defined]
    assert engine.receive_alert(DISK, b"{}").decision.action == "service_desk"
    assert items(engine) == []


def test_a_missed_heartbeat_at_night_is_a_heartbeat_item(tmp_path) -> None:
    engine = make_engine(tmp_path, NIGHTLY)
    (timer,) = [t for t in engine.store.pending_timers() if t["kind"] == "heartbeat"]
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    (item,) = items(engine)
    (alert,) = engine.store.all("SELECT id FROM alerts")
    assert (item["kind"], item["ref"], item["due_at"]) == ("heartbeat", alert["id"], MONDAY_8)
    assert item["summary"].startswith("Missed heartbeat backup: ")


def test_done_marks_items_and_handles_their_voicemail(tmp_path) -> None:
    engine = make_engine(tmp_path)
    store = engine.store
    now = engine.clock.now()
    with store.transaction():
        vm = store.insert(
            "voicemails",
            {
                "call_sid": "CA1",
                "client": "testco",
                "from_phone": "+18155550141",
                "reason": "next_business_day",
                "received_at": "2026-11-28T08:00:00.000000Z",
            },
        )
        queue.add(store, "testco", "call", vm, "Voicemail from +18155550141", now, now)
    engine.receive_alert(DISK, b"{}")
    call_item, alert_item = (i["id"] for i in items(engine))
    done = queue.mark_done(store, [call_item], "alice", "called back", now)
    assert [(d.id, d.kind) for d in done] == [(call_item, "call")]
    row = store.one("SELECT * FROM queue WHERE id = ?", (call_item,))
    assert row is not None and (row["done_by"], row["done_note"]) == ("alice", "called back")
    assert store.one("SELECT handled_at FROM voicemails WHERE id = ?", (vm,))["handled_at"]  # type: ignore[index]
    assert [i["id"] for i in queue.open_items(store)] == [alert_item]
    assert [i["id"] for i in queue.open_items(store, "other")] == []
    (event,) = [e for e in store.events() if e["kind"] == "queue.done"]
    assert event["actor"] == "alice" and "called back" in event["message"]


def test_done_refuses_unknown_and_finished_items_and_changes_nothing(tmp_path) -> None:
    engine = make_engine(tmp_path)
    engine.receive_alert(DISK, b"{}")
    now = engine.clock.now()
    queue.mark_done(engine.store, [1], "bob", "", now)
    engine.receive_alert(DISK, b"{}")
    with pytest.raises(queue.QueueError, match=r"no queue item 99; already done: 1"):
        queue.mark_done(engine.store, [2, 99, 1], "bob", "", now)
    assert [i["id"] for i in queue.open_items(engine.store)] == [2]


def test_schema_8_backfills_waiting_voicemails_and_queued_alerts(tmp_path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version in range(1, 8):
        for statement in _split_sql(_MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=7")
    recent = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    conn.execute(
        "INSERT INTO voicemails (call_sid, client, from_phone, reason, duration_seconds,"
        " received_at, due_at) VALUES ('CA1', 'testco', '+18155550141', 'x', 45, ?, ?)",
        (recent, MONDAY_8),
    )
    conn.execute(
        "INSERT INTO voicemails (call_sid, client, from_phone, reason, received_at, handled_at)"
        " VALUES ('CA2', 'testco', '+18155550142', 'x', ?, ?)",
        (recent, recent),
    )
    decision = '{"action": "queue", "next_business_start": "2026-11-30T14:00:00+00:00"}'
    for source, host in (("zabbix", "fs1"), ("heartbeat", "backup")):
        conn.execute(
            "INSERT INTO alerts (received_at, client, source, severity, summary, host, raw,"
            " accepted, decision) VALUES (?, 'testco', ?, 'warning', 'late', ?, '{}', 1, ?)",
            (recent, source, host, decision),
        )
    conn.execute(
        "INSERT INTO alerts (received_at, client, source, severity, summary, raw, accepted,"
        " decision) VALUES (?, 'testco', 'zabbix', 'critical', 'down', '{}', 1, ?)",
        (recent, '{"action": "page"}'),
    )
    conn.close()
    with Store(path) as store:
        rows = store.all("SELECT kind, ref, summary, due_at FROM queue ORDER BY id")
    assert rows == [
        {
            "kind": "call",
            "ref": 1,
            "summary": "Voicemail from +18155550141 (45 s): message left after hours",
            "due_at": MONDAY_8,
        },
        {
            "kind": "alert",
            "ref": 1,
            "summary": "warning alert from zabbix on fs1: late",
            "due_at": MONDAY_8,
        },
        {
            "kind": "heartbeat",
            "ref": 2,
            "summary": "Missed heartbeat backup: late",
            "due_at": MONDAY_8,
        },
    ]


def test_start_up_plans_a_digest_for_backfilled_items(tmp_path) -> None:
    engine = make_engine(tmp_path)
    with engine.store.transaction():
        engine.store.insert(
            "queue",
            {
                "client": "testco",
                "kind": "alert",
                "summary": "old",
                "ref": None,
                "received_at": "2026-11-20T08:00:00.000000Z",
                "due_at": "2026-11-20T14:00:00.000000Z",
            },
        )
    engine.rearm()
    (timer,) = digest_timers(engine)
    assert timer["due_at"] == MONDAY_8  # the next opening, not a week-old one
    engine.rearm()
    assert len(digest_timers(engine)) == 1
