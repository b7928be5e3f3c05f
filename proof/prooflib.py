"""What the proof suites share: a sandbox Twilio peer in this process, `oncall run` as a real
process (live mode pointed at the peer, durable SQLite) with a config of its own, kill -9, and
reading what happened from the peer and the daemon's database.

The peer lives in the proof's process, so it outlives every daemon it serves: a page the daemon
handed over just before being killed is still counted where it landed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog

from oncall.sandbox import SandboxPeer
from oncall.serving import ServerThread

REPO = Path(__file__).resolve().parent.parent
SID, TOKEN, SECRET = "AC" + "f" * 32, "proof-token", "proof-secret-0123456789"
SECRET_ENV = "ONCALL_PROOF_SECRET"
TECHS = {
    "alice": "+15550001001",
    "bob": "+15550001002",
    "carol": "+15550001003",
    "owner": "+15550001099",
}
# Step k of every proof SOP pages STEP_TECHS[k]; the exhausted chain pages the owner.
STEP_TECHS = ("alice", "bob", "carol")

SOP = """+++
client = "{client}"
name = "{client}"
timezone = "America/Chicago"
alert_secret = "env:{secret_env}"

[support_window]   # empty: always after hours, so every critical alert is an emergency

[[emergency]]
id = "critical"
priority = "P1"
label = "anything critical"
min_severity = "critical"

[escalation]
repeats = 0
final_contacts = ["owner"]
{steps}
+++
# {client}
"""

STEP = """
[[escalation.steps]]
techs = ["{tech}"]
ack_timeout = "{ack}"
channels = {channels}
{voice_after}"""

CONFIG = """[daemon]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
database = "{db}"
rotations_dir = "{rotations}"
sops_dir = "sops"
timezone = "America/Chicago"
service_desk = "+15550100000"

[twilio]
mode = "live"
api_base_url = "{peer_url}"
from_number = "+15550009999"
emergency_line = "+15550009000"
sms_validity = "10m"
{twilio}

[defaults]
send_retries = 3
retry_backoff = "1s"
group_window = 0
tech_pages_per_hour = 0
{defaults}
"""


def quiet_logs() -> None:
    """Scripts only (not tests: it is process-wide): hide the peer's expected warnings, e.g.
    status callbacks to a daemon that was just killed."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def sop_text(
    client: str, ack: str, channels: str = '["sms"]', voice_after: str | None = None
) -> str:
    after = f'voice_after = "{voice_after}"\n' if voice_after else ""
    steps = "".join(
        STEP.format(tech=tech, ack=ack, channels=channels, voice_after=after) for tech in STEP_TECHS
    )
    return SOP.format(client=client, secret_env=SECRET_ENV, steps=steps)


def write_config(
    workdir: Path,
    port: int,
    peer_url: str,
    sops: dict[str, str],
    *,
    defaults: str = "",
    twilio: str = 'request_timeout = "2s"',
    extra: str = "",
) -> Path:
    """A config of its own in `workdir`: the proof techs, one SOP file per client."""
    (workdir / "sops").mkdir(exist_ok=True)
    for client, text in sops.items():
        (workdir / "sops" / f"{client}.md").write_text(text)
    text = CONFIG.format(
        port=port,
        db=workdir / "proof.db",
        rotations=REPO / "rotations",
        peer_url=peer_url,
        twilio=twilio,
        defaults=defaults,
    )
    text += "\n" + extra
    for tech, phone in TECHS.items():
        text += f'\n[[techs]]\nid = "{tech}"\nname = "{tech.title()}"\nphone = "{phone}"\n'
    path = workdir / "config.toml"
    path.write_text(text)
    return path


class Daemon:
    """`oncall run` as its own process, started and killed as often as a proof likes."""

    def __init__(self, config: Path, port: int, log: Path, log_level: str = "warning") -> None:
        self.config, self.port, self.log, self.log_level = config, port, log, log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 30) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        began = time.monotonic()
        env = dict(
            os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, **{SECRET_ENV: SECRET}
        )
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oncall.cli",
                    "run",
                    "--config",
                    str(self.config),
                    "--log-level",
                    self.log_level,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        deadline = began + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return time.monotonic() - began
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError("daemon did not start:\n" + self.log.read_text()[-4000:])
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def log_count(self, needle: str) -> int:
        return self.log.read_text(errors="replace").count(needle) if self.log.exists() else 0


@contextlib.contextmanager
def peer_server(peer: SandboxPeer) -> Iterator[ServerThread]:
    with ServerThread(peer.app) as server:
        yield server


@contextlib.contextmanager
def peer_process(log: Path) -> Iterator[str]:
    """`proof/peer.py` as its own process; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve().parent / "peer.py"), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/_sandbox/calls", timeout=0.5).status_code == 200:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("sandbox peer did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def quiet_peer(cls: type[SandboxPeer] = SandboxPeer, **kwargs: Any) -> SandboxPeer:
    return cls(SID, TOKEN, echo=None, **kwargs)


_PAGE = re.compile(r"[?&]page=(\d+)")


def page_id_of(url: str | None) -> int | None:
    """The page id in a status callback URL the daemon gave Twilio (…/twilio/status?page=N)."""
    match = _PAGE.search(url or "")
    return int(match.group(1)) if match else None


def read_db(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute(sql, params))
    finally:
        db.close()


@dataclass
class Landed:
    """One request the peer accepted: which page row it carried, to whom, on which channel."""

    page_id: int | None
    to: str
    channel: str
    at: float  # monotonic seconds in this process


def landed(peer: SandboxPeer) -> list[Landed]:
    """Every SMS and outbound call the peer accepted, in order."""
    with peer._cond:
        messages = list(peer.messages)
        calls = [c for c in peer.calls if c.direction == "outbound-api"]
    out = [Landed(page_id_of(m.status_callback), m.to, "sms", m.received_at) for m in messages]
    out += [Landed(page_id_of(c.status_callback), c.to, "voice", c.received_at) for c in calls]
    return sorted(out, key=lambda item: item.at)


def post_alert(
    http: httpx.Client, url: str, client: str, host: str, summary: str
) -> httpx.Response:
    return http.post(
        f"{url}/alerts/{client}",
        json={"severity": "critical", "summary": summary, "host": host},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
