"""`oncall update`: send the client an update on an incident from the shell, as UPD does by SMS.

The daemon sends it: the command records the update and its outbox SMS in the database, and
the running daemon picks up the new send timers within seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from oncall.cli_support import catalog_or_fail, config_option, fail
from oncall.clock import SystemClock
from oncall.store import Store


@click.command(name="update")
@config_option
@click.argument("incident_id", type=int)
@click.argument("text")
@click.option("--as", "actor", required=True, help="The tech id the update is from.")
def update_command(config_path: Path, incident_id: int, text: str, actor: str) -> None:
    """Send the client's contacts an update on INCIDENT_ID (like UPD by SMS).

    TEXT is what the client reads; 'next update 02:30' or 'next update in 45m' in it sets when
    the owner is reminded next (client's time zone), else the SOP's cadence does."""
    from oncall.engine import Engine
    from oncall.logs import configure_logging

    configure_logging("warning")  # the answer goes to stdout; only problems are logged
    catalog = catalog_or_fail(config_path)
    if actor not in catalog.techs:
        fail(f"unknown tech {actor!r} (have: {', '.join(sorted(catalog.techs))})", 2)
    if not catalog.config.database.exists():
        fail(f"no database at {catalog.config.database} (has the daemon run yet?)")
    with Store(catalog.config.database) as store:
        engine = Engine(catalog, store, None, SystemClock())
        now = datetime.now(UTC)
        with store.transaction():
            incident = store.incident(incident_id)
            if incident is None:
                fail(f"no incident #{incident_id}")
            handled, answer, _ = engine.client_comms.update(incident, actor, text, now)
    if handled != "upd":
        fail(answer)
    click.echo(answer)
