"""The after-hours phone line, the shell: each Twilio voice webhook recorded, decided, answered.

A call moves through stages kept in its `calls` row (pin → menu or desk → message → done).
Every step is written to SQLite (the call row and an event: caller, client, keys, decision,
recording URL) in the same transaction that acts on it, before the TwiML goes back. An
emergency chosen in the menu goes through the engine exactly like an alert, so a repeated
call joins the open incident. The decisions are `oncall.phone_line`; the words
`oncall.phone_prompts`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog

from oncall import call_log, escalation, phone_line, phone_prompts
from oncall.classify import Decision
from oncall.emergency import EmergencyRule
from oncall.engine_part import EnginePart
from oncall.intake import Alert
from oncall.sops import Sop
from oncall.store import utcnow_text

log = structlog.get_logger(__name__)

UNKNOWN_CALLER = "unknown_caller"
NEXT_BUSINESS_DAY = "next_business_day"
DESK_UNANSWERED = "desk_unanswered"


class CallError(LookupError):
    """A webhook for a call we have no record of, or one not at that prompt (HTTP 4xx)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PhoneCalls(EnginePart):
    """The daemon's side of calls to the after-hours emergency line."""

    @property
    def base(self) -> str:
        return str(self.catalog.config.public_url)

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
            self._log(
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
                self._log(now, sid, "call.pin_asked", "unknown number: asked for the PIN", None)
                return phone_prompts.ask_pin(self.base)
            return self._unknown_message(sid, now, "unknown number, and no client has a PIN")

    def pin(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/pin`: the digits an unknown caller entered (or none)."""
        now, sid = self.clock.now(), params["CallSid"]
        with self.store.transaction():
            call = self._call(sid, "pin")
            tries = call["pin_tries"] + 1
            sop = phone_line.pin_owner(self.catalog.sops, params.get("Digits"))
            if sop is not None:
                call_log.update(self.store, sid, now, client=sop.id, pin_tries=tries)
                self._log(now, sid, "call.pin_ok", f"the caller entered {sop.id}'s PIN", sop)
                return self._route(sid, sop, now, f"Thank you, {sop.name}.")
            call_log.update(self.store, sid, now, pin_tries=tries)
            entered = "no PIN" if not params.get("Digits") else "a wrong PIN"
            self._log(
                now, sid, "call.pin_wrong", f"{entered} (try {tries} of 3)", None, tries=tries
            )
            if tries < phone_line.MAX_PIN_TRIES:
                left = phone_line.MAX_PIN_TRIES - tries
                return phone_prompts.ask_pin(self.base, retry=True, tries_left=left)
            return self._unknown_message(sid, now, f"{tries} wrong PINs")

    def menu(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/menu`: the key pressed in the emergency menu (or none)."""
        now, sid = self.clock.now(), params["CallSid"]
        digits = params.get("Digits", "")
        with self.store.transaction():
            call = self._call(sid, "menu")
            sop = self.catalog.sops.get(call["client"] or "")
            if sop is None:
                return self._unknown_message(sid, now, f"client {call['client']!r} has no SOP now")
            choice = phone_line.menu_choice(sop, digits)
            self._log(
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
                return self._message(sid, sop, now, "the caller chose 'anything else'", "")
            if choice.kind == "none":
                misses = call["menu_misses"] + 1
                call_log.update(self.store, sid, now, menu_misses=misses)
                if misses >= phone_line.MAX_MENU_MISSES:
                    return self._message(sid, sop, now, "no choice in the menu", "")
                intro = "We did not get your choice."
            else:
                intro = "Sorry, that is not an option." if choice.kind == "invalid" else ""
            return phone_prompts.offer_menu(self.base, phone_line.menu(sop), intro=intro)

    def recorded(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/recorded`: the message is recorded (or nothing was)."""
        now, sid = self.clock.now(), params["CallSid"]
        with self.store.transaction():
            call = self._call(sid, "message", "done")
            done = self.store.one("SELECT * FROM voicemails WHERE call_sid = ?", (sid,))
            sop = self.catalog.sops.get(call["client"] or "")
            url = params.get("RecordingUrl") or None
            if done is not None:
                return phone_prompts.goodbye("Thank you. Your message is recorded.")
            if url is None:
                call_log.update(self.store, sid, now, stage="done")
                self._log(now, sid, "call.no_message", "the caller left no message", sop)
                return phone_prompts.goodbye("If this is urgent, please call again.")
            call_log.update(self.store, sid, now, stage="done", recording_url=url)
            if call["message_reason"] == UNKNOWN_CALLER or sop is None:
                return self._unknown_voicemail(call, params, now)
            decision = phone_line.message_decision(sop, now, "message recorded")
            when = phone_line.spoken_when(decision.next_business_start, now, sop)
            self._store_voicemail(call, sop, params, decision.next_business_start, None, now)
            self._log(
                now,
                sid,
                "voicemail.queued",
                f"message from {call['from_phone']} for {sop.name} queued for {when}: {url}",
                sop,
                recording_url=url,
                due_at=decision.next_business_start,
                decision=decision.to_dict(),
            )
            return phone_prompts.goodbye(phone_prompts.message_thanks(when))

    def desk(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/desk`: the Dial to the service desk ended."""
        now, sid = self.clock.now(), params["CallSid"]
        outcome = params.get("DialCallStatus", "").lower()
        with self.store.transaction():
            call = self._call(sid, "desk")
            sop = self.catalog.sops.get(call["client"] or "")
            if outcome in ("completed", "answered") or sop is None:
                call_log.update(self.store, sid, now, stage="done")
                self._log(
                    now,
                    sid,
                    "call.desk_connected",
                    f"the service desk took the call ({params.get('DialCallDuration', '?')} s)",
                    sop,
                    dial_status=outcome,
                )
                return phone_prompts.goodbye("")
            call_log.update(self.store, sid, now, decision=DESK_UNANSWERED)
            self._log(
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
            return self._message(
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
                self._log(
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
            self._log_decision(now, sid, sop, decision)
            return phone_prompts.dial_desk(self.base, sop.name, route.desk)
        if route.action == "menu":
            call_log.update(self.store, sid, now, stage="menu", decision="menu")
            self._log(now, sid, "call.menu", f"emergency menu offered: {route.reason}", sop)
            return phone_prompts.offer_menu(self.base, phone_line.menu(sop), intro=intro)
        return self._message(sid, sop, now, route.reason, intro)

    def _message(self, sid: str, sop: Sop, now: datetime, why: str, intro: str) -> str:
        decision = phone_line.message_decision(sop, now, why)
        when = phone_line.spoken_when(decision.next_business_start, now, sop)
        call_log.update(
            self.store,
            sid,
            now,
            stage="message",
            message_reason=NEXT_BUSINESS_DAY,
            decision="queue",
        )
        self._log_decision(now, sid, sop, decision)
        text = (intro + " " if intro else "") + phone_prompts.message_intro(when)
        return phone_prompts.take_message(self.base, text)

    def _unknown_message(self, sid: str, now: datetime, why: str) -> str:
        call_log.update(
            self.store,
            sid,
            now,
            stage="message",
            message_reason=UNKNOWN_CALLER,
            decision="voicemail",
        )
        self._log(now, sid, "call.unidentified", f"caller not identified ({why}): voicemail", None)
        return phone_prompts.take_message(self.base, "We could not identify you.")

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
        incident_id = self._page(call["call_sid"], event, decision, params, now)
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
        self._log(
            now,
            call["call_sid"],
            "call.paging",
            f"emergency {rule.id!r} from {caller or 'a withheld number'}: incident "
            f"#{incident_id} {'joined' if joined else 'opened'}",
            sop,
            incident_id=incident_id,
        )
        words = phone_prompts.paging_words(sop.phone_line.callback_within, joined, acked)
        return phone_prompts.goodbye(words)

    def _unknown_voicemail(
        self, call: dict[str, Any], params: dict[str, str], now: datetime
    ) -> str:
        sid, url = call["call_sid"], params.get("RecordingUrl")
        catch_all = phone_line.unknown_caller_client(self.catalog.sops)
        if catch_all is None:
            self._store_voicemail(call, None, params, None, None, now)
            self._log(
                now,
                sid,
                "voicemail.unidentified",
                f"voicemail from unidentified caller {call['from_phone']}: {url}; nobody paged "
                '(no SOP has [phone_line] unknown_callers = "page")',
                None,
                recording_url=url,
            )
            return phone_prompts.goodbye(
                "Thank you. Your message is recorded; our service desk will listen to it."
            )
        decision = phone_line.unknown_caller_decision(catch_all, now)
        incident_id = None
        if decision.action == "page":
            caller = phone_line.normalise(call["from_phone"])
            event = phone_line.unknown_caller_event(catch_all, caller, url)
            incident_id = self._page(sid, event, decision, params, now)
        else:
            self._log_decision(now, sid, catch_all, decision)
        self._store_voicemail(
            call, catch_all, params, decision.next_business_start, incident_id, now
        )
        self._log(
            now,
            sid,
            "voicemail.unidentified",
            f"voicemail from unidentified caller {call['from_phone']}: {url}; "
            + (f"paging #{incident_id}" if incident_id else "queued for the service desk"),
            catch_all,
            recording_url=url,
            incident_id=incident_id,
        )
        if incident_id is not None:
            return phone_prompts.goodbye(
                "Thank you. Your message is recorded and an engineer has been notified."
            )
        return phone_prompts.goodbye(phone_prompts.message_thanks("shortly"))

    def _page(
        self, sid: str, event: Alert, decision: Decision, params: dict[str, str], now: datetime
    ) -> int:
        """Hand the call to the engine as an event, exactly like an alert; the incident id."""
        raw = json.dumps({"call_sid": sid, "params": params}, sort_keys=True).encode()
        outcome = self.engine.receive_event(event, raw, decision, now)
        assert outcome.incident_id is not None
        return outcome.incident_id

    # -- records ----------------------------------------------------------------------------

    def _call(self, sid: str, *stages: str) -> dict[str, Any]:
        call = call_log.get(self.store, sid)
        if call is None or call["direction"] != call_log.INBOUND:
            raise CallError(404, f"no call {sid} on the emergency line")
        if call["stage"] not in stages:
            raise CallError(409, f"call {sid} is at the {call['stage']} stage, not {stages[0]}")
        return call

    def _store_voicemail(
        self,
        call: dict[str, Any],
        sop: Sop | None,
        params: dict[str, str],
        due: datetime | None,
        incident_id: int | None,
        now: datetime,
    ) -> None:
        duration = params.get("RecordingDuration", "")
        self.store.insert(
            "voicemails",
            {
                "call_sid": call["call_sid"],
                "client": sop.id if sop else None,
                "from_phone": call["from_phone"],
                "reason": call["message_reason"] or NEXT_BUSINESS_DAY,
                "recording_sid": params.get("RecordingSid"),
                "recording_url": params.get("RecordingUrl"),
                "duration_seconds": int(duration) if duration.isdigit() else None,
                "received_at": utcnow_text(now),
                "due_at": utcnow_text(due) if due else None,
                "incident_id": incident_id,
            },
        )

    def _log_decision(self, now: datetime, sid: str, sop: Sop, decision: Decision) -> None:
        self._log(
            now,
            sid,
            f"decision.{decision.action}",
            decision.reason,
            sop,
            decision=decision.to_dict(),
        )

    def _log(
        self,
        now: datetime,
        sid: str,
        kind: str,
        message: str,
        sop: Sop | None,
        incident_id: int | None = None,
        **data: Any,
    ) -> None:
        call = call_log.get(self.store, sid)
        caller = call["from_phone"] if call else None
        self.store.log(
            now,
            kind,
            message,
            actor=caller or "caller",
            client=sop.id if sop else (call["client"] if call else None),
            incident_id=incident_id,
            call_sid=sid,
            **data,
        )
        log.info(kind, call_sid=sid, client=sop.id if sop else None)
