"""`oncall page --test` and `oncall test-pages` through click's CliRunner: the test incident
and its timers land in the database for the daemon to send; the listing shows outcomes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.store import Store


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCALL_TEST_SECRET", SECRET)
    saved = structlog.get_config()  # `page` configures logging onto the runner's stderr
    yield
    structlog.configure(**saved)


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def config_with_db(tmp_path: Path, test_pages: str = "") -> Path:
    config = write_config(tmp_path, daemon='owner = "owner"\n')
    config.write_text(config.read_text() + "\n[test_pages]\n" + test_pages)
    Store(tmp_path / "oncall.db").close()  # the daemon has run once
    return config


def rows(tmp_path: Path, sql: str) -> list[dict]:
    with Store(tmp_path / "oncall.db") as store:
        return store.all(sql)


def test_page_test_writes_the_incident_pages_and_timers(tmp_path: Path) -> None:
    config = config_with_db(tmp_path)
    result = oncall("page", "--test", "alice", "--config", config)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Test page #1 to Alice Nguyen (sms, voice): ACK 1 within 15m.",
        "The running daemon sends it within a few seconds.",
    ]
    (incident,) = rows(tmp_path, "SELECT * FROM incidents")
    assert incident["test"] == 1 and incident["client"] == "_test"
    assert incident["state"] == "paging"
    pages = rows(tmp_path, "SELECT tech_id, channel, state FROM pages ORDER BY id")
    assert pages == [
        {"tech_id": "alice", "channel": "sms", "state": "pending"},
        {"tech_id": "alice", "channel": "voice", "state": "pending"},
    ]
    timers = rows(tmp_path, "SELECT kind FROM timers WHERE done_at IS NULL ORDER BY id")
    assert [t["kind"] for t in timers] == ["send", "send", "step_timeout"]


def test_page_test_all_pages_the_configured_techs(tmp_path: Path) -> None:
    config = config_with_db(
        tmp_path, 'techs = ["carol", "bob"]\nchannels = ["sms"]\nack_within = "5m"\n'
    )
    result = oncall("page", "--test", "--all", "--config", config)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "Test page #1 to Carol Diaz (sms): ACK 1 within 5m.",
        "Test page #2 to Bob Okafor (sms): ACK 2 within 5m.",
    ]
    pages = rows(tmp_path, "SELECT tech_id FROM pages ORDER BY id")
    assert [p["tech_id"] for p in pages] == ["carol", "bob"]


def test_page_test_all_defaults_to_every_tech(tmp_path: Path) -> None:
    config = config_with_db(tmp_path)
    assert oncall("page", "--test", "--all", "--config", config).exit_code == 0
    techs = [r["tech_id"] for r in rows(tmp_path, "SELECT DISTINCT tech_id FROM pages")]
    assert sorted(techs) == ["alice", "bob", "carol", "dave", "owner"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["page", "--test", "zed"], "unknown tech 'zed' (have: alice, bob, carol, dave, owner)"),
        (["page", "alice"], "only test pages are sent from the shell"),
        (["page", "--test"], "name one tech, or --all"),
        (["page", "--test", "--all", "alice"], "name one tech, or --all"),
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    config = config_with_db(tmp_path)
    result = oncall(*args, "--config", config)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert rows(tmp_path, "SELECT * FROM incidents") == []


def test_no_database_yet_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = oncall("page", "--test", "alice", "--config", config)
    assert result.exit_code == 1 and "no database" in result.stderr
    assert oncall("test-pages", "--config", config).exit_code == 1


def settled_history(tmp_path: Path, config: Path) -> None:
    """Three test pages: alice acknowledged after 42 s, bob never, carol still waiting."""
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    with Store(tmp_path / "oncall.db") as store:
        engine = Engine(catalog, store, None, FakeClock(AFTER_HOURS))
        engine.test_pages.send(["alice", "bob", "carol"], AFTER_HOURS, "on demand")
        engine.clock.advance(timedelta(seconds=42))  # type: ignore[attr-defined]
        with store.transaction():
            engine.acknowledge(store.incident(1), "alice", engine.clock.now())
            engine.test_pages.unacknowledged(store.incident(2), engine.clock.now(), "timeout")


def test_test_pages_lists_recent_outcomes(tmp_path: Path) -> None:
    config = config_with_db(tmp_path)
    settled_history(tmp_path, config)
    result = oncall("test-pages", "--config", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["incident", "tech", "sent", "outcome", "acked_after", "acked_by"]
    assert "Carol Diaz" in lines[2] and "waiting" in lines[2]
    assert "Bob Okafor" in lines[3] and "unacknowledged" in lines[3]
    assert "Alice Nguyen" in lines[4] and "acknowledged" in lines[4] and "42s" in lines[4]
    assert "2026-11-28 02:00 CST" in lines[4]

    data = json.loads(oncall("test-pages", "--format", "json", "--config", config).stdout)
    assert data[2] == {
        "incident": 1,
        "tech": "alice",
        "sent": "2026-11-28T08:00:00Z",
        "outcome": "acknowledged",
        "seconds_to_ack": 42.0,
        "acked_by": "alice",
    }
    table = list(
        csv.DictReader(
            io.StringIO(
                oncall("test-pages", "--format", "csv", "--limit", "1", "--config", config).stdout
            )
        )
    )
    assert [r["outcome"] for r in table] == ["waiting"]


def test_test_pages_with_none_yet(tmp_path: Path) -> None:
    config = config_with_db(tmp_path)
    result = oncall("test-pages", "--config", config)
    assert result.exit_code == 0 and result.stdout.strip() == "(nothing)"


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_test_pages_limit_must_be_positive(tmp_path: Path, limit: str) -> None:
    # A negative LIMIT is "no limit" to SQLite: it must be refused, not list everything.
    config = config_with_db(tmp_path)
    result = oncall("test-pages", "--limit", limit, "--config", config)
    assert result.exit_code == 2 and "--limit" in result.output
