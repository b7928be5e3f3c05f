"""`oncall maintenance` and `oncall heartbeats`: quiet a client for a while, and see which
scheduled jobs have checked in.

Both read and write the daemon's SQLite file; the running daemon reads maintenance rows on
every alert, so a window takes effect at once and ends by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from oncall.catalog import Catalog
from oncall.classify import Decision
from oncall.cli_support import (
    catalog_or_fail,
    config_option,
    fail,
    format_option,
    instant_text,
    parse_instant,
)
from oncall.config import parse_duration
from oncall.errors import ConfigError
from oncall.heartbeat_watch import heartbeat_report
from oncall.maintenance import weekly_end
from oncall.maintenance_windows import (
    end_window,
    maintenance_decision,
    open_ad_hoc,
    start_window,
    window_at,
)
from oncall.output import render
from oncall.sops import Sop
from oncall.store import Store, parse_ts


@click.command(name="maintenance")
@config_option
@click.argument("client", required=False)
@click.option("--for", "length_text", help="How long, e.g. 2h or 90m: starts a window.")
@click.option("--from", "from_text", help="When it starts, ISO 8601 (default: now).")
@click.option("--reason", default="maintenance", show_default=True, help="Logged with alerts.")
@click.option("--list", "list_", is_flag=True, help="List open and weekly windows.")
@click.option("--end", "end_id", type=int, help="End the ad-hoc window with this id now.")
@click.option("--as", "actor", default="cli", show_default=True, help="Who is recorded.")
@format_option
def maintenance_command(
    config_path: Path,
    client: str | None,
    length_text: str | None,
    from_text: str | None,
    reason: str,
    list_: bool,
    end_id: int | None,
    actor: str,
    fmt: str,
) -> None:
    """Maintenance windows: alerts for CLIENT are recorded but page nobody.

    \b
    oncall maintenance acme --for 2h --reason "server move"
    oncall maintenance acme --from "2026-12-05 22:00" --for 3h
    oncall maintenance --list
    oncall maintenance --end 3
    """
    if from_text and not length_text:
        fail("--from needs --for (how long the window lasts)", 2)
    if sum((bool(length_text), list_, end_id is not None)) != 1:
        fail("give exactly one of: CLIENT --for DURATION, --list, --end ID", 2)
    catalog = catalog_or_fail(config_path)
    now = datetime.now(UTC)
    zone = catalog.config.timezone
    if length_text:
        if client is None:
            fail("which client? oncall maintenance CLIENT --for 2h", 2)
        if client not in catalog.sops:
            fail(f"unknown client {client!r} (have: {', '.join(sorted(catalog.sops))})")
        try:
            length = parse_duration(length_text, None, "--for")
        except ConfigError as exc:
            fail(str(exc), 2)
        if length.total_seconds() <= 0:
            fail("--for must be longer than zero", 2)
        start = parse_instant(from_text, zone) if from_text else now
        with Store(catalog.config.database) as store:
            window_id = start_window(store, client, start, length, reason, actor, now)
        click.echo(
            f"Maintenance #{window_id} for {catalog.sops[client].name} from "
            f"{instant_text(start, 'table', zone)} until "
            f"{instant_text(start + length, 'table', zone)}: alerts are recorded, nobody is paged."
        )
        return
    if not catalog.config.database.exists():
        if end_id is not None:
            fail(f"no maintenance window #{end_id}")
        ad_hoc: list[dict[str, Any]] = []
    else:
        with Store(catalog.config.database) as store:
            if end_id is not None:
                if end_window(store, end_id, now, actor) is None:
                    fail(f"no open maintenance window #{end_id}")
                click.echo(f"Ended maintenance #{end_id}.")
                return
            ad_hoc = open_ad_hoc(store, now)
    rows = [
        {
            "id": row["id"],
            "client": row["client"],
            "window": "ad hoc",
            "from": instant_text(parse_ts(row["starts_at"]), fmt, zone),
            "until": instant_text(parse_ts(row["ends_at"]), fmt, zone),
            "reason": row["reason"],
        }
        for row in ad_hoc
        if client is None or row["client"] == client
    ]
    for sop_id in sorted(catalog.sops):
        sop = catalog.sops[sop_id]
        if client is not None and sop_id != client:
            continue
        for weekly in sop.maintenance:
            end = weekly_end(weekly, now, sop.timezone)
            rows.append(
                {
                    "id": "",
                    "client": sop_id,
                    "window": f"weekly {weekly.describe()} {sop.timezone.key}",
                    "from": "open now" if end else "",
                    "until": instant_text(end, fmt, zone) if end else "",
                    "reason": weekly.reason,
                }
            )
    click.echo(render(rows, fmt, ["id", "client", "window", "from", "until", "reason"]))


@click.command(name="heartbeats")
@config_option
@click.option("--client", help="Only this client.")
@click.option("--at", "at_text", help="Judge lateness as of this ISO 8601 instant (default: now).")
@format_option
def heartbeats_command(
    config_path: Path, client: str | None, at_text: str | None, fmt: str
) -> None:
    """Each heartbeat check's last check-in, next deadline and state (ok, late, never)."""
    catalog = catalog_or_fail(config_path)
    sops = catalog.sops
    if client is not None:
        if client not in sops:
            fail(f"unknown client {client!r} (have: {', '.join(sorted(sops))})")
        sops = {client: sops[client]}
    zone = catalog.config.timezone
    now = parse_instant(at_text, zone)
    database = catalog.config.database
    if database.exists():
        with Store(database) as store:
            report = heartbeat_report(store, sops, now)
    else:
        report = heartbeat_report(None, sops, now)
    rows = [
        entry
        | {
            key: instant_text(entry[key], fmt, zone)
            if entry[key]
            else ("" if fmt == "table" else None)
            for key in ("last_checkin", "next_deadline")
        }
        for entry in report
    ]
    columns = ["client", "check", "state", "last_checkin", "next_deadline", "schedule"]
    click.echo(render(rows, fmt, columns))


def maintenance_at(catalog: Catalog, sop: Sop, at: datetime) -> Decision | None:
    """For `oncall explain`: the maintenance decision if `at` is inside a window (the SOP's, or
    an ad-hoc one in the database if there is one), else None."""
    database = catalog.config.database
    if database.exists():
        with Store(database) as store:
            window = window_at(store, sop, at)
    else:
        window = window_at(None, sop, at)
    return maintenance_decision(window, sop, at) if window is not None else None
