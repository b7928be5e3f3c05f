"""Twilio voice webhooks: thin Starlette handlers for the phone line and for voice pages.

Each route is wrapped by web.py's `twilio_webhook` (X-Twilio-Signature checked against the
public URL before anything is read). Handlers check the parameters, hand over to the engine
(`engine.phone` for the after-hours line, `engine.voice` for paging calls) and answer TwiML;
bad input gets a 4xx with a reason, never a 500.

    POST /twilio/voice            a call to the emergency line ("A call comes in")
    POST /twilio/voice/pin        the PIN an unknown caller entered
    POST /twilio/voice/menu       the key pressed in the emergency menu
    POST /twilio/voice/recorded   a message recorded for the service desk
    POST /twilio/voice/desk       the call to the service desk ended
    POST /twilio/voice/status     the line's call status ("Call status changes")
    POST /twilio/voice/page       a voice page answered (?page=ID; AnsweredBy)
    POST /twilio/voice/page/key   the key a paged tech pressed (?page=ID&round=N)
    POST /twilio/voice/hold       a holding caller's queue waitUrl (?incident=N; live connect)
    POST /twilio/voice/held       the caller left the queue (?incident=N; QueueResult)
    POST /twilio/voice/connect    the tech's key after the offer (?incident=N): 1 bridges
    POST /twilio/voice/screen     the call to a tech who acked by SMS answered (?incident=N;
                                  &status=1: its status callbacks)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oncall.engine import Engine
from oncall.phone_calls import CallError
from oncall.voice_paging import UnknownPage

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]
Signed = Callable[[Handler], Callable[[Request], Awaitable[Response]]]


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def _twiml(text: str) -> Response:
    return Response(text, media_type="application/xml")


def _number(request: Request, name: str) -> int | None:
    value = request.query_params.get(name, "")
    return int(value) if value.isdigit() else None


def voice_routes(engine: Engine, signed: Signed) -> list[Route]:
    """The voice routes, each behind the signature check `signed`."""

    def call_step(step: Callable[[dict[str, str]], str]) -> Handler:
        async def handler(request: Request, params: dict[str, str]) -> Response:
            if not params.get("CallSid"):
                return _error(400, "CallSid is required")
            try:
                return _twiml(step(params))
            except CallError as exc:
                return _error(exc.status, exc.reason)

        return handler

    async def call_status(request: Request, params: dict[str, str]) -> Response:
        if not params.get("CallSid"):
            return _error(400, "CallSid is required")
        engine.phone.ended(params)
        return Response(status_code=204)

    async def page_answered(request: Request, params: dict[str, str]) -> Response:
        page = _number(request, "page")
        if page is None:
            return _error(400, "the page query parameter (a page id) is required")
        try:
            return _twiml(engine.voice.answered(page, params))
        except UnknownPage as exc:
            return _error(404, str(exc))

    async def page_key(request: Request, params: dict[str, str]) -> Response:
        page, round_ = _number(request, "page"), _number(request, "round") or 1
        if page is None:
            return _error(400, "the page query parameter (a page id) is required")
        try:
            return _twiml(engine.voice.key(page, round_, params))
        except UnknownPage as exc:
            return _error(404, str(exc))

    def live_step(step: Callable[[int, dict[str, str]], str]) -> Handler:
        async def handler(request: Request, params: dict[str, str]) -> Response:
            incident = _number(request, "incident")
            if incident is None or not params.get("CallSid"):
                return _error(400, "the incident query parameter and CallSid are required")
            try:
                return _twiml(step(incident, params))
            except CallError as exc:
                return _error(exc.status, exc.reason)

        return handler

    async def screen(request: Request, params: dict[str, str]) -> Response:
        if request.query_params.get("status"):
            if not params.get("CallSid"):
                return _error(400, "CallSid is required")
            engine.live.screen_status(params)
            return Response(status_code=204)
        return await live_step(engine.live.screen)(request, params)

    phone, live = engine.phone, engine.live
    return [
        Route("/twilio/voice", signed(call_step(phone.incoming)), methods=["POST"]),
        Route("/twilio/voice/pin", signed(call_step(phone.pin)), methods=["POST"]),
        Route("/twilio/voice/menu", signed(call_step(phone.menu)), methods=["POST"]),
        Route("/twilio/voice/recorded", signed(call_step(phone.recorded)), methods=["POST"]),
        Route("/twilio/voice/desk", signed(call_step(phone.desk)), methods=["POST"]),
        Route("/twilio/voice/status", signed(call_status), methods=["POST"]),
        Route("/twilio/voice/page", signed(page_answered), methods=["POST"]),
        Route("/twilio/voice/page/key", signed(page_key), methods=["POST"]),
        Route("/twilio/voice/hold", signed(live_step(live.hold_prompt)), methods=["POST"]),
        Route("/twilio/voice/held", signed(live_step(live.held)), methods=["POST"]),
        Route("/twilio/voice/connect", signed(live_step(live.connect)), methods=["POST"]),
        Route("/twilio/voice/screen", signed(screen), methods=["POST"]),
    ]
