"""Event-driven timers for durable deadlines: each wakes the loop exactly at its due time.

The deadlines themselves live in SQLite (the `timers` table); this wheel only holds the
in-memory schedule of the ones not yet done. On start-up the daemon re-arms every pending row,
so a deadline that passed while the daemon was down fires at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from oncall.clock import Clock

log = structlog.get_logger(__name__)

Fire = Callable[[int], Awaitable[None]]
# Timer rows written in a transaction, (id, due), for the engine to arm once it commits.
Timers = list[tuple[int, datetime]]


class TimerWheel:
    """A heap of (due, timer id) and one task that sleeps until the earliest is due."""

    def __init__(self, clock: Clock, fire: Fire) -> None:
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[datetime, int, int]] = []
        self._armed: dict[int, datetime] = {}
        self._running: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._stopping = False
        self._started = False  # run() has started: due timers may start at once
        self.max_lateness = 0.0  # seconds; exposed for health checks and benchmarks

    def arm(self, timer_id: int, due: datetime) -> None:
        """Schedule (or re-schedule) a timer; arming one that is running is ignored."""
        if timer_id in self._running:
            return
        if self._started and not self._stopping and due <= self._clock.now():
            # Due already (a page to send now): start it at once instead of on the wheel's
            # next wake-up, so its first step runs in the next loop turn and its writes share
            # the commit of the change that armed it (see Store._open_batch).
            self._armed.pop(timer_id, None)
            self._start(timer_id)
            return
        self._armed[timer_id] = due
        heapq.heappush(self._heap, (due, next(self._order), timer_id))
        self._wake.set()

    def knows(self, timer_id: int) -> bool:
        """Armed and waiting, or firing right now."""
        return timer_id in self._armed or timer_id in self._running

    def cancel(self, timer_id: int) -> None:
        self._armed.pop(timer_id, None)

    def pending(self) -> int:
        return len(self._armed)

    async def run(self) -> None:
        """Fire timers until stop(); each fire runs as its own task."""
        self._started = True
        while not self._stopping:
            self._wake.clear()
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                due, _, timer_id = heapq.heappop(self._heap)
                if self._armed.get(timer_id) != due:
                    continue  # cancelled or re-armed for another time
                del self._armed[timer_id]
                self.max_lateness = max(self.max_lateness, (now - due).total_seconds())
                self._start(timer_id)
            timeout = None
            if self._heap:
                timeout = max(0.0, (self._heap[0][0] - self._clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _start(self, timer_id: int) -> None:
        self._running.add(timer_id)
        task = asyncio.get_running_loop().create_task(self._run_one(timer_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, timer_id: int) -> None:
        try:
            await self._fire(timer_id)
        except Exception:
            # The row stays pending in SQLite, so a restart retries it; log loudly now.
            log.exception("timer.failed", timer_id=timer_id)
        finally:
            self._running.discard(timer_id)

    async def stop(self) -> None:
        """Stop waking up and let fires already running finish."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until no fire is running (tests and the demo use this)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
