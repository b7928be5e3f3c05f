"""Handoff notices, the shell: queue due notices in SQLite, send them through Twilio, and
sleep until the next one falls due.

``[rotations] handoff_notice = true`` turns them on (``handoff_lead`` sends them early).
Which notices are due is oncall.handoff's decision; here each becomes a row of the
``handoff_notices`` table, unique per (rotation, tech, stretch start), so a notice is queued
once however often the daemon restarts. A row is sent like a page: ``sending`` is committed
before Twilio is asked, a transient failure is retried after ``defaults.retry_backoff``
(doubling) up to ``defaults.send_retries`` attempts, and a row a crash left ``sending`` is
looked up at Twilio before it is sent again. Every outcome goes to the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall import handoff
from oncall.catalog import Catalog
from oncall.engine import Engine
from oncall.notify import SendError, Sent
from oncall.outbound import RECOVERY_SLACK
from oncall.rotations import shifts
from oncall.store import parse_ts, utcnow_text

log = structlog.get_logger(__name__)

# Sleep at most this long (a suspended machine or a changed clock is noticed within it).
MAX_SLEEP = timedelta(hours=1)
# After an unexpected error, try again this much later.
ERROR_RETRY = timedelta(seconds=30)


def _stretches(catalog: Catalog, start: datetime, end: datetime) -> list[handoff.Stretch]:
    found = [
        shift
        for name in sorted(catalog.rotations)
        for shift in shifts(catalog.rotations[name], catalog.techs, start, end)
    ]
    return handoff.stretches(found)


class HandoffSender:
    """Sends the daemon's handoff notices. ``tick()`` does one round; ``run()`` loops."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Decide again now (the calendars or the settings changed)."""
        self._wake.set()

    async def run(self) -> None:
        """Tick, then sleep until the next notice or retry is due, forever (until cancelled)."""
        while True:
            self._wake.clear()
            try:
                wake_at = await self.tick()
            except Exception:  # a bug here must not stop the daemon: log it and try again
                log.exception("handoff.failed_round")
                wake_at = self.engine.clock.now() + ERROR_RETRY
            now = self.engine.clock.now()
            delay = (
                MAX_SLEEP if wake_at is None else min(max(wake_at - now, timedelta(0)), MAX_SLEEP)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay.total_seconds())

    async def tick(self) -> datetime | None:
        """Queue the notices due now, send what is pending; when to look again (None: not
        before MAX_SLEEP)."""
        now = self.engine.clock.now()
        catalog = self.engine.catalog
        settings = catalog.config.rotation_settings
        wake_at: list[datetime] = []
        if settings.handoff_notice:
            start, end = handoff.window(now, settings.handoff_lead)
            found = await asyncio.to_thread(_stretches, catalog, start, end)
            sent = self._known(start)
            self._queue(catalog, handoff.due(found, sent, now, settings.handoff_lead), now)
            upcoming = handoff.next_due(found, sent, now, settings.handoff_lead)
            if upcoming is not None:
                wake_at.append(upcoming)
        retry = await self.send_pending()
        if retry is not None:
            wake_at.append(retry)
        return min(wake_at, default=None)

    # -- the table ----------------------------------------------------------------------

    def _known(self, since: datetime) -> set[handoff.Key]:
        rows = self.engine.store.all(
            "SELECT rotation, tech_id, shift_start FROM handoff_notices WHERE shift_start >= ?",
            (utcnow_text(since),),
        )
        return {(r["rotation"], r["tech_id"], parse_ts(r["shift_start"])) for r in rows}

    def _queue(self, catalog: Catalog, due: Sequence[handoff.Stretch], now: datetime) -> None:
        store = self.engine.store
        with store.transaction():
            for stretch in due:
                tech = catalog.techs.get(stretch.tech_id)
                if tech is None:
                    continue
                store.conn.execute(
                    "INSERT OR IGNORE INTO handoff_notices (rotation, tech_id, shift_start,"
                    " shift_end, phone, body, state, due_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                    (
                        stretch.rotation,
                        stretch.tech_id,
                        utcnow_text(stretch.start),
                        utcnow_text(stretch.end),
                        tech.phone,
                        handoff.notice_text(stretch, now, catalog.config.timezone),
                        utcnow_text(now),
                        utcnow_text(now),
                        utcnow_text(now),
                    ),
                )

    # -- sending ------------------------------------------------------------------------

    async def send_pending(self) -> datetime | None:
        """Send every row due now; when the next retry is due (None: no row waits)."""
        store = self.engine.store
        now = self.engine.clock.now()
        rows = store.all(
            "SELECT * FROM handoff_notices WHERE state IN ('pending', 'sending') AND due_at <= ?"
            " ORDER BY due_at, id",
            (utcnow_text(now),),
        )
        for row in rows:
            await self._send(row)
        later = store.one("SELECT min(due_at) AS due FROM handoff_notices WHERE state = 'pending'")
        return parse_ts(later["due"]) if later and later["due"] else None

    async def _send(self, row: dict[str, Any]) -> None:
        now = self.engine.clock.now()
        if parse_ts(row["shift_end"]) <= now:
            self._finish(row, "expired", "handoff.expired", "the shift ended before it went out")
            return
        if self.engine.opt_outs.is_opted_out(row["phone"]):
            self._finish(row, "failed", "handoff.failed", "the phone opted out of SMS (STOP)")
            return
        notifier = self.engine.notifier
        assert notifier is not None, "sending needs a Twilio client"
        sent: Sent | None = None
        if row["state"] == "sending":  # a crash came between asking Twilio and recording it
            since = parse_ts(row["updated_at"]) - RECOVERY_SLACK
            sent = await notifier.find_sent(row["phone"], row["body"], since)
        if sent is None:
            self._update(row, {"state": "sending"})
            try:
                sent = await notifier.send_sms(row["phone"], row["body"], status_callback=None)
            except SendError as exc:
                self._send_failed(row, exc)
                return
        self._sent(row, sent)

    def _sent(self, row: dict[str, Any], sent: Sent) -> None:
        now = self.engine.clock.now()
        store = self.engine.store
        with store.transaction():
            self._update(
                row, {"state": "sent", "attempts": row["attempts"] + 1, "twilio_sid": sent.sid}
            )
            store.log(
                now,
                "handoff.sent",
                f"handoff notice SMS to {self._who(row)}: {row['body']}",
                **self._details(row),
                sid=sent.sid,
            )
        log.info("handoff.sent", rotation=row["rotation"], tech=row["tech_id"], sid=sent.sid)

    def _send_failed(self, row: dict[str, Any], exc: SendError) -> None:
        settings = self.engine.catalog.config.defaults
        now = self.engine.clock.now()
        attempts = row["attempts"] + 1
        if exc.transient and attempts < settings.send_retries:
            due = now + settings.retry_backoff * (2 ** (attempts - 1))
            with self.engine.store.transaction():
                self._update(
                    row,
                    {
                        "state": "pending",
                        "attempts": attempts,
                        "error": str(exc),
                        "due_at": utcnow_text(due),
                    },
                )
                self.engine.store.log(
                    now,
                    "handoff.retry",
                    f"handoff notice SMS to {self._who(row)} failed ({exc}); retrying",
                    **self._details(row),
                    attempt=attempts,
                    retry_at=utcnow_text(due),
                )
            log.warning(
                "handoff.retry", rotation=row["rotation"], tech=row["tech_id"], error=str(exc)
            )
            return
        self._finish({**row, "attempts": attempts}, "failed", "handoff.failed", str(exc))

    def _finish(self, row: dict[str, Any], state: str, kind: str, reason: str) -> None:
        now = self.engine.clock.now()
        with self.engine.store.transaction():
            self._update(row, {"state": state, "attempts": row["attempts"], "error": reason})
            self.engine.store.log(
                now,
                kind,
                f"handoff notice SMS to {self._who(row)} not sent: {reason}",
                **self._details(row),
            )
        if state == "failed":
            log.error("handoff.failed", rotation=row["rotation"], tech=row["tech_id"], error=reason)
        else:
            log.info(kind, rotation=row["rotation"], tech=row["tech_id"], reason=reason)

    def _update(self, row: dict[str, Any], changes: dict[str, Any]) -> None:
        now = utcnow_text(self.engine.clock.now())
        self.engine.store.update("handoff_notices", row["id"], {**changes, "updated_at": now})

    def _who(self, row: dict[str, Any]) -> str:
        tech = self.engine.catalog.techs.get(row["tech_id"])
        return f"{tech.name if tech else row['tech_id']} ({row['phone']})"

    @staticmethod
    def _details(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "notice_id": row["id"],
            "rotation": row["rotation"],
            "tech": row["tech_id"],
            "shift_start": row["shift_start"],
        }
