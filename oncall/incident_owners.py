"""Incident ownership in the engine: the owner set on acknowledgment, TAKE by SMS, `oncall
assign`, the notices to the previous owner, and the `engage` deadline that pages a later step
(engineering) when an acknowledged incident stays open too long.

The decisions are in oncall/ownership.py; this part stores them. Everything runs inside the
caller's transaction (the engage handler opens its own) and returns the timers to arm.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog

from oncall import escalation, ownership
from oncall.config import Tech
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.store import parse_ts, utcnow_text
from oncall.texts import duration
from oncall.timers import Timers

log = structlog.get_logger(__name__)

ENGAGE = "engage"


def target_gap(timer: dict[str, Any], now: datetime) -> timedelta:
    """A step without engage_after any more (SOP changed): report the lateness instead."""
    return now - parse_ts(timer["due_at"])


class IncidentOwners(EnginePart):
    """Who owns each incident, and the moves of ownership."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        engine.timer_kinds[ENGAGE] = self.engage_due

    # -- helpers ----------------------------------------------------------------------------

    def name(self, tech_id: str | None) -> str:
        tech = self.catalog.techs.get(tech_id or "")
        return tech.name if tech else (tech_id or "nobody")

    def _client_name(self, incident: dict[str, Any]) -> str:
        sop = self.catalog.sops.get(incident["client"])
        return sop.name if sop else incident["client"]

    def _position(self, incident: dict[str, Any]) -> Position:
        return Position(incident["pass_number"], incident["step_index"])

    def _notice(
        self, incident: dict[str, Any], tech_id: str | None, body: str, now: datetime
    ) -> Timers:
        if tech_id is None or tech_id not in self.catalog.techs:
            return []
        return self.engine.pager.notice(
            incident["id"], tech_id, self._position(incident), body, now
        )

    def set_owner(
        self, incident: dict[str, Any], owner: str, how: str, actor: str, now: datetime
    ) -> None:
        """Record a new owner and log `incident.owner` {owner, previous, how}."""
        previous = incident["owner"]
        self.store.update("incidents", incident["id"], {"owner": owner})
        message = (
            f"#{incident['id']} owned by {owner} ({how})"
            if previous is None
            else f"#{incident['id']} owner {previous} -> {owner} ({how} by {actor})"
        )
        self.store.log(
            now,
            "incident.owner",
            message,
            actor=actor,
            client=incident["client"],
            incident_id=incident["id"],
            owner=owner,
            previous=previous,
            how=how,
        )
        log.info("incident.owner", incident_id=incident["id"], owner=owner, how=how)

    def may_take(self, tech_id: str, incident: dict[str, Any], now: datetime) -> bool:
        if incident["owner"] == tech_id:
            return True
        sop = self.catalog.sops.get(incident["client"])
        paged = {
            p["tech_id"] for p in self.store.pages_for(incident["id"]) if p["kind"] != "notice"
        }
        if sop is None:
            return escalation.may_act(tech_id, paged, ())
        steps = sop.escalation.steps
        on_call = {
            tech.id
            for step in steps
            if step.rotation
            for tech in self.catalog.on_call(step.rotation, now)
        }
        return ownership.may_take(
            tech_id,
            paged=paged,
            final_contacts=sop.escalation.final_contacts,
            on_call_now=on_call,
            named_in_steps={t for step in steps for t in step.techs},
        )

    # -- acknowledgment (called by Engine.acknowledge) -----------------------------------------

    def acknowledged(
        self, incident: dict[str, Any], actor: str, now: datetime
    ) -> tuple[str, Timers]:
        """After an acknowledgment: the answer, and the timers (owner notice, engage deadline).
        `incident` is the row as it was before the acknowledgment."""
        number, owner = incident["id"], incident["owner"]
        timers: Timers = []
        if owner is None or owner == actor:
            if owner is None:
                self.set_owner(incident, actor, ownership.BY_ACK, actor, now)
            answer = (
                f"Acknowledged #{number}: {incident['summary']}. You own it. "
                f"RES {number} when resolved, ESC {number} to escalate."
            )
        else:
            sop = self.catalog.sops.get(incident["client"])
            index = incident["step_index"]
            label = (
                sop.escalation.steps[index].label
                if sop and index < len(sop.escalation.steps)
                else None
            )
            self.store.log(
                now,
                "incident.engaged",
                f"{actor} acknowledged #{number}; {owner} still owns it",
                actor=actor,
                client=incident["client"],
                incident_id=number,
                owner=owner,
                tech=actor,
                step=ownership.step_title(label, index),
            )
            answer = ownership.ack_kept_text(number, self.name(owner))
            body = ownership.engaged_notice(
                number, self._client_name(incident), self.name(actor), label
            )
            timers += self._notice(incident, owner, body, now)
        return answer, timers + self._arm_engage(incident, now)

    def owned_by_other(self, incident: dict[str, Any], acked_by: str | None) -> str:
        """' Bob owns it now.' when the owner is not the first acknowledger."""
        owner = incident["owner"]
        return f" {self.name(owner)} owns it now." if owner and owner != acked_by else ""

    def kept_owners(self, numbers: list[int], tech_id: str) -> str:
        """For ACK ALL: ' #12 stays with Alice Nguyen.' for incidents someone else owns."""
        kept = []
        for number in numbers:
            incident = self.store.incident(number)
            if incident is not None and incident["owner"] not in (None, tech_id):
                kept.append(f"#{number} stays with {self.name(incident['owner'])}")
        return "".join(f" {item}." for item in kept)

    def escalation_note(self, incident: dict[str, Any], actor: str) -> str:
        """For the pages of the step an owned incident is escalated to (ESC by SMS or CLI)."""
        owner = incident["owner"]
        if owner is None:
            return ""
        return ownership.escalated_note(self.name(owner), self.name(actor), actor == owner)

    # -- TAKE and assign ----------------------------------------------------------------------

    def take(self, incident: dict[str, Any], tech: Tech, now: datetime) -> tuple[str, str, Timers]:
        """`TAKE n` by SMS: (handled, answer, timers)."""
        number = incident["id"]
        if incident.get("test") and incident["state"] != escalation.RESOLVED:
            # A test page has no owner: TAKE from the phone under test acknowledges it.
            if not self.may_take(tech.id, incident, now):
                return "unauthorised", f"You were not paged for #{number}; nothing changed.", []
            return self.engine.acknowledge(incident, tech.id, now)
        allowed = self.may_take(tech.id, incident, now)
        decision = ownership.take_decision(incident["state"], incident["owner"], tech.id, allowed)
        if decision == ownership.RESOLVED:
            return "already", f"#{number} is already resolved.", []
        if decision == ownership.REFUSED:
            self.store.log(
                now,
                "sms.unauthorised",
                f"{tech.id} may not take #{number} (not paged for it, not on call for it)",
                actor=tech.id,
                client=incident["client"],
                incident_id=number,
            )
            return (
                "unauthorised",
                f"You may not take #{number}: you were not paged for it and are not on call "
                f"for {self._client_name(incident)}. Nothing changed.",
                [],
            )
        if decision == ownership.ALREADY_OWNER:
            return "take", f"You already own #{number}.", []
        previous = incident["owner"]
        timers = self._move(incident, tech.id, ownership.BY_TAKE, tech.id, now)
        if previous is not None and previous != tech.id:
            body = ownership.took_text(tech.name, number, self._client_name(incident))
            timers += self._notice(incident, previous, body, now)
        told = self.name(previous) if previous not in (None, tech.id) else None
        return "take", ownership.take_answer(number, incident["summary"], told), timers

    def assign(
        self, incident: dict[str, Any], tech_id: str, actor: str, now: datetime
    ) -> tuple[str, str, Timers]:
        """`oncall assign n TECH --as ACTOR`: (handled, answer, timers)."""
        number, previous = incident["id"], incident["owner"]
        if incident["state"] == escalation.RESOLVED:
            return "already", f"#{number} is already resolved.", []
        if incident.get("test"):
            return (
                "already",
                f"#{number} is a test page: only the phone it was sent to can acknowledge it; "
                "it has no owner.",
                [],
            )
        if previous == tech_id and incident["state"] == escalation.ACKNOWLEDGED:
            return "same", f"#{number} is already owned by {self.name(tech_id)}.", []
        timers = self._move(incident, tech_id, ownership.BY_ASSIGN, actor, now)
        by, client_name = self.name(actor), self._client_name(incident)
        if tech_id != actor:
            body = ownership.assigned_text(by, number, client_name, incident["summary"])
            timers += self._notice(incident, tech_id, body, now)
        if previous is not None and previous != tech_id:
            body = ownership.assigned_away_text(by, self.name(tech_id), number, client_name)
            timers += self._notice(incident, previous, body, now)
        was = f" (was {self.name(previous)})" if previous and previous != tech_id else ""
        return "assign", f"#{number} assigned to {self.name(tech_id)}{was}.", timers

    def _move(
        self, incident: dict[str, Any], owner: str, how: str, actor: str, now: datetime
    ) -> Timers:
        """Make `owner` the owner; an incident still paging is acknowledged too (paging stops)."""
        if incident["owner"] != owner:
            self.set_owner(incident, owner, how, actor, now)
        if not escalation.can_acknowledge(incident["state"]):
            return []
        after = self.store.incident(incident["id"])
        assert after is not None
        _, _, timers = self.engine.acknowledge(after, owner, now)
        return timers

    # -- engage: bring in a later step when the incident stays open ----------------------------

    def _arm_engage(self, incident: dict[str, Any], now: datetime) -> Timers:
        sop = self.catalog.sops.get(incident["client"])
        if sop is None:
            return []
        target = ownership.engage_target(sop.escalation, self._position(incident))
        if target is None:
            return []
        for row in self.store.all(
            "SELECT id FROM timers WHERE incident_id = ? AND kind = ? AND done_at IS NULL",
            (incident["id"], ENGAGE),
        ):
            self.store.finish_timer(row["id"], now, "superseded")
            self.engine.wheel.cancel(row["id"])
        due = now + target.after
        timer_id = self.store.insert(
            "timers",
            {
                "kind": ENGAGE,
                "incident_id": incident["id"],
                "pass_number": target.position.pass_number,
                "step_index": target.position.step_index,
                "due_at": utcnow_text(due),
            },
        )
        step = sop.escalation.steps[target.position.step_index]
        self.store.log(
            now,
            "engage.armed",
            f"#{incident['id']}: {ownership.step_title(step.label, target.position.step_index)} "
            f"is paged at {utcnow_text(due)} if still open",
            client=incident["client"],
            incident_id=incident["id"],
            step_index=target.position.step_index,
            due=utcnow_text(due),
        )
        return [(timer_id, due)]

    def engage_due(self, timer: dict[str, Any]) -> None:
        """The engage deadline: still acknowledged and open → page the engage step now."""
        now = self.clock.now()
        timers: Timers = []
        with self.store.transaction():
            incident = self.store.incident(timer["incident_id"])
            sop = self.catalog.sops.get(incident["client"]) if incident else None
            target = Position(timer["pass_number"], timer["step_index"])
            if incident is None or sop is None or target.step_index >= len(sop.escalation.steps):
                self.store.finish_timer(timer["id"], now, "stale")
                return
            stale = ownership.engage_stale(incident["state"], self._position(incident), target)
            if stale is not None:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            self.store.finish_timer(timer["id"], now, "fired")
            step = sop.escalation.steps[target.step_index]
            title = ownership.step_title(step.label, target.step_index)
            waited = step.engage_after or target_gap(timer, now)
            self.store.log(
                now,
                "incident.engage",
                f"#{incident['id']} still open {duration(waited)} after acknowledgment: "
                f"paging {title}",
                client=incident["client"],
                incident_id=incident["id"],
                owner=incident["owner"],
                step_index=target.step_index,
            )
            owner = incident["owner"]
            note = ownership.engage_note(self.name(owner) if owner else None, waited)
            plan = escalation.plan_from(sop.escalation, target, now, self.engine._who(now))
            timers = self.engine._apply_plan(incident["id"], sop, plan, now, "engage", note)
            body = (
                f"#{incident['id']} ({sop.name}) still open {duration(waited)} after "
                f"ack: paging {title}. You still own it."
            )
            timers += self._notice(incident, owner, body, now)
        self.engine.arm(timers)
