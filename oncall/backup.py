"""Backups: a consistent copy of the live database through SQLite's online backup API.

Safe while the daemon runs (WAL readers do not block it). Restore by stopping the daemon and
copying the backup over `daemon.database`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def backup_database(source: Path, target: Path) -> int:
    """Copy `source` to `target` (a new file); return the number of pages copied."""
    if not source.exists():
        raise FileNotFoundError(f"no database at {source}")
    if target.exists():
        raise FileExistsError(f"{target} exists; refusing to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = 0

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal copied
        copied = total

    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst, pages=1024, progress=progress)
        if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise RuntimeError(f"{target}: the backup failed its integrity check")
    return copied
