"""Test pages in the engine, with a clock the test moves: sending, acknowledging like a real
page, the owner told about an unacknowledged one, and the weekly schedule timer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.errors import ConfigError
from oncall.store import Store, parse_ts
from oncall.test_page_schedule import parse_weekly
from oncall.test_pages import ACK_TEXT, SCHEDULE, STAGGER, TEST_CLIENT, recent_test_pages

# AFTER_HOURS is Saturday 2026-11-28 02:00 Chicago; the weekly test is Tuesday 10:00 Chicago.
NEXT_TUESDAY = parse_ts("2026-12-01T16:00:00.000000Z")


def make_engine(tmp_path: Path, test_pages: str = "", owner: bool = True) -> Engine:
    config = write_config(tmp_path, daemon='owner = "owner"\n' if owner else "")
    config.write_text(config.read_text() + "\n[test_pages]\n" + test_pages)
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    store = Store(tmp_path / "e.db", durable=False)
    return Engine(catalog, store, None, FakeClock(AFTER_HOURS))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(tmp_path)


def pending(engine: Engine, kind: str) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == kind]


def fire(engine: Engine, timer: dict) -> None:
    engine.clock.set(max(engine.clock.now(), parse_ts(timer["due_at"])))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))


def sms(engine: Engine, tech_id: str, body: str, sid: str = "SM1") -> str | None:
    phone = engine.catalog.techs[tech_id].phone
    return engine.inbox.receive({"MessageSid": sid, "From": phone, "Body": body})


def kinds(engine: Engine, number: int) -> list[str]:
    return [e["kind"] for e in engine.store.events(incident_id=number)]


def test_a_test_page_is_an_incident_paged_to_one_tech(engine: Engine) -> None:
    (number,), timers = engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    incident = engine.store.incident(number)
    assert incident["test"] == 1 and incident["client"] == TEST_CLIENT
    assert incident["state"] == "paging"
    assert incident["summary"] == f"Test page — reply ACK {number} to confirm your phone works"
    pages = engine.store.pages_for(number)
    assert [(p["tech_id"], p["channel"], p["kind"]) for p in pages] == [
        ("alice", "sms", "page"),
        ("alice", "voice", "page"),
    ]
    assert pages[0]["body"] == incident["summary"]
    sends = sorted(parse_ts(t["due_at"]) for t in pending(engine, "send"))
    assert sends == [AFTER_HOURS, AFTER_HOURS + timedelta(minutes=2)]
    (deadline,) = pending(engine, "step_timeout")
    assert parse_ts(deadline["due_at"]) == AFTER_HOURS + timedelta(minutes=15)
    assert len(timers) == 3
    assert "test_page.sent" in kinds(engine, number)


@pytest.mark.parametrize("reply", ["ACK 1", "1A", "ACK", "ACK ALL", "ESC 1", "RES 1"])
def test_the_tech_acknowledges_it_like_a_real_page(engine: Engine, reply: str) -> None:
    engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    engine.clock.advance(timedelta(seconds=40))  # type: ignore[attr-defined]
    answer = sms(engine, "alice", reply)
    if reply == "ACK ALL":
        assert answer is not None and "#1" in answer
    else:
        assert answer == ACK_TEXT == "Test page acknowledged — your phone works. Nothing to do."
    incident = engine.store.incident(1)
    assert incident["state"] == "resolved"
    assert incident["acked_by"] == incident["resolved_by"] == "alice"
    assert incident["owner"] is None  # no ownership side effects
    # The call still to come and the deadline are cancelled; nobody else hears of it.
    assert pending(engine, "send") == [] and pending(engine, "step_timeout") == []
    assert [p["state"] for p in engine.store.pages_for(1)] == ["cancelled", "cancelled"]
    assert "test_page.acknowledged" in kinds(engine, 1)
    assert "test_page.unacknowledged" not in kinds(engine, 1)


def test_only_the_tech_under_test_may_acknowledge(engine: Engine) -> None:
    engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    assert sms(engine, "bob", "ACK 1") == "You were not paged for #1; nothing changed."
    assert engine.store.incident(1)["state"] == "paging"
    assert sms(engine, "alice", "ACK 1", sid="SM2") == ACK_TEXT
    assert sms(engine, "alice", "ACK 1", sid="SM3") == "#1 is already resolved."


def test_another_tech_cannot_settle_a_test_page_from_the_shell(engine: Engine) -> None:
    # `oncall ack 1 --as bob` / `oncall assign 1 bob` must not prove alice's phone works.
    engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    with engine.store.transaction():
        handled, answer, _ = engine.acknowledge(engine.store.incident(1), "bob", AFTER_HOURS)
    assert handled == "already" and "test page for Alice Nguyen" in answer
    with engine.store.transaction():
        handled, answer, _ = engine.owners.assign(
            engine.store.incident(1), "bob", "owner", AFTER_HOURS
        )
    assert handled == "already" and "test page" in answer
    incident = engine.store.incident(1)
    assert incident["state"] == "paging" and incident["acked_by"] is None
    assert incident["owner"] is None
    assert "test_page.acknowledged" not in kinds(engine, 1)
    # TAKE from the phone under test counts as its acknowledgment, without an owner.
    assert sms(engine, "bob", "TAKE 1") == "You were not paged for #1; nothing changed."
    assert sms(engine, "alice", "TAKE 1", sid="SM2") == ACK_TEXT
    incident = engine.store.incident(1)
    assert incident["acked_by"] == "alice" and incident["owner"] is None


def test_an_unacknowledged_test_page_is_reported_to_the_owner(engine: Engine) -> None:
    engine.test_pages.send(["bob"], AFTER_HOURS, "on demand")
    (deadline,) = pending(engine, "step_timeout")
    fire(engine, deadline)
    incident = engine.store.incident(1)
    assert incident["state"] == "resolved" and incident["resolved_by"] == "test-timeout"
    assert incident["acked_at"] is None
    assert "test_page.unacknowledged" in kinds(engine, 1)
    notices = [p for p in engine.store.pages_for(1) if p["kind"] == "notice"]
    assert [(p["tech_id"], p["channel"]) for p in notices] == [("owner", "sms")]
    assert notices[0]["body"] == (
        "Test page to Bob Okafor (sent Sat 02:00 CST) was not acknowledged within 15m — "
        "check their phone, SMS opt-out state and number."
    )
    # The notice still goes out; the unsent call to bob does not.
    assert [t["ref"] for t in pending(engine, "send")] == [notices[0]["id"]]
    assert sms(engine, "bob", "ACK 1") == "#1 is already resolved."
    assert recent_test_pages(engine.store, 10)[0]["outcome"] == "unacknowledged"


def test_no_notice_when_the_owner_is_the_one_under_test(engine: Engine) -> None:
    engine.test_pages.send(["owner"], AFTER_HOURS, "on demand")
    fire(engine, pending(engine, "step_timeout")[0])
    assert engine.store.incident(1)["resolved_by"] == "test-timeout"
    assert [p for p in engine.store.pages_for(1) if p["kind"] == "notice"] == []


def test_no_notice_without_an_owner(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, owner=False)
    engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    fire(engine, pending(engine, "step_timeout")[0])
    assert engine.store.incident(1)["resolved_by"] == "test-timeout"
    assert [p for p in engine.store.pages_for(1) if p["kind"] == "notice"] == []


def test_every_channel_failing_reports_at_once(engine: Engine) -> None:
    engine.test_pages.send(["carol"], AFTER_HOURS, "on demand")
    now = AFTER_HOURS + timedelta(seconds=5)
    with engine.store.transaction():
        for page in engine.store.pages_for(1):
            engine.store.update("pages", page["id"], {"state": "failed"})
        page = engine.store.pages_for(1)[-1]
        engine.pager.after_failure(page, None, now)
    incident = engine.store.incident(1)
    assert incident["resolved_by"] == "test-timeout"
    (notice,) = [p for p in engine.store.pages_for(1) if p["kind"] == "notice"]
    assert "was not acknowledged (delivery failed)" in notice["body"]


def test_settings_choose_channels_and_window(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'channels = ["voice"]\nack_within = "2s"\n')
    engine.test_pages.send(["alice"], AFTER_HOURS, "on demand")
    assert [p["channel"] for p in engine.store.pages_for(1)] == ["voice"]
    (deadline,) = pending(engine, "step_timeout")
    assert parse_ts(deadline["due_at"]) == AFTER_HOURS + timedelta(seconds=2)


def test_several_techs_are_paged_a_few_seconds_apart(engine: Engine) -> None:
    numbers, _ = engine.test_pages.send(["alice", "bob", "carol"], AFTER_HOURS, "on demand")
    assert numbers == [1, 2, 3]
    firsts = [parse_ts(engine.store.pages_for(n)[0]["created_at"]) for n in numbers]
    assert firsts == [AFTER_HOURS + i * STAGGER for i in range(3)]
    sms_sends = sorted(
        parse_ts(t["due_at"])
        for t in pending(engine, "send")
        if engine.store.one("SELECT channel FROM pages WHERE id = ?", (t["ref"],))["channel"]
        == "sms"
    )
    assert sms_sends == firsts


# -- the weekly schedule ---------------------------------------------------------------------


def test_no_weekly_schedule_no_timer(engine: Engine) -> None:
    assert engine.test_pages.sync() == []
    assert pending(engine, SCHEDULE) == []


def test_the_weekly_timer_is_planned_once(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "tuesday 10:00"\n')
    engine.rearm()
    engine.rearm()
    engine.test_pages.sync()
    (timer,) = pending(engine, SCHEDULE)
    assert timer["incident_id"] == 0
    assert parse_ts(timer["due_at"]) == NEXT_TUESDAY


def test_a_changed_schedule_is_replanned_and_a_removed_one_stops(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "tuesday 10:00"\n')
    engine.test_pages.sync()
    (old,) = pending(engine, SCHEDULE)
    config = engine.catalog.config
    moved = replace(config.test_pages, weekly=parse_weekly("wednesday 09:00"))
    engine.catalog = replace(engine.catalog, config=replace(config, test_pages=moved))
    engine.test_pages.sync()
    (new,) = pending(engine, SCHEDULE)
    assert parse_ts(new["due_at"]) == parse_ts("2026-12-02T15:00:00.000000Z")
    gone = engine.store.one("SELECT outcome FROM timers WHERE id = ?", (old["id"],))
    assert gone["outcome"] == "rescheduled"
    off = replace(config.test_pages, weekly=None)
    engine.catalog = replace(engine.catalog, config=replace(config, test_pages=off))
    engine.test_pages.sync()
    assert pending(engine, SCHEDULE) == []


def test_the_weekly_timer_pages_each_configured_tech_then_plans_next_week(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "tuesday 10:00"\ntechs = ["bob", "alice"]\n')
    engine.test_pages.sync()
    (timer,) = pending(engine, SCHEDULE)
    fire(engine, timer)
    rows = engine.store.all("SELECT * FROM incidents WHERE test = 1 ORDER BY id")
    assert [engine.store.pages_for(r["id"])[0]["tech_id"] for r in rows] == ["bob", "alice"]
    assert [parse_ts(r["opened_at"]) for r in rows] == [NEXT_TUESDAY, NEXT_TUESDAY + STAGGER]
    (following,) = pending(engine, SCHEDULE)
    assert parse_ts(following["due_at"]) == NEXT_TUESDAY + timedelta(days=7)
    done = engine.store.one("SELECT outcome FROM timers WHERE id = ?", (timer["id"],))
    assert done["outcome"] == "fired"


def test_a_weekly_test_long_overdue_is_skipped_not_paged_late(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "tuesday 10:00"\n')
    engine.test_pages.sync()
    (timer,) = pending(engine, SCHEDULE)
    # The daemon was down from Tuesday morning until Tuesday night.
    engine.clock.set(NEXT_TUESDAY + timedelta(hours=10))  # type: ignore[attr-defined]
    engine.test_pages.sync()  # start-up keeps the overdue timer ...
    assert [t["id"] for t in pending(engine, SCHEDULE)] == [timer["id"]]
    asyncio.run(engine._fire(timer["id"]))  # ... which then fires at once
    assert engine.store.all("SELECT * FROM incidents WHERE test = 1") == []
    assert engine.store.one("SELECT 1 FROM events WHERE kind = 'test_page.schedule_missed'")
    (following,) = pending(engine, SCHEDULE)
    assert parse_ts(following["due_at"]) == NEXT_TUESDAY + timedelta(days=7)


def test_a_weekly_test_a_little_late_still_goes(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "tuesday 10:00"\ntechs = ["alice"]\n')
    engine.test_pages.sync()
    (timer,) = pending(engine, SCHEDULE)
    engine.clock.set(NEXT_TUESDAY + timedelta(minutes=20))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    assert len(engine.store.all("SELECT * FROM incidents WHERE test = 1")) == 1


def test_the_report_lists_outcomes_newest_first(engine: Engine) -> None:
    engine.test_pages.send(["alice", "bob", "carol"], AFTER_HOURS, "on demand")
    engine.clock.advance(timedelta(seconds=42))  # type: ignore[attr-defined]
    sms(engine, "alice", "ACK 1")
    for timer in pending(engine, "step_timeout"):
        if timer["incident_id"] == 2:
            fire(engine, timer)
    report = recent_test_pages(engine.store, 10)
    assert [(r["incident"], r["tech"], r["outcome"]) for r in report] == [
        (3, "carol", "waiting"),
        (2, "bob", "unacknowledged"),
        (1, "alice", "acknowledged"),
    ]
    assert report[2]["seconds_to_ack"] == 42
    assert len(recent_test_pages(engine.store, 1)) == 1


def test_a_phone_that_opted_out_of_sms_is_called_instead(engine: Engine) -> None:
    """The test finds the opt-out: the page goes by voice only and the owner hears of it."""
    sms(engine, "dave", "STOP")
    engine.test_pages.send(["dave"], AFTER_HOURS, "on demand")
    pages = [(p["tech_id"], p["channel"], p["kind"]) for p in engine.store.pages_for(1)]
    assert pages == [("dave", "voice", "page"), ("owner", "sms", "notice")]
    assert "opted out of SMS" in engine.store.pages_for(1)[1]["body"]


def test_config_toml_carries_the_settings(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, 'weekly = "Tue 10:00"\ntechs = ["bob"]\n')
    settings = engine.catalog.config.test_pages
    assert settings.weekly == parse_weekly("tuesday 10:00") and settings.techs == ("bob",)
    assert engine.test_pages.default_techs() == ["bob"]
    with pytest.raises(ConfigError, match=r"test_pages\.techs: unknown tech 'zed'"):
        make_engine(tmp_path, 'techs = ["zed"]\n')
