"""Generic alert intake (oncall.intake.parse_generic): happy path, defaults and 422 reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oncall.intake import (
    SEVERITIES,
    Alert,
    AlertError,
    normalise_severity,
    parse_generic,
    severity_rank,
)


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode("utf-8")


def test_happy_path_reads_every_field() -> None:
    alert = parse_generic(
        "acme",
        body(
            source="ninjaone",
            severity="critical",
            summary="  SQL01 is down  ",
            details="ping failed 5/5",
            host="sql01.acme.local",
            dedup_key="sql01-down",
            status="resolved",
        ),
    )
    assert alert == Alert(
        client="acme",
        source="ninjaone",
        severity="critical",
        summary="SQL01 is down",
        details="ping failed 5/5",
        host="sql01.acme.local",
        dedup_key="sql01-down",
        status="resolved",
    )
    assert Alert.from_dict(alert.to_dict()) == alert


def test_defaults_for_optional_fields() -> None:
    alert = parse_generic("acme", body(severity="error", summary="Backup failed"))
    assert alert.source == "generic"
    assert alert.status == "triggered"
    assert (alert.details, alert.host, alert.dedup_key) == ("", "", "")


@pytest.mark.parametrize(
    "extra",
    [{"source": None, "status": None}, {"source": "", "status": ""}, {"source": "   "}],
)
def test_null_or_empty_optional_fields_take_defaults(extra: dict[str, Any]) -> None:
    alert = parse_generic("acme", body(severity="error", summary="x", **extra))
    assert (alert.source, alert.status) == ("generic", "triggered")


@pytest.mark.parametrize(
    ("status", "expected"),
    [("triggered", "triggered"), ("RESOLVED", "resolved"), (" Resolved ", "resolved")],
)
def test_status_is_case_insensitive(status: str, expected: str) -> None:
    assert (
        parse_generic("acme", body(severity="info", summary="x", status=status)).status == expected
    )


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("info", "info"),
        ("warning", "warning"),
        ("error", "error"),
        ("critical", "critical"),
        ("CRITICAL", "critical"),
        ("  Warning ", "warning"),
        ("informational", "info"),
        ("information", "info"),
        ("notice", "info"),
        ("low", "info"),
        ("minor", "warning"),
        ("warn", "warning"),
        ("Moderate", "warning"),
        ("medium", "warning"),
        ("major", "error"),
        ("HIGH", "error"),
        ("err", "error"),
        ("crit", "critical"),
        ("fatal", "critical"),
        ("Emergency", "critical"),
        ("disaster", "critical"),
    ],
)
def test_severity_aliases(word: str, expected: str) -> None:
    assert normalise_severity(word) == expected
    assert parse_generic("acme", body(severity=word, summary="x")).severity == expected


def test_severity_rank_orders_info_to_critical() -> None:
    ranks = [severity_rank(s) for s in ("info", "warning", "error", "critical")]
    assert ranks == sorted(ranks) == list(range(len(SEVERITIES)))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not valid JSON"),
        (b"severity=critical", "not valid JSON"),
        (b'{"severity": "critical",', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),  # not UTF-8
        ('{"severity": "critical", "summary": "caf\u00e9"}'.encode("latin-1"), "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'["critical", "down"]', "must be a JSON object"),
        (b'"critical"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (body(summary="down"), "missing required field 'severity'"),
        (body(severity=None, summary="down"), "missing required field 'severity'"),
        (body(severity="critical"), "missing required field 'summary'"),
        (body(severity="critical", summary="   "), "field 'summary' must not be empty"),
        (body(severity="", summary="down"), "field 'severity' must not be empty"),
        (body(severity="critical", summary="down", status="open"), "status must be"),
        (body(severity="critical", summary="down", status="acknowledged"), "status must be"),
        (body(severity="catastrophic", summary="down"), "unknown severity 'catastrophic'"),
        (body(severity="p1", summary="down"), "unknown severity"),
    ],
)
def test_alert_errors(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason) as info:
        parse_generic("acme", raw)
    assert isinstance(info.value, ValueError)  # the web layer maps ValueError to 422
    assert str(info.value)


def test_unknown_severity_lists_the_allowed_words() -> None:
    with pytest.raises(AlertError) as info:
        parse_generic("acme", body(severity="sev1", summary="x"))
    for word in SEVERITIES:
        assert word in str(info.value)


def test_utf8_text_is_kept() -> None:
    raw = json.dumps({"severity": "error", "summary": "Caf\u00e9 POS \u2014 down"}).encode()
    assert parse_generic("acme", raw).summary == "Caf\u00e9 POS \u2014 down"


@pytest.mark.parametrize("field", ["summary", "details", "host", "dedup_key", "source"])
def test_long_fields_are_truncated(field: str) -> None:
    fields: dict[str, Any] = {"severity": "error", "summary": "x", field: "y" * 10_000}
    alert = parse_generic("acme", body(**fields))
    assert getattr(alert, field) == "y" * 4000


def test_nested_details_are_json_encoded_with_sorted_keys() -> None:
    details = {"disk": {"free_gb": 1.5, "mount": "C:"}, "checks": ["ping", "smart"], "a": None}
    alert = parse_generic("acme", body(severity="warning", summary="Disk low", details=details))
    assert json.loads(alert.details) == details
    assert alert.details == json.dumps(details, sort_keys=True)
    assert alert.details.index('"a"') < alert.details.index('"checks"')


def test_list_details_and_numeric_fields_become_text() -> None:
    alert = parse_generic(
        "acme", body(severity="error", summary=503, details=["a", 1], host=10.5, dedup_key=7)
    )
    assert alert.summary == "503"
    assert alert.details == '["a", 1]'
    assert alert.host == "10.5"
    assert alert.dedup_key == "7"


def test_long_nested_details_are_truncated_after_encoding() -> None:
    details = {"log": "z" * 10_000}
    alert = parse_generic("acme", body(severity="error", summary="x", details=details))
    assert len(alert.details) == 4000
    assert alert.details.startswith('{"log": "zzz')
