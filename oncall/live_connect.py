"""Live connect, the shell: an emergency caller holds; the tech who acknowledges takes the call.

With `[phone_line] live_connect = true` a caller who chose an emergency nobody has
acknowledged holds in their incident's Twilio queue (`calls.stage = "holding"`) for at most
`hold_limit`. When the paged tech acknowledges while the caller still holds:

* on a voice page, the same call offers "press 1 to be connected to the caller";
* by SMS, the daemon calls the tech, and that call first says "press 1 to accept the caller".

Only the key press runs `<Dial><Queue>`, so the caller never reaches a tech's voicemail. A tech
who does not press 1 releases the caller at the next hold prompt ("expect a call back"). Every
step is an event (`connect.*`) and a change to the caller's and the tech's `calls` rows, written
before the TwiML goes back. The TwiML is `oncall.live_connect_prompts`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from oncall import call_log, voice_pages
from oncall import live_connect_prompts as prompts
from oncall.config import Tech
from oncall.engine_part import EnginePart
from oncall.notify import SendError
from oncall.phone_steps import CallError

if TYPE_CHECKING:
    from oncall.engine import Engine

log = structlog.get_logger(__name__)

HOLDING = "holding"  # calls.stage of a caller in the queue
DECLINED = "declined"  # calls.decision of a holding caller whose tech did not take the call


class LiveConnect(EnginePart):
    """Holding callers, and offering them to the tech who acknowledges."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base(self) -> str:
        return str(self.catalog.config.public_url)

    def enabled(self, client: str) -> bool:
        sop = self.catalog.sops.get(client)
        return sop is not None and sop.phone_line.live_connect

    def waiting_caller(self, incident_id: int) -> dict[str, Any] | None:
        """The longest-holding caller of this incident (the one `<Dial><Queue>` reaches)."""
        return self.store.one(
            "SELECT * FROM calls WHERE incident_id = ? AND direction = ? AND stage = ?"
            " AND ended_at IS NULL ORDER BY started_at, call_sid LIMIT 1",
            (incident_id, call_log.INBOUND, HOLDING),
        )

    # -- the caller's side (inside the phone line's transaction) ----------------------------

    def hold(self, sid: str, incident_id: int, joined: bool, now: datetime) -> str:
        """Put an emergency caller on hold in the incident's queue."""
        call_log.update(self.store, sid, now, stage=HOLDING)
        self._event(now, "connect.holding", "the caller holds for the engineer", incident_id, sid)
        return prompts.hold(self.base, incident_id, joined)

    def hold_prompt(self, incident_id: int, params: dict[str, str]) -> str:
        """The queue's waitUrl: keep holding, or leave (hold limit, or the tech declined)."""
        now, sid = self.clock.now(), params.get("CallSid", "")
        seconds = int(params["QueueTime"]) if params.get("QueueTime", "").isdigit() else 0
        with self.store.transaction():
            incident, call = self._known(incident_id, sid)
            sop = self.catalog.sops.get(incident["client"])
            limit = sop.phone_line.hold_limit.total_seconds() if sop else 0
            declined = call["decision"] == DECLINED
            over = seconds >= limit
            if over or declined:
                why = "the engineer did not take the call" if declined else f"{seconds} s on hold"
                self._event(
                    now, "connect.hold_ended", f"the caller stops holding: {why}", incident_id, sid
                )
            return prompts.waiting(over or declined)

    def held(self, incident_id: int, params: dict[str, str]) -> str:
        """The Enqueue action: the caller left the queue (bridged and done, left, hung up)."""
        now, sid = self.clock.now(), params.get("CallSid", "")
        result = params.get("QueueResult", "").lower()
        with self.store.transaction():
            incident, _ = self._known(incident_id, sid)
            call_log.update(self.store, sid, now, stage="done")
            sop = self.catalog.sops.get(incident["client"])
            if result == "bridged":
                self._event(
                    now,
                    "connect.caller_done",
                    "the caller's call with the engineer ended",
                    incident_id,
                    sid,
                    queue_result=result,
                )
                return prompts.after_bridge()
            self._event(
                now,
                "connect.caller_released",
                "the caller hung up while holding"
                if result == "hangup"
                else f"the caller left the queue ({result or 'no result'}): told to expect a "
                "call back",
                incident_id,
                sid,
                queue_result=result,
            )
            callback = sop.phone_line.callback_within if sop else None
            words = prompts.left_words(callback) if callback else "Thank you for holding."
            return voice_pages.goodbye_twiml(words)

    # -- the tech's side --------------------------------------------------------------------

    def offer_on_page(
        self, incident: dict[str, Any], sid: str, speech: str, now: datetime
    ) -> str | None:
        """After a keypress ack on a voice page: the offer, if a caller holds (else None)."""
        if not self.enabled(incident["client"]) or self.waiting_caller(incident["id"]) is None:
            return None
        call_log.update(self.store, sid, now, stage="connect")
        self._event(
            now,
            "connect.offered",
            "the engineer is offered the holding caller on the page call",
            incident["id"],
            sid,
        )
        return prompts.offer(self.base, incident["id"], self._client_name(incident), speech, False)

    def offer_by_call(self, incident_id: int, tech: Tech, now: datetime) -> None:
        """After an SMS ack: if a caller holds, call the tech (screened) in the background."""
        with self.store.transaction():
            incident = self.store.incident(incident_id)
            if incident is None or not self.enabled(incident["client"]):
                return
            if self.waiting_caller(incident_id) is None:
                return
            self._event(
                now,
                "connect.calling",
                f"calling {tech.id} to offer the holding caller",
                incident_id,
                None,
                actor=tech.id,
            )
        task = asyncio.get_running_loop().create_task(self._place(incident, tech))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _place(self, incident: dict[str, Any], tech: Tech) -> None:
        notifier, number = self.engine.notifier, incident["id"]
        error = "no Twilio client" if notifier is None else ""
        sent = None
        if notifier is not None:
            try:
                sent = await notifier.place_call(
                    tech.phone,
                    url=prompts.url(self.base, prompts.SCREEN_PATH, number),
                    status_callback=prompts.url(self.base, prompts.SCREEN_PATH, number, status="1"),
                )
            except SendError as exc:
                error = str(exc)
        now = self.clock.now()
        with self.store.transaction():
            if sent is None:
                self._event(
                    now,
                    "connect.call_failed",
                    f"the call to {tech.id} failed: {error}",
                    number,
                    None,
                    actor=tech.id,
                )
                log.warning("connect.call_failed", incident_id=number, tech=tech.id)
                return
            call_log.start(
                self.store,
                sent.sid,
                call_log.OUTBOUND,
                {
                    "From": self.catalog.config.twilio.from_number,
                    "To": tech.phone,
                    "CallStatus": sent.status,
                },
                now,
                stage="screen",
                incident_id=number,
                client=incident["client"],
            )
            self._event(
                now,
                "connect.call_placed",
                f"called {tech.id} ({sent.sid})",
                number,
                sent.sid,
                actor=tech.id,
            )

    def screen(self, incident_id: int, params: dict[str, str]) -> str:
        """The call to a tech who acknowledged by SMS is answered: a person must press 1."""
        now, sid = self.clock.now(), params.get("CallSid", "")
        answered_by = params.get("AnsweredBy") or "unknown"
        with self.store.transaction():
            incident = self.store.incident(incident_id)
            if incident is None:
                raise CallError(404, f"no incident {incident_id}")
            call_log.start(
                self.store,
                sid,
                call_log.OUTBOUND,
                params,
                now,
                stage="screen",
                incident_id=incident_id,
                client=incident["client"],
            )
            call_log.update(self.store, sid, now, answered_by=answered_by)
            if voice_pages.is_machine(answered_by):
                call_log.update(self.store, sid, now, stage="done", decision="voicemail")
                self._event(
                    now,
                    "connect.voicemail",
                    "voicemail answered the call; the caller is not put through",
                    incident_id,
                    sid,
                )
                return prompts.not_connected(gone=False)
            if self.waiting_caller(incident_id) is None:
                call_log.update(self.store, sid, now, stage="done", decision="caller_gone")
                self._event(
                    now, "connect.caller_gone", "the caller stopped holding", incident_id, sid
                )
                return prompts.not_connected(gone=True)
            self._event(now, "connect.screening", "asked the engineer to press 1", incident_id, sid)
            intro = prompts.screen_intro(self._client_name(incident), incident_id)
            return prompts.offer(self.base, incident_id, self._client_name(incident), intro, True)

    def screen_status(self, params: dict[str, str]) -> None:
        """Status callbacks of the call to the tech (no-answer, busy, completed...)."""
        now, sid = self.clock.now(), params.get("CallSid", "")
        with self.store.transaction():
            before = call_log.get(self.store, sid)
            call_log.status(self.store, sid, params, now)
            status = params.get("CallStatus", "").lower()
            if before and status in call_log.FINAL_STATUSES and before["stage"] == "screen":
                call_log.update(self.store, sid, now, stage="done")
                self._event(
                    now,
                    "connect.call_ended",
                    f"the call to the engineer ended: {status}",
                    before["incident_id"],
                    sid,
                    status=status,
                )

    def connect(self, incident_id: int, params: dict[str, str]) -> str:
        """The tech's key after the offer: 1 bridges to the caller; anything else releases them."""
        now, sid = self.clock.now(), params.get("CallSid", "")
        digits = params.get("Digits", "")
        with self.store.transaction():
            self._known(incident_id, sid)
            caller = self.waiting_caller(incident_id)
            call_log.update(self.store, sid, now, menu_choice=digits or None)
            if caller is None:
                call_log.update(self.store, sid, now, stage="done", decision="caller_gone")
                self._event(
                    now, "connect.caller_gone", "the caller stopped holding", incident_id, sid
                )
                return prompts.not_connected(gone=True)
            if digits == prompts.ACCEPT_KEY:
                call_log.update(self.store, sid, now, stage="done", decision="connected")
                call_log.update(
                    self.store, caller["call_sid"], now, stage="connected", decision="connected"
                )
                self._event(
                    now,
                    "connect.bridged",
                    f"the engineer pressed {digits}: connected to the caller {caller['from_phone']}",
                    incident_id,
                    sid,
                    caller_sid=caller["call_sid"],
                )
                return prompts.bridge(incident_id)
            call_log.update(self.store, sid, now, stage="done", decision=DECLINED)
            call_log.update(self.store, caller["call_sid"], now, decision=DECLINED)
            pressed = f"pressed {digits}" if digits else "pressed no key"
            self._event(
                now,
                "connect.declined",
                f"the engineer {pressed}: the caller will be told to expect a call back",
                incident_id,
                sid,
                digits=digits,
            )
            return prompts.not_connected(gone=False)

    # -- helpers ----------------------------------------------------------------------------

    def _known(self, incident_id: int, sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The incident and the call a webhook names, or CallError (HTTP 404)."""
        incident = self.store.incident(incident_id)
        if incident is None:
            raise CallError(404, f"no incident {incident_id}")
        call = call_log.get(self.store, sid)
        if call is None:
            raise CallError(404, f"no call {sid}")
        return incident, call

    def _client_name(self, incident: dict[str, Any]) -> str:
        sop = self.catalog.sops.get(incident["client"])
        return sop.name if sop else str(incident["client"])

    def _event(
        self,
        now: datetime,
        kind: str,
        message: str,
        incident_id: int,
        sid: str | None,
        actor: str | None = None,
        **data: Any,
    ) -> None:
        incident = self.store.incident(incident_id)
        self.store.log(
            now,
            kind,
            f"#{incident_id}: {message}",
            actor=actor or "phone",
            client=incident["client"] if incident else None,
            incident_id=incident_id,
            call_sid=sid,
            **data,
        )
        log.info(kind, incident_id=incident_id, call_sid=sid)
