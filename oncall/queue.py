"""The next-business-day queue: what came in after hours and waits for the service desk.

A `queue` row is written in the same transaction as its source: a non-emergency alert, a
missed heartbeat outside the window, a voicemail left on the after-hours line. Its `due_at`
is the client's next support-window opening. For each (client, due_at) there is one
`digests` row and one durable `digest` timer (incident 0, ref the digest), so the morning
digest survives a restart. An item stays open until someone marks it done (`oncall queue
done ID`), and every later digest of its client lists it again until then.

Functions here take the Store and run inside the caller's transaction; they return the
timers to arm after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall.classify import Decision
from oncall.intake import Alert
from oncall.store import Store, parse_ts, utcnow_text

DIGEST = "digest"  # the timer kind; its ref is the digests row
NO_INCIDENT = 0  # timers.incident_id is required; a digest belongs to no incident
KINDS = ("call", "alert", "heartbeat")
HEARTBEAT_SOURCE = "heartbeat"  # oncall.heartbeats.SOURCE (not imported: no cycle)


class QueueError(LookupError):
    """An id that is not in the queue, or an item already done."""


@dataclass(frozen=True)
class Done:
    """One item marked done."""

    id: int
    client: str
    kind: str
    summary: str


def alert_summary(alert: Alert) -> str:
    """The queue line for a queued alert or a missed heartbeat."""
    if alert.source == HEARTBEAT_SOURCE:
        return f"Missed heartbeat {alert.host or '?'}: {alert.summary}"
    host = f" on {alert.host}" if alert.host else ""
    return f"{alert.severity} alert from {alert.source}{host}: {alert.summary}"


def voicemail_summary(from_phone: str, seconds: int | None, why: str | None) -> str:
    """'Voicemail from +18155550141 (45 s): the caller chose 'anything else''."""
    length = f" ({seconds} s)" if seconds is not None else ""
    return f"Voicemail from {from_phone}{length}: {why or 'message left after hours'}"


def queue_alert(
    store: Store, alert: Alert, alert_id: int, decision: Decision, now: datetime
) -> list[tuple[int, datetime]]:
    """Queue an alert whose decision is "queue" (kind 'heartbeat' for a missed check-in)."""
    kind = "heartbeat" if alert.source == HEARTBEAT_SOURCE else "alert"
    due = decision.next_business_start or now
    return add(store, alert.client, kind, alert_id, alert_summary(alert), now, due)


def add(
    store: Store,
    client: str,
    kind: str,
    ref: int | None,
    summary: str,
    received_at: datetime,
    due_at: datetime,
) -> list[tuple[int, datetime]]:
    """Insert one open item, make sure its digest is planned; the timers to arm."""
    assert kind in KINDS, kind
    item_id = store.insert(
        "queue",
        {
            "client": client,
            "kind": kind,
            "ref": ref,
            "summary": summary,
            "received_at": utcnow_text(received_at),
            "due_at": utcnow_text(due_at),
        },
    )
    store.log(
        received_at,
        "queue.added",
        f"queued #{item_id} ({kind}) for the service desk: {summary}",
        client=client,
        queue_id=item_id,
        item_kind=kind,
        ref=ref,
        due_at=utcnow_text(due_at),
    )
    return plan_digest(store, client, due_at)


def plan_digest(store: Store, client: str, due_at: datetime) -> list[tuple[int, datetime]]:
    """One digest row and one pending `digest` timer per (client, due_at); [] when both exist
    or that digest went out already (a later item waits for the next digest)."""
    due_text = utcnow_text(due_at)
    store.conn.execute(
        "INSERT OR IGNORE INTO digests (client, due_at) VALUES (?, ?)", (client, due_text)
    )
    digest = store.one("SELECT * FROM digests WHERE client = ? AND due_at = ?", (client, due_text))
    assert digest is not None
    if digest["sent_at"] is not None or store.one(
        "SELECT 1 FROM timers WHERE kind = ? AND ref = ? AND done_at IS NULL",
        (DIGEST, digest["id"]),
    ):
        return []
    timer_id = store.insert(
        "timers",
        {"kind": DIGEST, "incident_id": NO_INCIDENT, "ref": digest["id"], "due_at": due_text},
    )
    return [(timer_id, due_at)]


def open_items(
    store: Store, client: str | None = None, due_by: datetime | None = None
) -> list[dict[str, Any]]:
    """Open items, oldest first; only one client's, only those due by an instant."""
    clauses, params = ["done_at IS NULL"], []
    if client is not None:
        clauses.append("client = ?")
        params.append(client)
    if due_by is not None:
        clauses.append("due_at <= ?")
        params.append(utcnow_text(due_by))
    return store.all(
        f"SELECT * FROM queue WHERE {' AND '.join(clauses)} ORDER BY received_at, id", params
    )


def all_items(store: Store, client: str | None = None) -> list[dict[str, Any]]:
    """Every item, open or done, oldest first."""
    where, params = ("WHERE client = ?", [client]) if client else ("", [])
    return store.all(f"SELECT * FROM queue {where} ORDER BY received_at, id", params)


def mark_done(store: Store, ids: Sequence[int], actor: str, note: str, now: datetime) -> list[Done]:
    """Mark items done (all or none); a voicemail's `handled_at` is set too, so `oncall
    prune` may clear its recording later. Raises QueueError naming every bad id."""
    with store.transaction():
        rows = {i: store.one("SELECT * FROM queue WHERE id = ?", (i,)) for i in ids}
        unknown = [str(i) for i, row in rows.items() if row is None]
        done = [str(i) for i, row in rows.items() if row is not None and row["done_at"]]
        problems = []
        if unknown:
            problems.append(f"no queue item {', '.join(unknown)}")
        if done:
            problems.append(f"already done: {', '.join(done)}")
        if problems:
            raise QueueError("; ".join(problems))
        finished: list[Done] = []
        for item_id, row in rows.items():
            assert row is not None
            store.update(
                "queue",
                item_id,
                {"done_at": utcnow_text(now), "done_by": actor, "done_note": note or None},
            )
            if row["kind"] == "call" and row["ref"] is not None:
                store.conn.execute(
                    "UPDATE voicemails SET handled_at = ? WHERE id = ? AND handled_at IS NULL",
                    (utcnow_text(now), row["ref"]),
                )
            store.log(
                now,
                "queue.done",
                f"#{item_id} done by {actor}" + (f": {note}" if note else ""),
                actor=actor,
                client=row["client"],
                queue_id=item_id,
                item_kind=row["kind"],
                note=note,
            )
            finished.append(Done(item_id, row["client"], row["kind"], row["summary"]))
    return finished


def received(row: dict[str, Any]) -> datetime:
    return parse_ts(row["received_at"])
