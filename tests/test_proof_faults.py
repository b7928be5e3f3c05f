"""The Twilio-fault proof at CI size: 12 incidents (96 page rows), 30% of requests failing."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proof"))

import faults  # noqa: E402


def test_thirty_percent_twilio_faults_drop_no_page_and_move_on_within_5s(tmp_path) -> None:
    result = faults.run(incidents=12, rate=0.3, seed=11, workdir=tmp_path)
    print(result.report())
    assert result.incidents == 12
    assert sum(result.faults.values()) > 0  # the faults really happened
    assert result.failed_for_good > 0
    assert result.dropped == []
    assert result.next_latencies, "no definite failure was followed by a next channel or step"
    assert faults.percentile(result.next_latencies, 99) <= faults.TARGET_NEXT_SECONDS
