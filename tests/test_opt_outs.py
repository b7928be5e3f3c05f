"""SMS opt-outs end to end: a tech who replied STOP (or whom Twilio refuses with 21610) is
called instead, and the owner (daemon.owner) is warned once."""

from __future__ import annotations

from harness import Harness, eventually, write_config

EMERGENCY = {"source": "zabbix", "severity": "critical", "summary": "SAN offline", "host": "san1"}
OWNER = 'owner = "owner"\n'


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def alert(h: Harness, summary: str = "SAN offline") -> int:
    response = h.post_alert(dict(EMERGENCY, summary=summary, host=summary))
    assert response.status_code == 202, response.text
    return int(response.json()["incident"])


def test_a_refused_sms_21610_becomes_a_call_and_the_owner_is_warned(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", daemon=OWNER, defaults="group_window = 0\n")
    with Harness(config) as h:
        primary_id = on_call(h, "primary")
        primary, owner = h.phone(primary_id), h.phone("owner")
        h.peer.opt_out(primary.number)  # STOP reached Twilio, not us
        number = alert(h)
        primary.expect_call("SAN offline", timeout=3).press("1").expect("acknowledged")
        owner.expect_sms("opted out of SMS (STOP)")
        assert primary.number in owner.last.body and "START" in owner.last.body
        pages = h.query(
            "SELECT tech_id, channel, kind, state FROM pages WHERE incident_id = ? ORDER BY id",
            (number,),
        )
        assert pages[0] == {
            "tech_id": primary_id,
            "channel": "sms",
            "kind": "page",
            "state": "failed",
        }
        assert {
            "tech_id": primary_id,
            "channel": "voice",
            "kind": "page",
            "state": "answered",
        } in pages
        assert {"tech_id": "owner", "channel": "sms", "kind": "notice", "state": "sent"} in pages
        assert len(pages) == 3
        failed = h.query("SELECT error FROM pages WHERE state = 'failed'")[0]["error"]
        assert "21610 (the recipient opted out with STOP" in failed
        opted = h.query("SELECT phone, tech_id, source FROM sms_opt_outs")
        assert opted == [
            {"phone": primary.number, "tech_id": primary_id, "source": "Twilio error 21610"}
        ]
        # The next incident calls at once: no SMS is even tried.
        second = alert(h, "Firewall down")
        primary.expect_call("Firewall down")
        primary.expect_no_sms(0.3)
        channels = h.query("SELECT channel FROM pages WHERE incident_id = ?", (second,))
        assert channels == [{"channel": "voice"}]
        owner.expect_no_sms(0.2)  # warned once


def test_stop_from_a_tech_switches_them_to_voice_and_start_switches_back(tmp_path) -> None:
    config = write_config(tmp_path, ack="10s", daemon=OWNER, defaults="group_window = 0\n")
    with Harness(config) as h:
        primary, owner = h.phone(on_call(h, "primary")), h.phone("owner")
        first = alert(h)
        primary.expect_sms(f"#{first}")
        assert primary.reply("STOP").text == ""
        owner.expect_sms("opted out of SMS")
        notice = h.query("SELECT incident_id FROM pages WHERE tech_id = 'owner'")
        assert notice == [{"incident_id": first}]  # the warning rides on the page STOP answered
        second = alert(h, "Firewall down")
        primary.expect_call("Firewall down")
        primary.reply("START")
        assert h.query("SELECT count(*) AS n FROM sms_opt_outs")[0]["n"] == 0
        third = alert(h, "Switch down")
        primary.expect_sms(f"#{third}")
        kinds = [e["kind"] for e in h.query("SELECT kind FROM events ORDER BY id")]
        assert kinds.count("sms.opted_out") == 1 and kinds.count("sms.opted_in") == 1
        assert second == first + 1


def test_without_an_owner_the_opt_out_is_logged_loudly(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="10s")) as h:
        primary = h.phone(on_call(h, "primary"))
        h.peer.opt_out(primary.number)
        number = alert(h)
        primary.expect_call("SAN offline", timeout=3)
        unset = h.query("SELECT message FROM events WHERE kind = 'owner.unset'")
        assert len(unset) == 1 and "set daemon.owner" in unset[0]["message"]
        assert h.query("SELECT count(*) AS n FROM pages WHERE kind = 'notice'")[0]["n"] == 0
        assert h.incident(number)["state"] == "paging"


def test_error_codes_are_logged_with_their_meaning(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="10s")) as h:
        primary = on_call(h, "primary")
        h.peer.fail_next(h.catalog.techs[primary].phone, 1, "undelivered")
        number = alert(h)
        h.phone(on_call(h, "backup")).expect_sms(f"#{number}", timeout=3)
        eventually(
            lambda: any(
                "error 30003 (handset unreachable: the phone is off or has no signal)"
                in e["message"]
                for e in h.query("SELECT message FROM events WHERE kind = 'page.status'")
            )
        )
