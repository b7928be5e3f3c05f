"""Delivery after a crash mid-send: ask Twilio (the sandbox peer, through the real SDK) whether
the page got there before sending it again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from harness import SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import SystemClock
from oncall.engine import Engine
from oncall.notify import Notifier
from oncall.sandbox import SandboxPeer
from oncall.serving import start_server
from oncall.store import Store, utcnow_text

BODY = "[P1] TestCo: SAN offline #1 Reply ACK 1"


async def interrupted_send(
    tmp_path, *, twilio_has_it: bool, channel: str = "sms"
) -> tuple[list[str], dict, list[str]]:
    catalog = load_catalog(write_config(tmp_path), {"ONCALL_TEST_SECRET": SECRET})
    settings = catalog.config.twilio
    peer = SandboxPeer(settings.account_sid, settings.auth_token, echo=None)
    server = await start_server(peer.app, "127.0.0.1", 0)
    notifier = Notifier(settings, api_base_url=server.url)
    store = Store(tmp_path / "d.db", durable=False)
    engine = Engine(catalog, store, notifier, SystemClock())
    phone = catalog.techs["alice"].phone
    try:
        dead = "http://127.0.0.1:9/twilio"  # nobody answers: the call only has to exist
        if twilio_has_it and channel == "voice":  # the crash came after Twilio took the call
            await notifier.place_call(phone, url=dead, status_callback=dead)
        elif twilio_has_it:  # the crash came after Twilio accepted the message
            await notifier.send_sms(phone, BODY, status_callback=None)
        now = datetime.now(UTC)
        with store.transaction():
            store.insert(
                "incidents",
                {
                    "client": "testco",
                    "summary": "SAN offline",
                    "state": "paging",
                    "opened_at": utcnow_text(now),
                },
            )
            store.insert(
                "pages",
                {
                    "incident_id": 1,
                    "tech_id": "alice",
                    "phone": phone,
                    "channel": channel,
                    "kind": "page",
                    "pass_number": 0,
                    "step_index": 0,
                    "body": BODY,
                    "state": "sending",
                    "created_at": utcnow_text(now),
                    "updated_at": utcnow_text(now),
                },
            )
            store.insert(
                "timers", {"kind": "send", "incident_id": 1, "ref": 1, "due_at": utcnow_text(now)}
            )
        await engine._fire(1)
        page = store.pages_for(1)[0]
        kinds = [e["kind"] for e in store.events()]
        records = peer.calls if channel == "voice" else peer.messages
        return [r.to for r in records], page, kinds
    finally:
        await notifier.close()
        await server.stop()
        await peer.aclose()
        store.close()


@pytest.mark.parametrize("twilio_has_it", [True, False])
def test_an_interrupted_send_is_sent_exactly_once(tmp_path, twilio_has_it: bool) -> None:
    sent_to, page, kinds = asyncio.run(interrupted_send(tmp_path, twilio_has_it=twilio_has_it))
    assert len(sent_to) == 1
    assert page["state"] == "sent" and page["twilio_sid"].startswith("SM")
    assert ("page.recovered" if twilio_has_it else "page.resend") in kinds


@pytest.mark.parametrize("twilio_has_it", [True, False])
def test_an_interrupted_call_is_placed_exactly_once(tmp_path, twilio_has_it: bool) -> None:
    called, page, kinds = asyncio.run(
        interrupted_send(tmp_path, twilio_has_it=twilio_has_it, channel="voice")
    )
    assert len(called) == 1
    assert page["state"] == "sent" and page["twilio_sid"].startswith("CA")
    assert ("page.recovered" if twilio_has_it else "page.resend") in kinds


async def answer_lost(tmp_path) -> tuple[list[str], dict, list[str]]:
    """Twilio creates the message but its answer never arrives (the request times out)."""
    config = write_config(tmp_path, extra_twilio='request_timeout = "1s"\n')
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    settings = catalog.config.twilio
    peer = SandboxPeer(settings.account_sid, settings.auth_token, echo=None)
    peer.lost_answer_delay = 2.0
    server = await start_server(peer.app, "127.0.0.1", 0)
    notifier = Notifier(settings, api_base_url=server.url)
    store = Store(tmp_path / "d.db", durable=False)
    engine = Engine(catalog, store, notifier, SystemClock())
    phone = catalog.techs["alice"].phone
    peer.fail_next(phone, 1, "lost_answer")
    try:
        now = datetime.now(UTC)
        with store.transaction():
            store.insert(
                "incidents",
                {
                    "client": "testco",
                    "summary": "SAN offline",
                    "state": "paging",
                    "opened_at": utcnow_text(now),
                },
            )
            store.insert(
                "pages",
                {
                    "incident_id": 1,
                    "tech_id": "alice",
                    "phone": phone,
                    "channel": "sms",
                    "kind": "page",
                    "pass_number": 0,
                    "step_index": 0,
                    "body": BODY,
                    "state": "pending",
                    "created_at": utcnow_text(now),
                    "updated_at": utcnow_text(now),
                },
            )
            store.insert(
                "timers", {"kind": "send", "incident_id": 1, "ref": 1, "due_at": utcnow_text(now)}
            )
        await engine._fire(1)  # times out: Twilio has it, we do not know
        assert store.pages_for(1)[0]["state"] == "pending"
        (retry,) = [t for t in store.pending_timers() if t["kind"] == "send"]
        await engine._fire(retry["id"])  # the retry asks Twilio first
        return (
            [r.to for r in peer.messages],
            store.pages_for(1)[0],
            [e["kind"] for e in store.events()],
        )
    finally:
        await notifier.close()
        await server.stop()
        await peer.aclose()
        store.close()


def test_a_send_whose_answer_was_lost_is_not_sent_again_on_retry(tmp_path) -> None:
    sent_to, page, kinds = asyncio.run(answer_lost(tmp_path))
    assert len(sent_to) == 1  # one SMS reached the phone
    assert page["state"] == "sent" and page["twilio_sid"].startswith("SM")
    assert "page.retry" in kinds and "page.recovered" in kinds and "page.resend" not in kinds


def test_only_failures_after_the_request_went_out_are_unknown() -> None:
    import aiohttp

    from oncall.notify import NO_ANSWER, _send_error

    timed_out = _send_error(TimeoutError())
    assert timed_out.transient and timed_out.unknown and str(timed_out).startswith(NO_ANSWER)
    refused = _send_error(aiohttp.ClientConnectorError(None, OSError(111, "refused")))  # type: ignore[arg-type]
    assert refused.transient and not refused.unknown
