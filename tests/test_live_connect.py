"""Live connect end to end: an emergency caller holds in their incident's queue; the tech who
acknowledges (by a voice page key, or by SMS and then a screened call) is put through, and a
caller nobody takes is told to expect a call back once the hold limit is up."""

from __future__ import annotations

from harness import Harness, eventually, write_config

CLIENT = "+18155550141"
TOP = 'caller_ids = ["+1 815 555 0141"]\n'
LIVE = '\n[phone_line]\nlive_connect = true\nhold_limit = "2m"\ncallback_within = "20m"\n'


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def kinds(h: Harness) -> list[str]:
    return [row["kind"] for row in h.query("SELECT kind FROM events ORDER BY id")]


def calls(h: Harness) -> dict[str, dict]:
    rows = h.query("SELECT call_sid, direction, stage, decision, incident_id FROM calls")
    return {row["call_sid"]: row for row in rows}


def test_a_voice_page_acked_with_1_offers_the_holding_caller_and_bridges(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", channels='["voice"]', top=TOP, tables=LIVE)
    with Harness(config) as h:
        caller = h.caller(CLIENT).dial().press("1")
        caller.expect("An engineer is being paged now. Please stay on the line")
        caller.expect("Please continue to hold")
        assert caller.record.waiting == "queue" and caller.record.queue == "incident-1"
        alice = h.phone(on_call(h, "primary"))
        page = alice.expect_call("incident 1").press("1")
        page.expect("Incident 1 is acknowledged. You own it.")
        page.expect("The caller from TestCo for incident 1 is holding. Press 1 to be connected")
        page.press("1").expect("Connecting you to the caller.")
        assert page.record.dialed == ["queue:incident-1"]
        assert caller.record.waiting == "bridged" and page.record.bridged_with == caller.record.sid
        page.hang_up()
        caller.expect("Your call with the engineer has ended.").expect_ended()
        assert h.incident(1)["acked_by"] == on_call(h, "primary")
        rows = calls(h)
        assert rows[caller.record.sid]["stage"] == "done"
        assert rows[caller.record.sid]["decision"] == "connected"
        assert rows[page.record.sid]["decision"] == "connected"
        logged = kinds(h)
        for kind in (
            "connect.holding",
            "connect.offered",
            "connect.bridged",
            "connect.caller_done",
        ):
            assert kind in logged, kind


def test_an_sms_ack_calls_the_tech_who_must_press_1_to_accept(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", top=TOP, tables=LIVE)
    with Harness(config) as h:
        caller = h.caller(CLIENT).dial().press("1").expect("Please stay on the line")
        alice = h.phone(on_call(h, "primary"))
        alice.expect_sms("#1").reply("ACK 1").expect("Acknowledged #1")
        screen = alice.expect_call("You acknowledged incident 1 for TestCo.")
        screen.expect("Press 1 to accept the caller.")
        assert caller.record.waiting == "queue"  # nobody is put through before the key
        screen.press("1").expect("Connecting you to the caller.")
        assert caller.record.bridged_with == screen.record.sid
        caller.hang_up()
        screen.expect("The call with the caller has ended.").expect_ended()
        rows = calls(h)
        assert rows[screen.record.sid]["direction"] == "outbound"
        assert rows[screen.record.sid]["decision"] == "connected"
        assert rows[screen.record.sid]["incident_id"] == 1
        logged = kinds(h)
        for kind in (
            "connect.calling",
            "connect.call_placed",
            "connect.screening",
            "connect.bridged",
        ):
            assert kind in logged, kind


def test_a_voicemail_never_gets_the_caller_who_is_released_at_the_hold_limit(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", top=TOP, tables=LIVE)
    with Harness(config) as h:
        caller = h.caller(CLIENT).dial().press("1")
        alice = h.phone(on_call(h, "primary"))
        alice.expect_sms("#1").reply("ACK 1")
        screen = alice.expect_call(answer=False).voicemail()
        screen.expect("Not connected.").expect_ended()
        assert screen.record.dialed == [] and caller.record.waiting == "queue"
        caller.hold(60).expect("Please continue to hold")
        caller.hold(120).expect("Thank you for holding.").expect("within 20 minutes")
        caller.expect_ended()
        assert {"connect.voicemail", "connect.hold_ended", "connect.caller_released"} <= set(
            kinds(h)
        )
        eventually(lambda: calls(h)[screen.record.sid]["stage"] == "done")


def test_a_tech_who_does_not_press_1_releases_the_caller(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", channels='["voice"]', top=TOP, tables=LIVE)
    with Harness(config) as h:
        caller = h.caller(CLIENT).dial().press("1")
        page = h.phone(on_call(h, "primary")).expect_call("incident 1").press("1")
        page.press("2").expect("Not connected. The caller will be told to expect your call back")
        caller.hold(15).expect("expect a call back within 20 minutes").expect_ended()
        assert calls(h)[caller.record.sid]["decision"] == "declined"
        # A caller who is no longer holding is not offered to anyone.
        again = h.caller(CLIENT).dial().press("1")
        again.expect("An engineer is already working on this emergency").expect_ended()


def test_without_live_connect_the_caller_is_told_to_expect_a_call_back(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="10s", top=TOP)) as h:
        caller = h.caller(CLIENT).dial().press("1")
        caller.expect("expect a call back within 15 minutes").expect_ended()
        alice = h.phone(on_call(h, "primary"))
        alice.expect_sms("#1").reply("ACK 1").expect("Acknowledged")
        alice.expect_no_call(0.3)
        assert "connect.holding" not in kinds(h)


def test_live_connect_webhooks_are_signed_and_refuse_bad_input(tmp_path) -> None:
    from oncall.twilio_webhooks import webhook_headers

    with Harness(write_config(tmp_path, top=TOP, tables=LIVE)) as h:

        def post(path: str, params: dict[str, str], *, token: str | None = None) -> int:
            url = f"{h.url}{path}"
            headers = webhook_headers(token or h.catalog.config.twilio.auth_token, url, params)
            return h.http.post(url, data=params, headers=headers).status_code

        for path in ("hold", "held", "connect", "screen"):
            assert post(f"/twilio/voice/{path}", {"CallSid": "CA1"}) == 400
            assert post(f"/twilio/voice/{path}?incident=1", {}) == 400
            assert post(f"/twilio/voice/{path}?incident=1", {"CallSid": "CA1"}, token="x") == 403
        assert post("/twilio/voice/screen?incident=1&status=1", {}) == 400
        for path in ("hold", "held", "connect", "screen"):  # no such incident or call
            assert post(f"/twilio/voice/{path}?incident=7", {"CallSid": "CA1"}) == 404
        # A tech pressing 1 after the caller stopped holding is told so; nothing is bridged.
        h.caller(CLIENT).dial().press("1").hang_up()
        page = h.phone(on_call(h, "primary")).expect_sms("#1")
        page.reply("ACK 1").expect("Acknowledged")
        page.expect_no_call(0.3)  # the caller hung up: nobody to offer
        sid = h.query("SELECT call_sid FROM calls")[0]["call_sid"]
        assert post("/twilio/voice/connect?incident=1", {"CallSid": sid, "Digits": "1"}) == 200
        assert "connect.caller_gone" in kinds(h) and "connect.bridged" not in kinds(h)
