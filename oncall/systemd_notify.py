"""systemd's sd_notify protocol, with the standard library only.

Under `Type=notify` systemd passes the path of a datagram socket in NOTIFY_SOCKET (a file
path, or an abstract socket written with a leading `@`); the daemon sends newline-separated
`KEY=VALUE` lines to it: READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1. With
WatchdogSec= set, systemd also passes WATCHDOG_USEC (and WATCHDOG_PID) and restarts the
service when no WATCHDOG=1 arrives within that time.

Outside systemd (NOTIFY_SOCKET unset) every call is a no-op. A failed send is logged and
swallowed: telling systemd how we are doing must never take the pager down.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


def _address(raw: str) -> str | bytes | None:
    """The socket address NOTIFY_SOCKET names, or None if it is not one we can use."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()  # abstract namespace (Linux)
    if raw.startswith("/"):
        return raw
    return None  # e.g. vsock:..., not used for a local service


class SystemdNotifier:
    """Sends sd_notify messages to the socket in NOTIFY_SOCKET; does nothing without one."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = _address(raw) if raw else None
        if raw and self.address is None:
            log.warning("systemd.notify_socket_unsupported", notify_socket=raw)
        self.watchdog_interval = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str) -> bool:
        """Send the lines as one datagram; True if it was sent."""
        if self.address is None or not lines:
            return False
        message = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            log.warning("systemd.notify_failed", error=str(exc), message=lines[0])
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *_status(status))

    def reloading(self, status: str | None = None) -> bool:
        # MONOTONIC_USEC lets systemd (253+) match this reload to its own `systemctl reload`.
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={now_usec}", *_status(status))

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *_status(status))

    def status(self, text: str) -> bool:
        return self.notify(*_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    async def run_watchdog(self) -> None:
        """Ping WATCHDOG=1 at half the watchdog interval, from the event loop, until cancelled.

        The pings come from this loop on purpose: if the loop hangs, they stop and systemd
        restarts the daemon."""
        interval = self.watchdog_interval
        if interval is None or not self.enabled:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(interval / 2)


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.split()),)  # one line: a newline would end the value


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC in seconds, if the watchdog is meant for this process."""
    raw = env.get("WATCHDOG_USEC", "")
    try:
        usec = int(raw)
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # meant for a parent (e.g. a wrapper that exec'd something else)
    return usec / 1_000_000
