"""What the parts of the after-hours line share: the call a webhook is about, the log, and
handing a phone event to the engine.

Each step runs inside the webhook's transaction: the `calls` row (the call's state between
Twilio's requests) and an event for every step, written before the TwiML answer goes back.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog

from oncall import call_log
from oncall.classify import Decision
from oncall.engine_part import EnginePart
from oncall.intake import Alert
from oncall.sops import Sop

log = structlog.get_logger(__name__)

# Why a caller is asked for a message (calls.message_reason, voicemails.reason) ...
UNKNOWN_CALLER = "unknown_caller"
NEXT_BUSINESS_DAY = "next_business_day"
# ... and calls.decision when the Dial to the service desk went unanswered.
DESK_UNANSWERED = "desk_unanswered"


class CallError(LookupError):
    """A webhook for a call we have no record of, or one not at that prompt (HTTP 4xx)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PhoneStep(EnginePart):
    """A part of the line: its calls, its log lines, its way into the engine."""

    @property
    def base(self) -> str:
        """The daemon's public URL: where Twilio posts the caller's answers."""
        return str(self.catalog.config.public_url)

    def page(
        self, sid: str, event: Alert, decision: Decision, params: dict[str, str], now: datetime
    ) -> int:
        """Hand the call to the engine as an event, exactly like an alert; the incident id."""
        raw = json.dumps({"call_sid": sid, "params": params}, sort_keys=True).encode()
        outcome = self.engine.receive_event(event, raw, decision, now)
        assert outcome.incident_id is not None
        return outcome.incident_id

    def call(self, sid: str, *stages: str) -> dict[str, Any]:
        call = call_log.get(self.store, sid)
        if call is None or call["direction"] != call_log.INBOUND:
            raise CallError(404, f"no call {sid} on the emergency line")
        if call["stage"] not in stages:
            raise CallError(409, f"call {sid} is at the {call['stage']} stage, not {stages[0]}")
        return call

    def log_decision(self, now: datetime, sid: str, sop: Sop, decision: Decision) -> None:
        self.log(
            now,
            sid,
            f"decision.{decision.action}",
            decision.reason,
            sop,
            decision=decision.to_dict(),
        )

    def log(
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
