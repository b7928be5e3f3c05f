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
    details = detail_lines(store, incident_id, zone)
    lines += details + (["Timeline:"] if details else [])
    for row in timeline_rows(store, incident_id, zone):
        lines.append(f"  {row['time']}  {row['actor']:<12} {row['kind']:<22} {row['what']}")
    return "\n".join(lines)


def detail_lines(store: Store, incident_id: int, zone: ZoneInfo) -> list[str]:
    """The `oncall show` sections about who carried the incident: "Owners" (each change of
    owner), "Vendor contacts" and "Client updates" (every message the client got, in full).
    A section with nothing to say is left out; each one ends with a blank line."""

    def local(ts: str | None) -> str:
        return parse_ts(ts).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if ts else "-"

    lines: list[str] = []
    owners = [e for e in store.events(incident_id=incident_id) if e["kind"] == "incident.owner"]
    if owners:
        lines.append("Owners:")
        for event in owners:
            data = event["data"]
            if "owner" not in data:
                lines.append(f"  {local(event['ts'])}  {event['message']}")
                continue
            previous, how = data.get("previous"), data.get("how")
            change = f"{previous} -> {data['owner']}" if previous else data["owner"]
            by = f" by {event['actor']}" if previous else ""
            lines.append(f"  {local(event['ts'])}  {change}" + (f"  ({how}{by})" if how else ""))
        lines.append("")
    vendors = store.all(
        "SELECT * FROM vendor_contacts WHERE incident_id = ? ORDER BY at, id", (incident_id,)
    )
    if vendors:
        lines.append("Vendor contacts:")
        for row in vendors:
            ticket = f"  ticket {row['ticket']}" if row["ticket"] else ""
            note = f": {row['note']}" if row["note"] else ""
            lines.append(f"  {local(row['at'])}  {row['vendor']}{ticket}  by {row['actor']}{note}")
        lines.append("")
    updates = store.all(
        "SELECT * FROM client_updates WHERE incident_id = ? ORDER BY created_at, id",
        (incident_id,),
    )
    if updates:
        lines.append("Client updates:")
        for row in updates:
            due = f"; next due {local(row['next_due_at'])}" if row["next_due_at"] else ""
            lines.append(f"  {local(row['created_at'])}  {row['kind']} by {row['author']}{due}")
            lines.append(f"      {row['body']}")
        lines.append("")
    return lines
