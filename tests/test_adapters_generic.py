"""Generic JSON adapter and the adapter registry."""

from __future__ import annotations

import pytest
from alert_fixtures import as_body, fixture, fixture_json

from oncall.adapters import ADAPTERS, TOOLS, generic
from oncall.intake import AlertError, parse_generic


def test_registry_names_every_tool_once() -> None:
    assert TOOLS == ("alertmanager", "datto", "generic", "ncentral", "ninjaone")
    assert all(ADAPTERS[tool].tool == tool for tool in TOOLS)
    assert len({adapter.title for adapter in ADAPTERS.values()}) == len(TOOLS)


@pytest.mark.parametrize("name", ["triggered.json", "resolved.json"])
def test_reads_the_same_alert_as_the_per_client_route(name: str) -> None:
    raw = fixture("generic", name)
    (item,) = generic.parse(raw)
    assert item.for_client("acme") == parse_generic("acme", raw)
    assert item.org == ("Acme Manufacturing",)
    assert item.raw == raw


def test_organization_is_optional_and_may_be_a_number() -> None:
    body = fixture_json("generic", "triggered.json")
    del body["organization"]
    assert generic.parse(as_body(body))[0].org == ()
    body["organization"] = 41
    assert generic.parse(as_body(body))[0].org == ("41",)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"severity=critical", "not valid JSON"),
        (as_body({"summary": "x", "organization": "Acme"}), "missing required field 'severity'"),
        (
            as_body({"severity": "error", "summary": "x", "organization": ["Acme"]}),
            "organization must be text",
        ),
    ],
)
def test_unreadable_payloads_give_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        generic.parse(raw)
