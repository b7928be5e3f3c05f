"""The words people read: page texts and SMS answers, kept short enough for one SMS segment."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SEGMENT = 160


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def page_text(
    incident: int, client_name: str, priority: str | None, summary: str, host: str
) -> str:
    """The page: client, priority, what, the short number and how to reply."""
    head = f"[{priority or 'P?'}] {client_name}: "
    tail = f" #{incident} Reply ACK {incident}"
    what = summary if not host or host.lower() in summary.lower() else f"{summary} ({host})"
    return head + _fit(what, SEGMENT - len(head) - len(tail)) + tail


def exhausted_text(incident: int, client_name: str, summary: str) -> str:
    head = f"UNACKNOWLEDGED #{incident} {client_name}: "
    tail = f". Nobody acknowledged. Reply ACK {incident} to take it"
    return head + _fit(summary, SEGMENT - len(head) - len(tail)) + tail


def auto_resolved_text(incident: int, client_name: str, summary: str) -> str:
    head = f"RESOLVED #{incident} {client_name}: "
    tail = " (monitoring reports it recovered; no action needed)"
    return head + _fit(summary, SEGMENT - len(head) - len(tail)) + tail


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
