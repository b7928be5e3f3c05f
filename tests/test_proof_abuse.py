"""The webhook-abuse proof at CI size: every forgery/replay/oversized/malformed probe, plus
300 hypothesis cases."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proof"))

import abuse  # noqa: E402


def test_no_forgery_or_replay_is_accepted_and_nothing_answers_5xx(tmp_path) -> None:
    result = abuse.run(cases=300, workdir=tmp_path)
    print(result.report())
    assert result.cases == 300
    assert result.requests["forged"] > 100 and result.requests["replay"] >= 10
    assert result.forgeries_accepted == []
    assert result.replays_accepted == []
    assert result.server_errors == []
