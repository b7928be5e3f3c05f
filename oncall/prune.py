"""Retention: `oncall prune --older-than 400d` forgets what is bulky or personal and old.

What goes, for rows received before the cutoff:
- the raw body of each alert (`alerts.raw` becomes ''; the parsed fields stay);
- the recording links of voicemails already handled (`recording_sid`, `recording_url`,
  `duration_seconds` become NULL) and of the calls they came from (`calls.recording_url`).

What stays: incidents, pages, timers and the event log (reports are built from them, and the
event log is append-only by trigger), and every voicemail still waiting for the desk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall.store import Store, utcnow_text

_ALERTS = "FROM alerts WHERE received_at < ? AND raw != ''"
_VOICEMAILS = (
    "FROM voicemails WHERE received_at < ? AND handled_at IS NOT NULL"
    " AND (recording_sid IS NOT NULL OR recording_url IS NOT NULL"
    " OR duration_seconds IS NOT NULL)"
)
_CALLS = (
    "FROM calls WHERE started_at < ? AND recording_url IS NOT NULL AND call_sid NOT IN"
    " (SELECT call_sid FROM voicemails WHERE handled_at IS NULL)"
)


@dataclass(frozen=True)
class Pruned:
    """What a prune changed (or, in a dry run, would change)."""

    cutoff: datetime
    alert_payloads: int
    voicemail_recordings: int
    call_recordings: int
    dry_run: bool

    def lines(self) -> list[str]:
        verb = "would clear" if self.dry_run else "cleared"
        before = f"received before {utcnow_text(self.cutoff)}"
        return [
            f"{verb} {self.alert_payloads} raw alert payloads ({before})",
            f"{verb} the recording metadata of {self.voicemail_recordings} handled voicemails",
            f"{verb} the recording links of {self.call_recordings} calls",
            "kept: incidents, pages, the event log and unhandled voicemails",
        ]


def prune(store: Store, now: datetime, older_than: timedelta, *, dry_run: bool) -> Pruned:
    """Clear what is older than `older_than` at `now`, in one transaction (or only count)."""
    cutoff = now - older_than
    at = (utcnow_text(cutoff),)
    with store.transaction():
        counts = [_count(store, where, at) for where in (_ALERTS, _VOICEMAILS, _CALLS)]
        if not dry_run:
            # Calls first: the voicemail condition below does not depend on their links.
            store.conn.execute(
                f"UPDATE calls SET recording_url = NULL WHERE rowid IN (SELECT rowid {_CALLS})", at
            )
            store.conn.execute(
                "UPDATE voicemails SET recording_sid = NULL, recording_url = NULL,"
                f" duration_seconds = NULL WHERE id IN (SELECT id {_VOICEMAILS})",
                at,
            )
            store.conn.execute(f"UPDATE alerts SET raw = '' WHERE id IN (SELECT id {_ALERTS})", at)
    return Pruned(cutoff, counts[0], counts[1], counts[2], dry_run)


def _count(store: Store, where: str, params: tuple[str, ...]) -> int:
    row = store.conn.execute(f"SELECT count(*) {where}", params).fetchone()
    return int(row[0])
