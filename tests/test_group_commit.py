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
