"""Calls in the sandbox Twilio peer: the phone at the other end, driven by a test or a person.

An outbound call (``POST Calls.json``) rings: the peer sends the ``initiated`` and ``ringing``
status callbacks asked for, then waits. ``answer`` picks up (``answered_by="machine_start"``
for a voicemail, with answering-machine detection on) and fetches the call's TwiML from its
``Url``, signed like Twilio; ``press``, ``no_input``, ``leave_message``, ``dial_ends`` and
``hang_up`` play the person's part; ``end_unanswered`` ends a ringing call with ``no-answer``,
``busy``, ``failed`` or ``canceled``. ``place_inbound_call`` is a call *to* a Twilio number:
the peer posts the signed voice webhook to the given URL. Between requests a small TwiML
interpreter runs the document: ``Say`` is heard (``said``), ``Gather``/``Record``/``Dial`` wait
(``waiting``, ``action``), ``Redirect`` is followed, ``Hangup`` (or the end) completes the
call and sends the final status callback. Queues (``Enqueue``, ``Dial``-``Queue``) are
``oncall.sandbox_queues``. The same controls are loopback HTTP endpoints
(``oncall.sandbox_controls``) for a person trying the product.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from xml.etree.ElementTree import Element

import httpx
from defusedxml.ElementTree import ParseError, fromstring
from starlette.requests import Request

from oncall.sandbox_records import CallRecord, SandboxRecords
from oncall.twilio_webhooks import API_VERSION, new_sid, webhook_headers

UNANSWERED = ("no-answer", "busy", "failed", "canceled")
MACHINE = "machine_start"


class CallStateError(ValueError):
    """A control that does not fit the call's state (press with nothing waiting for a key)."""


