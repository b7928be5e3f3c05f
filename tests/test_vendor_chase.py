"""Vendor contacts in the engine (FakeClock, no sending): VENDOR by SMS stores the contact and
arms a chase reminder to the owner, which re-arms, and stops on a new contact, `done` or RES."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.store import Store, parse_ts

ALERT = Alert(client="testco", source="zabbix", severity="critical", summary="WAN down", host="fw1")
VENDORS = (
    '\n[[vendors]]\nid = "isp"\nname = "Comcast Business"\nphone = "+1 800 555 0177"\n'
    'account = "Account 8771"\n'
    '[[vendors]]\nid = "erp"\nname = "Epicor"\nurl = "https://e.example"\nchase_every = "1h"\n'
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    catalog = load_catalog(
        write_config(tmp_path, ack="5m", tables=VENDORS), {"ONCALL_TEST_SECRET": SECRET}
    )
    engine = Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))
    engine.receive_alert(ALERT, b"{}")
    return engine


_sids = iter(range(1, 10_000))


def sms(engine: Engine, tech_id: str, body: str) -> str | None:
    return engine.inbox.receive(
        {
            "MessageSid": f"SM{next(_sids):032d}",
            "From": engine.catalog.techs[tech_id].phone,
            "Body": body,
        }
    )


def chases(engine: Engine) -> list[dict[str, Any]]:
    return [t for t in engine.store.pending_timers() if t["kind"] == "vendor_chase"]


def fire(engine: Engine, timer: dict[str, Any]) -> str | None:
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    row = engine.store.one("SELECT outcome FROM timers WHERE id = ?", (timer["id"],))
    return row["outcome"] if row else None


def notices(engine: Engine, tech_id: str) -> list[str]:
    return [
        p["body"]
        for p in engine.store.all(
            "SELECT body FROM pages WHERE kind = 'notice' AND tech_id = ? ORDER BY id", (tech_id,)
        )
    ]


def test_vendor_contact_is_logged_and_answered(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    answer = sms(engine, "alice", "VENDOR 1 isp 88231 on hold 20 min")
    assert answer == (
        "Comcast Business: +1 800 555 0177, Account 8771. Logged ticket 88231. "
        "Reminder to chase in 30m."
    )
    (row,) = engine.store.all("SELECT vendor, ticket, note, actor FROM vendor_contacts")
    assert row == {"vendor": "isp", "ticket": "88231", "note": "on hold 20 min", "actor": "alice"}
    (event,) = [e for e in engine.store.events(incident_id=1) if e["kind"] == "vendor.contacted"]
    assert event["data"]["vendor"] == "isp" and event["data"]["ticket"] == "88231"
    assert event["data"]["note"] == "on hold 20 min"
    (timer,) = chases(engine)
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(minutes=30)


def test_vendor_list_and_unknown_id(engine: Engine) -> None:
    listed = sms(engine, "alice", "VENDOR 1")
    assert listed is not None and "isp = Comcast Business" in listed and "erp = Epicor" in listed
    unknown = sms(engine, "alice", "VENDOR 1 rockwell")
    assert unknown == "No vendor 'rockwell' for #1. Vendor ids: isp, erp."
    assert engine.store.all("SELECT * FROM vendor_contacts") == []


def test_vendor_refused_for_a_tech_not_paged(engine: Engine) -> None:
    answer = sms(engine, "bob", "VENDOR 1 isp")
    assert answer == "You were not paged for #1; nothing changed."
    assert engine.store.all("SELECT * FROM vendor_contacts") == []


def test_the_reminder_goes_to_the_owner_and_rearms(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "VENDOR 1 isp 88231")
    (timer,) = chases(engine)
    assert fire(engine, timer) == "fired"
    assert notices(engine, "alice")[-1] == (
        "Chase Comcast Business (+1 800 555 0177) for #1, ticket 88231: last contact 30m ago. "
        "Reply VENDOR 1 isp <news>."
    )
    (again,) = chases(engine)
    assert parse_ts(again["due_at"]) == AFTER_HOURS + timedelta(minutes=60)
    assert fire(engine, again) == "fired"
    assert "last contact 1h ago" in notices(engine, "alice")[-1]


def test_a_new_contact_keeps_the_ticket_and_restarts_the_clock(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "VENDOR 1 isp 88231")
    (first,) = chases(engine)
    engine.clock.advance(timedelta(minutes=20))  # type: ignore[attr-defined]
    answer = sms(engine, "alice", "VENDOR 1 isp tech dispatched")
    assert answer is not None and "Logged ticket 88231" in answer
    assert fire(engine, first) == "stale"
    (second,) = [t for t in chases(engine) if t["id"] != first["id"]]
    assert parse_ts(second["due_at"]) == AFTER_HOURS + timedelta(minutes=50)


def test_done_releases_the_vendor(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "VENDOR 1 isp 88231")
    (timer,) = chases(engine)
    assert sms(engine, "alice", "VENDOR 1 isp done") == (
        "Comcast Business released for #1; no more reminders."
    )
    assert fire(engine, timer) == "stale"
    assert chases(engine) == []
    kinds = [e["kind"] for e in engine.store.events(incident_id=1)]
    assert "vendor.released" in kinds
    assert "was not engaged" in (sms(engine, "alice", "VENDOR 1 isp done") or "")


def test_resolve_stops_the_reminders(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "VENDOR 1 erp")
    (timer,) = chases(engine)
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(hours=1)
    sms(engine, "alice", "RES 1")
    assert fire(engine, timer) == "stale"
    assert chases(engine) == [] and notices(engine, "alice") == []
    assert "already resolved" in (sms(engine, "alice", "VENDOR 1 isp") or "")


def test_the_reminder_follows_the_owner(engine: Engine) -> None:
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "VENDOR 1 isp")
    sms(engine, "carol", "TAKE 1")
    (timer,) = chases(engine)
    fire(engine, timer)
    assert notices(engine, "carol")[-1].startswith("Chase Comcast Business")
