"""NinjaOne webhook adapter: condition TRIGGERED/RESET, severities, fallbacks and 422 reasons."""

from __future__ import annotations

from typing import Any

import pytest
from alert_fixtures import as_body, fixture, fixture_json

from oncall.adapters import ToolAlert, ninjaone
from oncall.intake import Alert, AlertError


def parse_one(raw: bytes) -> ToolAlert:
    items = ninjaone.parse(raw)
    assert len(items) == 1
    return items[0]


def payload(**changes: Any) -> dict[str, Any]:
    body = fixture_json("ninjaone", "condition_triggered.json")
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def test_triggered_condition_reads_every_field() -> None:
    raw = fixture("ninjaone", "condition_triggered.json")
    item = parse_one(raw)
    assert item.alert == Alert(
        client="",
        source="ninjaone",
        severity="critical",
        summary="Disk Free Space on volume D: is less than 5% for 10 minutes",
        details=(
            "condition: Disk free space\n"
            "activity: CONDITION\n"
            "code: disk_cond_free_space_lt\n"
            "device class: WINDOWS_SERVER\n"
            "location: Rockford Plant"
        ),
        host="SQL-MES01",
        dedup_key="7f3b2c1e-4d5a-4b6c-9e8f-0a1b2c3d4e5f",
        status="triggered",
    )
    assert item.org == ("Acme Manufacturing", "41")
    assert item.raw == raw
    assert item.for_client("acme").client == "acme"


def test_reset_resolves_the_same_series() -> None:
    triggered = parse_one(fixture("ninjaone", "condition_triggered.json")).alert
    reset = parse_one(fixture("ninjaone", "condition_reset.json")).alert
    assert reset.status == "resolved"
    assert reset.dedup_key == triggered.dedup_key
    assert reset.summary == "Disk Free Space on volume D: is back above 5%"


@pytest.mark.parametrize(
    ("severity", "priority", "expected"),
    [
        ("NONE", None, "info"),
        ("MINOR", "LOW", "warning"),
        ("MODERATE", "MEDIUM", "warning"),
        ("MAJOR", "HIGH", "error"),
        ("CRITICAL", "HIGH", "critical"),
        ("critical", None, "critical"),
        (None, "HIGH", "error"),
        (None, "MEDIUM", "warning"),
        (None, "LOW", "info"),
        (None, "NONE", "info"),
        ("NONE", "HIGH", "error"),
        (None, None, "info"),
        ("", "", "info"),
    ],
)
def test_severity_then_priority(severity: str | None, priority: str | None, expected: str) -> None:
    body = payload(severity=None, priority=None)
    if severity is not None:
        body["severity"] = severity
    if priority is not None:
        body["priority"] = priority
    assert parse_one(as_body(body)).alert.severity == expected


def test_subject_wins_over_message_and_message_goes_to_details() -> None:
    alert = parse_one(as_body(payload(subject="SQL-MES01 disk D: nearly full"))).alert
    assert alert.summary == "SQL-MES01 disk D: nearly full"
    assert alert.details.startswith("message: Disk Free Space on volume D:")


def test_source_name_is_the_last_resort_summary() -> None:
    alert = parse_one(as_body(payload(subject="", message=None))).alert
    assert alert.summary == "Disk free space"
    assert "condition:" not in alert.details


def test_host_and_organisation_fallbacks() -> None:
    body = payload()
    del body["device"]["displayName"]
    del body["device"]["organizationId"]
    item = parse_one(as_body(body))
    assert item.alert.host == "SQL-MES01"  # systemName
    assert item.org == ("Acme Manufacturing", "41")  # references.organization.id
    del body["device"]["systemName"]
    del body["device"]["references"]
    item = parse_one(as_body(body))
    assert item.alert.host == "sql-mes01.acme.local"  # dnsName
    assert item.org == ()


def test_a_payload_without_device_still_reads() -> None:
    item = parse_one(as_body(payload(device=None, seriesUid=None)))
    assert (item.alert.host, item.alert.dedup_key, item.org) == ("", "", ())


def test_status_code_is_case_insensitive() -> None:
    assert parse_one(as_body(payload(statusCode="reset"))).alert.status == "resolved"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (as_body(payload(statusCode=None)), "missing 'statusCode'"),
        (as_body(payload(statusCode="START_REQUESTED")), "'START_REQUESTED' is not a condition"),
        (as_body(payload(severity="SEVERE")), "unknown severity 'SEVERE'"),
        (as_body(payload(severity=None, priority="URGENT")), "unknown priority 'URGENT'"),
        (as_body(payload(subject="", message="", sourceName="")), "no 'subject', 'message'"),
        (as_body(payload(device="SQL-MES01")), "device must be a JSON object"),
        (as_body(payload(message={"text": "x"})), "message must be text"),
        (as_body(payload(statusCode=True)), "statusCode must be text"),
    ],
)
def test_unreadable_payloads_give_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        ninjaone.parse(raw)
