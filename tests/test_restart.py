"""Restart safety with a real process: kill -9 mid-escalation, start again, nothing lost,
nothing paged twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from harness import SECRET, PeerThread, free_port, write_config

SID = "AC" + "1" * 32
TOKEN = "restart-test-token"
ALWAYS_AFTER_HOURS_SOP = """+++
client = "nightco"
name = "NightCo"
timezone = "America/Chicago"
alert_secret = "env:ONCALL_TEST_SECRET"

[support_window]   # empty: always after hours

[[emergency]]
id = "anything-critical"
priority = "P1"
label = "anything critical"
min_severity = "critical"

[escalation]
repeats = 0
final_contacts = ["owner"]

[[escalation.steps]]
rotation = "primary"
ack_timeout = "{ack}"

[[escalation.steps]]
rotation = "backup"
ack_timeout = "{ack}"
+++
# NightCo: no support window at all, so every alert is after hours.
"""


class DaemonProcess:
    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(
            os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, ONCALL_TEST_SECRET=SECRET
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oncall.cli", "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("daemon did not come up:\n" + self.log.read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


@pytest.fixture
def setup(tmp_path):
    with PeerThread(SID, TOKEN) as peer:
        port = free_port()
        config = write_config(tmp_path, extra_twilio=f'api_base_url = "{peer.url}"\n')
        text = config.read_text()
        text = text.replace('mode = "sandbox"', 'mode = "live"')
        text = text.replace('listen = "127.0.0.1:8787"', f'listen = "127.0.0.1:{port}"')
        text = text.replace(
            'public_url = "http://127.0.0.1:8787"', f'public_url = "http://127.0.0.1:{port}"'
        )
        config.write_text(text)
        (tmp_path / "sops" / "testco.md").unlink()
        (tmp_path / "sops" / "nightco.md").write_text(ALWAYS_AFTER_HOURS_SOP.format(ack="3s"))
        daemon = DaemonProcess(config, port, tmp_path / "daemon.log")
        yield peer, daemon, port
        if daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()


def post_alert(port: int) -> int:
    response = httpx.post(
        f"http://127.0.0.1:{port}/alerts/nightco",
        json={"severity": "critical", "summary": "Core switch down", "host": "sw-core"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert response.status_code == 202, response.text
    return int(response.json()["incident"])


def wait_recorded_sent(db: Path, number: int) -> None:
    """Wait until the daemon has committed the first page as sent (then kill it)."""
    import sqlite3

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pages WHERE incident_id = ? AND state = 'sent'", (number,)
            ).fetchone()
        if row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the first page was never recorded as sent")


def pages(peer: PeerThread, number: int) -> list[str]:
    return [m.to for m in peer.peer.messages if f"#{number}" in m.body]


@pytest.mark.parametrize(
    "down_for", [0.0, 4.0], ids=["restart-before-deadline", "deadline-passed-while-down"]
)
def test_kill9_mid_escalation_backup_still_paged_once(setup, down_for: float) -> None:
    peer, daemon, port = setup
    daemon.start()
    number = post_alert(port)
    first = peer.peer.wait_for_message_sync(lambda m: f"#{number}" in m.body, 5)
    wait_recorded_sent(daemon.config.parent / "oncall.db", number)
    daemon.kill9()
    time.sleep(down_for)
    daemon.start()
    second = peer.peer.wait_for_message_sync(
        lambda m: f"#{number}" in m.body and m.to != first.to, 6
    )
    # The chain then runs out: the final contact gets exactly one "nobody acknowledged" page.
    peer.peer.wait_for_message_sync(lambda m: "UNACKNOWLEDGED" in m.body, 6)
    time.sleep(0.5)
    sent = pages(peer, number)
    assert sent.count(first.to) == 1, sent
    assert sent.count(second.to) == 1, sent
    assert len(sent) == 3, sent
    assert daemon.terminate() == 0


def test_sigterm_exits_cleanly_and_escalation_resumes(setup) -> None:
    peer, daemon, port = setup
    daemon.start()
    number = post_alert(port)
    first = peer.peer.wait_for_message_sync(lambda m: f"#{number}" in m.body, 5)
    assert daemon.terminate() == 0
    daemon.start()
    peer.peer.wait_for_message_sync(lambda m: f"#{number}" in m.body and m.to != first.to, 6)
    assert daemon.terminate() == 0


def test_sighup_with_a_broken_sop_keeps_running_on_the_last_good_one(setup, tmp_path) -> None:
    peer, daemon, port = setup
    daemon.start()
    sop = tmp_path / "sops" / "nightco.md"
    sop.write_text(sop.read_text().replace("[escalation]", "[escalation"))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reload.failed" not in daemon.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = daemon.log.read_text()
    assert "reload.failed" in logged and "nightco.md" in logged
    number = post_alert(port)
    peer.peer.wait_for_message_sync(lambda m: f"#{number}" in m.body, 5)
    assert daemon.terminate() == 0
