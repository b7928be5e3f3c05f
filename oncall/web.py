"""HTTP routes: thin handlers that parse, check who is calling, hand over to the engine, answer.

Bad input gets a 4xx with a reason, never a 500. Twilio webhooks must carry a valid
X-Twilio-Signature computed over `public_url` + path; alert webhooks need the client's secret
(or, on a tool's shared URL `/alerts/tool/<tool>`, that tool's secret from config.toml).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from oncall.adapters import ADAPTERS, TOOLS, Adapter
from oncall.engine import Engine
from oncall.feed_routes import feed_routes
from oncall.heartbeat_watch import UnknownCheck
from oncall.intake import AlertError, parse_generic
from oncall.metrics import metrics_routes
from oncall.tool_intake import ToolIntake
from oncall.voice_routes import voice_routes

log = structlog.get_logger(__name__)

MAX_BODY = 256 * 1024


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None if it is larger than MAX_BODY (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def durable_answers(app: Any, store: Any) -> Any:
    """ASGI wrapper: no HTTP answer starts before what the request changed is committed
    (the daemon's group commit shares one commit among a loop turn's transactions)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_when_durable(message: Any) -> None:
            if message["type"] == "http.response.start":
                await store.durable()
            await send(message)

        await app(scope, receive, send_when_durable)

    return wrapped


