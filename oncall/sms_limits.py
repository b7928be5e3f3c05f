"""SMS noise control for techs, decided: when the next SMS to a tech may go out (pure).

Two limits from `[defaults]`, both off by default: `tech_sms_gap` (at least this long between
two SMS to one tech) and `tech_sms_per_15m` (at most this many in any 15 minutes). Pages that
come due meanwhile wait, and go out together as one SMS (`oncall.texts.bundle_text`) as soon
as the limits allow. Calls and notices are never held back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=15)


def limited(gap: timedelta, per_window: int) -> bool:
    """Whether any limit is on (otherwise every SMS goes out as it comes due)."""
    return gap > timedelta(0) or per_window > 0


def next_allowed(
    sent: Sequence[datetime], now: datetime, gap: timedelta, per_window: int
) -> datetime:
    """The first instant at or after `now` an SMS may go to a tech who got SMS at `sent`.

    With `per_window` N, an SMS at t is allowed while fewer than N went out in (t - 15 min, t].
    """
    allowed = now
    if gap > timedelta(0) and sent:
        allowed = max(allowed, max(sent) + gap)
    if per_window > 0:
        while True:
            recent = sorted(t for t in sent if allowed - WINDOW < t <= allowed)
            if len(recent) < per_window:
                break
            # Wait until enough of them have left the window.
            allowed = recent[len(recent) - per_window] + WINDOW
    return allowed
