"""Maintenance windows in SQLite: starting and ending ad-hoc ones, and the alert decision.

`oncall maintenance CLIENT --for 2h` writes a row; the daemon reads the rows on every alert,
so a window starts at once and ends by itself when its time is up (no timer needed). The
pure part (weekly SOP windows, which window an instant is in) is `oncall.maintenance`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from oncall.classify import Decision
from oncall.maintenance import ACTION, AdHocWindow, OpenWindow, open_window
from oncall.sops import Sop
from oncall.store import Store, parse_ts, utcnow_text


def ad_hoc_windows(store: Store, client: str, at: datetime) -> list[AdHocWindow]:
    """The client's ad-hoc windows open at `at` (not ended early)."""
    rows = store.all(
        "SELECT * FROM maintenance WHERE client = ? AND ends_at > ? AND starts_at <= ?"
        " AND ended_early_at IS NULL ORDER BY id",
        (client, utcnow_text(at), utcnow_text(at)),
    )
    return [
        AdHocWindow(r["id"], parse_ts(r["starts_at"]), parse_ts(r["ends_at"]), r["reason"])
        for r in rows
    ]


def window_at(store: Store | None, sop: Sop, at: datetime) -> OpenWindow | None:
    """The maintenance window the client is in at `at`: the SOP's, or one started ad hoc."""
    ad_hoc = ad_hoc_windows(store, sop.id, at) if store is not None else []
    return open_window(sop.maintenance, ad_hoc, at, sop.timezone)


def maintenance_decision(window: OpenWindow, sop: Sop, at: datetime) -> Decision:
    """The record of an alert that arrived during maintenance: kept, nobody paged."""
    zone = sop.timezone
    local, until = at.astimezone(zone), window.ends_at.astimezone(zone)
    return Decision(
        action=ACTION,
        reason=(
            f"{local:%Y-%m-%d %H:%M %Z} is inside a maintenance window ({window.declared}: "
            f"{window.reason}) until {until:%Y-%m-%d %H:%M %Z}: recorded, nobody is paged."
        ),
        window=f"maintenance until {until:%Y-%m-%d %H:%M %Z}",
        rule_id=None,
        priority=None,
        next_business_start=None,
    )


def start_window(
    store: Store,
    client: str,
    at: datetime,
    length: timedelta,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> int:
    """Record a window from `at` for `length` (logged at `now`, default `at`). Returns its id."""
    with store.transaction():
        window_id = store.insert(
            "maintenance",
            {
                "client": client,
                "starts_at": utcnow_text(at),
                "ends_at": utcnow_text(at + length),
                "reason": reason,
                "started_by": actor,
            },
        )
        store.log(
            now or at,
            "maintenance.started",
            f"maintenance #{window_id} from {utcnow_text(at)} until {utcnow_text(at + length)}: "
            f"{reason}",
            actor=actor,
            client=client,
            window_id=window_id,
        )
    return window_id


def end_window(store: Store, window_id: int, at: datetime, actor: str) -> dict[str, Any] | None:
    """End an open ad-hoc window now; None if there is no such open window."""
    with store.transaction():
        row = store.one(
            "SELECT * FROM maintenance WHERE id = ? AND ended_early_at IS NULL AND ends_at > ?",
            (window_id, utcnow_text(at)),
        )
        if row is None:
            return None
        store.update("maintenance", window_id, {"ended_early_at": utcnow_text(at)})
        store.log(
            at,
            "maintenance.ended",
            f"maintenance #{window_id} ended early by {actor}",
            actor=actor,
            client=row["client"],
            window_id=window_id,
        )
    return row


def open_ad_hoc(store: Store, at: datetime) -> list[dict[str, Any]]:
    """Every ad-hoc window open now or still to end, for `oncall maintenance --list`."""
    return store.all(
        "SELECT * FROM maintenance WHERE ends_at > ? AND ended_early_at IS NULL ORDER BY id",
        (utcnow_text(at),),
    )
