"""Tests for oncall.handoff_sender (the shell of handoff notices): the handoff_notices table,
queueing once, retries like pages, recovery after a crash — with a fake Twilio client and a
clock moved by hand — and the end-to-end story with the daemon and the sandbox peer."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from harness import Harness, eventually, write_config

from oncall import store as store_module
from oncall.catalog import Catalog, load_catalog
from oncall.clock import FakeClock, OffsetClock
from oncall.engine import Engine
from oncall.handoff_sender import HandoffSender
from oncall.notify import SendError, Sent
from oncall.store import SCHEMA_VERSION, Store

# Mon 30 Nov 2026 08:00 CST: primary passes from alice to bob, backup from carol to dave.
HANDOFF = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
BOB_TEXT = "oncall: you are on call for primary from now until Mon 08:00 CST."
DAVE_TEXT = "oncall: you are on call for backup from now until Mon 08:00 CST."


def handoff_config(tmp_path: Path, extra: str = "handoff_notice = true\n") -> Path:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("[rotations]\n", "[rotations]\n" + extra))
    return path


class FakeTwilio:
    """Records SMS; fails the first sends with the errors given."""

    def __init__(self, *errors: SendError) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[str, str]] = []
        self.known: list[Sent] = []  # what find_sent answers

    async def send_sms(self, to: str, body: str, *, status_callback: str | None) -> Sent:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((to, body))
        return Sent(sid=f"SM{len(self.sent)}", status="queued")

    async def find_sent(self, to: str, body: str, since: datetime) -> Sent | None:
        return self.known[0] if self.known else None


class OptOuts:
    def __init__(self, *phones: str) -> None:
        self.phones = set(phones)

    def is_opted_out(self, phone: str) -> bool:
        return phone in self.phones


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return load_catalog(handoff_config(tmp_path), {"ONCALL_TEST_SECRET": "x"}, now=HANDOFF)


@pytest.fixture
def store() -> Any:
    s = Store(":memory:", durable=False)
    yield s
    s.close()


def sender(
    catalog: Catalog,
    store: Store,
    clock: FakeClock,
    twilio: FakeTwilio,
    opt_outs: OptOuts | None = None,
) -> HandoffSender:
    engine = SimpleNamespace(
        catalog=catalog, store=store, clock=clock, notifier=twilio, opt_outs=opt_outs or OptOuts()
    )
    return HandoffSender(cast(Engine, engine))


def notices(store: Store) -> list[dict[str, Any]]:
    return store.all("SELECT * FROM handoff_notices ORDER BY rotation, tech_id")


def kinds(store: Store) -> list[str]:
    return [e["kind"] for e in store.events()]


def test_migration_adds_the_handoff_notices_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "oncall.db"
    with monkeypatch.context() as m:
        m.setattr(store_module, "SCHEMA_VERSION", 6)  # a database from before handoff notices
        with Store(path) as old:
            old.log(HANDOFF, "x", "kept")
            tables = {r["name"] for r in old.all("SELECT name FROM sqlite_master")}
            assert "handoff_notices" not in tables
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION >= 7
        assert [e["message"] for e in s.events()] == ["kept"]
        columns = {r["name"] for r in s.all("PRAGMA table_info(handoff_notices)")}
        assert {
            "rotation",
            "tech_id",
            "shift_start",
            "shift_end",
            "phone",
            "body",
            "state",
            "attempts",
            "twilio_sid",
            "error",
            "due_at",
        } <= columns
        row = {
            "rotation": "primary",
            "tech_id": "bob",
            "shift_start": "2026-11-30T14:00:00.000000Z",
            "shift_end": "2026-12-07T14:00:00.000000Z",
            "phone": "+15550001002",
            "body": "b",
            "state": "sent",
            "due_at": "x",
            "created_at": "x",
            "updated_at": "x",
        }
        s.insert("handoff_notices", row)
        with pytest.raises(sqlite3.IntegrityError):
            s.insert("handoff_notices", row)  # one notice per (rotation, tech, start)


def test_at_the_handoff_each_incoming_tech_gets_one_sms(catalog: Catalog, store: Store) -> None:
    clock = FakeClock(HANDOFF - timedelta(minutes=5))
    twilio = FakeTwilio()
    s = sender(catalog, store, clock, twilio)
    assert asyncio.run(s.tick()) == HANDOFF  # nothing yet; wake at the handoff
    assert twilio.sent == []
    clock.set(HANDOFF)
    asyncio.run(s.tick())
    bob, dave = catalog.techs["bob"].phone, catalog.techs["dave"].phone
    assert sorted(twilio.sent) == sorted([(bob, BOB_TEXT), (dave, DAVE_TEXT)])
    clock.advance(timedelta(minutes=1))
    asyncio.run(s.tick())  # and never again
    assert len(twilio.sent) == 2
    assert [(r["tech_id"], r["state"], r["twilio_sid"] is not None) for r in notices(store)] == [
        ("dave", "sent", True),
        ("bob", "sent", True),
    ]
    assert kinds(store) == ["handoff.sent", "handoff.sent"]
    [event] = [e for e in store.events() if e["data"]["tech"] == "bob"]
    assert event["message"] == f"handoff notice SMS to Bob Okafor ({bob}): {BOB_TEXT}"
    assert event["data"]["rotation"] == "primary"


def test_off_by_default(tmp_path: Path, store: Store) -> None:
    catalog = load_catalog(
        handoff_config(tmp_path, extra=""), {"ONCALL_TEST_SECRET": "x"}, now=HANDOFF
    )
    twilio = FakeTwilio()
    s = sender(catalog, store, FakeClock(HANDOFF), twilio)
    assert asyncio.run(s.tick()) is None
    assert twilio.sent == [] and notices(store) == []


def test_lead_time_sends_ahead(catalog: Catalog, store: Store) -> None:
    settings = replace(catalog.config.rotation_settings, handoff_lead=timedelta(minutes=15))
    catalog = replace(catalog, config=replace(catalog.config, rotation_settings=settings))
    clock = FakeClock(HANDOFF - timedelta(minutes=20))
    twilio = FakeTwilio()
    s = sender(catalog, store, clock, twilio)
    assert asyncio.run(s.tick()) == HANDOFF - timedelta(minutes=15)
    clock.set(HANDOFF - timedelta(minutes=15))
    asyncio.run(s.tick())
    bodies = sorted(body for _, body in twilio.sent)
    assert bodies[1] == (
        "oncall: you are on call for primary from Mon 08:00 CST until Mon Dec 7 08:00 CST."
    )


def test_transient_failure_is_retried_with_backoff(catalog: Catalog, store: Store) -> None:
    clock = FakeClock(HANDOFF)
    twilio = FakeTwilio(SendError("503", transient=True), SendError("503", transient=True))
    s = sender(catalog, store, clock, twilio)
    backoff = catalog.config.defaults.retry_backoff
    assert asyncio.run(s.tick()) == HANDOFF + backoff  # both failed once; retry after backoff
    assert twilio.sent == []
    assert {r["state"] for r in notices(store)} == {"pending"}
    clock.advance(backoff)
    asyncio.run(s.tick())
    assert len(twilio.sent) == 2
    assert {(r["state"], r["attempts"]) for r in notices(store)} == {("sent", 2)}
    assert kinds(store) == ["handoff.retry", "handoff.retry", "handoff.sent", "handoff.sent"]


def test_permanent_failure_is_logged_and_not_retried(catalog: Catalog, store: Store) -> None:
    clock = FakeClock(HANDOFF)
    twilio = FakeTwilio(SendError("bad number", transient=False, code=21211))
    s = sender(catalog, store, clock, twilio)
    asyncio.run(s.tick())
    clock.advance(timedelta(hours=1))
    asyncio.run(s.tick())
    assert len(twilio.sent) == 1
    states = sorted((r["state"], r["error"] or "") for r in notices(store))
    assert states == [("failed", "bad number"), ("sent", "")]
    assert "handoff.failed" in kinds(store)


def test_opted_out_phone_is_not_sent_to(catalog: Catalog, store: Store) -> None:
    bob = catalog.techs["bob"].phone
    twilio = FakeTwilio()
    asyncio.run(sender(catalog, store, FakeClock(HANDOFF), twilio, OptOuts(bob)).tick())
    assert [to for to, _ in twilio.sent] == [catalog.techs["dave"].phone]
    [failed] = [r for r in notices(store) if r["tech_id"] == "bob"]
    assert failed["state"] == "failed" and "STOP" in failed["error"]


def test_a_send_interrupted_by_a_crash_is_not_sent_twice(catalog: Catalog, store: Store) -> None:
    clock = FakeClock(HANDOFF)
    crashing = FakeTwilio()

    async def crash(to: str, body: str, *, status_callback: str | None) -> Sent:
        raise KeyboardInterrupt  # the process dies while Twilio is being asked

    crashing.send_sms = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(sender(catalog, store, clock, crashing).tick())
    # The first notice (backup, dave) was being handed to Twilio; bob's waits its turn.
    assert [(r["tech_id"], r["state"]) for r in notices(store)] == [
        ("dave", "sending"),
        ("bob", "pending"),
    ]
    restarted = FakeTwilio()
    restarted.known = [Sent(sid="SM-already", status="delivered")]  # Twilio has dave's
    clock.advance(timedelta(seconds=30))
    asyncio.run(sender(catalog, store, clock, restarted).tick())
    rows = {r["tech_id"]: r for r in notices(store)}
    assert rows["dave"]["state"] == "sent" and rows["dave"]["twilio_sid"] == "SM-already"
    assert rows["bob"]["state"] == "sent"
    assert restarted.sent == [(catalog.techs["bob"].phone, BOB_TEXT)]  # dave's not sent twice


def test_a_notice_whose_shift_ended_meanwhile_expires(catalog: Catalog, store: Store) -> None:
    clock = FakeClock(HANDOFF)
    twilio = FakeTwilio(SendError("503", transient=True), SendError("503", transient=True))
    s = sender(catalog, store, clock, twilio)
    asyncio.run(s.tick())
    clock.advance(timedelta(days=8))
    asyncio.run(s.tick())
    assert twilio.sent == []
    assert {r["state"] for r in notices(store)} == {"expired"}


def test_the_daemon_sends_the_notice_at_the_shift_start_once_across_restarts(
    tmp_path: Path,
) -> None:
    config = handoff_config(tmp_path)
    with Harness(config, OffsetClock.starting_at(HANDOFF - timedelta(seconds=0.3))) as h:
        bob = h.phone("bob")
        bob.expect_sms(BOB_TEXT)
        h.phone("dave").expect_sms(DAVE_TEXT)
        h.phone("alice").expect_no_sms(within=0.2)  # her stretch ended; none was due
        eventually(lambda: len(h.query("SELECT 1 FROM events WHERE kind = 'handoff.sent'")) == 2)
        bob.expect_no_sms(within=0.3)
    with Harness(config, OffsetClock.starting_at(HANDOFF + timedelta(minutes=1))) as h:
        h.phone("bob").expect_no_sms(within=0.5)
        h.phone("dave").expect_no_sms(within=0.1)
        rows = h.query("SELECT tech_id, state FROM handoff_notices ORDER BY tech_id")
        assert rows == [{"tech_id": "bob", "state": "sent"}, {"tech_id": "dave", "state": "sent"}]
        assert len(h.query("SELECT 1 FROM events WHERE kind = 'handoff.sent'")) == 2
