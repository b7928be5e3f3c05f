"""Loopback servers: start on port 0, stop idempotently, report bind and lifespan failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sandbox_servers import WAIT, run
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oncall.serving import start_server


def test_start_server_on_port_zero_serves_and_stops() -> None:
    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])

    async def scenario() -> None:
        server = await start_server(app, "127.0.0.1", 0)
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url + "/")).text == "hello"
        await server.stop()
        assert not server.running
        await server.stop()  # idempotent
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(server.url + "/")

    run(scenario())


def test_start_server_bind_failure_raises_oserror() -> None:
    app = Starlette()

    async def scenario() -> None:
        async with await start_server(app, "127.0.0.1", 0) as first:
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{first.port}"):
                await asyncio.wait_for(start_server(app, "127.0.0.1", first.port), WAIT)

    run(scenario())


def test_start_server_reports_a_failing_lifespan_instead_of_exiting() -> None:
    @asynccontextmanager
    async def broken_lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("database missing")
        yield

    app = Starlette(lifespan=broken_lifespan)

    async def scenario() -> None:
        with pytest.raises(RuntimeError, match="failed to start"):
            await asyncio.wait_for(start_server(app, "127.0.0.1", 0), WAIT)

    run(scenario())
