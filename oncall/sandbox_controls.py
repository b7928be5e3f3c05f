"""The sandbox peer's loopback-only controls: what a test, the demo or a person at the
console uses to steer the fake Twilio over HTTP (no auth; loopback clients only).

    POST /_sandbox/fail                       {"to", "count", "mode"}: the next sends fail
    GET  /_sandbox/messages, /_sandbox/calls  what the peer saw
    POST /_sandbox/calls/inbound              {"from", "to", "url"}: call a Twilio number
    POST /_sandbox/calls/{sid}/{action}       answer {"answered_by"}, press {"digits"},
                                              no-input, message {"seconds"},
                                              dial {"status", "seconds"}, hang-up,
                                              end {"status"}, hold {"seconds"}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncall.sandbox_calls import CallStateError
from oncall.sandbox_queues import SandboxQueues
from oncall.sandbox_records import CallRecord


class SandboxControls(SandboxQueues):
    """The ``/_sandbox`` endpoints over the peer's records and simulated calls."""

    def control_routes(self) -> list[Route]:
        return [
            Route("/_sandbox/fail", self._http_fail, methods=["POST"]),
            Route("/_sandbox/messages", self._http_messages, methods=["GET"]),
            Route("/_sandbox/calls", self._http_calls, methods=["GET"]),
            Route("/_sandbox/calls/inbound", self._http_inbound, methods=["POST"]),
            Route("/_sandbox/calls/{sid}/{action}", self._http_control, methods=["POST"]),
        ]

    async def _http_fail(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        try:
            data = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        to = data.get("to")
        if to is not None and not isinstance(to, str):
            return JSONResponse({"error": "'to' must be a string or null"}, status_code=400)
        try:
            self.fail_next(to, data.get("count", 1), data.get("mode", ""))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "pending": self.pending_failures()})

    async def _http_messages(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        return JSONResponse(self.messages_json())

    async def _http_calls(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        return JSONResponse(self.calls_json())

    async def _http_body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise CallStateError("expected a JSON object")
        return data

    async def _http_inbound(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        try:
            data = await self._http_body(request)
            if not all(isinstance(data.get(k), str) for k in ("from", "to", "url")):
                raise CallStateError("'from', 'to' and 'url' are required strings")
            record = await self.place_inbound_call(
                data["from"], data["to"], data["url"], status_callback=data.get("status_callback")
            )
        except (CallStateError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(record.to_json())

    async def _http_control(self, request: Request) -> Response:
        if not self._loopback(request):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        sid, action = request.path_params["sid"], request.path_params["action"]
        try:
            data = await self._http_body(request)
            controls: dict[str, Callable[[], Coroutine[Any, Any, CallRecord]]] = {
                "answer": lambda: self.answer(sid, str(data.get("answered_by", "human"))),
                "press": lambda: self.press(sid, str(data.get("digits", ""))),
                "no-input": lambda: self.no_input(sid),
                "message": lambda: self.leave_message(sid, int(data.get("seconds", 15))),
                "dial": lambda: self.dial_ends(
                    sid, str(data.get("status", "completed")), int(data.get("seconds", 60))
                ),
                "hang-up": lambda: self.hang_up(sid),
                "end": lambda: self.end_unanswered(sid, str(data.get("status", "no-answer"))),
                "hold": lambda: self.hold(sid, int(data.get("seconds", 60))),
            }
            if action not in controls:
                return JSONResponse(
                    {"error": f"unknown action {action!r} (actions: {', '.join(controls)})"},
                    status_code=404,
                )
            record = await controls[action]()
        except (CallStateError, ValueError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(record.to_json())
