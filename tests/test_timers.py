"""The in-memory timer wheel (oncall.timers.TimerWheel) on the real clock, due times ~ms ahead."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from structlog.testing import capture_logs

from oncall.clock import SystemClock
from oncall.timers import TimerWheel

CLOCK = SystemClock()
WAIT = 2.0  # seconds: an upper bound only; every test finishes in tens of ms


def ms(n: float) -> datetime:
    return CLOCK.now() + timedelta(milliseconds=n)


class Recorder:
    """A fire callback that records (timer id, when fired) and can be awaited."""

    def __init__(self, action: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.fired: list[tuple[int, datetime]] = []
        self.action = action
        self._changed = asyncio.Event()

    async def __call__(self, timer_id: int) -> None:
        self.fired.append((timer_id, CLOCK.now()))
        self._changed.set()
        if self.action is not None:
            await self.action(timer_id)

    @property
    def ids(self) -> list[int]:
        return [timer_id for timer_id, _ in self.fired]

    async def wait_for(self, count: int, timeout: float = WAIT) -> None:
        async def until() -> None:
            while len(self.fired) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)


@asynccontextmanager
async def running(fire: Callable[[int], Awaitable[None]]) -> AsyncIterator[TimerWheel]:
    wheel = TimerWheel(CLOCK, fire)
    task = asyncio.create_task(wheel.run())
    try:
        yield wheel
    finally:
        await wheel.stop()
        await asyncio.wait_for(task, WAIT)


def test_fires_in_due_order() -> None:
    async def scenario() -> Recorder:
        rec = Recorder()
        async with running(rec) as wheel:
            due = {3: ms(60), 1: ms(20), 2: ms(40)}
            for timer_id, when in due.items():
                wheel.arm(timer_id, when)
            assert wheel.pending() == 3
            await rec.wait_for(3)
            assert wheel.pending() == 0
            for timer_id, fired_at in rec.fired:
                assert fired_at >= due[timer_id]  # never early
        return rec

    assert asyncio.run(scenario()).ids == [1, 2, 3]


def test_overdue_timer_fires_at_once() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            armed_at = CLOCK.now()
            wheel.arm(7, armed_at - timedelta(hours=1))  # passed while the daemon was down
            await rec.wait_for(1, timeout=0.5)
            assert rec.ids == [7]
            assert rec.fired[0][1] - armed_at < timedelta(milliseconds=500)
            assert wheel.max_lateness >= 3600

    asyncio.run(scenario())


def test_timers_armed_before_run_fire() -> None:
    async def scenario() -> None:
        rec = Recorder()
        wheel = TimerWheel(CLOCK, rec)
        wheel.arm(1, ms(-5))
        wheel.arm(2, ms(15))
        task = asyncio.create_task(wheel.run())
        await rec.wait_for(2)
        await wheel.stop()
        await asyncio.wait_for(task, WAIT)
        assert rec.ids == [1, 2]

    asyncio.run(scenario())


def test_cancel_prevents_fire() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            wheel.arm(1, ms(15))
            wheel.arm(2, ms(40))
            wheel.cancel(1)
            wheel.cancel(99)  # unknown ids are ignored
            assert wheel.pending() == 1
            await rec.wait_for(1)
            await asyncio.sleep(0.02)
            assert rec.ids == [2]

    asyncio.run(scenario())


def test_rearm_to_a_later_time_fires_once_at_the_later_time() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            wheel.arm(5, ms(10))
            later = ms(60)
            wheel.arm(5, later)
            assert wheel.pending() == 1
            await rec.wait_for(1)
            await asyncio.sleep(0.03)
            assert rec.ids == [5]
            assert rec.fired[0][1] >= later

    asyncio.run(scenario())


def test_rearm_to_an_earlier_time_fires_once_at_the_earlier_time() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            first = ms(5_000)
            wheel.arm(5, first)
            await asyncio.sleep(0.01)  # let the wheel go to sleep until `first`
            wheel.arm(5, ms(15))
            await rec.wait_for(1, timeout=1.0)
            assert rec.fired[0][1] < first - timedelta(seconds=4)
            assert wheel.pending() == 0
            assert rec.ids == [5]

    asyncio.run(scenario())


def test_a_timer_can_be_armed_again_after_it_fired() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            wheel.arm(1, ms(5))
            await rec.wait_for(1)
            await asyncio.sleep(0.005)  # let the fire task finish
            wheel.arm(1, ms(10))
            await rec.wait_for(2)
            assert rec.ids == [1, 1]

    asyncio.run(scenario())


def test_a_fire_that_raises_is_logged_and_the_wheel_goes_on() -> None:
    async def explode(timer_id: int) -> None:
        if timer_id == 1:
            raise RuntimeError("twilio is down")

    async def scenario() -> Recorder:
        rec = Recorder(explode)
        async with running(rec) as wheel:
            wheel.arm(1, ms(5))
            wheel.arm(2, ms(30))
            await rec.wait_for(2)
        return rec

    with capture_logs() as logs:
        rec = asyncio.run(scenario())
    assert rec.ids == [1, 2]
    failures = [entry for entry in logs if entry["event"] == "timer.failed"]
    assert len(failures) == 1
    assert failures[0]["timer_id"] == 1
    assert failures[0]["log_level"] == "error"


def test_stop_awaits_running_fires() -> None:
    finished: list[int] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def slow(timer_id: int) -> None:
            await gate.wait()
            await asyncio.sleep(0.005)
            finished.append(timer_id)

        rec = Recorder(slow)
        wheel = TimerWheel(CLOCK, rec)
        task = asyncio.create_task(wheel.run())
        wheel.arm(1, ms(0))
        wheel.arm(2, ms(5))
        wheel.arm(3, ms(10_000))  # never due: stop() must not wait for it
        await rec.wait_for(2)
        stopping = asyncio.create_task(wheel.stop())
        await asyncio.sleep(0.02)
        assert not stopping.done()  # both fires are still running
        assert finished == []
        gate.set()
        await asyncio.wait_for(stopping, 1.0)
        assert sorted(finished) == [1, 2]
        await asyncio.wait_for(task, 1.0)
        assert task.exception() is None
        assert rec.ids == [1, 2]

    asyncio.run(scenario())


def test_arming_a_running_timer_is_ignored_and_idle_waits() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def blocked(timer_id: int) -> None:
            await gate.wait()

        rec = Recorder(blocked)
        async with running(rec) as wheel:
            wheel.arm(1, ms(0))
            await rec.wait_for(1)
            wheel.arm(1, ms(0))  # the fire is still running: ignored
            assert wheel.pending() == 0
            gate.set()
            await asyncio.wait_for(wheel.idle(), 1.0)
            await asyncio.sleep(0.02)
            assert rec.ids == [1]

    asyncio.run(scenario())


def test_arming_an_earlier_timer_wakes_a_sleeping_wheel() -> None:
    async def scenario() -> None:
        rec = Recorder()
        async with running(rec) as wheel:
            wheel.arm(1, ms(10_000))  # the wheel now sleeps ~10 s
            await asyncio.sleep(0.01)
            soon = ms(20)
            wheel.arm(2, soon)
            await rec.wait_for(1, timeout=1.0)  # far less than 10 s
            assert rec.ids == [2]
            assert rec.fired[0][1] >= soon
            assert rec.fired[0][1] - soon < timedelta(milliseconds=500)
            assert wheel.pending() == 1  # timer 1 still waits

    asyncio.run(scenario())


def test_a_thousand_timers_all_fire_exactly_once() -> None:
    async def scenario() -> tuple[Recorder, TimerWheel]:
        rec = Recorder()
        rng = random.Random(1234)
        async with running(rec) as wheel:
            base = CLOCK.now()
            due = {
                i: base + timedelta(microseconds=rng.randrange(-10_000, 50_000))
                for i in range(1000)
            }
            for timer_id, when in due.items():
                wheel.arm(timer_id, when)
            # Re-arm some to the same time and cancel-then-re-arm others: still one fire each.
            for timer_id in range(0, 1000, 10):
                wheel.arm(timer_id, due[timer_id])
            for timer_id in range(5, 1000, 10):
                wheel.cancel(timer_id)
                wheel.arm(timer_id, due[timer_id])
            await rec.wait_for(1000)
            await asyncio.sleep(0.02)
            fired_due = [due[timer_id] for timer_id in rec.ids]
            assert all(at >= due[timer_id] for timer_id, at in rec.fired)
            # Fires start in due order (ties broken by arming order).
            assert fired_due == sorted(fired_due)
            return rec, wheel

    rec, wheel = asyncio.run(scenario())
    counts = Counter(rec.ids)
    assert set(counts) == set(range(1000))
    assert set(counts.values()) == {1}
    assert wheel.pending() == 0


def test_a_timer_armed_already_due_starts_at_once_once_the_wheel_runs() -> None:
    async def scenario() -> tuple[bool, bool, list[int]]:
        rec = Recorder()
        wheel = TimerWheel(CLOCK, rec)
        wheel.arm(1, ms(-5))  # before run(): it waits on the heap like any other
        queued_first = wheel.pending() == 1 and not wheel._running
        task = asyncio.create_task(wheel.run())
        await rec.wait_for(1)
        wheel.arm(2, ms(-5))  # while running: started right here, not at the next wake-up
        started_at_once = 2 in wheel._running and wheel.pending() == 0
        await asyncio.sleep(0)  # its first step runs in the very next loop turn
        await rec.wait_for(2)
        await wheel.stop()
        await asyncio.wait_for(task, WAIT)
        return queued_first, started_at_once, rec.ids

    queued_first, started_at_once, ids = asyncio.run(scenario())
    assert queued_first
    assert started_at_once
    assert ids == [1, 2]
