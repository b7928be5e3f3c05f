"""Voice pages end to end: the daemon calls the tech through the real twilio SDK, the sandbox
peer rings, fetches the signed TwiML, and presses the keys a test chooses."""

from __future__ import annotations

import pytest
from harness import Harness, eventually, write_config

EMERGENCY = {"source": "zabbix", "severity": "critical", "summary": "SAN offline", "host": "san1"}


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def open_incident(h: Harness) -> int:
    response = h.post_alert(EMERGENCY)
    assert response.status_code == 202, response.text
    return int(response.json()["incident"])


def kinds(h: Harness, number: int) -> list[str]:
    rows = h.query("SELECT kind FROM events WHERE incident_id = ? ORDER BY id", (number,))
    return [row["kind"] for row in rows]


@pytest.fixture
def ladder(tmp_path):
    config = write_config(
        tmp_path, ack="10s", channels='["sms", "voice"]', step="voice_after = 0.3"
    )
    with Harness(config) as harness:
        yield harness


def test_sms_then_a_call_acknowledged_with_1(ladder: Harness) -> None:
    h = ladder
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    call = primary.expect_call("Priority 1 emergency for TestCo, incident 1: SAN offline")
    call.expect("Press 1 to acknowledge").press("1").expect("acknowledged").expect_ended()
    incident = h.incident(number)
    assert incident["state"] == "acknowledged" and incident["acked_by"] == on_call(h, "primary")
    assert {"call.answered", "call.key", "incident.acknowledged"} <= set(kinds(h, number))
    row = h.query("SELECT direction, menu_choice, decision, page_id FROM calls")
    assert row == [{"direction": "outbound", "menu_choice": "1", "decision": "ack", "page_id": 2}]
    eventually(lambda: h.query("SELECT status FROM calls")[0]["status"] == "completed")


def test_a_voicemail_pickup_leaves_a_message_and_escalates_at_once(ladder: Harness) -> None:
    h = ladder
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    call = primary.expect_call(answer=False).voicemail()
    call.expect("not acknowledged and is being escalated").expect_ended()
    backup.expect_sms(f"#{number}", timeout=2)  # long before the 10 s ack timeout
    assert h.incident(number)["step_index"] == 1
    voice = h.query("SELECT state, error FROM pages WHERE channel = 'voice' AND step_index = 0")
    assert voice == [{"state": "failed", "error": "voicemail answered (machine_end_beep)"}]
    assert "call.voicemail" in kinds(h, number)


@pytest.mark.parametrize("status", ["no-answer", "busy", "failed", "canceled"])
def test_an_unanswered_call_moves_to_the_next_step_at_once(ladder: Harness, status: str) -> None:
    h = ladder
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    primary.expect_call(answer=False).unanswered(status)
    backup.expect_sms(f"#{number}", timeout=2)
    failed = h.query("SELECT error FROM pages WHERE channel = 'voice' AND state = 'failed'")
    assert failed == [{"error": f"Twilio reported {status}"}]


def test_no_key_repeats_once_then_ends_unacknowledged(ladder: Harness) -> None:
    h = ladder
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    call = primary.expect_call("SAN offline")
    call.no_input().expect("Repeating. This is on-call paging").expect("SAN offline")
    call.no_input().expect("No key pressed").expect_ended()
    # The tech heard it: the step keeps its ack timeout rather than escalating at once.
    backup.expect_no_sms(0.5)
    assert h.incident(number)["state"] == "paging"
    assert "call.unacknowledged" in kinds(h, number)


def test_star_repeats_a_wrong_key_is_explained_and_2_escalates(ladder: Harness) -> None:
    h = ladder
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    call = primary.expect_call("SAN offline")
    call.press("*").expect("This is on-call paging").expect("Press 1 to acknowledge")
    call.press("7").expect("Sorry, 7 is not an option").expect("SAN offline")
    call.press("2").expect("Escalated incident 1: paging").expect_ended()
    backup.expect_sms(f"#{number}", timeout=2)


def test_3_resolves(ladder: Harness) -> None:
    h = ladder
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    primary.expect_call("SAN offline").press("3").expect(f"Incident {number} is resolved")
    incident = h.incident(number)
    assert incident["state"] == "resolved" and incident["resolved_by"] == on_call(h, "primary")


def test_an_sms_ack_before_the_call_cancels_it(ladder: Harness) -> None:
    h = ladder
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}").reply(f"ACK {number}").expect("Acknowledged")
    primary.expect_no_call(0.6)
    voice = h.query("SELECT state FROM pages WHERE channel = 'voice'")
    assert voice == [{"state": "cancelled"}]


def test_a_call_answered_after_someone_else_acked_says_so(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", channels='["voice"]')
    with Harness(config) as h:
        primary = h.phone(on_call(h, "primary"))
        number = open_incident(h)
        ringing = primary.expect_call(answer=False)
        primary.expect_no_sms(0.2)  # a voice-only step sends no SMS
        h.phone("owner").reply(f"ACK {number}").expect("Acknowledged")
        ringing.answer().expect(f"Incident {number} for TestCo is already acknowledged by")
        ringing.expect("Nothing to do").expect_ended()


def test_an_undelivered_sms_brings_the_call_forward(tmp_path) -> None:
    config = write_config(
        tmp_path, ack="20s", channels='["sms", "voice"]', step='voice_after = "10s"'
    )
    with Harness(config) as h:
        primary = on_call(h, "primary")
        h.peer.fail_next(h.catalog.techs[primary].phone, 1, "undelivered")
        number = open_incident(h)
        h.phone(primary).expect_call("SAN offline", timeout=2)  # not 10 s later
        messages = h.query(
            "SELECT kind, message FROM events WHERE kind IN ('page.status', 'page.next_channel')"
        )
        assert any("30003 (handset unreachable" in m["message"] for m in messages)
        assert any(m["kind"] == "page.next_channel" for m in messages)
        assert h.incident(number)["step_index"] == 0


def test_twilio_errors_placing_the_call_are_retried(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", channels='["voice"]')
    config.write_text(config.read_text().replace('retry_backoff = "2s"', "retry_backoff = 0.1"))
    with Harness(config) as h:
        primary = on_call(h, "primary")
        h.peer.fail_next(h.catalog.techs[primary].phone, 2, "http_500")
        number = open_incident(h)
        h.phone(primary).expect_call("SAN offline", timeout=3).press("1")
        assert h.incident(number)["state"] == "acknowledged"
        retries = h.query("SELECT count(*) AS n FROM events WHERE kind = 'page.retry'")
        assert retries[0]["n"] == 2


def test_voice_webhooks_refuse_bad_input(ladder: Harness) -> None:
    h = ladder
    from oncall.twilio_webhooks import webhook_headers

    def post(path: str, params: dict[str, str], *, token: str | None = None) -> int:
        url = f"{h.url}{path}"
        headers = webhook_headers(token or h.catalog.config.twilio.auth_token, url, params)
        return h.http.post(url, data=params, headers=headers).status_code

    assert post("/twilio/voice/page", {"CallSid": "CA1"}) == 400
    assert post("/twilio/voice/page?page=99", {"CallSid": "CA1"}) == 404
    assert post("/twilio/voice/page/key?page=x", {"CallSid": "CA1", "Digits": "1"}) == 400
    assert post("/twilio/voice/page?page=1", {"CallSid": "CA1"}, token="forged") == 403
    assert (
        h.http.post(f"{h.url}/twilio/voice/page?page=1", data={"CallSid": "CA1"}).status_code == 403
    )
