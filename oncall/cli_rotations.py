"""The rotation commands: `oncall who`, `oncall shifts`, `oncall gaps`, `oncall feed-url`, and
what `oncall check` says about coverage. Each parses options, asks oncall.rotations / oncall.coverage, formats.

Machine formats (json, csv) give instants in UTC with 'Z'; tables give them in the MSP's
zone (daemon.timezone).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from oncall.catalog import Catalog, orphan_overrides
from oncall.cli_support import (
    catalog_or_fail,
    config_option,
    fail,
    format_option,
    instant_text,
    parse_instant,
    utc_text,
)
from oncall.config import Tech, load_config
from oncall.coverage import Finding, coverage_findings, covered_again, gaps
from oncall.errors import ConfigError
from oncall.output import FORMATS, render
from oncall.rotations import Rotation, Shift, load_rotation, shifts, shifts_at
from oncall.shift_feed import shift_feed
from oncall.tech_feed import feed_url

LIST_DAYS = 14  # `oncall shifts` without --to
FEED_DAYS = 90  # `oncall shifts --tech` without --to
SHIFT_COLUMNS = ["start", "end", "summary", "tech", "rotation"]


def _unknown_rotation(name: str, catalog: Catalog) -> str:
    return f"unknown rotation {name!r} (have: {', '.join(sorted(catalog.rotations))})"


@click.command()
@config_option
@click.argument("rotation", required=False)
@click.option("--at", "at_text", help="ISO 8601 instant (default: now).")
@format_option
def who(config_path: Path, rotation: str | None, at_text: str | None, fmt: str) -> None:
    """Who is on call now (or --at) and until when, for one rotation or all.

    Exit code 1 when a rotation has nobody on call; its `until` says when someone is again.
    """
    catalog = catalog_or_fail(config_path)
    zone = catalog.config.timezone
    at = parse_instant(at_text, zone)
    if rotation and rotation not in catalog.rotations:
        fail(_unknown_rotation(rotation, catalog))

    def when(instant: datetime | None) -> str | None:
        return None if instant is None else instant_text(instant, fmt, zone)

    rows: list[dict[str, Any]] = []
    for name in [rotation] if rotation else sorted(catalog.rotations):
        calendar = catalog.rotations[name]
        until: dict[str, datetime] = {}  # tech id → end of their latest shift covering at
        for shift in shifts_at(calendar, catalog.techs, at):
            for tech_id in shift.tech_ids:
                until[tech_id] = max(until.get(tech_id, shift.end), shift.end)
        if not until:
            rows.append(
                {
                    "rotation": name,
                    "tech": "",
                    "name": "(nobody: uncovered)",
                    "phone": "",
                    "until": when(covered_again(calendar, catalog.techs, at)),
                }
            )
        for tech_id, end in until.items():
            tech = catalog.techs[tech_id]
            rows.append(
                {
                    "rotation": name,
                    "tech": tech.id,
                    "name": tech.name,
                    "phone": tech.phone,
                    "until": when(end),
                }
            )
    click.echo(render(rows, fmt, ["rotation", "tech", "name", "phone", "until"]))
    if any(not row["tech"] for row in rows):
        sys.exit(1)


def _file_rotation(path: Path, config_path: Path) -> tuple[Rotation, dict[str, Tech], ZoneInfo]:
    """A calendar file to inspect: techs and zone from the config if there is one."""
    try:
        rotation = load_rotation(path)
    except ConfigError as exc:
        fail(str(exc), 2)
    if not config_path.exists():
        return rotation, {}, rotation.zone
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), 2)
    return rotation, dict(config.techs), config.timezone


@click.command(name="shifts")
@config_option
@click.argument("rotation", required=False)
@click.option("--from", "from_text", help="ISO 8601 instant (default: now).")
@click.option("--to", "to_text", help=f"ISO 8601 instant (default: {LIST_DAYS} days on).")
@click.option("--tech", "tech_id", help=f"Only this tech's shifts (default --to: {FEED_DAYS} d).")
@click.option(
    "--format", "fmt", type=click.Choice([*FORMATS, "ics"]), default="table", show_default=True
)
def shifts_command(
    config_path: Path,
    rotation: str | None,
    from_text: str | None,
    to_text: str | None,
    tech_id: str | None,
    fmt: str,
) -> None:
    """The shifts of ROTATION (a name, or any FILE.ics) overlapping --from .. --to.

    With --tech, that tech's shifts across every rotation; `--format ics` writes them as a
    calendar to subscribe to. JSON: a list of {start, end, summary, tech, rotation}, one per
    tech named by a shift (tech null for an empty shift).
    """
    if rotation is None and tech_id is None:
        fail("name a ROTATION (or a FILE.ics) or a --tech", 2)
    if rotation is not None and (rotation.endswith(".ics") or Path(rotation).is_file()):
        calendar, techs, zone = _file_rotation(Path(rotation), config_path)
        rotations = {calendar.name: calendar}
    else:
        catalog = catalog_or_fail(config_path)
        techs, zone, rotations = dict(catalog.techs), catalog.config.timezone, catalog.rotations
        if rotation is not None:
            if rotation not in rotations:
                fail(_unknown_rotation(rotation, catalog))
            rotations = {rotation: rotations[rotation]}
    if tech_id is not None and tech_id not in techs:
        fail(f"unknown tech {tech_id!r} (have: {', '.join(sorted(techs)) or 'none'})", 2)
    start = parse_instant(from_text, zone)
    days = FEED_DAYS if tech_id else LIST_DAYS
    end = parse_instant(to_text, zone) if to_text else start + timedelta(days=days)
    if end <= start:
        fail(f"--to ({utc_text(end)}) must be after --from ({utc_text(start)})", 2)
    found = [
        shift
        for name in sorted(rotations)
        for shift in shifts(rotations[name], techs, start, end)
        if tech_id is None or tech_id in shift.tech_ids
    ]
    found.sort(key=lambda s: (s.start, s.end, s.rotation))
    if fmt == "ics":
        title = f"On call: {techs[tech_id].name}" if tech_id else f"On call: {rotation}"
        click.echo(shift_feed(found, title, now=parse_instant(None, zone)).decode(), nl=False)
        return
    rows = _shift_rows(found, tech_id, fmt, zone)
    columns = SHIFT_COLUMNS if fmt != "table" else [*SHIFT_COLUMNS, "calendar"]
    click.echo(render(rows, fmt, columns))


@click.command(name="feed-url")
@config_option
@click.argument("tech_id", metavar="TECH")
def feed_url_command(config_path: Path, tech_id: str) -> None:
    """The secret address of TECH's shift feed, to subscribe to on a phone.

    The daemon serves it at daemon.public_url + /feeds/<token>.ics; the token is derived from
    [rotations] feed_secret, so changing that secret revokes every feed.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), 2)
    if tech_id not in config.techs:
        fail(f"unknown tech {tech_id!r} (have: {', '.join(sorted(config.techs))})", 2)
    secret = config.rotation_settings.feed_secret
    if secret is None:
        fail('shift feeds are off: set [rotations] feed_secret (e.g. "env:ONCALL_FEED_SECRET")')
    click.echo(feed_url(config.public_url, secret, tech_id))


