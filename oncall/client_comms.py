"""Keeping the client informed during an incident: the first message when a tech takes the
incident, the tech's updates (UPD) forwarded, reminders to the owner when an update is due,
the final contacts told when one is missed, and the closing message on resolve.

Every client text is a `client_updates` row (what the client got) and one outbox SMS per
contact. Timers: `update_due` (ref = the client_updates row whose promised time it chases)
and `update_overdue` (same ref); both are stale once a newer update exists or the incident
is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from oncall import client_updates as cu
from oncall import escalation
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.sops import Sop
from oncall.store import parse_ts, utcnow_text
from oncall.timers import Timers

log = structlog.get_logger(__name__)

UPDATE_DUE = "update_due"
UPDATE_OVERDUE = "update_overdue"
PURPOSE = "client_update"
# Resolve notes the engine writes for its own log, not for the client.
INTERNAL_NOTES = frozenset({"by phone"})
UPD_HELP = (
    "UPD {n} <what is known, next action, next update time>, "
    "e.g. UPD {n} Server restarting, next update 02:30"
)


@dataclass(frozen=True)
class Sent:
    """One client text recorded and queued."""

    update_id: int
    recipients: int
    next_due: datetime | None
    timers: Timers


class ClientComms(EnginePart):
    """The client_updates rows, their outbox SMS and the owner's update reminders."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        engine.timer_kinds[UPDATE_DUE] = self._update_due
        engine.timer_kinds[UPDATE_OVERDUE] = self._update_overdue

    # -- the three client texts -------------------------------------------------------------

    def acknowledged(self, incident_id: int, now: datetime) -> Timers:
        """The incident has an owner: send the first message, once per incident (inside the
        acknowledging transaction)."""
        incident = self.store.incident(incident_id)
        sop = self.catalog.sops.get(incident["client"]) if incident else None
        if incident is None or incident.get("test") or sop is None or self._sent_any(incident_id):
            return []
        cadence = sop.client_updates.cadence(incident["priority"])
        if cadence is None or not sop.client_updates.recipients(incident["priority"]):
            return []
        due = now + cadence
        body = self._render(sop, incident, "first", next_due=due, now=now)
        return self._send(sop, incident, "first", "oncall", body, due, now).timers

    def update(
        self, incident: dict[str, Any], actor: str, text: str, now: datetime
    ) -> tuple[str, str, Timers]:
        """A tech's update (UPD by SMS or `oncall update`) forwarded to the client's contacts."""
        number = incident["id"]
        sop = self.catalog.sops.get(incident["client"])
        if not text.strip():
            return "upd_help", UPD_HELP.format(n=number), []
        if incident["state"] == escalation.RESOLVED:
            closed = self.store.one(
                "SELECT 1 FROM client_updates WHERE incident_id = ? AND kind = 'closing'",
                (number,),
            )
            told = "the client got the closing message" if closed else "nothing sent"
            return "already", f"#{number} is already resolved; {told}.", []
        cadence = sop.client_updates.cadence(incident["priority"]) if sop else None
        if (
            sop is None
            or cadence is None
            or not sop.client_updates.recipients(incident["priority"])
        ):
            return (
                "no_contacts",
                f"#{number}: {sop.name if sop else incident['client']} has no client update "
                f"contacts for {incident['priority'] or 'this priority'}; nothing sent.",
                [],
            )
        due, message, named = cu.next_due(text, now, sop.timezone, cadence)
        body = self._render(
            sop, incident, "update", next_due=due, message=cu.sentence(message), now=now
        )
        sent = self._send(sop, incident, "update", actor, body, due, now)
        plural = "s" if sent.recipients != 1 else ""
        answer = (
            f"Sent to {sent.recipients} {sop.name} contact{plural}. "
            f"Next update due {cu.client_time(due, sop.timezone, now)}."
        )
        if not named and message != text.strip():
            answer += " (The next update time you gave is not within 24 hours.)"
        return "upd", answer, sent.timers

    def resolved(self, incident: dict[str, Any], note: str, now: datetime) -> tuple[str, Timers]:
        """The incident is resolved (inside its transaction): stop the reminders and, if the
        client has heard about it, send the closing message with the resolve note. Returns a
        sentence for the resolving tech (or "") and the timers to arm."""
        for kind in (UPDATE_DUE, UPDATE_OVERDUE):
            for row in self.store.all(
                "SELECT id FROM timers WHERE incident_id = ? AND kind = ? AND done_at IS NULL",
                (incident["id"], kind),
            ):
                self.store.finish_timer(row["id"], now, "resolved")
                self.engine.wheel.cancel(row["id"])
        sop = self.catalog.sops.get(incident["client"])
        if sop is None or not self._sent_any(incident["id"]):
            return "", []
        if self.store.one(
            "SELECT 1 FROM client_updates WHERE incident_id = ? AND kind = 'closing'",
            (incident["id"],),
        ):
            return "", []
        note = "" if note.strip() in INTERNAL_NOTES else cu.sentence(note)
        body = self._render(sop, incident, "closing", note=note)
        sent = self._send(sop, incident, "closing", "oncall", body, None, now)
        if not sent.recipients:
            return "", sent.timers
        plural = "s" if sent.recipients != 1 else ""
        return (
            f" Closing message sent to {sent.recipients} {sop.name} contact{plural}.",
            sent.timers,
        )

    # -- reminders --------------------------------------------------------------------------

    def _update_due(self, timer: dict[str, Any]) -> None:
        """An update promised to the client is due: remind the owner; finals after grace."""
        now = self.clock.now()
        timers: Timers = []
        with self.store.transaction():
            incident, sop = self._still_due(timer, now)
            if incident is None or sop is None:
                return
            self.store.finish_timer(timer["id"], now, "fired")
            due = parse_ts(timer["due_at"])
            owner = incident.get("owner") or incident["acked_by"]
            self.store.log(
                now,
                "client_update.due",
                f"client update due for #{incident['id']} ({sop.name}); reminding "
                f"{owner or 'nobody (no owner)'}",
                client=sop.id,
                incident_id=incident["id"],
                owner=owner,
                due=utcnow_text(due),
            )
            if owner in self.catalog.techs:
                body = (
                    f"Client update due for #{incident['id']} ({sop.name}): reply UPD "
                    f"{incident['id']} <what is known, next action, next update time>"
                )
                timers += self._notice(incident, owner, body, now)
            overdue = due + sop.client_updates.grace
            timers += self._timer(UPDATE_OVERDUE, incident["id"], timer["ref"], overdue)
        self.engine.arm(timers)

    def _update_overdue(self, timer: dict[str, Any]) -> None:
        """Still no update after the grace: tell the final contacts, keep reminding."""
        now = self.clock.now()
        timers: Timers = []
        with self.store.transaction():
            incident, sop = self._still_due(timer, now)
            if incident is None or sop is None:
                return
            self.store.finish_timer(timer["id"], now, "fired")
            due = parse_ts(timer["due_at"]) - sop.client_updates.grace
            owner = incident.get("owner") or incident["acked_by"]
            owner_tech = self.catalog.techs.get(owner) if owner else None
            who = owner_tech.name if owner_tech else (owner or "nobody")
            finals = [t for t in sop.escalation.final_contacts if t in self.catalog.techs]
            self.store.log(
                now,
                "client_update.missed",
                f"#{incident['id']} ({sop.name}): {who} has not updated the client "
                f"(due {cu.client_time(due, sop.timezone, now)}); telling {', '.join(finals) or 'nobody'}",
                client=sop.id,
                incident_id=incident["id"],
                owner=owner,
                due=utcnow_text(due),
            )
            log.warning("client_update.missed", incident_id=incident["id"], owner=owner)
            body = (
                f"#{incident['id']} {sop.name}: owner {who} has not updated the client "
                f"(due {cu.client_time(due, sop.timezone, now)})"
            )
            for tech_id in finals:
                timers += self._notice(incident, tech_id, body, now)
            cadence = sop.client_updates.cadence(incident["priority"])
            if cadence is not None:
                timers += self._timer(UPDATE_DUE, incident["id"], timer["ref"], due + cadence)
        self.engine.arm(timers)

    def _still_due(
        self, timer: dict[str, Any], now: datetime
    ) -> tuple[dict[str, Any] | None, Sop | None]:
        """The incident and SOP if this reminder still matters; else finish it as stale."""
        incident = self.store.incident(timer["incident_id"])
        sop = self.catalog.sops.get(incident["client"]) if incident else None
        newer = self.store.one(
            "SELECT 1 FROM client_updates WHERE incident_id = ? AND id > ?",
            (timer["incident_id"], timer["ref"]),
        )
        if incident is None or sop is None or incident["state"] == escalation.RESOLVED or newer:
            self.store.finish_timer(timer["id"], now, "stale")
            return None, None
        return incident, sop

    # -- helpers ----------------------------------------------------------------------------

    def _sent_any(self, incident_id: int) -> bool:
        return bool(
            self.store.one("SELECT 1 FROM client_updates WHERE incident_id = ?", (incident_id,))
        )

    def _render(
        self,
        sop: Sop,
        incident: dict[str, Any],
        kind: str,
        *,
        next_due: datetime | None = None,
        message: str = "",
        note: str = "",
        now: datetime | None = None,
    ) -> str:
        config = self.catalog.config
        template = cu.choose_template(kind, sop.client_updates.templates, config.client_templates)
        values: dict[str, Any] = {
            "company": config.company,
            "client": sop.name,
            "number": incident["id"],
            "priority": incident["priority"],
            "summary": incident["summary"],
            "message": message,
            "note": note,
            "next_update": cu.client_time(next_due, sop.timezone, now) if next_due else "",
        }
        phones = {tech.phone for tech in self.catalog.techs.values()}
        body = cu.redact(cu.render(template, values), phones)
        # Twilio refuses a body over 1600 characters (error 21617): shorten the free text
        # (the tech's words, the alert's summary), never the "next update" promise.
        for field in ("message", "note", "summary"):
            over = len(body) - cu.MAX_BODY
            if over <= 0:
                break
            # Redacted before it is cut, so a cut never leaves half a tech's number behind.
            text = cu.redact(str(values[field] or ""), phones)
            if text and f"{{{field}}}" in template:
                values[field] = cu.shorten(text, max(len(text) - over, 0))
                body = cu.redact(cu.render(template, values), phones)
        return body

    def _send(
        self,
        sop: Sop,
        incident: dict[str, Any],
        kind: str,
        author: str,
        body: str,
        next_due: datetime | None,
        now: datetime,
    ) -> Sent:
        """Record the client text, queue it to each contact, chase the next update."""
        update_id = self.store.insert(
            "client_updates",
            {
                "incident_id": incident["id"],
                "client": sop.id,
                "kind": kind,
                "body": body,
                "author": author,
                "created_at": utcnow_text(now),
                "next_due_at": utcnow_text(next_due) if next_due else None,
            },
        )
        recipients = sop.client_updates.recipients(incident["priority"])
        timers: Timers = []
        for contact in recipients:
            assert contact.phone is not None
            timers += self.engine.outbox.queue_sms(
                incident["id"], sop.id, PURPOSE, update_id, contact.name, contact.phone, body, now
            )
        names = ", ".join(c.name for c in recipients)
        self.store.log(
            now,
            "client_update.sent",
            f"{kind} client message for #{incident['id']} to {names or 'nobody'}: {body}",
            actor=author,
            client=sop.id,
            incident_id=incident["id"],
            update_id=update_id,
            update_kind=kind,
            next_due=utcnow_text(next_due) if next_due else None,
        )
        if next_due is not None:
            timers += self._timer(UPDATE_DUE, incident["id"], update_id, next_due)
        return Sent(update_id, len(recipients), next_due, timers)

    def _timer(self, kind: str, incident_id: int, ref: int, due: datetime) -> Timers:
        timer_id = self.store.insert(
            "timers",
            {"kind": kind, "incident_id": incident_id, "ref": ref, "due_at": utcnow_text(due)},
        )
        return [(timer_id, due)]

    def _notice(self, incident: dict[str, Any], tech_id: str, body: str, now: datetime) -> Timers:
        position = Position(incident["pass_number"], incident["step_index"])
        return self.engine.pager.notice(incident["id"], tech_id, position, body, now)
