"""`oncall queue` and `oncall queue done` through click's runner, on a database the engine
filled: open items oldest first in table/json/csv, --client, --all, and done with clear errors."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from harness import AFTER_HOURS, SECRET, write_config

from oncall import queue
from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.store import Store

DISK = Alert(client="testco", source="zabbix", severity="warning", summary="disk 91%", host="fs1")


def setup(tmp_path) -> str:
    """A config whose database holds two queued alerts and a queued voicemail."""
    config = write_config(tmp_path, ack="5m")
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    clock = FakeClock(AFTER_HOURS)
    with Store(catalog.config.database, durable=False) as store:
        engine = Engine(catalog, store, None, clock)
        engine.receive_alert(DISK, b"{}")
        clock.advance(timedelta(hours=1))
        engine.receive_alert(
            Alert(client="testco", source="ninjaone", severity="error", summary="backup failed"),
            b"{}",
        )
        with store.transaction():
            vm = store.insert(
                "voicemails",
                {
                    "call_sid": "CA1",
                    "client": "testco",
                    "from_phone": "+18155550141",
                    "reason": "next_business_day",
                    "received_at": "2026-11-28T10:00:00.000000Z",
                },
            )
            queue.add(
                store,
                "testco",
                "call",
                vm,
                "Voicemail from +18155550141 (45 s): x",
                clock.now(),
                clock.now(),
            )
    return str(config)


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_queue_lists_open_items_oldest_first(tmp_path) -> None:
    config = setup(tmp_path)
    result = run("queue", "--config", config)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "client", "kind", "received", "due", "summary"]
    assert "2026-11-28 02:00 CST" in lines[2] and "warning alert from zabbix on fs1" in lines[2]
    assert "2026-11-30 08:00 CST" in lines[2]
    assert "backup failed" in lines[3] and "Voicemail from +18155550141" in lines[4]


def test_queue_as_json_and_csv(tmp_path) -> None:
    config = setup(tmp_path)
    rows = json.loads(run("queue", "--config", config, "--format", "json").output)
    assert [r["kind"] for r in rows] == ["alert", "alert", "call"]
    assert (
        rows[0]["received"] == "2026-11-28T08:00:00Z" and rows[0]["due"] == "2026-11-30T14:00:00Z"
    )
    csv_lines = run("queue", "--config", config, "--format", "csv").output.splitlines()
    assert csv_lines[0] == "id,client,kind,received,due,summary" and len(csv_lines) == 4


def test_done_then_the_item_leaves_the_list_but_stays_in_all(tmp_path) -> None:
    config = setup(tmp_path)
    result = run(
        "queue", "done", "1", "3", "--config", config, "--as", "alice", "--note", "called back"
    )
    assert result.exit_code == 0, result.output
    assert "done #1 (testco, alert)" in result.output and "done #3 (testco, call)" in result.output
    rows = json.loads(run("queue", "--config", config, "--format", "json").output)
    assert [r["id"] for r in rows] == [2]
    everything = json.loads(run("queue", "--config", config, "--all", "--format", "json").output)
    assert [(r["id"], r["done_by"], r["done_note"]) for r in everything] == [
        (1, "alice", "called back"),
        (2, "", ""),
        (3, "alice", "called back"),
    ]
    with Store(tmp_path / "oncall.db") as store:
        assert store.one("SELECT handled_at FROM voicemails")["handled_at"] is not None  # type: ignore[index]


def test_done_refuses_unknown_and_already_done_ids(tmp_path) -> None:
    config = setup(tmp_path)
    run("queue", "done", "1", "--config", config)
    result = CliRunner().invoke(main, ["queue", "done", "1", "2", "42", "--config", config])
    assert result.exit_code == 1
    assert "no queue item 42; already done: 1; nothing was marked done" in result.output
    rows = json.loads(run("queue", "--config", config, "--format", "json").output)
    assert [r["id"] for r in rows] == [2, 3]


def test_client_filter_and_bad_input(tmp_path) -> None:
    config = setup(tmp_path)
    assert run("queue", "--config", config, "--client", "testco").output.count("testco") == 3
    unknown = CliRunner().invoke(main, ["queue", "--config", config, "--client", "nope"])
    assert unknown.exit_code == 2 and "unknown client 'nope'" in unknown.output
    stranger = CliRunner().invoke(main, ["queue", "done", "2", "--config", config, "--as", "zed"])
    assert stranger.exit_code == 2 and "unknown tech 'zed'" in stranger.output


def test_an_empty_queue_and_a_missing_database(tmp_path) -> None:
    config = write_config(tmp_path)
    missing = CliRunner().invoke(main, ["queue", "--config", str(config)])
    assert missing.exit_code == 1 and "no database" in missing.output
    Store(tmp_path / "oncall.db").close()
    assert run("queue", "--config", str(config)).output.strip() == "(nothing)"
