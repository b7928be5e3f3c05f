"""`oncall backup`: a consistent copy while the daemon is writing."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from harness import SECRET, Harness, write_config

from oncall.backup import backup_database
from oncall.cli import main


def test_backup_while_the_daemon_runs_holds_every_committed_row(tmp_path) -> None:
    config = write_config(tmp_path, ack="30s")
    with Harness(config) as h:
        for i in range(5):
            assert h.post_alert({"severity": "warning", "summary": f"disk {i}"}).status_code == 202
        target = tmp_path / "backups" / "oncall-copy.db"
        result = CliRunner().invoke(
            main,
            ["backup", str(target), "--config", str(config)],
            env={"ONCALL_TEST_SECRET": SECRET},
        )
        assert result.exit_code == 0, result.output
        assert "backed up" in result.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM alerts").fetchone()[0] == 5
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_refuses_to_overwrite_and_needs_a_database(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        backup_database(tmp_path / "missing.db", tmp_path / "out.db")
    source = tmp_path / "src.db"
    sqlite3.connect(source).close()
    (tmp_path / "out.db").write_text("keep me")
    with pytest.raises(FileExistsError):
        backup_database(source, tmp_path / "out.db")
    assert (tmp_path / "out.db").read_text() == "keep me"
