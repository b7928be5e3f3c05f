"""The resources of the sandbox Twilio peer, shaped as Twilio's REST API shapes them.

``MessageRecord`` and ``CallRecord`` are the Messages and Calls requests the peer accepted
(a call also keeps what it said and where it waits); each renders as the resource JSON the
twilio SDK parses and as the loopback ``/_sandbox`` listing. ``twilio_error`` is Twilio's
error body (what ``TwilioRestException`` reads); ``is_e164`` its phone-number check.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from starlette.requests import Request
from starlette.responses import JSONResponse

from oncall.twilio_webhooks import API_VERSION

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def echo_stderr(line: str) -> None:
    """The default echo: one line per event on stderr, for whoever watches the demo."""
    print(line, file=sys.stderr, flush=True)


def is_e164(number: str) -> bool:
    """True if ``number`` is written in E.164 (``+`` and digits) and is a possible number."""
    if not _E164.match(number):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(parsed)


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class TwilioApiError(Exception):
    """Raised inside a handler to answer with a Twilio-shaped error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return twilio_error(self.status, self.code, self.message)


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


def not_found(request: Request) -> JSONResponse:
    return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


def _rfc2822(instant: datetime | None) -> str | None:
    return format_datetime(instant) if instant is not None else None


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

    def resource(self, account_sid: str) -> dict[str, Any]:
        """The Message resource JSON Twilio would return for this message."""
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(self.num_media),
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.removesuffix(".json") + "/Media.json"},
            "to": self.to,
            "uri": uri,
        }

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /_sandbox/messages`` lists it."""
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "status_history": list(self.status_history),
            "error_code": self.error_code,
            "status_callback": self.status_callback,
            "messaging_service_sid": self.messaging_service_sid,
            "num_segments": self.num_segments,
            "received_at": self.received_at,
            "params": dict(self.params),
        }


@dataclass
class CallRecord:
    """One call: placed through the Calls API (outbound) or to the line (``inbound``).

    ``status`` follows the simulated call (queued → ringing → in-progress → completed, or a
    failure); ``said`` is everything the call has said so far; ``waiting`` is where it waits
    for the person on it ("gather", "record", "dial", "queue" on hold, "bridged" once a
    ``<Dial><Queue>`` took it) with ``action`` the URL that gets the answer; ``documents``
    every TwiML document fetched.
    """

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
    direction: str = "outbound-api"
    answered_by: str | None = None
    said: list[str] = field(default_factory=list)
    waiting: str | None = None
    action: str | None = None
    action_on_empty: bool = False
    rest: list[Any] = field(default_factory=list, repr=False)  # verbs after the waiting one
    document_url: str | None = None
    documents: list[str] = field(default_factory=list, repr=False)
    dialed: list[str] = field(default_factory=list)
    queue: str | None = None  # the queue an <Enqueue> holds this call in
    wait_url: str | None = None  # that queue's waitUrl
    bridged_with: str | None = None  # the call a <Dial><Queue> joined this one to
    webhook_errors: list[str] = field(default_factory=list)
    status_history: list[str] = field(default_factory=list)
    answered_at: float | None = None
    duration: int | None = None
    sequence: int = 0
    ringing: asyncio.Task[None] | None = field(default=None, repr=False, compare=False)

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "busy", "no-answer", "failed", "canceled")

    def transcript(self) -> str:
        return " ".join(self.said)

    def resource(self, account_sid: str) -> dict[str, Any]:
        """The Call resource JSON Twilio would return for this call."""
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{self.sid}.json"
        base = uri.removesuffix(".json")
        return {
            "account_sid": account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(self.date_created),
            "date_updated": _rfc2822(self.date_created),
            "direction": self.direction,
            "duration": str(self.duration) if self.duration is not None else None,
            "end_time": None,
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": None,
            "status": self.status,
            "subresource_uris": {
                "notifications": f"{base}/Notifications.json",
                "recordings": f"{base}/Recordings.json",
                "events": f"{base}/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": uri,
        }

    def to_json(self) -> dict[str, Any]:
        """The record as ``GET /_sandbox/calls`` lists it."""
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "url": self.url,
            "twiml": self.twiml,
            "status": self.status,
            "status_callback": self.status_callback,
            "status_callback_event": list(self.status_callback_event),
            "machine_detection": self.machine_detection,
            "received_at": self.received_at,
            "params": dict(self.params),
            "direction": self.direction,
            "answered_by": self.answered_by,
            "status_history": list(self.status_history),
            "said": list(self.said),
            "waiting": self.waiting,
            "action": self.action,
            "dialed": list(self.dialed),
            "queue": self.queue,
            "bridged_with": self.bridged_with,
            "webhook_errors": list(self.webhook_errors),
        }