def create_app(engine: Engine) -> Starlette:
    """Build the daemon's ASGI app around one engine."""

    def config() -> Any:
        return engine.catalog.config

    async def healthz(request: Request) -> Response:
        open_incidents = engine.store.one(
            "SELECT count(*) AS n FROM incidents WHERE state IN ('paging', 'exhausted')"
        )
        return JSONResponse(
            {
                "status": "ok",
                "open_incidents": open_incidents["n"] if open_incidents else 0,
                "pending_timers": engine.wheel.pending(),
                "max_timer_lateness_seconds": round(engine.wheel.max_lateness, 3),
                "mode": config().twilio.mode,
            }
        )

    async def alerts(request: Request) -> Response:
        client = request.path_params["client"]
        sop = engine.catalog.sops.get(client)
        if sop is None:
            return _error(404, f"unknown client {client!r}")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), sop.alert_secret.encode()
        ):
            log.warning("alert.unauthorised", client=client, remote=_remote(request))
            return _error(401, "missing or wrong client secret (Authorization: Bearer <secret>)")
        body = await _read_body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        try:
            alert = parse_generic(client, body)
        except AlertError as exc:
            engine.reject_alert(client, body, str(exc))
            return _error(422, str(exc))
        outcome = engine.receive_alert(alert, body)
        return JSONResponse(
            {
                "alert_id": outcome.alert_id,
                "decision": outcome.decision.action,
                "reason": outcome.decision.reason,
                "incident": outcome.incident_id,
            },
            status_code=202,
        )

    async def heartbeat(request: Request) -> Response:
        """A job checking in: `POST /heartbeat/<client>/<check>` with the client's secret."""
        client, check = request.path_params["client"], request.path_params["check"]
        sop = engine.catalog.sops.get(client)
        if sop is None:
            return _error(404, f"unknown client {client!r}")
        if not _presents(request, sop.alert_secret):
            log.warning("heartbeat.unauthorised", client=client, remote=_remote(request))
            return _error(
                401, "missing or wrong client secret (Authorization: Bearer <secret>, or ?token=)"
            )
        try:
            answer = engine.heartbeats.check_in(client, check)
        except UnknownCheck as exc:
            return _error(404, str(exc))
        return JSONResponse(answer)

    async def heartbeat_by_secret(request: Request) -> Response:
        """`POST /heartbeat/<check>`: the client is the one whose secret the job presents."""
        check = request.path_params["check"]
        # Compare against every client's secret (no early exit), so timing tells nothing.
        owners = [
            sop for sop in engine.catalog.sops.values() if _presents(request, sop.alert_secret)
        ]
        if not owners:
            log.warning("heartbeat.unauthorised", check=check, remote=_remote(request))
            return _error(
                401, "missing or unknown client secret (Authorization: Bearer <secret>, or ?token=)"
            )
        try:
            answer = engine.heartbeats.check_in(owners[0].id, check)
        except UnknownCheck as exc:
            return _error(404, str(exc))
        return JSONResponse(answer)

    tool_intake = ToolIntake(engine)

    async def tool_alerts(request: Request) -> Response:
        """The shared URL of one tool: every client, routed by the SOPs' [intake] names."""
        tool = request.path_params["tool"]
        adapter = ADAPTERS.get(tool)
        if adapter is None:
            return _error(404, f"unknown tool {tool!r} (tools: {', '.join(TOOLS)})")
        webhook = config().intake_tools.get(tool)
        if webhook is None:
            return _error(
                404,
                f"no shared {adapter.title} URL: add {tool} to [intake.tools] in config.toml "
                f"(or post to /alerts/<client>/{tool} with the client's secret)",
            )
        return await tool_post(request, adapter, webhook.secret, None)

    async def client_tool_alerts(request: Request) -> Response:
        """One client's URL for one tool's format, with the client's own secret."""
        client, tool = request.path_params["client"], request.path_params["tool"]
        sop = engine.catalog.sops.get(client)
        if sop is None:
            return _error(404, f"unknown client {client!r}")
        adapter = ADAPTERS.get(tool)
        if adapter is None:
            return _error(404, f"unknown tool {tool!r} (tools: {', '.join(TOOLS)})")
        return await tool_post(request, adapter, sop.alert_secret, client)

    async def tool_post(
        request: Request, adapter: Adapter, secret: str, client: str | None
    ) -> Response:
        if not _presents(request, secret):
            log.warning(
                "alert.unauthorised", tool=adapter.tool, client=client, remote=_remote(request)
            )
            return _error(
                401, "missing or wrong secret (Authorization: Bearer <secret>, or ?token=<secret>)"
            )
        body = await _read_body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        status, answer = tool_intake.take(adapter, body, client)
        return JSONResponse(answer, status_code=status)

    def twilio_webhook(
        handler: Callable[[Request, dict[str, str]], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """Check the signature against the public URL before anything is read or recorded."""

        async def endpoint(request: Request) -> Response:
            body = await _read_body(request)
            if body is None:
                return _error(413, "body too large")
            try:
                pairs = parse_qsl(
                    body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
                )
            except UnicodeDecodeError:
                return _error(400, "body is not UTF-8 form data")
            params = dict(pairs)
            url = config().public_url + request.url.path
            if request.url.query:
                url += "?" + request.url.query
            signature = request.headers.get("x-twilio-signature", "")
            validator = RequestValidator(config().twilio.auth_token)
            if not signature or not validator.validate(url, params, signature):
                log.warning("twilio.bad_signature", path=request.url.path, remote=_remote(request))
                return PlainTextResponse(
                    "invalid X-Twilio-Signature (is daemon.public_url the URL Twilio calls?)",
                    status_code=403,
                )
            return await handler(request, params)

        return endpoint

    async def sms(request: Request, params: dict[str, str]) -> Response:
        if not (params.get("MessageSid") or params.get("SmsSid")) or "From" not in params:
            return _error(400, "MessageSid and From are required")
        answer = engine.inbox.receive(params)
        twiml = MessagingResponse()
        if answer:
            twiml.message(answer)
        return Response(str(twiml), media_type="application/xml")

    async def status(request: Request, params: dict[str, str]) -> Response:
        outbox = request.query_params.get("outbox")
        if outbox and outbox.isdigit():  # an SMS to a client contact or the service desk
            engine.outbox.receive_status(int(outbox), params)
            return Response(status_code=204)
        page = request.query_params.get("page")
        page_id = int(page) if page and page.isdigit() else None
        engine.delivery.receive_status(page_id, params)
        return Response(status_code=204)

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Only our own bugs reach here (bad input is answered with a 4xx above): log it loudly.
        log.exception("http.internal_error", path=request.url.path, exc_info=exc)
        return _error(500, "internal error; see the daemon log")

    return Starlette(
        exception_handlers={Exception: internal_error},
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/alerts/{client}", alerts, methods=["POST"]),
            Route("/alerts/tool/{tool}", tool_alerts, methods=["POST"]),
            Route("/alerts/{client}/{tool}", client_tool_alerts, methods=["POST"]),
            Route("/heartbeat/{client}/{check}", heartbeat, methods=["POST"]),
            Route("/heartbeat/{check}", heartbeat_by_secret, methods=["POST"]),
            Route("/twilio/sms", twilio_webhook(sms), methods=["POST"]),
            Route("/twilio/status", twilio_webhook(status), methods=["POST"]),
            *voice_routes(engine, twilio_webhook),
            *feed_routes(engine),
            *metrics_routes(engine),
        ],
    )


def _presents(request: Request, secret: str) -> bool:
    """Whether the request carries `secret` as a Bearer token or as the `token` query parameter.

    The query parameter is for tools that cannot set headers; it ends up in their settings and
    in proxy logs, so the header is preferred where the tool allows it.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    presented = [token.strip()] if scheme.lower() == "bearer" else []
    presented += request.query_params.getlist("token")
    return any(hmac.compare_digest(value.encode(), secret.encode()) for value in presented)


def _remote(request: Request) -> str:
    return request.client.host if request.client else "?"
