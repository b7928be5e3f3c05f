"""Daemon wiring: reload with keep-last-good, health, JSON logs."""

from __future__ import annotations

import io
import json

from harness import Harness, write_config

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
