"""The webhooks Twilio POSTs to the daemon, built and signed the way Twilio does it.

What a tech's phone looks like to the daemon: an inbound SMS arrives as a signed form POST
(``inbound_sms_params``, ``send_inbound_sms[_sync]``); tests, the demo and ``oncall sandbox
reply`` use these. The sandbox peer signs its status callbacks with ``webhook_headers``. All
signatures come from the twilio SDK's ``RequestValidator``. Also here, the Twilio facts both
sides need: the API version, resource SIDs and SMS segment counts.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping

import httpx
import phonenumbers
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1"

# GSM 03.38: the basic set costs one septet, the extension set two (escape + char).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def new_sid(prefix: str) -> str:
    """A Twilio-style resource SID: two-letter prefix and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def septets(text: str) -> int:
    """GSM-7 length: the extension characters ([, ], €, ...) cost two septets each."""
    return sum(2 if c in _GSM7_EXTENSION else 1 for c in text)


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


def sign_request(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send for a form POST of ``params`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def webhook_headers(auth_token: str, signed_url: str, params: Mapping[str, str]) -> dict[str, str]:
    """The headers of a Twilio webhook POST of ``params``, signed for ``signed_url``."""
    return {
        SIGNATURE_HEADER: sign_request(auth_token, signed_url, params),
        "User-Agent": USER_AGENT,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }


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
    headers = webhook_headers(auth_token, signed_url, params)
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
    headers = webhook_headers(auth_token, signed_url, params)
    if client is not None:
        return client.post(post_url, data=params, headers=headers)
    with httpx.Client(timeout=10.0) as own:
        return own.post(post_url, data=params, headers=headers)


def _country_of(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(parsed)
    if not region or region == phonenumbers.UNKNOWN_REGION:
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "" if region == phonenumbers.UNKNOWN_REGION else region
