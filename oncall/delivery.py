"""Delivery: hand queued pages to Twilio (SMS or voice call), retry what failed, track status.

A page that cannot be delivered (retries used up; Twilio reports the SMS failed/undelivered,
or the call busy/no-answer/failed/canceled) is a definite failure: the pager moves to the
tech's next channel, or to the next escalation step, at once instead of waiting out the
timeout. Status callbacks for calls are also recorded against the call (`calls` table).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from oncall import call_log, escalation
from oncall.engine_part import EnginePart
from oncall.notify import OPTED_OUT, SendError, Sent, error_meaning
from oncall.outbound import (
    RECOVERY_SLACK,
    log_recovery,
    mark_failed,
    may_have_reached_twilio,
    record_sent,
    retry_or_give_up,
    start_sending,
)
from oncall.pager import SEND
from oncall.store import parse_ts, utcnow_text

log = structlog.get_logger(__name__)

__all__ = ["SEND", "Delivery"]

FAILED_STATUSES = {"failed", "undelivered", "busy", "no-answer", "canceled"}


class Delivery(EnginePart):
    """The outbox side of the engine: pages rows → Twilio Messages/Calls → status callbacks."""

    async def send(self, timer: dict[str, Any]) -> None:
        page = self.store.one("SELECT * FROM pages WHERE id = ?", (timer["ref"],))
        incident = self.store.incident(timer["incident_id"])
        now = self.clock.now()
        if page is None or incident is None or page["state"] not in ("pending", "sending"):
            with self.store.transaction():
                self.store.finish_timer(timer["id"], now, "skipped")
            return
        if page["kind"] != "notice" and self._settled(page, incident):
            with self.store.transaction():
                self.store.update(
                    "pages", page["id"], {"state": "cancelled", "updated_at": utcnow_text(now)}
                )
                self.store.finish_timer(timer["id"], now, "cancelled")
            return
        if page["channel"] == "sms" and self.engine.opt_outs.is_opted_out(page["phone"]):
            # Twilio would refuse it (21610); do not ask, go straight to the fallback.
            exc = SendError("the phone opted out of SMS (STOP)", transient=False, code=OPTED_OUT)
            self._send_failed(timer, page, exc)
            return
        if page["channel"] == "sms" and page["kind"] != "notice" and self.engine.bundler.active:
            await self.engine.bundler.send(timer, page, incident)
            return
        await self.transmit(timer, page, incident)

    async def transmit(
        self, timer: dict[str, Any], page: dict[str, Any], incident: dict[str, Any]
    ) -> None:
        """Hand one page to Twilio (asking first, after a crash, whether it already has it)."""
        now = self.clock.now()
        notifier = self.engine.notifier
        assert notifier is not None, "sending needs a Twilio client"
        sent = None
        if may_have_reached_twilio(page):
            sent = await self._recover(page, incident)
        if sent is None:
            with self.store.transaction():
                start_sending(self.store, "pages", page["id"], now)
            base = self.catalog.config.public_url
            callback = f"{base}/twilio/status?page={page['id']}"
            try:
                if page["channel"] == "voice":
                    sent = await notifier.place_call(
                        page["phone"],
                        url=f"{base}/twilio/voice/page?page={page['id']}",
                        status_callback=callback,
                    )
                else:
                    sent = await notifier.send_sms(
                        page["phone"], page["body"], status_callback=callback
                    )
            except SendError as exc:
                self._send_failed(timer, page, exc)
                return
        self._sent(timer, page, incident, sent)

    def _settled(self, page: dict[str, Any], incident: dict[str, Any]) -> bool:
        """Nothing left to page for: acknowledged, resolved, or a call from a step gone by."""
        if incident["state"] in (escalation.ACKNOWLEDGED, escalation.RESOLVED):
            return True
        return (
            page["kind"] == "page"
            and incident["state"] == escalation.PAGING
            and (page["pass_number"], page["step_index"])
            != (incident["pass_number"], incident["step_index"])
        )

    def _sent(
        self, timer: dict[str, Any], page: dict[str, Any], incident: dict[str, Any], sent: Sent
    ) -> None:
        now = self.clock.now()
        tech = self.catalog.techs.get(page["tech_id"])
        who = f"{tech.name if tech else page['tech_id']} ({page['phone']})"
        with self.store.transaction():
            record_sent(
                self.store,
                "pages",
                page,
                timer,
                sent,
                now,
                event="page",
                message=(
                    f"voice call to {who} for #{incident['id']}"
                    if page["channel"] == "voice"
                    else f"SMS to {who}: {page['body']}"
                ),
                client=incident["client"],
                incident_id=incident["id"],
                page_id=page["id"],
                tech=page["tech_id"],
                channel=page["channel"],
            )
        log.info(
            "page.sent",
            incident_id=incident["id"],
            page_id=page["id"],
            sid=sent.sid,
            channel=page["channel"],
        )

    async def _recover(self, page: dict[str, Any], incident: dict[str, Any]) -> Sent | None:
        """A send a crash interrupted: did Twilio get it? Ask, rather than page twice."""
        assert self.engine.notifier is not None
        since = parse_ts(page["updated_at"]) - RECOVERY_SLACK
        # What Twilio sent this phone for other rows is not this page (another incident's call,
        # the same text in an earlier pass).
        known = {
            row["sid"]
            for row in self.store.all(
                "SELECT twilio_sid AS sid FROM pages WHERE phone = ? AND twilio_sid IS NOT NULL"
                " AND id != ? AND created_at >= ?"
                " UNION SELECT call_sid FROM calls WHERE to_phone = ? AND started_at >= ?"
                " AND (page_id IS NULL OR page_id != ?)",
                (
                    page["phone"],
                    page["id"],
                    utcnow_text(since - RECOVERY_SLACK),
                    page["phone"],
                    utcnow_text(since - RECOVERY_SLACK),
                    page["id"],
                ),
            )
        }
        if page["channel"] == "voice":
            sent = await self.engine.notifier.find_call(page["phone"], since, known)
        else:
            sent = await self.engine.notifier.find_sent(page["phone"], page["body"], since, known)
        now = self.clock.now()
        with self.store.transaction():
            log_recovery(
                self.store,
                now,
                "page",
                f"page {page['id']} to {page['tech_id']}",
                sent,
                client=incident["client"],
                incident_id=incident["id"],
                page_id=page["id"],
            )
        return sent

    def _send_failed(self, timer: dict[str, Any], page: dict[str, Any], exc: SendError) -> None:
        now = self.clock.now()
        with self.store.transaction():
            timers = retry_or_give_up(
                self.store,
                self.catalog.config.defaults,
                "pages",
                page,
                timer,
                exc,
                now,
                timer_kind=SEND,
                timer_incident=page["incident_id"],
                event="page",
                what=f"reach Twilio for {page['tech_id']}",
                give_up=lambda attempts: self.page_failed(page, attempts, str(exc), now, exc.code),
                data={"incident_id": page["incident_id"], "page_id": page["id"]},
            )
        self.engine.arm(timers)

    def page_failed(
        self,
        page: dict[str, Any],
        attempts: int,
        error: str,
        now: datetime,
        code: int | None = None,
    ) -> list[tuple[int, datetime]]:
        """A page that will never arrive (inside a transaction): mark it, then let the pager
        pick the next channel or step. Returns the timers to arm."""
        mark_failed(self.store, "pages", page["id"], attempts, error, now)
        incident = self.store.incident(page["incident_id"])
        assert incident is not None
        channel = "voice call" if page["channel"] == "voice" else "SMS"
        self.store.log(
            now,
            "page.failed",
            f"{channel} to {page['tech_id']} failed: {error}",
            client=incident["client"],
            incident_id=incident["id"],
            page_id=page["id"],
            channel=page["channel"],
            error_code=code,
        )
        log.error("page.failed", page_id=page["id"], tech=page["tech_id"], error=error)
        timers = self.engine.pager.after_failure(page, code, now)
        # The pages that rode in this SMS failed with it.
        for rider in self.store.all(
            "SELECT * FROM pages WHERE bundle_id = ? AND state = 'bundled' ORDER BY id",
            (page["id"],),
        ):
            timers += self.page_failed(
                rider, rider["attempts"], f"the SMS carrying it failed: {error}", now, code
            )
        return timers

    # -- Twilio status callbacks ------------------------------------------------------------

    def receive_status(self, page_id: int | None, params: dict[str, str]) -> None:
        now = self.clock.now()
        call_sid = params.get("CallSid", "")
        sid = params.get("MessageSid") or params.get("SmsSid") or call_sid
        status = (
            params.get("MessageStatus") or params.get("SmsStatus") or params.get("CallStatus") or ""
        ).lower()
        error_code = params.get("ErrorCode") or None
        code = int(error_code) if error_code and error_code.isdigit() else None
        meaning = error_meaning(error_code)
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            page = None
            if sid:
                page = self.store.one("SELECT * FROM pages WHERE twilio_sid = ?", (sid,))
            if page is None and page_id is not None:
                page = self.store.one("SELECT * FROM pages WHERE id = ?", (page_id,))
            what = "call" if call_sid else "message"
            self.store.log(
                now,
                "page.status",
                f"delivery status {status or '?'} for {sid or f'unknown {what}'}"
                + (f" (error {meaning})" if meaning else ""),
                client=self._client_of(page),
                incident_id=page["incident_id"] if page else None,
                page_id=page["id"] if page else None,
                sid=sid,
                status=status,
                error_code=error_code,
                answered_by=params.get("AnsweredBy"),
            )
            if meaning:
                log.warning("page.error_code", sid=sid, status=status, error=meaning)
            if call_sid:
                call_log.status(self.store, call_sid, params, now, page)
            if page is None:
                return
            self.store.update(
                "pages",
                page["id"],
                {"twilio_status": status, "updated_at": utcnow_text(now)}
                | ({"error": f"Twilio error {meaning}"} if meaning else {}),
            )
            if status in FAILED_STATUSES and page["state"] != "failed":
                timers = self.page_failed(
                    page,
                    page["attempts"],
                    f"Twilio reported {status}" + (f" (error {meaning})" if meaning else ""),
                    now,
                    code,
                )
        self.engine.arm(timers)

    def _client_of(self, page: dict[str, Any] | None) -> str | None:
        incident = self.store.incident(page["incident_id"]) if page else None
        return incident["client"] if incident else None
