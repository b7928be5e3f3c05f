"""The sandbox peer and a webhook receiver on loopback servers, in the test's own event loop.

Servers run on port 0 (``oncall.serving.start_server``); the blocking SDK client runs in a
worker thread via ``asyncio.to_thread``. pytest-asyncio is not used: ``run`` runs a scenario.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from oncall.sandbox import SandboxPeer
from oncall.serving import RunningServer, start_server

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"
ALICE = "+15550001001"
BOB = "+15550001002"
TWILIO_NUMBER = "+15550009999"
NAMES = {ALICE: "Alice Nguyen", BOB: "Bob Okafor"}
WAIT = 5.0

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion in a fresh loop (pytest-asyncio is not used)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


@dataclass
class Sandbox:
    peer: SandboxPeer
    server: RunningServer
    echoed: list[str]

    def client(self, token: str = TOKEN) -> Client:
        """A blocking SDK client pointed at the peer."""
        client = Client(SID, token)
        client.api.base_url = self.server.url
        return client


@asynccontextmanager
async def sandbox(**kwargs: Any) -> AsyncIterator[Sandbox]:
    echoed: list[str] = []
    peer = SandboxPeer(SID, TOKEN, echo=echoed.append, names=NAMES, **kwargs)
    server = await start_server(peer.app, "127.0.0.1", 0)
    try:
        yield Sandbox(peer, server, echoed)
    finally:
        await server.stop()
        await peer.aclose()


@asynccontextmanager
async def async_client(box: Sandbox) -> AsyncIterator[Client]:
    http_client = AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http_client)
    client.api.base_url = box.server.url
    try:
        yield client
    finally:
        await http_client.close()


@dataclass
class Received:
    url: str
    params: dict[str, str]
    signature: str

    @property
    def valid(self) -> bool:
        return RequestValidator(TOKEN).validate(self.url, self.params, self.signature)


@dataclass
class Receiver:
    """A tiny webhook receiver standing in for the daemon: records each signed POST."""

    queue: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    server: RunningServer | None = None

    async def handle(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.queue.put_nowait(
            Received(str(request.url), form, request.headers.get("X-Twilio-Signature", ""))
        )
        return PlainTextResponse("", status_code=204)

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.url + path

    async def next(self) -> Received:
        return await asyncio.wait_for(self.queue.get(), WAIT)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = Starlette(routes=[Route("/{path:path}", recv.handle, methods=["POST"])])
    recv.server = await start_server(app, "127.0.0.1", 0)
    try:
        yield recv
    finally:
        await recv.server.stop()


def send_sms(box: Sandbox, to: str = ALICE, body: str = "PAGE 12", **kwargs: Any) -> Any:
    return box.client().messages.create(to=to, from_=TWILIO_NUMBER, body=body, **kwargs)
