"""SMS noise control, the shell: hold pages to a tech who was just texted, and send the pages
held meanwhile as one SMS ("3 open incidents: ... Reply ACK ALL").

Active only when `[defaults] tech_sms_gap` or `tech_sms_per_15m` is set (the limits are
`oncall.sms_limits`). A held page gets a new durable send timer, due when the limits allow;
when the first of them fires, every page to that phone due by then rides in its SMS (state
`bundled`, `bundle_id` = the page that carried it). If that SMS fails, every page in it
fails with it and the pager moves each incident on. Calls and notices are never held.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from oncall import escalation, sms_limits, texts
from oncall.engine_part import EnginePart
from oncall.pager import SEND
from oncall.store import parse_ts, utcnow_text

if TYPE_CHECKING:
    from oncall.engine import Engine

log = structlog.get_logger(__name__)


class SmsBundler(EnginePart):
    """Per-tech SMS limits and bundling, in front of `Delivery.transmit`."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def active(self) -> bool:
        defaults = self.catalog.config.defaults
        return sms_limits.limited(defaults.tech_sms_gap, defaults.tech_sms_per_15m)

    async def send(
        self, timer: dict[str, Any], page: dict[str, Any], incident: dict[str, Any]
    ) -> None:
        """Send this page now (with any others due to the same phone), or hold it."""
        # One phone at a time: two pages due together must not both pass the limit check.
        async with self._locks.setdefault(page["phone"], asyncio.Lock()):
            now = self.clock.now()
            fresh = self.store.one("SELECT * FROM pages WHERE id = ?", (page["id"],))
            if fresh is None or fresh["state"] not in ("pending", "sending"):
                with self.store.transaction():
                    self.store.finish_timer(timer["id"], now, "bundled")
                return
            if fresh["state"] == "pending":
                allowed = self._next_allowed(fresh["phone"], now)
                if allowed > now:
                    self._hold(timer, fresh, incident, allowed, now)
                    return
                fresh = self._bundle(fresh, now)
            await self.engine.delivery.transmit(timer, fresh, incident)

    def _next_allowed(self, phone: str, now: datetime) -> datetime:
        defaults = self.catalog.config.defaults
        horizon = max(defaults.tech_sms_gap, sms_limits.WINDOW)
        rows = self.store.all(
            "SELECT sent_at FROM pages WHERE phone = ? AND channel = 'sms' AND sent_at >= ?",
            (phone, utcnow_text(now - horizon)),
        )
        sent = [parse_ts(row["sent_at"]) for row in rows]
        return sms_limits.next_allowed(sent, now, defaults.tech_sms_gap, defaults.tech_sms_per_15m)

    def _hold(
        self,
        timer: dict[str, Any],
        page: dict[str, Any],
        incident: dict[str, Any],
        until: datetime,
        now: datetime,
    ) -> None:
        with self.store.transaction():
            # A new send timer: the running one cannot be re-armed from inside its own fire.
            self.store.finish_timer(timer["id"], now, "held")
            held_id = self.store.insert(
                "timers",
                {
                    "kind": SEND,
                    "incident_id": page["incident_id"],
                    "ref": page["id"],
                    "due_at": utcnow_text(until),
                },
            )
            self.store.log(
                now,
                "page.held",
                f"SMS to {page['tech_id']} held {texts.duration(until - now)} (SMS limits); "
                "it goes out then, with any other pages due by then",
                client=incident["client"],
                incident_id=incident["id"],
                page_id=page["id"],
                tech=page["tech_id"],
            )
        self.engine.arm([(held_id, until)])

    def _bundle(self, lead: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Fold every other page due to this phone into the lead's SMS; the lead, updated."""
        riders = [
            row
            for row in self.store.all(
                "SELECT p.*, t.id AS timer_id FROM pages p JOIN timers t"
                " ON t.kind = ? AND t.ref = p.id AND t.done_at IS NULL"
                " WHERE p.phone = ? AND p.channel = 'sms' AND p.kind != 'notice'"
                " AND p.state = 'pending' AND p.id != ? AND t.due_at <= ? ORDER BY p.id",
                (SEND, lead["phone"], lead["id"], utcnow_text(now + timedelta(seconds=1))),
            )
            if self._still_wanted(row)
        ]
        if not riders:
            return lead
        pages = [lead, *riders]
        # Oldest incident first, whichever page's timer happened to fire first.
        items = sorted((self._item(page) for page in pages), key=lambda item: item[0])
        body = texts.bundle_text(items)
        with self.store.transaction():
            self.store.update("pages", lead["id"], {"body": body, "updated_at": utcnow_text(now)})
            for rider in riders:
                self.store.update(
                    "pages",
                    rider["id"],
                    {"state": "bundled", "bundle_id": lead["id"], "updated_at": utcnow_text(now)},
                )
                self.store.finish_timer(rider["timer_id"], now, "bundled")
                self.engine.wheel.cancel(rider["timer_id"])
            self.store.log(
                now,
                "page.bundled",
                f"{len(pages)} pages to {lead['tech_id']} go as one SMS: "
                + ", ".join(f"#{number}" for number, *_ in items),
                incident_id=lead["incident_id"],
                page_id=lead["id"],
                tech=lead["tech_id"],
                incidents=[number for number, *_ in items],
            )
        log.info("page.bundled", tech=lead["tech_id"], pages=len(pages))
        fresh = self.store.one("SELECT * FROM pages WHERE id = ?", (lead["id"],))
        assert fresh is not None
        return fresh

    def _still_wanted(self, page: dict[str, Any]) -> bool:
        incident = self.store.incident(page["incident_id"])
        if incident is None or incident["state"] not in (escalation.PAGING, escalation.EXHAUSTED):
            return False
        return page["kind"] != "page" or (page["pass_number"], page["step_index"]) == (
            incident["pass_number"],
            incident["step_index"],
        )

    def _item(self, page: dict[str, Any]) -> tuple[int, str, str | None, str]:
        incident = self.store.incident(page["incident_id"])
        assert incident is not None
        sop = self.catalog.sops.get(incident["client"])
        return (
            incident["id"],
            sop.name if sop else incident["client"],
            incident["priority"],
            incident["summary"],
        )
