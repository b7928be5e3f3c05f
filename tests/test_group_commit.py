"""Group commit (the daemon's Store.enable_group_commit): one COMMIT for a loop turn's
transactions, each still atomic on its own, and nothing reported before it is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oncall.store import Store


def committed_kinds(path: Path) -> list[str]:
    """What another process would see: committed events only."""
    conn = sqlite3.connect(str(path))
    try:
        return [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY id")]
    finally:
        conn.close()


def test_one_commit_for_a_turn_and_a_failed_transaction_leaves_the_others(tmp_path) -> None:
    path = tmp_path / "g.db"
    now = datetime.now(UTC)

    async def main() -> tuple[list[str], list[str], int]:
        store = Store(path)
        store.enable_group_commit()
        try:
            with store.transaction():
                store.log(now, "first", "kept")
            with pytest.raises(RuntimeError), store.transaction():
                store.log(now, "second", "rolled back")
                raise RuntimeError("boom")
            with store.transaction():
                store.log(now, "third", "kept")
            before = committed_kinds(path)  # nothing committed yet
            await store.durable()
            return before, committed_kinds(path), store.commits
        finally:
            store.close()

    before, after, commits = asyncio.run(main())
    assert before == []
    assert after == ["first", "third"]
    assert commits == 1


def test_outside_an_event_loop_each_transaction_commits_at_once(tmp_path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        store.enable_group_commit()
        with store.transaction():
            store.log(datetime.now(UTC), "sync", "committed at once")
        assert committed_kinds(path) == ["sync"]


def test_closing_commits_the_open_batch(tmp_path) -> None:
    path = tmp_path / "g.db"

    async def main() -> None:
        store = Store(path)
        store.enable_group_commit()
        with store.transaction():
            store.log(datetime.now(UTC), "late", "committed by close()")
        store.close()

    asyncio.run(main())
    assert committed_kinds(path) == ["late"]


# -- the WAL fsync off the event loop (a durable file) -------------------------------------


def synchronous_of(store: Store) -> int:
    return int(store.conn.execute("PRAGMA synchronous").fetchone()[0])


def test_a_durable_store_commits_with_normal_and_fsyncs_the_wal_itself(tmp_path) -> None:
    store = Store(tmp_path / "g.db")
    assert synchronous_of(store) == 2  # FULL until group commit takes the fsync over
    store.enable_group_commit()
    assert synchronous_of(store) == 1  # NORMAL: COMMIT writes the WAL, the fsync comes after
    store.close()
    memory = Store(":memory:")
    memory.enable_group_commit()
    assert not memory._sync_in_thread  # nothing to fsync
    memory.close()


def test_without_a_wal_the_fsync_stays_in_the_commit(tmp_path) -> None:
    store = Store(tmp_path / "g.db")
    store.conn.execute("PRAGMA journal_mode=DELETE")  # e.g. a filesystem without WAL support
    store.enable_group_commit()
    assert not store._sync_in_thread
    assert synchronous_of(store) == 2
    store.close()


def test_durable_waits_for_the_fsync_and_the_loop_keeps_running_meanwhile(
    tmp_path, monkeypatch
) -> None:
    import threading

    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    release = threading.Event()
    calls: list[float] = []
    real_fsync = store._fsync_wal

    def slow_fsync() -> None:
        calls.append(1)
        assert release.wait(5)
        real_fsync()

    monkeypatch.setattr(store, "_fsync_wal", slow_fsync)

    async def main() -> tuple[bool, int, list[str]]:
        with store.transaction():
            store.log(datetime.now(UTC), "first", "waits for the fsync")
        waiter = asyncio.ensure_future(store.durable())
        ticks = 0
        while not calls:  # the COMMIT is done and the fsync is running in a thread
            await asyncio.sleep(0.001)
        for _ in range(20):  # the loop is free: other work goes on during the fsync
            await asyncio.sleep(0.001)
            ticks += 1
        # Committed (another process can read it), not yet reported durable.
        visible = committed_kinds(tmp_path / "g.db")
        pending = not waiter.done()
        release.set()
        await asyncio.wait_for(waiter, 5)
        return pending, ticks, visible

    pending, ticks, visible = asyncio.run(main())
    store.close()
    assert pending
    assert ticks == 20
    assert visible == ["first"]


def test_a_commit_does_not_wait_for_an_fsync_that_started_before_it(tmp_path, monkeypatch) -> None:
    import threading

    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    release = threading.Event()
    calls: list[int] = []
    real_fsync = store._fsync_wal

    def first_one_stuck() -> None:
        calls.append(1)
        if len(calls) == 1:
            assert release.wait(5)
        real_fsync()

    monkeypatch.setattr(store, "_fsync_wal", first_one_stuck)

    async def main() -> tuple[bool, bool]:
        with store.transaction():
            store.log(datetime.now(UTC), "a", "its fsync is stuck")
        first = asyncio.ensure_future(store.durable())
        while not calls:
            await asyncio.sleep(0.001)
        with store.transaction():
            store.log(datetime.now(UTC), "b", "committed while that fsync runs")
        second = asyncio.ensure_future(store.durable())
        await asyncio.wait_for(second, 5)  # its own fsync, not stuck behind the first
        # That fsync started after "a" was committed: "a" is on disk too.
        first_done = first.done()
        release.set()
        await asyncio.wait_for(first, 5)
        return first_done, len(calls) == 2

    first_done, two_fsyncs = asyncio.run(main())
    store.close()
    assert first_done
    assert two_fsyncs


def test_at_most_max_syncs_fsyncs_run_and_the_next_covers_what_waited(
    tmp_path, monkeypatch
) -> None:
    import threading

    from oncall.store import MAX_SYNCS

    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    release = threading.Event()
    calls: list[int] = []
    real_fsync = store._fsync_wal

    def all_stuck() -> None:
        calls.append(1)
        assert release.wait(5)
        real_fsync()

    monkeypatch.setattr(store, "_fsync_wal", all_stuck)

    async def main() -> int:
        waiters = []
        for n in range(MAX_SYNCS + 3):  # one batch per loop turn
            with store.transaction():
                store.log(datetime.now(UTC), f"k{n}", "a batch")
            waiters.append(asyncio.ensure_future(store.durable()))
            await asyncio.sleep(0.005)
        running = len(calls)
        assert not any(w.done() for w in waiters)
        release.set()
        await asyncio.wait_for(asyncio.gather(*waiters), 5)
        return running

    running = asyncio.run(main())
    fsyncs = len(calls)
    store.close()
    assert running == MAX_SYNCS
    assert fsyncs == MAX_SYNCS + 1  # the three that waited share one


def test_durable_after_the_commit_still_waits_for_the_fsync(tmp_path, monkeypatch) -> None:
    import threading

    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    release = threading.Event()
    started = threading.Event()
    real_fsync = store._fsync_wal

    def gated_fsync() -> None:
        started.set()
        assert release.wait(5)
        real_fsync()

    monkeypatch.setattr(store, "_fsync_wal", gated_fsync)

    async def main() -> bool:
        with store.transaction():
            store.log(datetime.now(UTC), "x", "committed, not yet synced")
        while not started.is_set():  # no open batch any more: only the fsync is pending
            await asyncio.sleep(0.001)
        assert store._batch is None
        late = asyncio.ensure_future(store.durable())
        await asyncio.sleep(0.02)
        pending = not late.done()
        release.set()
        await asyncio.wait_for(late, 5)
        return pending

    pending = asyncio.run(main())
    store.close()
    assert pending


def test_a_failed_fsync_fails_every_waiter(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path / "g.db")
    store.enable_group_commit()

    def broken_fsync() -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store, "_fsync_wal", broken_fsync)

    async def main() -> None:
        with store.transaction():
            store.log(datetime.now(UTC), "x", "never known durable")
        with pytest.raises(OSError, match="Input/output error"):
            await store.durable()

    asyncio.run(main())
    monkeypatch.undo()
    store.close()


def test_outside_a_loop_a_durable_group_commit_store_fsyncs_at_once(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    calls: list[int] = []
    real_fsync = store._fsync_wal
    monkeypatch.setattr(store, "_fsync_wal", lambda: (calls.append(1), real_fsync()))
    with store.transaction():
        store.log(datetime.now(UTC), "sync", "committed and fsynced at once")
    assert calls == [1]
    assert committed_kinds(tmp_path / "g.db") == ["sync"]
    store.close()


def test_committed_returns_at_the_commit_and_durable_after_the_fsync(tmp_path, monkeypatch) -> None:
    import threading

    store = Store(tmp_path / "g.db")
    store.enable_group_commit()
    release = threading.Event()
    real_fsync = store._fsync_wal

    def stuck_fsync() -> None:
        assert release.wait(5)
        real_fsync()

    monkeypatch.setattr(store, "_fsync_wal", stuck_fsync)

    async def main() -> tuple[list[str], bool]:
        with store.transaction():
            store.log(datetime.now(UTC), "page", "what a Twilio request reports")
        durable = asyncio.ensure_future(store.durable())
        await asyncio.wait_for(store.committed(), 5)  # the COMMIT: survives kill -9
        seen = committed_kinds(tmp_path / "g.db")
        waiting = not durable.done()  # the fsync is still running
        release.set()
        await asyncio.wait_for(durable, 5)
        return seen, waiting

    seen, waiting = asyncio.run(main())
    store.close()
    assert seen == ["page"]
    assert waiting
