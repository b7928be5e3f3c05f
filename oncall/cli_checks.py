"""`oncall check`, `oncall explain` and `oncall sop`: what the configuration says, before
anything pages. These load the whole catalog (calendars, SOPs)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from oncall.catalog import Catalog, check_all
from oncall.classify import classify
from oncall.cli_lazy import LazyGroup
from oncall.cli_maintenance import maintenance_at
from oncall.cli_rotations import coverage_check
from oncall.cli_support import catalog_or_fail, config_option, fail, format_option, parse_instant
from oncall.escalation import START, Exhausted, plan_from
from oncall.intake import AlertError, parse_generic
from oncall.output import render


def _catalog(config_path: Path) -> Catalog:
    return catalog_or_fail(config_path)


def _instant(value: str | None, catalog: Catalog) -> datetime:
    """An ISO 8601 instant; a value without offset is read in daemon.timezone."""
    return parse_instant(value, catalog.config.timezone)


@click.command()
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


@click.command()
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


@click.group(cls=LazyGroup, lazy={"explain": "oncall.cli_report:sop_explain"})
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
