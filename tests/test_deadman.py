"""The dead-man heartbeat: pings reach an external URL repeatedly; failures never stop the
daemon and never log the (secret) URL."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from harness import Harness, eventually, free_port, write_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from oncall.config import load_config
from oncall.deadman import Deadman, DeadmanSettings, parse_deadman_settings
from oncall.errors import ConfigError
from oncall.serving import ServerThread

PING_PATH = "/ping/3f1c-secret-check-uuid"


class PingService:
    """A tiny healthchecks-style service on loopback counting the pings it receives."""

    def __init__(self) -> None:
        self.hits = 0
        self.status = 200
        self._lock = threading.Lock()
        self.server = ServerThread(Starlette(routes=[Route(PING_PATH, self._ping)]))

    async def _ping(self, request: Request) -> PlainTextResponse:
        with self._lock:
            self.hits += 1
        return PlainTextResponse("OK", status_code=self.status)

    def __enter__(self) -> PingService:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url + PING_PATH


def _with_selfcheck(tmp_path: Path, table: str) -> Path:
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "\n[selfcheck]\n" + table)
    return config


def test_settings_resolve_the_url_like_other_secrets_and_default_to_one_minute(tmp_path) -> None:
    path = tmp_path / "config.toml"
    env = {"ONCALL_DEADMAN_URL": "https://hc.example.net/ping/abc"}
    settings = parse_deadman_settings(
        {"deadman_url": "env:ONCALL_DEADMAN_URL"}, path, env, sandbox=False
    )
    assert settings is not None
    assert settings.url == "https://hc.example.net/ping/abc"
    assert settings.interval == timedelta(minutes=1)
    assert settings.source == "env:ONCALL_DEADMAN_URL"
    assert "hc.example.net" not in repr(settings)

    fast = parse_deadman_settings(
        {"deadman_url": "https://hc.example.net/x", "deadman_interval": "30s"}, path, {}, False
    )
    assert fast is not None and fast.interval == timedelta(seconds=30) and fast.source == "literal"


def test_settings_are_off_when_unset_and_live_mode_refuses_a_missing_secret(tmp_path) -> None:
    path = tmp_path / "config.toml"
    assert parse_deadman_settings(None, path, {}, sandbox=False) is None
    assert parse_deadman_settings({"deadman_interval": "1m"}, path, {}, sandbox=False) is None
    # Sandbox mode: a named but missing secret turns the heartbeat off.
    assert parse_deadman_settings({"deadman_url": "env:NOPE"}, path, {}, sandbox=True) is None
    with pytest.raises(ConfigError, match="NOPE"):
        parse_deadman_settings({"deadman_url": "env:NOPE"}, path, {}, sandbox=False)
    with pytest.raises(ConfigError, match="unknown key"):
        parse_deadman_settings({"deadman_uri": "x"}, path, {}, sandbox=False)
    with pytest.raises(ConfigError, match="positive"):
        parse_deadman_settings({"deadman_interval": "0s"}, path, {}, sandbox=False)
    with pytest.raises(ConfigError) as bad:
        parse_deadman_settings(
            {"deadman_url": "env:U"}, path, {"U": "ftp://secret-host/x"}, sandbox=False
        )
    assert "http(s)://" in str(bad.value) and "secret-host" not in str(bad.value)


def test_config_toml_reads_the_selfcheck_table(tmp_path) -> None:
    config = _with_selfcheck(
        tmp_path, 'deadman_url = "env:ONCALL_DEADMAN_URL"\ndeadman_interval = "2m"\n'
    )
    loaded = load_config(config, {"ONCALL_DEADMAN_URL": "https://hc.example.net/p"})
    assert loaded.deadman is not None
    assert loaded.deadman.url == "https://hc.example.net/p"
    assert loaded.deadman.interval == timedelta(minutes=2)
    assert load_config(write_config(tmp_path), {}).deadman is None


def test_the_running_daemon_pings_repeatedly_and_survives_a_failing_endpoint(tmp_path) -> None:
    with PingService() as service:
        config = _with_selfcheck(
            tmp_path, f'deadman_url = "{service.url}"\ndeadman_interval = 0.1\n'
        )
        with capture_logs() as logs, Harness(config) as h:
            eventually(lambda: service.hits >= 3)
            # The service counts a ping when it arrives; the daemon when the answer is back.
            eventually(lambda: h.daemon.deadman.sent >= 3)
            assert h.daemon.deadman.failed == 0

            service.status = 500  # the service rejects pings: logged, and pinging goes on
            hits = service.hits
            eventually(lambda: h.daemon.deadman.failed >= 2)
            eventually(lambda: service.hits >= hits + 3)
            assert h.http.get(f"{h.url}/healthz").status_code == 200
            response = h.post_alert({"severity": "critical", "summary": "still paging"})
            assert response.status_code == 202 and response.json()["decision"] == "page"

            service.status = 200  # recovered: successful pings resume
            sent = h.daemon.deadman.sent
            eventually(lambda: h.daemon.deadman.sent >= sent + 2)
    rejected = [entry for entry in logs if entry["event"] == "deadman.rejected"]
    assert rejected and rejected[0]["status"] == 500 and rejected[0]["source"] == "literal"
    assert PING_PATH not in repr(logs)


def test_an_unreachable_endpoint_is_logged_without_the_url_and_never_raises() -> None:
    url = f"http://127.0.0.1:{free_port()}/ping/secret-uuid"  # nothing listens there
    settings = DeadmanSettings(url=url, interval=timedelta(seconds=0.05), source="env:X")
    deadman = Deadman(lambda: settings)

    async def run_a_while() -> None:
        task = asyncio.get_running_loop().create_task(deadman.run())
        for _ in range(200):
            if deadman.failed >= 3:
                break
            await asyncio.sleep(0.02)
        assert not task.done()  # the loop keeps going after failures
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_logs() as logs:
        asyncio.run(run_a_while())
    assert deadman.failed >= 3 and deadman.sent == 0
    failures = [entry for entry in logs if entry["event"] == "deadman.failed"]
    assert failures and failures[0]["error"] == "ConnectError"
    assert "secret-uuid" not in repr(logs)


def test_a_hanging_endpoint_is_cut_off_by_the_short_timeout() -> None:
    async def slow(request: Request) -> PlainTextResponse:
        await asyncio.sleep(0.6)
        return PlainTextResponse("late")

    with ServerThread(Starlette(routes=[Route("/slow", slow)])) as server:
        settings = DeadmanSettings(
            url=server.url + "/slow", interval=timedelta(seconds=0.2), source="literal"
        )
        deadman = Deadman(lambda: settings)

        async def once() -> tuple[bool, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with httpx.AsyncClient() as client:
                accepted = await deadman.ping(client, settings)
            return accepted, loop.time() - started

        with capture_logs() as logs:
            accepted, took = asyncio.run(once())
    assert accepted is False and took < 0.5 and deadman.failed == 1
    assert logs[0]["event"] == "deadman.failed" and logs[0]["error"] == "ReadTimeout"
