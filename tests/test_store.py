"""The SQLite store (oncall.store): schema, WAL, the append-only log and transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from oncall import store as store_module
from oncall.store import SCHEMA_VERSION, Store, parse_ts, utcnow_text

T0 = datetime(2025, 3, 14, 22, 15, 30, 123456, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "oncall.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path, durable=False)
    yield s
    s.close()


def incident_row(summary: str = "SQL01 down") -> dict[str, object]:
    return {"client": "acme", "summary": summary, "state": "paging", "opened_at": utcnow_text(T0)}


def other_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path), isolation_level=None)


def test_schema_version_after_migrate(store: Store, db_path: Path) -> None:
    assert db_path.is_file()  # the parent directory was created
    assert store.schema_version() == SCHEMA_VERSION
    tables = {row["name"] for row in store.all("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"events", "alerts", "incidents", "pages", "timers", "inbound_sms"} <= tables
    triggers = {r["name"] for r in store.all("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert triggers == {"events_append_only_update", "events_append_only_delete"}


def test_file_database_uses_wal_and_foreign_keys(store: Store) -> None:
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)])  # FULL=2, NORMAL=1
def test_durable_sets_synchronous(tmp_path: Path, durable: bool, level: int) -> None:
    s = Store(tmp_path / "x.db", durable=durable)
    try:
        assert s.conn.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        s.close()


def test_in_memory_store_migrates() -> None:
    s = Store(":memory:")
    try:
        assert s.schema_version() == SCHEMA_VERSION
        s.log(T0, "test", "hello")
        assert [e["message"] for e in s.events()] == ["hello"]
    finally:
        s.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET message = 'rewritten'",
        "UPDATE events SET kind = 'x' WHERE id = 1",
        "DELETE FROM events",
        "DELETE FROM events WHERE id = 1",
    ],
)
def test_events_are_append_only(store: Store, sql: str) -> None:
    store.log(T0, "incident.opened", "opened", client="acme", incident_id=1)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store.conn.execute(sql)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"), store.transaction():
        store.conn.execute(sql)
    [event] = store.events()
    assert (event["kind"], event["message"]) == ("incident.opened", "opened")


def test_transaction_rollback_on_exception_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        incident_id = store.insert("incidents", incident_row())
        store.log(T0, "incident.opened", "opened", incident_id=incident_id)
        raise RuntimeError("boom")
    assert store.all("SELECT * FROM incidents") == []
    assert store.events() == []
    # The store is usable again afterwards, and a clean transaction commits.
    with store.transaction():
        store.insert("incidents", incident_row("after"))
    assert [r["summary"] for r in store.all("SELECT summary FROM incidents")] == ["after"]


def test_rollback_on_base_exception(store: Store) -> None:
    with pytest.raises(KeyboardInterrupt), store.transaction():
        store.log(T0, "x", "x")
        raise KeyboardInterrupt
    assert store.events() == []


def test_commit_is_visible_to_another_connection_only_after_the_block(
    store: Store, db_path: Path
) -> None:
    reader = other_connection(db_path)
    try:
        with store.transaction():
            store.log(T0, "x", "inside")
            assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    finally:
        reader.close()


def test_nested_transaction_joins_the_outer_one(store: Store, db_path: Path) -> None:
    reader = other_connection(db_path)
    try:
        with store.transaction():
            store.log(T0, "x", "outer")
            with store.transaction():
                store.log(T0, "x", "inner")
            # The inner block did not commit on its own.
            assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        assert reader.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    finally:
        reader.close()


def test_exception_in_nested_transaction_rolls_back_the_outer_one(store: Store) -> None:
    with pytest.raises(ValueError), store.transaction():
        store.log(T0, "x", "outer")
        with store.transaction():
            store.log(T0, "x", "inner")
            raise ValueError("inner failed")
    assert store.events() == []
    # Depth is back to zero: a new transaction really begins and commits.
    with store.transaction():
        store.log(T0, "x", "later")
    assert [e["message"] for e in store.events()] == ["later"]


def test_log_records_every_column(store: Store) -> None:
    event_id = store.log(
        T0,
        "page.sent",
        "Paged alice by SMS",
        actor="alice",
        client="acme",
        incident_id=12,
        channel="sms",
        when=T0,
        attempts=2,
    )
    [event] = store.events()
    assert event == {
        "id": event_id,
        "ts": "2025-03-14T22:15:30.123456Z",
        "kind": "page.sent",
        "client": "acme",
        "incident_id": 12,
        "actor": "alice",
        "message": "Paged alice by SMS",
        "data": {"channel": "sms", "when": str(T0), "attempts": 2},
    }


def test_log_defaults(store: Store) -> None:
    store.log(T0, "daemon.started", "started")
    [event] = store.events()
    assert (event["actor"], event["client"], event["incident_id"], event["data"]) == (
        "system",
        None,
        None,
        {},
    )


@pytest.fixture
def populated(store: Store) -> Store:
    rows = [
        (0, "acme", 1),
        (1, "acme", 1),
        (2, "globex", 2),
        (3, "acme", 3),
        (4, None, None),
        (5, "globex", 2),
    ]
    for minutes, client, incident_id in rows:
        store.log(
            T0 + timedelta(minutes=minutes),
            "k",
            f"m{minutes}",
            client=client,
            incident_id=incident_id,
        )
    return store


@pytest.mark.parametrize(
    ("filters", "messages"),
    [
        ({}, ["m0", "m1", "m2", "m3", "m4", "m5"]),
        ({"client": "acme"}, ["m0", "m1", "m3"]),
        ({"client": "globex"}, ["m2", "m5"]),
        ({"client": "initech"}, []),
        ({"incident_id": 2}, ["m2", "m5"]),
        ({"incident_id": 99}, []),
        ({"since": T0 + timedelta(minutes=3)}, ["m3", "m4", "m5"]),  # inclusive
        ({"since": T0 + timedelta(minutes=2, microseconds=1)}, ["m3", "m4", "m5"]),
        ({"since": T0 + timedelta(hours=1)}, []),
        # since in another zone means the same instant
        (
            {"since": (T0 + timedelta(minutes=4)).astimezone(timezone(timedelta(hours=-6)))},
            ["m4", "m5"],
        ),
        ({"limit": 2}, ["m0", "m1"]),
        ({"client": "acme", "since": T0 + timedelta(minutes=1)}, ["m1", "m3"]),
        ({"client": "acme", "incident_id": 1, "limit": 1}, ["m0"]),
        ({"client": "globex", "incident_id": 1}, []),
    ],
)
def test_events_filters(populated: Store, filters: dict[str, object], messages: list[str]) -> None:
    assert [e["message"] for e in populated.events(**filters)] == messages  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "instant",
    [
        T0,
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 11, 2, 1, 30, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
)
def test_timestamps_round_trip(instant: datetime) -> None:
    text = utcnow_text(instant)
    assert text.endswith("Z")
    back = parse_ts(text)
    assert back == instant
    assert back.tzinfo == UTC


def test_timestamp_text_is_utc_and_sorts_chronologically() -> None:
    chicago = timezone(timedelta(hours=-6))
    assert (
        utcnow_text(datetime(2025, 3, 14, 17, 0, tzinfo=chicago)) == "2025-03-14T23:00:00.000000Z"
    )
    instants = [T0 + timedelta(microseconds=n * 7919) for n in range(50)]
    instants += [T0 - timedelta(days=n) for n in range(1, 20)]
    texts = [utcnow_text(i) for i in instants]
    assert sorted(texts) == [utcnow_text(i) for i in sorted(instants)]


def test_log_timestamp_round_trips(store: Store) -> None:
    at = datetime(2025, 6, 1, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=2)))
    store.log(at, "x", "x")
    assert parse_ts(store.events()[0]["ts"]) == at


def test_reopening_keeps_data_and_does_not_remigrate(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Store(db_path)
    first.log(T0, "x", "kept", client="acme")
    incident_id = first.insert("incidents", incident_row())
    first.close()
    # Were any migration to run again, this would fail loudly.
    monkeypatch.setitem(store_module._MIGRATIONS, SCHEMA_VERSION, "THIS IS NOT SQL;")
    second = Store(db_path)
    try:
        assert second.schema_version() == SCHEMA_VERSION
        assert [e["message"] for e in second.events()] == ["kept"]
        assert second.incident(incident_id)["summary"] == "SQL01 down"  # type: ignore[index]
    finally:
        second.close()


def test_database_with_newer_schema_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(str(db_path))
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this oncall") as info:
        Store(db_path)
    assert str(db_path) in str(info.value)
    # The file was not touched.
    conn = sqlite3.connect(str(db_path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()


def test_timer_helpers(store: Store) -> None:
    incident_id = store.insert("incidents", incident_row())
    due = [T0 + timedelta(minutes=m) for m in (5, 1, 3)]
    ids = [
        store.insert(
            "timers",
            {"kind": kind, "incident_id": incident_id, "due_at": utcnow_text(d)},
        )
        for kind, d in zip(("step", "reminder", "step"), due, strict=True)
    ]
    assert [t["id"] for t in store.pending_timers()] == [ids[1], ids[2], ids[0]]  # by due_at
    store.finish_timer(ids[1], T0, "fired")
    assert [t["id"] for t in store.pending_timers()] == [ids[2], ids[0]]
    store.cancel_timers(incident_id, T0, "acked", kind="step")
    assert store.pending_timers() == []
    outcomes = {r["id"]: r["outcome"] for r in store.all("SELECT id, outcome FROM timers")}
    assert outcomes == {ids[0]: "acked", ids[1]: "fired", ids[2]: "acked"}


def test_latest_page_to_ignores_notices(store: Store) -> None:
    incident_id = store.insert("incidents", incident_row())
    base = {
        "incident_id": incident_id,
        "tech_id": "alice",
        "phone": "+15550001001",
        "channel": "sms",
        "pass_number": 0,
        "step_index": 0,
        "body": "page",
        "state": "sent",
        "created_at": utcnow_text(T0),
        "updated_at": utcnow_text(T0),
    }
    page_id = store.insert("pages", {**base, "kind": "page"})
    store.insert("pages", {**base, "kind": "notice"})
    assert store.latest_page_to("+15550001001")["id"] == page_id  # type: ignore[index]
    assert store.latest_page_to("+15550001002") is None
    assert [p["kind"] for p in store.pages_for(incident_id)] == ["page", "notice"]


def test_pages_need_an_existing_incident(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.insert(
            "pages",
            {
                "incident_id": 999,
                "tech_id": "alice",
                "phone": "+15550001001",
                "channel": "sms",
                "kind": "page",
                "pass_number": 0,
                "step_index": 0,
                "body": "page",
                "state": "queued",
                "created_at": utcnow_text(T0),
                "updated_at": utcnow_text(T0),
            },
        )


def test_a_version_1_database_migrates_to_the_current_schema_keeping_its_data(tmp_path) -> None:
    import sqlite3

    from oncall.store import _MIGRATIONS, SCHEMA_VERSION, Store, _split_sql

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in _split_sql(_MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO incidents (client, summary, state, opened_at) VALUES ('acme', 'x', 'paging', ?)",
        ("2026-11-28T08:00:00.000000Z",),
    )
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        row = store.incident(1)
        assert row["summary"] == "x" and row["alert_count"] == 1
        assert row["last_alert_at"] == "2026-11-28T08:00:00.000000Z"


def test_a_version_2_database_gains_the_voice_tables_keeping_its_data(tmp_path) -> None:
    import sqlite3

    from oncall.store import _MIGRATIONS, SCHEMA_VERSION, Store, _split_sql

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for version in (1, 2):
        for statement in _split_sql(_MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO incidents (client, summary, state, opened_at, fold_key, last_alert_at)"
        " VALUES ('acme', 'PLC down', 'paging', ?, 'key:plc', ?)",
        ("2026-11-28T08:00:00.000000Z", "2026-11-28T08:00:00.000000Z"),
    )
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.incident(1)["fold_key"] == "key:plc"
        tables = {r["name"] for r in store.all("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"calls", "voicemails", "sms_opt_outs"} <= tables
        with store.transaction():
            store.insert(
                "calls",
                {
                    "call_sid": "CA1",
                    "direction": "inbound",
                    "from_phone": "+18155550141",
                    "to_phone": "+15550009000",
                    "stage": "menu",
                    "started_at": utcnow_text(T0),
                    "updated_at": utcnow_text(T0),
                },
            )
            store.insert(
                "voicemails",
                {
                    "call_sid": "CA1",
                    "from_phone": "+18155550141",
                    "reason": "next_business_day",
                    "received_at": utcnow_text(T0),
                },
            )
        with pytest.raises(sqlite3.IntegrityError), store.transaction():
            # One voicemail per call: a redelivered recording webhook cannot queue it twice.
            store.insert(
                "voicemails",
                {
                    "call_sid": "CA1",
                    "from_phone": "+1",
                    "reason": "x",
                    "received_at": utcnow_text(T0),
                },
            )
        assert store.one("SELECT pin_tries, menu_misses FROM calls") == {
            "pin_tries": 0,
            "menu_misses": 0,
        }


def test_a_version_3_database_gains_sms_bundles(tmp_path) -> None:
    import sqlite3

    from oncall.store import _MIGRATIONS, Store, _split_sql

    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path)
    for version in (1, 2, 3):
        for statement in _split_sql(_MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=3")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        columns = {r["name"] for r in store.all("SELECT name FROM pragma_table_info('pages')")}
        assert "bundle_id" in columns


def test_a_version_5_database_gains_heartbeats_and_maintenance_keeping_its_data(tmp_path) -> None:
    from oncall.store import _MIGRATIONS, _split_sql

    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    for version in range(1, 6):
        for statement in _split_sql(_MIGRATIONS[version]):
            conn.execute(statement)
    conn.execute(
        "INSERT INTO timers (kind, incident_id, due_at) VALUES ('step_timeout', 1, ?)",
        (utcnow_text(T0),),
    )
    conn.execute("PRAGMA user_version=5")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert [t["kind"] for t in store.pending_timers()] == ["step_timeout"]
        with store.transaction():
            store.insert(
                "heartbeats",
                {
                    "client": "acme",
                    "name": "backup",
                    "schedule": "daily by 03:00, grace 30m",
                    "watched_since": utcnow_text(T0),
                    "expected_at": utcnow_text(T0),
                    "due_at": utcnow_text(T0),
                },
            )
            store.insert(
                "maintenance",
                {
                    "client": "acme",
                    "starts_at": utcnow_text(T0),
                    "ends_at": utcnow_text(T0 + timedelta(hours=2)),
                    "reason": "patch night",
                    "started_by": "alice",
                },
            )
        # One row per check and client.
        with pytest.raises(sqlite3.IntegrityError), store.transaction():
            store.conn.execute(
                "INSERT INTO heartbeats (client, name, schedule, watched_since, expected_at,"
                " due_at) SELECT client, name, schedule, watched_since, expected_at, due_at"
                " FROM heartbeats"
            )
        assert store.one("SELECT reason FROM maintenance") == {"reason": "patch night"}
