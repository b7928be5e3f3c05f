"""What every `oncall` command shares: the --config and --format options, failing with an exit
code, loading the catalog, reading instants and writing them.

Exit codes: 0 success, 1 the thing asked about failed or was not found, 2 bad usage or a
configuration error (the message names the file and key).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

import click
import pendulum

from oncall.catalog import Catalog, load_catalog
from oncall.errors import ConfigError
from oncall.output import FORMATS

DEFAULT_CONFIG = os.environ.get("ONCALL_CONFIG", "config.example.toml")

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="ONCALL_CONFIG",
    help="Path to config.toml.",
)
format_option = click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def catalog_or_fail(config_path: Path, now: datetime | None = None) -> Catalog:
    """The catalog (rotations indexed around now), or exit 2 naming the problem."""
    try:
        return load_catalog(config_path, now=now)
    except ConfigError as exc:
        fail(str(exc), 2)


def parse_instant(value: str | None, zone: ZoneInfo) -> datetime:
    """An ISO 8601 instant in UTC (default: now); a value without offset is read in zone."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = pendulum.parse(value, tz=zone.key)
    except Exception as exc:  # pendulum raises several parser errors
        fail(f"cannot read time {value!r}: {exc}", 2)
    if not isinstance(parsed, datetime):
        fail(f"{value!r} is not a date and time", 2)
    return datetime.fromtimestamp(parsed.timestamp(), UTC)


def utc_text(instant: datetime) -> str:
    """An instant for machines: ISO 8601 in UTC with 'Z' ('2026-11-30T14:00:00Z')."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def local_text(instant: datetime, zone: ZoneInfo) -> str:
    """An instant for people, in the MSP's zone: '2026-11-30 08:00 CST'."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def instant_text(instant: datetime, fmt: str, zone: ZoneInfo) -> str:
    """local_text for tables, utc_text for json and csv."""
    return local_text(instant, zone) if fmt == "table" else utc_text(instant)
