"""Alert storm: 10,000 alerts in 60 s for one client while 1,000 more spread over 50 clients.

Starts `oncall run` as a real process (durable SQLite, WAL, synchronous=FULL; live mode
pointed at a Twilio-compatible peer in this process, so every page is counted where it lands),
posts both storms concurrently at a steady rate, then checks and prints:

- alerts sent vs alert rows in SQLite (must be equal: nothing lost),
- incidents per client storm (must be one each: the storm is grouped),
- pages the peer received, per tech, against the hourly paging budget,
- p50/p99/max alert POST → response latency, and the count of 5xx answers (must be 0),
- the daemon's peak RSS (VmHWM in /proc/<pid>/status; target < 200 MB).

    .venv/bin/python bench/storm.py              # the full storm, about 70 s
    .venv/bin/python bench/storm.py --scale 0.1  # 1,100 alerts in 6 s

Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from benchkit import free_port, percentile, start_daemon, write_config

from oncall.sandbox import SandboxPeer
from oncall.sandbox_records import MessageRecord
from oncall.serving import ServerThread

SID, TOKEN, SECRET = "AC" + "c" * 32, "storm-token", "storm-secret"
BUDGET = 20  # tech_pages_per_hour in the bench config
STORM_CLIENT = "storm-site"
SPREAD_CLIENTS = 50
CONNECTIONS = 100  # concurrent POSTs at most, like a fleet of RMM agents behind a proxy


@dataclass
class Results:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


def spread_clients() -> list[str]:
    return [f"client-{n:02d}" for n in range(1, SPREAD_CLIENTS + 1)]


def schedule(scale: float, seconds: float) -> list[tuple[float, str, int]]:
    """(offset in seconds, client, alert number): both storms, evenly paced, interleaved."""
    storm = max(1, round(10_000 * scale))
    spread = max(SPREAD_CLIENTS, round(1_000 * scale))
    clients = spread_clients()
    plan = [(i * seconds / storm, STORM_CLIENT, i) for i in range(storm)]
    plan += [(i * seconds / spread, clients[i % SPREAD_CLIENTS], i) for i in range(spread)]
    return sorted(plan)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("VmHWM not in /proc/<pid>/status")


async def post_storm(port: int, plan: list[tuple[float, str, int]], results: Results) -> None:
    """POST every alert when it is due, at most CONNECTIONS at a time.

    Latency runs from when the alert was due, so time spent waiting for a free connection
    while the daemon is behind counts against the daemon."""
    url = f"http://127.0.0.1:{port}/alerts/"
    headers = {"Authorization": f"Bearer {SECRET}"}
    slots = asyncio.Semaphore(CONNECTIONS)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(client: str, number: int, due: float) -> None:
            body = {
                "severity": "critical",
                "source": "storm",
                "summary": f"{client}: device {number} unreachable",
                "host": f"{client}-dev{number:05d}",
            }
            async with slots:
                try:
                    async with http.post(url + client, json=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    results.errors[type(exc).__name__] += 1
                    return
            results.latencies.append(time.monotonic() - due)
            results.statuses[status] += 1

        tasks = []
        begin = time.monotonic()
        for offset, client, number in plan:
            due = begin + offset
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            results.sent[client] += 1
            tasks.append(asyncio.create_task(one(client, number, due)))
        await asyncio.gather(*tasks)


def read_database(path: Path) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(alert rows per client, incidents per client, page rows per tech that went out)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        alerts = Counter(dict(db.execute("SELECT client, count(*) FROM alerts GROUP BY client")))
        incidents = Counter(
            dict(db.execute("SELECT client, count(*) FROM incidents GROUP BY client"))
        )
        pages = Counter(
            dict(
                db.execute(
                    "SELECT tech_id, count(DISTINCT incident_id || '/' || pass_number || '/' ||"
                    " step_index || '/' || kind) FROM pages WHERE kind != 'notice'"
                    " AND state != 'suppressed' GROUP BY tech_id"
                )
            )
        )
    finally:
        db.close()
    return alerts, incidents, pages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the full storm (alerts and time)"
    )
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error("--scale must be in (0, 1]")
    seconds = 60 * args.scale
    plan = schedule(args.scale, seconds)

    received: Counter[str] = Counter()
    lock = threading.Lock()

    def on_message(record: MessageRecord) -> None:
        with lock:
            received[record.to] += 1

    peer = SandboxPeer(SID, TOKEN, echo=None)
    peer.on_message.append(on_message)
    workdir = Path(tempfile.mkdtemp(prefix="oncall-storm-"))
    port = free_port()
    results = Results()
    with ServerThread(peer.app) as peer_server:
        config = write_config(
            workdir,
            port,
            peer_server.url,
            [STORM_CLIENT, *spread_clients()],
            f'group_window = "3m"\ntech_pages_per_hour = {BUDGET}\n',
        )
        daemon = start_daemon(config, port, SID, TOKEN, SECRET, workdir / "daemon.log")
        try:
            began = time.monotonic()
            asyncio.run(post_storm(port, plan, results))
            took = time.monotonic() - began
            time.sleep(2)  # let the last pages reach the peer
            rss = peak_rss_mb(daemon.pid)
        finally:
            daemon.terminate()
            daemon.wait(30)
        calls = len(peer.calls)
    alerts, incidents, pages = read_database(workdir / "bench.db")
    shutil.rmtree(workdir, ignore_errors=True)

    total = sum(results.sent.values())
    rows = sum(alerts.values())
    spread_incidents = Counter(incidents[client] for client in spread_clients())
    server_errors = sum(n for status, n in results.statuses.items() if status >= 500)
    ms = [value * 1000 for value in results.latencies]
    print(
        f"storm: {results.sent[STORM_CLIENT]} alerts for {STORM_CLIENT} and "
        f"{total - results.sent[STORM_CLIENT]} over {SPREAD_CLIENTS} clients, "
        f"posted in {took:.1f} s ({total / took:.0f}/s)"
    )
    print(f"  alerts sent {total}, rows in SQLite {rows}")
    print(
        f"  incidents: {incidents[STORM_CLIENT]} for {STORM_CLIENT}; per spread client "
        + ", ".join(
            f"{count} incident(s) x {n} clients" for count, n in sorted(spread_incidents.items())
        )
    )
    print(
        f"  pages sent (SMS at the peer) {sum(received.values())}, calls {calls}; "
        f"pages per tech {dict(pages)} (budget {BUDGET}/tech/hour)"
    )
    print(
        f"  alert due -> response: p50 {percentile(ms, 50):.1f} ms   "
        f"p99 {percentile(ms, 99):.1f} ms   max {max(ms):.1f} ms"
    )
    print(
        f"  answers {dict(sorted(results.statuses.items()))}, 5xx {server_errors}, "
        f"transport errors {dict(results.errors)}"
    )
    print(f"  daemon peak RSS (VmHWM) {rss:.1f} MB (target < 200 MB)")

    failures = []
    if rows != total:
        failures.append(f"{total - rows} alerts lost")
    if incidents[STORM_CLIENT] != 1 or set(spread_incidents) != {1}:
        failures.append("a client storm opened more than one incident")
    if any(count > BUDGET for count in pages.values()):
        failures.append("a tech got more pages than the budget")
    if server_errors or results.errors or results.statuses.keys() != {202}:
        failures.append("some alerts were not answered 202")
    if rss >= 200:
        failures.append("peak RSS over 200 MB")
    if failures:
        print("FAILED: " + "; ".join(failures))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
