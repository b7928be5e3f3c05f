"""`oncall report clients|techs|promises`: one month's after-hours figures for people and the PSA.

Tables for people (durations like 4m30s, times in daemon.timezone); `--format csv|json` for
spreadsheets and the PSA (durations in seconds, times in UTC). The figures and their
definitions are oncall.report's; the rows come from oncall.report_queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from oncall import report, report_queries
from oncall.catalog import Catalog
from oncall.cli_support import catalog_or_fail, config_option, fail, format_option
from oncall.coverage_statement import FORMATS as COVERAGE_FORMATS
from oncall.coverage_statement import coverage_statement
from oncall.emergency import PRIORITIES
from oncall.output import render
from oncall.store import Store, parse_ts
from oncall.texts import duration

CLIENT_COLUMNS = [
    "client", "incidents", *PRIORITIES, "open",
    "first_page_median", "first_page_p90", "ack_median", "ack_p90",
    "resolve_median", "resolve_p90", "updates_sent", "updates_due", "updates_on_time",
    "vendor_escalations", "calls_answered", "calls_queued", "engaged_minutes",
]  # fmt: skip
INCIDENT_COLUMNS = [
    "incident", "client", "priority", "opened_at", "acked_at", "resolved_at", "owner",
    "engaged_minutes", "state", "summary",
]  # fmt: skip
TECH_COLUMNS = ["tech", "name", "pages", "night_pages", "acks", "ack_median", "owned"]
PROMISE_COLUMNS = ["client", "priority", "promised", "incidents", "met", "breached", "ack_p90"]
BREACH_COLUMNS = ["incident", "client", "opened_at", "priority", "promised", "measured", "note"]
_SECONDS = {
    "first_page_median", "first_page_p90", "ack_median", "ack_p90", "resolve_median",
    "resolve_p90", "promised", "measured",
}  # fmt: skip
_TIMES = {"opened_at", "acked_at", "resolved_at"}

month_option = click.option(
    "--month", "month_text", metavar="YYYY-MM", help="The month (default: the current one)."
)
client_option = click.option("--client", help="Only this client (the SOP file name).")


@click.group(name="report")
def report_command() -> None:
    """Monthly after-hours reports: per client, per tech, and the promised response time.

    A month covers the incidents opened in it (in daemon.timezone); test pages are left out.
    """


# --------------------------------------------------------------------------- formatting


def _seconds_text(value: float | None) -> str:
    return "-" if value is None else duration(timedelta(seconds=round(value)))


def _time_text(value: str | None, zone: ZoneInfo) -> str:
    return parse_ts(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if value else "-"


def _for_people(rows: Sequence[dict[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """Durations as 4m30s, stored times as local times, None as '-'."""
    shown: list[dict[str, Any]] = []
    for row in rows:
        out: dict[str, Any] = {}
        for key, value in row.items():
            if key in _SECONDS:
                out[key] = _seconds_text(value)
            elif key in _TIMES:
                out[key] = _time_text(value, zone)
            else:
                out[key] = "-" if value is None else value
        shown.append(out)
    return shown


def _for_machines(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Durations in whole seconds (rounded), times in UTC ISO 8601 as stored."""
    return [
        {k: round(v) if k in _SECONDS and v is not None else v for k, v in row.items()}
        for row in rows
    ]


def _people_clients(rows: Sequence[dict[str, Any]], zone: ZoneInfo) -> list[dict[str, Any]]:
    """The client rows squeezed for a terminal: 'median / p90' and 'sent, on time/due'."""
    shown = []
    # the priorities any client had (P1 at least): P3 and P4 columns only when they happened
    priorities = [p for p in PRIORITIES if p == "P1" or any(row[p] for row in rows)]
    for row, people in zip(rows, _for_people(rows, zone), strict=True):
        shown.append(
            {
                "client": row["client"],
                "incidents": row["incidents"],
                **{p: row[p] for p in priorities},
                "open": row["open"],
                "first page": f"{people['first_page_median']} / {people['first_page_p90']}",
                "ack": f"{people['ack_median']} / {people['ack_p90']}",
                "resolve": f"{people['resolve_median']} / {people['resolve_p90']}",
                "updates sent": row["updates_sent"],
                "on time/due": f"{row['updates_on_time']}/{row['updates_due']}",
                "vendors": row["vendor_escalations"],
                "calls": row["calls_answered"],
                "queued": row["calls_queued"],
                "engaged min": row["engaged_minutes"],
            }
        )
    return shown


def _emit(
    fmt: str,
    month: report.Month,
    zone: ZoneInfo,
    main: tuple[str, Sequence[dict[str, Any]], list[str]],
    detail: tuple[str, Sequence[dict[str, Any]], list[str]] | None,
    *,
    csv_detail: bool = False,
    people_main: list[dict[str, Any]] | None = None,
) -> None:
    """Print a summary (and its detail lines) in the chosen format.

    json: one object with the month, the summary and the detail; csv: the summary, or the
    detail when `csv_detail`; table: the summary, then the detail under its title."""
    main_name, main_rows, main_columns = main
    if fmt == "json":
        answer: dict[str, Any] = {
            "month": month.label,
            "timezone": zone.key,
            "from": month.start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "until": month.end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            main_name: json.loads(render(_for_machines(main_rows), "json", main_columns)),
        }
        if detail is not None:
            name, rows, columns = detail
            answer[name] = json.loads(render(_for_machines(rows), "json", columns))
        click.echo(json.dumps(answer, indent=2))
        return
    if fmt == "csv":
        name, rows, columns = detail if csv_detail and detail is not None else main
        click.echo(render(_for_machines(rows), "csv", columns))
        return
    click.echo(f"{month.label} ({zone.key})\n")
    if people_main is not None:
        click.echo(render(people_main, "table"))
    else:
        click.echo(render(_for_people(main_rows, zone), "table", main_columns))
    if detail is not None:
        name, rows, columns = detail
        click.echo(f"\n{name.capitalize()}:\n")
        click.echo(render(_for_people(rows, zone), "table", columns))


