"""The whole path through real HTTP: alert → classify → SMS via the real twilio SDK to the
sandbox peer → timeout → backup → signed reply → acknowledged."""

from __future__ import annotations

from datetime import datetime

import pytest
from harness import AFTER_HOURS, SECRET, Harness, eventually, write_config

from oncall.clock import OffsetClock

EMERGENCY = {
    "source": "ninjaone",
    "severity": "critical",
    "summary": "File server down",
    "host": "fs01",
}


@pytest.fixture
def h(tmp_path):
    with Harness(write_config(tmp_path, ack="1s")) as harness:
        yield harness


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def open_incident(h: Harness) -> int:
    response = h.post_alert(EMERGENCY)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["decision"] == "page"
    return int(body["incident"])


def test_primary_then_backup_then_ack_stops_escalation(h: Harness) -> None:
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms("TestCo").expect_sms  # noqa: B018  (first page arrives)
    assert f"Reply ACK {number}" in primary.last.body
    assert "[P1]" in primary.last.body and "File server down" in primary.last.body
    backup.expect_sms(f"#{number}", timeout=4)
    backup.reply(f"ACK {number}").expect(f"Acknowledged #{number}")
    primary.expect_no_sms(1.5)
    backup.expect_no_sms(0.1)
    incident = h.incident(number)
    assert incident["state"] == "acknowledged"
    assert incident["acked_by"] == on_call(h, "backup")
    kinds = [
        e["kind"]
        for e in h.query("SELECT kind FROM events WHERE incident_id = ? ORDER BY id", (number,))
    ]
    assert kinds.count("page.sent") == 2
    assert "escalation.timeout" in kinds and "incident.acknowledged" in kinds


