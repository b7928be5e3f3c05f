"""N-able N-central: the XML an HTTP-XML ("Third Party Integration - HTTP") notification posts.

One `<notification>` element per post; every keyword element is optional and present only if
the notification template lists it. Elements read:
- `QualitativeNewState` (required): Failed is critical; Warning, Misconfigured, No Data and
  Stale are warnings; Normal resolves.
- `AffectedService` and `DeviceName`: the summary ("Disk Space: Failed"); `DeviceName` is the host.
- `ActiveNotificationTriggerID`: the dedup key; without it, `DeviceID` (or `DeviceName`) with
  `TaskIdent` (or `AffectedService`).
- `CustomerName`: the organisation.
- `QualitativeOldState`, `QuantitativeNewState`, `TaskIdent`, `DeviceIP`, `ActivationTime`,
  `TimeOfStateChange`, `AcknowledgementUser`, `AcknowledgementNote`: the details.

The XML is read with defusedxml and a DOCTYPE is refused: N-central sends none, and entity
expansion ("billion laughs") must not reach the parser.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from oncall.adapters.base import Adapter, ToolAlert, clip, detail_lines, org_names
from oncall.intake import Alert, AlertError

TOOL = "ncentral"

# QualitativeNewState -> (status, severity)
STATES = {
    "failed": ("triggered", "critical"),
    "warning": ("triggered", "warning"),
    "misconfigured": ("triggered", "warning"),
    "no data": ("triggered", "warning"),
    "stale": ("triggered", "warning"),
    "normal": ("resolved", "info"),
}


def parse(raw: bytes) -> list[ToolAlert]:
    notification = _notification(raw)
    fields = {
        _local_name(child.tag): clip(" ".join((child.text or "").split())) for child in notification
    }
    state = fields.get("QualitativeNewState", "")
    if not state:
        raise AlertError(
            "missing <QualitativeNewState> (add it to the HTTP-XML notification template)"
        )
    if state.lower() not in STATES:
        known = ", ".join(s.title() for s in STATES)
        raise AlertError(f"unknown QualitativeNewState {state!r} (expected one of {known})")
    status, severity = STATES[state.lower()]
    service = fields.get("AffectedService", "")
    device = fields.get("DeviceName", "")
    if not service and not device:
        raise AlertError(
            "neither <AffectedService> nor <DeviceName> is present: nothing to page about"
        )
    old_state = fields.get("QualitativeOldState", "")
    alert = Alert(
        client="",
        source=TOOL,
        severity=severity,
        summary=f"{service or device}: {state}",
        details=detail_lines(
            [
                ("state", f"{old_state} -> {state}" if old_state else state),
                ("value", fields.get("QuantitativeNewState", "")),
                ("task", fields.get("TaskIdent", "")),
                ("device ip", fields.get("DeviceIP", "")),
                ("activated", fields.get("ActivationTime", "")),
                ("changed", fields.get("TimeOfStateChange", "")),
                ("acknowledged by", fields.get("AcknowledgementUser", "")),
                ("acknowledgement note", fields.get("AcknowledgementNote", "")),
            ]
        ),
        host=device,
        dedup_key=fields.get("ActiveNotificationTriggerID", "") or _fallback_key(fields),
        status=status,
    )
    return [ToolAlert(org=org_names(fields.get("CustomerName", "")), alert=alert, raw=raw)]


def _notification(raw: bytes) -> Element:
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise AlertError(f"refused XML: {exc}") from exc
    except (ParseError, LookupError, UnicodeError) as exc:  # LookupError: unknown encoding
        raise AlertError(f"body is not valid XML: {exc}") from exc
    if _local_name(root.tag) == "notification":
        return root
    found = [element for element in root.iter() if _local_name(element.tag) == "notification"]
    if len(found) != 1:
        raise AlertError(
            f"expected one <notification> element, found {len(found)} under <{_local_name(root.tag)}>"
        )
    return found[0]


def _fallback_key(fields: dict[str, str]) -> str:
    device = fields.get("DeviceID", "") or fields.get("DeviceName", "")
    task = fields.get("TaskIdent", "") or fields.get("AffectedService", "")
    return f"{device}/{task}" if device and task else ""


def _local_name(tag: str) -> str:
    """The element name without a namespace ('{ns}notification' -> 'notification')."""
    return tag.rpartition("}")[2]


ADAPTER = Adapter(tool=TOOL, title="N-central", org_fields="CustomerName", parse=parse)
