"""An incident's timeline, told from the event log in the reader's time zone."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from oncall.store import Store, parse_ts


def incident_summary(store: Store, incident_id: int) -> dict[str, Any] | None:
    return store.incident(incident_id)


def timeline_rows(store: Store, incident_id: int, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Every event of the incident and of the alert that opened it, oldest first."""
    incident = store.incident(incident_id)
    if incident is None:
        return []
    events = store.events(incident_id=incident_id)
    return [
        {
            "time": parse_ts(event["ts"]).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            "kind": event["kind"],
            "actor": event["actor"],
            "what": event["message"],
        }
        for event in events
    ]


def render_incident(store: Store, incident_id: int, zone: ZoneInfo) -> str:
    """The human-readable `oncall show` text."""
    incident = store.incident(incident_id)
    if incident is None:
        return f"no incident #{incident_id}"

    def local(ts: str | None) -> str:
        return parse_ts(ts).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if ts else "-"

    lines = [
        f"Incident #{incident['id']}  {incident['client']}  {incident['priority'] or ''}  [{incident['state']}]",
        f"  {incident['summary']}" + (f"  (host {incident['host']})" if incident["host"] else ""),
        f"  opened {local(incident['opened_at'])}; acknowledged {local(incident['acked_at'])}"
        + (f" by {incident['acked_by']}" if incident["acked_by"] else "")
        + f"; resolved {local(incident['resolved_at'])}"
        + (f" by {incident['resolved_by']}" if incident["resolved_by"] else ""),
        "",
    ]
    for row in timeline_rows(store, incident_id, zone):
        lines.append(f"  {row['time']}  {row['actor']:<12} {row['kind']:<22} {row['what']}")
    return "\n".join(lines)
