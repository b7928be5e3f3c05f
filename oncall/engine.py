"""The engine: the imperative shell around the pure core (alerts, escalation, state changes).

It records every inbound event, asks the core what to do (classify, escalation, replies),
commits the outcome together with its log events in one SQLite transaction, and only then
arms timers and talks to Twilio. Timers re-read the incident before acting, so a page or a
deadline is never acted on twice and a CLI or SMS acknowledgment always wins.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from oncall import escalation, texts
from oncall.alert_intake import AlertIntake, AlertOutcome
from oncall.catalog import Catalog
from oncall.classify import Decision
from oncall.client_comms import ClientComms
from oncall.clock import Clock
from oncall.delivery import Delivery
from oncall.digest_sender import DigestSender
from oncall.escalation import Exhausted, Position, StepPlan
from oncall.heartbeat_watch import HEARTBEAT, HeartbeatWatch
from oncall.inbox import SmsInbox
from oncall.incident_owners import IncidentOwners
from oncall.intake import Alert
from oncall.live_connect import LiveConnect
from oncall.notify import Notifier
from oncall.opt_outs import SmsOptOuts
from oncall.outbox import Outbox
from oncall.pager import SEND, Pager
from oncall.phone_calls import PhoneCalls
from oncall.sms_bundles import SmsBundler
from oncall.sops import Sop
from oncall.store import Store, parse_ts, utcnow_text
from oncall.test_pages import TestPages
from oncall.timers import TimerWheel
from oncall.vendor_chase import VendorChase
from oncall.voice_paging import VoicePages

log = structlog.get_logger(__name__)

STEP_TIMEOUT = "step_timeout"


class Engine:
    """Owns the store, the timer wheel and the Twilio client for one daemon."""

    def __init__(
        self, catalog: Catalog, store: Store, notifier: Notifier | None, clock: Clock
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.wheel = TimerWheel(clock, self._fire)
        self.pager = Pager(self)
        self.delivery = Delivery(self)
        self.inbox = SmsInbox(self)
        self.opt_outs = SmsOptOuts(self)
        self.bundler = SmsBundler(self)
        self.voice = VoicePages(self)
        self.phone = PhoneCalls(self)
        self.live = LiveConnect(self)
        self.heartbeats = HeartbeatWatch(self)
        self.intake = AlertIntake(self)
        # Other durable timer kinds (reminders, digests, …): kind → handler(timer row).
        # A part registers its kind in its __init__; the handler re-reads state before acting.
        self.timer_kinds: dict[str, Callable[[dict[str, Any]], Awaitable[None] | None]] = {}
        self.test_pages = TestPages(self)
        self.owners = IncidentOwners(self)
        self.vendor_chase = VendorChase(self)
        self.outbox = Outbox(self)
        self.digests = DigestSender(self)
        self.client_comms = ClientComms(self)
        self._adopted_upto = 0  # the highest timer id seen (see adopt_timers)

    # -- start-up ---------------------------------------------------------------------------

    def rearm(self) -> int:
        """Arm every pending deadline from SQLite; overdue ones fire at once."""
        self.heartbeats.sync()
        self.digests.sync()
        self.test_pages.sync()
        top = self.store.one("SELECT COALESCE(MAX(id), 0) AS top FROM timers")
        self._adopted_upto = top["top"] if top else 0
        rows = self.store.pending_timers()
        for row in rows:
            self.wheel.arm(row["id"], parse_ts(row["due_at"]))
        return len(rows)

    def adopt_timers(self) -> int:
        """Arm deadlines another process wrote (`oncall assign`, `oncall page --test`, …).

        The daemon arms its own timers as it commits them; a CLI command cannot reach the
        running wheel, so the daemon looks for new pending rows every few seconds."""
        rows = self.store.all(
            "SELECT id, due_at, done_at FROM timers WHERE id > ? ORDER BY id",
            (self._adopted_upto,),
        )
        adopted = 0
        for row in rows:
            self._adopted_upto = max(self._adopted_upto, row["id"])
            if row["done_at"] is None and not self.wheel.knows(row["id"]):
                self.wheel.arm(row["id"], parse_ts(row["due_at"]))
                adopted += 1
        if adopted:
            log.info("timers.adopted", count=adopted)
        return adopted

    def arm(self, timers: list[tuple[int, datetime]]) -> None:
        for timer_id, due in timers:
            self.wheel.arm(timer_id, due)

    # -- alerts (oncall.alert_intake) ------------------------------------------------------

    def reject_alert(self, client: str, raw: bytes, reason: str) -> int:
        return self.intake.reject_alert(client, raw, reason)

    def receive_alert(self, alert: Alert, raw: bytes) -> AlertOutcome:
        return self.intake.receive_alert(alert, raw)

    def receive_event(
        self, alert: Alert, raw: bytes, decision: Decision, now: datetime
    ) -> AlertOutcome:
        return self.intake.receive_event(alert, raw, decision, now)

    # -- escalation -------------------------------------------------------------------------

    def _who(self, at: datetime) -> Any:
        return lambda step: self.catalog.step_tech_ids(step, at)

    def _apply_plan(
        self,
        incident_id: int,
        sop: Sop,
        plan: StepPlan | Exhausted,
        now: datetime,
        why: str,
        note: str = "",
    ) -> list[tuple[int, datetime]]:
        """Store the next step's pages and deadline (inside the caller's transaction).
        `note` goes into the page text (who escalated an owned incident)."""
        incident = self.store.incident(incident_id)
        assert incident is not None
        for reason in plan.skipped:
            self.store.log(
                now, "escalation.skipped", reason, client=sop.id, incident_id=incident_id
            )
            log.warning("escalation.uncovered", incident_id=incident_id, reason=reason)
        timers: list[tuple[int, datetime]] = []
        if isinstance(plan, StepPlan):
            position = plan.position
            self.store.update(
                "incidents",
                incident_id,
                {
                    "state": escalation.PAGING,
                    "pass_number": position.pass_number,
                    "step_index": position.step_index,
                },
            )
            names = ", ".join(self.catalog.techs[t].name for t in plan.tech_ids)
            self.store.log(
                now,
                "escalation.step",
                f"{position.label()} ({escalation.step_name(plan.step)}): paging {names}; "
                f"ack timeout {texts.duration(plan.step.ack_timeout)}",
                client=sop.id,
                incident_id=incident_id,
                why=why,
                pass_number=position.pass_number,
                step_index=position.step_index,
                techs=list(plan.tech_ids),
                deadline=utcnow_text(plan.deadline),
            )
            body = texts.page_text(
                incident_id,
                sop.name,
                incident["priority"],
                incident["summary"],
                incident["host"],
                note,
            )
            for tech_id in plan.tech_ids:
                timers += self.pager.page(
                    incident_id, tech_id, "page", position, plan.step, body, now
                )
            if not any(
                p["state"] != "suppressed"
                for p in self.store.pages_for(incident_id)
                if (p["pass_number"], p["step_index"], p["kind"])
                == (position.pass_number, position.step_index, "page")
            ):
                # Everyone this step reaches is over their paging budget: move on now.
                after = self.store.incident(incident_id)
                assert after is not None
                return timers + self.escalate_step(after, now, "paging budget")
            timer_id = self.store.insert(
                "timers",
                {
                    "kind": STEP_TIMEOUT,
                    "incident_id": incident_id,
                    "pass_number": position.pass_number,
                    "step_index": position.step_index,
                    "due_at": utcnow_text(plan.deadline),
                },
            )
            timers.append((timer_id, plan.deadline))
            return timers
        # Exhausted: every step and repeat went unanswered.
        self.store.update("incidents", incident_id, {"state": escalation.EXHAUSTED})
        self.store.log(
            now,
            "incident.exhausted",
            f"nobody acknowledged incident #{incident_id}; paging final contacts "
            f"{', '.join(plan.final_contacts) or '(none configured)'}",
            client=sop.id,
            incident_id=incident_id,
        )
        log.error("incident.exhausted", incident_id=incident_id, client=sop.id)
        body = texts.exhausted_text(incident_id, sop.name, incident["summary"])
        position = Position(incident["pass_number"], incident["step_index"])
        # Final contacts are tried on the ladder of the chain's last step.
        last_step = sop.escalation.steps[-1]
        for tech_id in plan.final_contacts:
            if tech_id in self.catalog.techs:
                timers += self.pager.page(
                    incident_id, tech_id, "exhausted", position, last_step, body, now
                )
        return timers

    def escalate_step(
        self,
        incident: dict[str, Any],
        now: datetime,
        why: str,
        note: str = "",
        tell_owner: bool = True,
    ) -> list[tuple[int, datetime]]:
        """Move to the next step now (timeout, ESC, or every page of the step failed)."""
        if incident.get("test"):  # a test page has one step: not acknowledged, owner told
            return self.test_pages.unacknowledged(incident, now, why)
        sop = self.catalog.sops.get(incident["client"])
        if sop is None:
            self.store.log(
                now,
                "escalation.error",
                f"client {incident['client']} has no SOP any more; cannot escalate",
                client=incident["client"],
                incident_id=incident["id"],
            )
            log.error("escalation.no_sop", incident_id=incident["id"])
            return []
        # The step's deadline and its channels not yet tried (a call still to come) end here.
        self._stop_paging(incident["id"], now, "superseded")
        current = Position(incident["pass_number"], incident["step_index"])
        plan = escalation.after_timeout(sop.escalation, current, now, self._who(now))
        if incident["owner"] is not None and (
            isinstance(plan, Exhausted) or plan.position.pass_number > current.pass_number
        ):
            # Someone owns it: a hand-off nobody answered goes back to the owner; the chain
            # does not start over at the help desk, and nobody is told "nobody acknowledged".
            return self._handoff_unanswered(incident, sop, now, why, tell_owner)
        if not note and incident["owner"] is not None:
            note = f"{self.owners.name(incident['owner'])} owns it."
        return self._apply_plan(incident["id"], sop, plan, now, why, note)

    def _handoff_unanswered(
        self, incident: dict[str, Any], sop: Sop, now: datetime, why: str, tell_owner: bool
    ) -> list[tuple[int, datetime]]:
        """The steps after the owner's have all been tried: the owner keeps it, and hears so."""
        number, owner = incident["id"], incident["owner"]
        self.store.update("incidents", number, {"state": escalation.ACKNOWLEDGED})
        self.store.log(
            now,
            "escalation.unanswered",
            f"#{number}: no later step answered ({why}); it stays with its owner {owner}",
            client=sop.id,
            incident_id=number,
            owner=owner,
        )
        if not tell_owner or owner not in self.catalog.techs:
            return []
        body = (
            f"#{number} {sop.name}: nobody further up the chain answered; you still own it. "
            f"ESC {number} tries again, RES {number} when resolved."
        )
        position = Position(incident["pass_number"], incident["step_index"])
        return self.pager.notice(number, owner, position, body, now)

    # -- timers -----------------------------------------------------------------------------

    async def _fire(self, timer_id: int) -> None:
        timer = self.store.one("SELECT * FROM timers WHERE id = ?", (timer_id,))
        if timer is None or timer["done_at"] is not None:
            return
        if timer["kind"] == SEND:
            await self.delivery.send(timer)
        elif timer["kind"] == STEP_TIMEOUT:
            self._step_timeout(timer)
        elif timer["kind"] == HEARTBEAT:
            self.heartbeats.deadline_passed(timer)
        elif (handler := self.timer_kinds.get(timer["kind"])) is not None:
            outcome = handler(timer)
            if inspect.isawaitable(outcome):
                await outcome
        else:
            log.error("timer.unknown_kind", timer_id=timer_id, kind=timer["kind"])

    def _step_timeout(self, timer: dict[str, Any]) -> None:
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            incident = self.store.incident(timer["incident_id"])
            current = incident is not None and (
                incident["state"] == escalation.PAGING
                and (incident["pass_number"], incident["step_index"])
                == (timer["pass_number"], timer["step_index"])
            )
            if not current or incident is None:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            self.store.finish_timer(timer["id"], now, "fired")
            self.store.log(
                now,
                "escalation.timeout",
                f"no acknowledgment for {Position(timer['pass_number'], timer['step_index']).label()}",
                client=incident["client"],
                incident_id=incident["id"],
                late_seconds=(now - parse_ts(timer["due_at"])).total_seconds(),
            )
            timers = self.escalate_step(incident, now, "timeout")
        self.arm(timers)

    # -- state changes (SMS, CLI) -----------------------------------------------------------

    def acknowledge(
        self, incident: dict[str, Any], actor: str, now: datetime
    ) -> tuple[str, str, list[tuple[int, datetime]]]:
        number = incident["id"]
        if not escalation.can_acknowledge(incident["state"]):
            if incident["state"] == escalation.ACKNOWLEDGED:
                who = self.catalog.techs.get(incident["acked_by"])
                return (
                    "already",
                    (
                        f"#{number} was already acknowledged by {who.name if who else incident['acked_by']} "
                        f"at {texts.local_time(parse_ts(incident['acked_at']), self.catalog.config.timezone)}."
                        + self.owners.owned_by_other(incident, incident["acked_by"])
                    ),
                    [],
                )
            return "already", f"#{number} is already resolved.", []
        if incident.get("test"):  # a test page: the phone works, nothing else to do
            return self.test_pages.acknowledged(incident, actor, now)
        changes: dict[str, Any] = {"state": escalation.ACKNOWLEDGED}
        if incident["acked_by"] is None:  # acked_by stays the first acknowledger
            changes |= {"acked_at": utcnow_text(now), "acked_by": actor}
        self.store.update("incidents", number, changes)
        self._stop_paging(number, now, "acknowledged")
        self.store.log(
            now,
            "incident.acknowledged",
            f"#{number} acknowledged by {actor}",
            actor=actor,
            client=incident["client"],
            incident_id=number,
        )
        log.info("incident.acknowledged", incident_id=number, actor=actor)
        # The first acknowledger owns it; a later one (engineering after ESC) leaves the owner.
        answer, timers = self.owners.acknowledged(incident, actor, now)
        timers += self.client_comms.acknowledged(number, now)  # once: the client's first text
        return "ack", answer, timers

    def escalate_now(
        self, incident: dict[str, Any], actor: str, now: datetime
    ) -> tuple[str, str, list[tuple[int, datetime]]]:
        number = incident["id"]
        if not escalation.can_escalate(incident["state"]):
            return "already", f"#{number} is resolved; nothing to escalate.", []
        if incident.get("test"):  # the tech answered a test page: the phone works
            return self.test_pages.acknowledged(incident, actor, now)
        self.store.log(
            now,
            "incident.escalated",
            f"#{number} escalated by {actor}",
            actor=actor,
            client=incident["client"],
            incident_id=number,
        )
        if incident["state"] == escalation.EXHAUSTED:
            return (
                "esc",
                f"#{number}: every step has been paged already; final contacts were told.",
                [],
            )
        note = self.owners.escalation_note(incident, actor)
        timers = self.escalate_step(
            incident, now, f"escalated by {actor}", note, tell_owner=actor != incident["owner"]
        )
        after = self.store.incident(number)
        assert after is not None
        if after["state"] == escalation.EXHAUSTED:
            return "esc", f"Escalated #{number}: no further steps; final contacts paged.", timers
        if after["state"] == escalation.ACKNOWLEDGED:  # owned, and no step left above it
            return "esc", f"#{number}: no further steps to escalate to; it stays owned.", timers
        paged = [
            p["tech_id"]
            for p in self.store.pages_for(number)
            if (p["pass_number"], p["step_index"]) == (after["pass_number"], after["step_index"])
        ]
        names = ", ".join(
            self.catalog.techs[t].name for t in dict.fromkeys(paged) if t in self.catalog.techs
        )
        return "esc", f"Escalated #{number}: paging {names}.", timers

    def resolve(
        self, incident: dict[str, Any], actor: str, now: datetime, note: str = ""
    ) -> tuple[str, str, list[tuple[int, datetime]]]:
        number = incident["id"]
        if not escalation.can_resolve(incident["state"]):
            return "already", f"#{number} is already resolved.", []
        if incident.get("test"):  # the tech answered a test page: the phone works
            return self.test_pages.acknowledged(incident, actor, now)
        changes: dict[str, Any] = {
            "state": escalation.RESOLVED,
            "resolved_at": utcnow_text(now),
            "resolved_by": actor,
        }
        if incident["acked_at"] is None:
            changes |= {"acked_at": utcnow_text(now), "acked_by": actor}
        self.store.update("incidents", number, changes)
        if incident["owner"] is None and actor in self.catalog.techs:
            # Resolved straight from a page: whoever did the work owned it.
            self.owners.set_owner(incident, actor, "resolve", actor, now)
        self._stop_paging(number, now, "resolved")
        self.store.log(
            now,
            "incident.resolved",
            f"#{number} resolved by {actor}" + (f": {note}" if note else ""),
            actor=actor,
            client=incident["client"],
            incident_id=number,
            note=note,
        )
        log.info("incident.resolved", incident_id=number, actor=actor)
        told, timers = self.client_comms.resolved(incident, note, now)
        return "res", f"Resolved #{number}.{told}", timers

    def _stop_paging(self, incident_id: int, now: datetime, why: str) -> None:
        """Cancel the step deadline and every page not yet handed to Twilio (notices still go).

        Only paging timers end here: an owner's reminders and the client's messages carry on."""
        pending = self.store.all(
            "SELECT t.id FROM timers t LEFT JOIN pages p ON t.kind = ? AND p.id = t.ref"
            " WHERE t.incident_id = ? AND t.done_at IS NULL AND t.kind IN (?, ?)"
            " AND (t.kind != ? OR p.kind != 'notice')",
            (SEND, incident_id, SEND, STEP_TIMEOUT, SEND),
        )
        for row in pending:
            self.store.finish_timer(row["id"], now, why)
            self.wheel.cancel(row["id"])
        self.store.conn.execute(
            "UPDATE pages SET state = 'cancelled', updated_at = ?"
            " WHERE incident_id = ? AND state = 'pending' AND kind != 'notice'",
            (utcnow_text(now), incident_id),
        )
