"""The `oncall` command line: parse options, call the library, format the answer.

Exit codes: 0 success, 1 the thing asked about failed or was not found, 2 bad usage or a
configuration error (the message names the file and key).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import click

from oncall.catalog import Catalog, check_all
from oncall.classify import classify
from oncall.cli_incident import assign_command, vendor_command
from oncall.cli_maintenance import heartbeats_command, maintenance_at, maintenance_command
from oncall.cli_ops import doctor, prune_command
from oncall.cli_page import page_command, test_pages_command
from oncall.cli_queue import queue_command
from oncall.cli_report import report_command, sop_explain
from oncall.cli_rotations import (
    coverage_check,
    feed_url_command,
    gaps_command,
    shifts_command,
    who,
)
from oncall.cli_support import (
    catalog_or_fail,
    change_incident,
    config_option,
    fail,
    format_option,
    known_tech,
    open_store,
    parse_instant,
    shell_engine,
)
from oncall.cli_updates import update_command
from oncall.clock import SystemClock
from oncall.errors import ConfigError
from oncall.escalation import START, Exhausted, plan_from
from oncall.intake import AlertError, parse_generic
from oncall.output import render
from oncall.store import parse_ts
from oncall.timeline import render_incident


def _catalog(config_path: Path) -> Catalog:
    return catalog_or_fail(config_path)


def _instant(value: str | None, catalog: Catalog) -> datetime:
    """An ISO 8601 instant; a value without offset is read in daemon.timezone."""
    return parse_instant(value, catalog.config.timezone)


@click.group()
@click.version_option(package_name="oncall")
def main() -> None:
    """oncall: after-hours paging for MSPs (rotations, SOPs, Twilio SMS, SQLite log)."""


@main.command()
@config_option
@click.option("--log-level", default="info", show_default=True)
def run(config_path: Path, log_level: str) -> None:
    """Run the daemon: HTTP webhooks, escalation timers, Twilio (or the sandbox peer)."""
    from oncall.daemon import Daemon, run_until_signalled
    from oncall.logs import configure_logging

    configure_logging(log_level)
    catalog = _catalog(config_path)
    echo = None
    if catalog.config.twilio.mode == "sandbox":
        echo = lambda line: click.echo(line, err=True)  # noqa: E731
    daemon = Daemon(catalog, clock=SystemClock(), echo=echo)
    try:
        asyncio.run(run_until_signalled(daemon))
    except OSError as exc:
        fail(str(exc))


@main.command()
@config_option
@click.option("--at", "at_text", help="Check coverage as of this ISO 8601 instant (default: now).")
def check(config_path: Path, at_text: str | None) -> None:
    """Validate config, rotations and SOPs; print every problem with file and key.

    Also checks coverage: a gap in the next 7 days in a rotation that is the first step of an
    escalation chain fails the check (exit 2); other gaps, overlapping shifts and empty
    shifts in the next 14 days are warnings (exit 0).
    """
    problems = check_all(config_path)
    if problems:
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    catalog = _catalog(config_path)
    findings = coverage_check(catalog, _instant(at_text, catalog))
    for finding in findings:
        click.echo(f"{finding.level}: {finding}", err=True)
    if any(finding.level == "error" for finding in findings):
        sys.exit(2)
    click.echo(
        f"OK: {len(catalog.techs)} techs, {len(catalog.rotations)} rotations "
        f"({', '.join(sorted(catalog.rotations))}), {len(catalog.sops)} clients "
        f"({', '.join(sorted(catalog.sops))})"
    )


@main.command()
@config_option
@click.option("--client", required=True, help="Client id (the SOP file name).")
@click.option(
    "--alert", "alert_file", required=True, type=click.File("rb"), help="Alert JSON file."
)
@click.option("--at", "at_text", help="ISO 8601 instant (default: now).")
@format_option
def explain(config_path: Path, client: str, alert_file: Any, at_text: str | None, fmt: str) -> None:
    """Show what the daemon would decide for an alert, and why (records nothing; reads maintenance windows)."""
    catalog = _catalog(config_path)
    sop = catalog.sops.get(client)
    if sop is None:
        fail(f"unknown client {client!r} (have: {', '.join(sorted(catalog.sops))})")
    try:
        alert = parse_generic(client, alert_file.read())
    except AlertError as exc:
        fail(f"bad alert: {exc}", 2)
    at = _instant(at_text, catalog)
    maintenance = maintenance_at(catalog, sop, at) if alert.status != "resolved" else None
    decision = maintenance or classify(sop, alert, at)
    result: dict[str, Any] = decision.to_dict() | {"client": client, "at": at.isoformat()}
    if decision.action == "page":
        plan = plan_from(sop.escalation, START, at, lambda step: catalog.step_tech_ids(step, at))
        if isinstance(plan, Exhausted):
            result["would_page"] = (
                f"nobody on call; final contacts {', '.join(plan.final_contacts)}"
            )
        else:
            result["would_page"] = ", ".join(catalog.techs[t].name for t in plan.tech_ids)
    if fmt == "table":
        for key, value in result.items():
            click.echo(f"{key:>20}: {'-' if value is None else value}")
    else:
        click.echo(render([result], fmt))


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
    catalog = _catalog(config_path)
    since = _instant(since_text, catalog) if since_text else None
    with open_store(catalog) as store:
        events = store.events(client=client, since=since, incident_id=incident, limit=limit)
    zone = catalog.config.timezone
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
    catalog = _catalog(config_path)
    with open_store(catalog) as store:
        if store.incident(incident_id) is None:
            fail(f"no incident #{incident_id}")
        click.echo(render_incident(store, incident_id, catalog.config.timezone))


def _change_incident(
    config_path: Path, incident_id: int, actor: str, action: str, note: str = ""
) -> None:
    """Acknowledge or resolve from the shell; the running daemon sees it on its next timer."""
    catalog = _catalog(config_path)
    known_tech(catalog, actor)
    with shell_engine(catalog) as engine:
        handled, answer = change_incident(
            engine,
            incident_id,
            lambda incident, now: (
                engine.acknowledge(incident, actor, now)
                if action == "ack"
                else engine.resolve(incident, actor, now, note)
            ),
        )
    if handled == "already":
        fail(answer)
    click.echo(answer)


@main.command()
@config_option
@click.argument("incident_id", type=int)
@click.option("--as", "actor", required=True, help="The tech id taking it (recorded as owner).")
def ack(config_path: Path, incident_id: int, actor: str) -> None:
    """Acknowledge an incident from the shell: paging stops."""
    _change_incident(config_path, incident_id, actor, "ack")


@main.command()
@config_option
@click.argument("incident_id", type=int)
@click.option("--as", "actor", required=True, help="The tech id resolving it.")
@click.option("--note", default="", help="What was done.")
def resolve(config_path: Path, incident_id: int, actor: str, note: str) -> None:
    """Resolve an incident from the shell: paging stops."""
    _change_incident(config_path, incident_id, actor, "res", note)


@main.command()
@config_option
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup(config_path: Path, target: Path) -> None:
    """Write a consistent copy of the database to TARGET (safe while the daemon runs)."""
    from oncall.backup import backup_database

    catalog = _catalog(config_path)
    try:
        pages = backup_database(catalog.config.database, target)
    except (FileNotFoundError, FileExistsError, RuntimeError) as exc:
        fail(str(exc))
    click.echo(f"backed up {catalog.config.database} to {target} ({pages} pages)")


@main.group()
def sop() -> None:
    """Client SOPs."""


@sop.command(name="show")
@config_option
@click.argument("client")
def sop_show(config_path: Path, client: str) -> None:
    """Print a client's runbook."""
    catalog = _catalog(config_path)
    found = catalog.sops.get(client)
    if found is None:
        fail(f"unknown client {client!r} (have: {', '.join(sorted(catalog.sops))})")
    click.echo(f"# {found.name} ({found.id}) — {found.path}\n")
    click.echo(found.runbook.strip())


@main.command()
@config_option
@click.option("--ack-timeout", default=3.0, show_default=True, help="Seconds each step waits.")
def demo(config_path: Path, ack_timeout: float) -> None:
    """Run the scripted after-hours scenario locally (sandbox) and check every step."""
    from oncall.demo import run_demo
    from oncall.logs import configure_logging

    configure_logging("warning")
    catalog = _catalog(config_path)
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

    catalog = _catalog(config_path)
    config = catalog.config
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


main.add_command(who)
main.add_command(shifts_command)
main.add_command(gaps_command)
main.add_command(maintenance_command)
main.add_command(heartbeats_command)
main.add_command(feed_url_command)
main.add_command(doctor)
main.add_command(prune_command)
main.add_command(assign_command)
main.add_command(vendor_command)
main.add_command(queue_command)
main.add_command(page_command)
main.add_command(test_pages_command)
main.add_command(report_command)
sop.add_command(sop_explain)
main.add_command(update_command)


if __name__ == "__main__":
    main()
