"""The daemon's shift-feed route: ``GET /feeds/<token>.ics`` answers one tech's shifts as
``text/calendar`` (oncall.tech_feed), or 404 for any token that is not a tech's — the same
404 whether feeds are off, the token is unknown or malformed, so the answer tells nothing.
The token never reaches the log: only the tech it belongs to does.
"""

from __future__ import annotations

import asyncio

import structlog
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oncall.engine import Engine
from oncall.tech_feed import tech_feed, tech_for_token

log = structlog.get_logger(__name__)

CALENDAR = "text/calendar; charset=utf-8"


def feed_routes(engine: Engine) -> list[Route]:
    """The feed route around one engine (its catalog is read per request, so reloads count)."""

    async def feed(request: Request) -> Response:
        catalog = engine.catalog
        secret = catalog.config.rotation_settings.feed_secret
        token = request.path_params["token"]
        tech_id = tech_for_token(secret, catalog.techs, token) if secret else None
        if tech_id is None:
            return PlainTextResponse("not found", status_code=404)
        now = engine.clock.now()
        # Off the loop: a range outside the shift index is expanded from the calendars.
        body = await asyncio.to_thread(tech_feed, catalog.rotations, catalog.techs, tech_id, now)
        log.info("feed.served", tech=tech_id)
        return Response(
            body,
            media_type=CALENDAR,
            headers={
                "Cache-Control": "private, max-age=300",
                "Content-Disposition": f'inline; filename="oncall-{tech_id}.ics"',
            },
        )

    return [Route("/feeds/{token}.ics", feed, methods=["GET"])]
