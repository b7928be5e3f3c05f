"""Run an ASGI app (Starlette) on uvicorn inside the *current* asyncio event loop.

The daemon, the sandbox Twilio peer, the demo and the tests all serve HTTP from the loop they
already run, instead of letting uvicorn own the process (``uvicorn.run``) and its signals:

    server = await start_server(app, "127.0.0.1", 0)   # port 0: the OS picks a free port
    print(server.url)                                   # http://127.0.0.1:43121
    ...
    await server.stop()

We bind the listening socket ourselves so that a bind failure surfaces as an ``OSError`` naming
the address (uvicorn would log it and call ``sys.exit``), and uvicorn's signal capture is
disabled: signals belong to whoever owns the loop (the daemon installs its own handlers).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

LifespanMode = Literal["auto", "on", "off"]


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the host program and reports startup."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.started_event = asyncio.Event()
        self.exit_event = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn >= 0.29 replaces SIGINT/SIGTERM handlers for the duration of serve() when run
        # on the main thread; an embedded server must not steal the daemon's signals.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.started_event.set()

    async def main_loop(self) -> None:
        # uvicorn's loop: on_tick() every 0.1 s (date header, request limits, should_exit).
        # Waking early on exit_event makes stop() prompt instead of up to one tick late.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_event.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def request_exit(self) -> None:
        self.should_exit = True
        self.exit_event.set()


def _bind(host: str, port: int) -> socket.socket:
    """Create a listening-ready TCP socket bound to (host, port), or raise a clear OSError."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    family, socktype, proto, _canon, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


class RunningServer:
    """A uvicorn server serving in the current event loop; ``stop()`` shuts it down."""

    def __init__(self, server: _EmbeddedServer, task: asyncio.Task[None], host: str) -> None:
        self._server = server
        self._task = task
        self.host = host
        sockets = server.servers[0].sockets
        self.port: int = int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8788`` (IPv6 hosts are bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def stop(self) -> None:
        """Stop accepting connections, finish in-flight requests, and wait for the server task.

        Safe to call more than once. Re-raises an error the server task died with.
        """
        self._server.request_exit()
        await self._task

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RunningServer {self.url} {state}>"


async def start_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    log_level: str = "warning",
    lifespan: LifespanMode = "auto",
    graceful_timeout: float = 5.0,
) -> RunningServer:
    """Serve ``app`` on ``host:port`` from the running loop; return once it accepts connections.

    ``port=0`` binds a free port; read the real one from ``.port``/``.url``. A bind failure
    (address in use, unknown host, no permission) raises ``OSError`` immediately; a failing app
    lifespan startup raises ``RuntimeError``. ``graceful_timeout`` bounds how long ``stop()``
    waits for open connections and background tasks.
    """
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan=lifespan,
        log_config=None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=graceful_timeout,
    )
    server = _EmbeddedServer(config)

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:
            # uvicorn exits the process when the app's lifespan startup fails; inside a shared
            # loop that must be an ordinary error instead.
            raise RuntimeError(
                f"server on {host}:{port} failed to start (uvicorn exit code {exc.code}); "
                "see the log for the application's startup error"
            ) from None
        finally:
            sock.close()

    task = asyncio.create_task(serve(), name=f"uvicorn {host}:{port}")
    started = asyncio.create_task(server.started_event.wait())
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        server.request_exit()
        started.cancel()
        raise
    if not started.done():
        started.cancel()
    if task.done():
        task.result()  # raises the startup error
        raise RuntimeError(f"server on {host}:{port} stopped during startup")
    return RunningServer(server, task, host)


class ServerThread:
    """Serve an app from a background thread with its own loop (benchmarks, tests, tools).

    Use as a context manager; ``url`` is valid inside the block.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        import threading

        self.app, self.host, self.port = app, host, port
        self.url = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = await start_server(self.app, self.host, self.port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self.url = server.url
        self._ready.set()
        await self._stop.wait()
        await server.stop()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
