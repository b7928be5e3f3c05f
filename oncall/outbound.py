"""What every outbound row (a page, a text to a client) goes through on its way to Twilio.

Pages (`pages`, oncall.delivery) and texts to people who are not techs (`outbox`,
oncall.outbox) keep the same columns for sending: state, attempts, twilio_sid, error. This
module holds the steps they share — marking a row as handed over, the retry policy with its
doubling backoff and durable retry timer, and the words for a send a restart interrupted — so
the two outboxes cannot drift apart. Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from oncall.config import Defaults
from oncall.notify import NO_ANSWER, Sent
from oncall.store import Store, utcnow_text

# A row in one of these states has not been handed to Twilio as far as the row knows.
UNSENT = ("pending", "sending")
# How far back (our clock vs Twilio's) a send interrupted by a restart is looked for.
RECOVERY_SLACK = timedelta(seconds=60)


def retry_at(defaults: Defaults, attempts: int, transient: bool, now: datetime) -> datetime | None:
    """When to try again after failed attempt number `attempts`; None: give up now."""
    if not transient or attempts >= defaults.send_retries:
        return None
    return now + defaults.retry_backoff * (2 ** (attempts - 1))


def start_sending(store: Store, table: str, row_id: int, now: datetime) -> None:
    """Mark the row as being handed to Twilio: after a crash in this state, ask first."""
    store.update(table, row_id, {"state": "sending", "updated_at": utcnow_text(now)})


def mark_sent(store: Store, table: str, row: dict[str, Any], sent: Sent, now: datetime) -> None:
    """Twilio accepted it. A status callback may have come in while the API answered (a call
    already answered or failed): that state stays."""
    current = store.one(f"SELECT state FROM {table} WHERE id = ?", (row["id"],))
    state = current["state"] if current and current["state"] not in UNSENT else "sent"
    store.update(
        table,
        row["id"],
        {
            "state": state,
            "attempts": row["attempts"] + 1,
            "twilio_sid": sent.sid,
            "twilio_status": sent.status,
            "sent_at": utcnow_text(now),
            "updated_at": utcnow_text(now),
        },
    )


def schedule_retry(
    store: Store,
    table: str,
    row: dict[str, Any],
    *,
    timer_kind: str,
    incident_id: int,
    attempts: int,
    error: str,
    due: datetime,
    now: datetime,
) -> tuple[int, datetime]:
    """Put the row back to pending and write the durable timer that sends it again."""
    store.update(
        table,
        row["id"],
        {"state": "pending", "attempts": attempts, "error": error, "updated_at": utcnow_text(now)},
    )
    timer_id = store.insert(
        "timers",
        {
            "kind": timer_kind,
            "incident_id": incident_id,
            "ref": row["id"],
            "due_at": utcnow_text(due),
        },
    )
    return timer_id, due


def mark_failed(
    store: Store, table: str, row_id: int, attempts: int, error: str, now: datetime
) -> None:
    """It will never arrive: retries used up, or a definite refusal."""
    store.update(
        table,
        row_id,
        {"state": "failed", "attempts": attempts, "error": error, "updated_at": utcnow_text(now)},
    )


def may_have_reached_twilio(row: dict[str, Any]) -> bool:
    """Ask Twilio before sending: a crash interrupted the send ('sending'), or the last
    attempt timed out or lost its connection after the request went out (NO_ANSWER)."""
    return row["state"] == "sending" or (row["error"] or "").startswith(NO_ANSWER)


def log_recovery(
    store: Store, now: datetime, kind: str, what: str, sent: Sent | None, **data: Any
) -> None:
    """Log what asking Twilio about a send that may have reached it found: `<kind>.recovered`
    (Twilio has it: not sent again) or `<kind>.resend`."""
    found = (
        f"Twilio has it ({sent.sid}), not sent again"
        if sent is not None
        else "Twilio has no trace of it; sending again"
    )
    store.log(
        now,
        f"{kind}.recovered" if sent else f"{kind}.resend",
        f"{what} may already be at Twilio (cut off by a restart or a timeout): {found}",
        **data,
    )
