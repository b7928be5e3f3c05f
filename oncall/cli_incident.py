"""`oncall ack`, `oncall resolve`, `oncall assign` and `oncall vendor`: incidents from the shell.

They open the database directly with an engine that sends nothing; the
notices and reminders they queue are durable timers the running daemon picks up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from oncall.cli_support import (
    catalog_or_fail,
    change_as,
    change_incident,
    config_option,
    fail,
    known_tech,
    local_text,
    shell_engine,
)
from oncall.store import parse_ts
from oncall.vendors import find_vendor, is_release, reach, unknown_vendor_text

Change = tuple[str, str, list[tuple[int, datetime]]]


@contextmanager
def _engine(config_path: Path) -> Iterator[Any]:
    with shell_engine(catalog_or_fail(config_path)) as engine:
        yield engine


def _change(
    engine: Any, incident_id: int, act: Callable[[dict[str, Any], datetime], Change]
) -> str:
    """Run one change on the incident; exit 1 if it changed nothing."""
    handled, answer = change_incident(engine, incident_id, act)
    if handled in ("already", "vendor_unknown"):
        fail(answer)
    return answer


@click.command(name="assign")
@config_option
@click.argument("incident_id", type=int)
@click.argument("tech")
@click.option("--as", "actor", default="cli", show_default=True, help="Who is assigning it.")
def assign_command(config_path: Path, incident_id: int, tech: str, actor: str) -> None:
    """Make TECH the owner of an incident (paging stops if it was still paging)."""
    with _engine(config_path) as engine:
        known_tech(engine.catalog, tech)
        answer = _change(
            engine,
            incident_id,
            lambda incident, now: engine.owners.assign(incident, tech, actor, now),
        )
    click.echo(answer)


@click.command(name="vendor")
@config_option
@click.argument("incident_id", type=int)
@click.argument("vendor_id", required=False)
@click.option("--ticket", default=None, help="The vendor's ticket or case number.")
@click.option("--note", default="", help="What happened (on hold, tech dispatched, ...).")
@click.option("--done", is_flag=True, help="The vendor is no longer needed: stop the reminders.")
@click.option("--as", "actor", default=None, help="The tech who contacted the vendor.")
def vendor_command(
    config_path: Path,
    incident_id: int,
    vendor_id: str | None,
    ticket: str | None,
    note: str,
    done: bool,
    actor: str | None,
) -> None:
    """Record a vendor contact on an incident (reminders to chase follow), or list them."""
    with _engine(config_path) as engine:
        incident = engine.store.incident(incident_id)
        if incident is None:
            fail(f"no incident #{incident_id}")
        known = engine.vendor_chase.vendors_of(incident)
        if vendor_id is None:
            click.echo(_listing(engine, incident, known))
            return
        if actor is None:
            fail("say who contacted the vendor: --as TECH", 2)
        known_tech(engine.catalog, actor)
        vendor = find_vendor(known, vendor_id)
        if vendor is None:
            fail(unknown_vendor_text(incident_id, vendor_id, known))
        text = "done" if done else note.strip()
        if not done and is_release(text):
            fail("to release the vendor use --done", 2)
        answer = _change(
            engine,
            incident_id,
            lambda row, now: engine.vendor_chase.record(row, vendor, ticket, text, actor, now),
        )
    click.echo(answer)


def _listing(engine: Any, incident: dict[str, Any], known: tuple[Any, ...]) -> str:
    zone = engine.catalog.config.timezone
    lines = [f"#{incident['id']} {incident['client']}: vendors"]
    for vendor in known:
        lines.append(f"  {vendor.id:<12} {vendor.name}  {reach(vendor)}")
    contacts = engine.vendor_chase.contacts(incident["id"])
    if not known:
        lines.append("  (the SOP lists no vendors)")
    lines.append("contacts:" if contacts else "contacts: none")
    for row in contacts:
        what = "released" if is_release(row["note"]) else (row["note"] or "contacted")
        ticket = f" ticket {row['ticket']}" if row["ticket"] else ""
        at = local_text(parse_ts(row["at"]), zone)
        lines.append(f"  {at}  {row['vendor']:<12} {row['actor']:<8}{ticket}  {what}")
    return "\n".join(lines)


def _change_incident(
    config_path: Path, incident_id: int, actor: str, action: str, note: str = ""
) -> None:
    """Acknowledge or resolve from the shell; the running daemon sees it on its next timer."""
    handled, answer = change_as(
        config_path,
        actor,
        incident_id,
        lambda engine, incident, now: (
            engine.acknowledge(incident, actor, now)
            if action == "ack"
            else engine.resolve(incident, actor, now, note)
        ),
    )
    if handled == "already":
        fail(answer)
    click.echo(answer)


@click.command()
@config_option
@click.argument("incident_id", type=int)
@click.option("--as", "actor", required=True, help="The tech id taking it (recorded as owner).")
def ack(config_path: Path, incident_id: int, actor: str) -> None:
    """Acknowledge an incident from the shell: paging stops."""
    _change_incident(config_path, incident_id, actor, "ack")


@click.command()
@config_option
@click.argument("incident_id", type=int)
@click.option("--as", "actor", required=True, help="The tech id resolving it.")
@click.option("--note", default="", help="What was done.")
def resolve(config_path: Path, incident_id: int, actor: str, note: str) -> None:
    """Resolve an incident from the shell: paging stops."""
    _change_incident(config_path, incident_id, actor, "res", note)
