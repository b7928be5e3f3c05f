"""Voice paging calls, the shell: a tech answers (or a machine does), a tech presses a key.

Each webhook is recorded (call log and event log) in one transaction with what it changes,
before the TwiML answer goes back. The words and key meanings are `oncall.voice_pages`; the
state changes are the engine's (acknowledge, escalate, resolve), exactly as by SMS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from oncall import call_log, escalation, voice_pages
from oncall.engine_part import EnginePart
from oncall.voice_pages import PageCall

log = structlog.get_logger(__name__)

OPEN_STATES = (escalation.PAGING, escalation.EXHAUSTED)


class UnknownPage(LookupError):
    """The webhook names a page that does not exist (or is not a voice call)."""


class VoicePages(EnginePart):
    """The daemon's side of a voice page once Twilio has placed the call."""

    def answered(self, page_id: int, params: dict[str, str]) -> str:
        """Twilio fetches the TwiML: a person answered, or a machine did (AnsweredBy)."""
        now = self.clock.now()
        sid = params.get("CallSid", "")
        answered_by = params.get("AnsweredBy") or "unknown"
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            page, incident, call = self._load(page_id)
            call_log.start(
                self.store,
                sid,
                call_log.OUTBOUND,
                params,
                now,
                stage="page",
                page_id=page_id,
                incident_id=incident["id"],
                client=incident["client"],
            )
            call_log.update(self.store, sid, now, status="in-progress", answered_by=answered_by)
            tech = page["tech_id"]
            if voice_pages.is_machine(answered_by):
                self._log(
                    now, "call.voicemail", f"voicemail answered the call to {tech}", page, sid
                )
                log.warning("call.voicemail", page_id=page_id, tech=tech)
                if page["kind"] != "notice" and page["state"] != "failed":
                    timers = self.engine.delivery.page_failed(
                        page, page["attempts"], f"voicemail answered ({answered_by})", now
                    )
                twiml = voice_pages.voicemail_twiml(call)
            else:
                if page["state"] in ("sending", "sent"):
                    self.store.update("pages", page_id, {"state": "answered"})
                self._log(now, "call.answered", f"{tech} answered the voice call", page, sid)
                if page["kind"] != "notice" and incident["state"] not in OPEN_STATES:
                    twiml = voice_pages.goodbye_twiml(self._settled(incident, call))
                else:
                    twiml = voice_pages.page_twiml(call, self.catalog.config.public_url)
        self.engine.arm(timers)
        return twiml

    def key(self, page_id: int, round_: int, params: dict[str, str]) -> str:
        """The Gather action: one key, or none (the message played out with no answer)."""
        now = self.clock.now()
        sid = params.get("CallSid", "")
        digits = params.get("Digits", "")
        action = voice_pages.key_action(digits)
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            page, incident, call = self._load(page_id)
            tech_id = page["tech_id"]
            call_log.start(self.store, sid, call_log.OUTBOUND, params, now, stage="page")
            call_log.update(self.store, sid, now, menu_choice=digits or None, decision=action)
            self._log(
                now,
                "call.key",
                f"{tech_id} pressed {digits}" if digits else f"{tech_id} pressed no key",
                page,
                sid,
                digits=digits,
                action=action,
            )
            if action in ("ack", "esc", "res"):
                twiml, timers = self._act(action, page, incident, sid, now)
            elif (next_round := voice_pages.next_round(action, round_)) is not None:
                prefix = f"Sorry, {digits} is not an option. " if action == "invalid" else ""
                twiml = voice_pages.page_twiml(
                    call, self.catalog.config.public_url, next_round, prefix
                )
            else:
                self._log(
                    now,
                    "call.unacknowledged",
                    f"the call to {tech_id} ended with no key pressed; #{incident['id']} stays "
                    "open until its ack timeout",
                    page,
                    sid,
                )
                twiml = voice_pages.goodbye_twiml(voice_pages.no_key_speech(incident["id"]))
        self.engine.arm(timers)
        return twiml

    def _act(
        self, action: str, page: dict[str, Any], incident: dict[str, Any], sid: str, now: datetime
    ) -> tuple[str, list[tuple[int, datetime]]]:
        tech_id = page["tech_id"]
        sop = self.catalog.sops.get(incident["client"])
        paged = {p["tech_id"] for p in self.store.pages_for(incident["id"])}
        finals = sop.escalation.final_contacts if sop else ()
        if page["kind"] == "notice" or not escalation.may_act(tech_id, paged, finals):
            return (
                voice_pages.goodbye_twiml(
                    f"You were not paged for incident {incident['id']}; nothing changed."
                ),
                [],
            )
        if action == "ack":
            handled, answer, timers = self.engine.acknowledge(incident, tech_id, now)
        elif action == "esc":
            handled, answer, timers = self.engine.escalate_now(incident, tech_id, now)
        else:
            handled, answer, timers = self.engine.resolve(incident, tech_id, now, "by phone")
        speech = (
            voice_pages.speakable(answer)  # a test page: "your phone works"
            if incident.get("test")
            else voice_pages.key_result_speech(handled, answer, incident["id"])
        )
        if handled == "ack":  # a caller holding for this incident is offered (live connect)
            offer = self.engine.live.offer_on_page(incident, sid, speech, now)
            if offer is not None:
                return offer, timers
        return voice_pages.goodbye_twiml(speech), timers

    def _load(self, page_id: int) -> tuple[dict[str, Any], dict[str, Any], PageCall]:
        page = self.store.one("SELECT * FROM pages WHERE id = ?", (page_id,))
        if page is None or page["channel"] != "voice":
            raise UnknownPage(f"no voice page {page_id}")
        incident = self.store.incident(page["incident_id"])
        assert incident is not None
        sop = self.catalog.sops.get(incident["client"])
        call = PageCall(
            page_id=page_id,
            incident_id=incident["id"],
            kind="test" if incident.get("test") and page["kind"] == "page" else page["kind"],
            client_name=sop.name if sop else incident["client"],
            priority=incident["priority"],
            summary=incident["summary"],
            body=page["body"],
        )
        return page, incident, call

    def _settled(self, incident: dict[str, Any], call: PageCall) -> str:
        who = incident["resolved_by"] if incident["state"] == "resolved" else incident["acked_by"]
        tech = self.catalog.techs.get(who or "")
        return voice_pages.settled_speech(
            incident["id"], call.client_name, incident["state"], tech.name if tech else who
        )

    def _log(
        self, now: datetime, kind: str, message: str, page: dict[str, Any], sid: str, **data: Any
    ) -> None:
        incident = self.store.incident(page["incident_id"])
        self.store.log(
            now,
            kind,
            message,
            actor=page["tech_id"],
            client=incident["client"] if incident else None,
            incident_id=page["incident_id"],
            page_id=page["id"],
            call_sid=sid,
            **data,
        )
