"""Scripted phones over the sandbox: end-to-end tests read like a story from the phone's side.

    alice = h.phone("alice")
    alice.expect_sms("Acme").reply("ACK 1").expect("Acknowledged")
    alice.expect_call("TestCo").press("1").expect("acknowledged")
    h.caller("+18155550141").dial().expect("Press 1").press("1").expect("being paged")

The daemon runs in a background thread with its own event loop, talking real HTTP to the
sandbox Twilio peer through the real twilio SDK; the test thread drives it over loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from oncall.catalog import Catalog, load_catalog
from oncall.clock import Clock, OffsetClock
from oncall.daemon import Daemon
from oncall.replies import parse_reply
from oncall.sandbox import SandboxPeer
from oncall.sandbox_records import CallRecord, MessageRecord
from oncall.serving import ServerThread
from oncall.twilio_webhooks import inbound_sms_params, send_inbound_sms_sync

REPO = Path(__file__).resolve().parent.parent

TEST_SOP = """+++
client = "testco"
name = "TestCo"
timezone = "America/Chicago"
alert_secret = "env:ONCALL_TEST_SECRET"
{top}
[support_window]
monday = "08:00-17:00"
tuesday = "08:00-17:00"
wednesday = "08:00-17:00"
thursday = "08:00-17:00"
friday = "08:00-17:00"

[[emergency]]
id = "server-down"
priority = "P1"
label = "a server is down"
min_severity = "critical"
auto_resolve = {auto_resolve}

[escalation]
repeats = {repeats}
final_contacts = ["owner"]

[[escalation.steps]]
rotation = "primary"
ack_timeout = "{ack}"
channels = {channels}
{step}
[[escalation.steps]]
rotation = "backup"
ack_timeout = "{ack}"
channels = {channels}
{step}{tables}
+++
# TestCo runbook

Check the server.
"""

SECRET = "test-secret-0123456789"
# A Saturday 02:00 in Chicago: after hours. Primary is alice/bob, backup carol/dave.
AFTER_HOURS = datetime.fromisoformat("2026-11-28T02:00:00-06:00")


def write_config(
    tmp: Path,
    *,
    ack: str = "1s",
    repeats: int = 0,
    extra_twilio: str = "",
    auto_resolve: bool = False,
    defaults: str = "",
    channels: str = '["sms"]',
    step: str = "",
    top: str = "",
    tables: str = "",
    daemon: str = "",
) -> Path:
    """A config in tmp with the shipped rotations and one test client.

    `channels` and `step` (extra keys, e.g. voice_after) go in both escalation steps, `top` in
    the SOP's top-level keys (caller_ids, pin, ...), `tables` at the end of its front matter
    (e.g. [phone_line]), `daemon` in config.toml's [daemon] (e.g. owner)."""
    (tmp / "sops").mkdir(exist_ok=True)
    sop = TEST_SOP.format(
        ack=ack,
        repeats=repeats,
        auto_resolve=str(auto_resolve).lower(),
        channels=channels,
        step=step,
        top=top,
        tables=tables,
    )
    (tmp / "sops" / "testco.md").write_text(sop)
    text = (REPO / "config.example.toml").read_text()
    text = text.replace('rotations_dir = "rotations"', f'rotations_dir = "{REPO / "rotations"}"')
    text = text.replace('database = "var/oncall.db"', f'database = "{tmp / "oncall.db"}"')
    text = text.replace("[twilio]\n", "[twilio]\n" + extra_twilio)
    text = text.replace("[defaults]\n", "[defaults]\n" + defaults)
    text = text.replace("[daemon]\n", "[daemon]\n" + daemon)
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def on_ports(catalog: Catalog) -> Catalog:
    port, sandbox_port = free_port(), free_port()
    config = replace(
        catalog.config,
        listen=("127.0.0.1", port),
        public_url=f"http://127.0.0.1:{port}",
        twilio=replace(catalog.config.twilio, sandbox_listen=("127.0.0.1", sandbox_port)),
    )
    return replace(catalog, config=config)


