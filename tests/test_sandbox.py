"""The sandbox Twilio peer, driven by the real twilio SDK over HTTP on 127.0.0.1.

Servers run in the test's own event loop (``oncall.serving.start_server`` on port 0); the
blocking SDK client runs in a worker thread via ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from harness import free_port
from sandbox_servers import (
    ALICE,
    BOB,
    SID,
    TOKEN,
    TWILIO_NUMBER,
    async_client,
    receiver,
    run,
    sandbox,
    send_sms,
)
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

# twilio 9.x's AsyncTwilioHttpClient still passes aiohttp.BasicAuth / auth=, which aiohttp 3.14
# deprecates; that is the SDK's business, not something these tests can act on.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


# --- sending SMS with the real SDK ---------------------------------------------------------


def test_sync_sdk_client_sends_sms() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            message = await asyncio.to_thread(send_sms, box, ALICE, "PAGE 12: ACME ERP down")
            assert message.sid.startswith("SM") and len(message.sid) == 34
            assert message.status == "queued"
            assert message.to == ALICE
            assert message.from_ == TWILIO_NUMBER
            assert message.account_sid == SID
            assert message.date_created is not None
            assert message.api_version == "2010-04-01"

            [record] = box.peer.messages
            assert (record.sid, record.to, record.from_) == (message.sid, ALICE, TWILIO_NUMBER)
            assert record.body == "PAGE 12: ACME ERP down"
            assert record.params["Body"] == "PAGE 12: ACME ERP down"
            assert box.echoed == [
                "[sandbox] SMS → Alice Nguyen (+15550001001): PAGE 12: ACME ERP down"
            ]

            # Without a StatusCallback the status still advances; fetch shows it.
            await box.peer.drain()
            fetched = await asyncio.to_thread(box.client().messages(message.sid).fetch)
            assert fetched.status == "delivered"
            assert fetched.date_sent is not None

    run(scenario())


def test_async_sdk_client_sends_sms() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            message = await client.messages.create_async(
                to=BOB, from_=TWILIO_NUMBER, body="PAGE 7", validity_period=600
            )
            assert message.sid.startswith("SM")
            assert message.status == "queued"
            [record] = box.peer.messages
            assert record.sid == message.sid
            assert record.params["ValidityPeriod"] == "600"

    run(scenario())


def test_messaging_service_without_from_is_accepted() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            message = await client.messages.create_async(
                to=ALICE, messaging_service_sid="MG" + "2" * 32, body="hi"
            )
            assert message.status == "accepted"
            assert message.from_ is None

    run(scenario())


def test_wrong_token_is_401() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            client = box.client(token="wrong")
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(
                    client.messages.create, to=ALICE, from_=TWILIO_NUMBER, body="x"
                )
            assert info.value.status == 401
            assert info.value.code == 20003
            assert box.peer.messages == []

    run(scenario())


def test_account_sid_in_path_must_match() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            other = "AC" + "9" * 32
            response = await http.post(
                f"{box.server.url}/2010-04-01/Accounts/{other}/Messages.json",
                data={"To": ALICE, "From": TWILIO_NUMBER, "Body": "x"},
                auth=(SID, TOKEN),
            )
            assert response.status_code == 401
            assert response.json() == {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }

    run(scenario())


def test_bad_to_is_400_21211() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(send_sms, box, "555-0100")
            assert info.value.status == 400
            assert info.value.code == 21211
            assert box.peer.messages == []

    run(scenario())


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": TWILIO_NUMBER, "Body": "x"}, 21604),
        ({"To": ALICE, "From": TWILIO_NUMBER}, 21602),
        ({"To": ALICE, "Body": "x"}, 21603),
        ({"To": ALICE, "From": TWILIO_NUMBER, "Body": "x", "StatusCallback": "nope"}, 21609),
    ],
)
def test_missing_or_bad_params_are_400(form: dict[str, str], code: int) -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            response = await http.post(
                f"{box.server.url}/2010-04-01/Accounts/{SID}/Messages.json",
                data={**form, "SomeFutureParam": "ignored"},
                auth=(SID, TOKEN),
            )
            assert response.status_code == 400
            assert response.json()["code"] == code
            assert response.json()["status"] == 400

    run(scenario())


def test_unknown_message_is_404() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            fetch = box.client().messages("SM" + "0" * 32).fetch
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(fetch)
            assert info.value.status == 404
            assert info.value.code == 20404

    run(scenario())


def test_unknown_routes_get_twilio_shaped_errors() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            missing = await http.get(box.server.url + "/2010-04-01/Accounts/Nope.json")
            assert missing.status_code == 404
            assert missing.json()["code"] == 20404
            wrong_method = await http.delete(
                f"{box.server.url}/2010-04-01/Accounts/{SID}/Messages.json", auth=(SID, TOKEN)
            )
            assert wrong_method.status_code == 405
            assert wrong_method.json()["code"] == 20004

    run(scenario())


# --- status callbacks ----------------------------------------------------------------------


def test_status_callbacks_are_signed_and_ordered() -> None:
    async def scenario() -> None:
        async with sandbox() as box, receiver() as recv, async_client(box) as client:
            callback = recv.url("/twilio/status?page=12")
            message = await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 12", status_callback=callback
            )
            sent, delivered = await recv.next(), await recv.next()
            assert [sent.params["MessageStatus"], delivered.params["MessageStatus"]] == [
                "sent",
                "delivered",
            ]
            for received in (sent, delivered):
                assert received.url == callback
                assert received.valid
                assert received.params["MessageSid"] == message.sid
                assert received.params["SmsSid"] == message.sid
                assert received.params["SmsStatus"] == received.params["MessageStatus"]
                assert received.params["To"] == ALICE
                assert received.params["From"] == TWILIO_NUMBER
                assert received.params["AccountSid"] == SID
                assert received.params["ApiVersion"] == "2010-04-01"
                assert "ErrorCode" not in received.params
            # A signature over other parameters must not validate.
            assert not RequestValidator(TOKEN).validate(
                callback, {**delivered.params, "MessageStatus": "failed"}, delivered.signature
            )
            await box.peer.drain()
            assert box.peer.messages[0].status_history == ["queued", "sent", "delivered"]

    run(scenario())


def test_undelivered_injection() -> None:
    async def scenario() -> None:
        async with sandbox() as box, receiver() as recv, async_client(box) as client:
            box.peer.fail_next(ALICE, 1, "undelivered")
            callback = recv.url("/status")
            first = await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 1", status_callback=callback
            )
            assert first.status == "queued"  # accepted at the API
            sent, undelivered = await recv.next(), await recv.next()
            assert sent.params["MessageStatus"] == "sent"
            assert undelivered.params["MessageStatus"] == "undelivered"
            assert undelivered.params["ErrorCode"] == "30003"
            assert undelivered.valid

            await client.messages.create_async(
                to=ALICE, from_=TWILIO_NUMBER, body="PAGE 1 retry", status_callback=callback
            )
            assert (await recv.next()).params["MessageStatus"] == "sent"
            assert (await recv.next()).params["MessageStatus"] == "delivered"

            fetched = await client.messages(first.sid).fetch_async()
            assert fetched.status == "undelivered"
            assert fetched.error_code == 30003

    run(scenario())


def test_http_500_injection_over_http_endpoint() -> None:
    async def scenario() -> None:
        async with sandbox() as box, httpx.AsyncClient() as http:
            response = await http.post(
                box.server.url + "/_sandbox/fail", json={"to": None, "count": 2, "mode": "http_500"}
            )
            assert response.status_code == 200
            assert response.json()["pending"] == [{"to": None, "count": 2, "mode": "http_500"}]
            for _ in range(2):
                with pytest.raises(TwilioRestException) as info:
                    await asyncio.to_thread(send_sms, box)
                assert info.value.status == 500
            message = await asyncio.to_thread(send_sms, box)
            assert message.status == "queued"
            assert [m.sid for m in box.peer.messages] == [message.sid]
            assert len(box.peer.rejected) == 2
            assert box.peer.pending_failures() == []

            bad = await http.post(
                box.server.url + "/_sandbox/fail", json={"count": 1, "mode": "explode"}
            )
            assert bad.status_code == 400
            assert "unknown failure mode" in bad.json()["error"]

    run(scenario())


def test_http_500_injection_only_hits_the_given_number() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            box.peer.fail_next(BOB, 1, "http_500")
            await asyncio.to_thread(send_sms, box, ALICE)
            with pytest.raises(TwilioRestException):
                await asyncio.to_thread(send_sms, box, BOB)
            await asyncio.to_thread(send_sms, box, BOB)
            assert [m.to for m in box.peer.messages] == [ALICE, BOB]
            assert [m.to for m in box.peer.rejected] == [BOB]

    run(scenario())


def test_callback_failure_does_not_crash_the_peer() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            dead = f"http://127.0.0.1:{free_port()}/status"
            await asyncio.to_thread(send_sms, box, ALICE, "one", status_callback=dead)
            await box.peer.drain()
            assert len(box.peer.callback_errors) == 2
            assert any("status callback failed" in line for line in box.echoed)
            message = await asyncio.to_thread(send_sms, box, ALICE, "two")
            assert message.status == "queued"
            assert box.peer.messages[0].status == "delivered"

    run(scenario())


# --- calls -------------------------------------------------------------------------------


def test_calls_are_recorded_and_ring() -> None:
    async def scenario() -> None:
        async with sandbox() as box, receiver() as recv:
            client = box.client()
            call = await asyncio.to_thread(
                client.calls.create,
                to=BOB,
                from_=TWILIO_NUMBER,
                url=recv.url("/twilio/voice/page?page=12"),
                status_callback=recv.url("/twilio/status?page=12"),
                status_callback_event=["initiated", "answered", "completed"],
                machine_detection="Enable",
            )
            assert call.sid.startswith("CA") and len(call.sid) == 34
            assert call.status == "queued"
            [record] = box.peer.calls
            assert record.sid == call.sid
            assert record.to == BOB
            assert record.url == recv.url("/twilio/voice/page?page=12")
            assert record.status_callback_event == ("initiated", "answered", "completed")
            assert record.machine_detection == "Enable"
            assert box.echoed[0].startswith("[sandbox] call → Bob Okafor (+15550001002)")

            initiated = await recv.next()  # "ringing" was not asked for
            assert initiated.valid and initiated.params["CallStatus"] == "queued"
            await box.peer.drain()
            fetched = await asyncio.to_thread(client.calls(call.sid).fetch)
            assert fetched.status == "ringing"
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(client.calls("CA" + "0" * 32).fetch)
            assert info.value.status == 404
            listed = await asyncio.to_thread(client.calls.list, to=BOB)
            assert [c.sid for c in listed] == [call.sid]
            assert await asyncio.to_thread(client.calls.list, to=ALICE) == []

    run(scenario())


def test_call_with_inline_twiml_async() -> None:
    async def scenario() -> None:
        async with sandbox() as box, async_client(box) as client:
            call = await client.calls.create_async(
                to=ALICE, from_=TWILIO_NUMBER, twiml="<Response><Say>Page 12</Say></Response>"
            )
            assert call.status == "queued"
            assert box.peer.calls[0].twiml == "<Response><Say>Page 12</Say></Response>"
            record = await box.peer.answer(call.sid)
            assert record.said == ["Page 12"] and record.status == "completed"

    run(scenario())


def test_sms_to_a_number_that_replied_stop_is_refused_with_21610() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            box.peer.opt_out(ALICE)
            with pytest.raises(TwilioRestException) as info:
                await asyncio.to_thread(send_sms, box, ALICE)
            assert (info.value.status, info.value.code) == (400, 21610)
            assert [m.to for m in box.peer.rejected] == [ALICE] and box.peer.messages == []
            box.peer.opt_in(ALICE)
            assert (await asyncio.to_thread(send_sms, box, ALICE)).status == "queued"

    run(scenario())
