"""The outbox against the sandbox Twilio peer (real SDK) with a clock the test moves: sending,
retrying transient errors, giving up loudly, crash recovery and status callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.notify import Notifier
from oncall.outbox import OUTBOX_SEND
from oncall.sandbox import SandboxPeer
from oncall.serving import start_server
from oncall.store import Store, parse_ts, utcnow_text

DANA = "+13125550199"
BODY = "Northwind IT: we are working on an urgent issue for TestCo (ref #1)."
ALERT = Alert(
    client="testco", source="zabbix", severity="critical", summary="SAN offline", host="san1"
)


@asynccontextmanager
async def sandboxed(tmp_path: Path) -> AsyncIterator[tuple[Engine, SandboxPeer]]:
    catalog = load_catalog(write_config(tmp_path, ack="5m"), {"ONCALL_TEST_SECRET": SECRET})
    settings = catalog.config.twilio
    peer = SandboxPeer(settings.account_sid, settings.auth_token, echo=None)
    server = await start_server(peer.app, "127.0.0.1", 0)
    notifier = Notifier(settings, api_base_url=server.url)
    store = Store(tmp_path / "o.db", durable=False)
    engine = Engine(catalog, store, notifier, FakeClock(AFTER_HOURS))
    try:
        yield engine, peer
    finally:
        await notifier.close()
        await server.stop()
        await peer.aclose()
        store.close()


def owned_incident(engine: Engine) -> None:
    engine.receive_alert(ALERT, b"{}")
    with engine.store.transaction():
        incident = engine.store.incident(1)
        assert incident is not None
        engine.acknowledge(incident, "alice", engine.clock.now())


def queue(engine: Engine, incident_id: int | None = 1) -> int:
    with engine.store.transaction():
        engine.outbox.queue_sms(
            incident_id, "testco", "client_update", 7, "Dana Reyes", DANA, BODY, engine.clock.now()
        )
    return engine.store.one("SELECT MAX(id) AS id FROM outbox")["id"]  # type: ignore[index]


async def fire_all(engine: Engine) -> None:
    """Fire every pending outbox timer in due order, moving the clock to each."""
    while timers := [t for t in engine.store.pending_timers() if t["kind"] == OUTBOX_SEND]:
        engine.clock.set(parse_ts(timers[0]["due_at"]))  # type: ignore[attr-defined]
        await engine._fire(timers[0]["id"])


def run(test: Callable[[Engine, SandboxPeer], Awaitable[Any]], tmp_path: Path) -> Any:
    async def body() -> Any:
        async with sandboxed(tmp_path) as (engine, peer):
            return await test(engine, peer)

    return asyncio.run(body())


def notices(engine: Engine) -> list[tuple[str, str]]:
    return [(p["tech_id"], p["body"]) for p in engine.store.pages_for(1) if p["kind"] == "notice"]


def kinds(engine: Engine) -> list[str]:
    return [e["kind"] for e in engine.store.events()]


def test_queue_and_send(tmp_path) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        owned_incident(engine)
        outbox_id = queue(engine)
        (timer,) = [t for t in engine.store.pending_timers() if t["kind"] == OUTBOX_SEND]
        assert (timer["incident_id"], timer["ref"]) == (1, outbox_id)
        await fire_all(engine)
        row = engine.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        assert row is not None and row["state"] == "sent" and row["attempts"] == 1
        assert [(m.to, m.body) for m in peer.messages if m.to == DANA] == [(DANA, BODY)]
        assert f"/twilio/status?outbox={outbox_id}" in (peer.messages[-1].status_callback or "")
        assert "outbox.sent" in kinds(engine)

    run(test, tmp_path)


def test_transient_errors_are_retried_with_backoff_then_given_up(tmp_path) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        owned_incident(engine)
        peer.fail_next(DANA, 3, "http_500")
        outbox_id = queue(engine)
        start = engine.clock.now()
        await fire_all(engine)
        retries = engine.store.all(
            "SELECT due_at FROM timers WHERE kind = ? ORDER BY id", (OUTBOX_SEND,)
        )
        assert [parse_ts(r["due_at"]) - start for r in retries] == [
            timedelta(0),
            timedelta(seconds=2),
            timedelta(seconds=2 + 4),
        ]
        row = engine.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        assert row is not None and (row["state"], row["attempts"]) == ("failed", 3)
        assert kinds(engine).count("outbox.retry") == 2 and "outbox.failed" in kinds(engine)
        ((tech, body),) = notices(engine)
        assert tech == "alice"
        assert body.startswith("Update to Dana Reyes (TestCo) could not be delivered: ")

    run(test, tmp_path)


def test_one_transient_error_then_sent(tmp_path) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        owned_incident(engine)
        peer.fail_next(DANA, 1, "http_500")
        outbox_id = queue(engine)
        await fire_all(engine)
        row = engine.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        assert row is not None and (row["state"], row["attempts"]) == ("sent", 2)
        assert notices(engine) == []

    run(test, tmp_path)


@pytest.mark.parametrize("twilio_has_it", [True, False])
def test_an_interrupted_send_is_sent_exactly_once(tmp_path, twilio_has_it: bool) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        assert engine.notifier is not None
        # Twilio's records carry its own clock: recovery looks back from our clock's time.
        engine.clock.set(datetime.now(UTC))  # type: ignore[attr-defined]
        if twilio_has_it:  # the crash came after Twilio accepted the message
            await engine.notifier.send_sms(DANA, BODY, status_callback=None)
        outbox_id = queue(engine, None)
        with engine.store.transaction():
            engine.store.update(
                "outbox",
                outbox_id,
                {"state": "sending", "updated_at": utcnow_text(engine.clock.now())},
            )
        await fire_all(engine)
        row = engine.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        assert row is not None and row["state"] == "sent" and row["twilio_sid"].startswith("SM")
        assert [m.to for m in peer.messages] == [DANA]
        assert ("outbox.recovered" if twilio_has_it else "outbox.resend") in kinds(engine)

    run(test, tmp_path)


def test_status_callbacks(tmp_path) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        owned_incident(engine)
        delivered, undelivered = queue(engine), queue(engine)
        await fire_all(engine)
        sid = engine.store.one("SELECT twilio_sid FROM outbox WHERE id = ?", (delivered,))
        engine.outbox.receive_status(
            delivered, {"MessageSid": sid["twilio_sid"], "MessageStatus": "delivered"}
        )
        engine.outbox.receive_status(
            undelivered, {"MessageStatus": "undelivered", "ErrorCode": "30003"}
        )
        engine.outbox.receive_status(999, {"MessageStatus": "delivered"})  # logged only
        states = engine.store.all("SELECT state, twilio_status FROM outbox ORDER BY id")
        assert states == [
            {"state": "delivered", "twilio_status": "delivered"},
            {"state": "failed", "twilio_status": "undelivered"},
        ]
        ((tech, body),) = notices(engine)
        assert tech == "alice" and "could not be delivered: Twilio reported undelivered" in body
        # A late repeat of the failure does not tell the owner twice.
        engine.outbox.receive_status(undelivered, {"MessageStatus": "failed"})
        assert len(notices(engine)) == 1
        assert kinds(engine).count("outbox.status") == 4

    run(test, tmp_path)


def test_a_failure_without_incident_is_only_logged(tmp_path) -> None:
    async def test(engine: Engine, peer: SandboxPeer) -> None:
        with engine.store.transaction():
            timers = engine.outbox.queue_sms(
                None, None, "digest", 3, None, "+1555", BODY, engine.clock.now()
            )
        (timer,) = [t for t in engine.store.pending_timers() if t["id"] == timers[0][0]]
        assert timer["incident_id"] == 0
        await fire_all(engine)
        row = engine.store.one("SELECT * FROM outbox")
        assert row is not None and row["state"] == "failed"  # not a valid number: definite
        assert "outbox.failed" in kinds(engine) and engine.store.all("SELECT * FROM pages") == []

    run(test, tmp_path)
