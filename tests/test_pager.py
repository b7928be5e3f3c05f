"""The pager (oncall.pager) on a clock the test moves: ladders, budgets and fallbacks as rows
and timers in SQLite, with nothing sent."""

from __future__ import annotations

from datetime import timedelta

from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.notify import OPTED_OUT
from oncall.store import Store, parse_ts

LADDER = {"channels": '["sms", "voice"]', "step": 'voice_after = "2m"'}


def make_engine(tmp_path, **options) -> Engine:
    options.setdefault("ack", "5m")
    catalog = load_catalog(write_config(tmp_path, **options), {"ONCALL_TEST_SECRET": SECRET})
    return Engine(catalog, Store(tmp_path / "p.db", durable=False), None, FakeClock(AFTER_HOURS))


def alert(engine: Engine, host: str = "san1") -> int:
    event = Alert(
        client="testco", source="zabbix", severity="critical", summary=f"{host} down", host=host
    )
    outcome = engine.receive_alert(event, b"{}")
    assert outcome.incident_id is not None
    return outcome.incident_id


def sends(engine: Engine) -> list[tuple[str, str, object]]:
    """(tech, channel, due offset) of every pending send, in due order."""
    rows = engine.store.all(
        "SELECT p.tech_id, p.channel, t.due_at FROM timers t JOIN pages p ON p.id = t.ref"
        " WHERE t.kind = 'send' AND t.done_at IS NULL ORDER BY t.due_at, t.id"
    )
    return [(r["tech_id"], r["channel"], parse_ts(r["due_at"]) - AFTER_HOURS) for r in rows]


def texts_went_out(engine: Engine) -> None:
    """As if delivery had handed every pending SMS to Twilio."""
    engine.store.conn.execute(
        "UPDATE timers SET done_at = due_at, outcome = 'sent' WHERE kind = 'send' AND done_at"
        " IS NULL AND ref IN (SELECT id FROM pages WHERE channel = 'sms')"
    )
    engine.store.conn.execute("UPDATE pages SET state = 'sent' WHERE channel = 'sms'")


def test_a_ladder_queues_the_sms_now_and_the_call_voice_after_later(tmp_path) -> None:
    engine = make_engine(tmp_path, **LADDER)
    alert(engine)
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0].id
    assert sends(engine) == [
        (primary, "sms", timedelta(0)),
        (primary, "voice", timedelta(minutes=2)),
    ]


def test_a_phone_that_opted_out_is_called_at_once_and_the_owner_warned(tmp_path) -> None:
    engine = make_engine(tmp_path, daemon='owner = "owner"\n', **LADDER)
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0]
    with engine.store.transaction():
        assert (
            engine.opt_outs.record(primary.phone, "replied STOP", AFTER_HOURS) == []
        )  # no incident yet
    alert(engine)
    assert sends(engine) == [(primary.id, "voice", timedelta(0)), ("owner", "sms", timedelta(0))]
    notice = engine.store.one("SELECT body FROM pages WHERE tech_id = 'owner'")
    assert notice is not None and "opted out of SMS" in notice["body"]
    alert(engine, "fw1")  # a storm joins incident 1; the owner is told once anyway
    assert engine.store.one("SELECT count(*) AS n FROM pages WHERE tech_id = 'owner'")["n"] == 1


def test_the_paging_budget_counts_a_steps_sms_and_call_as_one_page(tmp_path) -> None:
    engine = make_engine(tmp_path, defaults="tech_pages_per_hour = 2\ngroup_window = 0\n", **LADDER)
    primary = engine.catalog.on_call("primary", AFTER_HOURS)[0].id
    for host in ("a", "b", "c"):
        alert(engine, host)
    states = [
        (p["incident_id"], p["channel"], p["state"])
        for p in engine.store.all("SELECT * FROM pages WHERE tech_id = ? ORDER BY id", (primary,))
    ]
    assert states == [
        (1, "sms", "pending"),
        (1, "voice", "pending"),
        (2, "sms", "pending"),
        (2, "voice", "pending"),
        (3, "sms", "suppressed"),
    ]


def test_escalating_cancels_the_calls_not_yet_placed(tmp_path) -> None:
    engine = make_engine(tmp_path, **LADDER)
    number = alert(engine)
    texts_went_out(engine)
    with engine.store.transaction():
        engine.escalate_now(engine.store.incident(number), "alice", AFTER_HOURS)
    backup = engine.catalog.on_call("backup", AFTER_HOURS)[0].id
    assert [(tech, channel) for tech, channel, _ in sends(engine)] == [
        (backup, "sms"),
        (backup, "voice"),
    ]
    cancelled = engine.store.all("SELECT channel FROM pages WHERE state = 'cancelled'")
    assert cancelled == [{"channel": "voice"}]


def test_a_failed_sms_brings_the_call_forward_and_a_failed_call_escalates(tmp_path) -> None:
    engine = make_engine(tmp_path, **LADDER)
    number = alert(engine)
    texts_went_out(engine)
    engine.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    now = engine.clock.now()
    sms, voice = engine.store.pages_for(number)
    with engine.store.transaction():
        timers = engine.delivery.page_failed(sms, 1, "Twilio reported undelivered", now)
    assert [(due - now) for _, due in timers] == [timedelta(0)]
    assert sends(engine)[0][1:] == ("voice", timedelta(seconds=30))  # due now, not at 2 m
    assert engine.store.incident(number)["step_index"] == 0
    with engine.store.transaction():
        engine.delivery.page_failed(voice, 1, "Twilio reported no-answer", now)
    assert engine.store.incident(number)["step_index"] == 1  # the step is out of channels


def test_an_opted_out_sms_without_a_call_in_the_ladder_becomes_one(tmp_path) -> None:
    engine = make_engine(tmp_path)
    number = alert(engine)
    (sms,) = engine.store.pages_for(number)
    with engine.store.transaction():
        engine.delivery.page_failed(sms, 1, "Twilio answered 400", engine.clock.now(), OPTED_OUT)
    pages = engine.store.pages_for(number)
    assert [(p["channel"], p["state"]) for p in pages] == [("sms", "failed"), ("voice", "pending")]
    assert engine.store.incident(number)["step_index"] == 0  # the call is still to come
    assert engine.opt_outs.is_opted_out(sms["phone"])