def _shift_rows(
    found: list[Shift], tech_id: str | None, fmt: str, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """One row per (shift, tech) — or one with tech None for an empty shift."""
    rows = []
    for shift in found:
        named = [tech_id] if tech_id else list(shift.tech_ids) or [None]
        for tech in named:
            rows.append(
                {
                    "start": instant_text(shift.start, fmt, zone),
                    "end": instant_text(shift.end, fmt, zone),
                    "summary": shift.summary,
                    "tech": tech if tech or fmt != "table" else "(nobody)",
                    "rotation": shift.rotation,
                    "calendar": "overrides" if shift.override else "base",
                }
            )
    return rows


@click.command(name="gaps")
@config_option
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
@click.option("--from", "from_text", help="ISO 8601 instant (default: now).")
@format_option
def gaps_command(config_path: Path, days: int, from_text: str | None, fmt: str) -> None:
    """Times in the next --days when a rotation an escalation chain uses has nobody on call.

    Exit code 1 when there is any gap.
    """
    catalog = catalog_or_fail(config_path)
    zone = catalog.config.timezone
    start = parse_instant(from_text, zone)
    end = start + timedelta(days=days)
    rows = []
    for name, uses in sorted(catalog.rotation_uses().items()):
        calendar = catalog.rotations[name]
        for gap in gaps(name, shifts(calendar, catalog.techs, start, end), start, end):
            rows.append(
                {
                    "rotation": name,
                    "start": instant_text(gap.start, fmt, zone),
                    "end": instant_text(gap.end, fmt, zone),
                    "used_by": ", ".join(f"{client} step {step}" for client, step in uses),
                }
            )
    if rows or fmt != "table":
        click.echo(render(rows, fmt, ["rotation", "start", "end", "used_by"]))
    else:
        click.echo(f"No gaps: every rotation an escalation chain uses is covered for {days} days.")
    if rows:
        sys.exit(1)


def coverage_check(catalog: Catalog, now: datetime) -> list[Finding]:
    """What `oncall check` reports beyond broken files: coverage, cached remote copies,
    overrides files no rotation uses."""
    findings = [Finding("warning", warning) for warning in catalog.warnings]
    for path in orphan_overrides(catalog):
        name = path.name.removesuffix(".overrides.ics")
        findings.append(Finding("warning", f"{path}: no rotation {name!r} to override; ignored"))
    findings += coverage_findings(
        catalog.rotations, catalog.techs, catalog.rotation_uses(), now, catalog.config.timezone
    )
    return findings