# --------------------------------------------------------------------------- the commands


def _setup(
    config_path: Path, month_text: str | None, client: str | None
) -> tuple[Catalog, Store, report.Month]:
    catalog = catalog_or_fail(config_path)
    zone = catalog.config.timezone
    try:
        month = report.month_span(month_text, zone, datetime.now(UTC))
    except ValueError as exc:
        fail(f"--month: {exc}", 2)
    if client is not None and client not in catalog.sops:
        fail(f"unknown client {client!r} (have: {', '.join(sorted(catalog.sops))})", 2)
    if not catalog.config.database.exists():
        fail(f"no database at {catalog.config.database} (has the daemon run yet?)")
    return catalog, Store(catalog.config.database), month


def _clients(
    catalog: Catalog, incidents: Sequence[dict[str, Any]], client: str | None
) -> list[str]:
    """Every client with an SOP, plus any with incidents whose SOP has since gone."""
    if client is not None:
        return [client]
    return sorted(set(catalog.sops) | {i["client"] for i in incidents})


@report_command.command(name="clients")
@config_option
@month_option
@client_option
@click.option(
    "--incidents", "with_incidents", is_flag=True,
    help="List every incident with its engaged minutes (csv: only those lines).",
)  # fmt: skip
@format_option
def clients_report(
    config_path: Path, month_text: str | None, client: str | None, with_incidents: bool, fmt: str
) -> None:
    """Per client: incidents by priority, response times, updates, vendors, calls, minutes.

    JSON always includes the incident lines (for billing)."""
    catalog, store, month = _setup(config_path, month_text, client)
    with store:
        rows = report_queries.client_rows(store, month, client)
    now = datetime.now(UTC)
    figures = report.client_figures(_clients(catalog, rows.incidents, client), rows, now)
    lines = report.incident_lines(rows.incidents)
    zone = catalog.config.timezone
    detail = ("incidents", lines, INCIDENT_COLUMNS) if with_incidents or fmt == "json" else None
    _emit(
        fmt, month, zone, ("clients", figures, CLIENT_COLUMNS), detail,
        csv_detail=with_incidents, people_main=_people_clients(figures, zone),
    )  # fmt: skip


@report_command.command(name="techs")
@config_option
@month_option
@format_option
def techs_report(config_path: Path, month_text: str | None, fmt: str) -> None:
    """Per tech: pages, night pages (22:00-06:00), acknowledgments, median ack, incidents owned."""
    catalog, store, month = _setup(config_path, month_text, None)
    with store:
        incidents = report_queries.month_incidents(store, month)
        pages = report_queries.received_pages(store, month)
    techs = {tech_id: tech.name for tech_id, tech in sorted(catalog.techs.items())}

    def zone_of(tech_id: str) -> ZoneInfo:
        tech = catalog.techs.get(tech_id)
        zone = getattr(tech, "timezone", None) if tech is not None else None
        return zone if isinstance(zone, ZoneInfo) else catalog.config.timezone

    figures = report.tech_figures(techs, zone_of, incidents, pages)
    _emit(fmt, month, catalog.config.timezone, ("techs", figures, TECH_COLUMNS), None)


@report_command.command(name="promises")
@config_option
@month_option
@client_option
@click.option(
    "--breaches", "csv_breaches", is_flag=True, help="csv: print the breaches, not the summary."
)
@format_option
def promises_report(
    config_path: Path, month_text: str | None, client: str | None, csv_breaches: bool, fmt: str
) -> None:
    """Per client and priority: the SOP's promised response time against the measured one."""
    catalog, store, month = _setup(config_path, month_text, client)
    with store:
        incidents = report_queries.month_incidents(store, month, client)
    promises = {sop.id: sop.response for sop in catalog.sops.values()}
    rows, breaches = report.promise_figures(
        _clients(catalog, incidents, client), promises, incidents, datetime.now(UTC)
    )
    if fmt == "table":  # a row without a priority is the promise for any priority
        rows = [row | {"priority": row["priority"] or "any"} for row in rows]
    _emit(
        fmt, month, catalog.config.timezone, ("promises", rows, PROMISE_COLUMNS),
        ("breaches", breaches, BREACH_COLUMNS), csv_detail=csv_breaches,
    )  # fmt: skip


@click.command(name="explain")
@config_option
@click.argument("client")
@click.option(
    "--format", "fmt", type=click.Choice(COVERAGE_FORMATS), default="text", show_default=True,
    help="md: Markdown for a contract appendix.",
)  # fmt: skip
def sop_explain(config_path: Path, client: str, fmt: str) -> None:
    """The client's coverage model in plain language, from the SOP itself.

    The service-desk window, what qualifies for after-hours escalation, who is paged in what
    order, the hand-off to engineering, client updates, vendors and the promised response."""
    catalog = catalog_or_fail(config_path)
    sop = catalog.sops.get(client)
    if sop is None:
        fail(f"unknown client {client!r} (have: {', '.join(sorted(catalog.sops))})")
    names = {tech_id: tech.name for tech_id, tech in catalog.techs.items()}
    desk = sop.service_desk or catalog.config.service_desk
    click.echo(coverage_statement(sop, names, desk, fmt), nl=False)
