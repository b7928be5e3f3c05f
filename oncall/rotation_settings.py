"""config.toml's ``[rotations]``: how the daemon keeps rotation calendars current.

    [rotations]
    watch_interval = "5s"     # look for changed .ics files in daemon.rotations_dir this often
    refresh = "15m"           # fetch remote calendars again this often
    fetch_timeout = "20s"     # give up on one fetch after this long (the cached copy stays)
    handoff_notice = false    # SMS each tech when their on-call stretch in a rotation starts
    handoff_lead = "15m"      # … this long before it starts (default 0: at the start)
    feed_secret = "env:ONCALL_FEED_SECRET"  # turns on GET /feeds/<token>.ics (see tech_feed)

    [rotations.remote]
    night-desk = "https://calendar.google.com/calendar/ical/…/private-…/basic.ics"

A remote rotation is named like a rotation file (SOP steps say ``rotation = "night-desk"``);
its URL is a Google or Outlook "secret address" (``webcal://`` is read as ``https://``).
Plain ``http://`` is refused except to this machine, because the address is a password.

``feed_secret`` is named like an SOP's ``alert_secret`` (``env:NAME``, ``file:PATH``,
``credential:NAME`` or the secret itself); without it the daemon serves no shift feeds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oncall.alert_secret import resolve_secret
from oncall.durations import parse_duration
from oncall.errors import ConfigError

_KEYS = frozenset(
    {
        "watch_interval",
        "refresh",
        "fetch_timeout",
        "remote",
        "handoff_notice",
        "handoff_lead",
        "feed_secret",
    }
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class RemoteRotation:
    """A rotation read from a calendar URL instead of a file."""

    name: str
    url: str


@dataclass(frozen=True)
class RotationSettings:
    watch_interval: timedelta = timedelta(seconds=5)
    refresh: timedelta = timedelta(minutes=15)
    fetch_timeout: timedelta = timedelta(seconds=20)
    remote: tuple[RemoteRotation, ...] = ()
    handoff_notice: bool = False
    handoff_lead: timedelta = timedelta(0)
    # The secret shift-feed tokens are derived from (oncall.tech_feed); None: no feeds served.
    feed_secret: str | None = field(default=None, repr=False)

    def remote_url(self, name: str) -> str | None:
        return next((r.url for r in self.remote if r.name == name), None)


def parse_rotation_settings(
    value: Any, path: Path, env: Mapping[str, str] | None = None, sandbox: bool = False
) -> RotationSettings:
    """The ``[rotations]`` table (absent: the defaults); errors name the key. ``env`` and
    ``sandbox`` resolve ``feed_secret`` (sandbox mode stands in a placeholder if it is unset)."""
    if value is None:
        return RotationSettings()
    if not isinstance(value, dict):
        raise ConfigError(path, "rotations", "expected a table ([rotations])")
    for key in value:
        if key not in _KEYS:
            allowed = ", ".join(sorted(_KEYS))
            raise ConfigError(path, f"rotations.{key}", f"unknown key (allowed: {allowed})")
    defaults = RotationSettings()

    def duration(key: str, default: timedelta) -> timedelta:
        return parse_duration(value.get(key, default.total_seconds()), path, f"rotations.{key}")

    remote_table = value.get("remote", {})
    if not isinstance(remote_table, dict):
        raise ConfigError(
            path, "rotations.remote", 'expected a table like night-desk = "https://…"'
        )
    remote = []
    for name, url in remote_table.items():
        if not _NAME.fullmatch(name):
            raise ConfigError(
                path,
                f"rotations.remote.{name}",
                "a rotation name is letters, digits, '-' and '_' (SOP steps use it)",
            )
        remote.append(RemoteRotation(name, _calendar_url(url, path, f"rotations.remote.{name}")))
    return RotationSettings(
        watch_interval=duration("watch_interval", defaults.watch_interval),
        refresh=duration("refresh", defaults.refresh),
        fetch_timeout=duration("fetch_timeout", defaults.fetch_timeout),
        remote=tuple(remote),
        handoff_notice=_flag(value, "handoff_notice", path),
        handoff_lead=(
            timedelta(0)
            if value.get("handoff_lead", 0) in (0, "0", "0s", "off")
            else duration("handoff_lead", defaults.handoff_lead)
        ),
        feed_secret=_feed_secret(value.get("feed_secret"), path, env or {}, sandbox),
    )


def _flag(table: dict[str, Any], key: str, path: Path) -> bool:
    flag = table.get(key, False)
    if not isinstance(flag, bool):
        raise ConfigError(path, f"rotations.{key}", f"expected true or false, got {flag!r}")
    return flag


def _feed_secret(raw: Any, path: Path, env: Mapping[str, str], sandbox: bool) -> str | None:
    if raw is None:
        return None
    secret, _, _ = resolve_secret(
        raw,
        path,
        env,
        sandbox,
        key="rotations.feed_secret",
        placeholder="sandbox-feed-secret",
        needed="the secret shift-feed addresses are derived from",
    )
    return secret


def _calendar_url(value: Any, path: Path, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, key, f"expected the calendar's https:// address, got {value!r}")
    url = value.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(path, key, "expected an https:// (or webcal://) calendar address")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ConfigError(
            path,
            key,
            "refusing plain http:// for a remote calendar: its secret address would travel "
            "unencrypted; use the https:// address",
        )
    return url
