"""The response time an SOP promises the client: its `[response]` table.

    [response]
    acknowledge_within = "15m"                      # every priority
    # or per priority:
    acknowledge_within = { P1 = "15m", P2 = "1h" }  # a priority not listed has no promise

`oncall report promises` checks every incident against it (oncall.report) and
`oncall sop explain` states it (oncall.coverage_statement).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from oncall.durations import parse_duration
from oncall.emergency import PRIORITIES
from oncall.errors import ConfigError
from oncall.front_matter import as_table, check_keys

_KEYS = frozenset({"acknowledge_within"})


@dataclass(frozen=True)
class ResponsePromise:
    """How soon a tech acknowledges after hours, per priority; empty: no promise made."""

    every: timedelta | None = None  # the same promise for every priority
    by_priority: Mapping[str, timedelta] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    @property
    def promised(self) -> bool:
        return self.every is not None or bool(self.by_priority)

    def acknowledge_within(self, priority: str | None) -> timedelta | None:
        """The promise for an incident of this priority, or None when nothing was promised."""
        if self.every is not None:
            return self.every
        return self.by_priority.get(priority or "")


NO_PROMISE = ResponsePromise()


def parse_response(value: Any, path: Path) -> ResponsePromise:
    """From an SOP's `[response]` table (absent or empty: no promise)."""
    table = as_table(value, path, "response")
    check_keys(table, _KEYS, path, "response.")
    raw = table.get("acknowledge_within")
    if raw is None:
        return NO_PROMISE
    key = "response.acknowledge_within"
    if not isinstance(raw, dict):
        return ResponsePromise(every=parse_duration(raw, path, key))
    if not raw:
        raise ConfigError(path, key, 'give a duration ("15m") or a table { P1 = "15m", ... }')
    promises: dict[str, timedelta] = {}
    for priority, duration in raw.items():
        if priority not in PRIORITIES:
            raise ConfigError(
                path,
                f"{key}.{priority}",
                f"unknown priority {priority!r} (priorities: {', '.join(PRIORITIES)})",
            )
        promises[priority] = parse_duration(duration, path, f"{key}.{priority}")
    ordered = {p: promises[p] for p in PRIORITIES if p in promises}
    return ResponsePromise(by_priority=MappingProxyType(ordered))
