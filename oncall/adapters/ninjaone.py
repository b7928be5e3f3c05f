"""NinjaOne: the JSON a webhook notification channel posts for a condition (one alert per post).

Fields read (NinjaOne's activity object):
- `statusCode`: TRIGGERED opens, RESET resolves; any other code is refused (only condition
  alerts are read, not action-set or system activities).
- `severity` (MINOR, MODERATE are warnings, MAJOR an error, CRITICAL critical); when it is NONE
  or absent, `priority` (LOW info, MEDIUM warning, HIGH error); with neither, info.
- `subject`, else `message`, else `sourceName`: the summary (`subject` is often empty).
- `message`, `sourceName`, `activityType`, `data.message.code`, `device.nodeClass`,
  `device.references.location.name`: the details.
- `device.displayName`, else `device.systemName`, else `device.dnsName`: the host.
- `seriesUid`: the dedup key (the same for a condition's TRIGGERED and its RESET).
- `device.references.organization.name` and `device.organizationId`: the organisation.
"""

from __future__ import annotations

from oncall.adapters.base import (
    Adapter,
    ToolAlert,
    detail_lines,
    json_object,
    org_names,
    table,
    text,
)
from oncall.intake import Alert, AlertError

TOOL = "ninjaone"

STATUSES = {"TRIGGERED": "triggered", "RESET": "resolved"}
SEVERITIES = {
    "NONE": "info",
    "MINOR": "warning",
    "MODERATE": "warning",
    "MAJOR": "error",
    "CRITICAL": "critical",
}
PRIORITIES = {"NONE": "info", "LOW": "info", "MEDIUM": "warning", "HIGH": "error"}


def parse(raw: bytes) -> list[ToolAlert]:
    body = json_object(raw)
    status_code = text(body.get("statusCode"), "statusCode").upper()
    if not status_code:
        raise AlertError("missing 'statusCode' (TRIGGERED or RESET)")
    if status_code not in STATUSES:
        raise AlertError(
            f"statusCode {status_code!r} is not a condition alert (expected TRIGGERED or RESET)"
        )
    device = table(body.get("device"), "device")
    references = table(device.get("references"), "device.references")
    organization = table(references.get("organization"), "device.references.organization")
    location = table(references.get("location"), "device.references.location")
    data_message = table(table(body.get("data"), "data").get("message"), "data.message")
    subject = text(body.get("subject"), "subject")
    message = text(body.get("message"), "message")
    source_name = text(body.get("sourceName"), "sourceName")
    summary = subject or message or source_name
    if not summary:
        raise AlertError("no 'subject', 'message' or 'sourceName' to use as the summary")
    alert = Alert(
        client="",
        source=TOOL,
        severity=_severity(body),
        summary=summary,
        details=detail_lines(
            [
                ("message", message if message != summary else ""),
                ("condition", source_name if source_name != summary else ""),
                ("activity", text(body.get("activityType"), "activityType")),
                ("code", text(data_message.get("code"), "data.message.code")),
                ("device class", text(device.get("nodeClass"), "device.nodeClass")),
                ("location", text(location.get("name"), "device.references.location.name")),
            ]
        ),
        host=(
            text(device.get("displayName"), "device.displayName")
            or text(device.get("systemName"), "device.systemName")
            or text(device.get("dnsName"), "device.dnsName")
        ),
        dedup_key=text(body.get("seriesUid"), "seriesUid"),
        status=STATUSES[status_code],
    )
    org = org_names(
        text(organization.get("name"), "device.references.organization.name"),
        text(device.get("organizationId"), "device.organizationId")
        or text(organization.get("id"), "device.references.organization.id"),
    )
    return [ToolAlert(org=org, alert=alert, raw=raw)]


def _severity(body: dict[str, object]) -> str:
    severity = text(body.get("severity"), "severity").upper()
    if severity:
        if severity not in SEVERITIES:
            raise AlertError(
                f"unknown severity {severity!r} (NinjaOne sends {', '.join(SEVERITIES)})"
            )
        if severity != "NONE":
            return SEVERITIES[severity]
    priority = text(body.get("priority"), "priority").upper()
    if priority:
        if priority not in PRIORITIES:
            raise AlertError(
                f"unknown priority {priority!r} (NinjaOne sends {', '.join(PRIORITIES)})"
            )
        return PRIORITIES[priority]
    return "info"


ADAPTER = Adapter(
    tool=TOOL,
    title="NinjaOne",
    org_fields="device.references.organization.name or device.organizationId",
    parse=parse,
)
