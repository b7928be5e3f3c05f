"""Page latency: from an emergency alert's POST to the SMS request reaching Twilio.

Starts `oncall run` as a real process (durable SQLite, WAL, synchronous=FULL) pointed at a
Twilio-compatible peer in this process, sends N emergency alerts at a fixed rate, and prints
percentiles of (peer received Messages request) − (alert POST started), both read from this
process's monotonic clock.

    .venv/bin/python bench/page_latency.py --alerts 600 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from oncall.sandbox import SandboxPeer
from oncall.sandbox_records import MessageRecord
from oncall.serving import ServerThread

REPO = Path(__file__).resolve().parent.parent
SID, TOKEN, SECRET = "AC" + "b" * 32, "bench-token", "bench-secret"

SOP = """+++
client = "benchco"
name = "BenchCo"
timezone = "America/Chicago"
alert_secret = "env:ONCALL_BENCH_SECRET"

[support_window]   # empty: always after hours

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
# BenchCo
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path, port: int, peer_url: str) -> Path:
    (workdir / "sops").mkdir()
    (workdir / "sops" / "benchco.md").write_text(SOP)
    text = (REPO / "config.example.toml").read_text()
    replacements = {
        'listen = "127.0.0.1:8787"': f'listen = "127.0.0.1:{port}"',
        'public_url = "http://127.0.0.1:8787"': f'public_url = "http://127.0.0.1:{port}"',
        'database = "var/oncall.db"': f'database = "{workdir / "bench.db"}"',
        'rotations_dir = "rotations"': f'rotations_dir = "{REPO / "rotations"}"',
        'mode = "sandbox"': f'mode = "live"\napi_base_url = "{peer_url}"',
        # Every alert here is a distinct emergency to page: no storm grouping, no budget.
        "[defaults]\n": "[defaults]\ngroup_window = 0\ntech_pages_per_hour = 0\n",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    path = workdir / "config.toml"
    path.write_text(text)
    return path


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def send_alerts(port: int, count: int, rate: float, sent_at: dict[str, float]) -> list[float]:
    """POST `count` alerts at `rate` per second; return each POST's response time."""
    response_times: list[float] = []
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=50)) as http:

        async def one(i: int) -> None:
            token = f"bench-{i:05d}"
            start = time.monotonic()
            sent_at[token] = start
            response = await http.post(
                f"http://127.0.0.1:{port}/alerts/benchco",
                json={"severity": "critical", "summary": f"Host down {token}", "host": f"srv{i}"},
                headers={"Authorization": f"Bearer {SECRET}"},
            )
            response_times.append(time.monotonic() - start)
            if response.status_code != 202 or response.json()["decision"] != "page":
                raise SystemExit(f"alert {i} answered {response.status_code}: {response.text}")

        tasks = []
        begin = time.monotonic()
        for i in range(count):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return response_times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second")
    args = parser.parse_args()

    arrived: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(record: MessageRecord) -> None:
        for word in record.body.split():
            if word.startswith("bench-"):
                with lock:
                    arrived.setdefault(word, record.received_at)

    peer = SandboxPeer(SID, TOKEN, echo=None)
    peer.on_message.append(on_message)
    workdir = Path(tempfile.mkdtemp(prefix="oncall-bench-"))
    port = free_port()
    with ServerThread(peer.app) as peer_server:
        config = write_config(workdir, port, peer_server.url)
        env = dict(
            os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, ONCALL_BENCH_SECRET=SECRET
        )
        log = (workdir / "daemon.log").open("wb")
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
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (
                        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code
                        == 200
                    ):
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise SystemExit(
                            "daemon did not start: " + (workdir / "daemon.log").read_text()
                        ) from None
                    time.sleep(0.1)
            sent_at: dict[str, float] = {}
            response_times = asyncio.run(send_alerts(port, args.alerts, args.rate, sent_at))
            wait_until = time.monotonic() + 10
            while len(arrived) < args.alerts and time.monotonic() < wait_until:
                time.sleep(0.05)
        finally:
            daemon.terminate()
            daemon.wait(15)
            log.close()
    latencies = [(arrived[t] - sent_at[t]) * 1000 for t in sent_at if t in arrived]
    missing = args.alerts - len(latencies)
    print(
        f"page latency, alert POST -> Messages request at the peer ({args.alerts} alerts at {args.rate:g}/s)"
    )
    print(
        f"  p50 {percentile(latencies, 50):.1f} ms   p90 {percentile(latencies, 90):.1f} ms   "
        f"p99 {percentile(latencies, 99):.1f} ms   max {max(latencies):.1f} ms   "
        f"mean {statistics.mean(latencies):.1f} ms"
    )
    rt = [r * 1000 for r in response_times]
    print(
        f"  alert POST response: p50 {percentile(rt, 50):.1f} ms   p99 {percentile(rt, 99):.1f} ms"
    )
    print(f"  pages missing: {missing}")
    shutil.rmtree(workdir, ignore_errors=True)
    if missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
