"""SQLite storage: schema and migrations, the append-only event log, and the state tables.

One file in WAL mode via sqlite-utils. Every state change happens inside `transaction()`,
together with the event rows that record it, so the log and the state never disagree.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.db import NotFoundError, jsonify_if_needed
from sqlite_utils.utils import dedupe_keys

SCHEMA_VERSION = 9

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        client TEXT,
        incident_id INTEGER,
        actor TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_incident ON events(incident_id);
    CREATE INDEX events_client_ts ON events(client, ts);
    CREATE INDEX events_ts ON events(ts);
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;

    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        client TEXT NOT NULL,
        source TEXT,
        severity TEXT,
        summary TEXT,
        details TEXT,
        host TEXT,
        dedup_key TEXT,
        status TEXT,
        raw TEXT NOT NULL,
        accepted INTEGER NOT NULL,
        error TEXT,
        decision TEXT,
        incident_id INTEGER
    );
    CREATE INDEX alerts_client ON alerts(client, received_at);

    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        priority TEXT,
        rule_id TEXT,
        summary TEXT NOT NULL,
        host TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        opened_at TEXT NOT NULL,
        acked_at TEXT,
        acked_by TEXT,
        resolved_at TEXT,
        resolved_by TEXT,
        pass_number INTEGER NOT NULL DEFAULT 0,
        step_index INTEGER NOT NULL DEFAULT 0,
        alert_id INTEGER
    );
    CREATE INDEX incidents_state ON incidents(state);

    CREATE TABLE pages (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        tech_id TEXT NOT NULL,
        phone TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        pass_number INTEGER NOT NULL,
        step_index INTEGER NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        twilio_sid TEXT,
        twilio_status TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX pages_incident ON pages(incident_id);
    CREATE INDEX pages_phone ON pages(phone, created_at);
    CREATE UNIQUE INDEX pages_sid ON pages(twilio_sid) WHERE twilio_sid IS NOT NULL;

    CREATE TABLE timers (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        incident_id INTEGER NOT NULL,
        ref INTEGER,
        pass_number INTEGER,
        step_index INTEGER,
        due_at TEXT NOT NULL,
        done_at TEXT,
        outcome TEXT
    );
    CREATE INDEX timers_pending ON timers(done_at, due_at);

    CREATE TABLE inbound_sms (
        message_sid TEXT PRIMARY KEY,
        received_at TEXT NOT NULL,
        from_phone TEXT NOT NULL,
        to_phone TEXT,
        body TEXT NOT NULL,
        params TEXT NOT NULL,
        handled_as TEXT
    );
    """,
    2: """
    ALTER TABLE incidents ADD COLUMN fold_key TEXT;
    ALTER TABLE incidents ADD COLUMN alert_count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE incidents ADD COLUMN last_alert_at TEXT;
    UPDATE incidents SET last_alert_at = opened_at WHERE last_alert_at IS NULL;
    CREATE INDEX incidents_client_state ON incidents(client, state);
    """,
    # Voice: every call (the after-hours line and voice pages), voicemails queued for the
    # desk, and techs whose phones opted out of SMS (replied STOP).
    3: """
    CREATE TABLE calls (
        call_sid TEXT PRIMARY KEY,
        direction TEXT NOT NULL,
        from_phone TEXT NOT NULL,
        to_phone TEXT NOT NULL,
        client TEXT,
        page_id INTEGER,
        incident_id INTEGER,
        stage TEXT NOT NULL,
        pin_tries INTEGER NOT NULL DEFAULT 0,
        menu_misses INTEGER NOT NULL DEFAULT 0,
        menu_choice TEXT,
        decision TEXT,
        message_reason TEXT,
        recording_url TEXT,
        status TEXT,
        answered_by TEXT,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE INDEX calls_client ON calls(client, started_at);
    CREATE INDEX calls_page ON calls(page_id);

    CREATE TABLE voicemails (
        id INTEGER PRIMARY KEY,
        call_sid TEXT NOT NULL,
        client TEXT,
        from_phone TEXT NOT NULL,
        reason TEXT NOT NULL,
        recording_sid TEXT,
        recording_url TEXT,
        duration_seconds INTEGER,
        received_at TEXT NOT NULL,
        due_at TEXT,
        incident_id INTEGER,
        handled_at TEXT
    );
    CREATE UNIQUE INDEX voicemails_call ON voicemails(call_sid);
    CREATE INDEX voicemails_due ON voicemails(handled_at, due_at);

    CREATE TABLE sms_opt_outs (
        phone TEXT PRIMARY KEY,
        tech_id TEXT,
        opted_out_at TEXT NOT NULL,
        source TEXT NOT NULL,
        owner_warned_at TEXT
    );
    """,
    # SMS bundling: a page that went out inside another page's SMS points at that page.
    4: """
    ALTER TABLE pages ADD COLUMN bundle_id INTEGER;
    CREATE INDEX pages_bundle ON pages(bundle_id) WHERE bundle_id IS NOT NULL;
    """,
    # The alert path's lookups (grouping, paging budget) stay index-backed with many incidents.
    5: """
    CREATE INDEX incidents_client_fold ON incidents(client, fold_key);
    CREATE INDEX incidents_client_last ON incidents(client, last_alert_at);
    CREATE INDEX pages_tech_created ON pages(tech_id, created_at);
    """,
    # Heartbeat checks (their deadlines are `heartbeat` timers whose ref is the row) and
    # maintenance windows started from the shell.
    6: """
    CREATE TABLE heartbeats (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        name TEXT NOT NULL,
        schedule TEXT NOT NULL,
        watched_since TEXT NOT NULL,
        last_checkin_at TEXT,
        missed_since TEXT,
        expected_at TEXT NOT NULL,
        due_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX heartbeats_check ON heartbeats(client, name);

    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        started_by TEXT NOT NULL,
        ended_early_at TEXT
    );
    CREATE INDEX maintenance_client_ends ON maintenance(client, ends_at);
    """,
    # Handoff notices (oncall.handoff_sender): one SMS per (rotation, tech, stretch start).
    7: """
    CREATE TABLE handoff_notices (
        id INTEGER PRIMARY KEY,
        rotation TEXT NOT NULL,
        tech_id TEXT NOT NULL,
        shift_start TEXT NOT NULL,
        shift_end TEXT NOT NULL,
        phone TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        twilio_sid TEXT,
        error TEXT,
        due_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX handoff_notices_key ON handoff_notices(rotation, tech_id, shift_start);
    CREATE INDEX handoff_notices_due ON handoff_notices(state, due_at);
    """,
    # Ownership and communication until the incident is stable (owner, client updates and
    # the outbox that carries them, vendor contacts), the next-business-day queue and its
    # morning digests, and test pages (incidents with test = 1, kept out of reports).
    # Unhandled voicemails and the last week's queued alerts go into the queue (the daemon
    # plans their digest at start-up).
    8: """
    ALTER TABLE incidents ADD COLUMN owner TEXT;
    UPDATE incidents SET owner = acked_by WHERE acked_by IS NOT NULL;
    ALTER TABLE incidents ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX incidents_owner ON incidents(owner);

    CREATE TABLE client_updates (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        client TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        author TEXT NOT NULL,
        created_at TEXT NOT NULL,
        next_due_at TEXT
    );
    CREATE INDEX client_updates_incident ON client_updates(incident_id, created_at);

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER,
        client TEXT,
        purpose TEXT NOT NULL,
        ref INTEGER,
        to_name TEXT,
        phone TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        twilio_sid TEXT,
        twilio_status TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX outbox_ref ON outbox(purpose, ref);
    CREATE INDEX outbox_incident ON outbox(incident_id);

    CREATE TABLE vendor_contacts (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        client TEXT NOT NULL,
        vendor TEXT NOT NULL,
        ticket TEXT,
        note TEXT NOT NULL DEFAULT '',
        actor TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX vendor_contacts_incident ON vendor_contacts(incident_id, at);

    CREATE TABLE queue (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        kind TEXT NOT NULL,
        ref INTEGER,
        summary TEXT NOT NULL,
        received_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        digest_id INTEGER,
        done_at TEXT,
        done_by TEXT,
        done_note TEXT
    );
    CREATE UNIQUE INDEX queue_ref ON queue(kind, ref) WHERE ref IS NOT NULL;
    CREATE INDEX queue_open ON queue(done_at, client, due_at);

    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        due_at TEXT NOT NULL,
        sent_at TEXT,
        items INTEGER NOT NULL DEFAULT 0,
        email_state TEXT,
        email_error TEXT
    );
    CREATE UNIQUE INDEX digests_client_due ON digests(client, due_at);

    INSERT INTO queue (client, kind, ref, summary, received_at, due_at)
        SELECT client, 'call', id,
            'Voicemail from ' || from_phone || COALESCE(' (' || duration_seconds || ' s)', '')
                || ': message left after hours',
            received_at, COALESCE(due_at, received_at)
        FROM voicemails
        WHERE handled_at IS NULL AND client IS NOT NULL AND incident_id IS NULL;
    INSERT INTO queue (client, kind, ref, summary, received_at, due_at)
        SELECT client, CASE WHEN source = 'heartbeat' THEN 'heartbeat' ELSE 'alert' END, id,
            CASE WHEN source = 'heartbeat'
                THEN 'Missed heartbeat ' || COALESCE(host, '?') || ': ' || COALESCE(summary, '')
                ELSE COALESCE(severity, '?') || ' alert from ' || COALESCE(source, '?')
                    || CASE WHEN COALESCE(host, '') != '' THEN ' on ' || host ELSE '' END
                    || ': ' || COALESCE(summary, '')
            END,
            received_at,
            COALESCE(
                strftime('%Y-%m-%dT%H:%M:%S.000000Z',
                    json_extract(decision, '$.next_business_start')),
                received_at)
        FROM alerts
        WHERE accepted = 1 AND json_extract(decision, '$.action') = 'queue'
            AND received_at >= strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-7 days');
    """,
    # Per-incident lookups that scanned every pending timer (stopping an incident's paging)
    # and every page to a phone (the latest page an SMS reply answers) stay index-backed
    # with thousands of open incidents.
    9: """
    CREATE INDEX timers_incident_pending ON timers(incident_id, done_at);
    CREATE INDEX pages_phone_id ON pages(phone, id);
    """,
}


