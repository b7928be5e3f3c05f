"""Client updates end to end, told from the phones: the tech acknowledges, the client's
contacts get the first message; UPD is forwarded; a missed update reminds the owner and then
tells the final contact; RES sends the closing message."""

from __future__ import annotations

import pytest
from harness import Harness, Phone, eventually, write_config

EMERGENCY = {
    "source": "ninjaone",
    "severity": "critical",
    "summary": "File server down",
    "host": "fs01",
}
DANA, SAM, PAT = "+13125550199", "+13125550198", "+13125550197"
CLIENT_UPDATES = f"""
[client_updates]
every = {{ P1 = "{{every}}", P2 = "1h" }}
grace = "2s"

[[client_updates.contacts]]
name = "Dana Reyes"
role = "Office manager"
phone = "{DANA}"
priorities = ["P1"]

[[client_updates.contacts]]
name = "Sam Ortiz"
phone = "{SAM}"

[[client_updates.contacts]]
name = "Pat Lee"
phone = "{PAT}"
priorities = ["P2"]

[[client_updates.contacts]]
name = "Accounts"
email = "it@testco.example"
"""


def harness(tmp_path, every: str = "3s", **kwargs) -> Harness:
    path = write_config(
        tmp_path,
        ack="30s",
        tables=CLIENT_UPDATES.replace("{every}", every),
        daemon='company = "Northwind IT"\n',
        **kwargs,
    )
    return Harness(path)


def acknowledged(h: Harness) -> tuple[int, Phone]:
    """Open an incident and acknowledge it from the primary's phone."""
    primary_id = h.catalog.on_call("primary", h.clock.now())[0].id
    primary = h.phone(primary_id)
    number = int(h.post_alert(EMERGENCY).json()["incident"])
    primary.expect_sms(f"#{number}")
    primary.reply(f"ACK {number}").expect(f"Acknowledged #{number}")
    return number, primary


def test_first_message_update_and_closing(tmp_path) -> None:
    with harness(tmp_path, every="1h") as h:
        dana, sam, pat = h.stranger(DANA), h.stranger(SAM), h.stranger(PAT)
        number, primary = acknowledged(h)
        primary_id = h.catalog.config.tech_by_phone(primary.number).id
        dana.expect_sms("Northwind IT: we are working on an urgent issue for TestCo")
        assert f"#{number}" in dana.last.body and "Next update by 03:00 CST" in dana.last.body
        assert "fs01" not in dana.last.body
        sam.expect_sms(f"#{number}")
        pat.expect_no_sms(0.3)  # P2 contacts only
        eventually(
            lambda: (
                [r["state"] for r in h.query("SELECT state FROM outbox ORDER BY id")]
                == ["delivered", "delivered"]
            )
        )
        # The tech's update, with a phone number of theirs that must not reach the client.
        tech_phone = h.catalog.techs[primary_id].phone
        primary.reply(
            f"UPD {number} Server restarting, call {tech_phone} if needed. next update at 2:30am"
        ).expect("Sent to 2 TestCo contacts. Next update due 02:30 CST.")
        dana.expect_sms(f"Northwind IT update on #{number} for TestCo: Server restarting")
        assert "[number removed]" in dana.last.body and tech_phone not in dana.last.body
        assert dana.last.body.endswith("Next update by 02:30 CST.")
        sam.expect_sms("Server restarting")
        rows = h.query("SELECT kind, author, next_due_at FROM client_updates ORDER BY id")
        assert [(r["kind"], r["author"]) for r in rows] == [
            ("first", "oncall"),
            ("update", primary_id),
        ]
        assert rows[1]["next_due_at"].startswith("2026-11-28T08:30")
        primary.reply(f"UPD {number}").expect(f"UPD {number} <what is known")
        # Resolve: the note goes to the client; reminders stop.
        primary.reply(f"RES {number} Power supply replaced").expect(
            "Closing message sent to 2 TestCo contacts"
        )
        dana.expect_sms("the issue for TestCo (ref #")
        assert dana.last.body.endswith("is resolved. Power supply replaced.")
        sam.expect_sms("Power supply replaced")
        assert not h.query(
            "SELECT id FROM timers WHERE kind IN ('update_due', 'update_overdue')"
            " AND done_at IS NULL"
        )


