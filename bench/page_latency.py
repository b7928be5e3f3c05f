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
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from benchkit import free_port, percentile, start_daemon, write_config

from oncall.sandbox import SandboxPeer
from oncall.sandbox_records import MessageRecord
from oncall.serving import ServerThread

SID, TOKEN, SECRET = "AC" + "b" * 32, "bench-token", "bench-secret"


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
        # Every alert here is a distinct emergency to page: no storm grouping, no budget.
        config = write_config(
            workdir,
            port,
            peer_server.url,
            ["benchco"],
            "group_window = 0\ntech_pages_per_hour = 0\n",
        )
        daemon = start_daemon(config, port, SID, TOKEN, SECRET, workdir / "daemon.log")
        try:
            sent_at: dict[str, float] = {}
            response_times = asyncio.run(send_alerts(port, args.alerts, args.rate, sent_at))
            wait_until = time.monotonic() + 10
            while len(arrived) < args.alerts and time.monotonic() < wait_until:
                time.sleep(0.05)
        finally:
            daemon.terminate()
            daemon.wait(15)
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
