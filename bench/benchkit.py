"""What the benchmarks share: an always-after-hours client SOP, a config in live mode pointed
at a Twilio-compatible peer in the benchmark's own process, and `oncall run` as a real process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SECRET_ENV = "ONCALL_BENCH_SECRET"

SOP = """+++
client = "{client}"
name = "{client}"
timezone = "America/Chicago"
alert_secret = "env:ONCALL_BENCH_SECRET"

[support_window]   # empty: always after hours, so every critical alert is an emergency

[[emergency]]
id = "critical"
priority = "P1"
label = "anything critical"
min_severity = "critical"

[escalation]
final_contacts = ["owner"]
[[escalation.steps]]
rotation = "primary"
ack_timeout = "30m"
+++
# {client}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_config(
    workdir: Path, port: int, peer_url: str, clients: list[str], defaults: str
) -> Path:
    """config.example.toml on `port`, live mode against `peer_url`, one SOP per client."""
    (workdir / "sops").mkdir()
    for client in clients:
        (workdir / "sops" / f"{client}.md").write_text(SOP.format(client=client))
    text = (REPO / "config.example.toml").read_text()
    replacements = {
        'listen = "127.0.0.1:8787"': f'listen = "127.0.0.1:{port}"',
        'public_url = "http://127.0.0.1:8787"': f'public_url = "http://127.0.0.1:{port}"',
        'database = "var/oncall.db"': f'database = "{workdir / "bench.db"}"',
        'rotations_dir = "rotations"': f'rotations_dir = "{REPO / "rotations"}"',
        'mode = "sandbox"': f'mode = "live"\napi_base_url = "{peer_url}"',
        "[defaults]\n": f"[defaults]\n{defaults}",
    }
    for old, new in replacements.items():
        assert old in text, f"config.example.toml changed: {old!r} not found"
        text = text.replace(old, new)
    path = workdir / "config.toml"
    path.write_text(text)
    return path


def start_daemon(
    config: Path, port: int, sid: str, token: str, secret: str, logfile: Path
) -> subprocess.Popen[bytes]:
    """`oncall run` as its own process; returns once /healthz answers."""
    env = dict(os.environ, TWILIO_ACCOUNT_SID=sid, TWILIO_AUTH_TOKEN=token, **{SECRET_ENV: secret})
    with logfile.open("wb") as log:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oncall.cli",
                "run",
                "--config",
                str(config),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return daemon
        if time.monotonic() > deadline or daemon.poll() is not None:
            daemon.kill()
            raise SystemExit("daemon did not start: " + logfile.read_text())
        time.sleep(0.1)
