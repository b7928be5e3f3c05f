"""The engine with a clock the test moves: escalation timing without sleeping or sending."""

from __future__ import annotations

import asyncio
from datetime import timedelta

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


@pytest.fixture
def engine(tmp_path) -> Engine:
    catalog = load_catalog(
        write_config(tmp_path, ack="5m", repeats=0), {"ONCALL_TEST_SECRET": SECRET}
    )
    return Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))


def pending(engine: Engine, kind: str) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == kind]


def fire_step_timeout(engine: Engine) -> None:
    (timer,) = pending(engine, "step_timeout")
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))


def page_targets(engine: Engine, number: int) -> list[tuple[str, str]]:
    return [(p["tech_id"], p["kind"]) for p in engine.store.pages_for(number)]


def test_an_after_hours_emergency_queues_a_page_and_a_deadline(engine: Engine) -> None:
    outcome = engine.receive_alert(ALERT, b"{}")
    assert outcome.decision.action == "page" and outcome.incident_id == 1
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0].id
    assert page_targets(engine, 1) == [(primary, "page")]
    (deadline,) = pending(engine, "step_timeout")
    assert parse_ts(deadline["due_at"]) == AFTER_HOURS + timedelta(minutes=5)
    assert [parse_ts(t["due_at"]) for t in pending(engine, "send")] == [AFTER_HOURS]
    assert engine.store.incident(1)["state"] == "paging"


def test_timeouts_walk_the_chain_then_page_the_final_contacts(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0].id
    backup = engine.catalog.on_call("backup", AFTER_HOURS)[0].id
    fire_step_timeout(engine)
    assert page_targets(engine, 1) == [(primary, "page"), (backup, "page")]
    assert engine.store.incident(1)["step_index"] == 1
    fire_step_timeout(engine)
    assert page_targets(engine, 1)[-1] == ("owner", "exhausted")
    assert engine.store.incident(1)["state"] == "exhausted"
    assert pending(engine, "step_timeout") == []


def test_repeats_walk_the_chain_again_before_giving_up(tmp_path) -> None:
    catalog = load_catalog(
        write_config(tmp_path, ack="5m", repeats=1), {"ONCALL_TEST_SECRET": SECRET}
    )
    engine = Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))
    engine.receive_alert(ALERT, b"{}")
    for _ in range(3):
        fire_step_timeout(engine)
    assert (
        engine.store.incident(1)["pass_number"] == 1
        and engine.store.incident(1)["state"] == "paging"
    )
    fire_step_timeout(engine)
    assert engine.store.incident(1)["state"] == "exhausted"
    assert [k for _, k in page_targets(engine, 1)] == ["page"] * 4 + ["exhausted"]


def test_acknowledgment_cancels_the_deadline_and_unsent_pages(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    (deadline,) = pending(engine, "step_timeout")
    with engine.store.transaction():
        handled, answer, _ = engine.acknowledge(
            engine.store.incident(1), "alice", engine.clock.now()
        )
    assert handled == "ack" and "Acknowledged #1" in answer
    assert engine.store.pending_timers() == []
    assert {p["state"] for p in engine.store.pages_for(1)} == {"cancelled"}
    # A deadline that was already in flight finds the incident acknowledged and does nothing.
    asyncio.run(engine._fire(deadline["id"]))
    assert len(engine.store.pages_for(1)) == 1


def test_a_stale_deadline_for_an_earlier_step_does_nothing(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    (first,) = pending(engine, "step_timeout")
    fire_step_timeout(engine)
    engine.store.conn.execute("UPDATE timers SET done_at = NULL WHERE id = ?", (first["id"],))
    asyncio.run(engine._fire(first["id"]))
    assert engine.store.incident(1)["step_index"] == 1
    assert (
        engine.store.one("SELECT outcome FROM timers WHERE id = ?", (first["id"],))["outcome"]
        == "stale"
    )


def test_nobody_on_call_skips_to_the_final_contacts_at_once(tmp_path) -> None:
    config = write_config(tmp_path, ack="5m")
    empty = tmp_path / "empty-rotations"
    empty.mkdir()
    for name in ("primary", "backup"):
        (empty / f"{name}.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
        )
    text = config.read_text()
    config.write_text(text.replace(text.split("rotations_dir = ")[1].split("\n")[0], f'"{empty}"'))
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    engine = Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))
    engine.receive_alert(ALERT, b"{}")
    assert engine.store.incident(1)["state"] == "exhausted"
    assert page_targets(engine, 1) == [("owner", "exhausted")]
    skipped = engine.store.all("SELECT message FROM events WHERE kind = 'escalation.skipped'")
    assert len(skipped) == 2 and "nobody on call" in skipped[0]["message"]


