"""Alertmanager adapter: grouped alerts, firing/resolved, severity labels, fingerprints, reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alert_fixtures import as_body, fixture, fixture_json

from oncall.adapters import alertmanager
from oncall.intake import Alert, AlertError


def group(*entries: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "alerts": list(entries), **envelope}


def entry(**labels: str) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "NodeDown", **labels}}


def test_a_group_becomes_one_alert_per_entry() -> None:
    items = alertmanager.parse(fixture("alertmanager", "group_firing.json"))
    assert [item.alert for item in items] == [
        Alert(
            client="",
            source="alertmanager",
            severity="critical",
            summary="MES web portal is down",
            details=(
                "description: https://mes.acme.example has failed its HTTP probe for over 5 "
                "minutes.\n"
                "started: 2026-11-28T08:02:15.123Z\n"
                "source: http://prometheus.acme.example:9090/graph?"
                "g0.expr=probe_success+%3D%3D+0&g0.tab=1\n"
                "labels: alertname=ProbeFailure, client=Acme Manufacturing, "
                "instance=https://mes.acme.example, job=blackbox_http, severity=critical"
            ),
            host="https://mes.acme.example",
            dedup_key="1a30ba71cca2921f",
            status="triggered",
        ),
        Alert(
            client="",
            source="alertmanager",
            severity="warning",
            summary="Time clock portal is down",
            details=items[1].alert.details,
            host="https://timeclock.acme.example",
            dedup_key="7c2e91d04ab3f615",
            status="triggered",
        ),
    ]
    assert [item.org for item in items] == [("Acme Manufacturing",)] * 2


def test_each_alert_is_stored_with_the_envelope_and_only_its_own_entry() -> None:
    body = fixture_json("alertmanager", "group_firing.json")
    items = alertmanager.parse(as_body(body))
    for item, original in zip(items, body["alerts"], strict=True):
        stored = json.loads(item.raw)
        assert stored["alerts"] == [original]
        assert stored["groupKey"] == body["groupKey"]
        assert stored["commonLabels"] == body["commonLabels"]


def test_resolved_group_resolves_by_fingerprint() -> None:
    (item,) = alertmanager.parse(fixture("alertmanager", "group_resolved.json"))
    assert (item.alert.status, item.alert.dedup_key) == ("resolved", "1a30ba71cca2921f")


def test_an_entry_without_status_takes_the_groups() -> None:
    body = group({"labels": {"alertname": "NodeDown"}}, status="resolved")
    (item,) = alertmanager.parse(as_body(body))
    assert item.alert.status == "resolved"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("critical", "critical"),
        ("error", "error"),
        ("warning", "warning"),
        ("info", "info"),
        ("page", "critical"),
        ("ticket", "warning"),
        ("none", "info"),
        ("Major", "error"),
        (None, "warning"),
        ("", "warning"),
    ],
)
def test_severity_label(label: str | None, expected: str) -> None:
    labels = {} if label is None else {"severity": label}
    (item,) = alertmanager.parse(as_body(group(entry(**labels))))
    assert item.alert.severity == expected


def test_summary_host_and_organisation_fallbacks() -> None:
    (item,) = alertmanager.parse(as_body(group(entry(host="fw01", customer="Harbor Law"))))
    assert (item.alert.summary, item.alert.host) == ("NodeDown", "fw01")
    assert item.org == ("Harbor Law",)
    (item,) = alertmanager.parse(as_body(group(entry(client="acme", tenant="t-7"))))
    assert item.org == ("acme", "t-7")
    (item,) = alertmanager.parse(as_body(group(entry())))
    assert (item.alert.host, item.org) == ("", ())


def test_without_a_fingerprint_the_key_is_a_stable_hash_of_the_labels() -> None:
    first = group({"labels": {"alertname": "NodeDown", "instance": "db1"}})
    second = group({"labels": {"instance": "db1", "alertname": "NodeDown"}})
    other = group({"labels": {"alertname": "NodeDown", "instance": "db2"}})
    keys = [alertmanager.parse(as_body(body))[0].alert.dedup_key for body in (first, second, other)]
    assert keys[0] == keys[1] != keys[2]
    assert keys[0].startswith("labels:")


def test_truncated_alerts_are_noted() -> None:
    (item,) = alertmanager.parse(as_body(group(entry(), truncatedAlerts=12)))
    assert "truncated alerts: 12" in item.alert.details
    (item,) = alertmanager.parse(as_body(group(entry(), truncatedAlerts=0)))
    assert "truncated" not in item.alert.details


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (group(entry(), version="3"), "unsupported webhook version '3'"),
        ({"alerts": [entry()], "status": "firing"}, r"unsupported webhook version '\(none\)'"),
        (group(), "'alerts' must be a non-empty list"),
        ({"version": "4", "alerts": {"a": 1}}, "'alerts' must be a non-empty list"),
        (group(entry(), "NodeDown"), r"alerts\[1\] must be a JSON object"),
        (group(entry(severity="sev1")), r"alerts\[0\].labels.severity: unknown severity 'sev1'"),
        (group({"status": "pending", "labels": {"alertname": "x"}}), "must be 'firing' or"),
        (group({"labels": {"job": "node"}}), r"alerts\[0\] has neither annotations.summary"),
        (group({"labels": ["alertname"]}), r"alerts\[0\].labels must be a JSON object"),
        (group({"labels": {"alertname": {"x": 1}}}), "alertname must be text"),
    ],
)
def test_unreadable_payloads_give_the_reason(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        alertmanager.parse(as_body(body))


def test_not_json_is_refused() -> None:
    with pytest.raises(AlertError, match="body is not valid JSON"):
        alertmanager.parse(b"alerts=1")
