"""SMS noise control end to end: a burst of incidents reaches a tech as one bundled SMS, and
ACK ALL acknowledges them all."""

from __future__ import annotations

from harness import Harness, eventually, write_config

LIMITS = "group_window = 0\ntech_pages_per_hour = 0\ntech_sms_gap = 1\n"


def on_call(h: Harness, rotation: str) -> str:
    return h.catalog.on_call(rotation, h.clock.now())[0].id


def burst(h: Harness, count: int) -> list[int]:
    numbers = []
    for i in range(count):
        alert = {
            "source": "zabbix",
            "severity": "critical",
            "summary": f"Host {i} down",
            "host": f"h{i}",
        }
        response = h.post_alert(alert)
        assert response.status_code == 202, response.text
        numbers.append(int(response.json()["incident"]))
    return numbers


def test_a_burst_of_10_incidents_is_one_page_then_one_bundle_and_ack_all(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="30s", defaults=LIMITS)) as h:
        primary = h.phone(on_call(h, "primary"))
        numbers = burst(h, 10)
        assert numbers == list(range(1, 11))
        primary.expect_sms("[P1] TestCo: Host 0 down (h0) #1")
        primary.expect_sms("9 open incidents: #2 P1 TestCo: Host 1 down", timeout=3)
        assert all(f"#{n} " in primary.last.body for n in range(2, 11))
        assert "Reply ACK ALL" in primary.last.body
        primary.expect_no_sms(1.2)  # nothing else: the other pages rode in that SMS
        bundled = h.query("SELECT count(*) AS n FROM pages WHERE state = 'bundled'")
        assert bundled == [{"n": 8}]
        held = h.query("SELECT count(*) AS n FROM events WHERE kind = 'page.held'")
        assert held[0]["n"] >= 1
        primary.reply("ACK ALL").expect("Acknowledged 10 incidents: #1, #2, #3")
        states = {row["state"] for row in h.query("SELECT state FROM incidents")}
        assert states == {"acknowledged"}
        primary.reply("ACK ALL").expect("You have no open pages to acknowledge.")


def test_when_the_bundle_fails_every_incident_in_it_moves_on(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="30s", defaults=LIMITS)) as h:
        primary, backup = on_call(h, "primary"), h.phone(on_call(h, "backup"))
        phone = h.catalog.techs[primary].phone
        h.peer.fail_next(phone, 2, "undelivered")  # the first page, then the bundle
        burst(h, 3)
        eventually(
            lambda: h.query("SELECT count(*) AS n FROM pages WHERE state = 'bundled'")[0]["n"] == 1
        )
        backup.expect_sms("#1 Reply ACK 1", timeout=3)
        backup.expect_sms("2 open incidents: #2", timeout=3)  # the backup is limited too
        eventually(
            lambda: {r["step_index"] for r in h.query("SELECT step_index FROM incidents")} == {1}
        )
        failed = h.query(
            "SELECT error FROM pages WHERE tech_id = ? AND state = 'failed'", (primary,)
        )
        assert len(failed) == 3
        assert any("the SMS carrying it failed" in row["error"] for row in failed)
