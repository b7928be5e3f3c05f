"""`oncall update`: send the client an update on an incident from the shell, as UPD does by SMS.

The daemon sends it: the command records the update and its outbox SMS in the database, and
the running daemon picks up the new send timers within seconds.
"""

from __future__ import annotations

from pathlib import Path

import click

from oncall.cli_support import (
    change_as,
    config_option,
    fail,
)


@click.command(name="update")
@config_option
@click.argument("incident_id", type=int)
@click.argument("text")
@click.option("--as", "actor", required=True, help="The tech id the update is from.")
def update_command(config_path: Path, incident_id: int, text: str, actor: str) -> None:
    """Send the client's contacts an update on INCIDENT_ID (like UPD by SMS).

    TEXT is what the client reads; 'next update 02:30' or 'next update in 45m' in it sets when
    the owner is reminded next (client's time zone), else the SOP's cadence does."""
    handled, answer = change_as(
        config_path,
        actor,
        incident_id,
        lambda engine, incident, now: engine.client_comms.update(incident, actor, text, now),
    )
    if handled != "upd":
        fail(answer)
    click.echo(answer)
