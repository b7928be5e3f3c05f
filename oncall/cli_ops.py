"""`oncall doctor` and `oncall prune`: the operator's commands for a pager already set up."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import httpx

from oncall.cli_support import catalog_or_fail, config_option, fail, parse_instant
from oncall.clock import SystemClock


@click.command()
@config_option
@click.option("--at", "at_text", help="Check coverage and chains as of this ISO 8601 instant.")
def doctor(config_path: Path, at_text: str | None) -> None:
    """Check what owners get wrong: Twilio credentials and number (live mode), public_url,
    the database, the clock, rotation coverage and escalation chains; print the webhook URLs.

    Each line is ok:, warn: or fail:; exits 1 if any check fails.
    """
    from oncall.doctor import failed, run_checks

    now = SystemClock().now()
    catalog = catalog_or_fail(config_path, now)
    at = parse_instant(at_text, catalog.config.timezone) if at_text else now
    if at != now:
        catalog = catalog_or_fail(config_path, at)
    with httpx.Client(timeout=10) as http:
        lines = run_checks(catalog, now, http, at)
    for line in lines:
        click.echo(str(line))
    if failed(lines):
        sys.exit(1)


@click.command(name="prune")
@config_option
@click.option(
    "--older-than",
    "older_than_text",
    required=True,
    help="Clear what was received longer ago than this, e.g. 400d.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be cleared.")
def prune_command(config_path: Path, older_than_text: str, dry_run: bool) -> None:
    """Clear raw alert payloads and voicemail recording links older than --older-than.

    Incidents, pages and the event log are never touched (reports need them), nor are
    voicemails the desk has not handled yet.
    """
    from oncall.durations import parse_duration
    from oncall.errors import ConfigError
    from oncall.prune import prune
    from oncall.store import Store

    try:
        older_than = parse_duration(older_than_text, None, "--older-than")
    except ConfigError as exc:
        fail(str(exc), 2)
    catalog = catalog_or_fail(config_path)
    if not catalog.config.database.exists():
        fail(f"no database at {catalog.config.database} (has the daemon run yet?)")
    with Store(catalog.config.database) as store:
        pruned = prune(store, SystemClock().now(), older_than, dry_run=dry_run)
    for line in pruned.lines():
        click.echo(line)
