"""`oncall prune`: old raw payloads and recording links go; what reports need stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from harness import SECRET, write_config

from oncall.cli import main
from oncall.prune import prune
from oncall.store import Store, utcnow_text

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=500)
RECENT = NOW - timedelta(days=10)


def fill(store: Store) -> None:
    """Two alerts, incidents, pages, calls and voicemails: one of each old, one recent; plus
    an old voicemail the desk has not handled yet."""
    with store.transaction():
        for n, at in enumerate((OLD, RECENT), start=1):
            ts = utcnow_text(at)
            store.insert(
                "alerts",
                {"received_at": ts, "client": "testco", "raw": f'{{"n": {n}}}', "accepted": 1},
            )
            store.insert(
                "incidents",
                {"client": "testco", "summary": "down", "state": "resolved", "opened_at": ts},
            )
            store.insert(
                "pages",
                {
                    "incident_id": n,
                    "tech_id": "alice",
                    "phone": "+15550001001",
                    "channel": "sms",
                    "kind": "page",
                    "pass_number": 0,
                    "step_index": 0,
                    "body": "PAGE",
                    "state": "sent",
                    "created_at": ts,
                    "updated_at": ts,
                },
            )
            store.log(at, "alert.received", "alert received", client="testco", incident_id=n)
        for sid, at, handled in (("CA1", OLD, True), ("CA2", RECENT, True), ("CA3", OLD, False)):
            ts = utcnow_text(at)
            url = f"https://api.twilio.com/Recordings/RE{sid}"
            store.insert(
                "calls",
                {
                    "call_sid": sid,
                    "direction": "inbound",
                    "from_phone": "+18155550141",
                    "to_phone": "+15550009000",
                    "stage": "done",
                    "recording_url": url,
                    "started_at": ts,
                    "updated_at": ts,
                },
            )
            store.insert(
                "voicemails",
                {
                    "call_sid": sid,
                    "from_phone": "+18155550141",
                    "reason": "after hours",
                    "recording_sid": f"RE{sid}",
                    "recording_url": url,
                    "duration_seconds": 15,
                    "received_at": ts,
                    "handled_at": ts if handled else None,
                },
            )


def snapshot(store: Store) -> dict[str, list[dict]]:
    return {
        table: store.all(f"SELECT * FROM {table} ORDER BY rowid")
        for table in ("incidents", "pages", "events")
    }


def test_prune_clears_only_old_payloads_and_handled_recordings(tmp_path) -> None:
    with Store(tmp_path / "oncall.db") as store:
        fill(store)
        kept = snapshot(store)
        dry = prune(store, NOW, timedelta(days=400), dry_run=True)
        assert (dry.alert_payloads, dry.voicemail_recordings, dry.call_recordings) == (1, 1, 1)
        assert [r["raw"] for r in store.all("SELECT raw FROM alerts ORDER BY id")] == [
            '{"n": 1}',
            '{"n": 2}',
        ]

        done = prune(store, NOW, timedelta(days=400), dry_run=False)
        assert (done.alert_payloads, done.voicemail_recordings, done.call_recordings) == (1, 1, 1)
        assert [r["raw"] for r in store.all("SELECT raw FROM alerts ORDER BY id")] == [
            "",
            '{"n": 2}',
        ]
        voicemails = store.all(
            "SELECT call_sid, recording_sid, recording_url, duration_seconds FROM voicemails"
            " ORDER BY id"
        )
        assert voicemails[0] == {
            "call_sid": "CA1",
            "recording_sid": None,
            "recording_url": None,
            "duration_seconds": None,
        }
        assert (
            voicemails[1]["recording_url"] and voicemails[2]["recording_url"]
        )  # recent; unhandled
        calls = store.all("SELECT call_sid, recording_url FROM calls ORDER BY call_sid")
        assert [c["recording_url"] is None for c in calls] == [True, False, False]
        assert snapshot(store) == kept

        again = prune(store, NOW, timedelta(days=400), dry_run=False)
        assert (again.alert_payloads, again.voicemail_recordings, again.call_recordings) == (
            0,
            0,
            0,
        )


def run(config, *args: str):
    env = {"ONCALL_TEST_SECRET": SECRET}
    return CliRunner().invoke(main, ["prune", "--config", str(config), *args], env=env)


def test_prune_command_dry_run_then_for_real(tmp_path) -> None:
    config = write_config(tmp_path)
    with Store(tmp_path / "oncall.db") as store:
        fill(store)

    dry = run(config, "--older-than", "400d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would clear 1 raw alert payloads" in dry.output
    real = run(config, "--older-than", "400d")
    assert real.exit_code == 0, real.output
    assert "cleared 1 raw alert payloads" in real.output
    assert "cleared the recording metadata of 1 handled voicemails" in real.output
    assert "cleared the recording links of 1 calls" in real.output
    with Store(tmp_path / "oncall.db") as store:
        assert store.all("SELECT raw FROM alerts WHERE raw = ''") == [{"raw": ""}]

    bad = run(config, "--older-than", "soon")
    assert bad.exit_code == 2 and "--older-than" in bad.output


def test_prune_without_a_database_says_so(tmp_path) -> None:
    result = run(write_config(tmp_path), "--older-than", "400d")
    assert result.exit_code == 1 and "no database" in result.output
