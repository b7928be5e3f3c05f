"""The morning digest, the pure part: its settings and the text of its e-mail and SMS.

    [digest]
    email_to = ["servicedesk@example-msp.com"]   # e-mail the digest here (needs [smtp])
    sms = true                                   # and/or SMS a short note to the service desk
    retries = 3                                  # e-mail attempts after the first one
    retry_backoff = "5m"                         # first retry delay; doubles each time

No I/O here: the items come in, the subject, body and SMS text go out. Times are shown in the
client's zone (the digest goes out when the client's support window opens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oncall.durations import parse_duration
from oncall.errors import ConfigError

_KEYS = frozenset({"email_to", "sms", "retries", "retry_backoff"})
# How each kind is counted: (one, many).
_NOUNS = {
    "call": ("voicemail", "voicemails"),
    "alert": ("alert", "alerts"),
    "heartbeat": ("missed heartbeat", "missed heartbeats"),
}
_LABELS = {"call": "voicemail", "alert": "alert", "heartbeat": "heartbeat"}


@dataclass(frozen=True)
class DigestSettings:
    email_to: tuple[str, ...] = ()
    sms: bool = False
    retries: int = 3
    retry_backoff: timedelta = timedelta(minutes=5)

    def retry_delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1, 2, ...)."""
        return self.retry_backoff * (2 ** max(attempt - 1, 0))


def parse_digest_settings(raw: Any, path: Path, smtp_configured: bool) -> DigestSettings:
    """From config.toml's `[digest]` table; absent: no e-mail, no SMS (the queue still works)."""
    if raw is None:
        return DigestSettings()
    if not isinstance(raw, dict):
        raise ConfigError(path, "digest", "expected a table ([digest])")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(
                path, f"digest.{key}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})"
            )
    email_to = raw.get("email_to", [])
    if isinstance(email_to, str):
        email_to = [email_to]
    if not isinstance(email_to, list) or not all(
        isinstance(a, str) and "@" in a and not any(c.isspace() for c in a.strip())
        for a in email_to
    ):
        raise ConfigError(
            path, "digest.email_to", f"expected a list of e-mail addresses, got {email_to!r}"
        )
    if email_to and not smtp_configured:
        raise ConfigError(path, "digest.email_to", "needs an [smtp] table to send through")
    sms = raw.get("sms", False)
    if not isinstance(sms, bool):
        raise ConfigError(path, "digest.sms", f"expected true or false, got {sms!r}")
    retries = raw.get("retries", 3)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 20:
        raise ConfigError(path, "digest.retries", f"expected a whole number 0-20, got {retries!r}")
    backoff = parse_duration(raw.get("retry_backoff", "5m"), path, "digest.retry_backoff")
    return DigestSettings(
        email_to=tuple(a.strip() for a in email_to),
        sms=sms,
        retries=retries,
        retry_backoff=backoff,
    )


@dataclass(frozen=True)
class Item:
    """One open queue item as the digest shows it."""

    id: int
    kind: str  # call | alert | heartbeat
    summary: str
    received_at: datetime
    new: bool  # first listed in this digest (False: still open from an earlier one)


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str
    sms: str


def counts(items: Sequence[Item]) -> str:
    """'2 voicemails, 1 alert' (kinds in a fixed order)."""
    parts = []
    for kind, (one, many) in _NOUNS.items():
        n = sum(1 for item in items if item.kind == kind)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def _short(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %H:%M")


def _line(item: Item, zone: ZoneInfo) -> str:
    local = item.received_at.astimezone(zone)
    return f"  #{item.id:<5} {local:%a %d %b %H:%M}  {_LABELS.get(item.kind, item.kind):<9}  {item.summary}"


def compose(
    client: str, client_name: str, items: Sequence[Item], zone: ZoneInfo, now: datetime
) -> Composed:
    """The digest of a client's open items (oldest first); `items` must not be empty."""
    assert items, "no digest without items"
    ordered = sorted(items, key=lambda i: (i.received_at, i.id))
    since = _short(ordered[0].received_at, zone)
    total = len(ordered)
    summary = counts(ordered)
    subject = f"oncall digest {client_name}: {total} open since {since} ({summary})"
    new = [i for i in ordered if i.new]
    old = [i for i in ordered if not i.new]
    local_now = now.astimezone(zone)
    lines = [
        f"Queued for the service desk: {client_name} ({client}), {local_now:%A %Y-%m-%d %H:%M %Z}.",
        f"{total} open item{'s' if total != 1 else ''} since {since}: {summary}.",
        "",
    ]
    if new:
        lines += ["New since the last digest:", *(_line(i, zone) for i in new), ""]
    if old:
        lines += ["Still open from before:", *(_line(i, zone) for i in old), ""]
    ids = " ".join(str(i.id) for i in ordered)
    lines += [
        "Each item stays open, and in every digest, until it is marked done:",
        f"  oncall queue done {ids} --as YOU --note 'called back'",
        f"  oncall queue --client {client}",
        "",
        f"Times are in the client's zone ({zone.key}).",
    ]
    sms = (
        f"oncall digest {client_name}: {total} open since {since} - {summary}. "
        f"oncall queue --client {client}"
    )
    return Composed(subject=subject, body="\n".join(lines), sms=sms)
