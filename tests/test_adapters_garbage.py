"""Every adapter answers damaged payloads with an AlertError (a 422), never another exception."""

from __future__ import annotations

import random

import pytest
from alert_fixtures import ALERT_FIXTURES

from oncall.adapters import ADAPTERS
from oncall.intake import AlertError

SEEDS = sorted(
    path.read_bytes() for path in ALERT_FIXTURES.rglob("*") if path.suffix in (".json", ".xml")
)
INSERTS = (b'"', b"{", b"}", b"[", b"]", b"<", b">", b"null", b"1e999", b"true", b"&x;", b"\xff")


def damaged(rng: random.Random) -> bytes:
    raw = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randint(1, 6)):
        if not raw:
            break
        at = rng.randrange(len(raw))
        roll = rng.random()
        if roll < 0.4:
            raw[at] = rng.randrange(256)
        elif roll < 0.7:
            del raw[at : at + rng.randint(1, 20)]
        else:
            raw[at:at] = rng.choice(INSERTS)
    return bytes(raw)


@pytest.mark.parametrize("tool", sorted(ADAPTERS))
def test_damaged_payloads_only_ever_raise_alert_errors(tool: str) -> None:
    rng = random.Random(tool)  # deterministic per tool
    for _ in range(1500):
        raw = damaged(rng)
        try:
            ADAPTERS[tool].parse(raw)
        except AlertError as exc:
            assert str(exc), raw
