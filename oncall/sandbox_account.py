"""The sandbox peer's account resources: what `oncall doctor` asks a live Twilio account.

- ``GET /2010-04-01/Accounts/{AccountSid}.json``: the Account resource (``status`` active),
  answered with a ``Date`` header like Twilio's, so the doctor can compare clocks.
- ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…``: the
  account's numbers (``numbers``: E.164 → capabilities such as ``("sms", "voice")``), filtered
  like Twilio's by PhoneNumber.

Both use the peer's HTTP basic auth (a wrong SID or token gets Twilio's 401, code 20003);
an account other than the peer's is not found (404, code 20404).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncall.sandbox_resources import TwilioApiError, not_found
from oncall.twilio_webhooks import API_VERSION

CAPABILITIES = ("sms", "voice", "mms", "fax")


class SandboxAccount:
    """The account behind the sandbox peer: its SID and the phone numbers it owns."""

    def __init__(self, account_sid: str, check_auth: Callable[[Request], None]) -> None:
        self.account_sid = account_sid
        self.numbers: dict[str, tuple[str, ...]] = {}
        self._check_auth = check_auth

    def routes(self) -> list[Route]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return [
            Route(f"{base}.json", self._fetch_account, methods=["GET"]),
            Route(f"{base}/IncomingPhoneNumbers.json", self._list_numbers, methods=["GET"]),
        ]

    async def _fetch_account(self, request: Request) -> Response:
        if request.path_params["account_sid"] != self.account_sid:
            return not_found(request)  # no such account here (the peer holds only one)
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        return JSONResponse(
            {
                "sid": self.account_sid,
                "friendly_name": "oncall sandbox",
                "status": "active",
                "type": "Full",
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}.json",
            }
        )

    async def _list_numbers(self, request: Request) -> Response:
        try:
            self._check_auth(request)
        except TwilioApiError as err:
            return err.response()
        wanted = request.query_params.get("PhoneNumber")
        numbers = [n for n in sorted(self.numbers) if wanted is None or n == wanted]
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return JSONResponse(
            {
                "incoming_phone_numbers": [
                    {
                        "sid": f"PN{index:032x}",
                        "account_sid": self.account_sid,
                        "phone_number": number,
                        "capabilities": {c: c in self.numbers[number] for c in CAPABILITIES},
                    }
                    for index, number in enumerate(numbers, start=1)
                ],
                "page": 0,
                "page_size": 50,
                "uri": uri,
                "next_page_uri": None,
            }
        )
