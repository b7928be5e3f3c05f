"""Ownership in the engine (FakeClock, no sending): ack sets the owner, a later ack keeps it,
TAKE and assign move it with notices, ESC keeps it, and the engage deadline pages
engineering by itself."""

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

ALERT = Alert(
    client="testco", source="zabbix", severity="critical", summary="SAN offline", host="san1"
)
# At AFTER_HOURS primary is alice and backup is carol; bob and dave are off.
ENGINEERING = '\n[[escalation.steps]]\nlabel = "engineering"\ntechs = ["owner"]\n'


def make_engine(tmp_path: Path, tables: str = "") -> Engine:
    catalog = load_catalog(
        write_config(tmp_path, ack="5m", repeats=0, tables=tables), {"ONCALL_TEST_SECRET": SECRET}
    )
    return Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(tmp_path)


def sms(engine: Engine, tech_id: str, body: str) -> str | None:
    sms.count += 1  # type: ignore[attr-defined]
    return engine.inbox.receive(
        {
            "MessageSid": f"SM{sms.count:032d}",  # type: ignore[attr-defined]
            "From": engine.catalog.techs[tech_id].phone,
            "Body": body,
        }
    )


sms.count = 0  # type: ignore[attr-defined]


def owner_events(engine: Engine, number: int = 1) -> list[dict[str, Any]]:
    return [
        e["data"] for e in engine.store.events(incident_id=number) if e["kind"] == "incident.owner"
    ]


def notices(engine: Engine, tech_id: str) -> list[str]:
    return [
        p["body"]
        for p in engine.store.all(
            "SELECT * FROM pages WHERE kind = 'notice' AND tech_id = ?", (tech_id,)
        )
    ]


def pending(engine: Engine, kind: str) -> list[dict[str, Any]]:
    return [t for t in engine.store.pending_timers() if t["kind"] == kind]


