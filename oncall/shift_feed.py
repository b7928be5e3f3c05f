"""Shifts as an iCalendar feed (one tech's upcoming shifts, for subscribing on a phone).

Built with icalendar. Each shift is an event in UTC titled "On call: <rotation>", with the
rotation event's own SUMMARY as its description, and a UID derived from the rotation, the
event's UID and the shift's start, so a phone that re-reads the feed updates its events
instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import icalendar

from oncall.rotations import Shift


def shift_feed(shifts: Sequence[Shift], title: str, now: datetime) -> bytes:
    """An iCalendar (VCALENDAR) text with one event per shift; ``now`` stamps DTSTAMP."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//oncall//shift feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", title)
    for shift in shifts:
        event = icalendar.Event()
        event.add("uid", feed_uid(shift))
        event.add("dtstamp", now)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"On call: {shift.rotation}")
        if shift.summary:
            event.add("description", shift.summary)
        calendar.add_component(event)
    return calendar.to_ical()


def feed_uid(shift: Shift) -> str:
    key = f"{shift.rotation}\n{shift.uid}\n{shift.start.isoformat()}".encode()
    return f"{hashlib.sha256(key).hexdigest()[:32]}@oncall"
