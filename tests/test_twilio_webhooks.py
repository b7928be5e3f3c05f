"""Twilio webhooks: inbound-SMS form fields, signatures, signed sends, SMS segment counts."""

from __future__ import annotations

import asyncio

import pytest
from sandbox_servers import ALICE, SID, TOKEN, TWILIO_NUMBER, receiver, run
from twilio.request_validator import RequestValidator

from oncall.twilio_webhooks import (
    inbound_sms_params,
    send_inbound_sms,
    send_inbound_sms_sync,
    sign_request,
    sms_segments,
)

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


# --- SMS segments ------------------------------------------------------------------------


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
