"""Report figures: after-hours work per client, load per tech, and the promise check.

Pure functions over rows as the database holds them (dicts, timestamps as stored text);
oncall.report_queries reads the rows and oncall.cli_report prints the answers. A month's
report covers the incidents opened in that month (test pages excluded), with all of their
pages, client updates and vendor contacts; calls and voicemails count by when they came in.
Durations are seconds (float); the CLI formats them for people.

Definitions (also in the README):
* time to first page = the first page's sent_at (kind 'page', any channel) - opened_at
* time to acknowledge = acked_at - opened_at; time to resolve = resolved_at - opened_at
* engaged minutes = resolved_at - acked_at, rounded up to a whole minute per incident;
  an incident not resolved yet is listed as open and not counted
* p90 = the nearest-rank 90th percentile (the value at rank ceil(0.9 n) of the sorted list)
* an update is due at each next_due_at of a 'first'/'update' row that passed before the
  incident was resolved (or before now while it is open); it was on time when a later row
  (an update or the closing message) was created at or before that next_due_at
* a tech's page is one step's SMS and call together (as the paging budget counts them);
  a night page is one created 22:00-06:00 in the tech's zone
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from oncall.emergency import PRIORITIES
from oncall.response_promise import NO_PROMISE, ResponsePromise
from oncall.store import parse_ts

Row = Mapping[str, Any]
NIGHT_STARTS, NIGHT_ENDS = 22, 6  # local hours: 22:00 <= t or t < 06:00
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --------------------------------------------------------------------------- months, statistics


@dataclass(frozen=True)
class Month:
    """A calendar month in a zone, as the UTC instants [start, end)."""

    label: str  # "2026-11"
    start: datetime
    end: datetime


def month_span(text: str | None, zone: ZoneInfo, now: datetime) -> Month:
    """'YYYY-MM' (None: the month `now` falls in) in `zone`; ValueError when unreadable."""
    if text is None:
        local = now.astimezone(zone)
        year, month = local.year, local.month
    else:
        match = _MONTH.match(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise ValueError(f"expected a month like 2026-11, got {text!r}")
        year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return Month(f"{year:04d}-{month:02d}", start, end)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the smallest value with at least 90% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _ts(text: str | None) -> datetime | None:
    return parse_ts(text) if text else None


def _since(start: str | None, end: str | None) -> float | None:
    """Seconds from one stored timestamp to another (None when either is missing)."""
    if not start or not end:
        return None
    return (parse_ts(end) - parse_ts(start)).total_seconds()


def engaged_minutes(incident: Row) -> int | None:
    """Acknowledged to resolved, whole minutes rounded up; None while the incident is open."""
    seconds = _since(incident["acked_at"], incident["resolved_at"])
    return None if seconds is None else math.ceil(max(seconds, 0) / 60)


# --------------------------------------------------------------------------- client updates


def update_figures(
    updates: Sequence[Row], resolved_at: str | None, now: datetime
) -> dict[str, int]:
    """Updates sent (first + update rows), due, and on time, for one incident's rows."""
    rows = sorted(updates, key=lambda r: (r["created_at"], r["id"]))
    end = _ts(resolved_at) or now
    sent = due = on_time = 0
    for i, row in enumerate(rows):
        if row["kind"] not in ("first", "update"):
            continue
        sent += 1
        deadline = _ts(row["next_due_at"])
        if deadline is None or deadline >= end:
            continue
        due += 1
        if any(parse_ts(later["created_at"]) <= deadline for later in rows[i + 1 :]):
            on_time += 1
    return {"updates_sent": sent, "updates_due": due, "updates_on_time": on_time}


# --------------------------------------------------------------------------- per client


@dataclass(frozen=True)
class ClientRows:
    """Everything one month's client report needs, read by oncall.report_queries."""

    incidents: Sequence[Row]  # the month's incidents (not test pages)
    pages: Sequence[Row]  # every page of those incidents
    updates: Sequence[Row]  # every client_updates row of those incidents
    vendor_contacts: Sequence[Row]  # every vendor_contacts row of those incidents
    calls: Sequence[Row]  # inbound after-hours calls received in the month
    voicemails: Sequence[Row]  # voicemails received in the month


