"""The words people read: page texts and SMS answers, kept short enough for one SMS segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from oncall.twilio_webhooks import septets

SEGMENT = 160


def _fit(text: str, limit: int) -> str:
    # "..." rather than "…": one non-GSM-7 character would make the SMS UCS-2 (70 a segment).
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def page_text(
    incident: int,
    client_name: str,
    priority: str | None,
    summary: str,
    host: str,
    note: str = "",
) -> str:
    """The page: client, priority, what, the short number and how to reply. `note` (who
    escalated an owned incident) goes before the number."""
    head = f"[{priority or 'P?'}] {client_name}: "
    tail = (f". {note}." if note else "") + f" #{incident} Reply ACK {incident}"
    what = summary if not host or host.lower() in summary.lower() else f"{summary} ({host})"
    limit = 2 * 153 if note else SEGMENT  # a note may take the page to two segments
    return head + _fit(what, limit - septets(head) - septets(tail)) + tail


def exhausted_text(incident: int, client_name: str, summary: str) -> str:
    head = f"UNACKNOWLEDGED #{incident} {client_name}: "
    tail = f". Nobody acknowledged. Reply ACK {incident} to take it"
    return head + _fit(summary, SEGMENT - septets(head) - septets(tail)) + tail


def auto_resolved_text(incident: int, client_name: str, summary: str) -> str:
    head = f"RESOLVED #{incident} {client_name}: "
    tail = " (monitoring reports it recovered; no action needed)"
    return head + _fit(summary, SEGMENT - septets(head) - septets(tail)) + tail


def joined_text(
    incident: int, client_name: str, priority: str | None, summary: str, count: int
) -> str:
    """To an incident's owner: a different emergency joined the incident they acknowledged."""
    head = f"#{incident} {client_name}: new [{priority or 'P?'}] alert joined ({count} alerts): "
    return head + _fit(summary, SEGMENT - septets(head))


def budget_text(tech_name: str, budget: int, incident: int) -> str:
    return (
        f"oncall: {tech_name} got {budget} pages in the last hour (paging budget); further "
        f"pages to them are held back this hour. Latest: #{incident}"
    )


def local_time(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%a %H:%M %Z")


def duration(span: timedelta) -> str:
    """5m, 1h30m, 2s: the way the config writes durations."""
    seconds = int(span.total_seconds())
    if seconds == 0:
        return f"{span.total_seconds():g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def opt_out_warning(tech_name: str, phone: str, from_number: str) -> str:
    """The owner's warning: a tech's phone refuses SMS, so pages reach them by voice only."""
    return (
        f"oncall: {tech_name} ({phone}) opted out of SMS (STOP). Pages reach them by voice "
        f"call only until they text START to {from_number}."
    )


def bundle_text(items: Sequence[tuple[int, str, str | None, str]], limit: int = 2 * 153) -> str:
    """Several pages to one tech in one SMS (at most two segments):
    '3 open incidents: #12 P1 Acme: PLC down; #13 ...; Reply ACK ALL or ACK 12'.

    `items` are (incident, client name, priority, summary); summaries are shortened to fit,
    and incidents that do not fit at all are still named by number."""
    head = f"{len(items)} open incidents: "
    tail = f" Reply ACK ALL or ACK {items[0][0]}" if items else ""
    room = limit - len(head) - len(tail)
    per_item = max(12, room // max(1, len(items)) - 2)
    parts = [
        _fit(f"#{number} {priority or 'P?'} {client}: {summary}", per_item)
        for number, client, priority, summary in items
    ]
    text = "; ".join(parts)
    if len(text) > room:
        numbers = [f"#{number}" for number, _, _, _ in items]
        text = _fit(", ".join(numbers), room)
    return head + text + tail
