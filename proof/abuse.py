"""Webhook-abuse proof: forged, replayed, oversized and malformed requests on every endpoint.

`oncall run` runs as a real process (live mode against a sandbox Twilio peer). Every POST
endpoint gets, in turn:

- forgeries: no credentials, a wrong client/tool secret, an X-Twilio-Signature made with the
  wrong auth token, a signature for other parameters (one value tampered) or another URL;
- replays: a correctly signed inbound SMS ("ESC n": would move the chain on again), a
  correctly signed failed status callback (same MessageSid) and call requests (same CallSid)
  sent twice or more;
- oversized bodies (1 MiB, with and without valid credentials) and malformed ones (bad
  UTF-8, wrong content type, truncated JSON, form garbage) with valid credentials;
- hypothesis-generated requests: random endpoint, credentials (none, wrong, valid), body
  (bytes, form fields, JSON values), seeded (derandomize) so a run repeats.

Figures:

- accepted forgeries: requests without valid credentials answered 2xx/3xx, plus any change a
  forgery phase made to the database (alerts, incidents, pages, inbound SMS, calls). Target 0.
- accepted replays: a replay that changed state (incident state/step/ack, page states,
  inbound SMS rows) after the first delivery. Target 0.
- 5xx responses (and dropped connections) over the whole run. Target 0.

    .venv/bin/python proof/abuse.py                 # 10,000 hypothesis cases, a few minutes
    .venv/bin/python proof/abuse.py --cases 300     # the CI size

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
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prooflib import (  # noqa: E402
    SECRET,
    TECHS,
    TOKEN,
    Daemon,
    free_port,
    peer_server,
    post_alert,
    quiet_logs,
    quiet_peer,
    read_db,
    sop_text,
    write_config,
)

CLIENT = "abuseco"
TWILIO_PATHS = (
    "/twilio/sms",
    "/twilio/status",
    "/twilio/status?page=1",
    "/twilio/voice",
    "/twilio/voice/pin",
    "/twilio/voice/menu",
    "/twilio/voice/recorded",
    "/twilio/voice/desk",
    "/twilio/voice/status",
    "/twilio/voice/page?page=1",
    "/twilio/voice/page/key?page=1",
    "/twilio/voice/hold",
    "/twilio/voice/held",
    "/twilio/voice/connect",
    "/twilio/voice/screen",
)
SECRET_PATHS = (
    f"/alerts/{CLIENT}",
    "/alerts/tool/generic",
    "/alerts/tool/ninjaone",
    f"/alerts/{CLIENT}/generic",
    f"/alerts/{CLIENT}/datto",
    f"/heartbeat/{CLIENT}/backup",
    "/heartbeat/backup",
)
BIG = 1024 * 1024
STATE_SQL = {
    "alerts": "SELECT count(*) FROM alerts",
    "incidents": "SELECT group_concat(id || state || pass_number || step_index ||"
    " coalesce(acked_by, '')) FROM incidents",
    "pages": "SELECT group_concat(id || state) FROM pages",
    "inbound_sms": "SELECT count(*) FROM inbound_sms",
    "calls": "SELECT count(*) FROM calls",
}


@dataclass
class AbuseResult:
    requests: Counter[str] = field(default_factory=Counter)  # phase -> count
    statuses: Counter[int] = field(default_factory=Counter)
    forgeries_accepted: list[str] = field(default_factory=list)
    replays_accepted: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    cases: int = 0
    seconds: float = 0.0

    def ok(self) -> bool:
        return not (self.forgeries_accepted or self.replays_accepted or self.server_errors)

    def report(self) -> str:
        lines = [
            f"abuse: {sum(self.requests.values())} requests ({self.cases} hypothesis cases) in "
            f"{self.seconds:.0f} s: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.requests.items())),
            "  answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.statuses.items())),
            f"  accepted forgeries {len(self.forgeries_accepted)} (target 0)",
            f"  accepted replays {len(self.replays_accepted)} (target 0)",
            f"  5xx answers or dropped connections {len(self.server_errors)} (target 0)",
        ]
        for label, items in (
            ("FORGERY", self.forgeries_accepted),
            ("REPLAY", self.replays_accepted),
            ("5XX", self.server_errors),
        ):
            lines += [f"  {label} {item}" for item in items[:10]]
        lines.append("OK" if self.ok() else "FAILED")
        return "\n".join(lines)


class Prober:
    """Sends requests to the daemon and keeps score."""

    def __init__(self, daemon: Daemon, db: Path, result: AbuseResult) -> None:
        self.daemon, self.db, self.result = daemon, db, result
        self.http = httpx.Client(base_url=daemon.url, timeout=30)
        self.good = RequestValidator(TOKEN)
        self.bad = RequestValidator("not-the-auth-token")

    def state(self) -> dict[str, Any]:
        return {k: read_db(self.db, sql)[0][0] for k, sql in STATE_SQL.items()}

    def send(
        self,
        phase: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        forged: bool,
        method: str = "POST",
    ) -> int:
        self.result.requests[phase] += 1
        what = f"{phase}: {method} {path} ({len(body)} bytes)"
        try:
            response = self.http.request(method, path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.result.server_errors.append(f"{what}: {exc!r}")
            return 0
        self.result.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.result.server_errors.append(f"{what}: {response.status_code} {response.text}")
        if forged and response.status_code < 400:
            self.result.forgeries_accepted.append(f"{what}: {response.status_code}")
        return response.status_code

    def signed(
        self,
        path: str,
        params: dict[str, str],
        validator: RequestValidator | None = None,
        url_path: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A form body and the headers Twilio would send (signature over public URL + path)."""
        signer = validator or self.good
        signature = signer.compute_signature(self.daemon.url + (url_path or path), params)
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }

    @staticmethod
    def bearer(secret: str | None, content_type: str = "application/json") -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return headers