def is_loopback(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


class SandboxCalls(SandboxRecords):
    """The peer's HTTP plumbing (signed callbacks, background tasks) and its simulated calls."""

    account_sid: str
    auth_token: str
    echo: Callable[[str], None] | None
    names: dict[str, str]
    callback_timeout: float
    recording_base: str = "https://api.twilio.com"
    _tasks: set[asyncio.Task[None]]
    _http: httpx.AsyncClient | None
    _http_loop: asyncio.AbstractEventLoop | None

    # -- plumbing ---------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(f"[sandbox] {line}")

    def _who(self, number: str) -> str:
        name = self.names.get(number)
        return f"{name} ({number})" if name else number

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            # A client's pooled connections belong to the loop that opened them.
            self._http = httpx.AsyncClient(timeout=self.callback_timeout)
            self._http_loop = loop
        return self._http

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _post_callback(self, url: str, params: dict[str, str]) -> None:
        headers = webhook_headers(self.auth_token, url, params)
        response = await self._client().post(url, data=params, headers=headers)
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )

    @staticmethod
    def _loopback(request: Request) -> bool:
        return is_loopback(request)

    # -- the call's life --------------------------------------------------------------------

    def _call_placed(self, record: CallRecord) -> None:
        """A Calls request was accepted: ring (callbacks in the background)."""
        record.status_history.append(record.status)
        record.ringing = self._spawn(self._ring(record))

    async def _ring(self, record: CallRecord) -> None:
        for event, status in (("initiated", "queued"), ("ringing", "ringing")):
            self._set_status(record, status)
            if event in record.status_callback_event:
                await self._status_callback(record)

    async def answer(self, sid: str, answered_by: str = "human") -> CallRecord:
        """Pick up a ringing call; a person (``human``) or a voicemail (``machine_*``)."""
        record = await self._ringing_call(sid)
        if record.machine_detection:
            record.answered_by = answered_by
        record.answered_at = time.monotonic()
        self._set_status(record, "in-progress")
        self._say(f"call to {self._who(record.to)} answered ({answered_by})")
        if "answered" in record.status_callback_event:
            await self._status_callback(record)
        if record.url:
            await self._follow(record, record.url, {})
        elif record.twiml:
            await self._run(record, record.twiml, None)
        return record

    async def end_unanswered(self, sid: str, status: str = "no-answer") -> CallRecord:
        """The call never connects: nobody answers, the line is busy, the call fails."""
        if status not in UNANSWERED:
            raise CallStateError(f"status must be one of {', '.join(UNANSWERED)}, got {status!r}")
        record = await self._ringing_call(sid)
        await self._finish(record, status)
        return record

    async def press(self, sid: str, digits: str) -> CallRecord:
        """Press keys while the call gathers them."""
        record = self._waiting_call(sid, "gather")
        await self._follow(record, record.action or "", {"Digits": digits, "FinishedOnKey": ""})
        return record

    async def no_input(self, sid: str) -> CallRecord:
        """Say nothing: a Gather times out (a Record hears silence) and the document goes on."""
        record = self._waiting_call(sid, "gather", "record")
        if record.waiting == "gather" and record.action_on_empty:
            await self._follow(record, record.action or "", {"Digits": ""})
        else:
            await self._continue(record)
        return record

    async def leave_message(self, sid: str, seconds: int = 15) -> CallRecord:
        """Speak after the tone and press pound; Twilio posts the recording to the action."""
        record = self._waiting_call(sid, "record")
        recording = new_sid("RE")
        url = f"{self.recording_base}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording}"
        extra = {
            "RecordingUrl": url,
            "RecordingSid": recording,
            "RecordingDuration": str(seconds),
            "Digits": "#",
        }
        self._say(f"{self._who(record.from_)} left a {seconds} s message: {url}")
        await self._follow(record, record.action or "", extra)
        return record

    async def dial_ends(self, sid: str, status: str = "completed", seconds: int = 60) -> CallRecord:
        """The dialled party's leg ends: ``completed`` after talking, or not answered."""
        record = self._waiting_call(sid, "dial")
        if record.action:
            extra = {
                "DialCallStatus": status,
                "DialCallSid": new_sid("CA"),
                "DialCallDuration": str(seconds if status == "completed" else 0),
            }
            await self._follow(record, record.action, extra)
        else:
            await self._continue(record)
        return record

    async def hang_up(self, sid: str) -> CallRecord:
        """The person on the call hangs up now (a bridged partner's call goes on)."""
        record = self._find(sid)
        await self._wait_ringing(record)
        await self._finish(record, "completed")
        await self._unbridge(record)
        return record

    async def place_inbound_call(
        self, from_: str, to: str, url: str, *, status_callback: str | None = None
    ) -> CallRecord:
        """Someone calls the Twilio number ``to``: post the signed voice webhook to ``url``."""
        record = CallRecord(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            url=url,
            twiml=None,
            status_callback=status_callback,
            status_callback_event=(),
            machine_detection=None,
            received_at=time.monotonic(),
            params={},
            status="ringing",
            direction="inbound",
        )
        record.status_history.append("ringing")
        record.answered_at = time.monotonic()
        self._record_call(record)
        self._say(f"call from {self._who(from_)} to {to}")
        await self._follow(record, url, {})
        return record

    # -- the interpreter --------------------------------------------------------------------

    async def _follow(self, record: CallRecord, url: str, extra: dict[str, str]) -> None:
        record.waiting, record.action, record.rest = None, None, []
        text = await self._webhook(record, url, extra)
        if record.direction == "inbound" and record.status == "ringing":
            self._set_status(record, "in-progress")
        if text is None:
            record.said.append("An application error has occurred. Goodbye.")
            await self._finish(record, "completed")
            return
        await self._run(record, text, url)

    async def _run(self, record: CallRecord, text: str, url: str | None) -> None:
        record.documents.append(text)
        record.document_url = url
        try:
            root = fromstring(text)
        except ParseError as exc:
            record.webhook_errors.append(f"{url}: not TwiML: {exc}")
            await self._finish(record, "completed")
            return
        await self._execute(record, list(root), url)

    async def _execute(self, record: CallRecord, verbs: list[Element], url: str | None) -> None:
        for index, verb in enumerate(verbs):
            if verb.tag == "Say":
                record.said.append((verb.text or "").strip())
            elif await self._queue_verb(record, verb, verbs[index + 1 :], url):
                return
            elif verb.tag in ("Gather", "Record", "Dial"):
                if verb.tag == "Gather":
                    record.said.extend((c.text or "").strip() for c in verb if c.tag == "Say")
                if verb.tag == "Dial":
                    numbers = [(n.text or "").strip() for n in verb if n.tag == "Number"]
                    record.dialed.extend(numbers or [(verb.text or "").strip()])
                    self._say(f"{self._who(record.from_)} is connected to {record.dialed[-1]}")
                record.waiting = verb.tag.lower()
                action = verb.get("action")
                if action is None and verb.tag != "Dial":
                    action = url  # Gather and Record post back to the document by default
                record.action = urljoin(url or "", action) if action else None
                record.action_on_empty = verb.get("actionOnEmptyResult") == "true"
                record.rest = verbs[index + 1 :]
                return
            elif verb.tag == "Redirect":
                await self._follow(record, urljoin(url or "", (verb.text or "").strip()), {})
                return
            elif verb.tag in ("Hangup", "Reject"):
                await self._finish(record, "completed" if verb.tag == "Hangup" else "busy")
                return
        await self._finish(record, "completed")

    async def _queue_verb(
        self, record: CallRecord, verb: Element, rest: list[Element], url: str | None
    ) -> bool:
        """``Enqueue`` and ``Dial``-``Queue`` (``oncall.sandbox_queues``); True: the call waits."""
        return False

    async def _unbridge(self, record: CallRecord) -> None:
        """A bridged call ended: the other side goes on (``oncall.sandbox_queues``)."""

    async def _continue(self, record: CallRecord) -> None:
        rest, url = record.rest, record.document_url
        record.waiting, record.action, record.rest = None, None, []
        await self._execute(record, rest, url)

    async def _webhook(self, record: CallRecord, url: str, extra: dict[str, str]) -> str | None:
        params = self._call_params(record) | extra
        try:
            response = await self._client().post(
                url, data=params, headers=webhook_headers(self.auth_token, url, params)
            )
        except httpx.HTTPError as exc:
            record.webhook_errors.append(f"{url}: {exc!r}")
            return None
        if response.status_code >= 400:
            record.webhook_errors.append(
                f"{url}: HTTP {response.status_code} {response.text[:200]}"
            )
            return None
        return response.text

    async def _finish(self, record: CallRecord, status: str) -> None:
        if record.ended:
            return
        record.waiting, record.action, record.rest = None, None, []
        if record.answered_at is not None and status == "completed":
            record.duration = max(1, round(time.monotonic() - record.answered_at))
        else:
            record.duration = 0
        self._set_status(record, status)
        self._say(f"call {record.sid} with {self._who(record.to)} ended: {status}")
        if record.status_callback:
            await self._status_callback(record)

    def _set_status(self, record: CallRecord, status: str) -> None:
        with self._cond:
            record.status = status
            record.status_history.append(status)
            self._cond.notify_all()

    def _call_params(self, record: CallRecord) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": record.sid,
            "CallStatus": record.status,
            "Called": record.to,
            "Caller": record.from_,
            "Direction": record.direction,
            "From": record.from_,
            "To": record.to,
        }
        if record.answered_by:
            params["AnsweredBy"] = record.answered_by
        return params

    async def _status_callback(self, record: CallRecord) -> None:
        if not record.status_callback:
            return
        record.sequence += 1
        params = self._call_params(record) | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(record.sequence - 1),
            "Timestamp": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }
        if record.ended:
            params["CallDuration"] = str(record.duration or 0)
        try:
            await self._post_callback(record.status_callback, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the receiver being down must not break the peer
            detail = (
                f"{record.status} callback for {record.sid} to {record.status_callback}: {exc!r}"
            )
            self.callback_errors.append(detail)
            self._say(f"status callback failed: {detail}")

    # -- finding calls ----------------------------------------------------------------------

    def _find(self, sid: str) -> CallRecord:
        record = self.call(sid)
        if record is None:
            raise CallStateError(f"no call {sid}")
        return record

    @staticmethod
    async def _wait_ringing(record: CallRecord) -> None:
        if record.ringing is not None:
            await asyncio.shield(record.ringing)

    async def _ringing_call(self, sid: str) -> CallRecord:
        record = self._find(sid)
        await self._wait_ringing(record)
        if record.status not in ("queued", "ringing"):
            raise CallStateError(f"call {sid} is {record.status}, not ringing")
        return record

    def _waiting_call(self, sid: str, *kinds: str) -> CallRecord:
        record = self._find(sid)
        if record.waiting not in kinds:
            waiting = record.waiting or f"nothing ({record.status})"
            raise CallStateError(f"call {sid} waits for {waiting}, not {' or '.join(kinds)}")
        return record
