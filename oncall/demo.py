"""`oncall demo`: the whole after-hours path, scripted and checked, entirely on loopback.

An emergency alert arrives at 02:00 on a Saturday (client time) → the primary tech is paged →
nobody acknowledges → the backup is paged → the backup replies ACK by a signed inbound SMS →
escalation stops → the timeline is printed from SQLite. Every step is verified; any miss fails.
"""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from oncall.catalog import Catalog
from oncall.clock import OffsetClock
from oncall.daemon import Daemon
from oncall.sandbox_records import MessageRecord
from oncall.sops import Sop
from oncall.timeline import render_incident
from oncall.twilio_webhooks import inbound_sms_params, send_inbound_sms

DEMO_CLIENT = "acme-manufacturing"
DEMO_ALERT = {
    "source": "ninjaone",
    "severity": "critical",
    "summary": "PLC line 3 offline",
    "details": "Controller stopped answering Modbus polls; line 3 conveyor halted.",
    "host": "plc-line3",
    "dedup_key": "ninjaone:plc-line3:offline",
}


class DemoFailed(Exception):
    """A step of the scripted scenario did not happen; the message says which."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _next_saturday_2am(sop: Sop) -> datetime:
    local = datetime.now(sop.timezone)
    days = (5 - local.weekday()) % 7 or 7
    day = (local + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=sop.timezone)


def _demo_catalog(catalog: Catalog, workdir: Path, ack_timeout: float) -> Catalog:
    """The shipped config on private ports and a throw-away database, with short timeouts."""
    listen_port, sandbox_port = _free_port(), _free_port()
    config = replace(
        catalog.config,
        listen=("127.0.0.1", listen_port),
        public_url=f"http://127.0.0.1:{listen_port}",
        database=workdir / "demo.db",
        twilio=replace(
            catalog.config.twilio, api_base_url=None, sandbox_listen=("127.0.0.1", sandbox_port)
        ),
    )
    sop = catalog.sops[DEMO_CLIENT]
    short = timedelta(seconds=ack_timeout)
    # The scripted story is the SMS ladder: a text to each step, no follow-up calls.
    chain = replace(
        sop.escalation,
        steps=tuple(
            replace(step, ack_timeout=short, channels=("sms",)) for step in sop.escalation.steps
        ),
    )
    sops = dict(catalog.sops) | {DEMO_CLIENT: replace(sop, escalation=chain)}
    return replace(catalog, config=config, sops=sops)


async def run_demo(catalog: Catalog, *, ack_timeout: float, say: Callable[[str], None]) -> bool:
    if catalog.config.twilio.mode != "sandbox":
        say('The demo runs in sandbox mode only (twilio.mode = "sandbox").')
        return False
    if DEMO_CLIENT not in catalog.sops:
        say(f"The demo needs the example client {DEMO_CLIENT!r} in {catalog.config.sops_dir}.")
        return False
    with tempfile.TemporaryDirectory(prefix="oncall-demo-") as tmp:
        demo = _demo_catalog(catalog, Path(tmp), ack_timeout)
        sop = demo.sops[DEMO_CLIENT]
        clock = OffsetClock.starting_at(_next_saturday_2am(sop))
        daemon = Daemon(demo, clock=clock, echo=lambda line: say("    " + line), durable=False)
        await daemon.start()
        try:
            await _script(daemon, demo, sop, clock, ack_timeout, say)
        except (DemoFailed, TimeoutError) as exc:
            say(f"\nDEMO FAILED: {exc}")
            return False
        finally:
            await daemon.stop()
    return True


async def _script(
    daemon: Daemon,
    catalog: Catalog,
    sop: Sop,
    clock: OffsetClock,
    ack_timeout: float,
    say: Callable[[str], None],
) -> None:
    assert daemon.sandbox is not None and daemon.store is not None
    peer = daemon.sandbox
    now = clock.now()
    primary = catalog.on_call("primary", now)
    backup = catalog.on_call("backup", now)
    if not primary or not backup:
        raise DemoFailed("the example rotations leave primary or backup uncovered right now")
    say(
        f"Demo clock: {now.astimezone(sop.timezone):%A %Y-%m-%d %H:%M %Z} ({sop.name}: after hours)"
    )
    say(
        f"On call: primary {primary[0].name}, backup {backup[0].name}; ack timeout {ack_timeout:g}s\n"
    )

    say(f"1. {sop.name}'s monitoring posts an alert: {DEMO_ALERT['summary']}")
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{daemon.url}/alerts/{DEMO_CLIENT}",
            content=json.dumps(DEMO_ALERT),
            headers={
                "Authorization": f"Bearer {sop.alert_secret}",
                "Content-Type": "application/json",
            },
        )
    if response.status_code != 202:
        raise DemoFailed(f"alert answered {response.status_code}: {response.text}")
    outcome = response.json()
    say(f"   → {outcome['decision']}: {outcome['reason']}")
    if outcome["decision"] != "page" or not outcome["incident"]:
        raise DemoFailed("the alert did not open an incident")
    number = int(outcome["incident"])

    def page_for(phone: str) -> Callable[[MessageRecord], bool]:
        return lambda m: m.to == phone and f"#{number}" in m.body

    say(f"\n2. The primary, {primary[0].name}, is paged by SMS")
    await peer.wait_for_message(page_for(primary[0].phone), timeout=5)

    say(f"\n3. Nobody acknowledges within {ack_timeout:g}s: the backup, {backup[0].name}, is paged")
    await peer.wait_for_message(page_for(backup[0].phone), timeout=ack_timeout + 5)

    say(f'\n4. {backup[0].name} replies "ACK {number}" (signed inbound SMS webhook)')
    config = catalog.config
    params = inbound_sms_params(
        from_=backup[0].phone,
        to=config.twilio.from_number,
        body=f"ACK {number}",
        account_sid=config.twilio.account_sid,
    )
    reply = await send_inbound_sms(
        post_url=f"{daemon.url}/twilio/sms",
        signed_url=f"{config.public_url}/twilio/sms",
        auth_token=config.twilio.auth_token,
        params=params,
    )
    if reply.status_code != 200 or "Acknowledged" not in reply.text:
        raise DemoFailed(f"the ACK was not accepted: {reply.status_code} {reply.text}")
    say(f"   ← {backup[0].name}'s phone gets: Acknowledged #{number}")

    say(f"\n5. Escalation stops: waiting {ack_timeout + 1:g}s to make sure nobody else is paged")
    seen = len(peer.messages)
    try:
        extra = await peer.wait_for_message(
            # Texts to the client's contacts (client updates) are not pages.
            lambda m: f"#{number}" in m.body and config.tech_by_phone(m.to) is not None,
            timeout=ack_timeout + 1,
            start=seen,
        )
    except TimeoutError:
        extra = None
    if extra is not None:
        raise DemoFailed(f"a page was sent after the acknowledgment: to {extra.to}: {extra.body}")
    incident = daemon.store.incident(number)
    if (
        incident is None
        or incident["state"] != "acknowledged"
        or incident["acked_by"] != backup[0].id
    ):
        raise DemoFailed(f"incident #{number} is not acknowledged by {backup[0].id}: {incident}")
    pages = daemon.store.pages_for(number)
    sent_to = [p["tech_id"] for p in pages if p["state"] == "sent"]
    if sent_to != [primary[0].id, backup[0].id]:
        raise DemoFailed(
            f"expected exactly one page to {primary[0].id} then {backup[0].id}, got {sent_to}"
        )

    say("\n6. The incident timeline, from SQLite:\n")
    say(render_incident(daemon.store, number, sop.timezone))
    say("\nDemo passed: paged, escalated, acknowledged, logged.")