def test_queue_and_desk_decisions_open_no_incident(engine: Engine) -> None:
    quiet = Alert(client="testco", source="zabbix", severity="warning", summary="Disk 81%")
    outcome = engine.receive_alert(quiet, b"{}")
    assert outcome.decision.action == "queue" and outcome.incident_id is None
    assert engine.store.one("SELECT count(*) AS n FROM incidents")["n"] == 0
    decision = engine.store.one("SELECT kind FROM events WHERE kind LIKE 'decision.%'")
    assert decision == {"kind": "decision.queue"}


def make_engine(tmp_path, **options) -> Engine:
    catalog = load_catalog(
        write_config(tmp_path, ack="5m", **options), {"ONCALL_TEST_SECRET": SECRET}
    )
    return Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(AFTER_HOURS))


def alert(summary: str, *, host: str = "san1", key: str = "", status: str = "triggered") -> Alert:
    return Alert(
        client="testco",
        source="zabbix",
        severity="critical",
        summary=summary,
        host=host,
        dedup_key=key,
        status=status,
    )


def test_the_same_condition_folds_into_the_open_incident(engine: Engine) -> None:
    first = engine.receive_alert(alert("SAN offline", key="san1-offline"), b"{}")
    engine.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    again = engine.receive_alert(alert("SAN offline (still)", key="san1-offline"), b"{}")
    assert again.incident_id == first.incident_id == 1
    incident = engine.store.incident(1)
    assert incident["alert_count"] == 2 and incident["summary"] == "SAN offline"
    assert len(engine.store.pages_for(1)) == 1
    folded = engine.store.one("SELECT message FROM events WHERE kind = 'incident.folded'")
    assert "same condition" in folded["message"] and "not paged again" in folded["message"]


def test_a_storm_becomes_one_incident(engine: Engine) -> None:
    for i in range(14):
        engine.receive_alert(alert(f"Host {i} unreachable", host=f"srv{i}"), b"{}")
        engine.clock.advance(timedelta(seconds=10))  # type: ignore[attr-defined]
    assert engine.store.one("SELECT count(*) AS n FROM incidents")["n"] == 1
    incident = engine.store.incident(1)
    assert incident["alert_count"] == 14
    assert incident["summary"].startswith("14 alerts at TestCo in 2 min: Host 0 unreachable")
    assert len(engine.store.pages_for(1)) == 1
    # The next step's page carries the storm summary.
    fire_step_timeout(engine)
    assert "14 alerts at TestCo" in engine.store.pages_for(1)[-1]["body"]
    # Past the group window, a new condition opens a new incident.
    engine.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    assert engine.receive_alert(alert("Firewall down", host="fw1"), b"{}").incident_id == 2


def test_resolved_alert_without_auto_resolve_leaves_the_incident_open(engine: Engine) -> None:
    engine.receive_alert(alert("SAN offline", key="k1"), b"{}")
    outcome = engine.receive_alert(alert("SAN back", key="k1", status="resolved"), b"{}")
    assert outcome.decision.action == "record" and outcome.incident_id == 1
    assert engine.store.incident(1)["state"] == "paging"
    assert engine.store.one("SELECT 1 AS x FROM events WHERE kind = 'incident.monitoring_resolved'")


