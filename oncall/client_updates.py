"""Client updates, the pure part: the texts clients receive, when the next update is due, and
keeping tech phone numbers out of anything forwarded to a client.

No I/O here: the engine part `client_comms` decides nothing itself, it asks these functions.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers

from oncall.errors import ConfigError

KINDS = ("first", "update", "closing")
PLACEHOLDERS = frozenset(
    {"company", "client", "number", "priority", "summary", "message", "note", "next_update"}
)
# Client-facing by design: no host, no runbook, no tech phone; {summary} (the alert's own
# words, which may name a server) is available but left out of the defaults.
DEFAULT_TEMPLATES: Mapping[str, str] = {
    "first": (
        "{company}: we are working on an urgent issue for {client} (ref #{number}). "
        "An engineer is on it now. Next update by {next_update}."
    ),
    "update": "{company} update on #{number} for {client}: {message} Next update by {next_update}.",
    "closing": "{company}: the issue for {client} (ref #{number}) is resolved. {note}",
}
DEFAULT_GRACE = timedelta(minutes=15)
NEXT_UPDATE_LIMIT = timedelta(hours=24)
REDACTED = "[number removed]"
MAX_BODY = 1600  # Twilio's limit for one message body (longer is refused, error 21617)


# --------------------------------------------------------------------------- templates


def check_templates(value: object, path: Path | str | None, key: str) -> dict[str, str]:
    """A `[client_updates.templates]` table: known kinds only, known placeholders only."""
    if not isinstance(value, dict):
        raise ConfigError(path, key, f"expected a table ([{key}]), got {value!r}")
    templates: dict[str, str] = {}
    for kind, text in value.items():
        where = f"{key}.{kind}"
        if kind not in KINDS:
            raise ConfigError(path, where, f"unknown template (templates: {', '.join(KINDS)})")
        templates[kind] = check_template(text, path, where)
    return templates


def check_template(text: object, path: Path | str | None, key: str) -> str:
    """The template text, if every {placeholder} in it is one we fill."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(path, key, f"expected the message text, got {text!r}")
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(text) if f is not None]
        specs = [(spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f]
    except ValueError as exc:
        raise ConfigError(path, key, f"bad braces in {text!r} ({exc}); write {{{{ for {{") from exc
    for name in fields:
        if name not in PLACEHOLDERS:
            raise ConfigError(
                path,
                key,
                f"unknown placeholder {{{name}}} (placeholders: "
                + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
                + ")",
            )
    if any(spec or conv for spec, conv in specs):
        raise ConfigError(path, key, "placeholders take no format spec, e.g. {number}")
    return text


def sentence(text: str) -> str:
    """Text that reads like a sentence for the client: list dashes and stray separators left
    by a removed phrase dropped, a capital first letter, a final full stop (the SMS grammar
    drops the one the tech typed)."""
    text = re.sub(r"\s+([,;.])", r"\1", text.strip())
    text = text.lstrip("-*•,;: ").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill a checked template; missing values are empty; runs of spaces are folded."""
    filled = template.format_map({p: values.get(p, "") or "" for p in PLACEHOLDERS})
    return re.sub(r"[ \t]+", " ", filled).strip()


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in '...' when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rstrip() + "..." if limit >= 3 else ""


def choose_template(kind: str, *overrides: Mapping[str, str]) -> str:
    """The first override that has `kind` (SOP before config), else the default."""
    for templates in overrides:
        if kind in templates:
            return templates[kind]
    return DEFAULT_TEMPLATES[kind]


# --------------------------------------------------------------------------- times


def client_time(instant: datetime, zone: ZoneInfo, now: datetime | None = None) -> str:
    """'02:30 CST': how a time appears in a client's text; 'Tue 09:00 CST' when it is not on
    the same day as `now` (in the client's zone), so a time tomorrow is not read as today's."""
    local = instant.astimezone(zone)
    if now is not None and local.date() != now.astimezone(zone).date():
        return local.strftime("%a %H:%M %Z")
    return local.strftime("%H:%M %Z")


_NEXT = re.compile(
    r"[\s,;.:-]*\bnext\s+update\b\s*:?\s*(?:(?:at|by|around|~)\s*)?"
    r"(?:(?P<in>in\s+(?P<span>\d+\s*(?:h(?:ours?|rs?)?|m(?:in(?:ute)?s?)?)"
    r"(?:\s*\d+\s*m(?:in(?:ute)?s?)?)?))"
    r"|(?P<hour>\d{1,2})(?::?(?P<minute>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?)(?!\w)",
    re.IGNORECASE,
)
_SPAN_PART = re.compile(r"(\d+)\s*(h|m)", re.IGNORECASE)


def parse_next_update(text: str, now: datetime, zone: ZoneInfo) -> tuple[datetime | None, str]:
    """'next update 02:30' / 'next update at 2:30am' / 'next update in 45m' in a tech's text.

    Returns the instant named (UTC; a time of day is the next one in the client's zone, or
    None if the phrase names no time we can read) and the text without the phrase."""
    match = _NEXT.search(text)
    if match is None:
        return None, text
    rest = (text[: match.start()] + " " + text[match.end() :]).strip(" ,;.-")
    rest = re.sub(r"\s+", " ", rest)
    if match.group("in"):
        span = timedelta()
        for amount, unit in _SPAN_PART.findall(match.group("span")):
            span += (
                timedelta(hours=int(amount))
                if unit.lower() == "h"
                else timedelta(minutes=int(amount))
            )
        return now + span, rest
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").replace(".", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None, rest
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None, rest
    return _next_wall_time(time(hour, minute), now, zone), rest


def _next_wall_time(at: time, now: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after `now` when the client's clock shows `at`."""
    local_now = now.astimezone(zone)
    for days in range(3):
        day = local_now.date() + timedelta(days=days)
        candidate = datetime.combine(day, at, tzinfo=zone)
        # A time skipped by a DST change is read with the offset before the change.
        instant = candidate.astimezone(UTC)
        if instant > now:
            return instant
    raise AssertionError("a wall time recurs within three days")


def next_due(
    text: str, now: datetime, zone: ZoneInfo, cadence: timedelta
) -> tuple[datetime, str, bool]:
    """When the next update is due after one with this text: the time the tech named if it is
    in the future and within 24 hours, else now + cadence. Also the text without the phrase
    and whether the tech's time was taken."""
    named, rest = parse_next_update(text, now, zone)
    if named is not None and now < named <= now + NEXT_UPDATE_LIMIT:
        return named, rest, True
    return now + cadence, rest, False


# --------------------------------------------------------------------------- redaction


def redact(text: str, tech_phones: Collection[str], region: str = "US") -> str:
    """Replace every phone number in `text` that is a tech's (E.164 in tech_phones)."""
    spans: list[tuple[int, int]] = []
    for match in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.POSSIBLE
    ):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 in tech_phones:
            spans.append((match.start, match.end))
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
    return text
