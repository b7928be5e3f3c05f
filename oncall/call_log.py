"""The call log: one `calls` row per call, kept current as the call goes on.

A row is an inbound call to the after-hours line (who called, which client, PIN tries, menu
choice, decision, recording) or an outbound voice page (which page, who answered). It is the
call's state between Twilio's webhooks; every step is also an event in the append-only log.
All functions run inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncall.store import Store, utcnow_text

INBOUND = "inbound"
OUTBOUND = "outbound"
FINAL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}


def get(store: Store, sid: str) -> dict[str, Any] | None:
    return store.one("SELECT * FROM calls WHERE call_sid = ?", (sid,))


def start(
    store: Store,
    sid: str,
    direction: str,
    params: dict[str, str],
    now: datetime,
    **fields: Any,
) -> dict[str, Any]:
    """The call's row, created on first sight (a webhook delivered twice creates one row)."""
    row = get(store, sid)
    if row is None:
        store.insert(
            "calls",
            {
                "call_sid": sid,
                "direction": direction,
                "from_phone": params.get("From", ""),
                "to_phone": params.get("To", ""),
                "status": params.get("CallStatus"),
                "answered_by": params.get("AnsweredBy"),
                "started_at": utcnow_text(now),
                "updated_at": utcnow_text(now),
                "stage": "new",
            }
            | fields,
        )
        row = get(store, sid)
        assert row is not None
    return row


def update(store: Store, sid: str, now: datetime, **changes: Any) -> None:
    store.update("calls", sid, changes | {"updated_at": utcnow_text(now)})


def status(
    store: Store,
    sid: str,
    params: dict[str, str],
    now: datetime,
    page: dict[str, Any] | None = None,
) -> None:
    """A call status callback: the latest status, who answered, and when the call ended."""
    call_status = params.get("CallStatus", "").lower()
    direction = OUTBOUND if page is not None else INBOUND
    links = {"page_id": page["id"], "incident_id": page["incident_id"]} if page else {}
    start(store, sid, direction, params, now, stage="page" if page else "new", **links)
    changes: dict[str, Any] = {"status": call_status}
    if params.get("AnsweredBy"):
        changes["answered_by"] = params["AnsweredBy"]
    if call_status in FINAL_STATUSES:
        changes["ended_at"] = utcnow_text(now)
    update(store, sid, now, **changes)