# Group commit: the most a batch waits for company after the previous COMMIT (see _open_batch).
MAX_COMMIT_GAP = 0.010
# WAL fsyncs running at once: a commit does not wait for an fsync that started before it.
MAX_SYNCS = 4


def utcnow_text(instant: datetime) -> str:
    """The one timestamp format stored: ISO 8601 UTC with microseconds (sorts as text)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Store:
    """The database. Not thread-safe: the daemon uses it from its event-loop thread only."""

    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self.path = Path(path)
        self._durable = durable and str(path) != ":memory:"
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed page or deadline survives power loss, not only a crash.
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=5000")
        # Sub-journals (each group-commit transaction is a SAVEPOINT) and sort scratch stay in
        # memory: on disk they are temp files written and deleted at every commit.
        self.db.execute("PRAGMA temp_store=MEMORY")
        self._depth = 0
        # Group commit (the daemon only, see enable_group_commit): the open batch's commit.
        self._group = False
        self._batch: asyncio.Future[None] | None = None
        self._written: asyncio.Future[None] | None = None  # the open batch's COMMIT (not fsync)
        self._commit_cost = 0.0  # seconds, a moving average of one batch's COMMIT
        self._committed_at = 0.0  # loop time the last batch's COMMIT ended
        # With group commit on a durable file: batches committed, waiting for a WAL fsync.
        self._sync_in_thread = False
        self._seq = 0  # batches committed so far
        self._unsynced: list[tuple[int, asyncio.Future[None]]] = []  # (seq, batch), in order
        self._newest: asyncio.Future[None] | None = None  # the last batch committed
        self._sync_started = 0  # the last seq an fsync already running or done covers
        self._syncing = 0  # fsyncs running
        self.commits = 0  # batches committed (group commit), for /metrics and benchmarks
        self._pks: dict[str, str | None] = {}
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}
        try:
            self.migrate()
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        if self._batch is not None:
            self._commit_batch()
        if self._sync_in_thread:  # whatever was committed is on disk before the file closes
            self._fsync_wal()
        if getattr(self, "_checkpointer", None) is not None:
            self._checkpointer.close()  # type: ignore[union-attr]
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply every migration newer than the file's user_version, each in a transaction."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: database schema {current} is newer than this oncall ({SCHEMA_VERSION})"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _split_sql(_MIGRATIONS[version]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={version}")

    # -- transactions -----------------------------------------------------------------------

    def enable_group_commit(self) -> None:
        """Share one COMMIT (one fsync) among the transactions of one event-loop turn.

        Each `transaction()` becomes a SAVEPOINT inside a batch that is committed at the end
        of the current loop iteration, so it stays atomic on its own, and the batch is just
        as durable (synchronous=FULL) once committed. No answer may leave the process on the
        strength of a change before `durable()` has returned: the daemon awaits it before
        every HTTP answer; a Twilio create request awaits `committed()` (see oncall.daemon).

        On a durable file the fsync moves off the event loop. SQLite's synchronous=FULL is
        synchronous=NORMAL plus an fsync of the WAL after each COMMIT, done while holding the
        write lock and, here, blocking the loop. Instead the connection commits with NORMAL
        (the frames reach the WAL file, no fsync) and a worker thread fsyncs the WAL file
        afterwards; `durable()` returns once that fsync covers the batch. The guarantee is
        FULL's (a WAL reset needs a complete checkpoint, which syncs the database file
        first), but the loop and the write lock are free during the fsync. An fsync covers
        every batch committed before it started, and a batch does not wait behind an fsync
        that started before its COMMIT (up to MAX_SYNCS run at once)."""
        self._group = True
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        if self._durable and str(mode).lower() == "wal":  # else FULL stays, fsync in COMMIT
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._sync_in_thread = True

    def checkpoint_elsewhere(self) -> None:
        """Stop the commit that fills the WAL from copying it into the database file (and
        fsyncing that) on the event loop: `checkpoint()` does it, from a worker thread."""
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer: sqlite3.Connection | None = None

    def checkpoint(self) -> None:
        """A passive WAL checkpoint on a connection of its own (safe in a worker thread)."""
        if getattr(self, "_checkpointer", None) is None:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=FULL")
            self._checkpointer = conn
        assert self._checkpointer is not None
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def durable(self) -> None:
        """Return once every change made so far is committed, and with group commit on a
        durable file fsynced (at once if none is pending)."""
        batch = self._batch if self._batch is not None else self._newest
        if batch is not None:
            await asyncio.shield(batch)

    async def committed(self) -> None:
        """Return once every change made so far is committed: in the database, so that it
        survives a crash or kill -9 of this process, but perhaps not yet fsynced (see
        `durable()` for that; without the worker-thread fsync the two are the same)."""
        written = self._written
        if written is not None:
            await asyncio.shield(written)

    def _open_batch(self) -> bool:
        if self._batch is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.conn.execute("BEGIN IMMEDIATE")
        self._batch = loop.create_future()
        self._written = loop.create_future()
        # When COMMITs are slow (a busy disk), space them out a little (at most MAX_GAP, a
        # few times one COMMIT's cost) so that more transactions share each fsync.
        gap = min(MAX_COMMIT_GAP, 3 * self._commit_cost)
        wait = self._committed_at + gap - loop.time()
        if wait > 0:
            loop.call_later(wait, self._commit_batch)
        else:
            # Not this loop turn's end but the next one's: a task started in this turn (a
            # page due at once, see TimerWheel.arm) takes its first step before the COMMIT,
            # so an alert and its page's "sending" mark share one fsync.
            loop.call_soon(loop.call_soon, self._commit_batch)
        return True

    def _commit_batch(self) -> None:
        batch = self._batch
        if batch is None:
            return
        if self._depth:  # a transaction is open across an await: commit once it ends
            batch.get_loop().call_later(0.001, self._commit_batch)
            return
        written, self._batch, self._written = self._written, None, None
        loop = batch.get_loop()
        began = loop.time()
        try:
            self.conn.execute("COMMIT")
            self._committed_at = loop.time()
            self._commit_cost = 0.8 * self._commit_cost + 0.2 * (self._committed_at - began)
            self.commits += 1
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            for future in (batch, written):
                if future is not None and not future.done():
                    future.set_exception(exc)
                    future.exception()  # reported to whoever awaits it; no "never retrieved"
            raise
        if written is not None and not written.done():
            written.set_result(None)
        if self._sync_in_thread:
            self._seq += 1
            self._unsynced.append((self._seq, batch))
            self._newest = batch
            self._start_sync(loop)
        elif not batch.done():
            batch.set_result(None)

    def _fsync_wal(self) -> None:
        """Flush the WAL file to stable storage (runs in a worker thread)."""
        fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start an fsync for the batches committed since the last one started (at most
        MAX_SYNCS run at once): it covers every batch committed before it started."""
        if self._syncing >= MAX_SYNCS or self._sync_started == self._seq or loop.is_closed():
            return
        upto = self._sync_started = self._seq
        self._syncing += 1
        done = loop.run_in_executor(None, self._fsync_wal)
        done.add_done_callback(lambda sync: self._synced(loop, upto, sync))

    def _synced(
        self, loop: asyncio.AbstractEventLoop, upto: int, sync: asyncio.Future[None]
    ) -> None:
        self._syncing -= 1
        error = sync.exception()
        if error is not None:
            # Nothing still waiting is known to be on disk: fail it all (after a failed
            # fsync the kernel may drop the pages; a later fsync would not tell). Whoever
            # awaits durable() gets the error: the HTTP request fails with a 5xx (the sender
            # retries) and no Twilio request is made.
            failed, self._unsynced = self._unsynced, []
        else:
            # Every batch committed before this fsync started is on disk, whichever fsync
            # started it.
            failed = []
            while self._unsynced and self._unsynced[0][0] <= upto:
                _, batch = self._unsynced.pop(0)
                if not batch.done():
                    batch.set_result(None)
        for _, batch in failed:
            if not batch.done():
                batch.set_exception(error)  # type: ignore[arg-type]
                batch.exception()  # reported to whoever awaits it; no "never retrieved"
        self._start_sync(loop)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT; nested use joins the outer transaction.

        With group commit, a SAVEPOINT in the loop turn's batch instead (see above)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self._group and self._open_batch():
            # A savepoint in the loop turn's batch: atomic alone, committed with the batch.
            begin, undo, done = (
                ("SAVEPOINT oncall_tx",),
                ("ROLLBACK TO oncall_tx", "RELEASE oncall_tx"),
                ("RELEASE oncall_tx",),
            )
            sync_after = False
        else:
            begin, undo, done = ("BEGIN IMMEDIATE",), ("ROLLBACK",), ("COMMIT",)
            # No loop to wait on: a durable group-commit store fsyncs the WAL here and now.
            sync_after = self._sync_in_thread
        for sql in begin:
            self.conn.execute(sql)
        self._depth = 1
        try:
            yield
        except BaseException:
            for sql in undo:
                self.conn.execute(sql)
            raise
        else:
            for sql in done:
                self.conn.execute(sql)
            if sync_after:
                self._fsync_wal()
        finally:
            self._depth = 0

    # -- generic helpers --------------------------------------------------------------------

    def insert(self, table: str, row: dict[str, Any]) -> int:
        # Plain SQL (sqlite-utils' insert looks the table up and opens a savepoint each time,
        # a large share of the daemon's time per page); values converted as sqlite-utils does.
        columns = tuple(row)
        sql = self._insert_sql.get((table, columns))
        if sql is None:
            names = ", ".join(_quote(column) for column in columns)
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {_quote(table)} ({names}) VALUES ({marks})"
            self._insert_sql[(table, columns)] = sql
        cursor = self.conn.execute(sql, [jsonify_if_needed(value) for value in row.values()])
        last_pk = cursor.lastrowid
        assert isinstance(last_pk, int)  # the rowid, as sqlite-utils' last_pk was
        return last_pk

    def update(self, table: str, row_id: int | str, changes: dict[str, Any]) -> None:
        pk = self._pk(table)
        if pk is None or not changes:
            self.db.table(table).update(row_id, changes)
            return
        sets = ", ".join(f"{_quote(column)} = ?" for column in changes)
        params = [jsonify_if_needed(value) for value in changes.values()]
        cursor = self.conn.execute(
            f"UPDATE {_quote(table)} SET {sets} WHERE {_quote(pk)} = ?", [*params, row_id]
        )
        if cursor.rowcount == 0:
            raise NotFoundError
        assert cursor.rowcount == 1

    def _pk(self, table: str) -> str | None:
        """The table's one primary-key column ('rowid' if none is declared); None: several."""
        if table not in self._pks:
            pks = [
                row[1]
                for row in sorted(
                    self.conn.execute(f"PRAGMA table_info({_quote(table)})"), key=lambda r: r[5]
                )
                if row[5]
            ]
            self._pks[table] = pks[0] if len(pks) == 1 else ("rowid" if not pks else None)
        return self._pks[table]

    # Plain cursors: sqlite-utils' query() wraps each SELECT in a SAVEPOINT and a RELEASE.
    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> dict[str, Any] | None:
        cursor = self.conn.execute(sql, params)
        row = cursor.fetchone()
        return None if row is None else dict(zip(_keys(cursor, sql), row, strict=True))

    def all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        keys = _keys(cursor, sql)
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    # -- the event log ----------------------------------------------------------------------

    def log(
        self,
        at: datetime,
        kind: str,
        message: str,
        *,
        actor: str = "system",
        client: str | None = None,
        incident_id: int | None = None,
        **data: Any,
    ) -> int:
        """Append one event. `message` is the human sentence; `data` the details as JSON."""
        return self.insert(
            "events",
            {
                "ts": utcnow_text(at),
                "kind": kind,
                "client": client,
                "incident_id": incident_id,
                "actor": actor,
                "message": message,
                "data": json.dumps(data, default=str, sort_keys=True),
            },
        )

    def events(
        self,
        *,
        client: str | None = None,
        since: datetime | None = None,
        incident_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if client:
            clauses.append("client = ?")
            params.append(client)
        if since:
            clauses.append("ts >= ?")
            params.append(utcnow_text(since))
        if incident_id is not None:
            # The incident's own events, and those of the alert that opened it and of its pages.
            clauses.append(
                "(incident_id = ? OR (incident_id IS NULL AND ("
                "json_extract(data, '$.alert_id') = (SELECT alert_id FROM incidents WHERE id = ?)"
                " OR json_extract(data, '$.page_id') IN (SELECT id FROM pages WHERE incident_id = ?))))"
            )
            params.extend([incident_id, incident_id, incident_id])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self.all(f"SELECT * FROM events {where} ORDER BY id{tail}", params)
        for row in rows:
            row["data"] = json.loads(row["data"])
        return rows

    # -- incidents, pages, timers -----------------------------------------------------------

    def incident(self, incident_id: int) -> dict[str, Any] | None:
        return self.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))

    def pages_for(self, incident_id: int) -> list[dict[str, Any]]:
        return self.all("SELECT * FROM pages WHERE incident_id = ? ORDER BY id", (incident_id,))

    def latest_page_to(self, phone: str) -> dict[str, Any] | None:
        return self.one(
            "SELECT * FROM pages WHERE phone = ? AND kind != 'notice' ORDER BY id DESC LIMIT 1",
            (phone,),
        )

    def pending_timers(self) -> list[dict[str, Any]]:
        return self.all("SELECT * FROM timers WHERE done_at IS NULL ORDER BY due_at, id")

    def finish_timer(self, timer_id: int, at: datetime, outcome: str) -> None:
        self.update("timers", timer_id, {"done_at": utcnow_text(at), "outcome": outcome})

    def cancel_timers(
        self, incident_id: int, at: datetime, outcome: str, kind: str | None = None
    ) -> None:
        sql = "UPDATE timers SET done_at = ?, outcome = ? WHERE incident_id = ? AND done_at IS NULL"
        params: list[Any] = [utcnow_text(at), outcome, incident_id]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        self.conn.execute(sql, params)


def _keys(cursor: sqlite3.Cursor, sql: str) -> list[str]:
    """Column names as sqlite-utils gives them (a repeated name gets a suffix: id, id_2)."""
    if cursor.description is None:
        raise ValueError(f"not a query that returns rows: {sql!r}")
    return dedupe_keys([column[0] for column in cursor.description])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN … END;) whole."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.strip().splitlines():
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            buffer = []
    if "".join(buffer).strip():
        statements.append("\n".join(buffer))
    return statements
