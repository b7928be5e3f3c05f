"""Ownership, help desk → engineering and vendors, end to end: real HTTP, the sandbox Twilio
peer, signed SMS replies, and the shell commands against the running daemon.

At AFTER_HOURS primary is Alice and backup is Carol; Bob and Dave are off shift.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result
from harness import Harness, eventually, write_config

from oncall.cli import main

SERVER_DOWN = {"source": "zabbix", "severity": "critical", "summary": "SAN offline", "host": "san1"}
ENGINEERING = (
    '\n[[escalation.steps]]\nlabel = "engineering"\ntechs = ["owner"]\nack_timeout = "1m"\n'
)
VENDORS = (
    '\n[[vendors]]\nid = "isp"\nname = "Comcast Business"\nphone = "+1 800 555 0177"\n'
    'account = "Account 8771"\nchase_every = "2s"\n'
)


@pytest.fixture(autouse=True)
def quiet_daemon() -> Iterator[None]:
    """Keep the daemon thread's log lines out of the CLI output the runner captures; the CLI
    commands configure logging globally, so put structlog back afterwards for other tests."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    yield
    structlog.reset_defaults()


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def open_incident(h: Harness) -> int:
    response = h.post_alert(SERVER_DOWN)
    assert response.status_code == 202, response.text
    return int(response.json()["incident"])


def owner_changes(h: Harness, number: int) -> list[str]:
    rows = h.query(
        "SELECT json_extract(data, '$.owner') || '/' || json_extract(data, '$.how') AS o"
        " FROM events WHERE kind = 'incident.owner' AND incident_id = ? ORDER BY id",
        (number,),
    )
    return [r["o"] for r in rows]


def test_ack_owns_take_moves_and_a_stranger_is_refused(tmp_path: Path) -> None:
    with Harness(write_config(tmp_path, ack="1m")) as h:
        alice, carol, bob = h.phone("alice"), h.phone("carol"), h.phone("bob")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}").expect("You own it")
        assert h.incident(number)["owner"] == "alice"
        bob.reply(f"TAKE {number}").expect(f"You may not take #{number}")
        assert h.incident(number)["owner"] == "alice"
        carol.reply(f"TAKE {number}").expect(f"You own #{number} now").expect("Alice Nguyen")
        alice.expect_sms(f"Carol Diaz took #{number} (TestCo) from you")
        assert h.incident(number)["owner"] == "carol"
        assert owner_changes(h, number) == ["alice/ack", "carol/take"]
        bob.expect_no_sms(0.2)


def test_assign_from_the_shell(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m")
    with Harness(config) as h:
        alice, dave = h.phone("alice"), h.phone("dave")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}")
        result = oncall("assign", number, "dave", "--as", "owner", "--config", config)
        assert result.exit_code == 0, result.output
        assert f"#{number} assigned to Dave Kim (was Alice Nguyen)." in result.stdout
        dave.expect_sms(f"Priya Shah assigned you #{number} (TestCo)")
        alice.expect_sms("you no longer own it")
        assert h.incident(number)["owner"] == "dave"
        (event,) = h.query(
            "SELECT actor, data FROM events WHERE kind = 'incident.owner' AND incident_id = ?"
            " AND json_extract(data, '$.how') = 'assign'",
            (number,),
        )
        assert event["actor"] == "owner" and '"previous": "alice"' in event["data"]
        result = oncall("assign", number, "nobody", "--config", config)
        assert result.exit_code == 2 and "unknown tech" in result.stderr
        result = oncall("assign", 99, "dave", "--config", config)
        assert result.exit_code == 1 and "no incident #99" in result.stderr


def test_esc_after_ack_pages_the_next_step_and_its_ack_keeps_the_owner(tmp_path: Path) -> None:
    with Harness(write_config(tmp_path, ack="1m")) as h:
        alice, carol = h.phone("alice"), h.phone("carol")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}")
        alice.reply(f"ESC {number}").expect("paging Carol Diaz")
        carol.expect_sms("Escalated by Alice Nguyen (owner)")
        carol.reply(f"ACK {number}").expect(f"Alice Nguyen still owns it. TAKE {number}")
        alice.expect_sms(f"Carol Diaz acknowledged #{number} (TestCo). You still own it.")
        incident = h.incident(number)
        assert incident["owner"] == "alice" and incident["state"] == "acknowledged"
        kinds = [
            r["kind"] for r in h.query("SELECT kind FROM events WHERE incident_id = ?", (number,))
        ]
        assert "incident.engaged" in kinds
        assert owner_changes(h, number) == ["alice/ack"]


def test_engage_after_pages_engineering_by_itself(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m", tables=ENGINEERING + 'engage_after = "2s"\n')
    with Harness(config) as h:
        alice, engineer = h.phone("alice"), h.phone("owner")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}")
        engineer.expect_sms("Still open 2s after ack; Alice Nguyen (owner) needs you", timeout=6)
        alice.expect_sms("paging engineering. You still own it")
        engineer.reply(f"ACK {number}").expect("Alice Nguyen still owns it")
        incident = h.incident(number)
        assert incident["owner"] == "alice" and incident["step_index"] == 2


def test_engage_after_does_not_fire_once_resolved(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m", tables=ENGINEERING + 'engage_after = "2s"\n')
    with Harness(config) as h:
        alice, engineer = h.phone("alice"), h.phone("owner")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}")
        alice.reply(f"RES {number}").expect("Resolved")
        engineer.expect_no_sms(3)
        eventually(
            lambda: (
                h.query("SELECT outcome FROM timers WHERE kind = 'engage'")
                == [{"outcome": "stale"}]
            )
        )


def test_vendor_reminders_arrive_and_stop_after_done_and_res(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m", tables=VENDORS)
    with Harness(config) as h:
        alice = h.phone("alice")
        number = open_incident(h)
        alice.expect_sms(f"#{number}").reply(f"ACK {number}")
        alice.reply(f"VENDOR {number}").expect("isp = Comcast Business")
        alice.reply(f"VENDOR {number} comcast").expect("Vendor ids: isp")
        alice.reply(f"VENDOR {number} isp 88231 on hold").expect(
            "Comcast Business: +1 800 555 0177, Account 8771. Logged ticket 88231. "
            "Reminder to chase in 2s."
        )
        alice.expect_sms(f"Chase Comcast Business (+1 800 555 0177) for #{number}, ticket 88231")
        alice.expect_sms(f"Reply VENDOR {number} isp <news>", timeout=6)  # it comes again
        alice.reply(f"VENDOR {number} isp done").expect("no more reminders")
        alice.expect_no_sms(3)
        # Engaged again from the shell; resolving the incident stops the reminders too.
        result = oncall(
            "vendor",
            number,
            "isp",
            "--note",
            "tech dispatched",
            "--as",
            "alice",
            "--config",
            config,
        )
        assert result.exit_code == 0, result.output
        assert "Logged ticket 88231" in result.stdout
        alice.expect_sms("Chase Comcast Business", timeout=6)
        alice.reply(f"RES {number}").expect("Resolved")
        alice.expect_no_sms(3)
        listing = oncall("vendor", number, "--config", config)
        assert listing.exit_code == 0, listing.output
        assert "isp" in listing.stdout and "released" in listing.stdout
        assert "tech dispatched" in listing.stdout
        kinds = [
            r["kind"]
            for r in h.query(
                "SELECT kind FROM events WHERE kind LIKE 'vendor.%' AND incident_id = ?"
                " ORDER BY id",
                (number,),
            )
        ]
        assert kinds[:2] == ["vendor.contacted", "vendor.chase"]
        assert "vendor.released" in kinds
