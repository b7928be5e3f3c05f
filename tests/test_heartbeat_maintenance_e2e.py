"""Heartbeats and maintenance through the daemon and the shell: the check-in route's
authorisation, `oncall maintenance` quieting a running daemon, and the listings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog
from click.testing import CliRunner, Result
from harness import AFTER_HOURS, SECRET, Harness, eventually, write_config

from oncall.cli import main
from oncall.clock import OffsetClock
from oncall.maintenance_windows import start_window

NIGHTLY = '\n[[heartbeat]]\nname = "backup"\nby = "03:00"\ngrace = "30m"\n'
PATCH_NIGHT = '\n[[maintenance]]\ndays = "tuesday"\nhours = "22:00-02:00"\nreason = "patch night"\n'
EMERGENCY = {"source": "zabbix", "severity": "critical", "summary": "SAN offline", "host": "san1"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCALL_TEST_SECRET", SECRET)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, tables=NIGHTLY + PATCH_NIGHT)


def check_in(h: Harness, path: str, **kwargs: object) -> tuple[int, dict]:
    response = h.http.post(f"{h.url}/heartbeat/{path}", **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.json()


def test_the_check_in_route_needs_the_client_secret(config) -> None:
    bearer = {"Authorization": f"Bearer {SECRET}"}
    with Harness(config) as h:
        assert check_in(h, "testco/backup")[0] == 401
        assert check_in(h, "testco/backup", headers={"Authorization": "Bearer nope"})[0] == 401
        status, body = check_in(h, "nobody/backup", headers=bearer)
        assert status == 404 and "unknown client" in body["error"]
        status, body = check_in(h, "testco/restore", headers=bearer)
        assert status == 404 and "checks: backup" in body["error"]
        status, body = check_in(h, "testco/backup", headers=bearer)
        assert status == 200 and body["late"] is False
        # 02:00 Saturday: counts for tonight, next is Sunday 03:00 + 30m.
        assert body["next_deadline"] == "2026-11-29T09:30:00.000000Z"
        status, _ = check_in(h, "testco/backup", params={"token": SECRET})
        assert status == 200
        rows = h.query("SELECT kind FROM events WHERE kind = 'heartbeat.checkin'")
        assert len(rows) == 2
    listed = json.loads(
        ok(
            oncall(
                "heartbeats",
                "--config",
                config,
                "--format",
                "json",
                "--at",
                AFTER_HOURS.isoformat(),
            )
        )
    )
    assert [(r["client"], r["check"], r["state"]) for r in listed] == [("testco", "backup", "ok")]
    assert listed[0]["next_deadline"] == "2026-11-29T09:30:00Z"
    assert listed[0]["last_checkin"].startswith("2026-11-28T08:00")
    # Sunday night passes with the daemon down: the listing says late.
    table = ok(oncall("heartbeats", "--config", config, "--at", "2026-11-30T12:00:00-06:00"))
    assert "late" in table and "2026-11-29 03:30 CST" in table


def test_heartbeats_before_the_daemon_ever_ran_are_never(config) -> None:
    out = ok(oncall("heartbeats", "--config", config, "--client", "testco"))
    assert "backup" in out and "never" in out and "daily by 03:00, grace 30m" in out
    assert oncall("heartbeats", "--config", config, "--client", "nobody").exit_code == 1


def test_maintenance_from_the_shell_quiets_the_running_daemon(config) -> None:
    with Harness(config) as h:
        start = (AFTER_HOURS - timedelta(minutes=1)).isoformat()
        out = ok(
            oncall(
                "maintenance",
                "testco",
                "--config",
                config,
                "--from",
                start,
                "--for",
                "1h",
                "--reason",
                "SAN firmware",
            )
        )
        assert out.startswith("Maintenance #1 for TestCo") and "nobody is paged" in out
        response = h.post_alert(EMERGENCY)
        assert response.status_code == 202
        assert response.json()["decision"] == "maintenance"
        assert "SAN firmware" in response.json()["reason"]
        assert h.query("SELECT * FROM pages") == []
        listed = json.loads(
            ok(oncall("maintenance", "--list", "--config", config, "--format", "json"))
        )
        assert [(r["id"], r["client"], r["reason"]) for r in listed] == [
            (1, "testco", "SAN firmware"),
            ("", "testco", "patch night"),
        ]
        ok(oncall("maintenance", "--end", 1, "--config", config))
        assert oncall("maintenance", "--end", 1, "--config", config).exit_code == 1
        assert h.post_alert(EMERGENCY).json()["decision"] == "page"
        primary = h.catalog.on_call("primary", h.clock.now())[0].id
        h.phone(primary).expect_sms("SAN offline")


def test_an_ad_hoc_window_started_in_the_daemon_suppresses_the_page(config) -> None:
    with Harness(config) as h:
        h.call(
            lambda: start_window(
                h.daemon.store,
                "testco",
                h.clock.now(),
                timedelta(hours=1),
                "move",
                "alice",  # type: ignore[arg-type]
            )
        )
        body = h.post_alert(EMERGENCY).json()
        assert body["decision"] == "maintenance" and body["incident"] is None
        assert h.query("SELECT decision FROM alerts")[0]["decision"].count("maintenance") >= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["maintenance", "--list", "--end", "1"], "exactly one"),
        (["maintenance", "--for", "2h"], "which client"),
        (["maintenance", "nobody", "--for", "2h"], "unknown client"),
        (["maintenance", "testco", "--for", "soon"], "--for"),
        (["maintenance", "testco", "--from", "2026-11-28T01:00"], "--from needs --for"),
    ],
)
def test_maintenance_usage_errors(config, args: list[str], message: str) -> None:
    result = oncall(*args, "--config", config)
    assert result.exit_code in (1, 2) and message in result.stderr


def test_explain_shows_a_weekly_maintenance_window(config, tmp_path) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(EMERGENCY))
    tuesday_night = "2026-12-01T23:00:00-06:00"
    out = json.loads(
        ok(
            oncall(
                "explain",
                "--config",
                config,
                "--client",
                "testco",
                "--alert",
                alert,
                "--at",
                tuesday_night,
                "--format",
                "json",
            )
        )
    )[0]
    assert out["action"] == "maintenance" and "patch night" in out["reason"]
    assert "would_page" not in out


def test_the_running_daemon_fires_a_missed_deadline(tmp_path) -> None:
    config = write_config(tmp_path, tables=NIGHTLY)
    clock = OffsetClock.starting_at(datetime.fromisoformat("2026-11-28T02:50:00-06:00"))
    with Harness(config, clock=clock) as h:
        (timer,) = h.query("SELECT * FROM timers WHERE kind = 'heartbeat'")
        assert timer["due_at"] == "2026-11-28T09:30:00.000000Z"
        # Forty minutes pass in an instant; re-arming wakes the wheel, which finds it overdue.
        clock.offset += timedelta(minutes=40, seconds=1)
        h.call(lambda: h.daemon.engine.rearm())  # type: ignore[union-attr]
        (alert,) = eventually(lambda: h.query("SELECT * FROM alerts WHERE source = 'heartbeat'"))
        assert json.loads(alert["decision"])["action"] == "queue"
        (following,) = h.query("SELECT * FROM timers WHERE kind = 'heartbeat' AND done_at IS NULL")
        assert following["due_at"] == "2026-11-29T09:30:00.000000Z"


def test_a_check_in_can_name_only_the_check_the_secret_says_which_client(config) -> None:
    with Harness(config) as h:
        assert check_in(h, "backup")[0] == 401
        assert check_in(h, "backup", headers={"Authorization": "Bearer nope"})[0] == 401
        status, body = check_in(h, "restore", params={"token": SECRET})
        assert status == 404 and "checks: backup" in body["error"]
        status, body = check_in(h, "backup", headers={"Authorization": f"Bearer {SECRET}"})
        assert status == 200 and body["late"] is False
        rows = h.query("SELECT client FROM events WHERE kind = 'heartbeat.checkin'")
        assert rows == [{"client": "testco"}]
