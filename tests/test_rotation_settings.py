"""Tests for oncall.rotation_settings: config.toml's [rotations] table, read through
load_config so errors name config.toml and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from harness import write_config

from oncall.config import load_config
from oncall.errors import ConfigError
from oncall.rotation_settings import RemoteRotation, RotationSettings, parse_rotation_settings

GOOGLE = "https://calendar.google.com/calendar/ical/desk%40msp.example/private-abc123/basic.ics"


def config_with(tmp_path: Path, rotations_table: str) -> Path:
    """The test config with its [rotations] tables replaced by the given TOML."""
    path = write_config(tmp_path)
    text = path.read_text()
    start = text.index("[rotations]")
    end = text.index("[[techs]]")
    path.write_text(text[:start] + rotations_table + "\n" + text[end:])
    return path


def test_the_example_config_has_the_defaults() -> None:
    settings = load_config(Path(__file__).parent.parent / "config.example.toml", {})
    assert settings.rotation_settings == RotationSettings()
    assert RotationSettings() == RotationSettings(
        watch_interval=timedelta(seconds=5),
        refresh=timedelta(minutes=15),
        fetch_timeout=timedelta(seconds=20),
        remote=(),
    )
    assert parse_rotation_settings(None, Path("c.toml")) == RotationSettings()


def test_settings_and_remote_rotations(tmp_path: Path) -> None:
    path = config_with(
        tmp_path,
        "[rotations]\n"
        'watch_interval = "2s"\nrefresh = "1h"\nfetch_timeout = 7.5\n'
        "[rotations.remote]\n"
        f'night-desk = "{GOOGLE}"\n'
        'erp_specialists = "webcal://outlook.office365.com/owa/calendar/x/y/calendar.ics"\n'
        'local-test = "http://127.0.0.1:8123/cal.ics"\n',
    )
    settings = load_config(path, {}).rotation_settings
    assert settings.watch_interval == timedelta(seconds=2)
    assert settings.refresh == timedelta(hours=1)
    assert settings.fetch_timeout == timedelta(seconds=7.5)
    assert settings.remote == (
        RemoteRotation("night-desk", GOOGLE),
        RemoteRotation(
            "erp_specialists", "https://outlook.office365.com/owa/calendar/x/y/calendar.ics"
        ),
        RemoteRotation("local-test", "http://127.0.0.1:8123/cal.ics"),
    )
    assert settings.remote_url("night-desk") == GOOGLE
    assert settings.remote_url("primary") is None


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ('[rotations]\nwatch = "5s"', "rotations.watch", "unknown key"),
        ('[rotations]\nrefresh = "soon"', "rotations.refresh", "cannot read duration"),
        ("[rotations]\nfetch_timeout = 0", "rotations.fetch_timeout", "must be positive"),
        ('[rotations]\nremote = "https://x"', "rotations.remote", "expected a table"),
        (
            '[rotations.remote]\n"night desk" = "https://x.example/a.ics"',
            "rotations.remote.night desk",
            "letters, digits",
        ),
        (
            '[rotations.remote]\nnight = "http://calendar.example/a.ics"',
            "rotations.remote.night",
            "refusing plain http://",
        ),
        ('[rotations.remote]\nnight = "ftp://x.example/a.ics"', "rotations.remote.night", "https"),
        ('[rotations.remote]\nnight = ""', "rotations.remote.night", "https:// address"),
        ("[rotations.remote]\nnight = 3", "rotations.remote.night", "https:// address"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, table: str, key: str, message: str) -> None:
    path = config_with(tmp_path, table)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.path == str(path) and info.value.where == key
    assert message in info.value.message


def test_rotations_must_be_a_table(tmp_path: Path) -> None:
    path = config_with(tmp_path, 'rotations = "yes"\n')
    # a top-level key after [defaults] belongs to that table, so put it first
    path.write_text('rotations = "yes"\n' + path.read_text().replace('rotations = "yes"\n', ""))
    with pytest.raises(ConfigError, match="expected a table") as info:
        load_config(path, {})
    assert info.value.where == "rotations"