def _by(rows: Iterable[Row], key: str) -> dict[Any, list[Row]]:
    grouped: dict[Any, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


def first_page_seconds(incident: Row, pages: Sequence[Row]) -> float | None:
    sent = sorted(p["sent_at"] for p in pages if p["kind"] == "page" and p["sent_at"])
    return _since(incident["opened_at"], sent[0]) if sent else None


def client_figures(clients: Sequence[str], rows: ClientRows, now: datetime) -> list[dict[str, Any]]:
    """One row per client: incidents by priority, times, updates, vendors, calls, minutes."""
    incidents = _by(rows.incidents, "client")
    pages = _by(rows.pages, "incident_id")
    updates = _by(rows.updates, "incident_id")
    calls = _by(rows.calls, "client")
    voicemails = _by(rows.voicemails, "client")
    vendors = {(v["incident_id"], v["vendor"]) for v in rows.vendor_contacts}
    result: list[dict[str, Any]] = []
    for client in clients:
        mine = incidents.get(client, [])
        ids = {i["id"] for i in mine}
        first_page = [
            s for i in mine if (s := first_page_seconds(i, pages.get(i["id"], []))) is not None
        ]
        ack = [s for i in mine if (s := _since(i["opened_at"], i["acked_at"])) is not None]
        resolve = [s for i in mine if (s := _since(i["opened_at"], i["resolved_at"])) is not None]
        totals = {"updates_sent": 0, "updates_due": 0, "updates_on_time": 0}
        for incident in mine:
            figures = update_figures(updates.get(incident["id"], []), incident["resolved_at"], now)
            totals = {k: totals[k] + figures[k] for k in totals}
        minutes = [m for i in mine if (m := engaged_minutes(i)) is not None]
        result.append(
            {
                "client": client,
                "incidents": len(mine),
                **{p: sum(1 for i in mine if i["priority"] == p) for p in PRIORITIES},
                "first_page_median": median(first_page),
                "first_page_p90": p90(first_page),
                "ack_median": median(ack),
                "ack_p90": p90(ack),
                "resolve_median": median(resolve),
                "resolve_p90": p90(resolve),
                **totals,
                "vendor_escalations": sum(1 for incident, _ in vendors if incident in ids),
                "calls_answered": len(calls.get(client, [])),
                "calls_queued": len(voicemails.get(client, [])),
                "engaged_minutes": sum(minutes),
                "open": sum(1 for i in mine if not i["resolved_at"]),
            }
        )
    return result


def incident_lines(incidents: Sequence[Row]) -> list[dict[str, Any]]:
    """The billing lines: each incident with its engaged minutes (None: still open)."""
    return [
        {
            "incident": i["id"],
            "client": i["client"],
            "priority": i["priority"],
            "opened_at": i["opened_at"],
            "acked_at": i["acked_at"],
            "resolved_at": i["resolved_at"],
            "owner": i.get("owner") or i["acked_by"],
            "engaged_minutes": engaged_minutes(i),
            "state": "resolved" if i["resolved_at"] else "open",
            "summary": i["summary"],
        }
        for i in sorted(incidents, key=lambda i: (i["opened_at"], i["id"]))
    ]


# --------------------------------------------------------------------------- per tech


def is_night(instant: datetime, zone: ZoneInfo) -> bool:
    hour = instant.astimezone(zone).hour
    return hour >= NIGHT_STARTS or hour < NIGHT_ENDS


def tech_figures(
    techs: Mapping[str, str],
    zone_of: Callable[[str], ZoneInfo],
    incidents: Sequence[Row],
    pages: Sequence[Row],
) -> list[dict[str, Any]]:
    """One row per tech (`techs`: id -> name, plus any other tech in the rows).

    `pages` are the pages (kinds 'page' and 'exhausted', neither suppressed nor cancelled)
    of the month's incidents."""
    groups: dict[tuple[Any, ...], str] = {}  # one step's pages to one tech -> first created_at
    first_page_to: dict[tuple[str, int], str] = {}  # (tech, incident) -> first page sent
    for page in sorted(pages, key=lambda p: (p["created_at"], p["id"])):
        key = (page["tech_id"], page["incident_id"], page["pass_number"], page["step_index"])
        groups.setdefault(key + (page["kind"],), page["created_at"])
        reached = page["sent_at"] or page["created_at"]
        pair = (page["tech_id"], page["incident_id"])
        first_page_to[pair] = min(first_page_to.get(pair, reached), reached)
    names = dict(techs)
    for tech in sorted({key[0] for key in groups} | {i["owner"] for i in incidents if i["owner"]}):
        names.setdefault(tech, tech)
    result: list[dict[str, Any]] = []
    for tech, name in names.items():
        created = [parse_ts(at) for key, at in groups.items() if key[0] == tech]
        acked = [i for i in incidents if i["acked_by"] == tech and i["acked_at"]]
        ack_times = [
            s
            for i in acked
            if (first := first_page_to.get((tech, i["id"]))) is not None
            and (s := _since(first, i["acked_at"])) is not None
        ]
        result.append(
            {
                "tech": tech,
                "name": name,
                "pages": len(created),
                "night_pages": sum(1 for at in created if is_night(at, zone_of(tech))),
                "acks": len(acked),
                "ack_median": median(ack_times),
                "owned": sum(1 for i in incidents if i["owner"] == tech),
            }
        )
    return result


# --------------------------------------------------------------------------- the promise


def promise_figures(
    clients: Sequence[str],
    promises: Mapping[str, ResponsePromise],
    incidents: Sequence[Row],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per client and priority: promised, incidents, met, breached, p90 measured; and breaches.

    A row for each priority with incidents or with a promise of its own (a client with
    neither gets one row for all priorities). Measured is acked_at - opened_at. An incident
    nobody acknowledged is measured to its resolution (or to now while open) and breaches
    once that exceeds the promise; one still inside its promise is neither met nor breached.
    """
    rows: list[dict[str, Any]] = []
    breaches: list[dict[str, Any]] = []
    grouped = _by(incidents, "client")
    for client in clients:
        mine = grouped.get(client, [])
        promise = promises.get(client, NO_PROMISE)
        seen = {i["priority"] for i in mine} | set(promise.by_priority)
        priorities: list[str | None] = [p for p in PRIORITIES if p in seen]
        priorities += sorted(p for p in seen if p not in PRIORITIES and p is not None)
        priorities += [None] if None in seen or not priorities else []
        for priority in priorities:
            promised = promise.acknowledge_within(priority)
            these = [i for i in mine if i["priority"] == priority]
            measured = [
                s for i in these if (s := _since(i["opened_at"], i["acked_at"])) is not None
            ]
            met = breached = 0
            for incident in sorted(these, key=lambda i: (i["opened_at"], i["id"])):
                if promised is None:
                    continue
                acked = incident["acked_at"] is not None
                end = _ts(incident["acked_at"] or incident["resolved_at"])
                seconds = ((end or now) - parse_ts(incident["opened_at"])).total_seconds()
                if seconds <= promised.total_seconds():
                    if end is not None:  # still unacknowledged inside the promise: neither
                        met += 1
                    continue
                breached += 1
                breaches.append(
                    {
                        "incident": incident["id"],
                        "client": client,
                        "opened_at": incident["opened_at"],
                        "priority": incident["priority"],
                        "promised": promised.total_seconds(),
                        "measured": seconds if acked else None,
                        "note": "" if acked else "not acknowledged",
                    }
                )
            rows.append(
                {
                    "client": client,
                    "priority": priority,
                    "promised": None if promised is None else promised.total_seconds(),
                    "incidents": len(these),
                    "met": met if promised is not None else None,
                    "breached": breached if promised is not None else None,
                    "ack_p90": p90(measured),
                }
            )
    return rows, breaches
