"""Tests for the shift feed at a secret address: tokens (oncall.tech_feed), the daemon's
`GET /feeds/<token>.ics` (oncall.feed_routes), `oncall feed-url` and `[rotations] feed_secret`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from click.testing import CliRunner
from harness import SECRET, Harness, write_config
from structlog.testing import capture_logs

from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.config import load_config
from oncall.errors import ConfigError
from oncall.tech_feed import feed_token, feed_url, tech_for_token, tech_shifts

FEED_SECRET = "feed-secret-for-tests-0123456789"
ENV = {"ONCALL_TEST_SECRET": SECRET, "ONCALL_FEED_SECRET": FEED_SECRET}
# Saturday 28 Nov 2026: alice is primary until Mon 30 Nov 08:00 CST, then again from 7 Dec.
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def feed_config(tmp_path: Path, line: str = 'feed_secret = "env:ONCALL_FEED_SECRET"\n') -> Path:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("[rotations]\n", "[rotations]\n" + line))
    return path


# -- tokens ------------------------------------------------------------------------------


def test_tokens_are_per_tech_per_secret_and_stable() -> None:
    alice = feed_token(FEED_SECRET, "alice")
    assert re.fullmatch(r"[0-9a-f]{32}", alice)
    assert feed_token(FEED_SECRET, "alice") == alice
    assert feed_token(FEED_SECRET, "bob") != alice
    assert feed_token("another secret", "alice") != alice


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (feed_token(FEED_SECRET, "bob"), "bob"),
        (feed_token(FEED_SECRET, "alice"), "alice"),
        (feed_token("another secret", "alice"), None),
        (feed_token(FEED_SECRET, "alice")[:-1], None),
        ("", None),
        ("ü" * 32, None),
    ],
)
def test_tech_for_token(token: str, expected: str | None) -> None:
    assert tech_for_token(FEED_SECRET, ["alice", "bob", "carol"], token) == expected


def test_feed_url_is_public_url_plus_path() -> None:
    token = feed_token(FEED_SECRET, "alice")
    url = feed_url("https://oncall.example.com/", FEED_SECRET, "alice")
    assert url == f"https://oncall.example.com/feeds/{token}.ics"


def test_tech_shifts_span_every_rotation(tmp_path: Path) -> None:
    catalog = load_catalog(feed_config(tmp_path), ENV, now=NOW)
    found = tech_shifts(
        catalog.rotations,
        catalog.techs,
        "alice",
        NOW,
        datetime(2026, 12, 15, tzinfo=UTC),
    )
    assert [(s.rotation, s.start.isoformat()) for s in found] == [
        ("primary", "2026-11-23T14:00:00+00:00"),
        ("primary", "2026-12-07T14:00:00+00:00"),
    ]


# -- config ------------------------------------------------------------------------------


def test_feed_secret_is_resolved_and_hidden(tmp_path: Path) -> None:
    config = load_config(feed_config(tmp_path), ENV)
    assert config.rotation_settings.feed_secret == FEED_SECRET
    assert FEED_SECRET not in repr(config.rotation_settings)


def test_no_feed_secret_means_no_feeds(tmp_path: Path) -> None:
    assert load_config(feed_config(tmp_path, ""), ENV).rotation_settings.feed_secret is None


def test_sandbox_stands_in_a_placeholder_and_live_refuses_a_missing_secret(
    tmp_path: Path,
) -> None:
    path = feed_config(tmp_path)
    sandbox = load_config(path, {"ONCALL_TEST_SECRET": SECRET})
    assert sandbox.rotation_settings.feed_secret == "sandbox-feed-secret"
    path.write_text(path.read_text().replace('mode = "sandbox"', 'mode = "live"'))
    live_env = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t"}
    with pytest.raises(ConfigError, match="rotations.feed_secret") as info:
        load_config(path, live_env)
    assert "ONCALL_FEED_SECRET" in str(info.value)


def test_handoff_settings(tmp_path: Path) -> None:
    settings = load_config(
        feed_config(tmp_path, 'handoff_notice = true\nhandoff_lead = "15m"\n'), ENV
    ).rotation_settings
    assert settings.handoff_notice is True
    assert settings.handoff_lead.total_seconds() == 900
    defaults = load_config(feed_config(tmp_path, ""), ENV).rotation_settings
    assert defaults.handoff_notice is False and defaults.handoff_lead.total_seconds() == 0
    with pytest.raises(ConfigError, match="rotations.handoff_notice"):
        load_config(feed_config(tmp_path, 'handoff_notice = "yes"\n'), ENV)


# -- the route and the CLI ---------------------------------------------------------------


def test_the_daemon_serves_each_techs_feed_at_its_secret_address(tmp_path: Path) -> None:
    (tmp_path / "feed.secret").write_text(FEED_SECRET + "\n")
    path = feed_config(tmp_path, 'feed_secret = "file:feed.secret"\n')
    with Harness(path) as h, capture_logs() as logs:
        token = feed_token(FEED_SECRET, "alice")
        answer = h.http.get(f"{h.url}/feeds/{token}.ics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
        calendar = icalendar.Calendar.from_ical(answer.content)
        assert str(calendar["X-WR-CALNAME"]) == "On call: Alice Nguyen"
        starts = [event.decoded("DTSTART") for event in calendar.walk("VEVENT")]
        assert datetime(2026, 12, 7, 14, tzinfo=UTC) in starts  # her next primary week
        assert {str(event["SUMMARY"]) for event in calendar.walk("VEVENT")} == {"On call: primary"}

        for wrong in (feed_token(FEED_SECRET, "nobody"), token[:-1], feed_token("x", "alice")):
            assert h.http.get(f"{h.url}/feeds/{wrong}.ics").status_code == 404
        assert h.http.get(f"{h.url}/feeds/{token}").status_code == 404
    assert logs, "the feed request is logged"
    assert token not in repr(logs)

    runner = CliRunner(env=ENV)
    result = runner.invoke(main, ["feed-url", "alice", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == f"http://127.0.0.1:8787/feeds/{token}.ics\n"


def test_no_feed_secret_serves_nothing(tmp_path: Path) -> None:
    path = feed_config(tmp_path, "")
    with Harness(path) as h:
        token = feed_token("sandbox-feed-secret", "alice")
        assert h.http.get(f"{h.url}/feeds/{token}.ics").status_code == 404
    result = CliRunner(env=ENV).invoke(main, ["feed-url", "alice", "--config", str(path)])
    assert result.exit_code == 1
    assert "feed_secret" in result.output


def test_feed_url_for_an_unknown_tech_fails(tmp_path: Path) -> None:
    path = feed_config(tmp_path)
    result = CliRunner(env=ENV).invoke(main, ["feed-url", "zed", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown tech 'zed'" in result.output
