"""Durations in configuration files: '30s', '5m', '1h30m', '1d', ISO 8601 'PT5M' or seconds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum

from oncall.errors import ConfigError

_COMPACT_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$"
)


def parse_duration(value: Any, path: Path | str | None, key: str) -> timedelta:
    """'2s', '5m', '1h30m', '1d', an ISO 8601 'PT5M', or a number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(path, key, f"expected a duration like '5m', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        match = _COMPACT_DURATION.match(value)
        if match and any(match.groupdict().values()):
            parts = {k: int(v) for k, v in match.groupdict().items() if v}
            seconds = (
                parts.get("d", 0) * 86400
                + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60
                + parts.get("s", 0)
            )
        else:
            try:
                parsed = pendulum.parse(value.strip())
            except Exception as exc:  # pendulum raises several types for bad input
                raise ConfigError(
                    path, key, f"cannot read duration {value!r} (use e.g. '30s', '5m', '1h')"
                ) from exc
            if not isinstance(parsed, pendulum.Duration):
                raise ConfigError(path, key, f"{value!r} is not a duration")
            seconds = parsed.total_seconds()
    else:
        raise ConfigError(path, key, f"expected a duration like '5m', got {value!r}")
    if seconds <= 0:
        raise ConfigError(path, key, f"duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)
