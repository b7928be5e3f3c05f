"""The sd_notify protocol against real AF_UNIX datagram sockets: path and abstract addresses,
no-op without NOTIFY_SOCKET, send errors swallowed, the watchdog interval and its pings."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import SECRET, write_config

from oncall.catalog import load_catalog
from oncall.daemon import Daemon
from oncall.systemd_notify import SystemdNotifier


@pytest.fixture
def path_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short directory: AF_UNIX paths are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        address = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(address)
        sock.settimeout(2)
        yield sock, address
        sock.close()


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_path_socket_receives_ready_with_status(path_socket) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("serving on\nhttp://127.0.0.1:1") is True
    # One datagram; the status is kept on one line so it cannot inject another key.
    assert receive(sock) == ["READY=1", "STATUS=serving on http://127.0.0.1:1"]


def test_each_message_kind(path_socket) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address})
    notifier.status("starting")
    assert receive(sock) == ["STATUS=starting"]
    notifier.reloading()
    reloading = receive(sock)
    assert reloading[0] == "RELOADING=1"
    assert reloading[1].startswith("MONOTONIC_USEC=") and int(reloading[1].split("=")[1]) > 0
    notifier.stopping()
    assert receive(sock) == ["STOPPING=1"]
    notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]


def test_abstract_socket() -> None:
    name = f"oncall-test-{os.getpid()}-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.address == b"\0" + name.encode()
        assert notifier.ready() is True
        assert receive(sock) == ["READY=1"]


def test_unset_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval is None


def test_unsupported_address_is_a_no_op() -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert notifier.ready() is False


def test_send_error_is_swallowed(tmp_path: Path) -> None:
    # Nobody listens there: the send fails, the daemon carries on.
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}, 0.2),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert SystemdNotifier(env).watchdog_interval == expected


def test_run_watchdog_pings_at_half_the_interval(path_socket) -> None:
    sock, address = path_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})

    async def run_for(seconds: float) -> None:
        task = asyncio.create_task(notifier.run_watchdog())
        await asyncio.sleep(seconds)
        task.cancel()

    asyncio.run(run_for(0.32))  # pings at 0, 0.05, 0.10, ... 0.30: about 7
    sock.setblocking(False)
    pings = []
    while True:
        try:
            pings.append(sock.recv(64))
        except BlockingIOError:
            break
    assert set(pings) == {b"WATCHDOG=1"}
    assert 4 <= len(pings) <= 8


def test_run_watchdog_returns_without_a_watchdog(path_socket) -> None:
    _, address = path_socket
    asyncio.run(asyncio.wait_for(SystemdNotifier({"NOTIFY_SOCKET": address}).run_watchdog(), 1))
    asyncio.run(asyncio.wait_for(SystemdNotifier({"WATCHDOG_USEC": "100000"}).run_watchdog(), 1))


def test_sighup_before_ready_tells_systemd_nothing(path_socket, tmp_path: Path) -> None:
    # A reload while start() is still running must not announce READY=1 early.
    sock, address = path_socket
    env = {"NOTIFY_SOCKET": address, "ONCALL_TEST_SECRET": SECRET}
    config = write_config(tmp_path)
    daemon = Daemon(load_catalog(config, env), env=env)
    assert daemon.reload() is True
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(64)
