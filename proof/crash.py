"""Crash proof: concurrent escalations while the daemon is killed with SIGKILL and restarted.

`oncall run` runs as a real process (live mode against a sandbox Twilio peer in this
process, which outlives every kill). N emergency alerts for distinct hosts arrive spread over
the first half of the run, so N escalations are under way at once; each pages alice (step 1),
bob (step 2), carol (step 3) and, when nobody acknowledges, the owner (chain exhausted).
Meanwhile the daemon is killed with SIGKILL at K random moments and started again at once.
Alert POSTs that meet a dead daemon are retried until answered (same body: it folds).

Figures (from the daemon's SQLite and what the peer received):

- escalation steps lost: for every incident, each of its 4 pages (step 1-3 and the exhausted
  page) must have reached the peer as an SMS to that step's tech. All are due before the end
  (the run waits until every chain is exhausted). Target 0.
- duplicate pages: SMS beyond the first to the same (incident, tech) pair (one tech per step,
  so this is "the same incident, step, tech and channel twice"; a page row delivered twice is
  one of these). Each duplicate is charged to the last kill before its second copy.
  Target: at most 1 per kill.
- alerts lost: escalations whose alert row is not in SQLite (target 0).

    .venv/bin/python proof/crash.py                              # 200 escalations, 20 kills
    .venv/bin/python proof/crash.py --escalations 30 --kills 3   # the CI size

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prooflib import (  # noqa: E402
    STEP_TECHS,
    TECHS,
    Daemon,
    free_port,
    landed,
    peer_server,
    post_alert,
    quiet_logs,
    quiet_peer,
    read_db,
    sop_text,
    write_config,
)

CLIENT = "crashco"


@dataclass
class CrashResult:
    escalations: int
    kills: int
    incidents: int
    alerts_lost: int
    steps_expected: int
    steps_lost: int
    duplicates: int
    max_duplicates_per_kill: int
    unattributed: int
    recovered: int = 0  # sends a kill interrupted, found at Twilio after the restart
    resent: int = 0  # sends a kill interrupted before Twilio had them, sent again
    restart_seconds: list[float] = field(default_factory=list)
    lost_detail: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def ok(self) -> bool:
        return (
            self.alerts_lost == 0
            and self.steps_lost == 0
            and self.max_duplicates_per_kill <= 1
            and self.incidents == self.escalations
        )

    def report(self) -> str:
        restarts = self.restart_seconds or [0.0]
        lines = [
            f"crash: {self.escalations} concurrent escalations, {self.kills} x SIGKILL + restart "
            f"({self.seconds:.0f} s)",
            f"  incidents {self.incidents} (expected {self.escalations}), alerts lost "
            f"{self.alerts_lost}",
            f"  escalation steps expected {self.steps_expected}, lost {self.steps_lost} (target 0)",
            f"  duplicate pages {self.duplicates} in all, at most {self.max_duplicates_per_kill} "
            "per kill (target <= 1)",
            f"  SMS the peer got that no page row explains: {self.unattributed}",
            f"  sends cut by a kill: {self.recovered} found at Twilio after the restart (not "
            f"sent again), {self.resent} not at Twilio (sent again)",
            f"  restart to /healthz: mean {sum(restarts) / len(restarts):.2f} s, "
            f"max {max(restarts):.2f} s",
        ]
        lines += [f"  LOST {item}" for item in self.lost_detail[:20]]
        lines.append("OK" if self.ok() else "FAILED")
        return "\n".join(lines)


def post_all(url: str, count: int, spread: float, stop: threading.Event, answered: set[int]):
    """Post alert i at i*spread/count s; retry (same body) until the daemon answers 202."""
    begin = time.monotonic()
    with httpx.Client(timeout=5) as http:
        for i in range(count):
            delay = begin + i * spread / count - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            while not stop.is_set():
                try:
                    response = post_alert(
                        http, url, CLIENT, f"crash-{i:04d}", f"crash-{i:04d} down"
                    )
                    if response.status_code == 202:
                        answered.add(i)
                        break
                except httpx.HTTPError:
                    # The daemon is down (just killed): the sender keeps the alert and retries.
                    time.sleep(0.05)
                    continue
                time.sleep(0.05)


def run(escalations: int, kills: int, seed: int, workdir: Path) -> CrashResult:
    rng = random.Random(seed)
    window = max(8.0, kills * 2.0)  # seconds over which the kills fall
    ack = max(2, round(window / 6))  # every chain spans half the window
    peer = quiet_peer()
    began = time.monotonic()
    kill_times: list[float] = []
    restart_seconds: list[float] = []
    with peer_server(peer) as server:
        port = free_port()
        config = write_config(workdir, port, server.url, {CLIENT: sop_text(CLIENT, f"{ack}s")})
        daemon = Daemon(config, port, workdir / "daemon.log")
        daemon.start()
        stop = threading.Event()
        answered: set[int] = set()
        poster = threading.Thread(
            target=post_all, args=(daemon.url, escalations, window / 2, stop, answered)
        )
        poster.start()
        try:
            start = time.monotonic()
            gap = window / kills
            for _ in range(kills):
                time.sleep(rng.uniform(0.1, 2 * gap - 0.1 if gap > 0.2 else gap))
                daemon.kill9()
                kill_times.append(time.monotonic())
                restart_seconds.append(daemon.start())
            # Every chain is due to be exhausted by now plus the last alert's 3 ack timeouts.
            settle = max(start + window / 2, time.monotonic()) + 3 * ack + 30
            poster.join(max(0.0, settle - time.monotonic()))
            while time.monotonic() < settle:
                rows = read_db(
                    workdir / "proof.db",
                    "SELECT (SELECT count(*) FROM incidents WHERE state != 'exhausted') AS open,"
                    " (SELECT count(*) FROM pages WHERE state IN ('pending', 'sending')) AS busy,"
                    " (SELECT count(*) FROM incidents) AS n",
                )
                if rows[0]["n"] >= escalations and not rows[0]["open"] and not rows[0]["busy"]:
                    break
                time.sleep(0.5)
            time.sleep(1)
        finally:
            stop.set()
            poster.join(10)
            daemon.stop()
        arrived = landed(peer)
    return tally(
        workdir / "proof.db",
        escalations,
        kills,
        kill_times,
        arrived,
        restart_seconds,
        time.monotonic() - began,
    )


def tally(
    db: Path,
    escalations: int,
    kills: int,
    kill_times: list[float],
    arrived,
    restart_seconds: list[float],
    seconds: float,
) -> CrashResult:
    pages = {
        r["id"]: r for r in read_db(db, "SELECT id, incident_id, tech_id, kind, channel FROM pages")
    }
    incidents = [
        r["id"] for r in read_db(db, "SELECT id FROM incidents WHERE client = ?", (CLIENT,))
    ]
    hosts = {
        r["host"] for r in read_db(db, "SELECT host FROM alerts WHERE incident_id IS NOT NULL")
    }
    alerts_lost = sum(1 for i in range(escalations) if f"crash-{i:04d}" not in hosts)
    phones = {phone: tech for tech, phone in TECHS.items()}
    got: dict[tuple[int, str], list[float]] = defaultdict(list)
    unattributed = 0
    for item in arrived:
        page = pages.get(item.page_id) if item.page_id is not None else None
        if page is None or item.channel != "sms" or phones.get(item.to) != page["tech_id"]:
            unattributed += 1
            continue
        got[(page["incident_id"], page["tech_id"])].append(item.at)
    expected = [(n, tech) for n in incidents for tech in (*STEP_TECHS, "owner")]
    lost = [f"incident #{n}: no SMS to {tech}" for n, tech in expected if not got.get((n, tech))]
    per_kill: Counter[int] = Counter()
    duplicates = 0
    for times in got.values():
        for second in sorted(times)[1:]:
            duplicates += 1
            before = [k for k, t in enumerate(kill_times) if t <= second]
            per_kill[before[-1] if before else -1] += 1
    cut = Counter(
        r["kind"]
        for r in read_db(
            db, "SELECT kind FROM events WHERE kind IN ('page.recovered', 'page.resend')"
        )
    )
    return CrashResult(
        recovered=cut["page.recovered"],
        resent=cut["page.resend"],
        escalations=escalations,
        kills=kills,
        incidents=len(incidents),
        alerts_lost=alerts_lost,
        steps_expected=len(expected),
        steps_lost=len(lost),
        duplicates=duplicates,
        max_duplicates_per_kill=max(per_kill.values(), default=0)
        if -1 not in per_kill
        else max(2, max(per_kill.values())),  # a duplicate with no kill before it fails
        unattributed=unattributed,
        restart_seconds=restart_seconds,
        lost_detail=lost,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--escalations", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quiet_logs()
    workdir = Path(tempfile.mkdtemp(prefix="oncall-crash-"))
    try:
        result = run(args.escalations, args.kills, args.seed, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work directory: {workdir}")
    print(result.report())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
