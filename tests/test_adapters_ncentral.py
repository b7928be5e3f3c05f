"""N-central adapter: HTTP-XML notifications, qualitative states, safe XML and 422 reasons."""

from __future__ import annotations

import pytest
from alert_fixtures import fixture

from oncall.adapters import ToolAlert, ncentral
from oncall.intake import Alert, AlertError


def parse_one(raw: bytes) -> ToolAlert:
    items = ncentral.parse(raw)
    assert len(items) == 1
    return items[0]


def notification(*elements: str, root: str = "notification") -> bytes:
    return f"<{root}>{''.join(elements)}</{root.split()[0]}>".encode()


STATE_FAILED = "<QualitativeNewState>Failed</QualitativeNewState>"
SERVICE = "<AffectedService>Disk Space</AffectedService>"


def test_failed_service_reads_every_field() -> None:
    raw = fixture("ncentral", "service_failed.xml")
    item = parse_one(raw)
    assert item.alert == Alert(
        client="",
        source="ncentral",
        severity="critical",
        summary="Disk Space: Failed",
        details=(
            "state: Warning -> Failed\n"
            "value: C: 97.4% used (2.1 GB free)\n"
            "task: 112934\n"
            "device ip: 192.168.40.12\n"
            "activated: 2026-11-28 02:09:53\n"
            "changed: 2026-11-28 02:09:41"
        ),
        host="RC-EHR01",
        dedup_key="1684203915",
        status="triggered",
    )
    assert item.org == ("Riverside Clinic",)
    assert item.raw == raw


def test_return_to_normal_resolves_the_same_notification() -> None:
    failed = parse_one(fixture("ncentral", "service_failed.xml")).alert
    normal = parse_one(fixture("ncentral", "service_normal.xml")).alert
    assert (normal.status, normal.severity) == ("resolved", "info")
    assert normal.dedup_key == failed.dedup_key
    assert normal.summary == "Disk Space: Normal"
    assert normal.details.startswith("state: Failed -> Normal")


@pytest.mark.parametrize(
    ("state", "status", "severity"),
    [
        ("Failed", "triggered", "critical"),
        ("Warning", "triggered", "warning"),
        ("Misconfigured", "triggered", "warning"),
        ("No Data", "triggered", "warning"),
        ("Stale", "triggered", "warning"),
        ("Normal", "resolved", "info"),
        ("FAILED", "triggered", "critical"),
        (" No  Data ", "triggered", "warning"),
    ],
)
def test_qualitative_states(state: str, status: str, severity: str) -> None:
    alert = parse_one(
        notification(f"<QualitativeNewState>{state}</QualitativeNewState>", SERVICE)
    ).alert
    assert (alert.status, alert.severity) == (status, severity)


def test_device_name_is_the_summary_without_a_service() -> None:
    alert = parse_one(notification(STATE_FAILED, "<DeviceName>RC-FW01</DeviceName>")).alert
    assert (alert.summary, alert.host) == ("RC-FW01: Failed", "RC-FW01")


def test_dedup_key_falls_back_to_device_and_task() -> None:
    alert = parse_one(
        notification(STATE_FAILED, SERVICE, "<DeviceID>77</DeviceID>", "<TaskIdent>9</TaskIdent>")
    ).alert
    assert alert.dedup_key == "77/9"
    alert = parse_one(notification(STATE_FAILED, SERVICE, "<DeviceName>RC-EHR01</DeviceName>"))
    assert alert.alert.dedup_key == "RC-EHR01/Disk Space"
    assert parse_one(notification(STATE_FAILED, SERVICE)).alert.dedup_key == ""


def test_namespaces_and_a_wrapping_element_are_accepted() -> None:
    item = parse_one(notification(STATE_FAILED, SERVICE, root='notification xmlns="urn:x"'))
    assert item.alert.summary == "Disk Space: Failed"
    wrapped = b"<soap><body>" + notification(STATE_FAILED, SERVICE) + b"</body></soap>"
    assert parse_one(wrapped).alert.summary == "Disk Space: Failed"


def test_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<notification><AffectedService>&lol2;</AffectedService>"
        b"<QualitativeNewState>Failed</QualitativeNewState></notification>"
    )
    with pytest.raises(AlertError, match="refused XML"):
        ncentral.parse(bomb)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not valid XML"),
        (b"<notification><DeviceName>x</notification>", "not valid XML"),
        (b'{"CustomerName": "Acme"}', "not valid XML"),
        (b'<?xml version="1.0" encoding="klingon"?><notification/>', "unknown encoding"),
        (notification(SERVICE), r"missing <QualitativeNewState>"),
        (notification(SERVICE, "<QualitativeNewState> </QualitativeNewState>"), "missing"),
        (
            notification(SERVICE, "<QualitativeNewState>Exploded</QualitativeNewState>"),
            "unknown QualitativeNewState 'Exploded'",
        ),
        (notification(STATE_FAILED), "neither <AffectedService> nor <DeviceName>"),
        (
            b"<alerts><item/></alerts>",
            r"expected one <notification> element, found 0 under <alerts>",
        ),
        (
            b"<batch>" + notification(STATE_FAILED, SERVICE) * 2 + b"</batch>",
            "found 2",
        ),
    ],
)
def test_unreadable_payloads_give_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        ncentral.parse(raw)
