"""A sandbox Twilio peer that misbehaves at random, like Twilio on a bad day (proof suites).

``FaultyPeer`` is a ``SandboxPeer`` whose Messages and Calls create requests fail at a given
rate, each fault chosen at random (seeded, so a run can be repeated):

- ``5xx``: HTTP 500 or 503 (Twilio error 20500); nothing is created.
- ``429``: Too Many Requests (Twilio error 20429); nothing is created.
- ``timeout``: the answer is held ``hang`` seconds (longer than the daemon's request timeout),
  then nothing is created and a 504 goes to a client that has stopped listening.

A request that is not refused succeeds, and then, at the same rate, its delivery fails: an SMS
gets a ``failed`` or ``undelivered`` (30003) status callback, a call ends ``failed``, ``busy``
or ``no-answer``. Calls that do not fail ring until the test ends them (nobody answers).

Every create request is kept in ``attempts`` (time, To, channel, the page id in its status
callback URL, and what happened), so a proof can tell a retry from the next channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from oncall.sandbox import SandboxPeer
from oncall.sandbox_calls import CallStateError
from oncall.sandbox_records import CallRecord, MessageRecord
from oncall.sandbox_resources import twilio_error

FAULTS = ("5xx", "429", "timeout")
_PAGE = re.compile(r"[?&]page=(\d+)")


@dataclass(frozen=True)
class Attempt:
    """One Messages/Calls create request as the peer saw it."""

    at: float  # time.monotonic() when it arrived
    to: str
    channel: str  # "sms" | "voice"
    page_id: int | None
    outcome: str  # "ok", "5xx", "429", "timeout"


class FaultyPeer(SandboxPeer):
    """The sandbox peer with random create faults and failed deliveries at `rate`."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        rate: float = 0.3,
        seed: int = 1,
        hang: float = 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(account_sid, auth_token, **kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        self.rate = rate
        self.hang = hang
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.faults: Counter[str] = Counter()  # what was injected, by kind

    def _roll(self, choices: tuple[str, ...]) -> str | None:
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return self._rng.choice(choices)

    async def _faulty_create(self, request: Request, channel: str) -> Response | None:
        """Inject a create fault (recording the attempt either way); None: go on normally."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        to = form.get("To", "")
        page = _PAGE.search(form.get("StatusCallback", ""))
        fault = self._roll(FAULTS)
        with self._lock:
            self.attempts.append(
                Attempt(
                    time.monotonic(),
                    to,
                    channel,
                    int(page.group(1)) if page else None,
                    fault or "ok",
                )
            )
            if fault:
                self.faults[f"{channel} create {fault}"] += 1
        if fault == "5xx":
            status = 500 if self._rng.random() < 0.5 else 503
            return twilio_error(status, 20500, "Internal Server Error (injected)")
        if fault == "429":
            return twilio_error(429, 20429, "Too Many Requests (injected)")
        if fault == "timeout":
            await asyncio.sleep(self.hang)
            return twilio_error(504, 20500, "Gateway Timeout (injected)")
        return None

    async def _create_message(self, request: Request) -> Response:
        refused = await self._faulty_create(request, "sms")
        return refused if refused is not None else await super()._create_message(request)

    async def _create_call(self, request: Request) -> Response:
        refused = await self._faulty_create(request, "voice")
        return refused if refused is not None else await super()._create_call(request)

    async def _run_status_callbacks(self, record: MessageRecord, final: str) -> None:
        if final == "delivered":
            failed = self._roll(("failed", "undelivered"))
            if failed:
                final = failed
                with self._lock:
                    self.faults[f"sms {failed}"] += 1
        await super()._run_status_callbacks(record, final)

    def _call_placed(self, record: CallRecord) -> None:
        super()._call_placed(record)
        ending = self._roll(("failed", "busy", "no-answer"))
        if ending:
            with self._lock:
                self.faults[f"voice {ending}"] += 1
            self._spawn(self._end_call(record, ending))

    async def _end_call(self, record: CallRecord, status: str) -> None:
        with contextlib.suppress(CallStateError):
            await self.end_unanswered(record.sid, status)
