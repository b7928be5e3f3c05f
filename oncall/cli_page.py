"""`oncall page --test TECH` and `oncall test-pages`: send a test page now, and see how the
recent ones ended.

`oncall page --test` writes the test incident, its pages and their send timers straight into
the database (as `oncall ack` writes state changes); the running daemon picks the new timers
up within a few seconds and sends them. Nothing is sent while no daemon runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from oncall import texts
from oncall.cli_support import (
    catalog_or_fail,
    config_option,
    fail,
    format_option,
    instant_text,
    known_tech,
    open_store,
    shell_engine,
)
from oncall.output import render
from oncall.test_pages import recent_test_pages


@click.command(name="page")
@config_option
@click.argument("tech", required=False)
@click.option("--test", "test", is_flag=True, help="Send a test page (the only kind sent by hand).")
@click.option("--all", "all_", is_flag=True, help="Test every tech in [test_pages] techs.")
def page_command(config_path: Path, tech: str | None, test: bool, all_: bool) -> None:
    """Send a test page to TECH (or --all): acknowledged like a real page; the owner hears
    of it if it is not acknowledged within [test_pages] ack_within."""
    if not test:
        fail("only test pages are sent from the shell: oncall page --test TECH", 2)
    if bool(tech) == all_:
        fail("name one tech, or --all: oncall page --test TECH | --test --all", 2)
    catalog = catalog_or_fail(config_path)
    if tech is not None:
        known_tech(catalog, tech)
    settings = catalog.config.test_pages
    with shell_engine(catalog) as engine:
        tech_ids = engine.test_pages.default_techs() if all_ else [str(tech)]
        numbers, _ = engine.test_pages.send(tech_ids, datetime.now(UTC), "on demand (CLI)")
    for number, tech_id in zip(numbers, tech_ids, strict=True):
        click.echo(
            f"Test page #{number} to {catalog.techs[tech_id].name} "
            f"({', '.join(settings.channels)}): ACK {number} within "
            f"{texts.duration(settings.ack_within)}."
        )
    click.echo(
        f"The running daemon sends {'it' if len(numbers) == 1 else 'them'} within a few seconds."
    )


@click.command(name="test-pages")
@config_option
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many of the latest.",
)
@format_option
def test_pages_command(config_path: Path, limit: int, fmt: str) -> None:
    """The latest test pages: to whom, when, and whether they were acknowledged."""
    catalog = catalog_or_fail(config_path)
    with open_store(catalog.config) as store:
        report = recent_test_pages(store, limit)
    zone = catalog.config.timezone
    table = fmt == "table"
    rows = []
    for entry in report:
        tech = catalog.techs.get(entry["tech"])
        seconds = entry["seconds_to_ack"]
        rows.append(
            entry
            | {
                "tech": tech.name if tech and table else entry["tech"],
                "sent": instant_text(entry["sent"], fmt, zone),
                "acked_after": (
                    texts.duration(timedelta(seconds=seconds)) if seconds is not None else ""
                ),
            }
        )
    last = "acked_after" if table else "seconds_to_ack"
    click.echo(render(rows, fmt, ["incident", "tech", "sent", "outcome", last, "acked_by"]))
