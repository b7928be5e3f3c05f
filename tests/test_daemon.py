"""Daemon wiring: reload with keep-last-good, health, JSON logs."""

from __future__ import annotations

import io
import json
import shutil

from harness import REPO, Harness, eventually, write_config
from structlog.testing import capture_logs

from oncall.logs import configure_logging


def test_reload_applies_a_good_change_and_keeps_last_good_on_a_broken_one(tmp_path) -> None:
    config = write_config(tmp_path, ack="1s")
    sop_file = tmp_path / "sops" / "testco.md"
    with Harness(config) as h:
        assert h.daemon.catalog.sops["testco"].name == "TestCo"

        sop_file.write_text(
            sop_file.read_text().replace('name = "TestCo"', 'name = "TestCo Renamed"')
        )
        assert h.call(h.daemon.reload) is True
        assert h.daemon.engine.catalog.sops["testco"].name == "TestCo Renamed"

        sop_file.write_text(sop_file.read_text().replace("[support_window]", "[support_window\n"))
        assert h.call(h.daemon.reload) is False
        assert h.daemon.engine.catalog.sops["testco"].name == "TestCo Renamed"
        # The daemon still works on the last good configuration.
        response = h.post_alert({"severity": "critical", "summary": "still paging"})
        assert response.status_code == 202 and response.json()["decision"] == "page"


def test_reload_cannot_move_the_listen_address_or_database(tmp_path) -> None:
    config = write_config(tmp_path)
    with Harness(config) as h:
        before = h.daemon.catalog.config
        config.write_text(
            config.read_text().replace(str(tmp_path / "oncall.db"), str(tmp_path / "other.db"))
        )
        assert h.call(h.daemon.reload) is True
        after = h.daemon.catalog.config
        assert after.database == before.database and after.listen == before.listen


def test_logs_are_json_lines_when_not_a_terminal() -> None:
    import structlog

    stream = io.StringIO()
    configure_logging("info", stream=stream)
    structlog.get_logger("t").info("page.sent", incident_id=3, auth_token="s3cret")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "page.sent" and line["incident_id"] == 3 and line["level"] == "info"
    assert "s3cret" not in stream.getvalue()
    assert line["auth_token"] == "[redacted]"


def test_the_running_daemon_picks_up_changed_calendars_and_keeps_the_last_good_one(
    tmp_path,
) -> None:
    config = write_config(tmp_path, ack="1h")
    shutil.copytree(REPO / "rotations", tmp_path / "rotations")
    text = config.read_text().replace(str(REPO / "rotations"), str(tmp_path / "rotations"))
    config.write_text(text.replace('watch_interval = "5s"', "watch_interval = 0.02"))
    ics = tmp_path / "rotations" / "primary.ics"
    good = ics.read_text()
    with Harness(config) as h, capture_logs() as logs:  # Saturday 02:00: alice is primary

        def primary() -> list[str]:
            return [t.id for t in h.daemon.catalog.on_call("primary", h.clock.now())]

        assert primary() == ["alice"]
        ics.write_text(good.replace("END:VCALENDAR", ""))  # a broken save
        eventually(lambda: any(entry["event"] == "reload.failed" for entry in logs))
        assert primary() == ["alice"]  # the last good calendar is still in use
        ics.write_text(good.replace("Alice Nguyen", "Dave Kim").replace("alice", "dave"))
        eventually(lambda: primary() == ["dave"])
        assert h.daemon.engine.catalog is h.daemon.catalog
        response = h.post_alert({"severity": "critical", "summary": "server down"})
        assert response.status_code == 202 and response.json()["decision"] == "page"
        h.phone("dave").expect_sms("server down")
    # The watcher may also catch a save half-written (truncated, then written): more than one
    # failed reload is fine, as long as each names the file and kept the last good one.
    failed = [entry for entry in logs if entry["event"] == "reload.failed"]
    assert failed
    assert all(
        "primary.ics" in e["error"] and e["kept"] == "last good configuration" for e in failed
    )


def test_metrics_report_a_failed_reload(tmp_path) -> None:
    config = write_config(tmp_path, ack="1s")
    sop_file = tmp_path / "sops" / "testco.md"
    with Harness(config) as h:
        sop_file.write_text(sop_file.read_text().replace("[support_window]", "[support_window\n"))
        assert h.call(h.daemon.reload) is False
        text = h.http.get(f"{h.url}/metrics").text
        assert "oncall_config_last_reload_success 0.0" in text
        sop_file.write_text(sop_file.read_text().replace("[support_window\n", "[support_window]"))
        assert h.call(h.daemon.reload) is True
        assert "oncall_config_last_reload_success 1.0" in h.http.get(f"{h.url}/metrics").text
