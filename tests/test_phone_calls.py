"""The after-hours line end to end: a caller dials in through the sandbox peer (signed voice
webhooks), hears the TwiML the daemon answers, and presses keys."""

from __future__ import annotations

from datetime import datetime

import pytest
from harness import Harness, eventually, write_config

from oncall.clock import OffsetClock

CLIENT = "+18155550141"
STRANGER = "+13125550199"
PHONE_LINE = 'caller_ids = ["+1 815 555 0141"]\npin = "4821"\n'


def config(tmp_path, **options):
    options.setdefault("top", PHONE_LINE)
    return write_config(tmp_path, ack="10s", **options)


def at(text: str) -> OffsetClock:
    return OffsetClock.starting_at(datetime.fromisoformat(text))


@pytest.fixture
def h(tmp_path):
    with Harness(config(tmp_path)) as harness:
        yield harness


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def events(h: Harness, kind: str) -> list[dict]:
    return h.query("SELECT * FROM events WHERE kind = ? ORDER BY id", (kind,))


def test_a_known_caller_with_an_emergency_pages_like_an_alert(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    call = h.caller(CLIENT).dial()
    call.expect("Hello, TestCo. You have reached the after-hours support line.")
    call.expect("Press 1 if a server is down. Press 9 for anything else.")
    call.press("1").expect("An engineer is being paged now; expect a call back within 15 minutes")
    call.expect_ended()
    primary.expect_sms("[P1] TestCo: Phone: a server is down (caller +18155550141) #1")
    incident = h.incident(1)
    assert incident["state"] == "paging" and incident["rule_id"] == "server-down"
    row = h.query("SELECT client, menu_choice, decision, incident_id, stage FROM calls")
    assert row == [
        {
            "client": "testco",
            "menu_choice": "1",
            "decision": "page",
            "incident_id": 1,
            "stage": "done",
        }
    ]
    alert = h.query("SELECT source, summary, incident_id FROM alerts")
    assert alert == [{"source": "phone", "summary": incident["summary"], "incident_id": 1}]
    logged = [e["kind"] for e in h.query("SELECT kind FROM events ORDER BY id")]
    for kind in (
        "call.received",
        "call.menu",
        "call.menu_choice",
        "decision.page",
        "incident.opened",
        "call.paging",
    ):
        assert kind in logged
    assert "caller ID of TestCo" in events(h, "call.received")[0]["message"]


def test_repeated_calls_join_the_open_incident(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    h.caller(CLIENT).dial().press("1")
    primary.expect_sms("#1")
    again = h.caller(CLIENT).dial().press("1")
    again.expect("We already have this emergency and an engineer is being paged now")
    primary.expect_no_sms(0.3)
    assert h.query("SELECT count(*) AS n FROM incidents")[0]["n"] == 1
    assert h.incident(1)["alert_count"] == 2
    primary.reply("ACK 1").expect("Acknowledged")
    h.caller(CLIENT).dial().press("1").expect("An engineer is already working on this emergency")


def test_anything_else_is_recorded_for_monday_8_am(h: Harness) -> None:
    call = h.caller(CLIENT).dial().press("9")
    call.expect("Our service desk will deal with your message Monday at 8 AM.")
    call.leave_message(seconds=22)
    call.expect(
        "Thank you. Your message is recorded, and our service desk will deal with it Monday at 8 AM."
    )
    call.expect_ended()
    (voicemail,) = h.query("SELECT * FROM voicemails")
    assert voicemail["client"] == "testco" and voicemail["reason"] == "next_business_day"
    assert voicemail["due_at"] == "2026-11-30T14:00:00.000000Z"  # Monday 08:00 in Chicago
    assert voicemail["duration_seconds"] == 22 and voicemail["recording_url"].startswith("https://")
    assert voicemail["recording_url"].endswith(voicemail["recording_sid"])
    (queued,) = events(h, "voicemail.queued")
    assert voicemail["recording_url"] in queued["message"] and "Monday at 8 AM" in queued["message"]
    assert (
        h.query("SELECT recording_url FROM calls")[0]["recording_url"] == voicemail["recording_url"]
    )
    assert h.query("SELECT count(*) AS n FROM incidents")[0]["n"] == 0
    h.phone(on_call(h, "primary")).expect_no_sms(0.2)


@pytest.mark.parametrize(
    ("now", "heard", "due"),
    [
        # Wednesday evening before Thanksgiving (Thursday 2026-11-26): Friday.
        ("2026-11-25T20:00:00-06:00", "Friday at 8 AM", "2026-11-27T14:00:00.000000Z"),
        # Christmas Eve evening: Christmas is a Friday, then the weekend: Monday.
        ("2026-12-24T20:00:00-06:00", "Monday at 8 AM", "2026-12-28T14:00:00.000000Z"),
        # Early on a working day: today.
        ("2026-12-01T06:30:00-06:00", "today at 8 AM", "2026-12-01T14:00:00.000000Z"),
        # After hours on a Monday: tomorrow.
        ("2026-11-30T18:00:00-06:00", "tomorrow at 8 AM", "2026-12-01T14:00:00.000000Z"),
    ],
)
def test_the_next_business_day_skips_weekends_and_holidays(tmp_path, now, heard, due) -> None:
    holidays = '\n[holidays]\ncountry = "US"\n'
    with Harness(config(tmp_path, tables=holidays), clock=at(now)) as h:
        call = h.caller(CLIENT).dial().press("9").expect(heard)
        call.leave_message().expect(heard)
        assert h.query("SELECT due_at FROM voicemails") == [{"due_at": due}]


def test_an_unknown_caller_with_the_right_pin_gets_the_menu(h: Harness) -> None:
    call = h.caller(STRANGER).dial()
    call.expect("We do not recognise the number you are calling from").expect("PIN")
    call.press("1111#").expect("That PIN was not recognised. You have 2 more tries.")
    call.press("4821#").expect("Thank you, TestCo.").expect("Press 1 if a server is down")
    call.press("1").expect("An engineer is being paged now")
    assert h.query("SELECT client, pin_tries FROM calls") == [{"client": "testco", "pin_tries": 2}]
    h.phone(on_call(h, "primary")).expect_sms("caller +13125550199")


def test_three_wrong_pins_take_a_voicemail_and_page_nobody(h: Harness) -> None:
    call = h.caller(STRANGER).dial()
    call.press("1111#").expect("2 more tries")
    call.no_input().expect("one more try")  # silence counts as a try
    call.press("2222#").expect("We could not identify you.").expect("after the tone")
    call.leave_message().expect("Your message is recorded").expect_ended()
    (voicemail,) = h.query("SELECT client, reason, due_at, incident_id FROM voicemails")
    assert voicemail == {
        "client": None,
        "reason": "unknown_caller",
        "due_at": None,
        "incident_id": None,
    }
    (logged,) = events(h, "voicemail.unidentified")
    assert "nobody paged" in logged["message"] and STRANGER in logged["message"]
    assert h.query("SELECT count(*) AS n FROM incidents")[0]["n"] == 0
    wrong = events(h, "call.pin_wrong")
    assert len(wrong) == 3 and all("1111" not in e["data"] for e in wrong)  # PINs are not logged


def test_a_client_may_let_unknown_callers_page(tmp_path) -> None:
    catch_all = '\n[phone_line]\nunknown_callers = "page"\ncallback_within = "20m"\n'
    with Harness(config(tmp_path, tables=catch_all)) as h:
        call = h.caller(STRANGER).dial()
        for _ in range(3):
            call.press("0000#")
        call.leave_message().expect("an engineer has been notified")
        primary = h.phone(on_call(h, "primary"))
        primary.expect_sms("Phone: voicemail from unidentified caller +13125550199")
        voicemail = h.query("SELECT client, incident_id FROM voicemails")
        assert voicemail == [{"client": "testco", "incident_id": 1}]
        assert h.incident(1)["priority"] == "P2"


def test_in_business_hours_the_caller_is_put_through_to_the_desk(tmp_path) -> None:
    with Harness(config(tmp_path), clock=at("2026-11-24T10:00:00-06:00")) as h:
        call = h.caller(CLIENT).dial().expect("Connecting you to our service desk")
        assert call.record.dialed == ["+15550100000"] and call.record.waiting == "dial"
        call.dial_ends("completed").expect_ended()
        (decision,) = events(h, "decision.service_desk")
        assert (
            "inside the support window (Tuesday 08:00-17:00 America/Chicago)" in decision["message"]
        )
        assert events(h, "call.desk_connected")
        h.phone(on_call(h, "primary")).expect_no_sms(0.2)


def test_a_desk_that_does_not_answer_offers_the_emergency_menu(tmp_path) -> None:
    with Harness(config(tmp_path), clock=at("2026-11-24T10:00:00-06:00")) as h:
        call = h.caller(CLIENT).dial()
        call.dial_ends("no-answer").expect("Our service desk is not answering").expect("Press 1")
        call.press("1").expect("An engineer is being paged now")
        (decision,) = events(h, "decision.page")
        assert "the service desk did not answer" in decision["message"]
        h.phone(on_call(h, "primary")).expect_sms("Phone: a server is down")


def test_the_menu_repeats_explains_wrong_keys_and_takes_a_message_after_silence(h: Harness) -> None:
    call = h.caller(CLIENT).dial()
    call.press("*").expect("Press 1 if a server is down")
    call.press("5").expect("Sorry, that is not an option.").expect("Press 9")
    call.no_input().expect("We did not get your choice.").expect("Press 1")
    call.no_input().expect("Monday at 8 AM").expect("after the tone")
    call.hang_up()
    eventually(lambda: events(h, "call.ended"))
    assert "hung up at the message stage" in events(h, "call.ended")[0]["message"]


def test_phone_line_webhooks_refuse_bad_input(h: Harness) -> None:
    from oncall.twilio_webhooks import webhook_headers

    def post(path: str, params: dict[str, str]) -> tuple[int, str]:
        url = f"{h.url}{path}"
        headers = webhook_headers(h.catalog.config.twilio.auth_token, url, params)
        response = h.http.post(url, data=params, headers=headers)
        return response.status_code, response.text

    assert post("/twilio/voice", {"From": CLIENT})[0] == 400
    assert post("/twilio/voice/menu", {"CallSid": "CAnope", "Digits": "1"})[0] == 404
    call = h.caller(CLIENT).dial()
    status, text = post("/twilio/voice/pin", {"CallSid": call.record.sid, "Digits": "4821"})
    assert status == 409 and "menu stage" in text
    unsigned = h.http.post(f"{h.url}/twilio/voice", data={"CallSid": "CA1", "From": CLIENT})
    assert unsigned.status_code == 403
    assert h.query("SELECT count(*) AS n FROM calls")[0]["n"] == 1
