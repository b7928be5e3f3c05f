"""Vendor contacts in the engine: `VENDOR 12 isp [ticket] [note]` (SMS) and `oncall vendor`
record that a vendor is engaged, and a durable `vendor_chase` timer reminds the incident's
owner to chase that vendor every `chase_every` until the vendor is released (`done`), chased
again, or the incident is resolved.

Matching, parsing and texts are in oncall/vendors.py. Contacts are rows of `vendor_contacts`;
a row whose note is a release word (`done`) releases the vendor. A chase timer's `ref` is the
contact row it chases: any later row for that vendor on that incident makes it stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from oncall import escalation, vendors
from oncall.config import Tech
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.replies import Reply
from oncall.store import parse_ts, utcnow_text
from oncall.timers import Timers
from oncall.vendors import Vendor

log = structlog.get_logger(__name__)

VENDOR_CHASE = "vendor_chase"


class VendorChase(EnginePart):
    """Vendor contacts of incidents and the owner's reminders to chase them."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        engine.timer_kinds[VENDOR_CHASE] = self.chase_due

    def vendors_of(self, incident: dict[str, Any]) -> tuple[Vendor, ...]:
        sop = self.catalog.sops.get(incident["client"])
        return sop.vendors if sop else ()

    def contacts(self, incident_id: int) -> list[dict[str, Any]]:
        return self.store.all(
            "SELECT * FROM vendor_contacts WHERE incident_id = ? ORDER BY id", (incident_id,)
        )

    def _latest(self, incident_id: int, vendor_id: str) -> dict[str, Any] | None:
        return self.store.one(
            "SELECT * FROM vendor_contacts WHERE incident_id = ? AND vendor = ?"
            " ORDER BY id DESC LIMIT 1",
            (incident_id, vendor_id),
        )

    def may_use(self, tech_id: str, incident: dict[str, Any]) -> bool:
        """The owner, or a tech who may act on the incident (paged for it, a final contact)."""
        if incident["owner"] == tech_id:
            return True
        sop = self.catalog.sops.get(incident["client"])
        paged = {
            p["tech_id"] for p in self.store.pages_for(incident["id"]) if p["kind"] != "notice"
        }
        return escalation.may_act(tech_id, paged, sop.escalation.final_contacts if sop else ())

    # -- SMS ------------------------------------------------------------------------------------

    def receive(
        self, incident: dict[str, Any], tech: Tech, reply: Reply, now: datetime
    ) -> tuple[str, str, Timers]:
        """`VENDOR n [id] [ticket] [note]` by SMS: (handled, answer, timers)."""
        number = incident["id"]
        known = self.vendors_of(incident)
        if not reply.vendor:
            return "vendor_list", vendors.vendor_list_text(number, known), []
        if not self.may_use(tech.id, incident):
            self.store.log(
                now,
                "sms.unauthorised",
                f"{tech.id} may not log vendor contacts on #{number} (not paged for it)",
                actor=tech.id,
                client=incident["client"],
                incident_id=number,
            )
            return "unauthorised", f"You were not paged for #{number}; nothing changed.", []
        vendor = vendors.find_vendor(known, reply.vendor)
        if vendor is None:
            return "vendor_unknown", vendors.unknown_vendor_text(number, reply.vendor, known), []
        ticket, note = vendors.split_ticket(reply.note)
        return self.record(incident, vendor, ticket, note, tech.id, now)

    # -- recording ------------------------------------------------------------------------------

    def record(
        self,
        incident: dict[str, Any],
        vendor: Vendor,
        ticket: str | None,
        note: str,
        actor: str,
        now: datetime,
    ) -> tuple[str, str, Timers]:
        """Store one contact (or the release, when the note is `done`); arm the reminder."""
        number = incident["id"]
        if incident["state"] == escalation.RESOLVED:
            return "already", f"#{number} is already resolved; no vendor to chase.", []
        previous = self._latest(number, vendor.id)
        if ticket is None and previous is not None:
            ticket = previous["ticket"]  # the ticket stays the same until a new one is given
        release = vendors.is_release(note)
        if release and (previous is None or vendors.is_release(previous["note"])):
            return (
                "vendor_done",
                f"{vendor.name} was not engaged on #{number}; nothing to stop.",
                [],
            )
        contact_id = self.store.insert(
            "vendor_contacts",
            {
                "incident_id": number,
                "client": incident["client"],
                "vendor": vendor.id,
                "ticket": ticket,
                "note": note,
                "actor": actor,
                "at": utcnow_text(now),
            },
        )
        if release:
            self.store.log(
                now,
                "vendor.released",
                f"{vendor.name} released by {actor}" + (f" (ticket {ticket})" if ticket else ""),
                actor=actor,
                client=incident["client"],
                incident_id=number,
                vendor=vendor.id,
                ticket=ticket,
                contact_id=contact_id,
            )
            return "vendor_done", vendors.released_text(number, vendor), []
        self.store.log(
            now,
            "vendor.contacted",
            f"{vendor.name} contacted by {actor}"
            + (f", ticket {ticket}" if ticket else "")
            + (f": {note}" if note else ""),
            actor=actor,
            client=incident["client"],
            incident_id=number,
            vendor=vendor.id,
            ticket=ticket,
            note=note,
            contact_id=contact_id,
        )
        log.info("vendor.contacted", incident_id=number, vendor=vendor.id)
        timers = self._arm(number, contact_id, now + vendor.chase_every)
        return "vendor", vendors.contact_text(vendor, ticket), timers

    def _arm(self, incident_id: int, contact_id: int, due: datetime) -> Timers:
        timer_id = self.store.insert(
            "timers",
            {
                "kind": VENDOR_CHASE,
                "incident_id": incident_id,
                "ref": contact_id,
                "due_at": utcnow_text(due),
            },
        )
        return [(timer_id, due)]

    # -- the reminder ---------------------------------------------------------------------------

    def chase_due(self, timer: dict[str, Any]) -> None:
        """Remind the owner to chase the vendor, unless it was chased, released or resolved."""
        now = self.clock.now()
        timers: Timers = []
        with self.store.transaction():
            contact = self.store.one("SELECT * FROM vendor_contacts WHERE id = ?", (timer["ref"],))
            incident = self.store.incident(timer["incident_id"])
            stale = self._stale(contact, incident)
            if stale is not None or contact is None or incident is None:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            vendor = next(v for v in self.vendors_of(incident) if v.id == contact["vendor"])
            owner = incident["owner"] or incident["acked_by"] or contact["actor"]
            self.store.finish_timer(timer["id"], now, "fired")
            body = vendors.chase_text(
                incident["id"], vendor, contact["ticket"], now - parse_ts(contact["at"])
            )
            self.store.log(
                now,
                "vendor.chase",
                f"reminded {owner} to chase {vendor.name}",
                client=incident["client"],
                incident_id=incident["id"],
                vendor=vendor.id,
                owner=owner,
                contact_id=contact["id"],
            )
            if owner in self.catalog.techs:
                position = Position(incident["pass_number"], incident["step_index"])
                timers += self.engine.pager.notice(incident["id"], owner, position, body, now)
            timers += self._arm(incident["id"], contact["id"], now + vendor.chase_every)
        self.engine.arm(timers)

    def _stale(self, contact: dict[str, Any] | None, incident: dict[str, Any] | None) -> str | None:
        """Why a reminder no longer applies (None: remind)."""
        if contact is None or incident is None:
            return "gone"
        if incident["state"] == escalation.RESOLVED:
            return "resolved"
        latest = self._latest(incident["id"], contact["vendor"])
        if latest is not None and latest["id"] != contact["id"]:
            return "contacted again"
        if vendors.is_release(contact["note"]):
            return "released"
        if not any(v.id == contact["vendor"] for v in self.vendors_of(incident)):
            return "vendor no longer in the SOP"
        return None
