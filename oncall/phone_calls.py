"""The after-hours phone line, the shell: each Twilio voice webhook recorded, decided, answered.

A call moves through stages kept in its `calls` row (pin → menu or desk → message → done).
Every step is written to SQLite (the call row and an event: caller, client, keys, decision,
recording URL) in the same transaction that acts on it, before the TwiML goes back. An
emergency chosen in the menu goes through the engine exactly like an alert, so a repeated
call joins the open incident. Messages are `oncall.voicemail`; the decisions
`oncall.phone_line`; the words `oncall.phone_prompts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from oncall import call_log, escalation, phone_line, phone_prompts
from oncall.emergency import EmergencyRule
from oncall.phone_steps import DESK_UNANSWERED, CallError, PhoneStep
from oncall.sops import Sop
from oncall.voicemail import Voicemails

if TYPE_CHECKING:
    from oncall.engine import Engine

__all__ = ["CallError", "PhoneCalls"]


class PhoneCalls(PhoneStep):
    """The daemon's side of calls to the after-hours emergency line."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.voicemail = Voicemails(engine)

    def recorded(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/recorded`: see `oncall.voicemail`."""
        return self.voicemail.recorded(params)

    # -- webhooks ---------------------------------------------------------------------------

    def incoming(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice`: a call to the line. Known caller ID → route; else ask a PIN."""
        now, sid = self.clock.now(), params["CallSid"]
        caller = phone_line.normalise(params.get("From"))
        sops = self.catalog.sops
        sop = phone_line.identify(sops, caller)
        with self.store.transaction():
            call_log.start(
                self.store,
                sid,
                call_log.INBOUND,
                params,
                now,
                client=sop.id if sop else None,
                stage="new",
            )
            who = caller or params.get("From") or "a withheld number"
            self.log(
                now,
                sid,
                "call.received",
                f"call from {who}: "
                + (f"caller ID of {sop.name}" if sop else "not a known caller ID"),
                sop,
                caller=caller or params.get("From"),
            )
            if sop is not None:
                return self._route(sid, sop, now, phone_prompts.greeting(sop.name))
            if phone_line.accepts_pins(sops):
                call_log.update(self.store, sid, now, stage="pin", decision="pin")
                self.log(now, sid, "call.pin_asked", "unknown number: asked for the PIN", None)
                return phone_prompts.ask_pin(self.base)
            return self.voicemail.offer_unidentified(
                sid, now, "unknown number, and no client has a PIN"
            )

    def pin(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/pin`: the digits an unknown caller entered (or none)."""
        now, sid = self.clock.now(), params["CallSid"]
        with self.store.transaction():
            call = self.call(sid, "pin")
            tries = call["pin_tries"] + 1
            sop = phone_line.pin_owner(self.catalog.sops, params.get("Digits"))
            if sop is not None:
                call_log.update(self.store, sid, now, client=sop.id, pin_tries=tries)
                self.log(now, sid, "call.pin_ok", f"the caller entered {sop.id}'s PIN", sop)
                return self._route(sid, sop, now, f"Thank you, {sop.name}.")
            call_log.update(self.store, sid, now, pin_tries=tries)
            entered = "no PIN" if not params.get("Digits") else "a wrong PIN"
            self.log(now, sid, "call.pin_wrong", f"{entered} (try {tries} of 3)", None, tries=tries)
            if tries < phone_line.MAX_PIN_TRIES:
                left = phone_line.MAX_PIN_TRIES - tries
                return phone_prompts.ask_pin(self.base, retry=True, tries_left=left)
            return self.voicemail.offer_unidentified(sid, now, f"{tries} wrong PINs")

    def menu(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/menu`: the key pressed in the emergency menu (or none)."""
        now, sid = self.clock.now(), params["CallSid"]
        digits = params.get("Digits", "")
        with self.store.transaction():
            call = self.call(sid, "menu")
            sop = self.catalog.sops.get(call["client"] or "")
            if sop is None:
                return self.voicemail.offer_unidentified(
                    sid, now, f"client {call['client']!r} has no SOP now"
                )
            choice = phone_line.menu_choice(sop, digits)
            self.log(
                now,
                sid,
                "call.menu_choice",
                f"the caller pressed {digits}"
                + (f": {choice.rule.label}" if choice.rule else f" ({choice.kind})")
                if digits
                else "the caller pressed no key",
                sop,
                digits=digits,
                choice=choice.kind,
                rule=choice.rule.id if choice.rule else None,
            )
            call_log.update(self.store, sid, now, menu_choice=digits or None)
            if choice.kind == "emergency" and choice.rule is not None:
                return self._emergency(call, sop, choice.rule, digits, params, now)
            if choice.kind == "other":
                return self.voicemail.offer(sid, sop, now, "the caller chose 'anything else'", "")
            if choice.kind == "none":
                misses = call["menu_misses"] + 1
                call_log.update(self.store, sid, now, menu_misses=misses)
                if misses >= phone_line.MAX_MENU_MISSES:
                    return self.voicemail.offer(sid, sop, now, "no choice in the menu", "")
                intro = "We did not get your choice."
            else:
                intro = "Sorry, that is not an option." if choice.kind == "invalid" else ""
            return phone_prompts.offer_menu(self.base, phone_line.menu(sop), intro=intro)

    def desk(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/desk`: the Dial to the service desk ended."""
        now, sid = self.clock.now(), params["CallSid"]
        outcome = params.get("DialCallStatus", "").lower()
        with self.store.transaction():
            call = self.call(sid, "desk")
            sop = self.catalog.sops.get(call["client"] or "")
            if outcome in ("completed", "answered") or sop is None:
                call_log.update(self.store, sid, now, stage="done")
                self.log(
                    now,
                    sid,
                    "call.desk_connected",
                    f"the service desk took the call ({params.get('DialCallDuration', '?')} s)",
                    sop,
                    dial_status=outcome,
                )
                return phone_prompts.goodbye("")
            call_log.update(self.store, sid, now, decision=DESK_UNANSWERED)
            self.log(
                now,
                sid,
                "call.desk_unanswered",
                f"the service desk did not answer ({outcome or 'no status'})",
                sop,
                dial_status=outcome,
            )
            if sop.phone_menu:
                call_log.update(self.store, sid, now, stage="menu")
                intro = "Our service desk is not answering. If this is an emergency, choose it now."
                return phone_prompts.offer_menu(self.base, phone_line.menu(sop), intro=intro)
            return self.voicemail.offer(
                sid, sop, now, "the service desk did not answer", "Our service desk is busy."
            )

    def ended(self, params: dict[str, str]) -> None:
        """`POST /twilio/voice/status`: the line's call status changed (a hang-up, say)."""
        now, sid = self.clock.now(), params["CallSid"]
        with self.store.transaction():
            before = call_log.get(self.store, sid)
            call_log.status(self.store, sid, params, now)
            status = params.get("CallStatus", "").lower()
            if status in call_log.FINAL_STATUSES and before and before["stage"] != "done":
                self.log(
                    now,
                    sid,
                    "call.ended",
                    f"the caller hung up at the {before['stage']} stage ({status})",
                    self.catalog.sops.get(before["client"] or ""),
                    status=status,
                )

    # -- steps ------------------------------------------------------------------------------

    def _route(self, sid: str, sop: Sop, now: datetime, intro: str) -> str:
        route = phone_line.route(sop, now, self.catalog.config.service_desk)
        if route.action == "desk" and route.desk is not None:
            decision = phone_line.desk_decision(route, sop, now)
            call_log.update(self.store, sid, now, stage="desk", decision="service_desk")
            self.log_decision(now, sid, sop, decision)
            return phone_prompts.dial_desk(self.base, sop.name, route.desk)
        if route.action == "menu":
            call_log.update(self.store, sid, now, stage="menu", decision="menu")
            self.log(now, sid, "call.menu", f"emergency menu offered: {route.reason}", sop)
            return phone_prompts.offer_menu(self.base, phone_line.menu(sop), intro=intro)
        return self.voicemail.offer(sid, sop, now, route.reason, intro)

    def _emergency(
        self,
        call: dict[str, Any],
        sop: Sop,
        rule: EmergencyRule,
        key: str,
        params: dict[str, str],
        now: datetime,
    ) -> str:
        why = (
            "the service desk did not answer"
            if call["decision"] == DESK_UNANSWERED
            else "an emergency after hours"
        )
        decision = phone_line.emergency_decision(sop, rule, key, now, why)
        caller = phone_line.normalise(call["from_phone"])
        event = phone_line.emergency_event(sop, rule, caller)
        incident_id = self.page(call["call_sid"], event, decision, params, now)
        incident = self.store.incident(incident_id)
        assert incident is not None
        joined = incident["alert_count"] > 1
        acked = incident["state"] == escalation.ACKNOWLEDGED
        call_log.update(
            self.store,
            call["call_sid"],
            now,
            stage="done",
            incident_id=incident_id,
            decision="page",
        )
        self.log(
            now,
            call["call_sid"],
            "call.paging",
            f"emergency {rule.id!r} from {caller or 'a withheld number'}: incident "
            f"#{incident_id} {'joined' if joined else 'opened'}",
            sop,
            incident_id=incident_id,
        )
        if sop.phone_line.live_connect and not acked:
            return self.engine.live.hold(call["call_sid"], incident_id, joined, now)
        words = phone_prompts.paging_words(sop.phone_line.callback_within, joined, acked)
        return phone_prompts.goodbye(words)