def test_missed_update_reminds_owner_then_tells_final_contact(tmp_path) -> None:
    with harness(tmp_path, every="3s") as h:
        dana = h.stranger(DANA)
        number, primary = acknowledged(h)
        final = h.phone("owner")
        primary_id = h.catalog.config.tech_by_phone(primary.number).id
        dana.expect_sms(f"#{number}")
        primary.expect_sms(f"Client update due for #{number} (TestCo): reply UPD {number}", 6)
        owner_name = h.catalog.techs[primary_id].name
        final.expect_sms(f"#{number} TestCo: owner {owner_name} has not updated the client (due", 5)
        # Reminders carry on every cadence until the client is updated.
        primary.expect_sms(f"Client update due for #{number}", 6)
        kinds = [r["kind"] for r in h.query("SELECT kind FROM events ORDER BY id")]
        assert "client_update.due" in kinds and "client_update.missed" in kinds
        primary.reply(f"UPD {number} Still working on it").expect("Sent to 2 TestCo contacts")
        dana.expect_sms("Still working on it.")
        # An update made in time: the next reminder is for the new promise, not the old one.
        final.expect_no_sms(2.5)


def test_monitoring_auto_resolve_sends_the_closing_message(tmp_path) -> None:
    with harness(tmp_path, every="1h", auto_resolve=True) as h:
        dana = h.stranger(DANA)
        down = dict(EMERGENCY, dedup_key="fs01-down")
        primary = h.phone(h.catalog.on_call("primary", h.clock.now())[0].id)
        number = int(h.post_alert(down).json()["incident"])
        primary.expect_sms(f"#{number}")
        primary.reply(f"ACK {number}")
        dana.expect_sms(f"#{number}")
        h.post_alert(dict(down, status="resolved", severity="info", summary="File server up"))
        dana.expect_sms("is resolved. Monitoring reports it resolved.")


def test_no_client_message_without_acknowledgment_or_contacts(tmp_path) -> None:
    with Harness(write_config(tmp_path, ack="30s")) as h:
        number, primary = acknowledged(h)
        primary.reply(f"UPD {number} hello").expect("has no client update contacts")
        backup = h.catalog.on_call("backup", h.clock.now())[0].id
        h.phone(backup).reply(f"UPD {number} hello").expect(f"You were not paged for #{number}")
        primary.reply(f"RES {number}").expect(f"Resolved #{number}.")
        assert not h.query("SELECT id FROM outbox")


@pytest.mark.parametrize("mode", ["undelivered", "http_500_always"])
def test_undeliverable_update_tells_the_owner(tmp_path, mode) -> None:
    with harness(tmp_path, every="1h") as h:
        if mode == "undelivered":
            h.peer.fail_next(DANA, 1, "undelivered")
        else:
            h.peer.fail_next(DANA, 3, "http_500")  # every attempt (send_retries = 3)
        number, primary = acknowledged(h)
        primary.expect_sms("Update to Dana Reyes (TestCo) could not be delivered: ", 10)
        h.stranger(SAM).expect_sms(f"#{number}")
        row = h.query("SELECT * FROM outbox WHERE phone = ?", (DANA,))[0]
        assert row["state"] == "failed"
        assert row["attempts"] == (1 if mode == "undelivered" else 3)
        events = h.query("SELECT kind FROM events WHERE kind = 'outbox.failed'")
        assert len(events) == 1


def test_transient_failure_is_retried(tmp_path) -> None:
    with harness(tmp_path, every="1h") as h:
        h.peer.fail_next(DANA, 1, "http_500")
        number, _ = acknowledged(h)
        h.stranger(DANA).expect_sms(f"#{number}", 6)
        eventually(
            lambda: (
                h.query("SELECT state, attempts FROM outbox WHERE phone = ?", (DANA,))[0]
                == {"state": "delivered", "attempts": 2}
            ),
            4,
        )
        kinds = [r["kind"] for r in h.query("SELECT kind FROM events")]
        assert "outbox.retry" in kinds and "outbox.failed" not in kinds
