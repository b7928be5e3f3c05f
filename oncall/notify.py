"""Twilio delivery: send SMS through the official SDK's async REST client.

Points at api.twilio.com in live mode, or at any Twilio-compatible server (the sandbox peer)
through `twilio.api_base_url`. Errors come back classified: worth retrying, or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from oncall.config import TwilioSettings

# Twilio error codes that no retry will fix (bad number, opted out, landline, blocked).
PERMANENT_ERROR_CODES = {21211, 21214, 21408, 21610, 21612, 21614, 30005, 30006, 30007, 30034}


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str


class SendError(Exception):
    """Twilio did not take the message. `transient` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


class Notifier:
    """One async Twilio REST client for the daemon's lifetime."""

    def __init__(self, settings: TwilioSettings, api_base_url: str | None = None) -> None:
        self.settings = settings
        self._http = AsyncTwilioHttpClient(timeout=settings.request_timeout.total_seconds())
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self._http)
        base = api_base_url or settings.api_base_url
        if base:
            self.client.api.base_url = base

    async def send_sms(
        self, to: str, body: str, *, status_callback: str | None, validity: timedelta | None = None
    ) -> Sent:
        validity = validity or self.settings.sms_validity
        # Twilio accepts ValidityPeriod between 1 and 36000 seconds (1 s … 10 h).
        validity_seconds = max(1, min(36000, int(validity.total_seconds())))
        try:
            message = await self.client.messages.create_async(
                to=to,
                from_=self.settings.from_number,
                body=body,
                status_callback=status_callback,
                validity_period=validity_seconds,
            )
        except TwilioRestException as exc:
            transient = exc.status >= 500 or exc.status == 429
            if exc.code in PERMANENT_ERROR_CODES:
                transient = False
            raise SendError(
                f"Twilio answered {exc.status} (code {exc.code}): {exc.msg}",
                transient=transient,
                code=exc.code,
            ) from exc
        except (TimeoutError, aiohttp.ClientError, OSError, TwilioException) as exc:
            raise SendError(f"cannot reach Twilio: {exc!r}", transient=True) from exc
        except Exception as exc:
            # Anything else (an odd response the SDK cannot parse, …) must not lose the page:
            # treat it as transient so it is retried and, failing that, escalated.
            raise SendError(f"unexpected error talking to Twilio: {exc!r}", transient=True) from exc
        return Sent(sid=str(message.sid), status=str(message.status))

    async def find_sent(self, to: str, body: str, since: datetime) -> Sent | None:
        """A message with this body to this number created since `since`, if Twilio has one.

        Used after a crash between handing a page to Twilio and recording its SID: if Twilio
        has it, the page was sent and must not be sent twice. Any error answers None, so the
        caller sends again (a duplicate page is better than a lost one).
        """
        try:
            messages = await self.client.messages.list_async(to=to, limit=20)
        except Exception:
            return None
        for message in messages:
            created = message.date_created
            if message.body == body and (created is None or created >= since):
                return Sent(sid=str(message.sid), status=str(message.status))
        return None

    async def close(self) -> None:
        await self._http.close()
