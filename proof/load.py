"""Load proof: the storm benchmark, then emergencies at a steady rate for minutes, with a CLI
reading the log every second, against the floor of one loopback HTTP round trip plus one
durable SQLite commit measured in the same run.

1. `bench/storm.py` (10,000 alerts in 60 s for one client, 1,000 over 50 clients), as is.
2. Sustained: `oncall run` as a real process (durable SQLite: WAL, synchronous=FULL; live mode
   against a sandbox Twilio peer in a process of its own, `proof/peer.py`). RATE distinct emergencies a second for
   MINUTES; every one opens an incident and pages at once; each step waits ACK seconds, so
   step timeouts fire all along and open incidents pile up (12,000 after 10 minutes at
   20/s). Meanwhile `oncall log --limit 200` runs every second as its own process, and with
   --ack-interval S a CLI writer, `oncall ack` on the newest open incident, every S seconds.
3. Floor: one HTTP round trip to a trivial server on loopback plus one commit of one row to a
   WAL, synchronous=FULL SQLite file in the same directory, sampled once a second during
   the sustained run (and 200 times before it, quiet).

Figures:

- alert POST -> SMS request at the peer: p50/p99/max (target p99 <= 50 ms);
- timer lateness: due -> handled (the row's done_at, so it includes the handler's own work),
  for step timeouts and sends due while >= 10,000 incidents were open (target p99 <= 100 ms),
  and the timer wheel's own max wake-up lateness (/healthz);
- the daemon's peak RSS (VmHWM), "database is locked" errors (daemon log + CLI output, target 0),
  CLI runs that failed, and our p99 / the floor's p99.

    .venv/bin/python proof/load.py                              # storm + 10 min at 20/s
    .venv/bin/python proof/load.py --minutes 1 --storm-scale 0  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prooflib import (  # noqa: E402
    REPO,
    SECRET,
    SECRET_ENV,
    SID,
    TOKEN,
    Daemon,
    free_port,
    peer_process,
    percentile,
    quiet_logs,
    read_db,
    sop_text,
    write_config,
)

from oncall.serving import ServerThread  # noqa: E402

CLIENT = "loadco"
OPEN_THRESHOLD = 10_000


@dataclass
class Floor:
    """One loopback HTTP round trip plus one durable SQLite commit, sampled."""

    url: str
    db_path: Path
    samples: list[float] = field(default_factory=list)  # seconds
    http_part: list[float] = field(default_factory=list)
    commit_part: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=10)
        self.db = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, at TEXT)")

    def sample(self) -> float:
        start = time.perf_counter()
        self.http.post(self.url, content=b"{}")
        mid = time.perf_counter()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT INTO t (at) VALUES (?)", (str(time.time()),))
        self.db.execute("COMMIT")
        end = time.perf_counter()
        self.http_part.append(mid - start)
        self.commit_part.append(end - mid)
        self.samples.append(end - start)
        return end - start

    def close(self) -> None:
        self.http.close()
        self.db.close()


def ms(values: list[float]) -> str:
    v = [x * 1000 for x in values]
    if not v:
        return "no samples"
    return f"p50 {percentile(v, 50):.1f} ms  p99 {percentile(v, 99):.1f} ms  max {max(v):.1f} ms"


def run_storm(scale: float) -> tuple[int, str]:
    if scale <= 0:
        return 0, "storm: skipped (--storm-scale 0)"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "storm.py"), "--scale", str(scale)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def cli_runs(
    argv: Callable[[], list[str] | None],
    interval: float,
    stop: threading.Event,
    out: dict[str, list],
) -> None:
    """Run `oncall <argv()>` as its own process every `interval` seconds until stopped."""
    env = dict(os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, **{SECRET_ENV: SECRET})
    while interval > 0 and not stop.is_set():
        began = time.monotonic()
        args = argv()
        if args is not None:
            proc = subprocess.run(
                [sys.executable, "-m", "oncall.cli", *args],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            took = time.monotonic() - began
            out["seconds"].append(took)
            text = proc.stdout + proc.stderr
            if proc.returncode != 0:
                out["failed"].append(proc.stderr[-300:])
            out["locked"].append(text.count("database is locked"))
        stop.wait(max(0.0, interval - (time.monotonic() - began)))


def newest_open_incident(db: Path) -> int | None:
    rows = read_db(db, "SELECT max(id) FROM incidents WHERE state = 'paging'")
    return rows[0][0] if rows and rows[0][0] is not None else None


async def post_alerts(
    url: str, count: int, rate: float, sent_at: dict[str, float], statuses: dict[int, int]
) -> None:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as http:

        async def one(i: int) -> None:
            token = f"load-{i:06d}"
            sent_at[token] = time.monotonic()
            try:
                response = await http.post(
                    f"{url}/alerts/{CLIENT}",
                    json={"severity": "critical", "summary": f"Host down {token}", "host": token},
                    headers={"Authorization": f"Bearer {SECRET}"},
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            except httpx.HTTPError:
                statuses[0] = statuses.get(0, 0) + 1

        tasks = []
        begin = time.monotonic()
        for i in range(count):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)


def progress(db: Path, second: int, load: float) -> None:
    """One line every 30 s, so a run that goes wrong still says how it went."""
    try:
        states = dict(read_db(db, "SELECT state, count(*) FROM pages GROUP BY state"))
        incidents = read_db(db, "SELECT count(*) FROM incidents")[0][0]
    except sqlite3.Error as exc:
        print(f"  [{second:4d} s] cannot read the database: {exc}", flush=True)
        return
    print(f"  [{second:4d} s] incidents {incidents}, pages {states}, load {load:.1f}", flush=True)


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def timer_lateness(db: Path) -> dict[str, list[float]]:
    """Seconds from due to done for finished timers, by kind, all and while >= 10,000 open."""
    opened = sorted(_ts(r[0]) for r in read_db(db, "SELECT opened_at FROM incidents"))
    crowded_from = opened[OPEN_THRESHOLD - 1] if len(opened) >= OPEN_THRESHOLD else None
    out: dict[str, list[float]] = {}
    for row in read_db(db, "SELECT kind, due_at, done_at FROM timers WHERE done_at IS NOT NULL"):
        due, done = _ts(row["due_at"]), _ts(row["done_at"])
        late = max(0.0, done - due)
        out.setdefault(f"{row['kind']} (all)", []).append(late)
        if crowded_from is not None and due >= crowded_from:
            out.setdefault(row["kind"], []).append(late)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="alerts per second")
    parser.add_argument("--ack", type=int, default=300, help="each step's ack timeout, seconds")
    parser.add_argument(
        "--cli-interval", type=float, default=1.0, help="seconds between CLI runs; 0: no CLI"
    )
    parser.add_argument(
        "--ack-interval",
        type=float,
        default=0.0,
        help="seconds between `oncall ack` runs (a CLI writer: the newest open incident, as "
        "alice); 0: none",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--storm-scale", type=float, default=1.0, help="0 skips the storm")
    args = parser.parse_args(argv)
    quiet_logs()

    code, storm_text = run_storm(args.storm_scale)
    print(storm_text, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="oncall-load-"))
    arrived: dict[str, float] = {}

    def collect(peer_url: str) -> None:
        """First SMS per alert token, by the peer's clock (CLOCK_MONOTONIC, shared)."""
        records = httpx.get(f"{peer_url}/_sandbox/messages", timeout=120).json()
        for record in records:
            for word in record["body"].split():
                if word.startswith("load-"):
                    arrived.setdefault(word, record["received_at"])

    async def nothing(request: object) -> Response:
        return Response(status_code=204)

    trivial = Starlette(routes=[Route("/", nothing, methods=["POST"])])
    count = int(args.minutes * 60 * args.rate)
    sent_at: dict[str, float] = {}
    statuses: dict[int, int] = {}
    cli: dict[str, list] = {"seconds": [], "failed": [], "locked": []}
    acks: dict[str, list] = {"seconds": [], "failed": [], "locked": []}
    try:
        with (
            peer_process(workdir / "peer.log") as peer_url,
            ServerThread(trivial) as floor_server,
        ):
            floor = Floor(floor_server.url + "/", workdir / "floor.db")
            for _ in range(200):
                floor.sample()
            quiet = list(floor.samples)
            quiet_http, quiet_commit = list(floor.http_part), list(floor.commit_part)
            floor.samples.clear()
            floor.http_part.clear()
            floor.commit_part.clear()

            port = free_port()
            config = write_config(
                workdir, port, peer_url, {CLIENT: sop_text(CLIENT, f"{args.ack}s")}
            )
            daemon = Daemon(config, port, workdir / "daemon.log")
            daemon.start()
            stop = threading.Event()
            reader = threading.Thread(
                target=cli_runs,
                args=(
                    lambda: ["log", "--config", str(config), "--limit", "200"],
                    args.cli_interval,
                    stop,
                    cli,
                ),
            )

            def ack_argv() -> list[str] | None:
                incident = newest_open_incident(workdir / "proof.db")
                if incident is None:
                    return None
                return ["ack", str(incident), "--as", "alice", "--config", str(config)]

            writer = threading.Thread(
                target=cli_runs, args=(ack_argv, args.ack_interval, stop, acks)
            )

            loads: list[float] = []

            def sampler() -> None:
                tick = 0
                while not stop.wait(1.0):
                    floor.sample()
                    loads.append(os.getloadavg()[0])
                    tick += 1
                    if tick % 30 == 0:
                        progress(workdir / "proof.db", tick, loads[-1])

            floor_thread = threading.Thread(target=sampler)
            reader.start()
            writer.start()
            floor_thread.start()
            began = time.monotonic()
            try:
                asyncio.run(post_alerts(daemon.url, count, args.rate, sent_at, statuses))
                took = time.monotonic() - began
                wait_until = time.monotonic() + 30
                while time.monotonic() < wait_until:
                    busy = read_db(
                        workdir / "proof.db",
                        "SELECT count(*) FROM pages WHERE state IN ('pending', 'sending')"
                        " AND created_at <= (SELECT max(opened_at) FROM incidents)",
                    )[0][0]
                    if not busy:
                        break
                    time.sleep(0.5)
                try:
                    health = httpx.get(f"{daemon.url}/healthz", timeout=60).json()
                except httpx.HTTPError as exc:
                    health = {"error": f"/healthz did not answer in 60 s: {exc!r}"}
                    print(f"  {health['error']}", flush=True)
                rss = daemon.peak_rss_mb()
            finally:
                stop.set()
                reader.join(30)
                writer.join(30)
                floor_thread.join(10)
                daemon.stop()
                collect(peer_url)
            floor.close()
        lateness = timer_lateness(workdir / "proof.db")
        locked_daemon = daemon.log_count("database is locked")
    finally:
        if args.keep:
            print(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    latencies = [arrived[t] - sent_at[t] for t in sent_at if t in arrived]
    missing = count - len(latencies)
    p99 = percentile(latencies, 99)
    floor_p99 = percentile(quiet, 99)
    locked = locked_daemon + sum(cli["locked"]) + sum(acks["locked"])
    print(
        f"sustained: {count} emergencies at {args.rate:g}/s over {took:.0f} s "
        f"(ack timeout {args.ack} s per step); answers {dict(sorted(statuses.items()))}"
    )
    print(f"  alert POST -> SMS request at the peer: {ms(latencies)} (target p99 <= 50 ms)")
    print(f"  pages missing {missing}")
    print(
        f"  open incidents at the end {health.get('open_incidents')}, pending timers "
        f"{health.get('pending_timers')}, timer wheel max wake-up lateness "
        f"{health.get('max_timer_lateness_seconds')} s"
    )
    for kind in sorted(lateness):
        print(
            f"  timer lateness, due -> done, {kind}: n={len(lateness[kind])} {ms(lateness[kind])}"
        )
    print(f"  daemon peak RSS (VmHWM) {rss:.1f} MB")
    if loads:
        print(
            f"  machine load average (1 min) during the run: mean {sum(loads) / len(loads):.1f}, "
            f"max {max(loads):.1f} on {os.cpu_count()} CPUs"
        )
    print(
        f"  CLI `oncall log --limit 200` runs {len(cli['seconds'])} ({ms(cli['seconds'])}), "
        f"failed {len(cli['failed'])}; 'database is locked' {locked} (target 0)"
    )
    if args.ack_interval > 0:
        print(
            f"  CLI writer `oncall ack` runs {len(acks['seconds'])} ({ms(acks['seconds'])}), "
            f"failed {len(acks['failed'])}" + (f": {acks['failed'][0]!r}" if acks["failed"] else "")
        )
    print(
        f"  floor, quiet (200 samples): round trip + commit {ms(quiet)}; "
        f"HTTP {ms(quiet_http)}; commit {ms(quiet_commit)}"
    )
    print(
        f"  floor, during the run ({len(floor.samples)} samples): {ms(floor.samples)}; "
        f"HTTP {ms(floor.http_part)}; commit {ms(floor.commit_part)}"
    )
    if latencies and quiet:
        print(
            f"  our p99 / quiet floor p99 = {p99 * 1000:.1f} / {floor_p99 * 1000:.1f} ms = "
            f"{p99 / floor_p99:.1f}x; / in-run floor p99 = "
            f"{p99 / percentile(floor.samples, 99):.1f}x"
            if floor.samples
            else ""
        )
    crowded = [k for k in ("step_timeout", "send") if k in lateness]
    failures = []
    if missing:
        failures.append(f"{missing} pages missing")
    if p99 > 0.050:
        failures.append("alert -> Twilio p99 over 50 ms")
    if any(percentile(lateness[k], 99) > 0.100 for k in crowded):
        failures.append("timer lateness p99 over 100 ms with 10,000 open incidents")
    if locked:
        failures.append("'database is locked' seen")
    if acks["failed"]:
        failures.append("a CLI `oncall ack` failed")
    if code:
        failures.append("the storm benchmark failed")
    print("FAILED: " + "; ".join(failures) if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
