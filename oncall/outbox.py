"""The outbox: SMS to people who are not techs (client contacts, the service desk).

Each message is an `outbox` row and a durable `outbox_send` timer. Sending mirrors page
delivery: transient Twilio errors are retried with the same backoff, a send a crash
interrupted is looked up at Twilio before it is sent again, and status callbacks
(`/twilio/status?outbox=<id>`) record delivery. A message that will never arrive is logged
loudly (`outbox.failed`) and the incident's owner is told by SMS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from oncall.delivery import FAILED_STATUSES
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.notify import SendError, Sent, error_meaning
from oncall.outbound import (
    RECOVERY_SLACK,
    log_recovery,
    mark_failed,
    may_have_reached_twilio,
    record_sent,
    retry_or_give_up,
    start_sending,
)
from oncall.store import parse_ts, utcnow_text
from oncall.timers import Timers

log = structlog.get_logger(__name__)

OUTBOX_SEND = "outbox_send"


class Outbox(EnginePart):
    """outbox rows → Twilio Messages → status callbacks; failures reach the incident owner."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        engine.timer_kinds[OUTBOX_SEND] = self.send

    def queue_sms(
        self,
        incident_id: int | None,
        client: str | None,
        purpose: str,
        ref: int | None,
        to_name: str | None,
        phone: str,
        body: str,
        now: datetime,
    ) -> Timers:
        """Queue one SMS (inside the caller's transaction); returns the timer to arm."""
        outbox_id = self.store.insert(
            "outbox",
            {
                "incident_id": incident_id,
                "client": client,
                "purpose": purpose,
                "ref": ref,
                "to_name": to_name,
                "phone": phone,
                "body": body,
                "state": "pending",
                "created_at": utcnow_text(now),
                "updated_at": utcnow_text(now),
            },
        )
        timer_id = self.store.insert(
            "timers",
            {
                "kind": OUTBOX_SEND,
                "incident_id": incident_id or 0,
                "ref": outbox_id,
                "due_at": utcnow_text(now),
            },
        )
        return [(timer_id, now)]

    # -- sending ----------------------------------------------------------------------------

    async def send(self, timer: dict[str, Any]) -> None:
        now = self.clock.now()
        row = self.store.one("SELECT * FROM outbox WHERE id = ?", (timer["ref"],))
        if row is None or row["state"] not in ("pending", "sending"):
            with self.store.transaction():
                self.store.finish_timer(timer["id"], now, "skipped")
            return
        notifier = self.engine.notifier
        assert notifier is not None, "sending needs a Twilio client"
        sent = await self._recover(row) if may_have_reached_twilio(row) else None
        if sent is None:
            with self.store.transaction():
                start_sending(self.store, "outbox", row["id"], now)
            callback = f"{self.catalog.config.public_url}/twilio/status?outbox={row['id']}"
            try:
                sent = await notifier.send_sms(row["phone"], row["body"], status_callback=callback)
            except SendError as exc:
                self._send_failed(timer, row, exc)
                return
        self._sent(timer, row, sent)

    def _sent(self, timer: dict[str, Any], row: dict[str, Any], sent: Sent) -> None:
        now = self.clock.now()
        with self.store.transaction():
            record_sent(
                self.store,
                "outbox",
                row,
                timer,
                sent,
                now,
                event="outbox",
                message=f"SMS to {_who(row)}: {row['body']}",
                client=row["client"],
                incident_id=row["incident_id"],
                outbox_id=row["id"],
                purpose=row["purpose"],
            )
        log.info("outbox.sent", outbox_id=row["id"], sid=sent.sid, purpose=row["purpose"])

    async def _recover(self, row: dict[str, Any]) -> Sent | None:
        """A send a crash interrupted: did Twilio get it? Ask, rather than text a client twice."""
        assert self.engine.notifier is not None
        since = parse_ts(row["updated_at"]) - RECOVERY_SLACK
        known = {
            other["twilio_sid"]
            for other in self.store.all(
                "SELECT twilio_sid FROM outbox WHERE phone = ? AND twilio_sid IS NOT NULL AND id != ?",
                (row["phone"], row["id"]),
            )
        }
        sent = await self.engine.notifier.find_sent(row["phone"], row["body"], since, known)
        now = self.clock.now()
        with self.store.transaction():
            log_recovery(
                self.store,
                now,
                "outbox",
                f"SMS {row['id']} to {_who(row)}",
                sent,
                client=row["client"],
                incident_id=row["incident_id"],
                outbox_id=row["id"],
            )
        return sent

    def _send_failed(self, timer: dict[str, Any], row: dict[str, Any], exc: SendError) -> None:
        now = self.clock.now()
        with self.store.transaction():
            # The same retry policy as pages (oncall.outbound).
            timers = retry_or_give_up(
                self.store,
                self.catalog.config.defaults,
                "outbox",
                row,
                timer,
                exc,
                now,
                timer_kind=OUTBOX_SEND,
                timer_incident=row["incident_id"] or 0,
                event="outbox",
                what=f"send SMS {row['id']} to {_who(row)}",
                give_up=lambda attempts: self.failed(row, attempts, str(exc), now),
                data={
                    "client": row["client"],
                    "incident_id": row["incident_id"],
                    "outbox_id": row["id"],
                },
            )
        self.engine.arm(timers)

    def failed(self, row: dict[str, Any], attempts: int, error: str, now: datetime) -> Timers:
        """A message that will never arrive (inside a transaction): mark it, log it loudly and
        tell the incident's owner. Returns the timers to arm."""
        mark_failed(self.store, "outbox", row["id"], attempts, error, now)
        self.store.log(
            now,
            "outbox.failed",
            f"SMS {row['id']} to {_who(row)} could not be delivered: {error}",
            client=row["client"],
            incident_id=row["incident_id"],
            outbox_id=row["id"],
            purpose=row["purpose"],
            error=error,
        )
        log.error("outbox.failed", outbox_id=row["id"], purpose=row["purpose"], error=error)
        incident = self.store.incident(row["incident_id"]) if row["incident_id"] else None
        owner = (incident.get("owner") or incident["acked_by"]) if incident else None
        if incident is None or owner not in self.catalog.techs:
            return []
        sop = self.catalog.sops.get(incident["client"])
        client_name = sop.name if sop else incident["client"]
        body = (
            f"Update to {row['to_name'] or row['phone']} ({client_name}) could not be "
            f"delivered: {error}"
        )
        position = Position(incident["pass_number"], incident["step_index"])
        return self.engine.pager.notice(incident["id"], owner, position, body, now)

    # -- Twilio status callbacks ------------------------------------------------------------

    def receive_status(self, outbox_id: int, params: dict[str, str]) -> None:
        now = self.clock.now()
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        error_code = params.get("ErrorCode") or None
        meaning = error_meaning(error_code)
        timers: Timers = []
        with self.store.transaction():
            row = (
                self.store.one("SELECT * FROM outbox WHERE twilio_sid = ?", (sid,)) if sid else None
            )
            row = row or self.store.one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
            self.store.log(
                now,
                "outbox.status",
                f"delivery status {status or '?'} for SMS {outbox_id} ({sid or 'no sid'})"
                + (f" (error {meaning})" if meaning else ""),
                client=row["client"] if row else None,
                incident_id=row["incident_id"] if row else None,
                outbox_id=row["id"] if row else outbox_id,
                sid=sid,
                status=status,
                error_code=error_code,
            )
            if row is None:
                return
            changes: dict[str, Any] = {"twilio_status": status, "updated_at": utcnow_text(now)}
            if status == "delivered" and row["state"] in ("sending", "sent"):
                changes["state"] = "delivered"
            self.store.update("outbox", row["id"], changes)
            if status in FAILED_STATUSES and row["state"] != "failed":
                reason = f"Twilio reported {status}" + (f" (error {meaning})" if meaning else "")
                timers = self.failed(row, row["attempts"], reason, now)
        self.engine.arm(timers)


def _who(row: dict[str, Any]) -> str:
    return f"{row['to_name']} ({row['phone']})" if row["to_name"] else row["phone"]
