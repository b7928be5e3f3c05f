"""Delivery: hand queued pages to Twilio, retry what failed, and track delivery status.

A page that cannot be delivered (retries used up, or Twilio reports it failed/undelivered)
moves the incident to its next escalation step at once instead of waiting out the timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall import escalation
from oncall.engine_part import EnginePart
from oncall.notify import SendError, Sent
from oncall.store import parse_ts, utcnow_text

log = structlog.get_logger(__name__)

SEND = "send"
FAILED_STATUSES = {"failed", "undelivered"}
# How far back (our clock vs Twilio's) a recovered send is looked for.
RECOVERY_SLACK = timedelta(seconds=60)


class Delivery(EnginePart):
    """The outbox side of the engine: pages rows → Twilio Messages → status callbacks."""

    async def send(self, timer: dict[str, Any]) -> None:
        page = self.store.one("SELECT * FROM pages WHERE id = ?", (timer["ref"],))
        incident = self.store.incident(timer["incident_id"])
        now = self.clock.now()
        if page is None or incident is None or page["state"] not in ("pending", "sending"):
            with self.store.transaction():
                self.store.finish_timer(timer["id"], now, "skipped")
            return
        if page["kind"] != "notice" and incident["state"] in (
            escalation.ACKNOWLEDGED,
            escalation.RESOLVED,
        ):
            with self.store.transaction():
                self.store.update(
                    "pages", page["id"], {"state": "cancelled", "updated_at": utcnow_text(now)}
                )
                self.store.finish_timer(timer["id"], now, "cancelled")
            return
        notifier = self.engine.notifier
        assert notifier is not None, "sending needs a Twilio client"
        sent = None
        if page["state"] == "sending":
            sent = await self._recover(page, incident)
        if sent is None:
            with self.store.transaction():
                self.store.update(
                    "pages", page["id"], {"state": "sending", "updated_at": utcnow_text(now)}
                )
            callback = f"{self.catalog.config.public_url}/twilio/status?page={page['id']}"
            try:
                sent = await notifier.send_sms(
                    page["phone"], page["body"], status_callback=callback
                )
            except SendError as exc:
                self._send_failed(timer, page, exc)
                return
        now = self.clock.now()
        tech = self.catalog.techs.get(page["tech_id"])
        with self.store.transaction():
            self.store.update(
                "pages",
                page["id"],
                {
                    "state": "sent",
                    "attempts": page["attempts"] + 1,
                    "twilio_sid": sent.sid,
                    "twilio_status": sent.status,
                    "sent_at": utcnow_text(now),
                    "updated_at": utcnow_text(now),
                },
            )
            self.store.finish_timer(timer["id"], now, "sent")
            self.store.log(
                now,
                "page.sent",
                f"SMS to {tech.name if tech else page['tech_id']} ({page['phone']}): {page['body']}",
                client=incident["client"],
                incident_id=incident["id"],
                page_id=page["id"],
                sid=sent.sid,
                tech=page["tech_id"],
            )
        log.info("page.sent", incident_id=incident["id"], page_id=page["id"], sid=sent.sid)

    async def _recover(self, page: dict[str, Any], incident: dict[str, Any]) -> Sent | None:
        """A send a crash interrupted: did Twilio get it? Ask, rather than page twice."""
        assert self.engine.notifier is not None
        since = parse_ts(page["updated_at"]) - RECOVERY_SLACK
        sent = await self.engine.notifier.find_sent(page["phone"], page["body"], since)
        now = self.clock.now()
        with self.store.transaction():
            self.store.log(
                now,
                "page.recovered" if sent else "page.resend",
                f"page {page['id']} to {page['tech_id']} was interrupted by a restart: "
                + (
                    f"Twilio has it ({sent.sid}), not sent again"
                    if sent
                    else "Twilio has no trace of it; sending again"
                ),
                client=incident["client"],
                incident_id=incident["id"],
                page_id=page["id"],
            )
        return sent

    def _send_failed(self, timer: dict[str, Any], page: dict[str, Any], exc: SendError) -> None:
        now = self.clock.now()
        settings = self.catalog.config.defaults
        attempts = page["attempts"] + 1
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            self.store.finish_timer(timer["id"], now, "error")
            if exc.transient and attempts < settings.send_retries:
                due = now + settings.retry_backoff * (2 ** (attempts - 1))
                self.store.update(
                    "pages",
                    page["id"],
                    {
                        "state": "pending",
                        "attempts": attempts,
                        "error": str(exc),
                        "updated_at": utcnow_text(now),
                    },
                )
                retry_id = self.store.insert(
                    "timers",
                    {
                        "kind": SEND,
                        "incident_id": page["incident_id"],
                        "ref": page["id"],
                        "due_at": utcnow_text(due),
                    },
                )
                timers.append((retry_id, due))
                self.store.log(
                    now,
                    "page.retry",
                    f"attempt {attempts} to reach Twilio for {page['tech_id']} failed ({exc}); retrying at {utcnow_text(due)}",
                    incident_id=page["incident_id"],
                    page_id=page["id"],
                )
                log.warning("page.retry", page_id=page["id"], attempt=attempts, error=str(exc))
            else:
                timers = self._page_failed(page, attempts, str(exc), now)
        self.engine.arm(timers)

    def _page_failed(
        self, page: dict[str, Any], attempts: int, error: str, now: datetime
    ) -> list[tuple[int, datetime]]:
        """A page that will never arrive: if its whole step failed, escalate now (in a txn)."""
        self.store.update(
            "pages",
            page["id"],
            {
                "state": "failed",
                "attempts": attempts,
                "error": error,
                "updated_at": utcnow_text(now),
            },
        )
        incident = self.store.incident(page["incident_id"])
        assert incident is not None
        self.store.log(
            now,
            "page.failed",
            f"page to {page['tech_id']} failed: {error}",
            client=incident["client"],
            incident_id=incident["id"],
            page_id=page["id"],
        )
        log.error("page.failed", page_id=page["id"], tech=page["tech_id"], error=error)
        step_pages = self.store.all(
            "SELECT state FROM pages WHERE incident_id = ? AND kind = 'page' AND pass_number = ? AND step_index = ?",
            (incident["id"], incident["pass_number"], incident["step_index"]),
        )
        same_step = (page["pass_number"], page["step_index"]) == (
            incident["pass_number"],
            incident["step_index"],
        )
        if (
            page["kind"] == "page"
            and same_step
            and incident["state"] == escalation.PAGING
            and all(p["state"] == "failed" for p in step_pages)
        ):
            return self.engine.escalate_step(incident, now, "delivery failed")
        return []

    # -- Twilio status callbacks ------------------------------------------------------------

    def receive_status(self, page_id: int | None, params: dict[str, str]) -> None:
        now = self.clock.now()
        sid = params.get("MessageSid") or params.get("SmsSid") or params.get("CallSid") or ""
        status = (
            params.get("MessageStatus") or params.get("SmsStatus") or params.get("CallStatus") or ""
        ).lower()
        error_code = params.get("ErrorCode")
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            page = None
            if sid:
                page = self.store.one("SELECT * FROM pages WHERE twilio_sid = ?", (sid,))
            if page is None and page_id is not None:
                page = self.store.one("SELECT * FROM pages WHERE id = ?", (page_id,))
            self.store.log(
                now,
                "page.status",
                f"delivery status {status or '?'} for {sid or 'unknown message'}"
                + (f" (error {error_code})" if error_code else ""),
                client=self._client_of(page),
                incident_id=page["incident_id"] if page else None,
                page_id=page["id"] if page else None,
                sid=sid,
                status=status,
                error_code=error_code,
            )
            if page is None:
                return
            self.store.update(
                "pages",
                page["id"],
                {"twilio_status": status, "updated_at": utcnow_text(now)}
                | ({"error": f"Twilio error {error_code}"} if error_code else {}),
            )
            if status in FAILED_STATUSES and page["state"] != "failed":
                timers = self._page_failed(
                    page, page["attempts"], f"Twilio reported {status} (error {error_code})", now
                )
        self.engine.arm(timers)

    def _client_of(self, page: dict[str, Any] | None) -> str | None:
        incident = self.store.incident(page["incident_id"]) if page else None
        return incident["client"] if incident else None
