"""Messages left on the after-hours line: taken, stored and queued for the service desk.

A caller whose call is not an emergency (or not in the menu, or unidentified) is asked for a
message and told when the desk will deal with it, in the client's zone ("Monday at 8 AM").
The recording is stored in `voicemails` with that due time, for the next business day, and
logged (`oncall log`), and becomes an item of the next-business-day queue (oncall.queue)
that the client's morning digest lists until the desk marks it done. A voicemail from a
caller nobody could identify pages nobody, unless one SOP says unknown callers may page
(`[phone_line] unknown_callers = "page"`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncall import call_log, phone_line, phone_prompts, queue
from oncall.classify import Decision
from oncall.phone_steps import NEXT_BUSINESS_DAY, UNKNOWN_CALLER, PhoneStep
from oncall.sops import Sop
from oncall.store import utcnow_text


class Voicemails(PhoneStep):
    """Asking for a message, and what happens to it once recorded."""

    def offer(self, sid: str, sop: Sop, now: datetime, why: str, intro: str) -> str:
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
        self.log(
            now,
            sid,
            f"decision.{decision.action}",
            decision.reason,
            sop,
            decision=decision.to_dict(),
            why=why,
        )
        text = (intro + " " if intro else "") + phone_prompts.message_intro(when)
        return phone_prompts.take_message(self.base, text)

    def offer_unidentified(self, sid: str, now: datetime, why: str) -> str:
        call_log.update(
            self.store,
            sid,
            now,
            stage="message",
            message_reason=UNKNOWN_CALLER,
            decision="voicemail",
        )
        self.log(now, sid, "call.unidentified", f"caller not identified ({why}): voicemail", None)
        return phone_prompts.take_message(self.base, "We could not identify you.")

    def recorded(self, params: dict[str, str]) -> str:
        """`POST /twilio/voice/recorded`: the message is recorded (or nothing was)."""
        timers: list[tuple[int, datetime]] = []
        answer = self._recorded(params, timers)
        self.engine.arm(timers)  # the morning digest's timer, once the queue row is committed
        return answer

    def _recorded(self, params: dict[str, str], timers: list[tuple[int, datetime]]) -> str:
        now, sid = self.clock.now(), params["CallSid"]
        with self.store.transaction():
            call = self.call(sid, "message", "done")
            done = self.store.one("SELECT * FROM voicemails WHERE call_sid = ?", (sid,))
            sop = self.catalog.sops.get(call["client"] or "")
            url = params.get("RecordingUrl") or None
            if done is not None:
                return phone_prompts.goodbye("Thank you. Your message is recorded.")
            if url is None:
                call_log.update(self.store, sid, now, stage="done")
                self.log(now, sid, "call.no_message", "the caller left no message", sop)
                return phone_prompts.goodbye("If this is urgent, please call again.")
            call_log.update(self.store, sid, now, stage="done", recording_url=url)
            if call["message_reason"] == UNKNOWN_CALLER or sop is None:
                return self._unidentified(call, params, now, timers)
            decision = phone_line.message_decision(sop, now, "message recorded")
            when = phone_line.spoken_when(decision.next_business_start, now, sop)
            voicemail_id = self._store(call, sop, params, decision.next_business_start, None, now)
            timers += self._queue(call, sop, voicemail_id, params, decision, now)
            self.log(
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

    def _unidentified(
        self,
        call: dict[str, Any],
        params: dict[str, str],
        now: datetime,
        timers: list[tuple[int, datetime]],
    ) -> str:
        sid, url = call["call_sid"], params.get("RecordingUrl")
        catch_all = phone_line.unknown_caller_client(self.catalog.sops)
        if catch_all is None:
            self._store(call, None, params, None, None, now)
            self.log(
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
            incident_id = self.page(sid, event, decision, params, now)
        else:
            self.log_decision(now, sid, catch_all, decision)
        voicemail_id = self._store(
            call, catch_all, params, decision.next_business_start, incident_id, now
        )
        if incident_id is None:
            timers += self._queue(call, catch_all, voicemail_id, params, decision, now)
        self.log(
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

    def _store(
        self,
        call: dict[str, Any],
        sop: Sop | None,
        params: dict[str, str],
        due: datetime | None,
        incident_id: int | None,
        now: datetime,
    ) -> int:
        duration = params.get("RecordingDuration", "")
        return self.store.insert(
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

    def _queue(
        self,
        call: dict[str, Any],
        sop: Sop,
        voicemail_id: int,
        params: dict[str, str],
        decision: Decision,
        now: datetime,
    ) -> list[tuple[int, datetime]]:
        """The voicemail's item in the next-business-day queue (and its morning digest)."""
        why = self.store.one(
            "SELECT json_extract(data, '$.why') AS why FROM events WHERE client = ?"
            " AND kind = 'decision.queue' AND json_extract(data, '$.call_sid') = ?"
            " ORDER BY id DESC LIMIT 1",
            (sop.id, call["call_sid"]),
        )
        if call["message_reason"] == UNKNOWN_CALLER:
            reason = "caller not identified"
        else:
            reason = why["why"] if why and why["why"] else None
        duration = params.get("RecordingDuration", "")
        summary = queue.voicemail_summary(
            call["from_phone"], int(duration) if duration.isdigit() else None, reason
        )
        due = decision.next_business_start or now
        return queue.add(self.store, sop.id, "call", voicemail_id, summary, now, due)
