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
  A number that replied STOP (``opt_out``) is refused with 400, code 21610.
- ``POST Calls.json``: records the call, answers 201 with a Call resource and rings it:
  ``initiated``/``ringing`` status callbacks, then the call waits for ``answer`` (the TwiML is
  fetched from ``Url``, signed), keys, a message or an unanswered end, and sends the final
  status callback (``oncall.sandbox_calls``, which also places inbound calls to the daemon).
- ``GET Messages/{Sid}.json``, ``GET Calls/{Sid}.json``: the recorded resource, with its status
  as it is now; ``GET Messages.json`` and ``GET Calls.json`` list them (filtered by To/From).

Failure injection (retry tests): ``fail_next(to, count, mode)`` or ``POST /_sandbox/fail``.
Observation: ``messages``, ``calls``, ``rejected``, ``on_message`` hooks, ``wait_for_message``
/ ``wait_for_call`` (async, any loop) and their ``_sync`` forms (other threads),
``GET /_sandbox/messages`` and ``/_sandbox/calls``; call controls are
``POST /_sandbox/calls/{sid}/{answer|press|no-input|message|dial|hang-up|end}`` and
``POST /_sandbox/calls/inbound``. Those records are ``oncall.sandbox_records``; the
``/_sandbox`` endpoints (``oncall.sandbox_controls``) need no auth and answer loopback clients
only. What Twilio sends to the
daemon for an inbound SMS is ``oncall.twilio_webhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncall.sandbox_account import SandboxAccount
from oncall.sandbox_controls import SandboxControls
from oncall.sandbox_records import CallRecord, MessageRecord
from oncall.sandbox_resources import (
    TwilioApiError,
    echo_stderr,
    is_e164,
    is_http_url,
    not_found,
    twilio_error,
)
from oncall.twilio_webhooks import API_VERSION, new_sid, sms_segments

log = structlog.get_logger(__name__)


class SandboxPeer(SandboxControls):
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
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        # How late a `lost_answer` failure answers: longer than the client's request timeout.
        self.lost_answer_delay = 3.0
        self.echo = echo
        self.names: dict[str, str] = dict(names or {})
        self.callback_delay = callback_delay
        self.callback_timeout = callback_timeout

        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        # What `oncall doctor` reads: the account, and the numbers it owns (`account.numbers`).
        self.account = SandboxAccount(account_sid, self._check_auth)
        self.app = Starlette(
            routes=[
                *self.account.routes(),
                Route(f"{base}/Messages.json", self._create_message, methods=["POST"]),
                Route(f"{base}/Messages.json", self._list_messages, methods=["GET"]),
                Route(f"{base}/Messages/{{sid}}.json", self._fetch_message, methods=["GET"]),
                Route(f"{base}/Calls.json", self._create_call, methods=["POST"]),
                Route(f"{base}/Calls.json", self._list_calls, methods=["GET"]),
                Route(f"{base}/Calls/{{sid}}.json", self._fetch_call, methods=["GET"]),
                *self.control_routes(),
            ],
            exception_handlers={HTTPException: self._http_exception},
        )

    # -- public API ------------------------------------------------------------------------

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
            if callback is not None and not is_http_url(callback):
                raise TwilioApiError(400, 21609, f"Invalid StatusCallback url: {callback}")
        except TwilioApiError as err:
            return err.response()

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

        if to in self.opted_out:
            record.status = "rejected"
            record.status_history = ["rejected"]
            self._record_rejection(record)
            self._say(f"SMS → {self._who(to)} refused: the number replied STOP (21610)")
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        failure = self._take_failure(to)
        if failure == "http_500":
            record.status = "rejected"
            record.status_history = ["rejected"]
            self._record_rejection(record)
            self._say(f"SMS → {self._who(to)} rejected with HTTP 500 (injected failure)")
            return twilio_error(500, 20500, "Internal Server Error")

        self._record_message(record)
        self._say(f"SMS → {self._who(to)}: " + body.replace("\n", "\n    "))
        undelivered = failure == "undelivered"
        self._spawn(
            self._run_status_callbacks(record, "undelivered" if undelivered else "delivered")
        )
        if failure == "lost_answer":
            self._say(f"SMS → {self._who(to)} accepted, but the answer is held back (injected)")
            await asyncio.sleep(self.lost_answer_delay)
        return JSONResponse(record.resource(self.account_sid), status_code=201)

    async def _fetch_message(self, request: Request) -> Response:
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        record = self.message(request.path_params["sid"])
        if record is None:
            return not_found(request)
        return JSONResponse(record.resource(self.account_sid))

    async def _list_messages(self, request: Request) -> Response:
        """The Messages list, newest first, filtered by To/From like Twilio's (one page)."""
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        with self._cond:
            records = list(reversed(self.messages))
        return self._list_page(request, "messages", records)

    def _list_page(
        self, request: Request, key: str, records: list[MessageRecord] | list[CallRecord]
    ) -> Response:
        """One page of a Twilio list resource, newest first, filtered by To/From."""
        query = request.query_params
        if query.get("To"):
            records = [r for r in records if r.to == query["To"]]
        if query.get("From"):
            records = [r for r in records if r.from_ == query["From"]]
        size = int(query["PageSize"]) if query.get("PageSize", "").isdigit() else 50
        page = records[:size]
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return JSONResponse(
            {
                key: [r.resource(self.account_sid) for r in page],
                "end": max(0, len(page) - 1),
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            }
        )

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
            if url is not None and not is_http_url(url):
                raise TwilioApiError(400, 21205, f"Invalid Url: {url}")
            if not is_e164(to):
                raise TwilioApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        except TwilioApiError as err:
            return err.response()

        if self._take_failure(to, ("http_500",)):
            self._say(f"call → {self._who(to)} rejected with HTTP 500 (injected failure)")
            return twilio_error(500, 20500, "Internal Server Error")
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
        self._record_call(record)
        source = f"TwiML at {url}" if url else "inline TwiML"
        self._say(f"call → {self._who(to)} from {from_} ({source})")
        self._call_placed(record)
        return JSONResponse(record.resource(self.account_sid), status_code=201)

    async def _list_calls(self, request: Request) -> Response:
        """The Calls list, newest first, filtered by To/From like Twilio's (one page)."""
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        with self._cond:
            records = [c for c in reversed(self.calls) if c.direction == "outbound-api"]
        return self._list_page(request, "calls", records)

    async def _fetch_call(self, request: Request) -> Response:
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        record = self.call(request.path_params["sid"])
        if record is None:
            return not_found(request)
        return JSONResponse(record.resource(self.account_sid))

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return not_found(request)
        if status == 405:
            return twilio_error(405, 20004, "Method not allowed")
        return twilio_error(status, 20001 if status < 500 else 20500, str(exc))
