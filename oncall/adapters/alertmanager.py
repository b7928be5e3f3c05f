"""Prometheus Alertmanager: the webhook receiver's JSON (version "4"), one alert per `alerts[]` entry.

Alertmanager groups alerts and posts the group; each entry becomes its own alert, stored with
the group's envelope and that entry alone. Fields read:
- `version`: must be "4"; `status` (firing/resolved): used when an entry has no `status`.
- `alerts[].status`: firing opens, resolved resolves.
- `alerts[].labels.severity`: critical, error, warning, info (and the usual aliases; `page` is
  critical, `ticket` a warning, `none` info); an alert without one is a warning.
- `alerts[].annotations.summary`, else `labels.alertname`: the summary.
- `alerts[].annotations.description`, `startsAt`, `generatorURL` and the labels: the details.
- `alerts[].labels.instance`, else `labels.host`: the host.
- `alerts[].fingerprint`: the dedup key (older Alertmanagers send none: then a hash of the labels).
- `alerts[].labels.client`, `labels.customer`, `labels.tenant`: the organisation (set one of
  them, e.g. as an external label of each client's Prometheus, to use the shared URL).
- `truncatedAlerts`: noted in the details when Alertmanager dropped alerts from the group.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from oncall.adapters.base import (
    Adapter,
    ToolAlert,
    detail_lines,
    json_object,
    org_names,
    table,
    text,
)
from oncall.intake import Alert, AlertError, normalise_severity

TOOL = "alertmanager"

STATUSES = {"firing": "triggered", "resolved": "resolved"}
ORG_LABELS = ("client", "customer", "tenant")
_PROMETHEUS_SEVERITIES = {"page": "critical", "ticket": "warning", "none": "info"}


def parse(raw: bytes) -> list[ToolAlert]:
    body = json_object(raw)
    version = text(body.get("version"), "version")
    if version != "4":
        raise AlertError(
            f"unsupported webhook version {version or '(none)'!r}: oncall reads Alertmanager's "
            'version "4"'
        )
    entries = body.get("alerts")
    if not isinstance(entries, list) or not entries:
        raise AlertError("'alerts' must be a non-empty list")
    group_status = text(body.get("status"), "status").lower()
    envelope = {key: value for key, value in body.items() if key != "alerts"}
    truncated = text(body.get("truncatedAlerts"), "truncatedAlerts")
    return [
        _entry(entry, f"alerts[{i}]", group_status, envelope, truncated)
        for i, entry in enumerate(entries)
    ]


def _entry(
    entry: Any, where: str, group_status: str, envelope: dict[str, Any], truncated: str
) -> ToolAlert:
    if not isinstance(entry, dict):
        raise AlertError(f"{where} must be a JSON object")
    labels = table(entry.get("labels"), f"{where}.labels")
    annotations = table(entry.get("annotations"), f"{where}.annotations")
    status = text(entry.get("status"), f"{where}.status").lower() or group_status
    if status not in STATUSES:
        raise AlertError(f"{where}.status must be 'firing' or 'resolved', got {status!r}")
    label_text = {key: text(value, f"{where}.labels.{key}") for key, value in labels.items()}
    summary = text(annotations.get("summary"), f"{where}.annotations.summary") or label_text.get(
        "alertname", ""
    )
    if not summary:
        raise AlertError(f"{where} has neither annotations.summary nor labels.alertname")
    alert = Alert(
        client="",
        source=TOOL,
        severity=_severity(label_text.get("severity", ""), where),
        summary=summary,
        details=detail_lines(
            [
                (
                    "description",
                    text(annotations.get("description"), f"{where}.annotations.description"),
                ),
                ("started", text(entry.get("startsAt"), f"{where}.startsAt")),
                ("source", text(entry.get("generatorURL"), f"{where}.generatorURL")),
                ("labels", ", ".join(f"{k}={v}" for k, v in sorted(label_text.items()))),
                ("truncated alerts", truncated if truncated not in ("", "0") else ""),
            ]
        ),
        host=label_text.get("instance", "") or label_text.get("host", ""),
        dedup_key=text(entry.get("fingerprint"), f"{where}.fingerprint")
        or _labels_fingerprint(label_text),
        status=STATUSES[status],
    )
    org = org_names(*(label_text.get(label, "") for label in ORG_LABELS))
    raw = json.dumps({**envelope, "alerts": [entry]}, sort_keys=True).encode("utf-8")
    return ToolAlert(org=org, alert=alert, raw=raw)


def _severity(word: str, where: str) -> str:
    if not word:
        return "warning"
    alias = _PROMETHEUS_SEVERITIES.get(word.strip().lower())
    if alias is not None:
        return alias
    try:
        return normalise_severity(word)
    except AlertError as exc:
        raise AlertError(f"{where}.labels.severity: {exc}") from exc


def _labels_fingerprint(labels: dict[str, str]) -> str:
    """A stable key from the label set, for Alertmanagers that send no fingerprint."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return "labels:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


ADAPTER = Adapter(
    tool=TOOL,
    title="Alertmanager",
    org_fields="labels.client, labels.customer or labels.tenant",
    parse=parse,
)
