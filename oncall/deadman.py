"""The dead-man heartbeat: the daemon pings an external URL (a healthchecks-style service) on a
fixed interval, so that if the pager dies, hangs or loses its network, the outside service
notices the missing pings and pages someone through another system.

config.toml:

    [selfcheck]
    deadman_url = "env:ONCALL_DEADMAN_URL"   # or file:PATH, credential:NAME, or the URL itself
    deadman_interval = "1m"

Off when `[selfcheck]` or `deadman_url` is absent. The URL is a secret (anyone holding it can
fake the daemon's heartbeat), so it is never logged: failures name only the HTTP status or the
kind of error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from oncall.alert_secret import resolve_secret
from oncall.durations import parse_duration
from oncall.errors import ConfigError

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=1)
MAX_TIMEOUT = 10.0  # seconds; a ping never takes longer than this, nor than the interval
OFF_RECHECK = 60.0  # seconds between looks at the settings while the heartbeat is off


@dataclass(frozen=True)
class DeadmanSettings:
    """Where and how often to ping; `source` says where the URL came from (safe to log)."""

    url: str
    interval: timedelta
    source: str

    def __repr__(self) -> str:  # keep the secret URL out of tracebacks and debug output
        return f"DeadmanSettings(url=<{self.source}>, interval={self.interval!r})"


def parse_deadman_settings(
    raw: Any, path: Path, env: Mapping[str, str], sandbox: bool
) -> DeadmanSettings | None:
    """Read config.toml's `[selfcheck]` table; None (off) without a `deadman_url`.

    Live mode refuses a `deadman_url` that names a missing secret; sandbox mode turns the
    heartbeat off instead."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(path, "selfcheck", "expected a table")
    allowed = {"deadman_url", "deadman_interval"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                path, f"selfcheck.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )
    interval = (
        parse_duration(raw["deadman_interval"], path, "selfcheck.deadman_interval")
        if "deadman_interval" in raw
        else DEFAULT_INTERVAL
    )
    value = raw.get("deadman_url")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        url, source = value.strip(), "literal"
    else:
        url, placeholder, source = resolve_secret(
            value,
            path,
            env,
            sandbox,
            key="selfcheck.deadman_url",
            placeholder="",
            needed="the dead-man heartbeat URL",
        )
        if placeholder:
            return None
    if not url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            path, "selfcheck.deadman_url", f"the URL from {source} must start with http(s)://"
        )
    return DeadmanSettings(url=url, interval=interval, source=source)


class Deadman:
    """Ping the configured URL every interval until cancelled; never raises out of `run`."""

    def __init__(
        self,
        settings: Callable[[], DeadmanSettings | None],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # A callable, so a reload's new settings apply from the next ping on.
        self._settings = settings
        self._transport = transport
        self.sent = 0  # pings answered with a 2xx/3xx
        self.failed = 0  # pings that errored, timed out or got a 4xx/5xx

    async def run(self) -> None:
        """The background task: one ping per interval, each bounded by a short timeout."""
        async with httpx.AsyncClient(transport=self._transport, follow_redirects=True) as client:
            while True:
                settings = self._settings()
                if settings is None:
                    await asyncio.sleep(OFF_RECHECK)
                    continue
                await self.ping(client, settings)
                await asyncio.sleep(settings.interval.total_seconds())

    async def ping(self, client: httpx.AsyncClient, settings: DeadmanSettings) -> bool:
        """One ping; True when the service accepted it. Failures are logged without the URL."""
        timeout = min(MAX_TIMEOUT, settings.interval.total_seconds())
        try:
            response = await client.get(settings.url, timeout=timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a heartbeat failure must never take the daemon down
            self.failed += 1
            log.warning("deadman.failed", error=type(exc).__name__, source=settings.source)
            return False
        if response.status_code >= 400:
            self.failed += 1
            log.warning("deadman.rejected", status=response.status_code, source=settings.source)
            return False
        self.sent += 1
        log.debug("deadman.sent", status=response.status_code)
        return True
