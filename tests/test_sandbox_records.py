"""What the sandbox peer records: injected failures, on_message hooks, waiting for a message."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sandbox_servers import ALICE, BOB, SID, TOKEN, TWILIO_NUMBER, WAIT, run, sandbox, send_sms

from oncall.sandbox import SandboxPeer
from oncall.sandbox_records import MessageRecord

# --- failure injection -----------------------------------------------------------------


def test_fail_next_validates_arguments() -> None:
    peer = SandboxPeer(SID, TOKEN, echo=None)
    with pytest.raises(ValueError, match="count"):
        peer.fail_next(None, 0, "http_500")
    with pytest.raises(ValueError, match="mode"):
        peer.fail_next(None, 1, "boom")  # type: ignore[arg-type]


# --- observation -------------------------------------------------------------------------


def test_wait_for_message_wakes_on_arrival() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            waiting = asyncio.create_task(
                box.peer.wait_for_message(lambda m: "ACK" in m.body, WAIT)
            )
            await asyncio.sleep(0)
            await asyncio.to_thread(send_sms, box, ALICE, "PAGE 3")
            await asyncio.to_thread(send_sms, box, BOB, "reply ACK 3")
            record = await waiting
            assert record.to == BOB
            # Already-recorded messages match at once; `start` skips earlier ones.
            assert (await box.peer.wait_for_message(lambda m: True, 0.01)).body == "PAGE 3"
            with pytest.raises(TimeoutError):
                await box.peer.wait_for_message(lambda m: m.to == ALICE, 0.01, start=1)

    run(scenario())


def test_wait_for_message_timeout_lists_what_arrived() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            with pytest.raises(TimeoutError, match="received no messages"):
                await box.peer.wait_for_message(lambda m: True, 0.01)
            sent = await asyncio.to_thread(send_sms, box, ALICE, "PAGE 12")
            with pytest.raises(TimeoutError) as info:
                await box.peer.wait_for_message(lambda m: m.to == BOB, 0.05)
            text = str(info.value)
            assert "within 0.05s" in text
            assert "received 1" in text
            assert sent.sid in text and ALICE in text and "PAGE 12" in text
            assert box.peer._waiters == []

    run(scenario())


def test_wait_for_message_sync_from_another_thread() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            waiter = asyncio.create_task(
                asyncio.to_thread(box.peer.wait_for_message_sync, lambda m: m.to == BOB, WAIT)
            )
            await asyncio.sleep(0.01)
            await asyncio.to_thread(send_sms, box, BOB, "PAGE 5")
            record = await waiter
            assert record.body == "PAGE 5"
            with pytest.raises(RuntimeError, match="block a running event loop"):
                box.peer.wait_for_message_sync(lambda m: True, 0.01)
            with pytest.raises(TimeoutError, match="received 1"):
                await asyncio.to_thread(box.peer.wait_for_message_sync, lambda m: False, 0.01)

    run(scenario())


def test_on_message_hooks_and_listing_endpoint() -> None:
    seen: list[tuple[str, str]] = []

    def hook(record: MessageRecord) -> None:
        seen.append((record.sid, threading.current_thread().name))

    def broken(record: MessageRecord) -> None:
        raise RuntimeError("observer bug")

    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            box.peer.on_message.extend([broken, hook])
            message = await asyncio.to_thread(send_sms, box, ALICE, "PAGE 9")
            assert [sid for sid, _ in seen] == [message.sid]
            listing = (await http.get(box.server.url + "/_sandbox/messages")).json()
            assert [(m["sid"], m["to"], m["body"]) for m in listing] == [
                (message.sid, ALICE, "PAGE 9")
            ]
            assert listing[0]["params"]["From"] == TWILIO_NUMBER

    run(scenario())