def sms_params(sid: str, body: str, frm: str = TECHS["alice"]) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "f" * 32,
        "From": frm,
        "To": "+15550009999",
        "Body": body,
        "NumMedia": "0",
    }


def forgeries(p: Prober) -> None:
    alert = json.dumps({"severity": "critical", "summary": "forged", "host": "f"}).encode()
    for path in SECRET_PATHS:
        for secret in (None, "wrong-secret", SECRET + "x", SECRET[:-1]):
            p.send("forged", path, alert, p.bearer(secret), forged=True)
        basic = {"Content-Type": "application/json", "Authorization": "Basic " + SECRET}
        p.send("forged", path, alert, basic, forged=True)
        p.send("forged", path + "?token=wrong", alert, p.bearer(None), forged=True)
    params = sms_params("SMforged0001", "ACK 1")
    for path in TWILIO_PATHS:
        body = urlencode(params).encode()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        p.send("forged", path, body, form, forged=True)  # unsigned
        p.send("forged", path, body, form | {"X-Twilio-Signature": "AAAA"}, forged=True)
        body, headers = p.signed(path, params, p.bad)  # wrong auth token
        p.send("forged", path, body, headers, forged=True)
        _, headers = p.signed(path, params)  # right signature, tampered parameter
        tampered = urlencode(params | {"Body": "RES 1 forged"}).encode()
        p.send("forged", path, tampered, headers, forged=True)
        body, headers = p.signed(path, params, url_path="/twilio/other")  # another URL
        p.send("forged", path, body, headers, forged=True)
    p.send("forged", "/feeds/not-a-token.ics", b"", {}, forged=True, method="GET")


def oversized_and_malformed(p: Prober) -> None:
    big = b"{" + b'"a":"' + b"x" * BIG + b'"}'
    for path in SECRET_PATHS:
        p.send("oversized", path, big, p.bearer(SECRET), forged=False)
        p.send("oversized", path, big, p.bearer(None), forged=True)
        for body in (b"\xff\xfe\x00", b"{", b"[]", b"null", b'{"severity": 5}', b"a=b&c"):
            p.send("malformed", path, body, p.bearer(SECRET), forged=False)
            p.send("malformed", path, body, p.bearer(SECRET, "text/plain"), forged=False)
    for path in TWILIO_PATHS:
        params = {"CallSid": "CA" + "0" * 32, "Body": "x" * BIG}
        body, headers = p.signed(path, params)
        p.send("oversized", path, body, headers, forged=False)
        for raw in (b"\xff\xfe", b"%%%", b"a&&==&", b'{"json": true}'):
            headers = {"X-Twilio-Signature": p.good.compute_signature(p.daemon.url + path, {})}
            p.send("malformed", path, raw, headers, forged=False)
        body, headers = p.signed(path, {"MessageSid": "", "CallSid": "", "From": "not a phone"})
        p.send("malformed", path, body, headers, forged=False)


