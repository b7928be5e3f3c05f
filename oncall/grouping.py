"""Alert grouping: which open incident a new alert belongs to, as pure functions.

- Dedup: an alert with the same dedup key (or, without one, the same source + host +
  summary) as an open incident folds into it: counted and logged, not paged again.
- Storms: a paging alert for a client that already has an incident opened or grown within
  the group window (a site power cut, an ISP outage) joins that incident instead of paging
  again, and the incident's summary says how many alerts it holds.
- Resolution: a resolved/reset alert is matched to the open incident with the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall.intake import Alert


@dataclass(frozen=True)
class OpenIncident:
    id: int
    fold_key: str
    priority: str | None
    last_alert_at: datetime


@dataclass(frozen=True)
class Fold:
    """The alert joins incident `incident_id`; `storm` is False for a plain duplicate."""

    incident_id: int
    storm: bool
    reason: str


def fold_key(alert: Alert) -> str:
    """The identity of the condition an alert reports."""
    if alert.dedup_key:
        return f"key:{alert.dedup_key}"
    parts = (alert.source, alert.host, " ".join(alert.summary.lower().split()))
    return "cond:" + "|".join(parts)


def fold_target(
    alert: Alert, open_incidents: Sequence[OpenIncident], now: datetime, group_window: timedelta
) -> Fold | None:
    """The open incident (of this alert's client) the alert folds into, if any."""
    key = fold_key(alert)
    for incident in open_incidents:
        if incident.fold_key == key:
            return Fold(incident.id, False, f"same condition as open incident #{incident.id}")
    if group_window <= timedelta(0):
        return None
    recent = [i for i in open_incidents if now - i.last_alert_at <= group_window]
    if not recent:
        return None
    latest = max(recent, key=lambda i: (i.last_alert_at, i.id))
    return Fold(latest.id, True, f"storm: within {_minutes(group_window)} of incident #{latest.id}")


def resolve_target(alert: Alert, open_incidents: Sequence[OpenIncident]) -> int | None:
    """The open incident a resolved/reset alert is about."""
    key = fold_key(alert)
    return next((i.id for i in open_incidents if i.fold_key == key), None)


def higher_priority(a: str | None, b: str | None) -> str | None:
    """P1 beats P2 …; None loses to anything."""
    if a is None or b is None:
        return a or b
    return min(a, b)


def storm_summary(count: int, client_name: str, span: timedelta, first_summary: str) -> str:
    """ "14 alerts at Acme in 3 min: PLC line 3 offline, ..." (GSM-7 only: no ellipsis character)."""
    return f"{count} alerts at {client_name} in {_minutes(span)}: {first_summary}, ..."


def _minutes(span: timedelta) -> str:
    minutes = max(1, round(span.total_seconds() / 60))
    return f"{minutes} min"
