"""What every adapter shares: the alert it produces before routing, and the readers it uses.

An adapter is a pure function from the bytes a tool sent to a list of `ToolAlert`s, or an
`AlertError` whose text is the reason sent back with the 422. A `ToolAlert` is an `Alert` whose
client is not known yet, plus the tool's own names for the organisation it came from (routing
matches those against the SOPs' `[intake]` names) and the part of the body stored with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from oncall.intake import Alert, AlertError

MAX_TEXT = 4000  # the same cap the generic intake puts on each text field


@dataclass(frozen=True)
class ToolAlert:
    """One alert read from a tool's payload, before it is known which client it is for."""

    org: tuple[str, ...]  # the tool's organisation/site/customer names and ids, in match order
    alert: Alert  # client is "" until the alert is routed
    raw: bytes  # stored with the alert: the body, or this alert's share of a grouped body

    def for_client(self, client: str) -> Alert:
        return replace(self.alert, client=client)


@dataclass(frozen=True)
class Adapter:
    """One monitoring tool: its URL name, its display name, where its organisation is, its parser."""

    tool: str  # in URLs (/alerts/tool/<tool>), config.toml [intake.tools] and SOP [intake]
    title: str  # the vendor's own name, used in messages
    org_fields: str  # where the organisation name or id is read from, for messages
    parse: Callable[[bytes], list[ToolAlert]]


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or an AlertError saying why it is not one."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlertError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AlertError("body must be a JSON object")
    return body


def table(value: Any, where: str) -> dict[str, Any]:
    """A nested JSON object ({} when absent or null)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AlertError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def text(value: Any, where: str) -> str:
    """A scalar as stripped text ('' when absent or null); a table, list or boolean is an error."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AlertError(f"{where} must be text, got {type(value).__name__}")
    return clip(str(value).strip())


def clip(value: str) -> str:
    return value[:MAX_TEXT]


def detail_lines(pairs: Iterable[tuple[str, str]]) -> str:
    """'label: value' lines for the values that are not empty: the alert's details."""
    return clip("\n".join(f"{label}: {value}" for label, value in pairs if value))


def org_names(*values: str) -> tuple[str, ...]:
    """The non-empty names and ids, without repeats, in the order given."""
    return tuple(dict.fromkeys(value for value in values if value))