class Harness:
    """One daemon (sandbox mode) in a background thread."""

    def __init__(self, config_path: Path, clock: Clock | None = None) -> None:
        env = {"ONCALL_TEST_SECRET": SECRET}
        self.catalog = on_ports(load_catalog(config_path, env))
        self.clock = clock or OffsetClock.starting_at(AFTER_HOURS)
        self.daemon = Daemon(self.catalog, clock=self.clock, env=env, echo=lambda _: None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.http = httpx.Client(timeout=10)

    def _main(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await self.daemon.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            await self._stop.wait()
            await self.daemon.stop()

        asyncio.run(body())

    def __enter__(self) -> Harness:
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.http.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the daemon's loop thread (the store is single-threaded) and return."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    @property
    def url(self) -> str:
        return self.daemon.url

    @property
    def peer(self) -> SandboxPeer:
        assert self.daemon.sandbox is not None
        return self.daemon.sandbox

    def post_alert(
        self,
        body: dict[str, Any] | str | bytes,
        *,
        client: str = "testco",
        secret: str | None = SECRET,
    ) -> httpx.Response:
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return self.http.post(f"{self.url}/alerts/{client}", content=content, headers=headers)

    def phone(self, tech_id: str) -> Phone:
        return Phone(self, self.catalog.techs[tech_id].phone)

    def caller(self, number: str) -> Caller:
        """Someone calling the after-hours line from `number`."""
        return Caller(self, number)

    def on_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the daemon's loop (where the sandbox peer lives) and return."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def stranger(self, number: str) -> Phone:
        return Phone(self, number)

    def incident(self, number: int) -> dict[str, Any]:
        row = self.call(lambda: self.daemon.store.incident(number))  # type: ignore[union-attr]
        assert row is not None
        return row

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.call(lambda: self.daemon.store.all(sql, params))  # type: ignore[union-attr]


@dataclass
class Answer:
    text: str
    status: int

    def expect(self, fragment: str) -> Answer:
        assert fragment in self.text, f"expected {fragment!r} in the answer, got {self.text!r}"
        return self


class Phone:
    """A tech's phone: sees the SMS the sandbox delivered to it, and replies."""

    def __init__(self, harness: Harness, number: str) -> None:
        self.h = harness
        self.number = number
        self.cursor = 0  # index in peer.messages after the last message this phone consumed
        self.call_cursor = 0  # the same in peer.calls

    def expect_sms(self, fragment: str, timeout: float = 5.0) -> Phone:
        def mine(m: MessageRecord) -> bool:
            return m.to == self.number

        record = self.h.peer.wait_for_message_sync(mine, timeout, start=self.cursor)
        self.cursor = self.h.peer.messages.index(record) + 1
        assert fragment in record.body, f"{self.number} got {record.body!r}, expected {fragment!r}"
        self.last = record
        return self

    def expect_call(
        self, fragment: str | None = None, *, answer: bool = True, timeout: float = 5.0
    ) -> Call:
        """The next call the daemon places to this phone; answered (and heard) unless told not
        to. `fragment` must be in what the call says on answering."""

        def mine(c: CallRecord) -> bool:
            return c.to == self.number and c.direction == "outbound-api"

        record = self.h.peer.wait_for_call_sync(mine, timeout, start=self.call_cursor)
        self.call_cursor = self.h.peer.calls.index(record) + 1
        call = Call(self.h, record)
        if answer:
            call.answer()
            if fragment is not None:
                call.expect(fragment)
        return call

    def expect_no_call(self, within: float) -> Phone:
        try:
            record = self.h.peer.wait_for_call_sync(
                lambda c: c.to == self.number and c.direction == "outbound-api",
                within,
                start=self.call_cursor,
            )
        except TimeoutError:
            return self
        raise AssertionError(f"{self.number} got an unexpected call: {record.url}")

    def expect_no_sms(self, within: float) -> Phone:
        try:
            record = self.h.peer.wait_for_message_sync(
                lambda m: m.to == self.number, within, start=self.cursor
            )
        except TimeoutError:
            return self
        raise AssertionError(f"{self.number} got an unexpected SMS: {record.body!r}")

    def reply(
        self, body: str, *, message_sid: str | None = None, sign_with: str | None = None
    ) -> Answer:
        config = self.h.catalog.config
        params = inbound_sms_params(
            from_=self.number,
            to=config.twilio.from_number,
            body=body,
            account_sid=config.twilio.account_sid,
            message_sid=message_sid,
        )
        response = send_inbound_sms_sync(
            post_url=f"{self.h.url}/twilio/sms",
            signed_url=f"{config.public_url}/twilio/sms",
            auth_token=sign_with or config.twilio.auth_token,
            params=params,
            client=self.h.http,
        )
        command = parse_reply(body).command
        if command == "opt_out":  # Twilio refuses SMS to this phone from now on
            self.h.peer.opt_out(self.number)
        elif command == "opt_in":
            self.h.peer.opt_in(self.number)
        from xml.etree import ElementTree

        text = ""
        if response.status_code == 200:
            text = " ".join(
                m.text or "" for m in ElementTree.fromstring(response.text).iter("Message")
            )
        return Answer(
            text=text if response.status_code == 200 else response.text, status=response.status_code
        )


class Call:
    """One call in the sandbox, seen from the phone: what it says, and the keys pressed.

    `expect` looks at what the call said since the last action (answer, press, ...)."""

    def __init__(self, harness: Harness, record: CallRecord) -> None:
        self.h = harness
        self.record = record
        self.heard_from = 0

    def _act(self, coro: Coroutine[Any, Any, Any]) -> Call:
        self.heard_from = len(self.record.said)
        self.h.on_loop(coro)
        return self

    @property
    def heard(self) -> str:
        """What the call said since the last action."""
        return " ".join(self.record.said[self.heard_from :])

    @property
    def status(self) -> str:
        return self.record.status

    def expect(self, fragment: str) -> Call:
        assert fragment in self.heard, (
            f"expected {fragment!r} in the call, heard {self.heard!r}"
            + (
                f" (webhook errors: {self.record.webhook_errors})"
                if self.record.webhook_errors
                else ""
            )
        )
        return self

    def answer(self, answered_by: str = "human") -> Call:
        return self._act(self.h.peer.answer(self.record.sid, answered_by))

    def voicemail(self) -> Call:
        """An answering machine picks up (AnsweredBy machine_end_beep)."""
        return self.answer("machine_end_beep")

    def press(self, digits: str) -> Call:
        return self._act(self.h.peer.press(self.record.sid, digits))

    def no_input(self) -> Call:
        return self._act(self.h.peer.no_input(self.record.sid))

    def leave_message(self, seconds: int = 15) -> Call:
        return self._act(self.h.peer.leave_message(self.record.sid, seconds))

    def dial_ends(self, status: str = "completed") -> Call:
        return self._act(self.h.peer.dial_ends(self.record.sid, status))

    def hang_up(self) -> Call:
        return self._act(self.h.peer.hang_up(self.record.sid))

    def hold(self, seconds: int) -> Call:
        """A caller in a queue has held this long: the queue's hold prompt plays again."""
        return self._act(self.h.peer.hold(self.record.sid, seconds))

    def unanswered(self, status: str = "no-answer") -> Call:
        """The call never connects: no-answer, busy, failed or canceled."""
        return self._act(self.h.peer.end_unanswered(self.record.sid, status))

    def expect_ended(self) -> Call:
        assert self.record.ended, (
            f"the call is {self.record.status}, waiting for {self.record.waiting}"
        )
        return self


class Caller:
    """A client (or a stranger) calling the after-hours line."""

    def __init__(self, harness: Harness, number: str) -> None:
        self.h = harness
        self.number = number

    def dial(self, to: str | None = None) -> Call:
        config = self.h.catalog.config
        line = to or config.twilio.emergency_line or config.twilio.from_number
        record = self.h.on_loop(
            self.h.peer.place_inbound_call(
                self.number,
                line,
                f"{config.public_url}/twilio/voice",
                status_callback=f"{config.public_url}/twilio/voice/status",
            )
        )
        return Call(self.h, record)


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll a condition the daemon reaches asynchronously (after the peer saw the request)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition not reached in time"
            return result
        time.sleep(0.02)


class PeerThread(ServerThread):
    """A sandbox Twilio peer on its own thread, for a daemon running in another process."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.peer = SandboxPeer(account_sid, auth_token, echo=lambda _: None)
        super().__init__(self.peer.app)
