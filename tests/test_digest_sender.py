"""The morning digest in the engine, with a clock the test moves: it fires at the client's window
opening in the client's zone (Monday after a weekend, the day after a holiday), e-mails a
loopback SMTP server and/or queues an SMS to the service desk, lists what is still open from
before, retries a failed e-mail and then says so loudly, and survives a restart."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from harness import AFTER_HOURS, SECRET, free_port, write_config
from mail_sink import mail_sink

from oncall import queue
from oncall.catalog import Catalog, load_catalog
from oncall.clock import FakeClock
from oncall.digest import DigestSettings
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.mailer import SmtpSettings
from oncall.store import Store, parse_ts

DISK = Alert(client="testco", source="zabbix", severity="warning", summary="disk 91%", host="fs1")
US_HOLIDAYS = '\n[holidays]\ncountry = "US"\n'


def catalog_for(tmp_path, port: int | None, *, sms: bool = False, tables: str = "") -> Catalog:
    config = write_config(tmp_path, ack="5m", tables=tables)
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    smtp = (
        SmtpSettings("127.0.0.1", port, "none", "oncall@msp.example", timeout=timedelta(seconds=5))
        if port is not None
        else None
    )
    digest = DigestSettings(
        email_to=("desk@msp.example",) if port is not None else (),
        sms=sms,
        retries=2,
        retry_backoff=timedelta(minutes=1),
    )
    return replace(catalog, config=replace(catalog.config, smtp=smtp, digest=digest))


def make_engine(tmp_path, catalog: Catalog, at: datetime = AFTER_HOURS) -> Engine:
    engine = Engine(catalog, Store(tmp_path / "e.db", durable=False), None, FakeClock(at))
    engine.rearm()
    return engine


def digest_timers(engine: Engine) -> list[dict]:
    return [t for t in engine.store.pending_timers() if t["kind"] == queue.DIGEST]


def fire_digest(engine: Engine) -> dict:
    """Move the clock to the pending digest timer and fire it."""
    (timer,) = digest_timers(engine)
    engine.clock.set(parse_ts(timer["due_at"]))  # type: ignore[attr-defined]
    asyncio.run(engine._fire(timer["id"]))
    return timer


def kinds(engine: Engine) -> list[str]:
    return [e["kind"] for e in engine.store.events() if e["kind"].startswith("digest.")]


def test_saturday_night_alert_is_emailed_at_monday_opening_in_chicago(tmp_path) -> None:
    with mail_sink() as (sink, port):
        engine = make_engine(tmp_path, catalog_for(tmp_path, port))
        engine.receive_alert(DISK, b"{}")  # Saturday 02:00 CST
        timer = fire_digest(engine)
        due = parse_ts(timer["due_at"]).astimezone(engine.catalog.sops["testco"].timezone)
        assert due.isoformat() == "2026-11-30T08:00:00-06:00"  # Monday, the window opens
        (mail,) = sink.received
    assert mail.rcpt_tos == ["desk@msp.example"]
    assert mail.message["Subject"] == "oncall digest TestCo: 1 open since Sat 02:00 (1 alert)"
    body = mail.message.get_content()
    assert "New since the last digest:" in body and "warning alert from zabbix on fs1" in body
    (digest,) = engine.store.all("SELECT * FROM digests")
    assert (digest["items"], digest["email_state"], digest["email_error"]) == (1, "sent", None)
    assert digest["sent_at"] == "2026-11-30T14:00:00.000000Z"
    (item,) = engine.store.all("SELECT * FROM queue")
    assert item["digest_id"] == digest["id"] and item["done_at"] is None
    assert kinds(engine) == ["digest.sent", "digest.emailed"]
    assert engine.store.one("SELECT outcome FROM timers WHERE id = ?", (timer["id"],)) == {
        "outcome": "fired"
    }


def test_an_item_the_evening_before_thanksgiving_waits_for_friday(tmp_path) -> None:
    wednesday_evening = datetime.fromisoformat("2026-11-25T19:30:00-06:00")
    with mail_sink() as (sink, port):
        catalog = catalog_for(tmp_path, port, tables=US_HOLIDAYS)
        engine = make_engine(tmp_path, catalog, at=wednesday_evening)
        engine.receive_alert(DISK, b"{}")
        (item,) = engine.store.all("SELECT due_at FROM queue")
        assert item["due_at"] == "2026-11-27T14:00:00.000000Z"  # Friday 08:00 CST
        fire_digest(engine)
        (mail,) = sink.received
    assert "since Wed 19:30" in mail.message["Subject"]
    assert "Friday 2026-11-27 08:00 CST" in mail.message.get_content()


def test_sms_to_the_service_desk_goes_through_the_outbox(tmp_path) -> None:
    engine = make_engine(tmp_path, catalog_for(tmp_path, None, sms=True))
    engine.receive_alert(DISK, b"{}")
    fire_digest(engine)
    (sms,) = engine.store.all("SELECT * FROM outbox")
    (digest,) = engine.store.all("SELECT * FROM digests")
    assert (sms["purpose"], sms["ref"], sms["to_name"], sms["client"]) == (
        "digest",
        digest["id"],
        "service desk",
        "testco",
    )
    assert sms["phone"] == engine.catalog.config.service_desk
    assert sms["body"] == (
        "oncall digest TestCo: 1 open since Sat 02:00 - 1 alert. oncall queue --client testco"
    )
    assert digest["email_state"] == "off"
    assert [t["kind"] for t in engine.store.pending_timers()].count("outbox_send") == 1


def test_nothing_open_means_no_digest(tmp_path) -> None:
    with mail_sink() as (sink, port):
        engine = make_engine(tmp_path, catalog_for(tmp_path, port))
        engine.receive_alert(DISK, b"{}")
        queue.mark_done(engine.store, [1], "alice", "", engine.clock.now())
        fire_digest(engine)
    assert sink.received == []
    assert kinds(engine) == ["digest.empty"]
    (digest,) = engine.store.all("SELECT * FROM digests")
    assert digest["email_state"] == "nothing" and digest["sent_at"] is not None


def test_items_still_open_are_listed_again_the_next_morning(tmp_path) -> None:
    with mail_sink() as (sink, port):
        engine = make_engine(tmp_path, catalog_for(tmp_path, port))
        engine.receive_alert(DISK, b"{}")
        fire_digest(engine)  # Monday 08:00
        engine.clock.set(datetime.fromisoformat("2026-11-30T20:00:00-06:00"))  # type: ignore[attr-defined]
        engine.receive_alert(replace(DISK, summary="backup failed"), b"{}")
        timer = fire_digest(engine)
        assert timer["due_at"] == "2026-12-01T14:00:00.000000Z"  # Tuesday 08:00 CST
        first, second = sink.received
    body = second.message.get_content()
    assert body.index("New since the last digest:") < body.index("backup failed")
    assert body.index("Still open from before:") < body.index("disk 91%")
    first_id, second_id = (d["id"] for d in engine.store.all("SELECT id FROM digests ORDER BY id"))
    assert [i["digest_id"] for i in engine.store.all("SELECT * FROM queue ORDER BY id")] == [
        first_id,
        second_id,
    ]


def test_a_failing_email_is_retried_then_reported_and_the_items_stay_open(tmp_path) -> None:
    with mail_sink(refuse=True) as (sink, port):
        engine = make_engine(tmp_path, catalog_for(tmp_path, port))
        engine.receive_alert(DISK, b"{}")
        fire_digest(engine)
        (retry,) = digest_timers(engine)
        assert parse_ts(retry["due_at"]) == engine.clock.now() + timedelta(minutes=1)
        fire_digest(engine)
        (retry,) = digest_timers(engine)
        assert parse_ts(retry["due_at"]) == engine.clock.now() + timedelta(minutes=2)
        fire_digest(engine)
    assert digest_timers(engine) == []
    assert kinds(engine) == [
        "digest.sent",
        "digest.email_retry",
        "digest.email_retry",
        "digest.email_failed",
    ]
    (digest,) = engine.store.all("SELECT * FROM digests")
    assert digest["email_state"] == "failed" and "554" in digest["email_error"]
    assert len(queue.open_items(engine.store, "testco")) == 1
    # The log says when, as people write it ("1m", not "0:01:00").
    retries = [e["message"] for e in engine.store.events() if e["kind"] == "digest.email_retry"]
    assert retries[0].endswith("trying again in 1m") and retries[1].endswith("in 2m")


def test_a_retry_after_the_server_comes_back_delivers(tmp_path) -> None:
    port = free_port()  # nothing listens there
    engine = make_engine(tmp_path, catalog_for(tmp_path, port))
    engine.receive_alert(DISK, b"{}")
    fire_digest(engine)
    with mail_sink() as (sink, new_port):
        smtp = replace(engine.catalog.config.smtp, port=new_port)  # type: ignore[type-var]
        engine.catalog = replace(engine.catalog, config=replace(engine.catalog.config, smtp=smtp))
        fire_digest(engine)
    assert len(sink.received) == 1
    assert kinds(engine) == ["digest.sent", "digest.email_retry", "digest.emailed"]


def test_the_digest_timer_survives_a_restart(tmp_path) -> None:
    with mail_sink() as (sink, port):
        catalog = catalog_for(tmp_path, port)
        engine = make_engine(tmp_path, catalog)
        engine.receive_alert(DISK, b"{}")
        (timer,) = digest_timers(engine)
        engine.store.close()
        restarted = make_engine(tmp_path, catalog, at=AFTER_HOURS + timedelta(hours=1))
        assert restarted.wheel.knows(timer["id"])
        assert [t["id"] for t in digest_timers(restarted)] == [timer["id"]]
        fire_digest(restarted)
    assert len(sink.received) == 1


def test_an_email_cut_off_by_a_stop_is_sent_after_the_restart(tmp_path) -> None:
    with mail_sink() as (sink, port):
        catalog = catalog_for(tmp_path, port)
        engine = make_engine(tmp_path, catalog)
        engine.receive_alert(DISK, b"{}")
        with engine.store.transaction():  # as if the daemon stopped while sending
            engine.store.conn.execute(
                "UPDATE digests SET sent_at = '2026-11-30T14:00:00.000000Z', email_state = 'sending'"
            )
            engine.store.conn.execute("UPDATE timers SET done_at = 'x' WHERE kind = 'digest'")
            engine.store.conn.execute("UPDATE queue SET digest_id = 1")
        engine.store.close()
        restarted = make_engine(
            tmp_path, catalog, at=datetime.fromisoformat("2026-11-30T09:00:00-06:00")
        )
        fire_digest(restarted)
    assert len(sink.received) == 1