def test_auto_resolve_resolves_and_tells_the_paged_techs(tmp_path) -> None:
    engine = make_engine(tmp_path, auto_resolve=True)
    engine.receive_alert(alert("SAN offline", key="k1"), b"{}")
    fire_step_timeout(engine)
    engine.receive_alert(alert("SAN back", key="k1", status="resolved"), b"{}")
    incident = engine.store.incident(1)
    assert incident["state"] == "resolved" and incident["resolved_by"] == "monitoring"
    notices = [p for p in engine.store.pages_for(1) if p["kind"] == "notice"]
    assert len(notices) == 2 and all("RESOLVED #1" in p["body"] for p in notices)
    assert all(p["state"] == "pending" for p in notices)  # still to be sent
    assert pending(engine, "step_timeout") == []
    # An unrelated resolved alert touches nothing.
    assert (
        engine.receive_alert(alert("x", key="other", status="resolved"), b"{}").incident_id is None
    )


def test_paging_budget_holds_pages_skips_the_step_and_tells_final_contacts_once(tmp_path) -> None:
    engine = make_engine(tmp_path, defaults="tech_pages_per_hour = 2\ngroup_window = 0\n")
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0].id
    backup = engine.catalog.on_call("backup", AFTER_HOURS)[0].id
    for i in range(4):
        engine.receive_alert(alert(f"Host {i} down", host=f"h{i}"), b"{}")
    third = [p for p in engine.store.pages_for(3) if p["kind"] == "page"]
    assert [(p["tech_id"], p["state"]) for p in third] == [
        (primary, "suppressed"),
        (backup, "pending"),
    ]
    assert engine.store.incident(3)["step_index"] == 1  # moved on at once
    told = [p for p in engine.store.all("SELECT * FROM pages WHERE kind = 'notice'")]
    assert [(p["tech_id"], p["incident_id"]) for p in told] == [("owner", 3)]
    assert "paging budget" in told[0]["body"]
    assert engine.store.pages_for(4)[0]["state"] == "suppressed"
    # An hour later the budget is back.
    engine.clock.advance(timedelta(hours=1, seconds=1))  # type: ignore[attr-defined]
    engine.receive_alert(alert("Host 9 down", host="h9"), b"{}")
    assert engine.store.pages_for(5)[0]["state"] == "pending"


def test_a_different_emergency_joining_an_acknowledged_incident_tells_its_owner(tmp_path) -> None:
    engine = make_engine(tmp_path)
    engine.receive_alert(alert("SAN offline", key="san"), b"{}")
    with engine.store.transaction():
        engine.acknowledge(engine.store.incident(1), "alice", engine.clock.now())
    sop_rule = engine.catalog.sops["testco"].emergencies[0].id
    # Same rule (the test SOP has one rule): joins silently, nobody woken again.
    engine.receive_alert(alert("Switch down", host="sw1"), b"{}")
    assert [p for p in engine.store.pages_for(1) if p["kind"] == "notice"] == []
    # A storm alert classified under another rule tells the owner once.
    from oncall.classify import Decision

    other = Decision("page", "test", "closed", "fire-alarm", "P1", None)
    assert other.rule_id != sop_rule
    with engine.store.transaction():
        for summary in ("Server room smoke alarm", "Smoke alarm again"):
            fold = engine.intake._page_or_fold(
                engine.catalog.sops["testco"],
                alert(summary, host="fa"),
                99,
                other,
                engine.clock.now(),
            )
    notices = [p for p in engine.store.pages_for(1) if p["kind"] == "notice"]
    assert [(p["tech_id"], "Server room smoke alarm" in p["body"]) for p in notices] == [
        ("alice", True)
    ]
    assert fold[0] == 1
