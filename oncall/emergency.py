"""What a client calls an emergency: the rules in an SOP's `[[emergency]]` tables.

A rule has a priority, the label callers hear in the after-hours phone menu, and alert
conditions (source and host globs, a minimum severity, keywords). `EmergencyRule.matches`
says whether an alert is that emergency and `explain` says why, condition by condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_id, as_string_list, check_keys, get_text
from oncall.intake import SEVERITIES, Alert, severity_rank

PRIORITIES = ("P1", "P2", "P3", "P4")

_RULE_KEYS = frozenset(
    {
        "id",
        "priority",
        "label",
        "sources",
        "min_severity",
        "hosts",
        "keywords",
        "phone_menu",
        "auto_resolve",
    }
)


@dataclass(frozen=True)
class EmergencyRule:
    """One thing the client calls an emergency: the phone-menu label and the alert conditions.

    Every condition that is given must hold; a rule with no conditions is a phone-menu-only
    emergency and never matches an alert.
    """

    id: str
    priority: str  # "P1".."P4"
    label: str  # spoken in the phone menu: "press 1 if <label>"
    sources: tuple[str, ...]  # globs on alert.source, case-insensitive
    min_severity: str | None
    hosts: tuple[str, ...]  # globs on alert.host, case-insensitive
    keywords: tuple[str, ...]  # any of them in summary + details, case-insensitive
    phone_menu: bool = True  # offered in the after-hours phone menu
    auto_resolve: bool = False  # a resolved/reset alert from monitoring resolves the incident

    @property
    def matches_alerts(self) -> bool:
        """False for a phone-menu-only emergency (no alert conditions at all)."""
        return bool(self.sources or self.min_severity or self.hosts or self.keywords)

    def matches(self, alert: Alert) -> bool:
        return self.matches_alerts and all(ok for ok, _ in self._conditions(alert))

    def explain(self, alert: Alert) -> str:
        """Each condition against the alert, e.g. 'severity critical >= critical; host plc-line3 ~ plc-*'."""
        if not self.matches_alerts:
            return "phone-menu-only emergency: never matches an alert"
        return "; ".join(text for _, text in self._conditions(alert))

    def _conditions(self, alert: Alert) -> list[tuple[bool, str]]:
        conditions: list[tuple[bool, str]] = []
        if self.sources:
            conditions.append(_glob_condition("source", alert.source, self.sources))
        if self.min_severity is not None:
            conditions.append(self._severity_condition(alert.severity))
        if self.hosts:
            conditions.append(_glob_condition("host", alert.host, self.hosts))
        if self.keywords:
            text = _fold_text(f"{alert.summary} {alert.details}")
            hit = next((k for k in self.keywords if _fold_text(k) in text), None)
            if hit is not None:
                conditions.append((True, f"keyword {hit!r} in summary/details"))
            else:
                wanted = ", ".join(repr(k) for k in self.keywords)
                conditions.append((False, f"none of the keywords {wanted} in summary/details"))
        return conditions

    def _severity_condition(self, severity: str) -> tuple[bool, str]:
        assert self.min_severity is not None
        if severity not in SEVERITIES:
            return False, f"severity {severity!r} is unknown (needs >= {self.min_severity})"
        if severity_rank(severity) >= severity_rank(self.min_severity):
            return True, f"severity {severity} >= {self.min_severity}"
        return False, f"severity {severity} < {self.min_severity}"


def _fold_text(text: str) -> str:
    """Case- and whitespace-insensitive form used for keyword matching."""
    return " ".join(text.split()).casefold()


def _glob_condition(what: str, value: str, patterns: tuple[str, ...]) -> tuple[bool, str]:
    shown = value or "(none)"
    hit = next((p for p in patterns if value and fnmatchcase(value.casefold(), p.casefold())), None)
    if hit is not None:
        return True, f"{what} {shown} ~ {hit}"
    return False, f"{what} {shown} !~ {', '.join(patterns)}"


# --------------------------------------------------------------------------- reading the SOP


def parse_emergencies(value: Any, path: Path) -> tuple[EmergencyRule, ...]:
    """The rules from an SOP's `[[emergency]]` tables, in file order; ids must be unique."""
    rules: list[EmergencyRule] = []
    for i, table in enumerate(as_array_of_tables(value, path, "emergency")):
        rule = _emergency_rule(table, path, f"emergency[{i}]")
        if any(existing.id == rule.id for existing in rules):
            raise ConfigError(path, f"emergency[{i}].id", f"duplicate emergency id {rule.id!r}")
        rules.append(rule)
    return tuple(rules)


def _emergency_rule(table: Mapping[str, Any], path: Path, where: str) -> EmergencyRule:
    check_keys(table, _RULE_KEYS, path, f"{where}.")
    rule_id = as_id(table.get("id"), path, f"{where}.id")
    priority = table.get("priority")
    if not isinstance(priority, str) or priority.strip().upper() not in PRIORITIES:
        raise ConfigError(
            path, f"{where}.priority", f"expected one of {', '.join(PRIORITIES)}, got {priority!r}"
        )
    label = get_text(table, "label", path, f"{where}.", required=True)
    assert label is not None
    min_severity = table.get("min_severity")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise ConfigError(
            path,
            f"{where}.min_severity",
            f"expected one of {', '.join(SEVERITIES)}, got {min_severity!r}",
        )
    phone_menu = table.get("phone_menu", True)
    if not isinstance(phone_menu, bool):
        raise ConfigError(
            path, f"{where}.phone_menu", f"expected true or false, got {phone_menu!r}"
        )
    auto_resolve = table.get("auto_resolve", False)
    if not isinstance(auto_resolve, bool):
        raise ConfigError(
            path, f"{where}.auto_resolve", f"expected true or false, got {auto_resolve!r}"
        )
    rule = EmergencyRule(
        id=rule_id,
        priority=priority.strip().upper(),
        label=label,
        sources=_optional_list(table, "sources", path, where),
        min_severity=min_severity,
        hosts=_optional_list(table, "hosts", path, where),
        keywords=_optional_list(table, "keywords", path, where),
        phone_menu=phone_menu,
        auto_resolve=auto_resolve,
    )
    if not rule.matches_alerts and not rule.phone_menu:
        raise ConfigError(
            path,
            where,
            "this emergency can never fire: it has no alert conditions (sources, min_severity, "
            "hosts, keywords) and phone_menu = false",
        )
    return rule


def _optional_list(table: Mapping[str, Any], key: str, path: Path, where: str) -> tuple[str, ...]:
    if key not in table:
        return ()
    return as_string_list(table[key], path, f"{where}.{key}")
