"""The client-updates engine part with a clock the test moves: what is recorded and queued
(client_updates, outbox, timers, owner notices), without sending; and `oncall update`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.store import Store, parse_ts

ALERT = Alert(
    client="testco", source="zabbix", severity="critical", summary="SAN offline", host="san1"
)
DANA, SAM = "+13125550199", "+13125550198"
UPDATES = f"""
[client_updates]
every = {{ P1 = "30m" }}
grace = "10m"
[client_updates.templates]
update = "{{company}} #{{number}}: {{message}} (next {{next_update}})"

[[client_updates.contacts]]
name = "Dana Reyes"
phone = "{DANA}"

[[client_updates.contacts]]
name = "Sam Ortiz"
phone = "{SAM}"
priorities = ["P2"]
"""


def make_engine(tmp_path: Path, tables: str = UPDATES) -> Engine:
    config = write_config(tmp_path, ack="5m", tables=tables, daemon='company = "Northwind IT"\n')
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    return Engine(
        catalog, Store(tmp_path / "oncall.db", durable=False), None, FakeClock(AFTER_HOURS)
    )


@pytest.fixture
def engine(tmp_path) -> Engine:
    return make_engine(tmp_path)


def pending(engine: Engine, kind: str) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == kind]


def fire(engine: Engine, kind: str) -> None:
    (timer,) = pending(engine, kind)
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))


def acknowledged(engine: Engine, actor: str = "alice") -> dict:
    engine.receive_alert(ALERT, b"{}")
    with engine.store.transaction():
        incident = engine.store.incident(1)
        assert incident is not None
        engine.acknowledge(incident, actor, engine.clock.now())
    return engine.store.incident(1)  # type: ignore[return-value]


def notices(engine: Engine) -> list[tuple[str, str]]:
    return [(p["tech_id"], p["body"]) for p in engine.store.pages_for(1) if p["kind"] == "notice"]


def updates(engine: Engine) -> list[dict]:
    return engine.store.all("SELECT * FROM client_updates ORDER BY id")


def test_first_acknowledgment_sends_the_first_message_once(engine: Engine) -> None:
    incident = acknowledged(engine)
    (first,) = updates(engine)
    assert (first["kind"], first["author"]) == ("first", "oncall")
    assert parse_ts(first["next_due_at"]) == AFTER_HOURS + timedelta(minutes=30)
    assert "Next update by 02:30 CST" in first["body"] and "Northwind IT" in first["body"]
    outbox = engine.store.all("SELECT * FROM outbox")
    assert [(r["to_name"], r["phone"], r["state"]) for r in outbox] == [
        ("Dana Reyes", DANA, "pending")  # Sam only hears about P2
    ]
    assert [t["ref"] for t in pending(engine, "outbox_send")] == [outbox[0]["id"]]
    (due,) = pending(engine, "update_due")
    assert parse_ts(due["due_at"]) == AFTER_HOURS + timedelta(minutes=30)
    # A later acknowledgment (e.g. engineering after ESC) sends nothing new.
    with engine.store.transaction():
        engine.client_comms.acknowledged(incident["id"], engine.clock.now())
    assert len(updates(engine)) == 1


def test_no_first_message_without_cadence_or_phone_contacts(tmp_path) -> None:
    no_p1 = UPDATES.replace('every = { P1 = "30m" }', 'every = { P2 = "1h" }')
    engine = make_engine(tmp_path, no_p1)
    acknowledged(engine)
    assert updates(engine) == [] and pending(engine, "update_due") == []


def test_update_is_forwarded_and_chases_the_named_time(engine: Engine) -> None:
    incident = acknowledged(engine)
    engine.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    with engine.store.transaction():
        handled, answer, timers = engine.client_comms.update(
            incident,
            "alice",
            "Disk swapped; call 555-000-1001. Next update in 20m",
            engine.clock.now(),
        )
    assert handled == "upd"
    assert answer == "Sent to 1 TestCo contact. Next update due 02:25 CST."
    body = updates(engine)[-1]["body"]
    assert body == "Northwind IT #1: Disk swapped; call [number removed]. (next 02:25 CST)"
    assert len(timers) == 2  # the SMS and the reminder
    # The first message's reminder is now stale; the new one is at the named time.
    first_due, new_due = sorted(pending(engine, "update_due"), key=lambda t: t["id"])
    assert parse_ts(new_due["due_at"]) == AFTER_HOURS + timedelta(minutes=25)
    engine.clock.set(parse_ts(first_due["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(first_due["id"]))
    outcome = engine.store.one("SELECT outcome FROM timers WHERE id = ?", (first_due["id"],))
    assert outcome == {"outcome": "stale"} and notices(engine) == []


def test_empty_update_answers_with_help(engine: Engine) -> None:
    incident = acknowledged(engine)
    handled, answer, timers = engine.client_comms.update(incident, "alice", " ", engine.clock.now())
    assert handled == "upd_help" and answer.startswith("UPD 1 <what is known") and timers == []


def test_missed_update_reminds_owner_then_finals_then_again(engine: Engine) -> None:
    acknowledged(engine)
    fire(engine, "update_due")
    assert notices(engine) == [
        (
            "alice",
            "Client update due for #1 (TestCo): reply UPD 1 "
            "<what is known, next action, next update time>",
        )
    ]
    (overdue,) = pending(engine, "update_overdue")
    assert parse_ts(overdue["due_at"]) == AFTER_HOURS + timedelta(minutes=40)
    fire(engine, "update_overdue")
    assert notices(engine)[-1] == (
        "owner",
        "#1 TestCo: owner Alice Nguyen has not updated the client (due 02:30 CST)",
    )
    (again,) = pending(engine, "update_due")
    assert parse_ts(again["due_at"]) == AFTER_HOURS + timedelta(minutes=60)
    kinds = [e["kind"] for e in engine.store.events(incident_id=1)]
    assert "client_update.due" in kinds and "client_update.missed" in kinds


def test_an_update_within_the_grace_stops_the_overdue_notice(engine: Engine) -> None:
    incident = acknowledged(engine)
    fire(engine, "update_due")
    with engine.store.transaction():
        engine.client_comms.update(incident, "alice", "Still on it", engine.clock.now())
    overdue = pending(engine, "update_overdue")[0]
    engine.clock.set(parse_ts(overdue["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(overdue["id"]))
    assert [t for t, _ in notices(engine)] == ["alice"]  # no final contact


def test_resolve_sends_the_closing_message_and_stops_reminders(engine: Engine) -> None:
    incident = acknowledged(engine)
    with engine.store.transaction():
        handled, answer, timers = engine.resolve(
            incident, "alice", engine.clock.now(), "Replaced the PSU"
        )
    assert answer == "Resolved #1. Closing message sent to 1 TestCo contact."
    closing = updates(engine)[-1]
    assert closing["kind"] == "closing"
    assert (
        closing["body"]
        == "Northwind IT: the issue for TestCo (ref #1) is resolved. Replaced the PSU."
    )
    assert pending(engine, "update_due") == [] and len(timers) == 1


def test_resolve_by_phone_keeps_the_internal_note(engine: Engine) -> None:
    incident = acknowledged(engine)
    with engine.store.transaction():
        engine.resolve(incident, "alice", engine.clock.now(), "by phone")
    assert updates(engine)[-1]["body"].endswith("is resolved.")


def test_no_closing_message_when_the_client_never_heard(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    with engine.store.transaction():
        incident = engine.store.incident(1)
        assert incident is not None
        _, answer, _ = engine.resolve(incident, "alice", engine.clock.now(), "fixed")
    assert answer == "Resolved #1." and updates(engine) == []


def test_update_on_a_resolved_incident_is_refused(engine: Engine) -> None:
    incident = acknowledged(engine)
    with engine.store.transaction():
        engine.resolve(incident, "alice", engine.clock.now(), "")
    handled, answer, _ = engine.client_comms.update(
        engine.store.incident(1), "alice", "late", engine.clock.now()
    )
    assert handled == "already" and "resolved" in answer


def test_update_on_a_resolved_incident_the_client_never_heard_of(engine: Engine) -> None:
    # The client got no closing message, so the answer must not say it did.
    engine.receive_alert(ALERT, b"{}")
    with engine.store.transaction():
        engine.resolve(engine.store.incident(1), "alice", engine.clock.now(), "")
    handled, answer, _ = engine.client_comms.update(
        engine.store.incident(1), "alice", "late", engine.clock.now()
    )
    assert handled == "already" and answer == "#1 is already resolved; nothing sent."


def test_a_next_update_time_tomorrow_names_the_day(engine: Engine) -> None:
    # At 02:05 'next update 02:00' is tomorrow 02:00: the client and the tech must not read
    # it as a time that has already passed.
    incident = acknowledged(engine)
    engine.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    with engine.store.transaction():
        _, answer, _ = engine.client_comms.update(
            incident, "alice", "Still on it. next update 02:00", engine.clock.now()
        )
    assert answer == "Sent to 1 TestCo contact. Next update due Sun 02:00 CST."
    assert updates(engine)[-1]["body"] == "Northwind IT #1: Still on it. (next Sun 02:00 CST)"
    # Today's times keep the short form.
    assert "Next update by 02:30 CST" in updates(engine)[0]["body"]


def test_a_very_long_update_is_shortened_to_what_twilio_accepts(engine: Engine) -> None:
    # An SMS may carry 1600 characters; the client text adds the template around the
    # tech's words, so it must be cut to fit (Twilio refuses longer bodies, error 21617)
    # while the "next update" promise stays, and no half tech number is left behind.
    incident = acknowledged(engine)
    text = "word " * 300 + "call 555-000-1001 " + "more " * 20
    with engine.store.transaction():
        handled, _, _ = engine.client_comms.update(incident, "alice", text, engine.clock.now())
    assert handled == "upd"
    body = updates(engine)[-1]["body"]
    assert len(body) <= 1600 and body.endswith("(next 02:30 CST)")
    assert "..." in body and "555-000" not in body
    (row,) = [r for r in engine.store.all("SELECT * FROM outbox") if r["body"] == body]
    assert row["phone"] == DANA


# --------------------------------------------------------------------------- oncall update


def test_cli_update_records_and_queues(tmp_path) -> None:
    engine = make_engine(tmp_path)
    acknowledged(engine)
    engine.store.close()
    result = CliRunner().invoke(
        main,
        [
            "update",
            "1",
            "Vendor on site, next update in 45m",
            "--as",
            "alice",
            "--config",
            str(tmp_path / "config.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Sent to 1 TestCo contact. Next update due ")
    with Store(tmp_path / "oncall.db") as store:
        row = store.one("SELECT * FROM client_updates ORDER BY id DESC LIMIT 1")
        assert row is not None and row["author"] == "alice" and "Vendor on site" in row["body"]


def test_cli_update_errors(tmp_path) -> None:
    engine = make_engine(tmp_path)
    acknowledged(engine)
    engine.store.close()
    config = str(tmp_path / "config.toml")
    unknown = CliRunner().invoke(main, ["update", "1", "x", "--as", "zed", "--config", config])
    assert unknown.exit_code == 2 and "unknown tech" in unknown.output
    missing = CliRunner().invoke(main, ["update", "9", "x", "--as", "alice", "--config", config])
    assert missing.exit_code == 1 and "no incident #9" in missing.output
