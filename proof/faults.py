"""Twilio-fault proof: pages keep moving while Twilio fails 30% of the time.

`oncall run` runs as a real process in live mode against `oncall.sandbox_faults.FaultyPeer`:
a sandbox Twilio peer that answers `rate` of Messages/Calls create requests with HTTP 5xx, 429
or a timeout (held past the daemon's 1 s request timeout), and fails the same share of the
rest afterwards (SMS `failed`/`undelivered` status callbacks; calls ending failed, busy or
no-answer). Seeded, so a run repeats. N emergency alerts each run a 3-step chain (alice, bob,
carol; each step an SMS, then a call `voice_after` later); nobody acknowledges, so every chain
ends with the owner's "UNACKNOWLEDGED" page.

Figures (from the daemon's SQLite, its event log and the peer's record of every request):

- pages dropped: page rows (step pages and exhausted pages) that the daemon neither got to
  Twilio (an accepted create for that page id) nor marked failed and acted on; rows still
  pending/sending at the end; incidents whose chain did not reach its end; steps never paged.
  Target 0.
- failure -> next: for every definite failure (a `page.failed` event: retries used up, or a
  failed/undelivered/busy/no-answer status) after which the daemon moved on in the same
  transaction (`page.next_channel`, a step escalated "delivery failed", or the chain
  exhausted), the time from that event to the peer receiving the create request of the next
  channel or step. Target p99 <= 5 s.

    .venv/bin/python proof/faults.py                 # 200 incidents, about 1.5 min
    .venv/bin/python proof/faults.py --incidents 12  # the CI size (~40 pages)

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prooflib import (  # noqa: E402
    STEP_TECHS,
    Daemon,
    free_port,
    peer_server,
    percentile,
    post_alert,
    quiet_logs,
    quiet_peer,
    read_db,
    sop_text,
    write_config,
)

from oncall.sandbox_faults import FaultyPeer  # noqa: E402

CLIENT = "faultco"
TARGET_NEXT_SECONDS = 5.0


@dataclass
class FaultResult:
    incidents: int
    pages: int
    dropped: list[str]
    failed_for_good: int
    next_latencies: list[float]
    faults: Counter[str]
    attempts: int
    states: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # create requests accepted beyond the first for one page row
    seconds: float = 0.0

    def ok(self) -> bool:
        return not self.dropped and (
            not self.next_latencies or percentile(self.next_latencies, 99) <= TARGET_NEXT_SECONDS
        )

    def report(self) -> str:
        lat = self.next_latencies
        injected = sum(self.faults.values())
        lines = [
            f"faults: {self.incidents} incidents, {self.pages} page rows, {self.attempts} create "
            f"requests at the peer, {injected} faults injected ({self.seconds:.0f} s)",
            "  injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())),
            "  page rows by final state: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())),
            f"  pages dropped {len(self.dropped)} (target 0); failed for good and acted on "
            f"{self.failed_for_good}; page rows Twilio accepted twice {self.duplicates}",
        ]
        if lat:
            lines.append(
                f"  definite failure -> next channel/step request ({len(lat)} cases): "
                f"p50 {percentile(lat, 50):.2f} s  p99 {percentile(lat, 99):.2f} s  "
                f"max {max(lat):.2f} s (target p99 <= {TARGET_NEXT_SECONDS:g} s)"
            )
        lines += [f"  DROPPED {item}" for item in self.dropped[:20]]
        lines.append("OK" if self.ok() else "FAILED")
        return "\n".join(lines)


def run(incidents: int, rate: float, seed: int, workdir: Path) -> FaultResult:
    ack, voice_after = 8, 3
    peer = quiet_peer(FaultyPeer, rate=rate, seed=seed, hang=1.5)
    assert isinstance(peer, FaultyPeer)
    began = time.monotonic()
    # Wall clock <-> this process's monotonic clock (the peer stamps requests with the latter).
    wall_minus_mono = time.time() - time.monotonic()
    with peer_server(peer) as server:
        port = free_port()
        config = write_config(
            workdir,
            port,
            server.url,
            {CLIENT: sop_text(CLIENT, f"{ack}s", '["sms", "voice"]', f"{voice_after}s")},
            twilio='request_timeout = "1s"',
        )
        daemon = Daemon(config, port, workdir / "daemon.log")
        daemon.start()
        try:
            spread = max(2.0, incidents * 0.15)
            with httpx.Client(timeout=10) as http:
                for i in range(incidents):
                    response = post_alert(
                        http, daemon.url, CLIENT, f"fault-{i:04d}", f"fault-{i:04d} down"
                    )
                    if response.status_code != 202:
                        raise SystemExit(f"alert {i}: {response.status_code} {response.text}")
                    time.sleep(spread / incidents)
            # Worst chain: 3 steps of `ack` each, plus retries (1 s timeout, 1 s + 2 s backoff).
            settle = time.monotonic() + 3 * ack + 40
            while time.monotonic() < settle:
                row = read_db(
                    workdir / "proof.db",
                    "SELECT (SELECT count(*) FROM incidents WHERE state != 'exhausted') AS open,"
                    " (SELECT count(*) FROM pages WHERE state IN ('pending', 'sending')"
                    "  AND kind != 'notice') AS busy",
                )[0]
                if not row["open"] and not row["busy"]:
                    break
                time.sleep(0.5)
            time.sleep(1)
        finally:
            daemon.stop()
        attempts = list(peer.attempts)
    result = tally(workdir / "proof.db", attempts, wall_minus_mono)
    result.faults = peer.faults
    result.seconds = time.monotonic() - began
    return result


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def tally(db: Path, attempts: list, wall_minus_mono: float) -> FaultResult:
    pages = {r["id"]: dict(r) for r in read_db(db, "SELECT * FROM pages WHERE kind != 'notice'")}
    incidents = {r["id"]: dict(r) for r in read_db(db, "SELECT id, state FROM incidents")}
    accepted = {a.page_id for a in attempts if a.outcome == "ok"}
    first_try: dict[int, float] = {}
    for a in attempts:
        if a.page_id is not None:
            first_try.setdefault(a.page_id, a.at + wall_minus_mono)
    dropped: list[str] = []
    for page in pages.values():
        where = f"page {page['id']} (#{page['incident_id']} {page['tech_id']} {page['channel']})"
        if page["state"] in ("pending", "sending"):
            dropped.append(f"{where} still {page['state']}")
        elif page["state"] not in ("failed", "cancelled") and page["id"] not in accepted:
            dropped.append(f"{where} is {page['state']} but Twilio never accepted it")
    for number, incident in incidents.items():
        if incident["state"] != "exhausted":
            dropped.append(f"incident #{number} stuck in {incident['state']}")
        paged = {p["tech_id"] for p in pages.values() if p["incident_id"] == number}
        for tech in (*STEP_TECHS, "owner"):
            if tech not in paged:
                dropped.append(f"incident #{number}: {tech}'s step never paged")

    # Definite failures and what the daemon did next in the same transaction.
    events = read_db(
        db,
        "SELECT id, ts, kind, incident_id, data FROM events WHERE kind IN ('page.failed',"
        " 'page.next_channel', 'escalation.step', 'incident.exhausted') ORDER BY id",
    )
    latencies: list[float] = []
    failed_for_good = 0
    for n, event in enumerate(events):
        if event["kind"] != "page.failed":
            continue
        failed_for_good += 1
        page_id = json.loads(event["data"]).get("page_id")
        if page_id not in pages:
            continue  # a notice
        follow = [
            e
            for e in events[n + 1 : n + 6]
            if e["ts"] == event["ts"]
            and e["incident_id"] == event["incident_id"]
            and e["kind"] != "page.failed"
        ]
        if not follow:
            continue  # nothing left to move on to (e.g. the call is already ringing)
        nxt = follow[0]
        if nxt["kind"] == "page.next_channel":
            targets = [json.loads(nxt["data"]).get("page_id")]
        else:
            targets = [
                p["id"]
                for p in pages.values()
                if p["incident_id"] == event["incident_id"] and p["created_at"] == event["ts"]
            ]
        tries = [first_try[t] for t in targets if t in first_try]
        if not tries:
            dropped.append(f"after page {page_id} failed, the next page never reached Twilio")
            continue
        latencies.append(max(0.0, min(tries) - _ts(event["ts"])))
    return FaultResult(
        incidents=len(incidents),
        pages=len(pages),
        dropped=dropped,
        failed_for_good=failed_for_good,
        next_latencies=latencies,
        faults=Counter(),
        attempts=len(attempts),
        states=Counter(p["state"] for p in pages.values()),
        duplicates=sum(
            n - 1
            for n in Counter(a.page_id for a in attempts if a.outcome == "ok").values()
            if n > 1
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests that fail")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quiet_logs()
    workdir = Path(tempfile.mkdtemp(prefix="oncall-faults-"))
    try:
        result = run(args.incidents, args.rate, args.seed, workdir)
    finally:
        if args.keep:
            print(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(result.report())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
