"""`oncall run` under a fake systemd: a real NOTIFY_SOCKET datagram socket and WATCHDOG_USEC.

READY=1 only once the daemon answers /healthz, WATCHDOG=1 pings repeatedly, RELOADING=1 then
READY=1 around SIGHUP (also when the reload keeps the last good config), STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from harness import SECRET, PeerThread, free_port, write_config

SID = "AC" + "2" * 32
TOKEN = "systemd-test-token"


class FakeSystemd:
    """Collects the datagrams a service sends to NOTIFY_SOCKET, on a thread."""

    def __init__(self, address: str, on_ready: Callable[[], None]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.on_ready = on_ready
        self.messages: list[list[str]] = []
        self.ready_checks: list[bool] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode().split("\n")
            if "READY=1" in lines and not self.ready_checks:
                # At the moment of the first READY=1, the daemon must already be serving.
                self.ready_checks.append(self._healthy())
            with self._lock:
                self.messages.append(lines)

    def _healthy(self) -> bool:
        try:
            self.on_ready()
        except (AssertionError, httpx.HTTPError):
            return False
        return True

    def keys(self) -> list[str]:
        """The first line (the state) of every datagram, in order."""
        with self._lock:
            return [lines[0] for lines in self.messages]

    def wait_for(self, check: Callable[[list[str]], bool], timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            keys = self.keys()
            if check(keys):
                return keys
            time.sleep(0.02)
        raise AssertionError(f"systemd never heard what it waited for: {self.keys()}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def after(keys: list[str], key: str) -> list[str]:
    """What came after the first `key` (nothing if it has not come yet)."""
    return keys[keys.index(key) + 1 :] if key in keys else []


def test_oncall_run_speaks_sd_notify(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "daemon.log"

    def healthz_and_logged_ready() -> None:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        assert "daemon.ready" in log_path.read_text()

    with (
        PeerThread(SID, TOKEN) as peer,
        tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as short,  # AF_UNIX path limit
    ):
        config = write_config(tmp_path, extra_twilio=f'api_base_url = "{peer.url}"\n')
        text = config.read_text()
        text = text.replace('mode = "sandbox"', 'mode = "live"')
        text = text.replace('listen = "127.0.0.1:8787"', f'listen = "127.0.0.1:{port}"')
        config.write_text(text)
        systemd = FakeSystemd(str(Path(short) / "notify"), healthz_and_logged_ready)
        env = dict(
            os.environ,
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            ONCALL_TEST_SECRET=SECRET,
            PYTHONUNBUFFERED="1",
            NOTIFY_SOCKET=str(Path(short) / "notify"),
            WATCHDOG_USEC="200000",  # pings every 0.1 s
        )
        env.pop("WATCHDOG_PID", None)
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "oncall.cli", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            keys = systemd.wait_for(lambda k: "READY=1" in k)
            assert systemd.ready_checks == [True], log_path.read_text()
            assert keys[0] == "STATUS=starting: opening the database"
            ready = keys.index("READY=1")
            assert "WATCHDOG=1" not in keys[:ready]  # pings start once the daemon is ready
            status = [line for line in systemd.messages[ready] if line.startswith("STATUS=")]
            assert status == [
                f"STATUS=serving on http://127.0.0.1:{port} (clients: 1, rotations: 2)"
            ]

            # The event loop keeps pinging at half of WATCHDOG_USEC.
            started = time.monotonic()
            keys = systemd.wait_for(lambda k: k.count("WATCHDOG=1") >= 5)
            assert time.monotonic() - started < 2

            # SIGHUP: RELOADING=1, then READY=1 again.
            proc.send_signal(signal.SIGHUP)
            keys = systemd.wait_for(lambda k: "READY=1" in after(k, "RELOADING=1"))
            assert keys.count("RELOADING=1") == 1

            # A broken config is not taken, but the service is ready again (on the old one).
            config.write_text(text + "\n[[[ not toml\n")
            proc.send_signal(signal.SIGHUP)
            systemd.wait_for(lambda k: k.count("RELOADING=1") == 2)
            systemd.wait_for(lambda k: k.count("READY=1") == 3)
            last_ready = [m for m in systemd.messages if m[0] == "READY=1"][-1]
            assert any("kept the last good configuration" in line for line in last_ready)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200

            # SIGTERM: STOPPING=1, then a clean exit, and the pings stop with the loop.
            proc.send_signal(signal.SIGTERM)
            systemd.wait_for(lambda k: "STOPPING=1" in k)
            assert proc.wait(10) == 0
            keys = systemd.keys()
            assert "WATCHDOG=1" not in after(keys, "STOPPING=1")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            systemd.close()
