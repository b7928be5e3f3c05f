"""The pager: puts pages in the outbox, and decides what follows when one cannot arrive.

A tech in a step gets one page row per channel of the step's ladder (SMS now, a voice call
`voice_after` later), each with a durable send timer, so a crash loses none of them. A tech
over their hourly paging budget gets one held-back row instead. When a page fails for good,
the tech's next channel goes out at once; an SMS the phone cannot take (opted out with STOP,
or a landline) becomes a call; and a step whose every tech is out of channels moves on now.
Everything here runs inside the caller's SQLite transaction and returns the timers to arm.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall import escalation, texts
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.notify import LANDLINE, OPTED_OUT
from oncall.sops import Step
from oncall.store import utcnow_text
from oncall.timers import Timers

log = structlog.get_logger(__name__)

SEND = "send"
# An SMS that failed with these codes is followed by a call to the same tech at once.
CALL_INSTEAD = {OPTED_OUT: "opted out of SMS (STOP)", LANDLINE: "a landline that cannot take SMS"}


class Pager(EnginePart):
    """Outbox rows and send timers for pages and notices; fallbacks after a failed page."""

    def page(
        self,
        incident_id: int,
        tech_id: str,
        kind: str,
        position: Position,
        step: Step,
        body: str,
        now: datetime,
    ) -> Timers:
        """Queue one tech's pages for a step: one per rung of the ladder, or one held row.

        A page (kind 'page' or 'exhausted') to a tech over their hourly paging budget is held
        back instead, and the incident's final contacts are told once per hour per tech.
        """
        tech = self.catalog.techs[tech_id]
        opted_out = self.engine.opt_outs.is_opted_out(tech.phone)
        rungs = escalation.ladder(step, sms_opted_out=opted_out)
        if self._over_budget(tech_id, now):
            page_id = self._insert(
                incident_id, tech_id, kind, position, body, now, rungs[0].channel, "suppressed"
            )
            return self._budget_hit(incident_id, tech_id, page_id, position, now)
        timers: Timers = []
        for rung in rungs:
            timers += self.queue(
                incident_id, tech_id, kind, position, body, now, rung.channel, now + rung.delay
            )
        if opted_out:
            timers += self.engine.opt_outs.warn_owner(tech.phone, incident_id, position, now)
        return timers

    def notice(
        self, incident_id: int, tech_id: str, position: Position, body: str, now: datetime
    ) -> Timers:
        """A message that needs no acknowledgment: an SMS, or a call to a phone that said STOP."""
        phone = self.catalog.techs[tech_id].phone
        channel = escalation.notice_channel(self.engine.opt_outs.is_opted_out(phone))
        return self.queue(incident_id, tech_id, "notice", position, body, now, channel, now)

    def queue(
        self,
        incident_id: int,
        tech_id: str,
        kind: str,
        position: Position,
        body: str,
        now: datetime,
        channel: str,
        due: datetime,
    ) -> Timers:
        """An outbox row plus a send timer: the send survives a crash before it leaves."""
        page_id = self._insert(incident_id, tech_id, kind, position, body, now, channel, "pending")
        timer_id = self.store.insert(
            "timers",
            {"kind": SEND, "incident_id": incident_id, "ref": page_id, "due_at": utcnow_text(due)},
        )
        return [(timer_id, due)]

    def _insert(
        self,
        incident_id: int,
        tech_id: str,
        kind: str,
        position: Position,
        body: str,
        now: datetime,
        channel: str,
        state: str,
    ) -> int:
        return self.store.insert(
            "pages",
            {
                "incident_id": incident_id,
                "tech_id": tech_id,
                "phone": self.catalog.techs[tech_id].phone,
                "channel": channel,
                "kind": kind,
                "pass_number": position.pass_number,
                "step_index": position.step_index,
                "body": body,
                "state": state,
                "created_at": utcnow_text(now),
                "updated_at": utcnow_text(now),
            },
        )

    # -- the paging budget ------------------------------------------------------------------

    def _over_budget(self, tech_id: str, now: datetime) -> bool:
        """Pages in the last hour, counting a step's SMS and call to one tech as one page."""
        budget = self.catalog.config.defaults.tech_pages_per_hour
        if not budget:
            return False
        row = self.store.one(
            "SELECT count(DISTINCT incident_id || '/' || pass_number || '/' || step_index || '/'"
            " || kind) AS n FROM pages WHERE tech_id = ? AND kind != 'notice'"
            " AND state != 'suppressed' AND created_at >= ?",
            (tech_id, utcnow_text(now - timedelta(hours=1))),
        )
        return bool(row and row["n"] >= budget)

    def _budget_hit(
        self, incident_id: int, tech_id: str, page_id: int, position: Position, now: datetime
    ) -> Timers:
        incident = self.store.incident(incident_id)
        assert incident is not None
        budget = self.catalog.config.defaults.tech_pages_per_hour
        self.store.log(
            now,
            "page.suppressed",
            f"page to {tech_id} held back: {budget} pages in the last hour (paging budget)",
            client=incident["client"],
            incident_id=incident_id,
            page_id=page_id,
            tech=tech_id,
        )
        log.warning("page.budget", tech=tech_id, incident_id=incident_id)
        told = self.store.one(
            "SELECT 1 FROM events WHERE kind = 'budget.exceeded' AND actor = ? AND ts >= ?",
            (tech_id, utcnow_text(now - timedelta(hours=1))),
        )
        if told:
            return []
        self.store.log(
            now,
            "budget.exceeded",
            f"paging budget hit for {tech_id} ({budget}/hour); final contacts told",
            actor=tech_id,
            client=incident["client"],
            incident_id=incident_id,
        )
        sop = self.catalog.sops.get(incident["client"])
        name = self.catalog.techs[tech_id].name
        body = texts.budget_text(name, budget, incident_id)
        timers: Timers = []
        for contact in sop.escalation.final_contacts if sop else ():
            if contact != tech_id and contact in self.catalog.techs:
                timers += self.notice(incident_id, contact, position, body, now)
        return timers

    # -- after a failure --------------------------------------------------------------------

    def after_failure(self, page: dict[str, Any], code: int | None, now: datetime) -> Timers:
        """A page failed for good (already marked so): the tech's next channel, a call instead
        of an SMS the phone cannot take, or the next step if the whole step is unreachable."""
        incident = self.store.incident(page["incident_id"])
        assert incident is not None
        still_open = incident["state"] in (escalation.PAGING, escalation.EXHAUSTED)
        timers: Timers = []
        if page["channel"] == "sms" and code == OPTED_OUT:
            position = Position(page["pass_number"], page["step_index"])
            timers += self.engine.opt_outs.record(
                page["phone"], "Twilio error 21610", now, incident["id"], position
            )
        if not still_open and page["kind"] != "notice":
            return timers
        later = self._unsent_after(page)
        if later is not None:
            timers += self._bring_forward(later, page, incident, now)
        elif page["channel"] == "sms" and code in CALL_INSTEAD:
            timers += self._call_instead(page, incident, CALL_INSTEAD[code], now)
        if page["kind"] == "page" and incident["state"] == escalation.PAGING:
            current = (incident["pass_number"], incident["step_index"])
            step_pages = [
                p
                for p in self.store.pages_for(incident["id"])
                if p["kind"] == "page" and (p["pass_number"], p["step_index"]) == current
            ]
            if (page["pass_number"], page["step_index"]) == current and (
                escalation.step_unreachable(step_pages)
            ):
                timers += self.engine.escalate_step(incident, now, "delivery failed")
        return timers

    def _unsent_after(self, page: dict[str, Any]) -> dict[str, Any] | None:
        """The same tech's next channel in the same step, still waiting to go out."""
        return self.store.one(
            "SELECT * FROM pages WHERE incident_id = ? AND tech_id = ? AND kind = ?"
            " AND pass_number = ? AND step_index = ? AND state = 'pending' AND id > ?"
            " ORDER BY id LIMIT 1",
            (
                page["incident_id"],
                page["tech_id"],
                page["kind"],
                page["pass_number"],
                page["step_index"],
                page["id"],
            ),
        )

    def _bring_forward(
        self, later: dict[str, Any], failed: dict[str, Any], incident: dict[str, Any], now: datetime
    ) -> Timers:
        timer = self.store.one(
            "SELECT id, due_at FROM timers WHERE kind = ? AND ref = ? AND done_at IS NULL",
            (SEND, later["id"]),
        )
        if timer is None:
            return []
        self.store.update("timers", timer["id"], {"due_at": utcnow_text(now)})
        self.store.log(
            now,
            "page.next_channel",
            f"{_channel_name(failed['channel'])} to {failed['tech_id']} failed: "
            f"{_channel_name(later['channel'])} now instead of at {timer['due_at']}",
            client=incident["client"],
            incident_id=incident["id"],
            page_id=later["id"],
            tech=failed["tech_id"],
        )
        return [(timer["id"], now)]

    def _call_instead(
        self, page: dict[str, Any], incident: dict[str, Any], why: str, now: datetime
    ) -> Timers:
        if page["tech_id"] not in self.catalog.techs:
            return []
        position = Position(page["pass_number"], page["step_index"])
        timers = self.queue(
            incident["id"], page["tech_id"], page["kind"], position, page["body"], now, "voice", now
        )
        self.store.log(
            now,
            "page.voice_instead",
            f"{page['tech_id']}'s phone is {why}: calling instead",
            client=incident["client"],
            incident_id=incident["id"],
            page_id=page["id"],
            tech=page["tech_id"],
        )
        return timers


def _channel_name(channel: str) -> str:
    return "voice call" if channel == "voice" else "SMS"
