"""Datto RMM: the webhook body the MSP pastes into a monitor's (or the global) webhook response.

Datto RMM has no fixed webhook payload: the MSP writes the body and Datto fills in its
variables. oncall reads the template below (TEMPLATE_TRIGGERED for the alert, TEMPLATE_RESOLVED
for the resolution); each key is the Datto variable it holds, plus `status`:
- `status`: "triggered" or "resolved" (the only difference between the two bodies);
- `[alert_priority]` (Critical, High, Moderate, Low, Information): the severity;
- `[alert_message]`: the summary; `[device_hostname]`: the host; `[alert_uid]`: the dedup key
  (Datto sends the same uid when the alert resolves);
- `[site_name]` and `[site_id]`: the organisation;
- `[alert_type]`, `[device_ip]`, `[device_id]`, `[device_os]`, `[last_user]`, `[platform]`,
  `[timestamp]`: the details.

A variable Datto leaves unfilled (the literal `[device_ip]`) counts as empty. If an alert
message holds a quote or a line break that Datto did not escape, the body is no longer valid
JSON; it is then read line by line as the template (one `"key": "value"` per line), so the
alert still arrives.
"""

from __future__ import annotations

import json
import re
from typing import Any

from oncall.adapters.base import Adapter, ToolAlert, clip, detail_lines, org_names, text
from oncall.intake import Alert, AlertError

TOOL = "datto"

VARIABLES = (
    "alert_uid",
    "alert_priority",
    "alert_message",
    "alert_type",
    "site_name",
    "site_id",
    "device_hostname",
    "device_ip",
    "device_id",
    "device_os",
    "last_user",
    "platform",
    "timestamp",
)


def template(status: str) -> str:
    """The webhook body to paste into Datto RMM for `status` ("triggered" or "resolved")."""
    lines = [f'  "status": "{status}"'] + [f'  "{name}": "[{name}]"' for name in VARIABLES]
    return "{\n" + ",\n".join(lines) + "\n}\n"


TEMPLATE_TRIGGERED = template("triggered")
TEMPLATE_RESOLVED = template("resolved")

PRIORITIES = {
    "critical": "critical",
    "high": "error",
    "moderate": "warning",
    "low": "info",
    "information": "info",
}
STATUSES = ("triggered", "resolved")

_UNFILLED = re.compile(r"\[[a-z_]+\]")
_LINE_START = re.compile(r'^\s*"([a-z_]+)"\s*:\s*"(.*)$')
_LINE_END = re.compile(r'"\s*,?\s*$')


def parse(raw: bytes) -> list[ToolAlert]:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlertError(f"body is not UTF-8 text: {exc}") from exc
    fields, note = _fields(decoded)
    status = _value(fields, "status").lower()
    if not status:
        raise AlertError(
            "missing 'status': paste the documented template, which sets "
            '"status": "triggered" (alert body) or "resolved" (resolution body)'
        )
    if status not in STATUSES:
        raise AlertError(f"status must be 'triggered' or 'resolved', got {status!r}")
    priority = _value(fields, "alert_priority")
    if not priority:
        raise AlertError("missing 'alert_priority' ([alert_priority] in the template)")
    severity = PRIORITIES.get(priority.lower())
    if severity is None:
        raise AlertError(
            f"unknown alert_priority {priority!r} (Datto sends Critical, High, Moderate, Low, "
            "Information)"
        )
    summary = _value(fields, "alert_message")
    if not summary:
        raise AlertError("missing 'alert_message' ([alert_message] in the template)")
    alert = Alert(
        client="",
        source=TOOL,
        severity=severity,
        summary=summary,
        details=detail_lines(
            [
                ("alert type", _value(fields, "alert_type")),
                ("device ip", _value(fields, "device_ip")),
                ("device id", _value(fields, "device_id")),
                ("os", _value(fields, "device_os")),
                ("last user", _value(fields, "last_user")),
                ("platform", _value(fields, "platform")),
                ("timestamp", _value(fields, "timestamp")),
                ("note", note),
            ]
        ),
        host=_value(fields, "device_hostname"),
        dedup_key=_value(fields, "alert_uid"),
        status=status,
    )
    org = org_names(_value(fields, "site_name"), _value(fields, "site_id"))
    return [ToolAlert(org=org, alert=alert, raw=raw)]


def _fields(decoded: str) -> tuple[dict[str, Any], str]:
    """(the body's fields, a note for the details when they were read line by line)."""
    try:
        body = json.loads(decoded)
    except json.JSONDecodeError as exc:
        fields = _template_lines(decoded)
        if "status" not in fields:
            raise AlertError(
                f"body is not valid JSON ({exc}) and not the documented template either"
            ) from exc
        return fields, f"body was not valid JSON ({exc}); read line by line as the template"
    if not isinstance(body, dict):
        raise AlertError("body must be a JSON object (the documented template)")
    return body, ""


def _template_lines(decoded: str) -> dict[str, Any]:
    """The template's `"key": "value"` lines, where a value may hold unescaped quotes and run
    over several lines; it ends on the first line that ends with a quote (and maybe a comma)."""
    fields: dict[str, Any] = {}
    key: str | None = None
    parts: list[str] = []
    for line in decoded.splitlines():
        if key is None:
            start = _LINE_START.match(line)
            if start is None:
                continue
            key, rest = start.groups()
            parts = [rest]
        else:
            parts.append(line)
        end = _LINE_END.search(parts[-1])
        if end is not None:
            parts[-1] = parts[-1][: end.start()]
            fields[key] = "\n".join(parts)
            key = None
    return fields


def _value(fields: dict[str, Any], key: str) -> str:
    value = text(fields.get(key), key)
    return "" if _UNFILLED.fullmatch(value) else clip(value)


ADAPTER = Adapter(tool=TOOL, title="Datto RMM", org_fields="site_name or site_id", parse=parse)
