"""Twilio delivery: send SMS and place voice calls through the official SDK's async REST client.

Points at api.twilio.com in live mode, or at any Twilio-compatible server (the sandbox peer)
through `twilio.api_base_url`. Errors come back classified: worth retrying, or not; the
Twilio error codes a page can meet are explained in words for the log (`error_meaning`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from oncall.config import TwilioSettings

# Twilio error codes that no retry will fix (bad number, opted out, landline, blocked).
PERMANENT_ERROR_CODES = {
    13224,
    13225,
    21211,
    21214,
    21215,
    21216,
    21217,
    21408,
    21610,
    21612,
    21614,
    30005,
    30006,
    30007,
    30034,
}
OPTED_OUT = 21610  # the tech replied STOP: Twilio refuses every SMS to them until START
LANDLINE = 30006  # the number cannot take SMS: call it instead
ERROR_MEANINGS = {
    13224: "the number is not a valid phone number for calls",
    13225: "calls to this number are blocked (Twilio's fraud protection)",
    21211: "the 'To' number is not a valid phone number",
    21214: "the 'To' number cannot be reached",
    21215: "calls to this country are not enabled (Voice geographic permissions)",
    21216: "calls to this number are blocked (high-risk or premium number)",
    21217: "the 'To' number is not a valid phone number for calls",
    21408: "SMS to this region is not enabled (Messaging geographic permissions)",
    21610: "the recipient opted out with STOP: no SMS reaches them until they text START",
    21612: "this 'To' number cannot be reached from the 'From' number",
    21614: "the 'To' number is not a mobile number",
    30001: "Twilio's queue overflowed: too many messages at once",
    30003: "handset unreachable: the phone is off or has no signal",
    30005: "unknown destination: the number does not exist or is not in service",
    30006: "landline or unreachable carrier: the number cannot take SMS (call it instead)",
    30007: "filtered by the carrier as spam",
    30034: "sent from an unregistered US 10DLC number (register the A2P brand and campaign)",
}
# Calls: ring this long before Twilio gives up with no-answer (a voicemail may pick up first).
RING_SECONDS = 30


def error_meaning(code: int | str | None) -> str:
    """'30003 (handset unreachable: ...)' for the log; the bare code when it is not known."""
    if code is None or code == "":
        return ""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return str(code)
    meaning = ERROR_MEANINGS.get(number)
    return f"{number} ({meaning})" if meaning else str(number)


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str


# How a failure that may have reached Twilio all the same begins (see SendError.unknown);
# the retry of such a send asks Twilio first (oncall.outbound.may_have_reached_twilio).
NO_ANSWER = "no answer from Twilio"


class SendError(Exception):
    """Twilio did not take the message. `transient` says whether a retry may succeed;
    `unknown` that the request may have reached Twilio all the same (it timed out or the
    connection dropped after sending), so a retry must first ask Twilio whether it has it."""

    def __init__(
        self, message: str, *, transient: bool, code: int | None = None, unknown: bool = False
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.unknown = unknown


class TimedHttpClient(AsyncTwilioHttpClient):
    """The SDK's async HTTP client, with its `timeout` applied to every request.

    The SDK hands aiohttp `timeout=None` (no limit at all) unless each call passes one, and the
    resource methods (messages.create_async, …) have no way to, so the limit goes around the
    whole request here: a Twilio API that hangs fails the send in `request_timeout`."""

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        async with asyncio.timeout(self.timeout):
            return await super().request(*args, **kwargs)


class Notifier:
    """One async Twilio REST client for the daemon's lifetime."""

    def __init__(self, settings: TwilioSettings, api_base_url: str | None = None) -> None:
        self.settings = settings
        self._http = TimedHttpClient(timeout=settings.request_timeout.total_seconds())
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self._http)
        # Awaited before every create request: the state change behind it is committed first
        # (the daemon's group commit, Store.durable).
        self.before_send: Callable[[], Awaitable[None]] | None = None
        base = api_base_url or settings.api_base_url
        if base:
            self.client.api.base_url = base

    async def send_sms(
        self, to: str, body: str, *, status_callback: str | None, validity: timedelta | None = None
    ) -> Sent:
        validity = validity or self.settings.sms_validity
        # Twilio accepts ValidityPeriod between 1 and 36000 seconds (1 s … 10 h).
        validity_seconds = max(1, min(36000, int(validity.total_seconds())))
        if self.before_send is not None:
            await self.before_send()
        try:
            message = await self.client.messages.create_async(
                to=to,
                from_=self.settings.from_number,
                body=body,
                status_callback=status_callback,
                validity_period=validity_seconds,
            )
        except Exception as exc:
            raise _send_error(exc) from exc
        return Sent(sid=str(message.sid), status=str(message.status))

    async def place_call(self, to: str, *, url: str, status_callback: str) -> Sent:
        """Call `to`; Twilio fetches the call's TwiML from `url` once it is answered.

        Answering-machine detection is on, so that request says who answered (`AnsweredBy`);
        every progress event is reported to `status_callback`.
        """
        if self.before_send is not None:
            await self.before_send()
        try:
            call = await self.client.calls.create_async(
                to=to,
                from_=self.settings.from_number,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                machine_detection="Enable",
                timeout=RING_SECONDS,
            )
        except Exception as exc:
            raise _send_error(exc) from exc
        return Sent(sid=str(call.sid), status=str(call.status))

    async def find_sent(
        self, to: str, body: str, since: datetime, known: Collection[str] = ()
    ) -> Sent | None:
        """A message with this body to this number created since `since`, if Twilio has one.

        Used after a crash between handing a page to Twilio and recording its SID: if Twilio
        has it, the page was sent and must not be sent twice. Any error answers None, so the
        caller sends again (a duplicate page is better than a lost one). `known`: SIDs
        already accounted for (another page's), which cannot be this one.
        """
        try:
            messages = await self.client.messages.list_async(to=to, limit=20)
        except Exception:
            return None
        for message in messages:
            created = message.date_created
            if str(message.sid) in known:
                continue
            if message.body == body and (created is None or created >= since):
                return Sent(sid=str(message.sid), status=str(message.status))
        return None

    async def find_call(self, to: str, since: datetime, known: Collection[str] = ()) -> Sent | None:
        """The latest call to this number created since `since`, if Twilio has one (see
        `find_sent`; a call has no body to compare, so any call to the tech counts)."""
        try:
            calls = await self.client.calls.list_async(to=to, limit=20)
        except Exception:
            return None
        for call in calls:
            if str(call.sid) in known:
                continue
            created = call.date_created
            if created is None or created >= since:
                return Sent(sid=str(call.sid), status=str(call.status))
        return None

    async def close(self) -> None:
        await self._http.close()


def _send_error(exc: Exception) -> SendError:
    """Classify what the SDK raised: a REST error by status and code, anything else transient."""
    if isinstance(exc, TwilioRestException):
        transient = exc.status >= 500 or exc.status == 429
        if exc.code in PERMANENT_ERROR_CODES:
            transient = False
        return SendError(
            f"Twilio answered {exc.status} (code {error_meaning(exc.code)}): {exc.msg}",
            transient=transient,
            code=exc.code,
        )
    if isinstance(exc, TimeoutError | aiohttp.ServerDisconnectedError):
        # Sent, but no answer: Twilio may have created it.
        return SendError(f"{NO_ANSWER}: {exc!r}", transient=True, unknown=True)
    if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: not sent
        return SendError(f"cannot reach Twilio: {exc!r}", transient=True)
    if isinstance(exc, aiohttp.ClientError | OSError | TwilioException):
        return SendError(f"{NO_ANSWER}: {exc!r}", transient=True, unknown=True)
    # Anything else (an odd response the SDK cannot parse, …) must not lose the page: treat
    # it as transient so it is retried and, failing that, escalated.
    return SendError(f"unexpected error talking to Twilio: {exc!r}", transient=True)