def replays(p: Prober) -> None:
    """Each replay must leave the state exactly as the first delivery left it."""
    with httpx.Client(timeout=10) as http:
        number = post_alert(http, p.daemon.url, CLIENT, "replay-1", "replay test").json()[
            "incident"
        ]
    time.sleep(0.5)

    def twice(label: str, path: str, params: dict[str, str], times: int = 3) -> None:
        body, headers = p.signed(path, params)
        first = p.send("replay", path, body, headers, forged=False)
        if not 200 <= first < 300:
            raise RuntimeError(f"{label}: the first delivery was answered {first}")
        time.sleep(0.2)
        before = p.state()
        for _ in range(times):
            p.send("replay", path, body, headers, forged=False)
        time.sleep(0.2)
        after = p.state()
        if after != before:
            changed = [k for k in before if before[k] != after[k]]
            p.result.replays_accepted.append(f"{label}: replay changed {changed}")

    twice("inbound SMS ESC", "/twilio/sms", sms_params("SMreplay0001", f"ESC {number}"))
    page = read_db(
        p.db,
        "SELECT id, twilio_sid FROM pages WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
        (number,),
    )
    if page and page[0]["twilio_sid"]:
        status = {
            "MessageSid": page[0]["twilio_sid"],
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "To": TECHS["bob"],
        }
        twice("failed status callback", f"/twilio/status?page={page[0]['id']}", status)
    call = {
        "CallSid": "CA" + "1" * 32,
        "From": "+18155550141",
        "To": "+15550009000",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    twice("inbound call", "/twilio/voice", call)
    twice("call status", "/twilio/voice/status", call | {"CallStatus": "completed"})
    twice("SMS ACK", "/twilio/sms", sms_params("SMreplay0002", f"ACK {number}", TECHS["bob"]))


def fuzz(p: Prober, cases: int) -> None:
    text = st.text(max_size=200)
    forms = st.dictionaries(
        st.sampled_from(
            [
                "MessageSid",
                "SmsSid",
                "CallSid",
                "From",
                "To",
                "Body",
                "Digits",
                "CallStatus",
                "MessageStatus",
                "ErrorCode",
                "AnsweredBy",
                "RecordingUrl",
                "OptOutType",
                "DialCallStatus",
                "QueueResult",
                "SpeechResult",
            ]
        )
        | text,
        st.one_of(
            text,
            st.sampled_from(
                [
                    "1",
                    "ACK 1",
                    "ESC 1",
                    "RES 1 x",
                    "STOP",
                    "failed",
                    "undelivered",
                    "+15550001001",
                    "-1",
                    "9" * 40,
                ]
            ),
        ),
        max_size=8,
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=12,
    )
    alert_like = st.fixed_dictionaries(
        {},
        optional={
            "severity": st.sampled_from(["critical", "warning", "info", "", "CRITICAL"]) | text,
            "summary": text,
            "host": text,
            "status": st.sampled_from(["resolved", "firing", "open"]) | text,
            "source": text,
        },
    )

    @settings(
        max_examples=cases,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        twilio=st.booleans(),
        twilio_path=st.sampled_from(TWILIO_PATHS),
        secret_path=st.sampled_from(SECRET_PATHS),
        auth=st.sampled_from(["none", "wrong", "valid"]),
        form=forms,
        body=st.one_of(
            st.binary(max_size=300),
            json_values.map(lambda v: json.dumps(v).encode()),
            alert_like.map(lambda v: json.dumps(v).encode()),
        ),
    )
    def case(twilio, twilio_path, secret_path, auth, form, body) -> None:
        p.result.cases += 1
        forged = auth != "valid"
        if twilio:
            signer = {"none": None, "wrong": p.bad, "valid": p.good}[auth]
            raw = urlencode(form).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if signer is not None:
                headers["X-Twilio-Signature"] = signer.compute_signature(
                    p.daemon.url + twilio_path, form
                )
            p.send("hypothesis", twilio_path, raw, headers, forged)
        else:
            secret = {"none": None, "wrong": "wrong-secret", "valid": SECRET}[auth]
            p.send("hypothesis", secret_path, body, p.bearer(secret), forged)

    case()


def run(cases: int, workdir: Path) -> AbuseResult:
    result = AbuseResult()
    began = time.monotonic()
    peer = quiet_peer()
    with peer_server(peer) as server:
        port = free_port()
        config = write_config(
            workdir,
            port,
            server.url,
            {CLIENT: sop_text(CLIENT, "10m")},
            extra='[intake.tools]\ngeneric = "env:ONCALL_PROOF_SECRET"\n',
        )
        daemon = Daemon(config, port, workdir / "daemon.log")
        daemon.start()
        prober = Prober(daemon, workdir / "proof.db", result)
        try:
            before = prober.state()
            forgeries(prober)
            time.sleep(0.3)
            if prober.state() != before:
                result.forgeries_accepted.append(
                    f"the forgeries changed the database: {before} -> {prober.state()}"
                )
            oversized_and_malformed(prober)
            replays(prober)
            fuzz(prober, cases)
            if daemon.proc is not None and daemon.proc.poll() is not None:
                result.server_errors.append("the daemon died")
        finally:
            prober.http.close()
            daemon.stop()
        internal = daemon.log_count("http.internal_error")
        if internal:
            result.server_errors.append(f"{internal} http.internal_error lines in the daemon log")
    result.seconds = time.monotonic() - began
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000, help="hypothesis cases")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    quiet_logs()
    workdir = Path(tempfile.mkdtemp(prefix="oncall-abuse-"))
    try:
        result = run(args.cases, workdir)
    finally:
        if args.keep:
            print(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(result.report())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
