"""Each tech's shift feed at a secret address: ``GET /feeds/<token>.ics``.

A tech's token is derived, not stored: HMAC-SHA256 keyed with ``[rotations] feed_secret``
over the tech id, hex, 32 characters (128 bits). Nothing else is configured per tech, the
address stays the same across restarts and reloads, and changing ``feed_secret`` revokes every
feed at once (each tech subscribes again with the new ``oncall feed-url``). Without a
``feed_secret`` no feed is served.

The daemon finds a token's tech by comparing it, in constant time, with every tech's token;
tokens are never logged. The feed itself is oncall.shift_feed's: the tech's shifts across every
rotation, from a week back to 90 days ahead.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from oncall.config import Tech
from oncall.rotations import Rotation, Shift, shifts
from oncall.shift_feed import shift_feed

FEED_BEHIND = timedelta(days=7)
FEED_AHEAD = timedelta(days=90)
TOKEN_LENGTH = 32  # hex characters
_CONTEXT = b"oncall shift feed\x00"


def feed_token(secret: str, tech_id: str) -> str:
    """The secret token in one tech's feed address."""
    digest = hmac.new(secret.encode(), _CONTEXT + tech_id.encode(), hashlib.sha256).hexdigest()
    return digest[:TOKEN_LENGTH]


def feed_path(token: str) -> str:
    return f"/feeds/{token}.ics"


def feed_url(public_url: str, secret: str, tech_id: str) -> str:
    """The address a tech subscribes to (``daemon.public_url`` + the feed path)."""
    return public_url.rstrip("/") + feed_path(feed_token(secret, tech_id))


def tech_for_token(secret: str, tech_ids: Iterable[str], token: str) -> str | None:
    """The tech whose token this is, or None. Every tech's token is compared (in constant
    time), so the answer's timing does not tell how close a guess was."""
    presented = token.encode()
    found = None
    for tech_id in tech_ids:
        if hmac.compare_digest(presented, feed_token(secret, tech_id).encode()):
            found = tech_id
    return found


def tech_shifts(
    rotations: Mapping[str, Rotation],
    techs: Mapping[str, Tech],
    tech_id: str,
    start: datetime,
    end: datetime,
) -> list[Shift]:
    """One tech's shifts overlapping [start, end) across every rotation, by start."""
    found = [
        shift
        for name in sorted(rotations)
        for shift in shifts(rotations[name], techs, start, end)
        if tech_id in shift.tech_ids
    ]
    return sorted(found, key=lambda s: (s.start, s.end, s.rotation))


def tech_feed(
    rotations: Mapping[str, Rotation], techs: Mapping[str, Tech], tech_id: str, now: datetime
) -> bytes:
    """The tech's feed as served: shifts from FEED_BEHIND before now to FEED_AHEAD after."""
    found = tech_shifts(rotations, techs, tech_id, now - FEED_BEHIND, now + FEED_AHEAD)
    return shift_feed(found, f"On call: {techs[tech_id].name}", now=now)
