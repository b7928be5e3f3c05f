"""A local Twilio-compatible REST peer, so the product runs and is tested without an account.

The real twilio SDK talks HTTP to it: point the client at the peer and use it as usual::

    peer = SandboxPeer(account_sid, auth_token, names={"+15550001001": "Alice Nguyen"})
    server = await start_server(peer.app, "127.0.0.1", 0)        # oncall.serving
    client = twilio.rest.Client(account_sid, auth_token)
    client.api.base_url = server.url
    client.messages.create(to="+15550001001", from_="+15550009999", body="PAGE 12 ...")

What it implements (under ``/2010-04-01/Accounts/{AccountSid}/``, HTTP basic auth SID:token):

- ``POST Messages.json``: validates like Twilio (codes 21604 To missing, 21602 Body missing,
  21603 From/MessagingServiceSid missing, 21211 To not E.164, 21609 bad StatusCallback URL),
  records the message, answers 201 with a Message resource, echoes a line for humans, then
  POSTs signed status callbacks ``sent`` → ``delivered`` to ``StatusCallback``.
- ``POST Calls.json``: records the call and answers 201 with a Call resource. It places no call
  and sends no call status callbacks or TwiML fetches: voice paging is simulated later.
- ``GET Messages/{Sid}.json`` and ``GET Calls/{Sid}.json``: the recorded resource, with the
  message status as updated by the callbacks sent so far.

Failure injection (retry tests): ``fail_next(to, count, mode)`` or ``POST /_sandbox/fail``.
Observation: ``messages``, ``calls``, ``rejected``, ``on_message`` hooks, ``wait_for_message``
(async, any loop) and ``wait_for_message_sync`` (other threads), ``GET /_sandbox/messages``.
The ``/_sandbox`` endpoints need no auth and answer loopback clients only.

Also here, for tests and the demo: building, signing and sending the webhook Twilio sends for
an inbound SMS (``inbound_sms_params``, ``sign_request``, ``send_inbound_sms[_sync]``). All
signatures come from the SDK's ``RequestValidator``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import json
import math
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlsplit

import httpx
import phonenumbers
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1"

FailMode = Literal["http_500", "undelivered"]
FAIL_MODES: tuple[str, ...] = get_args(FailMode)

log = structlog.get_logger(__name__)

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def echo_stderr(line: str) -> None:
    """The default echo: one line per event on stderr, for whoever watches the demo."""
    print(line, file=sys.stderr, flush=True)


def new_sid(prefix: str) -> str:
    """A Twilio-style resource SID: two-letter prefix and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def sms_segments(body: str) -> int:
    """How many SMS segments ``body`` needs (GSM-7: 160/153 septets, else UCS-2: 70/67)."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in body):
        units = sum(2 if c in _GSM7_EXTENSION else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


def is_e164(number: str) -> bool:
    """True if ``number`` is written in E.164 (``+`` and digits) and is a possible number."""
    if not _E164.match(number):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(parsed)


def _rfc2822(instant: datetime | None) -> str | None:
    return format_datetime(instant) if instant is not None else None


def _country_of(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(parsed)
    if not region or region == phonenumbers.UNKNOWN_REGION:
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "" if region == phonenumbers.UNKNOWN_REGION else region


# --- webhook helpers (what Twilio sends to *us*) ------------------------------------------


def sign_request(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send for a form POST of ``params`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def inbound_sms_params(
    *,
    from_: str,
    to: str,
    body: str,
    account_sid: str,
    message_sid: str | None = None,
) -> dict[str, str]:
    """The form fields of Twilio's incoming-SMS webhook for a message ``from_`` → ``to``."""
    sid = message_sid or new_sid("SM")
    from_country = _country_of(from_)
    to_country = _country_of(to)
    return {
        "ToCountry": to_country,
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": from_country,
        "To": to,
        "ToZip": "",
        "NumSegments": str(sms_segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }


def _webhook_headers(auth_token: str, signed_url: str, params: Mapping[str, str]) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign_request(auth_token, signed_url, params),
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }


async def send_inbound_sms(
    *,
    post_url: str,
    signed_url: str,
    auth_token: str,
    params: dict[str, str],
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """POST ``params`` form-encoded to ``post_url``, signed as Twilio signs ``signed_url``.

    ``signed_url`` is the public URL Twilio would have called (what the daemon validates
    against); ``post_url`` is where to connect, usually the same.
    """
    headers = _webhook_headers(auth_token, signed_url, params)
    if client is not None:
        return await client.post(post_url, data=params, headers=headers)
    async with httpx.AsyncClient(timeout=10.0) as own:
        return await own.post(post_url, data=params, headers=headers)


def send_inbound_sms_sync(
    *,
    post_url: str,
    signed_url: str,
    auth_token: str,
    params: dict[str, str],
    client: httpx.Client | None = None,
) -> httpx.Response:
    """Blocking variant of :func:`send_inbound_sms`."""
    headers = _webhook_headers(auth_token, signed_url, params)
    if client is not None:
        return client.post(post_url, data=params, headers=headers)
    with httpx.Client(timeout=10.0) as own:
        return own.post(post_url, data=params, headers=headers)


# --- records ------------------------------------------------------------------------------


@dataclass
class MessageRecord:
    """One Messages request the peer saw; ``status`` follows the callbacks sent so far."""

    sid: str
    to: str
    from_: str | None
    body: str
    status_callback: str | None
    received_at: float  # time.monotonic() when the request was handled
    params: dict[str, str]  # every form field as sent (last value of a repeated one)
    messaging_service_sid: str | None = None
    status: str = "queued"
    error_code: int | None = None
    error_message: str | None = None
    num_segments: int = 1
    num_media: int = 0
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_sent: datetime | None = None
    status_history: list[str] = field(default_factory=list)


@dataclass
class CallRecord:
    """One Calls request the peer saw (no call is simulated: it stays ``queued``)."""

    sid: str
    to: str
    from_: str
    url: str | None
    twiml: str | None
    status_callback: str | None
    status_callback_event: tuple[str, ...]
    machine_detection: str | None
    received_at: float
    params: dict[str, str]
    status: str = "queued"
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _FailRule:
    to: str | None
    remaining: int
    mode: FailMode


@dataclass
class _Waiter:
    predicate: Callable[[MessageRecord], bool]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[MessageRecord]


def _resolve(future: asyncio.Future[MessageRecord], record: MessageRecord) -> None:
    if not future.done():
        future.set_result(record)


def _fail(future: asyncio.Future[MessageRecord], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class TwilioApiError(Exception):
    """Raised inside a handler to answer with a Twilio-shaped error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """A response shaped like Twilio's REST errors (what ``TwilioRestException`` parses)."""
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
        headers=headers,
    )


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- the peer -----------------------------------------------------------------------------


class SandboxPeer:
    """State and Starlette app (``.app``) of the sandbox Twilio REST peer.

    The app may run in any event loop (usually the daemon's or the test's). Records are appended
    from that loop; ``wait_for_message`` works from any loop and ``wait_for_message_sync`` from
    any other thread.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        echo: Callable[[str], None] | None = echo_stderr,
        names: Mapping[str, str] | None = None,
        callback_delay: float = 0.0,
        callback_timeout: float = 5.0,
    ) -> None:
        """``echo`` gets one human-readable line per event (``None``: silent); ``names`` maps
        E.164 numbers to people for those lines; ``callback_delay`` is waited before each
        status callback (a realistic demo pace; tests keep 0)."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.echo = echo
        self.names: dict[str, str] = dict(names or {})
        self.callback_delay = callback_delay
        self.callback_timeout = callback_timeout
        self.validator = RequestValidator(auth_token)

        self.messages: list[MessageRecord] = []
        self.calls: list[CallRecord] = []
        self.rejected: list[MessageRecord] = []  # Messages requests answered with injected 500s
        self.on_message: list[Callable[[MessageRecord], None]] = []
        self.callback_errors: list[str] = []

        self._messages_by_sid: dict[str, MessageRecord] = {}
        self._calls_by_sid: dict[str, CallRecord] = {}
        self._fail_rules: list[_FailRule] = []
        self._cond = threading.Condition()
        self._waiters: list[_Waiter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        self.app = Starlette(
            routes=[
                Route(f"{base}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{base}/Messages/{{sid}}.json", self._fetch_message, methods=["GET"]),
                Route(f"{base}/Calls.json", self._create_call, methods=["POST"]),
                Route(f"{base}/Calls/{{sid}}.json", self._fetch_call, methods=["GET"]),
                Route("/_sandbox/fail", self._http_fail, methods=["POST"]),
                Route("/_sandbox/messages", self._http_messages, methods=["GET"]),
                Route("/_sandbox/calls", self._http_calls, methods=["GET"]),
            ],
            exception_handlers={HTTPException: self._http_exception},
        )

    # -- public API ------------------------------------------------------------------------

    def fail_next(self, to: str | None, count: int, mode: FailMode) -> None:
        """Make the next ``count`` Messages requests (to ``to``, or to anyone if None) fail.

        ``http_500``: answered 500 (Twilio code 20500), recorded in ``rejected``, not in
        ``messages``. ``undelivered``: accepted (201) but the callbacks are ``sent`` then
        ``undelivered`` with ErrorCode 30003. Rules are consumed in the order they were added.
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; expected one of {FAIL_MODES}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._cond:
            self._fail_rules.append(_FailRule(to=to, remaining=count, mode=mode))

    def pending_failures(self) -> list[dict[str, Any]]:
        """Injected failures not yet consumed."""
        with self._cond:
            return [
                {"to": r.to, "count": r.remaining, "mode": r.mode}
                for r in self._fail_rules
                if r.remaining > 0
            ]

    def message(self, sid: str) -> MessageRecord | None:
        return self._messages_by_sid.get(sid)

    def call(self, sid: str) -> CallRecord | None:
        return self._calls_by_sid.get(sid)

    def reset(self) -> None:
        """Forget recorded messages, calls, rejections and pending failures."""
        with self._cond:
            self.messages.clear()
            self.calls.clear()
            self.rejected.clear()
            self.callback_errors.clear()
            self._messages_by_sid.clear()
            self._calls_by_sid.clear()
            self._fail_rules.clear()

    async def wait_for_message(
        self,
        predicate: Callable[[MessageRecord], bool],
        timeout: float,
        *,
        start: int = 0,
    ) -> MessageRecord:
        """The first recorded message (from index ``start`` on) matching ``predicate``.

        Returns at once if one is already recorded, else waits without polling until one is,
        or raises ``TimeoutError`` listing what was received. Usable from any event loop.
        """
        loop = asyncio.get_running_loop()
        with self._cond:
            for record in self.messages[start:]:
                if predicate(record):
                    return record
            waiter = _Waiter(predicate, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_message(timeout, start)) from None
        finally:
            with self._cond:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def wait_for_message_sync(
        self,
        predicate: Callable[[MessageRecord], bool],
        timeout: float,
        *,
        start: int = 0,
    ) -> MessageRecord:
        """Blocking :meth:`wait_for_message` for a thread other than the peer's loop thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop in this thread: blocking is fine
        else:
            raise RuntimeError(
                "wait_for_message_sync would block a running event loop; "
                "await wait_for_message() instead"
            )
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(self.messages):
                    record = self.messages[index]
                    index += 1
                    if predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(timeout, start))
                self._cond.wait(remaining)

    async def aclose(self) -> None:
        """Cancel pending status callbacks and close the callback HTTP client."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            with contextlib.suppress(RuntimeError):
                await self._http.aclose()
            self._http = None
            self._http_loop = None

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every status callback scheduled so far has been sent (or has failed)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)

    # -- helpers ---------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        if self.echo is not None:
            self.echo(f"[sandbox] {line}")

    def _who(self, number: str) -> str:
        name = self.names.get(number)
        return f"{name} ({number})" if name else number

    def _timeout_message(self, timeout: float, start: int) -> str:
        with self._cond:
            seen = self.messages[start:]
        if not seen:
            return f"no matching SMS within {timeout:g}s: the sandbox received no messages"
        shown = seen[-10:]
        lines = [f"  {m.sid} to={m.to} status={m.status} body={m.body[:60]!r}" for m in shown]
        more = f" (last {len(shown)} shown)" if len(seen) > len(shown) else ""
        return (
            f"no matching SMS within {timeout:g}s; the sandbox received {len(seen)}{more}:\n"
            + "\n".join(lines)
        )

    def _check_auth(self, request: Request) -> None:
        path_sid = request.path_params["account_sid"]
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        user = password = ""
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = password = ""
        ok = (
            secrets.compare_digest(user.encode(), self.account_sid.encode())
            and secrets.compare_digest(password.encode(), self.auth_token.encode())
            and path_sid == self.account_sid
        )
        if not ok:
            raise TwilioApiError(401, 20003, "Authenticate")

    async def _form(self, request: Request) -> tuple[dict[str, str], list[tuple[str, str]]]:
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        if raw and "application/x-www-form-urlencoded" not in content_type:
            raise TwilioApiError(400, 20001, "Expected an application/x-www-form-urlencoded body")
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise TwilioApiError(400, 20001, "Request body is not valid UTF-8") from exc
        return dict(pairs), pairs

    def _take_failure(self, to: str) -> FailMode | None:
        with self._cond:
            for rule in self._fail_rules:
                if rule.remaining > 0 and (rule.to is None or rule.to == to):
                    rule.remaining -= 1
                    mode = rule.mode
                    self._fail_rules = [r for r in self._fail_rules if r.remaining > 0]
                    return mode
        return None

    def _message_uri(self, sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"

    def _call_uri(self, sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json"

    def message_resource(self, m: MessageRecord) -> dict[str, Any]:
        """The Message resource JSON Twilio would return for ``m``."""
        uri = self._message_uri(m.sid)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": m.body,
            "date_created": _rfc2822(m.date_created),
            "date_sent": _rfc2822(m.date_sent),
            "date_updated": _rfc2822(m.date_updated),
            "direction": "outbound-api",
            "error_code": m.error_code,
            "error_message": m.error_message,
            "from": m.from_,
            "messaging_service_sid": m.messaging_service_sid,
            "num_media": str(m.num_media),
            "num_segments": str(m.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": m.to,
            "uri": uri,
        }

    def call_resource(self, c: CallRecord) -> dict[str, Any]:
        """The Call resource JSON Twilio would return for ``c``."""
        uri = self._call_uri(c.sid)
        base = uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(c.date_created),
            "date_updated": _rfc2822(c.date_created),
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": c.from_,
            "from_formatted": c.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": c.sid,
            "start_time": None,
            "status": c.status,
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "events": f"{base}/Events.json",
            },
            "to": c.to,
            "to_formatted": c.to,
            "trunk_sid": None,
            "uri": uri,
        }

    @staticmethod
    def _record_json(m: MessageRecord) -> dict[str, Any]:
        return {
            "sid": m.sid,
            "to": m.to,
            "from": m.from_,
            "body": m.body,
            "status": m.status,
            "status_history": list(m.status_history),
            "error_code": m.error_code,
            "status_callback": m.status_callback,
            "messaging_service_sid": m.messaging_service_sid,
            "num_segments": m.num_segments,
            "received_at": m.received_at,
            "params": dict(m.params),
        }

    def _record_message(self, record: MessageRecord) -> None:
        with self._cond:
            self.messages.append(record)
            self._messages_by_sid[record.sid] = record
            still_waiting: list[_Waiter] = []
            for waiter in self._waiters:
                try:
                    matched = waiter.predicate(record)
                except Exception as exc:  # a broken predicate fails its own waiter only
                    self._wake(waiter, _fail, exc)
                    continue
                if matched:
                    self._wake(waiter, _resolve, record)
                else:
                    still_waiting.append(waiter)
            self._waiters = still_waiting
            self._cond.notify_all()
        for hook in list(self.on_message):
            try:
                hook(record)
            except Exception as exc:  # observers must not break the peer
                log.warning("sandbox.on_message_hook_failed", hook=repr(hook), error=repr(exc))

    @staticmethod
    def _wake(waiter: _Waiter, action: Callable[..., None], value: object) -> None:
        # The waiter may live in another thread's loop; a closed loop has nobody to wake.
        with contextlib.suppress(RuntimeError):
            waiter.loop.call_soon_threadsafe(action, waiter.future, value)

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            # A client's pooled connections belong to the loop that opened them.
            self._http = httpx.AsyncClient(timeout=self.callback_timeout)
            self._http_loop = loop
        return self._http

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_callback(self, url: str, params: dict[str, str]) -> None:
        headers = {
            SIGNATURE_HEADER: self.validator.compute_signature(url, params),
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        response = await self._client().post(url, data=params, headers=headers)
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )

    async def _run_status_callbacks(self, record: MessageRecord, final: str) -> None:
        steps: list[tuple[str, int | None]] = [("sent", None)]
        steps.append((final, 30003 if final == "undelivered" else None))
        for status, error_code in steps:
            if self.callback_delay > 0:
                await asyncio.sleep(self.callback_delay)
            now = datetime.now(UTC)
            record.status = status
            record.status_history.append(status)
            record.date_updated = now
            if status == "sent":
                record.date_sent = now
            if error_code is not None:
                record.error_code = error_code
                record.error_message = "Unreachable destination handset"
                self._say(f"SMS {record.sid} to {self._who(record.to)} undelivered (30003)")
            if not record.status_callback:
                continue
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": record.from_ or "",
                "MessageSid": record.sid,
                "MessageStatus": status,
                "SmsSid": record.sid,
                "SmsStatus": status,
                "To": record.to,
            }
            if record.messaging_service_sid:
                params["MessagingServiceSid"] = record.messaging_service_sid
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            try:
                await self._post_callback(record.status_callback, params)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the receiver being down must not break the peer
                detail = f"{status} callback for {record.sid} to {record.status_callback}: {exc!r}"
                self.callback_errors.append(detail)
                self._say(f"status callback failed: {detail}")
                log.warning(
                    "sandbox.status_callback_failed",
                    sid=record.sid,
                    status=status,
                    url=record.status_callback,
                    error=repr(exc),
                )

    # -- handlers --------------------------------------------------------------------------

    async def _create_message(self, request: Request) -> Response:
        try:
            self._check_auth(request)
            params, pairs = await self._form(request)
            to = params.get("To", "").strip()
            from_ = params.get("From", "").strip() or None
            service = params.get("MessagingServiceSid", "").strip() or None
            body = params.get("Body", "")
            media = [v for k, v in pairs if k == "MediaUrl"]
            callback = params.get("StatusCallback", "").strip() or None
            if not to:
                raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
            if not from_ and not service:
                raise TwilioApiError(
                    400, 21603, "A 'From' phone number or MessagingServiceSid is required."
                )
            if not body and not media and not params.get("ContentSid"):
                raise TwilioApiError(400, 21602, "Message body is required.")
            if not is_e164(to):
                raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if callback is not None and not _is_http_url(callback):
                raise TwilioApiError(400, 21609, f"Invalid StatusCallback url: {callback}")
        except TwilioApiError as err:
            return twilio_error(err.status, err.code, err.message)

        record = MessageRecord(
            sid=new_sid("SM"),
            to=to,
            from_=from_,
            body=body,
            status_callback=callback,
            received_at=time.monotonic(),
            params=params,
            messaging_service_sid=service,
            status="queued" if from_ else "accepted",
            num_segments=sms_segments(body),
            num_media=len(media),
        )
        record.status_history.append(record.status)

        failure = self._take_failure(to)
        if failure == "http_500":
            record.status = "rejected"
            record.status_history = ["rejected"]
            with self._cond:
                self.rejected.append(record)
            self._say(f"SMS → {self._who(to)} rejected with HTTP 500 (injected failure)")
            return twilio_error(500, 20500, "Internal Server Error")

        self._record_message(record)
        self._say(f"SMS → {self._who(to)}: " + body.replace("\n", "\n    "))
        self._spawn(self._run_status_callbacks(record, "undelivered" if failure else "delivered"))
        return JSONResponse(self.message_resource(record), status_code=201)

    async def _fetch_message(self, request: Request) -> Response:
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return twilio_error(err.status, err.code, err.message)
        record = self._messages_by_sid.get(request.path_params["sid"])
        if record is None:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(self.message_resource(record))

    async def _create_call(self, request: Request) -> Response:
        try:
            self._check_auth(request)
            params, pairs = await self._form(request)
            to = params.get("To", "").strip()
            from_ = params.get("From", "").strip()
            url = params.get("Url", "").strip() or None
            twiml = params.get("Twiml") or None
            if not to:
                raise TwilioApiError(400, 21201, "No 'To' number is specified")
            if not from_:
                raise TwilioApiError(400, 21213, "No 'From' number is specified")
            if url is None and twiml is None and not params.get("ApplicationSid"):
                raise TwilioApiError(400, 21205, "Url, Twiml or ApplicationSid is required")
            if url is not None and not _is_http_url(url):
                raise TwilioApiError(400, 21205, f"Invalid Url: {url}")
            if not is_e164(to):
                raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        except TwilioApiError as err:
            return twilio_error(err.status, err.code, err.message)

        record = CallRecord(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            url=url,
            twiml=twiml,
            status_callback=params.get("StatusCallback") or None,
            status_callback_event=tuple(
                event for k, v in pairs if k == "StatusCallbackEvent" for event in v.split()
            ),
            machine_detection=params.get("MachineDetection") or None,
            received_at=time.monotonic(),
            params=params,
        )
        with self._cond:
            self.calls.append(record)
            self._calls_by_sid[record.sid] = record
        source = f"TwiML at {url}" if url else "inline TwiML"
        self._say(f"call → {self._who(to)} from {from_} ({source})")
        return JSONResponse(self.call_resource(record), status_code=201)

    async def _fetch_call(self, request: Request) -> Response:
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return twilio_error(err.status, err.code, err.message)
        record = self._calls_by_sid.get(request.path_params["sid"])
        if record is None:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(self.call_resource(record))

    @staticmethod
    def _loopback(request: Request) -> bool:
        if request.client is None:
            return False
        try:
            return ipaddress.ip_address(request.client.host).is_loopback
        except ValueError:
            return False

    async def _http_fail(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        try:
            data = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        to = data.get("to")
        if to is not None and not isinstance(to, str):
            return JSONResponse({"error": "'to' must be a string or null"}, status_code=400)
        try:
            self.fail_next(to, data.get("count", 1), data.get("mode", ""))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "pending": self.pending_failures()})

    async def _http_messages(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        with self._cond:
            records = list(self.messages)
        return JSONResponse([self._record_json(m) for m in records])

    async def _http_calls(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        with self._cond:
            records = list(self.calls)
        return JSONResponse(
            [
                {
                    "sid": c.sid,
                    "to": c.to,
                    "from": c.from_,
                    "url": c.url,
                    "twiml": c.twiml,
                    "status": c.status,
                    "status_callback": c.status_callback,
                    "status_callback_event": list(c.status_callback_event),
                    "machine_detection": c.machine_detection,
                    "received_at": c.received_at,
                    "params": dict(c.params),
                }
                for c in records
            ]
        )

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        if status == 405:
            return twilio_error(405, 20004, "Method not allowed")
        return twilio_error(status, 20001 if status < 500 else 20500, str(exc))
