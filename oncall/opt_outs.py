"""SMS opt-outs: a tech's phone that replied STOP (or that Twilio refuses with error 21610).

Twilio delivers no SMS to that phone until it texts START, so while it is opted out the tech
is paged by voice call instead (`oncall.escalation.ladder`), and the owner (`daemon.owner`)
is warned once, as a notice attached to an incident: the one the STOP answered, or else the
next one that pages the tech. The opt-out is kept in SQLite (`sms_opt_outs`), so a restart
does not forget it.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from oncall import texts
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.store import utcnow_text
from oncall.timers import Timers

log = structlog.get_logger(__name__)


class SmsOptOuts(EnginePart):
    """Which tech phones refuse SMS, and the owner's warning about each."""

    def is_opted_out(self, phone: str) -> bool:
        return (
            self.store.one("SELECT 1 AS x FROM sms_opt_outs WHERE phone = ?", (phone,)) is not None
        )

    def record(
        self,
        phone: str,
        source: str,
        now: datetime,
        incident_id: int | None = None,
        position: Position | None = None,
    ) -> Timers:
        """Mark the phone opted out (inside the caller's transaction) and warn the owner.

        Without an incident to attach the warning to, the latest page to the phone gives one;
        a phone never paged gets its warning with its first page.
        """
        tech = self.catalog.config.tech_by_phone(phone)
        if not self.is_opted_out(phone):
            self.store.insert(
                "sms_opt_outs",
                {
                    "phone": phone,
                    "tech_id": tech.id if tech else None,
                    "opted_out_at": utcnow_text(now),
                    "source": source,
                },
            )
            self.store.log(
                now,
                "sms.opted_out",
                f"{tech.id if tech else phone} ({phone}) opted out of SMS ({source}): pages go "
                "by voice call until they text START",
                actor=tech.id if tech else phone,
                incident_id=incident_id,
                phone=phone,
                source=source,
            )
            log.warning("sms.opted_out", phone=phone, source=source)
        if incident_id is None:
            latest = self.store.latest_page_to(phone)
            if latest is None:
                return []
            incident_id = latest["incident_id"]
            position = Position(latest["pass_number"], latest["step_index"])
        return self.warn_owner(phone, incident_id, position or Position(0, 0), now)

    def opted_in(self, phone: str, now: datetime) -> None:
        """The phone texted START: SMS reaches it again (inside the caller's transaction)."""
        if not self.is_opted_out(phone):
            return
        self.store.conn.execute("DELETE FROM sms_opt_outs WHERE phone = ?", (phone,))
        tech = self.catalog.config.tech_by_phone(phone)
        self.store.log(
            now,
            "sms.opted_in",
            f"{tech.id if tech else phone} ({phone}) opted back in: pages go by SMS again",
            actor=tech.id if tech else phone,
            phone=phone,
        )

    def warn_owner(self, phone: str, incident_id: int, position: Position, now: datetime) -> Timers:
        """Tell the owner once per opt-out, as a notice on this incident."""
        row = self.store.one("SELECT * FROM sms_opt_outs WHERE phone = ?", (phone,))
        if row is None or row["owner_warned_at"] is not None:
            return []
        self.store.conn.execute(
            "UPDATE sms_opt_outs SET owner_warned_at = ? WHERE phone = ?",
            (utcnow_text(now), phone),
        )
        tech = self.catalog.config.tech_by_phone(phone)
        name = tech.name if tech else phone
        owner = self.catalog.config.owner
        if owner is None or owner not in self.catalog.techs:
            self.store.log(
                now,
                "owner.unset",
                f"nobody was told that {name} ({phone}) opted out of SMS: set daemon.owner "
                "in config.toml",
                incident_id=incident_id,
                phone=phone,
            )
            log.error("owner.unset", phone=phone)
            return []
        body = texts.opt_out_warning(name, phone, self.catalog.config.twilio.from_number)
        self.store.log(
            now,
            "owner.warned",
            f"told {owner} that {name} ({phone}) opted out of SMS",
            incident_id=incident_id,
            phone=phone,
            owner=owner,
        )
        return self.engine.pager.notice(incident_id, owner, position, body, now)
