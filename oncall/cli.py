"""The `oncall` command line: parse options, call the library, format the answer.

Commands live in the `cli_*` modules and are imported only when run (oncall.cli_lazy), so a
read-only command such as `oncall log` loads the config and the database and nothing more.

Exit codes: 0 success, 1 the thing asked about failed or was not found, 2 bad usage or a
configuration error (the message names the file and key).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from xml.etree import ElementTree

import click

from oncall.cli_lazy import LazyGroup
from oncall.cli_support import (
    catalog_or_fail,
    config_option,
    config_or_fail,
    fail,
    format_option,
    open_store,
    parse_instant,
)
from oncall.errors import ConfigError
from oncall.output import render
from oncall.store import parse_ts

COMMANDS = {
    "ack": "oncall.cli_incident:ack",
    "assign": "oncall.cli_incident:assign_command",
    "check": "oncall.cli_checks:check",
    "doctor": "oncall.cli_ops:doctor",
    "explain": "oncall.cli_checks:explain",
    "feed-url": "oncall.cli_rotations:feed_url_command",
    "gaps": "oncall.cli_rotations:gaps_command",
    "heartbeats": "oncall.cli_maintenance:heartbeats_command",
    "maintenance": "oncall.cli_maintenance:maintenance_command",
    "page": "oncall.cli_page:page_command",
    "prune": "oncall.cli_ops:prune_command",
    "queue": "oncall.cli_queue:queue_command",
    "report": "oncall.cli_report:report_command",
    "resolve": "oncall.cli_incident:resolve",
    "shifts": "oncall.cli_rotations:shifts_command",
    "sop": "oncall.cli_checks:sop",
    "test-pages": "oncall.cli_page:test_pages_command",
    "update": "oncall.cli_updates:update_command",
    "vendor": "oncall.cli_incident:vendor_command",
    "who": "oncall.cli_rotations:who",
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option(package_name="oncall")
def main() -> None:
    """oncall: after-hours paging for MSPs (rotations, SOPs, Twilio SMS, SQLite log)."""


@main.command()
@config_option
@click.option("--log-level", default="info", show_default=True)
def run(config_path: Path, log_level: str) -> None:
    """Run the daemon: HTTP webhooks, escalation timers, Twilio (or the sandbox peer)."""
    from oncall.clock import SystemClock
    from oncall.daemon import Daemon, run_until_signalled
    from oncall.logs import configure_logging

    configure_logging(log_level)
    catalog = catalog_or_fail(config_path)
    echo = None
    if catalog.config.twilio.mode == "sandbox":
        echo = lambda line: click.echo(line, err=True)  # noqa: E731
    daemon = Daemon(catalog, clock=SystemClock(), echo=echo)
    try:
        asyncio.run(run_until_signalled(daemon))
    except OSError as exc:
        fail(str(exc))


@main.command(name="log")
@config_option
@click.option("--client", help="Only this client.")
@click.option("--since", "since_text", help="ISO 8601 instant.")
@click.option("--incident", type=int, help="Only this incident.")
@click.option("--limit", type=int, help="At most this many events.")
@format_option
def log_command(
    config_path: Path,
    client: str | None,
    since_text: str | None,
    incident: int | None,
    limit: int | None,
    fmt: str,
) -> None:
    """The escalation log: every alert, decision, page, reply and state change."""
    config = config_or_fail(config_path)
    since = parse_instant(since_text, config.timezone) if since_text else None
    with open_store(config) as store:
        events = store.events(client=client, since=since, incident_id=incident, limit=limit)
    zone = config.timezone
    machine = fmt != "table"
    rows = [
        {
            "id": e["id"],
            "time": e["ts"]
            if machine
            else parse_ts(e["ts"]).astimezone(zone).isoformat(timespec="seconds"),
            "kind": e["kind"],
            "client": e["client"] if machine else e["client"] or "",
            "incident": e["incident_id"] if machine else e["incident_id"] or "",
            "actor": e["actor"],
            "message": e["message"],
            # JSON keeps the details as an object; CSV as one JSON text cell.
            **(
                {"data": e["data"] if fmt == "json" else json.dumps(e["data"], sort_keys=True)}
                if machine
                else {}
            ),
        }
        for e in events
    ]
    columns = ["id", "time", "kind", "client", "incident", "actor", "message"]
    click.echo(render(rows, fmt, columns + (["data"] if machine else [])))


@main.command()
@config_option
@click.argument("incident_id", type=int)
def show(config_path: Path, incident_id: int) -> None:
    """One incident's timeline, human readable."""
    from oncall.timeline import render_incident

    config = config_or_fail(config_path)
    with open_store(config) as store:
        if store.incident(incident_id) is None:
            fail(f"no incident #{incident_id}")
        click.echo(render_incident(store, incident_id, config.timezone))


@main.command()
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup(config_path: Path, target: Path) -> None:
    """Write a consistent copy of the database to TARGET (safe while the daemon runs)."""
    from oncall.backup import backup_database

    config = config_or_fail(config_path)
    try:
        pages = backup_database(config.database, target)
    except (FileNotFoundError, FileExistsError, RuntimeError) as exc:
        fail(str(exc))
    click.echo(f"backed up {config.database} to {target} ({pages} pages)")


@main.command()
@config_option
@click.option("--ack-timeout", default=3.0, show_default=True, help="Seconds each step waits.")
def demo(config_path: Path, ack_timeout: float) -> None:
    """Run the scripted after-hours scenario locally (sandbox) and check every step."""
    from oncall.demo import run_demo
    from oncall.logs import configure_logging

    configure_logging("warning")
    catalog = catalog_or_fail(config_path)
    ok = asyncio.run(run_demo(catalog, ack_timeout=ack_timeout, say=click.echo))
    sys.exit(0 if ok else 1)


@main.group()
def sandbox() -> None:
    """Play a tech's phone against a daemon running in sandbox mode."""


@sandbox.command(name="reply")
@config_option
@click.option("--from", "from_", required=True, help="The tech's phone number (E.164).")
@click.option("--url", help="Where the daemon listens (default: daemon.listen from config).")
@click.argument("body")
def sandbox_reply(config_path: Path, from_: str, url: str | None, body: str) -> None:
    """Send a correctly signed inbound SMS to the running daemon, print its answer."""
    import httpx

    from oncall.config import parse_phone
    from oncall.twilio_webhooks import inbound_sms_params, send_inbound_sms_sync

    config = config_or_fail(config_path)
    host, port = config.listen
    post_url = (url or f"http://{host}:{port}").rstrip("/") + "/twilio/sms"
    try:
        phone = parse_phone(from_, None, "--from")
    except ConfigError as exc:
        fail(str(exc), 2)
    params = inbound_sms_params(
        from_=phone,
        to=config.twilio.from_number,
        body=body,
        account_sid=config.twilio.account_sid,
    )
    try:
        response = send_inbound_sms_sync(
            post_url=post_url,
            signed_url=config.public_url + "/twilio/sms",
            auth_token=config.twilio.auth_token,
            params=params,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        fail(f"cannot reach the daemon at {post_url}: {exc}")
    if response.status_code != 200:
        fail(f"daemon answered {response.status_code}: {response.text}")
    try:
        answers = [m.text or "" for m in ElementTree.fromstring(response.text).iter("Message")]
    except ElementTree.ParseError as exc:
        fail(f"{post_url} did not answer with TwiML (is it the oncall daemon?): {exc}")
    click.echo("\n".join(answers) if answers else "(no answer)")


if __name__ == "__main__":
    main()
