"""What the sandbox Twilio peer saw, and the controls a test has over it.

``MessageRecord`` and ``CallRecord`` (``oncall.sandbox_resources``) are the requests the
peer accepted. ``SandboxRecords`` keeps them (``messages``,
``calls``, and ``rejected`` for injected failures and opted-out numbers), runs ``on_message``
hooks, lets a test or the demo wait for a message or a call (``wait_for_message`` /
``wait_for_call`` from any event loop, ``..._sync`` from another thread), makes the next sends
fail (``fail_next``) and refuses SMS to numbers that replied STOP (``opt_out``). It is
thread-safe; ``oncall.sandbox.SandboxPeer`` is the HTTP side built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

import structlog

from oncall.sandbox_resources import CallRecord, MessageRecord

__all__ = ["FAIL_MODES", "CallRecord", "FailMode", "MessageRecord", "SandboxRecords"]

FailMode = Literal["http_500", "undelivered", "lost_answer"]
FAIL_MODES: tuple[str, ...] = get_args(FailMode)

log = structlog.get_logger(__name__)


@dataclass
class _FailRule:
    to: str | None
    remaining: int
    mode: FailMode


R = TypeVar("R", MessageRecord, CallRecord)


@dataclass
class _Waiter(Generic[R]):
    predicate: Callable[[R], bool]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[R]


def _resolve(future: asyncio.Future[Any], record: Any) -> None:
    if not future.done():
        future.set_result(record)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class SandboxRecords:
    """The peer's records, hooks, waiters and injected failures, behind one lock.

    Records are appended from the peer's event loop; ``wait_for_message`` works from any loop
    and ``wait_for_message_sync`` from any other thread.
    """

    def __init__(self) -> None:
        self.messages: list[MessageRecord] = []
        self.calls: list[CallRecord] = []
        # Messages requests refused: injected 500s, and 21610 for numbers that replied STOP
        self.rejected: list[MessageRecord] = []
        self.on_message: list[Callable[[MessageRecord], None]] = []
        self.callback_errors: list[str] = []
        self.opted_out: set[str] = set()

        self._messages_by_sid: dict[str, MessageRecord] = {}
        self._calls_by_sid: dict[str, CallRecord] = {}
        self._fail_rules: list[_FailRule] = []
        self._cond = threading.Condition()
        self._waiters: list[_Waiter[MessageRecord]] = []
        self._call_waiters: list[_Waiter[CallRecord]] = []

    # -- failure injection -----------------------------------------------------------------

    def fail_next(self, to: str | None, count: int, mode: FailMode) -> None:
        """Make the next ``count`` requests (to ``to``, or to anyone if None) fail.

        ``http_500``: a Messages or Calls request is answered 500 (Twilio code 20500); a
        message is recorded in ``rejected``, not in ``messages``. ``undelivered`` (Messages
        only): accepted (201) but the callbacks are ``sent`` then ``undelivered`` with
        ErrorCode 30003. ``lost_answer`` (Messages only): the message is created and
        delivered, but the answer comes too late (``lost_answer_delay`` seconds), as when a
        request times out after reaching Twilio. Rules are consumed in the order they were
        added.
        """
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; expected one of {FAIL_MODES}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        with self._cond:
            self._fail_rules.append(_FailRule(to=to, remaining=count, mode=mode))

    def opt_out(self, number: str) -> None:
        """The number texted STOP: Messages to it are refused with 21610 until ``opt_in``."""
        with self._cond:
            self.opted_out.add(number)

    def opt_in(self, number: str) -> None:
        with self._cond:
            self.opted_out.discard(number)

    def pending_failures(self) -> list[dict[str, Any]]:
        """Injected failures not yet consumed."""
        with self._cond:
            return [
                {"to": r.to, "count": r.remaining, "mode": r.mode}
                for r in self._fail_rules
                if r.remaining > 0
            ]

    def _take_failure(self, to: str, modes: tuple[str, ...] = FAIL_MODES) -> FailMode | None:
        with self._cond:
            for rule in self._fail_rules:
                if rule.remaining > 0 and rule.mode in modes and (rule.to is None or rule.to == to):
                    rule.remaining -= 1
                    mode = rule.mode
                    self._fail_rules = [r for r in self._fail_rules if r.remaining > 0]
                    return mode
        return None

    # -- records ---------------------------------------------------------------------------

    def message(self, sid: str) -> MessageRecord | None:
        return self._messages_by_sid.get(sid)

    def call(self, sid: str) -> CallRecord | None:
        return self._calls_by_sid.get(sid)

    def reset(self) -> None:
        """Forget recorded messages, calls, rejections and pending failures."""
        with self._cond:
            self.messages.clear()
            self.calls.clear()
            self.rejected.clear()
            self.callback_errors.clear()
            self.opted_out.clear()
            self._messages_by_sid.clear()
            self._calls_by_sid.clear()
            self._fail_rules.clear()

    def messages_json(self) -> list[dict[str, Any]]:
        with self._cond:
            records = list(self.messages)
        return [m.to_json() for m in records]

    def calls_json(self) -> list[dict[str, Any]]:
        with self._cond:
            records = list(self.calls)
        return [c.to_json() for c in records]

    def _record_rejection(self, record: MessageRecord) -> None:
        with self._cond:
            self.rejected.append(record)

    def _record_call(self, record: CallRecord) -> None:
        with self._cond:
            self.calls.append(record)
            self._calls_by_sid[record.sid] = record
            self._call_waiters = self._wake_matching(self._call_waiters, record)
            self._cond.notify_all()

    def _record_message(self, record: MessageRecord) -> None:
        with self._cond:
            self.messages.append(record)
            self._messages_by_sid[record.sid] = record
            self._waiters = self._wake_matching(self._waiters, record)
            self._cond.notify_all()
        for hook in list(self.on_message):
            try:
                hook(record)
            except Exception as exc:  # observers must not break the peer
                log.warning("sandbox.on_message_hook_failed", hook=repr(hook), error=repr(exc))

    # -- waiting ---------------------------------------------------------------------------

    async def wait_for_message(
        self,
        predicate: Callable[[MessageRecord], bool],
        timeout: float,
        *,
        start: int = 0,
    ) -> MessageRecord:
        """The first recorded message (from index ``start`` on) matching ``predicate``.

        Returns at once if one is already recorded, else waits without polling until one is,
        or raises ``TimeoutError`` listing what was received. Usable from any event loop.
        """
        return await self._wait(self.messages, self._waiters, predicate, timeout, start)

    async def wait_for_call(
        self, predicate: Callable[[CallRecord], bool], timeout: float, *, start: int = 0
    ) -> CallRecord:
        """Like :meth:`wait_for_message`, for calls placed through the Calls API."""
        return await self._wait(self.calls, self._call_waiters, predicate, timeout, start)

    def wait_for_message_sync(
        self,
        predicate: Callable[[MessageRecord], bool],
        timeout: float,
        *,
        start: int = 0,
    ) -> MessageRecord:
        """Blocking :meth:`wait_for_message` for a thread other than the peer's loop thread."""
        return self._wait_sync(self.messages, predicate, timeout, start)

    def wait_for_call_sync(
        self, predicate: Callable[[CallRecord], bool], timeout: float, *, start: int = 0
    ) -> CallRecord:
        """Blocking :meth:`wait_for_call` for a thread other than the peer's loop thread."""
        return self._wait_sync(self.calls, predicate, timeout, start)

    async def _wait(
        self,
        records: list[R],
        waiters: list[_Waiter[R]],
        predicate: Callable[[R], bool],
        timeout: float,
        start: int,
    ) -> R:
        loop = asyncio.get_running_loop()
        with self._cond:
            for record in records[start:]:
                if predicate(record):
                    return record
            waiter: _Waiter[R] = _Waiter(predicate, loop, loop.create_future())
            waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise TimeoutError(self._timeout_message(records, timeout, start)) from None
        finally:
            with self._cond:
                # The list may have been replaced since; remove from whichever holds it now.
                for pending in (self._waiters, self._call_waiters):
                    if waiter in pending:
                        pending.remove(waiter)  # type: ignore[arg-type]

    def _wait_sync(
        self, records: list[R], predicate: Callable[[R], bool], timeout: float, start: int
    ) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop in this thread: blocking is fine
        else:
            raise RuntimeError(
                "wait_for_message_sync would block a running event loop; "
                "await wait_for_message() instead"
            )
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                while index < len(records):
                    record = records[index]
                    index += 1
                    if predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(records, timeout, start))
                self._cond.wait(remaining)

    def _wake_matching(self, waiters: list[_Waiter[R]], record: R) -> list[_Waiter[R]]:
        """Wake the waiters ``record`` matches (under the lock); the ones still waiting."""
        still_waiting: list[_Waiter[R]] = []
        for waiter in waiters:
            try:
                matched = waiter.predicate(record)
            except Exception as exc:  # a broken predicate fails its own waiter only
                self._wake(waiter, _fail, exc)
                continue
            if matched:
                self._wake(waiter, _resolve, record)
            else:
                still_waiting.append(waiter)
        return still_waiting

    def _timeout_message(self, records: list[Any], timeout: float, start: int) -> str:
        what = "calls" if records is self.calls else "messages"
        noun = "call" if records is self.calls else "SMS"
        with self._cond:
            seen = records[start:]
        if not seen:
            return f"no matching {noun} within {timeout:g}s: the sandbox received no {what}"
        shown = seen[-10:]
        if records is self.calls:
            lines = [f"  {c.sid} to={c.to} status={c.status} url={c.url}" for c in shown]
        else:
            lines = [f"  {m.sid} to={m.to} status={m.status} body={m.body[:60]!r}" for m in shown]
        more = f" (last {len(shown)} shown)" if len(seen) > len(shown) else ""
        return (
            f"no matching {noun} within {timeout:g}s; the sandbox received {len(seen)}{more}:\n"
            + "\n".join(lines)
        )

    @staticmethod
    def _wake(waiter: _Waiter[Any], action: Callable[..., None], value: object) -> None:
        # The waiter may live in another thread's loop; a closed loop has nobody to wake.
        with contextlib.suppress(RuntimeError):
            waiter.loop.call_soon_threadsafe(action, waiter.future, value)
