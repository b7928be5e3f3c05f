"""The sandbox Twilio peer, driven by the real twilio SDK over HTTP on 127.0.0.1.

Servers run in the test's own event loop (``oncall.serving.start_server`` on port 0); the
blocking SDK client runs in a worker thread via ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from oncall.sandbox import (
    MessageRecord,
    SandboxPeer,
    inbound_sms_params,
    send_inbound_sms,
    send_inbound_sms_sync,
    sign_request,
    sms_segments,
)
from oncall.serving import RunningServer, start_server

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"
ALICE = "+15550001001"
BOB = "+15550001002"
TWILIO_NUMBER = "+15550009999"
NAMES = {ALICE: "Alice Nguyen", BOB: "Bob Okafor"}
WAIT = 5.0

T = TypeVar("T")

# twilio 9.x's AsyncTwilioHttpClient still passes aiohttp.BasicAuth / auth=, which aiohttp 3.14
# deprecates; that is the SDK's business, not something these tests can act on.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion in a fresh loop (pytest-asyncio is not used)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


@dataclass
class Sandbox:
    peer: SandboxPeer
    server: RunningServer
    echoed: list[str]

    def client(self, token: str = TOKEN) -> Client:
        """A blocking SDK client pointed at the peer."""
        client = Client(SID, token)
        client.api.base_url = self.server.url
        return client


@asynccontextmanager
async def sandbox(**kwargs: Any) -> AsyncIterator[Sandbox]:
    echoed: list[str] = []
    peer = SandboxPeer(SID, TOKEN, echo=echoed.append, names=NAMES, **kwargs)
    server = await start_server(peer.app, "127.0.0.1", 0)
    try:
        yield Sandbox(peer, server, echoed)
    finally:
        await server.stop()
        await peer.aclose()


@asynccontextmanager
async def async_client(box: Sandbox) -> AsyncIterator[Client]:
    http_client = AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http_client)
    client.api.base_url = box.server.url
    try:
        yield client
    finally:
        await http_client.close()


@dataclass
class Received:
    url: str
    params: dict[str, str]
    signature: str

    @property
    def valid(self) -> bool:
        return RequestValidator(TOKEN).validate(self.url, self.params, self.signature)


@dataclass
class Receiver:
    """A tiny webhook receiver standing in for the daemon: records each signed POST."""

    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    server: RunningServer | None = None

    async def handle(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.queue.put_nowait(
            Received(str(request.url), form, request.headers.get("X-Twilio-Signature", ""))
        )
        return PlainTextResponse("", status_code=204)

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.url + path

    async def next(self) -> Received:
        return await asyncio.wait_for(self.queue.get(), WAIT)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = Starlette(routes=[Route("/{path:path}", recv.handle, methods=["POST"])])
    recv.server = await start_server(app, "127.0.0.1", 0)
    try:
        yield recv
    finally:
        await recv.server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_sms(box: Sandbox, to: str = ALICE, body: str = "PAGE 12", **kwargs: Any) -> Any:
    return box.client().messages.create(to=to, from_=TWILIO_NUMBER, body=body, **kwargs)


# --- serving -----------------------------------------------------------------------------


def test_start_server_on_port_zero_serves_and_stops() -> None:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])

    async def scenario() -> None:
        server = await start_server(app, "127.0.0.1", 0)
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url + "/")).text == "hello"
        await server.stop()
        assert not server.running
        await server.stop()  # idempotent
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(server.url + "/")

    run(scenario())


def test_start_server_bind_failure_raises_oserror() -> None:
    app = Starlette()

    async def scenario() -> None:
        async with await start_server(app, "127.0.0.1", 0) as first:
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{first.port}"):
                await asyncio.wait_for(start_server(app, "127.0.0.1", first.port), WAIT)

    run(scenario())


def test_start_server_reports_a_failing_lifespan_instead_of_exiting() -> None:
    @asynccontextmanager
    async def broken_lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("database missing")
        yield

    app = Starlette(lifespan=broken_lifespan)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="failed to start"):
            await asyncio.wait_for(start_server(app, "127.0.0.1", 0), WAIT)

    run(scenario())


# --- sending SMS with the real SDK ---------------------------------------------------------


def test_sync_sdk_client_sends_sms() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            message = await asyncio.to_thread(send_sms, box, ALICE, "PAGE 12: ACME ERP down")
            assert message.sid.startswith("SM") and len(message.sid) == 34
            assert message.status == "queued"
            assert message.to == ALICE
            assert message.from_ == TWILIO_NUMBER
            assert message.account_sid == SID
            assert message.date_created is not None
            assert message.api_version == "2010-04-01"

            [record] = box.peer.messages
            assert (record.sid, record.to, record.from_) == (message.sid, ALICE, TWILIO_NUMBER)
            assert record.body == "PAGE 12: ACME ERP down"
            assert record.params["Body"] == "PAGE 12: ACME ERP down"
            assert box.echoed == [
                "[sandbox] SMS → Alice Nguyen (+15550001001): PAGE 12: ACME ERP down"
            ]

            # Without a StatusCallback the status still advances; fetch shows it.
            await box.peer.drain()
            fetched = await asyncio.to_thread(box.client().messages(message.sid).fetch)
            assert fetched.status == "delivered"
            assert fetched.date_sent is not None

    run(scenario())


def test_async_sdk_client_sends_sms() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            message = await client.messages.create_async(
                to=BOB, from_=TWILIO_NUMBER, body="PAGE 7", validity_period=600
            )
            assert message.sid.startswith("SM")
            assert message.status == "queued"
            [record] = box.peer.messages
            assert record.sid == message.sid
            assert record.params["ValidityPeriod"] == "600"

    run(scenario())


def test_messaging_service_without_from_is_accepted() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            message = await client.messages.create_async(
                to=ALICE, messaging_service_sid="MG" + "2" * 32, body="hi"
            )
            assert message.status == "accepted"
            assert message.from_ is None

    run(scenario())


def test_wrong_token_is_401() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            client = box.client(token="wrong")
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(
                    client.messages.create, to=ALICE, from_=TWILIO_NUMBER, body="x"
                )
            assert info.value.status == 401
            assert info.value.code == 20003
            assert box.peer.messages == []

    run(scenario())


def test_account_sid_in_path_must_match() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            other = "AC" + "9" * 32
            response = await http.post(
                f"{box.server.url}/2010-04-01/Accounts/{other}/Messages.json",
                data={"To": ALICE, "From": TWILIO_NUMBER, "Body": "x"},
                auth=(SID, TOKEN),
            )
            assert response.status_code == 401
            assert response.json() == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }

    run(scenario())


def test_bad_to_is_400_21211() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(send_sms, box, "555-0100")
            assert info.value.status == 400
            assert info.value.code == 21211
            assert box.peer.messages == []

    run(scenario())


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": TWILIO_NUMBER, "Body": "x"}, 21604),
        ({"To": ALICE, "From": TWILIO_NUMBER}, 21602),
        ({"To": ALICE, "Body": "x"}, 21603),
        ({"To": ALICE, "From": TWILIO_NUMBER, "Body": "x", "StatusCallback": "nope"}, 21609),
    ],
)
def test_missing_or_bad_params_are_400(form: dict[str, str], code: int) -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            response = await http.post(
                f"{box.server.url}/2010-04-01/Accounts/{SID}/Messages.json",
                data={**form, "SomeFutureParam": "ignored"},
                auth=(SID, TOKEN),
            )
            assert response.status_code == 400
            assert response.json()["code"] == code
            assert response.json()["status"] == 400

    run(scenario())


def test_unknown_message_is_404() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            fetch = box.client().messages("SM" + "0" * 32).fetch
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(fetch)
            assert info.value.status == 404
            assert info.value.code == 20404

    run(scenario())


def test_unknown_routes_get_twilio_shaped_errors() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            missing = await http.get(box.server.url + "/2010-04-01/Accounts/Nope.json")
            assert missing.status_code == 404
            assert missing.json()["code"] == 20404
            wrong_method = await http.delete(
                f"{box.server.url}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, TOKEN)
            )
            assert wrong_method.status_code == 405
            assert wrong_method.json()["code"] == 20004

    run(scenario())


# --- status callbacks ----------------------------------------------------------------------


def test_status_callbacks_are_signed_and_ordered() -> None:
    async def scenario() -> None:
        async with sandbox() as box, receiver() as recv, async_client(box) as client:
            callback = recv.url("/twilio/status?page=12")
            message = await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 12", status_callback=callback
            )
            sent, delivered = await recv.next(), await recv.next()
            assert [sent.params["MessageStatus"], delivered.params["MessageStatus"]] == [
                "sent",
                "delivered",
            ]
            for received in (sent, delivered):
                assert received.url == callback
                assert received.valid
                assert received.params["MessageSid"] == message.sid
                assert received.params["SmsSid"] == message.sid
                assert received.params["SmsStatus"] == received.params["MessageStatus"]
                assert received.params["To"] == ALICE
                assert received.params["From"] == TWILIO_NUMBER
                assert received.params["AccountSid"] == SID
                assert received.params["ApiVersion"] == "2010-04-01"
                assert "ErrorCode" not in received.params
            # A signature over other parameters must not validate.
            assert not RequestValidator(TOKEN).validate(
                callback, {**delivered.params, "MessageStatus": "failed"}, delivered.signature
            )
            await box.peer.drain()
            assert box.peer.messages[0].status_history == ["queued", "sent", "delivered"]

    run(scenario())


def test_undelivered_injection() -> None:
    async def scenario() -> None:
        async with sandbox() as box, receiver() as recv, async_client(box) as client:
            box.peer.fail_next(ALICE, 1, "undelivered")
            callback = recv.url("/status")
            first = await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 1", status_callback=callback
            )
            assert first.status == "queued"  # accepted at the API
            sent, undelivered = await recv.next(), await recv.next()
            assert sent.params["MessageStatus"] == "sent"
            assert undelivered.params["MessageStatus"] == "undelivered"
            assert undelivered.params["ErrorCode"] == "30003"
            assert undelivered.valid

            await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 1 retry", status_callback=callback
            )
            assert (await recv.next()).params["MessageStatus"] == "sent"
            assert (await recv.next()).params["MessageStatus"] == "delivered"

            fetched = await client.messages(first.sid).fetch_async()
            assert fetched.status == "undelivered"
            assert fetched.error_code == 30003

    run(scenario())


def test_http_500_injection_over_http_endpoint() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            response = await http.post(
                box.server.url + "/_sandbox/fail", json={"to": None, "count": 2, "mode": "http_500"}
            )
            assert response.status_code == 200
            assert response.json()["pending"] == [{"to": None, "count": 2, "mode": "http_500"}]
            for _ in range(2):
                with pytest.raises(TwilioRestException) as info:
                    await asyncio.to_thread(send_sms, box)
                assert info.value.status == 500
            message = await asyncio.to_thread(send_sms, box)
            assert message.status == "queued"
            assert [m.sid for m in box.peer.messages] == [message.sid]
            assert len(box.peer.rejected) == 2
            assert box.peer.pending_failures() == []

            bad = await http.post(
                box.server.url + "/_sandbox/fail", json={"count": 1, "mode": "explode"}
            )
            assert bad.status_code == 400
            assert "unknown failure mode" in bad.json()["error"]

    run(scenario())


def test_http_500_injection_only_hits_the_given_number() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            box.peer.fail_next(BOB, 1, "http_500")
            await asyncio.to_thread(send_sms, box, ALICE)
            with pytest.raises(TwilioRestException):
                await asyncio.to_thread(send_sms, box, BOB)
            await asyncio.to_thread(send_sms, box, BOB)
            assert [m.to for m in box.peer.messages] == [ALICE, BOB]
            assert [m.to for m in box.peer.rejected] == [BOB]

    run(scenario())


def test_fail_next_validates_arguments() -> None:
    peer = SandboxPeer(SID, TOKEN, echo=None)
    with pytest.raises(ValueError, match="count"):
        peer.fail_next(None, 0, "http_500")
    with pytest.raises(ValueError, match="mode"):
        peer.fail_next(None, 1, "boom")  # type: ignore[arg-type]


def test_callback_failure_does_not_crash_the_peer() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            dead = f"http://127.0.0.1:{free_port()}/status"
            await asyncio.to_thread(send_sms, box, ALICE, "one", status_callback=dead)
            await box.peer.drain()
            assert len(box.peer.callback_errors) == 2
            assert any("status callback failed" in line for line in box.echoed)
            message = await asyncio.to_thread(send_sms, box, ALICE, "two")
            assert message.status == "queued"
            assert box.peer.messages[0].status == "delivered"

    run(scenario())


# --- calls -------------------------------------------------------------------------------


def test_calls_are_recorded() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            client = box.client()
            call = await asyncio.to_thread(
                client.calls.create,
                to=BOB,
                from_=TWILIO_NUMBER,
                url="http://127.0.0.1:8787/twilio/voice/page?incident=12",
                status_callback="http://127.0.0.1:8787/twilio/call-status",
                status_callback_event=["initiated", "answered", "completed"],
                machine_detection="Enable",
            )
            assert call.sid.startswith("CA") and len(call.sid) == 34
            assert call.status == "queued"
            [record] = box.peer.calls
            assert record.sid == call.sid
            assert record.to == BOB
            assert record.url == "http://127.0.0.1:8787/twilio/voice/page?incident=12"
            assert record.status_callback_event == ("initiated", "answered", "completed")
            assert record.machine_detection == "Enable"
            assert box.echoed[-1].startswith("[sandbox] call → Bob Okafor (+15550001002)")

            fetched = await asyncio.to_thread(client.calls(call.sid).fetch)
            assert fetched.status == "queued"
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(client.calls("CA" + "0" * 32).fetch)
            assert info.value.status == 404

    run(scenario())


def test_call_with_inline_twiml_async() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            call = await client.calls.create_async(
                to=ALICE, from_=TWILIO_NUMBER, twiml="<Response><Say>Page 12</Say></Response>"
            )
            assert call.status == "queued"
            assert box.peer.calls[0].twiml == "<Response><Say>Page 12</Say></Response>"

    run(scenario())


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


# --- inbound SMS webhooks ----------------------------------------------------------------


def test_inbound_sms_params_look_like_twilio() -> None:
    params = inbound_sms_params(from_=ALICE, to=TWILIO_NUMBER, body="ACK 12", account_sid=SID)
    assert params["MessageSid"].startswith("SM")
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["From"] == ALICE and params["To"] == TWILIO_NUMBER
    assert params["Body"] == "ACK 12"
    assert params["AccountSid"] == SID
    assert params["NumMedia"] == "0" and params["NumSegments"] == "1"
    assert params["SmsStatus"] == "received"
    assert params["ApiVersion"] == "2010-04-01"
    assert params["FromCountry"] == "US"
    fixed = inbound_sms_params(
        from_=ALICE, to=TWILIO_NUMBER, body="x", account_sid=SID, message_sid="SM" + "a" * 32
    )
    assert fixed["MessageSid"] == "SM" + "a" * 32


def test_sign_request_matches_request_validator() -> None:
    url = "https://oncall.example.com/twilio/sms"
    params = inbound_sms_params(from_=ALICE, to=TWILIO_NUMBER, body="ACK 12", account_sid=SID)
    signature = sign_request(TOKEN, url, params)
    assert RequestValidator(TOKEN).validate(url, params, signature)
    assert not RequestValidator("other-token").validate(url, params, signature)


def test_send_inbound_sms_is_signed_for_the_public_url() -> None:
    async def scenario() -> None:
        async with receiver() as recv:
            params = inbound_sms_params(
                from_=ALICE, to=TWILIO_NUMBER, body="ACK 12", account_sid=SID
            )
            url = recv.url("/twilio/sms")
            response = await send_inbound_sms(
                post_url=url, signed_url=url, auth_token=TOKEN, params=params
            )
            assert response.status_code == 204
            received = await recv.next()
            assert received.params == params
            assert received.valid

            # Behind a proxy: connect locally, sign for the public URL Twilio used.
            public = "https://oncall.example.com/twilio/sms"
            await asyncio.to_thread(
                send_inbound_sms_sync,
                post_url=url,
                signed_url=public,
                auth_token=TOKEN,
                params=params,
            )
            behind_proxy = await recv.next()
            assert not behind_proxy.valid  # not valid for the local URL...
            assert RequestValidator(TOKEN).validate(public, params, behind_proxy.signature)

    run(scenario())


# --- helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "segments"),
    [("", 1), ("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("€" * 81, 2), ("é" * 70, 1)],
)
def test_sms_segments_gsm7(body: str, segments: int) -> None:
    assert sms_segments(body) == segments


@pytest.mark.parametrize(
    ("body", "segments"), [("中" * 70, 1), ("✓" * 70, 1), ("✓" * 71, 2), ("ok ✓" * 20, 2)]
)
def test_sms_segments_ucs2(body: str, segments: int) -> None:
    assert sms_segments(body) == segments
