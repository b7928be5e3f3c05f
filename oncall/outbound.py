"""What every outbound row (a page, a text to a client) goes through on its way to Twilio.

Pages (`pages`, oncall.delivery) and texts to people who are not techs (`outbox`,
oncall.outbox) keep the same columns for sending: state, attempts, twilio_sid, error. This
module holds the steps they share — marking a row as handed over, the retry policy with its
doubling backoff and durable retry timer, recording a send Twilio accepted, and the words for
a send a restart interrupted — so the two outboxes cannot drift apart. Everything here runs
inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall.config import Defaults
from oncall.notify import NO_ANSWER, SendError, Sent
from oncall.store import Store, utcnow_text
from oncall.timers import Timers

log = structlog.get_logger(__name__)


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


def record_sent(
    store: Store,
    table: str,
    row: dict[str, Any],
    timer: dict[str, Any],
    sent: Sent,
    now: datetime,
    *,
    event: str,
    message: str,
    **data: Any,
) -> None:
    """Twilio accepted the row's create request: mark it sent, finish its send timer and log
    `<event>.sent` with `data` (the row's ids) and the SID."""
    mark_sent(store, table, row, sent, now)
    store.finish_timer(timer["id"], now, "sent")
    store.log(now, f"{event}.sent", message, sid=sent.sid, **data)


def retry_or_give_up(
    store: Store,
    defaults: Defaults,
    table: str,
    row: dict[str, Any],
    timer: dict[str, Any],
    exc: SendError,
    now: datetime,
    *,
    timer_kind: str,
    timer_incident: int,
    event: str,
    what: str,
    give_up: Callable[[int], Timers],
    data: dict[str, Any],
) -> Timers:
    """A create request failed: finish the send timer, then either schedule the next attempt
    (the shared policy: a `timer_kind` timer, logged as `<event>.retry` with `data`, saying
    "attempt N to <what> failed") or call `give_up(attempts)` for the row's own consequences.
    Returns the timers to arm."""
    attempts = row["attempts"] + 1
    store.finish_timer(timer["id"], now, "error")
    due = retry_at(defaults, attempts, exc.transient, now)
    if due is None:
        return give_up(attempts)
    retry = schedule_retry(
        store,
        table,
        row,
        timer_kind=timer_kind,
        incident_id=timer_incident,
        attempts=attempts,
        error=str(exc),
        due=due,
        now=now,
    )
    store.log(
        now,
        f"{event}.retry",
        f"attempt {attempts} to {what} failed ({exc}); retrying at {utcnow_text(due)}",
        **data,
    )
    log.warning(f"{event}.retry", attempt=attempts, error=str(exc), **data)
    return [retry]


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