def test_ack_sets_the_owner(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    assert "You own it" in (sms(engine, "alice", "ACK 1") or "")
    incident = engine.store.incident(1)
    assert incident["owner"] == "alice" and incident["acked_by"] == "alice"
    assert owner_events(engine) == [{"owner": "alice", "previous": None, "how": "ack"}]


def test_esc_after_ack_pages_the_next_step_and_keeps_the_owner(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    assert "paging Carol" in (sms(engine, "alice", "ESC 1") or "")
    incident = engine.store.incident(1)
    assert incident["owner"] == "alice" and incident["state"] == "paging"
    (page,) = [p for p in engine.store.pages_for(1) if p["tech_id"] == "carol"]
    assert "Escalated by Alice Nguyen (owner)" in page["body"] and "ACK 1" in page["body"]
    answer = sms(engine, "carol", "ACK 1")
    assert answer == "#1 acknowledged; Alice Nguyen still owns it. TAKE 1 to take it over."
    incident = engine.store.incident(1)
    assert incident["owner"] == "alice" and incident["acked_by"] == "alice"
    assert incident["state"] == "acknowledged" and pending(engine, "step_timeout") == []
    kinds = [e["kind"] for e in engine.store.events(incident_id=1)]
    assert "incident.engaged" in kinds
    assert any("Carol Diaz acknowledged #1" in body for body in notices(engine, "alice"))
    assert len(owner_events(engine)) == 1


def test_take_moves_ownership_and_tells_the_previous_owner(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    answer = sms(engine, "carol", "TAKE 1")  # carol is on call in backup: may take it
    assert answer is not None and answer.startswith("You own #1 now")
    assert "Alice Nguyen was told" in answer
    assert engine.store.incident(1)["owner"] == "carol"
    assert owner_events(engine)[-1] == {"owner": "carol", "previous": "alice", "how": "take"}
    assert "Carol Diaz took #1 (TestCo) from you" in notices(engine, "alice")
    assert sms(engine, "carol", "TAKE 1") == "You already own #1."


def test_take_refused_for_an_unrelated_tech(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    answer = sms(engine, "bob", "TAKE 1")  # bob is off shift and was never paged
    assert answer is not None and "You may not take #1" in answer and "Nothing changed" in answer
    assert engine.store.incident(1)["owner"] == "alice"
    assert len(owner_events(engine)) == 1
    row = engine.store.one("SELECT handled_as FROM inbound_sms WHERE body = 'TAKE 1'")
    assert row == {"handled_as": "unauthorised"}


def test_take_while_paging_acknowledges(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "TAKE 1")
    incident = engine.store.incident(1)
    assert incident["state"] == "acknowledged" and incident["owner"] == "alice"
    assert pending(engine, "step_timeout") == []
    assert owner_events(engine) == [{"owner": "alice", "previous": None, "how": "take"}]


def test_take_a_resolved_incident(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "RES 1 fixed")
    assert sms(engine, "carol", "TAKE 1") == "#1 is already resolved."


def test_assign_moves_ownership_and_tells_both(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    now = engine.clock.now()
    with engine.store.transaction():
        handled, answer, _ = engine.owners.assign(engine.store.incident(1), "dave", "owner", now)
    assert handled == "assign" and answer == "#1 assigned to Dave Kim (was Alice Nguyen)."
    assert owner_events(engine)[-1] == {"owner": "dave", "previous": "alice", "how": "assign"}
    assert any("assigned you #1" in body for body in notices(engine, "dave"))
    assert any("to Dave Kim; you no longer own it" in body for body in notices(engine, "alice"))
    ack = sms(engine, "alice", "ACK 1")
    assert ack is not None and "Dave Kim owns it now" in ack
    # Dave was never paged, but as the owner he may act on it by SMS.
    assert sms(engine, "dave", "TAKE 1") == "You already own #1."
    assert sms(engine, "dave", "RES 1 fixed") == "Resolved #1."


def test_engage_after_pages_engineering_keeping_the_owner(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, ENGINEERING + 'engage_after = "45m"\n')
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    (timer,) = pending(engine, "engage")
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(minutes=45)
    assert timer["step_index"] == 2
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    incident = engine.store.incident(1)
    assert incident["state"] == "paging" and incident["step_index"] == 2
    assert incident["owner"] == "alice"
    (page,) = [p for p in engine.store.pages_for(1) if p["tech_id"] == "owner"]
    assert "Still open 45m after ack; Alice Nguyen (owner) needs you" in page["body"]
    assert any("paging engineering" in body for body in notices(engine, "alice"))
    assert sms(engine, "owner", "ACK 1") == (
        "#1 acknowledged; Alice Nguyen still owns it. TAKE 1 to take it over."
    )
    assert engine.store.incident(1)["owner"] == "alice" and pending(engine, "engage") == []


def test_engage_is_stale_after_resolve_or_esc(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, ENGINEERING + 'engage_after = "45m"\n')
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "RES 1")
    (timer,) = pending(engine, "engage")
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    assert engine.store.one("SELECT outcome FROM timers WHERE id = ?", (timer["id"],)) == {
        "outcome": "stale"
    }
    assert not [p for p in engine.store.pages_for(1) if p["tech_id"] == "owner"]


def test_a_second_ack_rearms_one_engage_deadline(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, ENGINEERING + 'engage_after = "45m"\n')
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    engine.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    sms(engine, "alice", "ESC 1")
    sms(engine, "carol", "ACK 1")  # backup picked it up: engineering 45m from now
    (timer,) = pending(engine, "engage")
    assert parse_ts(timer["due_at"]) == AFTER_HOURS + timedelta(minutes=55)


def test_ack_all_says_which_incidents_keep_their_owner(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "ESC 1")
    answer = sms(engine, "carol", "ACK ALL")
    assert answer is not None and answer.endswith("#1 stays with Alice Nguyen.")
    assert engine.store.incident(1)["owner"] == "alice"


def test_resolving_straight_from_a_page_makes_the_resolver_the_owner(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    assert "Resolved #1" in (sms(engine, "alice", "RES 1 rebooted the SAN") or "")
    incident = engine.store.incident(1)
    assert incident["owner"] == "alice" and incident["acked_by"] == "alice"
    assert [(e["owner"], e["how"]) for e in owner_events(engine)] == [("alice", "resolve")]


def test_monitoring_resolving_an_unowned_incident_names_no_owner(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    engine.receive_alert(ALERT, b"{}")
    with engine.store.transaction():
        engine.resolve(engine.store.incident(1), "monitoring", engine.clock.now())
    assert engine.store.incident(1)["owner"] is None and owner_events(engine) == []


def test_an_unanswered_hand_off_goes_back_to_the_owner_not_round_the_chain(engine: Engine) -> None:
    """ESC to backup (the last step), nobody answers: no restart at the help desk, no
    'nobody acknowledged' to the final contacts; the owner keeps it and is told."""
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "ESC 1")  # pages carol (backup), the last step
    (timeout,) = pending(engine, "step_timeout")
    engine.clock.set(parse_ts(timeout["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timeout["id"]))
    incident = engine.store.incident(1)
    assert incident["state"] == "acknowledged" and incident["owner"] == "alice"
    assert [
        (p["tech_id"], p["kind"]) for p in engine.store.pages_for(1) if p["kind"] != "notice"
    ] == [
        ("alice", "page"),
        ("carol", "page"),
    ]
    assert any(
        "nobody further up the chain answered; you still own it" in n
        for n in notices(engine, "alice")
    )
    assert pending(engine, "step_timeout") == []
    assert "escalation.unanswered" in [e["kind"] for e in engine.store.events(incident_id=1)]


def test_esc_with_no_step_left_keeps_the_owner_and_says_so(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "ESC 1")
    sms(engine, "carol", "ACK 1")  # backup engaged; alice still owns it
    answer = sms(engine, "alice", "ESC 1")
    assert answer == "#1: no further steps to escalate to; it stays owned."
    assert engine.store.incident(1)["state"] == "acknowledged"
    assert not any("nobody further up" in n for n in notices(engine, "alice"))


def test_pages_of_an_owned_incident_name_the_owner_after_a_timeout(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, ENGINEERING)
    engine.receive_alert(ALERT, b"{}")
    sms(engine, "alice", "ACK 1")
    sms(engine, "alice", "ESC 1")  # carol (backup)
    (timeout,) = pending(engine, "step_timeout")
    engine.clock.set(parse_ts(timeout["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timeout["id"]))  # carol silent: engineering (owner tech) next
    (page,) = [p for p in engine.store.pages_for(1) if p["step_index"] == 2 and p["kind"] == "page"]
    assert "Alice Nguyen owns it." in page["body"]
