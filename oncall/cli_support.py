"""What every `oncall` command shares: the --config and --format options, failing with an exit
code, loading the config or the whole catalog, reading instants and writing them.

Kept light to import (the catalog and the engine load only when a command asks for them), so
that read-only commands such as `oncall log` start quickly.

Exit codes: 0 success, 1 the thing asked about failed or was not found, 2 bad usage or a
configuration error (the message names the file and key).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

import click
import pendulum

from oncall.config import Config, load_config
from oncall.errors import ConfigError
from oncall.output import FORMATS
from oncall.store import Store

if TYPE_CHECKING:
    from oncall.catalog import Catalog
    from oncall.engine import Engine

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
    from oncall.catalog import load_catalog

    try:
        return load_catalog(config_path, now=now)
    except ConfigError as exc:
        fail(str(exc), 2)


def config_or_fail(config_path: Path) -> Config:
    """config.toml alone (no calendars, no SOPs), or exit 2 naming the problem: enough for
    commands that only read the database."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), 2)


def known_tech(catalog: Catalog, tech_id: str) -> None:
    """Exit 2 naming the techs there are, unless `tech_id` is one of them."""
    if tech_id not in catalog.techs:
        fail(f"unknown tech {tech_id!r} (have: {', '.join(sorted(catalog.techs))})", 2)


def open_store(config: Config) -> Store:
    """The daemon's database, or exit 1 if there is none yet."""
    if not config.database.exists():
        fail(f"no database at {config.database} (has the daemon run yet?)")
    return Store(config.database)


@contextmanager
def shell_engine(catalog: Catalog) -> Iterator[Engine]:
    """An engine on the daemon's database that sends nothing, for commands that change
    incidents: what they queue (notices, pages, reminders) are durable timers the running
    daemon adopts within seconds. Only problems are logged; the answer goes to stdout."""
    from oncall.clock import SystemClock
    from oncall.engine import Engine
    from oncall.logs import configure_logging

    configure_logging("warning")
    with open_store(catalog.config) as store:
        yield Engine(catalog, store, None, SystemClock())


def change_incident(
    engine: Engine,
    incident_id: int,
    act: Callable[[dict[str, Any], datetime], tuple[str, str, Any]],
) -> tuple[str, str]:
    """Run one change on an incident in a transaction (exit 1 if there is no such incident);
    returns how it was handled and the answer, as an SMS reply would get them."""
    now = datetime.now(UTC)
    with engine.store.transaction():
        incident = engine.store.incident(incident_id)
        if incident is None:
            fail(f"no incident #{incident_id}")
        handled, answer, _ = act(incident, now)
    return handled, answer


def change_as(
    config_path: Path,
    actor: str,
    incident_id: int,
    act: Callable[[Engine, dict[str, Any], datetime], tuple[str, str, Any]],
) -> tuple[str, str]:
    """A shell command acting on an incident as tech `actor` (exit 2 if unknown): load the
    catalog, open an engine that sends nothing, run `act` in a transaction (change_incident)."""
    catalog = catalog_or_fail(config_path)
    known_tech(catalog, actor)
    with shell_engine(catalog) as engine:
        return change_incident(
            engine, incident_id, lambda incident, now: act(engine, incident, now)
        )


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
