"""A calendar host on 127.0.0.1 for remote-calendar tests: serves one secret address the way
Google or Outlook do (ETag, Last-Modified, conditional GET), and can misbehave on demand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oncall.serving import ServerThread

SECRET_PATH = "/calendar/ical/msp%40example.com/private-s3cr3t0123456789/basic.ics"


@dataclass
class CalendarHost:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/calendar; charset=UTF-8"
    etag: str | None = None
    last_modified: str | None = None
    stall: bool = False  # hold every answer until release() (to test the fetch timeout)
    requests: list[dict[str, str]] = field(default_factory=list)
    _server: ServerThread | None = None
    _release: asyncio.Event | None = None

    def __enter__(self) -> CalendarHost:
        self._server = ServerThread(Starlette(routes=[Route(unquote(SECRET_PATH), self._answer)]))
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        assert self._server is not None
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url + SECRET_PATH

    def release(self) -> None:
        if self._server is not None and self._server.loop and self._release is not None:
            self._server.loop.call_soon_threadsafe(self._release.set)

    async def _answer(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        if self.stall:
            self._release = asyncio.Event()
            await asyncio.wait_for(self._release.wait(), 5)
        headers = {}
        if self.etag:
            headers["ETag"] = self.etag
        if self.last_modified:
            headers["Last-Modified"] = self.last_modified
        if self.status == 200 and (
            (self.etag and request.headers.get("if-none-match") == self.etag)
            or (
                self.last_modified
                and request.headers.get("if-modified-since") == self.last_modified
            )
        ):
            return Response(status_code=304, headers=headers)
        return Response(self.body, self.status, headers=headers, media_type=self.content_type)
