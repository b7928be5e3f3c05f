"""Alert intake: turn a generic JSON alert body into an Alert, or a clear 422 reason.

RMM-specific adapters (NinjaOne, Datto, N-central, Alertmanager) live in `oncall.adapters`
and map onto the same Alert.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES = ("info", "warning", "error", "critical")
_SEVERITY_ALIASES = {
    "informational": "info",
    "information": "info",
    "notice": "info",
    "low": "info",
    "minor": "warning",
    "warn": "warning",
    "moderate": "warning",
    "medium": "warning",
    "major": "error",
    "high": "error",
    "err": "error",
    "crit": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "disaster": "critical",
}
STATUSES = ("triggered", "resolved")
_MAX_TEXT = 4000


class AlertError(ValueError):
    """The body is not an alert we can read; str() is the reason sent back with the 422."""


def normalise_severity(value: str) -> str:
    """Map a tool's severity word onto info < warning < error < critical."""
    word = value.strip().lower()
    word = _SEVERITY_ALIASES.get(word, word)
    if word not in SEVERITIES:
        raise AlertError(f"unknown severity {value!r} (use one of {', '.join(SEVERITIES)})")
    return word


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Alert:
    """One alert from a monitoring tool, in the product's own terms."""

    client: str
    source: str
    severity: str
    summary: str
    details: str = ""
    host: str = ""
    dedup_key: str = ""
    status: str = "triggered"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Alert:
        return cls(**data)


def _text(body: dict[str, Any], key: str, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise AlertError(f"missing required field {key!r}")
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AlertError(f"field {key!r} must be a string")
    text = str(value).strip()
    if required and not text:
        raise AlertError(f"field {key!r} must not be empty")
    return text[:_MAX_TEXT]


def parse_generic(client: str, raw: bytes) -> Alert:
    """Read the generic JSON alert: source, severity, summary, details, host, dedup_key, status."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AlertError("body must be a JSON object")
    return generic_alert(client, body)


def generic_alert(client: str, body: dict[str, Any]) -> Alert:
    """The generic alert's fields from an already-decoded JSON object."""
    status = _text(body, "status").lower() or "triggered"
    if status not in STATUSES:
        raise AlertError(f"status must be 'triggered' or 'resolved', got {status!r}")
    return Alert(
        client=client,
        source=_text(body, "source") or "generic",
        severity=normalise_severity(_text(body, "severity", required=True)),
        summary=_text(body, "summary", required=True),
        details=_text(body, "details"),
        host=_text(body, "host"),
        dedup_key=_text(body, "dedup_key"),
        status=status,
    )
