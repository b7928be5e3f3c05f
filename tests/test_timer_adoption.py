"""Deadlines written by another process (a CLI command) are armed by the running daemon."""

from __future__ import annotations

from datetime import timedelta

from harness import AFTER_HOURS, SECRET, Harness, write_config

from oncall.catalog import load_catalog
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.escalation import Position
from oncall.intake import Alert
from oncall.store import Store, utcnow_text

ALERT = Alert(
    client="testco", source="zabbix", severity="critical", summary="SAN offline", host="san1"
)


def _engine(tmp_path, store: Store) -> Engine:
    catalog = load_catalog(write_config(tmp_path, ack="5m"), {"ONCALL_TEST_SECRET": SECRET})
    return Engine(catalog, store, None, FakeClock(AFTER_HOURS))


def test_new_pending_rows_are_armed_once_and_finished_ones_never(tmp_path) -> None:
    engine = _engine(tmp_path, Store(tmp_path / "a.db", durable=False))
    engine.receive_alert(ALERT, b"{}")
    engine.rearm()
    assert engine.adopt_timers() == 0  # everything the daemon wrote is already armed
    with Store(tmp_path / "a.db", durable=False) as other:  # the CLI's own connection
        due = utcnow_text(AFTER_HOURS + timedelta(minutes=1))
        pending = other.insert("timers", {"kind": "send", "incident_id": 1, "due_at": due})
        done = other.insert(
            "timers", {"kind": "send", "incident_id": 1, "due_at": due, "done_at": due}
        )
    assert engine.adopt_timers() == 1
    assert engine.wheel.knows(pending) and not engine.wheel.knows(done)
    assert engine.adopt_timers() == 0  # not armed twice


def test_a_notice_queued_from_the_shell_reaches_the_phone(tmp_path) -> None:
    config = write_config(tmp_path, ack="5m")
    with Harness(config) as h:
        h.post_alert({"severity": "critical", "summary": "SAN offline", "host": "san1"})
        primary = h.catalog.on_call("primary", h.clock.now())[0]
        phone = h.phone(primary.id).expect_sms("SAN offline")
        shell = Engine(h.catalog, Store(h.catalog.config.database), None, h.clock)
        with shell.store.transaction():
            shell.pager.notice(1, primary.id, Position(0, 0), "hello from the shell", h.clock.now())
        shell.store.close()
        phone.expect_sms("hello from the shell")