def test_status_callbacks_are_recorded_against_the_page(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    primary.reply(f"{number}A").expect("Acknowledged")
    eventually(
        lambda: (
            h.query("SELECT twilio_status FROM pages WHERE incident_id = ?", (number,))
            == [{"twilio_status": "delivered"}]
        )
    )
    statuses = h.query("SELECT data FROM events WHERE kind = 'page.status' ORDER BY id")
    assert ['"sent"' in r["data"] for r in statuses][:1] == [True]


def test_chain_exhausted_pages_final_contact_who_may_ack(h: Harness) -> None:
    primary, backup, owner = (
        h.phone(on_call(h, "primary")),
        h.phone(on_call(h, "backup")),
        h.phone("owner"),
    )
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    backup.expect_sms(f"#{number}", timeout=4)
    owner.expect_sms("UNACKNOWLEDGED", timeout=4)
    assert h.incident(number)["state"] == "exhausted"
    owner.reply("ack").expect(f"Acknowledged #{number}")
    assert h.incident(number)["acked_by"] == "owner"


def test_bare_ack_takes_the_latest_page_and_esc_res_work(h: Harness) -> None:
    primary, backup = h.phone(on_call(h, "primary")), h.phone(on_call(h, "backup"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    primary.reply(f"ESC {number}").expect(f"Escalated #{number}")
    backup.expect_sms(f"#{number}", timeout=2)
    backup.reply("  'ack' ").expect(f"Acknowledged #{number}")
    primary.reply(f"ACK {number}").expect("already acknowledged")
    backup.reply(f"RES {number} rebooted the file server").expect(f"Resolved #{number}")
    incident = h.incident(number)
    assert incident["state"] == "resolved" and incident["resolved_by"] == on_call(h, "backup")
    note = h.query(
        "SELECT message FROM events WHERE kind = 'incident.resolved' AND incident_id = ?", (number,)
    )
    assert "rebooted the file server" in note[0]["message"]


def test_bad_signature_is_403_and_changes_nothing(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    answer = primary.reply(f"ACK {number}", sign_with="not-the-token")
    assert answer.status == 403
    assert h.incident(number)["state"] == "paging"
    assert h.query("SELECT count(*) AS n FROM inbound_sms")[0]["n"] == 0


def test_unknown_sender_changes_nothing_and_gets_no_answer(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    answer = h.stranger("+15557770000").reply(f"ACK {number}")
    assert answer.status == 200 and answer.text == ""
    assert h.incident(number)["state"] == "paging"
    logged = h.query("SELECT handled_as FROM inbound_sms")
    assert logged == [{"handled_as": "unknown_sender"}]


def test_tech_not_paged_may_not_ack(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    bystander = next(
        t
        for t in ("alice", "bob", "carol", "dave")
        if t not in (on_call(h, "primary"), on_call(h, "backup"))
    )
    h.phone(bystander).reply(f"ACK {number}").expect("not paged")
    assert h.incident(number)["state"] == "paging"


def test_duplicate_message_sid_acts_once(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    number = open_incident(h)
    primary.expect_sms(f"#{number}")
    first = primary.reply(f"ACK {number}", message_sid="SM" + "a" * 32)
    second = primary.reply(f"ACK {number}", message_sid="SM" + "a" * 32)
    assert "Acknowledged" in first.text and second.status == 200 and second.text == ""
    acks = h.query("SELECT count(*) AS n FROM events WHERE kind = 'incident.acknowledged'")
    assert acks[0]["n"] == 1


def test_nonsense_from_a_tech_gets_help_and_stop_is_recorded(h: Harness) -> None:
    primary = h.phone(on_call(h, "primary"))
    primary.reply("what?").expect("ACK 12")
    assert primary.reply("STOP").text == ""
    kinds = [e["kind"] for e in h.query("SELECT kind FROM events")]
    assert "sms.opt_out" in kinds
    primary.reply("HELP").expect("RES")


@pytest.mark.parametrize(
    ("client", "secret", "body", "status"),
    [
        ("testco", None, EMERGENCY, 401),
        ("testco", "wrong", EMERGENCY, 401),
        ("nope", SECRET, EMERGENCY, 404),
        ("testco", SECRET, "{not json", 422),
        ("testco", SECRET, {"severity": "critical"}, 422),
        ("testco", SECRET, {"severity": "apocalyptic", "summary": "x"}, 422),
        ("testco", SECRET, "[1, 2]", 422),
    ],
)
def test_bad_alerts_get_4xx_with_a_reason(h: Harness, client, secret, body, status) -> None:
    response = h.post_alert(body, client=client, secret=secret)
    assert response.status_code == status
    assert response.json()["error"]
    if status == 422:
        rejected = h.query("SELECT accepted, error FROM alerts")
        assert rejected and rejected[-1]["accepted"] == 0 and rejected[-1]["error"]


def test_non_emergency_after_hours_is_queued_not_paged(h: Harness) -> None:
    response = h.post_alert({"severity": "warning", "summary": "Disk 80% full", "host": "fs01"})
    assert response.status_code == 202
    assert response.json()["decision"] == "queue" and response.json()["incident"] is None
    h.phone(on_call(h, "primary")).expect_no_sms(0.5)


def test_inside_support_window_goes_to_the_service_desk(tmp_path) -> None:
    tuesday_10am = OffsetClock.starting_at(datetime.fromisoformat("2026-11-24T10:00:00-06:00"))
    with Harness(write_config(tmp_path), clock=tuesday_10am) as h:
        response = h.post_alert(EMERGENCY)
        assert response.json()["decision"] == "service_desk"
        h.phone(on_call(h, "primary")).expect_no_sms(0.5)


def test_twilio_errors_are_retried_then_delivered(tmp_path) -> None:
    config = write_config(tmp_path, ack="5s")
    text = config.read_text().replace('retry_backoff = "2s"', "retry_backoff = 0.1")
    config.write_text(text)
    with Harness(config) as h:
        primary = on_call(h, "primary")
        h.peer.fail_next(h.catalog.techs[primary].phone, 2, "http_500")
        number = open_incident(h)
        h.phone(primary).expect_sms(f"#{number}", timeout=3)
        eventually(
            lambda: (
                h.query("SELECT state, attempts FROM pages WHERE incident_id = ?", (number,))
                == [{"state": "sent", "attempts": 3}]
            )
        )
        retries = h.query("SELECT count(*) AS n FROM events WHERE kind = 'page.retry'")
        assert retries[0]["n"] == 2


def test_undeliverable_page_escalates_at_once(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="30s")) as h:
        primary = on_call(h, "primary")
        h.peer.fail_next(h.catalog.techs[primary].phone, 1, "undelivered")
        number = open_incident(h)
        h.phone(on_call(h, "backup")).expect_sms(f"#{number}", timeout=3)
        assert h.incident(number)["step_index"] == 1


def test_healthz(h: Harness) -> None:
    body = h.http.get(f"{h.url}/healthz").json()
    assert body["status"] == "ok" and body["mode"] == "sandbox"


def test_after_hours_fixture_is_a_saturday() -> None:
    assert AFTER_HOURS.weekday() == 5


def test_oversized_bodies_are_refused(h: Harness) -> None:
    big = '{"severity": "critical", "summary": "' + "x" * 300_000 + '"}'
    assert h.post_alert(big).status_code == 413


def test_twilio_webhook_without_signature_is_403(h: Harness) -> None:
    response = h.http.post(f"{h.url}/twilio/sms", data={"From": "+15550001001", "Body": "ACK 1"})
    assert response.status_code == 403
    response = h.http.post(
        f"{h.url}/twilio/status", data={"MessageSid": "SMx", "MessageStatus": "failed"}
    )
    assert response.status_code == 403


def test_recovery_alert_auto_resolves_and_texts_the_paged_tech(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="30s", auto_resolve=True)) as h:
        primary = h.phone(on_call(h, "primary"))
        down = dict(EMERGENCY, dedup_key="fs01-down")
        number = h.post_alert(down).json()["incident"]
        primary.expect_sms(f"#{number}")
        again = h.post_alert(down).json()
        assert again["incident"] == number  # folded, not paged again
        primary.expect_no_sms(0.3)
        h.post_alert(dict(down, status="resolved", severity="info", summary="File server up"))
        primary.expect_sms(f"RESOLVED #{number}")
        assert h.incident(number)["state"] == "resolved"
