"""The SMS inbox: record every inbound text, work out who sent it and what it means, and
act on it only if that tech may act on that incident. STOP from a tech's phone is the carrier
opt-out, never a command: the phone is marked opted out (pages go by voice) and the owner
is warned; START undoes it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall import escalation
from oncall.config import Tech
from oncall.engine_part import EnginePart
from oncall.replies import HELP_TEXT, Reply, parse_reply
from oncall.rotations import shifts
from oncall.runbook import runbook_text
from oncall.store import utcnow_text

log = structlog.get_logger(__name__)

# WHO answers for the rotations a tech has a shift in within this long either side of now.
WHO_WINDOW = timedelta(days=30)


class SmsInbox(EnginePart):
    """Inbound SMS → reply grammar → acknowledge / escalate / resolve, all logged."""

    def receive(self, params: dict[str, str]) -> str | None:
        """Record one inbound SMS and act on it; the return value is the SMS answer, if any."""
        now = self.clock.now()
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        phone = params.get("From", "")
        body = params.get("Body", "")
        timers: list[tuple[int, datetime]] = []
        acked: list[int] = []  # incidents this SMS acknowledged (live connect offers them)
        with self.store.transaction():
            if self.store.one("SELECT 1 FROM inbound_sms WHERE message_sid = ?", (sid,)):
                self.store.log(
                    now,
                    "sms.duplicate",
                    f"duplicate delivery of {sid} ignored",
                    actor=phone,
                    sid=sid,
                )
                return None
            self.store.insert(
                "inbound_sms",
                {
                    "message_sid": sid,
                    "received_at": utcnow_text(now),
                    "from_phone": phone,
                    "to_phone": params.get("To"),
                    "body": body,
                    "params": json.dumps(params, sort_keys=True),
                },
            )
            reply = parse_reply(body, params.get("OptOutType"))
            tech = self.catalog.config.tech_by_phone(phone)
            actor = tech.id if tech else phone
            incident, answer = None, None
            if reply.command in ("ack", "esc", "res", "upd", "take", "vendor", "sop") and tech:
                incident, answer = self._target(tech, reply)
            incident_id = incident["id"] if incident else None
            client = incident["client"] if incident else None
            self.store.log(
                now,
                "sms.received",
                f"SMS from {actor}: {body!r}",
                actor=actor,
                client=client,
                incident_id=incident_id,
                sid=sid,
                command=reply.command,
            )
            if reply.command == "opt_out":
                handled = "opt_out"
                self.store.log(
                    now,
                    "sms.opt_out",
                    f"{actor} sent a carrier opt-out ({body.strip()!r}): Twilio will not deliver "
                    "pages to this phone until they text START",
                    actor=actor,
                )
                log.warning("sms.opt_out", actor=actor)
                if tech is not None:
                    timers = self.engine.opt_outs.record(phone, "replied STOP", now)
            elif reply.command == "opt_in":
                handled = "opt_in"
                self.store.log(now, "sms.opt_in", f"{actor} opted back in", actor=actor)
                if tech is not None:
                    self.engine.opt_outs.opted_in(phone, now)
            elif tech is None:
                handled = "unknown_sender"
                self.store.log(
                    now,
                    "sms.unknown_sender",
                    f"SMS from unknown number {phone} ignored",
                    actor=phone,
                )
                log.warning("sms.unknown_sender", phone=phone)
            elif reply.command == "help":
                handled, answer = "help", HELP_TEXT
            elif reply.command == "unknown":
                handled, answer = "unknown", "Not understood. " + HELP_TEXT
            elif reply.command == "who":
                handled, answer = "who", self._who_text(tech, now)
            elif reply.command == "ack_all":
                handled, answer, timers, acked = self._ack_all(tech, now)
            elif incident is None:
                handled = "no_incident"
            elif reply.command == "sop":  # reading the runbook changes nothing: any tech
                handled, answer = "sop", self._runbook(incident)
            elif reply.command == "take":  # its own check: on-call techs may take over too
                handled, answer, timers = self.engine.owners.take(incident, tech, now)
            elif reply.command == "vendor":  # its own check: the owner, or a tech who may act
                handled, answer, timers = self.engine.vendor_chase.receive(
                    incident, tech, reply, now
                )
            elif reply.command == "upd" and (
                incident.get("owner") == tech.id or self._may_act(tech, incident)
            ):
                handled, answer, timers = self.engine.client_comms.update(
                    incident, tech.id, reply.note, now
                )
            elif not self._may_act(tech, incident):
                handled = "unauthorised"
                answer = f"You were not paged for #{incident_id}; nothing changed."
                self.store.log(
                    now,
                    "sms.unauthorised",
                    f"{tech.id} may not act on #{incident_id} (not paged for it)",
                    actor=tech.id,
                    client=client,
                    incident_id=incident_id,
                )
            elif reply.command == "ack":
                handled, answer, timers = self.engine.acknowledge(incident, tech.id, now)
                acked = [incident["id"]] if handled == "ack" else []
            elif reply.command == "esc":
                handled, answer, timers = self.engine.escalate_now(incident, tech.id, now)
            else:
                handled, answer, timers = self.engine.resolve(incident, tech.id, now, reply.note)
            self.store.update("inbound_sms", sid, {"handled_as": handled})
            if answer:
                self.store.log(
                    now,
                    "sms.answer",
                    f"answered {actor}: {answer}",
                    client=client,
                    incident_id=incident_id,
                    to=phone,
                )
        self.engine.arm(timers)
        if tech is not None:
            for number in acked:
                self.engine.live.offer_by_call(number, tech, now)
        return answer

    def _ack_all(
        self, tech: Tech, now: datetime
    ) -> tuple[str, str, list[tuple[int, datetime]], list[int]]:
        """Acknowledge every open incident this tech was paged for (or is a final contact of);
        also the numbers acknowledged."""
        rows = self.store.all(
            "SELECT DISTINCT i.* FROM incidents i JOIN pages p ON p.incident_id = i.id"
            " WHERE p.tech_id = ? AND p.kind != 'notice' AND i.state IN (?, ?) ORDER BY i.id",
            (tech.id, escalation.PAGING, escalation.EXHAUSTED),
        )
        acked: list[int] = []
        timers: list[tuple[int, datetime]] = []
        for incident in rows:
            if self._may_act(tech, incident):
                handled, _, more = self.engine.acknowledge(incident, tech.id, now)
                if handled == "ack":
                    acked.append(incident["id"])
                    timers += more
        if not acked:
            return "ack_all", "You have no open pages to acknowledge.", timers, acked
        numbers = ", ".join(f"#{number}" for number in acked)
        plural = "s" if len(acked) > 1 else ""
        return (
            "ack_all",
            f"Acknowledged {len(acked)} incident{plural}: {numbers}. You own them; "
            "RES <n> when each is resolved." + self.engine.owners.kept_owners(acked, tech.id),
            timers,
            acked,
        )

    def _runbook(self, incident: dict[str, Any]) -> str:
        sop = self.catalog.sops.get(incident["client"])
        if sop is None:
            return f"#{incident['id']} has no client SOP (a test page?)."
        return runbook_text(incident["id"], sop.id, sop.name, sop.runbook, incident["rule_id"])

    def _target(self, tech: Tech, reply: Reply) -> tuple[dict[str, Any] | None, str | None]:
        """The incident a command is about (bare ACK: the latest page to this phone)."""
        number = reply.incident
        if number is None:
            latest = self.store.latest_page_to(tech.phone)
            if latest is None:
                return None, "You have no page to acknowledge."
            number = latest["incident_id"]
        incident = self.store.incident(number)
        if incident is None:
            return None, f"There is no incident #{number}."
        return incident, None

    def _may_act(self, tech: Tech, incident: dict[str, Any]) -> bool:
        if incident.get("owner") == tech.id:  # e.g. assigned with `oncall assign`
            return True
        sop = self.catalog.sops.get(incident["client"])
        paged = {page["tech_id"] for page in self.store.pages_for(incident["id"])}
        return escalation.may_act(tech.id, paged, sop.escalation.final_contacts if sop else ())

    def _who_text(self, tech: Tech, now: datetime) -> str:
        """Who is on call now in the rotations this tech works (all of them if none)."""
        names = self._rotations_of(tech, now) or sorted(self.catalog.rotations)
        parts = []
        for name in names:
            people = ", ".join(t.name for t in self.catalog.on_call(name, now)) or "nobody"
            parts.append(f"{name}: {people}")
        return "On call now: " + "; ".join(parts)

    def _rotations_of(self, tech: Tech, now: datetime) -> list[str]:
        """Rotations with a shift naming this tech in the last or next WHO_WINDOW."""
        start, end = now - WHO_WINDOW, now + WHO_WINDOW
        return [
            name
            for name, rotation in sorted(self.catalog.rotations.items())
            if any(
                tech.id in shift.tech_ids
                for shift in shifts(rotation, self.catalog.techs, start, end)
            )
        ]
