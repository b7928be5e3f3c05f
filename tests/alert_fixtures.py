"""Test payloads in each monitoring tool's own format (tests/fixtures/alerts/<tool>/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ALERT_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


def fixture(tool: str, name: str) -> bytes:
    return (ALERT_FIXTURES / tool / name).read_bytes()


def fixture_json(tool: str, name: str) -> dict[str, Any]:
    return json.loads(fixture(tool, name))


def as_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode("utf-8")
