"""`oncall queue`: what came in after hours and waits for the service desk, and marking it done.

    oncall queue [--client X] [--all] [--format table|json|csv]
    oncall queue done ID [ID...] [--as TECH] [--note TEXT]

Reads and writes the daemon's SQLite file (the daemon need not run). An item stays open, and
in every morning digest of its client, until it is marked done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from oncall.catalog import Catalog
from oncall.cli_support import catalog_or_fail, config_option, fail, format_option, instant_text
from oncall.output import render
from oncall.queue import QueueError, all_items, mark_done, open_items
from oncall.store import Store, parse_ts

COLUMNS = ["id", "client", "kind", "received", "due", "summary"]
DONE_COLUMNS = ["done", "done_by", "done_note"]


def _store(catalog: Catalog) -> Store:
    if not catalog.config.database.exists():
        fail(f"no database at {catalog.config.database} (has the daemon run yet?)")
    return Store(catalog.config.database)


def _row(item: dict[str, Any], fmt: str, catalog: Catalog) -> dict[str, Any]:
    zone = catalog.config.timezone
    row = {
        "id": item["id"],
        "client": item["client"],
        "kind": item["kind"],
        "received": instant_text(parse_ts(item["received_at"]), fmt, zone),
        "due": instant_text(parse_ts(item["due_at"]), fmt, zone),
        "summary": item["summary"],
        "done": instant_text(parse_ts(item["done_at"]), fmt, zone) if item["done_at"] else "",
        "done_by": item["done_by"] or "",
        "done_note": item["done_note"] or "",
    }
    return row


@click.group(name="queue", invoke_without_command=True)
@config_option
@click.option("--client", help="Only this client's items.")
@click.option("--all", "all_", is_flag=True, help="Include items already done.")
@format_option
@click.pass_context
def queue_command(
    ctx: click.Context, config_path: Path, client: str | None, all_: bool, fmt: str
) -> None:
    """List the next-business-day queue: open items, oldest first.

    Non-emergency alerts, missed heartbeats and voicemails that arrived after hours wait
    here (and in each morning digest) until `oncall queue done ID`."""
    if ctx.invoked_subcommand is not None:
        return
    catalog = catalog_or_fail(config_path)
    if client is not None and client not in catalog.sops:
        fail(f"unknown client {client!r} (clients: {', '.join(sorted(catalog.sops))})", 2)
    with _store(catalog) as store:
        items = all_items(store, client) if all_ else open_items(store, client)
    columns = COLUMNS + (DONE_COLUMNS if all_ else [])
    click.echo(render([_row(i, fmt, catalog) for i in items], fmt, columns))


@queue_command.command(name="done")
@config_option
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--as", "actor", default="cli", show_default=True, help="Who handled it.")
@click.option("--note", default="", help="What was done (kept with the item).")
def done_command(config_path: Path, ids: tuple[int, ...], actor: str, note: str) -> None:
    """Mark queue items done (a voicemail's recording may then be pruned)."""
    catalog = catalog_or_fail(config_path)
    if actor != "cli" and actor not in catalog.techs:
        fail(f"unknown tech {actor!r} (techs: {', '.join(sorted(catalog.techs))})", 2)
    with _store(catalog) as store:
        try:
            finished = mark_done(store, list(dict.fromkeys(ids)), actor, note, datetime.now(UTC))
        except QueueError as exc:
            fail(f"{exc}; nothing was marked done")
    for item in finished:
        click.echo(f"done #{item.id} ({item.client}, {item.kind}): {item.summary}")
