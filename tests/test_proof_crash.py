"""The crash proof at CI size: 30 concurrent escalations, the daemon SIGKILLed 3 times."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proof"))

import crash  # noqa: E402


def test_kill9_during_escalations_loses_no_step_and_pages_at_most_once_more(tmp_path) -> None:
    result = crash.run(escalations=30, kills=3, seed=7, workdir=tmp_path)
    print(result.report())
    assert result.incidents == 30
    assert result.alerts_lost == 0
    assert result.steps_expected == 120
    assert result.steps_lost == 0, result.lost_detail
    assert result.max_duplicates_per_kill <= 1
    assert result.unattributed == 0
