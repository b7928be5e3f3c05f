"""Emergency rules: which alerts match, and the condition-by-condition explanation."""

from __future__ import annotations

import pytest

from oncall.emergency import EmergencyRule
from oncall.intake import Alert


def rule(**conditions: object) -> EmergencyRule:
    fields: dict[str, object] = {
        "id": "r",
        "priority": "P1",
        "label": "l",
        "sources": (),
        "min_severity": None,
        "hosts": (),
        "keywords": (),
    }
    fields.update(conditions)
    return EmergencyRule(**fields)  # type: ignore[arg-type]


PLC_ALERT = Alert(
    client="acme",
    source="NinjaOne",
    severity="critical",
    summary="PLC line 3 offline",
    details="Controller stopped   answering;\nLine DOWN",
    host="PLC-Line3",
)


@pytest.mark.parametrize(
    ("conditions", "matches", "explanation"),
    [
        ({"sources": ("ninja*",)}, True, "source NinjaOne ~ ninja*"),
        ({"sources": ("datto", "n-central")}, False, "source NinjaOne !~ datto, n-central"),
        ({"min_severity": "critical"}, True, "severity critical >= critical"),
        ({"min_severity": "error"}, True, "severity critical >= error"),
        ({"hosts": ("scada-*", "plc-*")}, True, "host PLC-Line3 ~ plc-*"),
        ({"hosts": ("plc-line[12]",)}, False, "host PLC-Line3 !~ plc-line[12]"),
        ({"keywords": ("line down",)}, True, "keyword 'line down' in summary/details"),
        (
            {"keywords": ("stopped answering",)},
            True,
            "keyword 'stopped answering' in summary/details",
        ),
        ({"keywords": ("fire",)}, False, "none of the keywords 'fire' in summary/details"),
        (
            {"min_severity": "critical", "hosts": ("plc-*",)},
            True,
            "severity critical >= critical; host PLC-Line3 ~ plc-*",
        ),
        (
            {"sources": ("datto",), "hosts": ("plc-*",)},
            False,
            "source NinjaOne !~ datto; host PLC-Line3 ~ plc-*",
        ),
        ({}, False, "phone-menu-only emergency: never matches an alert"),
    ],
)
def test_emergency_rule_matches_and_explains(
    conditions: dict[str, object], matches: bool, explanation: str
) -> None:
    emergency = rule(**conditions)
    assert emergency.matches(PLC_ALERT) is matches
    assert emergency.explain(PLC_ALERT) == explanation


@pytest.mark.parametrize(
    ("alert_changes", "explanation"),
    [
        ({"severity": "warning"}, "severity warning < critical"),
        ({"host": ""}, "host (none) !~ plc-*"),
    ],
)
def test_emergency_rule_failing_conditions(alert_changes: dict[str, str], explanation: str) -> None:
    emergency = rule(min_severity="critical", hosts=("plc-*",))
    alert = Alert(**(PLC_ALERT.to_dict() | alert_changes))
    assert not emergency.matches(alert)
    assert explanation in emergency.explain(alert)
