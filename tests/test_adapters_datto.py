"""Datto RMM adapter: the documented template, priorities, unfilled variables, unescaped text."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from alert_fixtures import as_body, fixture, fixture_json

from oncall.adapters import ToolAlert, datto
from oncall.intake import Alert, AlertError


def parse_one(raw: bytes) -> ToolAlert:
    items = datto.parse(raw)
    assert len(items) == 1
    return items[0]


def payload(**changes: Any) -> dict[str, Any]:
    body = fixture_json("datto", "alert_triggered.json")
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("template", "status"),
    [(datto.TEMPLATE_TRIGGERED, "triggered"), (datto.TEMPLATE_RESOLVED, "resolved")],
)
def test_templates_are_json_with_every_variable(template: str, status: str) -> None:
    body = json.loads(template)
    assert body.pop("status") == status
    assert body == {name: f"[{name}]" for name in datto.VARIABLES}
    assert template.count("\n") == len(datto.VARIABLES) + 3  # one key per line, for the fallback


def test_the_fixtures_are_the_templates_filled_in() -> None:
    for name, template in (
        ("alert_triggered.json", datto.TEMPLATE_TRIGGERED),
        ("alert_resolved.json", datto.TEMPLATE_RESOLVED),
    ):
        filled = fixture_json("datto", name)
        assert filled.keys() == json.loads(template).keys()
        assert not any(re.fullmatch(r"\[[a-z_]+\]", value) for value in filled.values())


def test_the_unfilled_template_is_refused_for_want_of_a_priority() -> None:
    with pytest.raises(AlertError, match="missing 'alert_priority'"):
        datto.parse(datto.TEMPLATE_TRIGGERED.encode())


def test_triggered_alert_reads_every_field() -> None:
    raw = fixture("datto", "alert_triggered.json")
    item = parse_one(raw)
    assert item.alert == Alert(
        client="",
        source="datto",
        severity="error",
        summary="Service Print Spooler (Spooler) is Stopped",
        details=(
            "alert type: Service Status\n"
            "device ip: 10.20.0.15\n"
            "device id: 8412337\n"
            "os: Microsoft Windows Server 2022 Standard\n"
            "last user: HARBORLAW\\svc-print\n"
            "platform: Windows\n"
            "timestamp: 2026-11-28 02:14:07"
        ),
        host="HLG-PRINT01",
        dedup_key="0b4c6a9e-3f1d-4e27-9a58-c2d7e1f09b34",
        status="triggered",
    )
    assert item.org == ("Harbor Law Group", "5f2e8d1c-7a4b-4c3e-b6d9-0e1f2a3b4c5d")
    assert item.raw == raw


def test_resolved_body_resolves_the_same_alert() -> None:
    triggered = parse_one(fixture("datto", "alert_triggered.json")).alert
    resolved = parse_one(fixture("datto", "alert_resolved.json")).alert
    assert resolved.status == "resolved"
    assert resolved.dedup_key == triggered.dedup_key


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        ("Critical", "critical"),
        ("High", "error"),
        ("Moderate", "warning"),
        ("Low", "info"),
        ("Information", "info"),
        ("CRITICAL", "critical"),
        (" moderate ", "warning"),
    ],
)
def test_priorities(priority: str, expected: str) -> None:
    assert parse_one(as_body(payload(alert_priority=priority))).alert.severity == expected


def test_variables_datto_leaves_unfilled_count_as_empty() -> None:
    item = parse_one(
        as_body(payload(device_ip="[device_ip]", site_id="[site_id]", alert_uid="[alert_uid]"))
    )
    assert "device ip" not in item.alert.details
    assert item.alert.dedup_key == ""
    assert item.org == ("Harbor Law Group",)


def test_unescaped_quotes_and_line_breaks_are_read_line_by_line() -> None:
    text = datto.TEMPLATE_TRIGGERED
    for name, value in {
        "alert_priority": "Critical",
        "alert_message": 'Event 7034: The "Veeam Backup" service\nterminated unexpectedly',
        "site_name": "Harbor Law Group",
        "device_hostname": "HLG-VBR01",
        "alert_uid": "c0ffee00-1111-2222-3333-444455556666",
        "device_ip": "",
    }.items():
        text = text.replace(f"[{name}]", value)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    item = parse_one(text.encode())
    alert = item.alert
    assert alert.summary == 'Event 7034: The "Veeam Backup" service\nterminated unexpectedly'
    assert (alert.severity, alert.host, alert.status) == ("critical", "HLG-VBR01", "triggered")
    assert alert.dedup_key == "c0ffee00-1111-2222-3333-444455556666"
    assert item.org == ("Harbor Law Group",)
    assert "read line by line as the template" in alert.details
    assert "alert type" not in alert.details  # still [alert_type]: unfilled


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (as_body(payload(status=None)), "missing 'status'"),
        (as_body(payload(status="open")), "status must be 'triggered' or 'resolved'"),
        (as_body(payload(alert_priority=None)), "missing 'alert_priority'"),
        (as_body(payload(alert_priority="Urgent")), "unknown alert_priority 'Urgent'"),
        (as_body(payload(alert_message="")), "missing 'alert_message'"),
        (as_body(payload(alert_message=["a"])), "alert_message must be text"),
        (b"alert=[alert_message]", "not valid JSON .* and not the documented template"),
        (b'["triggered"]', "must be a JSON object"),
        (b'{"status": "triggered"\xff}', "not UTF-8"),
    ],
)
def test_unreadable_payloads_give_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        datto.parse(raw)
