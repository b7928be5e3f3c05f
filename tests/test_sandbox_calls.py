"""Calls in the sandbox peer (oncall.sandbox_calls): the phone at the other end, ringing,
fetching signed TwiML, pressing keys, leaving messages, and the status callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
import pytest
from sandbox_servers import ALICE, TOKEN, TWILIO_NUMBER, Received, async_client, run, sandbox
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oncall.sandbox_calls import CallStateError
from oncall.serving import RunningServer, start_server

CALLER = "+18155550141"
DOCUMENTS = {
    "/answer": '<Response><Gather numDigits="1" action="/key"><Say>Press 1</Say></Gather>'
    "<Redirect>/again</Redirect></Response>",
    "/key": "<Response><Say>Got it</Say><Hangup/></Response>",
    "/again": "<Response><Say>Bye</Say></Response>",
    "/line": '<Response><Say>Hi</Say><Record action="/recorded"/><Say>Nothing?</Say></Response>',
    "/recorded": '<Response><Dial action="/dialed"><Number>+15550100000</Number></Dial></Response>',
    "/dialed": "<Response><Hangup/></Response>",
    "/broken": "oops",
    "/enqueue": '<Response><Say>Hold</Say><Enqueue action="/left" waitUrl="/wait">q1</Enqueue>'
    "</Response>",
    "/left": "<Response><Say>Left</Say><Hangup/></Response>",
    "/take": "<Response><Dial><Queue>q1</Queue></Dial><Say>Done</Say></Response>",
    "/empty": "<Response><Dial><Queue>nobody</Queue></Dial><Say>Empty</Say></Response>",
}
WAIT = "<Response><Say>Still holding</Say><Pause length='5'/></Response>"
LEAVE = "<Response><Leave/></Response>"


@dataclass
class TwimlApp:
    """Stands in for the daemon: answers TwiML by path, records every signed request."""

    requests: list[Received] = field(default_factory=list)
    server: RunningServer | None = None

    async def handle(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.requests.append(
            Received(str(request.url), form, request.headers.get("X-Twilio-Signature", ""))
        )
        path = request.url.path
        if path == "/status":
            return Response(status_code=204)
        if path == "/fails":
            return Response("no", status_code=500)
        if path == "/wait":  # the queue's hold prompt: leave after a minute
            document = LEAVE if int(form["QueueTime"]) >= 60 else WAIT
            return Response(document, media_type="application/xml")
        return Response(DOCUMENTS[path], media_type="application/xml")

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.url + path

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.url.split("?")[0].endswith(path)]


@asynccontextmanager
async def twiml_app() -> AsyncIterator[TwimlApp]:
    app = TwimlApp()
    starlette = Starlette(routes=[Route("/{path:path}", app.handle, methods=["POST"])])
    app.server = await start_server(starlette, "127.0.0.1", 0)
    try:
        yield app
    finally:
        await app.server.stop()


async def place(box, app: TwimlApp, path: str = "/answer", **options) -> str:
    async with async_client(box) as client:
        call = await client.calls.create_async(
            to=ALICE,
            from_=TWILIO_NUMBER,
            url=app.url(path),
            status_callback=app.url("/status"),
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            **options,
        )
    return str(call.sid)


def statuses(app: TwimlApp) -> list[str]:
    return [r.params["CallStatus"] for r in app.to("/status")]


def test_a_call_rings_is_answered_fetches_signed_twiml_and_takes_a_key() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            sid = await place(box, app, machine_detection="Enable")
            record = await box.peer.answer(sid)
            assert record.said == ["Press 1"] and record.waiting == "gather"
            assert record.action == app.url("/key")
            (fetch,) = app.to("/answer")
            assert fetch.valid and fetch.params["AnsweredBy"] == "human"
            assert fetch.params["CallStatus"] == "in-progress" and fetch.params["CallSid"] == sid
            await box.peer.press(sid, "1")
            (key,) = app.to("/key")
            assert key.valid and key.params["Digits"] == "1"
            assert record.said == ["Press 1", "Got it"] and record.status == "completed"
            assert statuses(app) == ["queued", "ringing", "in-progress", "completed"]
            final = app.to("/status")[-1].params
            assert final["SequenceNumber"] == "3" and int(final["CallDuration"]) >= 1
            assert all(r.valid for r in app.requests)

    run(scenario())


def test_no_key_falls_through_to_the_next_verb() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            sid = await place(box, app)
            record = await box.peer.answer(sid, "machine_start")
            assert "AnsweredBy" not in app.to("/answer")[0].params  # detection was not asked for
            await box.peer.no_input(sid)
            assert record.said == ["Press 1", "Bye"] and record.status == "completed"
            with pytest.raises(CallStateError, match="waits for nothing"):
                await box.peer.press(sid, "1")

    run(scenario())


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_a_call_can_end_unanswered(status: str) -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            sid = await place(box, app)
            record = await box.peer.end_unanswered(sid, status)
            assert record.status == status and app.to("/answer") == []
            assert statuses(app) == ["queued", "ringing", status]
            assert app.to("/status")[-1].params["CallDuration"] == "0"
            with pytest.raises(CallStateError, match="not ringing"):
                await box.peer.answer(sid)

    run(scenario())


def test_an_inbound_call_records_a_message_and_dials() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            record = await box.peer.place_inbound_call(
                CALLER, TWILIO_NUMBER, app.url("/line"), status_callback=app.url("/status")
            )
            (first,) = app.to("/line")
            assert first.valid and first.params["Direction"] == "inbound"
            assert first.params["CallStatus"] == "ringing" and first.params["From"] == CALLER
            assert record.waiting == "record" and record.action == app.url("/recorded")
            await box.peer.leave_message(record.sid, 21)
            (recorded,) = app.to("/recorded")
            assert recorded.params["RecordingDuration"] == "21"
            assert recorded.params["RecordingUrl"].endswith(recorded.params["RecordingSid"])
            assert recorded.params["CallStatus"] == "in-progress"
            assert record.dialed == ["+15550100000"] and record.waiting == "dial"
            await box.peer.dial_ends(record.sid, "no-answer")
            (dialed,) = app.to("/dialed")
            assert dialed.params["DialCallStatus"] == "no-answer"
            assert record.status == "completed" and statuses(app) == ["completed"]

    run(scenario())


def test_a_failing_webhook_ends_the_call_with_an_application_error() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            record = await box.peer.place_inbound_call(CALLER, TWILIO_NUMBER, app.url("/fails"))
            assert record.status == "completed"
            assert record.said == ["An application error has occurred. Goodbye."]
            assert "HTTP 500" in record.webhook_errors[0]
            broken = await box.peer.place_inbound_call(CALLER, TWILIO_NUMBER, app.url("/broken"))
            assert "not TwiML" in broken.webhook_errors[0]

    run(scenario())


def test_calls_are_steered_over_loopback_http() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app, httpx.AsyncClient() as http:
            base = box.server.url + "/_sandbox/calls"
            placed = await http.post(
                base + "/inbound",
                json={"from": CALLER, "to": TWILIO_NUMBER, "url": app.url("/answer")},
            )
            assert placed.status_code == 200 and placed.json()["waiting"] == "gather"
            sid = placed.json()["sid"]
            pressed = await http.post(f"{base}/{sid}/press", json={"digits": "1"})
            assert pressed.json()["said"] == ["Press 1", "Got it"]
            assert pressed.json()["status"] == "completed"
            assert (await http.post(f"{base}/{sid}/press", json={"digits": "1"})).status_code == 400
            assert (await http.post(f"{base}/{sid}/explode")).status_code == 404
            assert (await http.post(f"{base}/CAnope/answer")).status_code == 400
            assert (await http.post(base + "/inbound", json={"from": CALLER})).status_code == 400
            listing = (await http.get(box.server.url + "/_sandbox/calls")).json()
            assert listing[0]["direction"] == "inbound" and listing[0]["said"][-1] == "Got it"

    run(scenario())


def test_wait_for_call() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            waiting = asyncio.create_task(box.peer.wait_for_call(lambda c: c.to == ALICE, 5))
            await asyncio.sleep(0)
            sid = await place(box, app)
            assert (await waiting).sid == sid
            with pytest.raises(
                TimeoutError, match="no matching call within 0.01s; the sandbox received 1"
            ):
                await box.peer.wait_for_call(lambda c: False, 0.01)
            await box.peer.drain()

    run(scenario())


def test_signatures_use_the_auth_token() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app:
            await box.peer.place_inbound_call(CALLER, TWILIO_NUMBER, app.url("/again"))
            (request,) = app.requests
            from twilio.request_validator import RequestValidator

            assert RequestValidator(TOKEN).validate(request.url, request.params, request.signature)
            assert not RequestValidator("other").validate(
                request.url, request.params, request.signature
            )

    run(scenario())


def test_queued_callers_hold_leave_and_are_bridged_by_a_dial_queue() -> None:
    async def scenario() -> None:
        async with sandbox() as box, twiml_app() as app, httpx.AsyncClient() as http:
            first = await box.peer.place_inbound_call(CALLER, TWILIO_NUMBER, app.url("/enqueue"))
            assert first.waiting == "queue" and first.queue == "q1"
            assert first.said == ["Hold", "Still holding"]
            assert app.to("/wait")[0].params["QueueTime"] == "0" and app.to("/wait")[0].valid
            second = await box.peer.place_inbound_call(ALICE, TWILIO_NUMBER, app.url("/enqueue"))
            base = box.server.url + "/_sandbox/calls"
            held = await http.post(f"{base}/{second.sid}/hold", json={"seconds": 60})
            assert held.json()["status"] == "completed" and held.json()["said"][-1] == "Left"
            assert app.to("/left")[0].params["QueueResult"] == "leave"
            agent = await box.peer.place_inbound_call(ALICE, TWILIO_NUMBER, app.url("/take"))
            assert agent.dialed == ["queue:q1"] and agent.waiting == "dial"
            assert first.waiting == "bridged" and first.bridged_with == agent.sid
            with pytest.raises(CallStateError):
                await box.peer.hold(first.sid, 10)  # no longer in the queue
            await box.peer.hang_up(agent.sid)
            assert app.to("/left")[1].params["QueueResult"] == "bridged"
            assert first.status == "completed" and first.said[-1] == "Left"
            empty = await box.peer.place_inbound_call(ALICE, TWILIO_NUMBER, app.url("/empty"))
            assert empty.said == ["Empty"] and empty.status == "completed"

    run(scenario())
