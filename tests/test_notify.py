"""The Twilio client (oncall.notify): SMS and calls through the real SDK to the sandbox peer,
and Twilio's errors classified and explained."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sandbox_servers import ALICE, SID, TOKEN, TWILIO_NUMBER, run, sandbox
from twilio.base.exceptions import TwilioRestException

from oncall.config import TwilioSettings
from oncall.notify import Notifier, SendError, _send_error, error_meaning

SETTINGS = TwilioSettings(
    mode="live",
    account_sid=SID,
    auth_token=TOKEN,
    from_number=TWILIO_NUMBER,
    emergency_line=None,
    api_base_url=None,
    sms_validity=timedelta(minutes=10),
    request_timeout=timedelta(seconds=5),
    sandbox_listen=("127.0.0.1", 0),
)


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (30003, "30003 (handset unreachable: the phone is off or has no signal)"),
        ("30005", "30005 (unknown destination: the number does not exist or is not in service)"),
        (
            30006,
            "30006 (landline or unreachable carrier: the number cannot take SMS (call it instead))",
        ),
        (
            21610,
            "21610 (the recipient opted out with STOP: no SMS reaches them until they text START)",
        ),
        (99999, "99999"),
        (None, ""),
        ("", ""),
        ("x", "x"),
    ],
)
def test_error_meaning(code: int | str | None, text: str) -> None:
    assert error_meaning(code) == text


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        (500, 20500, True),
        (429, 20429, True),
        (400, 21211, False),
        (400, 21610, False),
        (503, 30006, False),
    ],
)
def test_rest_errors_are_classified(status: int, code: int, transient: bool) -> None:
    error = _send_error(TwilioRestException(status, "https://x", msg="nope", code=code))
    assert isinstance(error, SendError) and error.transient is transient and error.code == code
    assert "nope" in str(error)
    assert _send_error(TimeoutError()).transient and _send_error(ValueError("odd")).transient


def test_place_call_asks_for_machine_detection_and_every_progress_event() -> None:
    async def scenario() -> None:
        async with sandbox() as box:
            notifier = Notifier(SETTINGS, api_base_url=box.server.url)
            try:
                before = datetime.now(UTC) - timedelta(seconds=5)
                sent = await notifier.place_call(
                    ALICE,
                    url="http://127.0.0.1:9/twilio/voice/page?page=7",
                    status_callback="http://127.0.0.1:9/twilio/status?page=7",
                )
                assert sent.sid.startswith("CA") and sent.status == "queued"
                (record,) = box.peer.calls
                assert record.url == "http://127.0.0.1:9/twilio/voice/page?page=7"
                assert record.machine_detection == "Enable"
                assert record.status_callback_event == (
                    "initiated",
                    "ringing",
                    "answered",
                    "completed",
                )
                assert record.params["Timeout"] == "30" and record.params["Method"] == "POST"
                found = await notifier.find_call(ALICE, before)
                assert found is not None and found.sid == sent.sid
                assert (
                    await notifier.find_call(ALICE, datetime.now(UTC) + timedelta(hours=1)) is None
                )
                box.peer.fail_next(ALICE, 1, "http_500")
                with pytest.raises(SendError) as info:
                    await notifier.place_call(
                        ALICE, url="http://127.0.0.1:9/y", status_callback="http://127.0.0.1:9/z"
                    )
                assert info.value.transient and info.value.code == 20500
                await box.peer.drain()  # the ringing callbacks go nowhere (port 9) and are logged
                assert len(box.peer.callback_errors) == 2
            finally:
                await notifier.close()
                await asyncio.sleep(0)

    run(scenario())
