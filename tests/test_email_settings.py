"""config.toml [intake.email]: off when absent, loopback unless told otherwise, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import write_config

from oncall.config import load_config
from oncall.email_settings import DEFAULT_MAX_SIZE, EmailIntakeSettings
from oncall.errors import ConfigError


def with_email(tmp_path: Path, table: str) -> Path:
    path = write_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "\n[intake.email]\n" + table)
    return path


def test_absent_means_no_listener(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path), env={}).intake_email is None


def test_listen_with_defaults(tmp_path: Path) -> None:
    config = load_config(with_email(tmp_path, 'listen = "127.0.0.1:2525"\n'), env={})
    assert config.intake_email == EmailIntakeSettings(("127.0.0.1", 2525), DEFAULT_MAX_SIZE)
    assert config.intake_email.hostname == "oncall"


def test_every_key(tmp_path: Path) -> None:
    table = (
        'listen = "0.0.0.0:25"\nallow_remote = true\nmax_size = 5000000\n'
        'hostname = "alerts.example-msp.com"\n'
    )
    settings = load_config(with_email(tmp_path, table), env={}).intake_email
    assert settings == EmailIntakeSettings(("0.0.0.0", 25), 5_000_000, "alerts.example-msp.com")


def test_alongside_tool_webhooks(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8")
        + '\n[intake.tools]\nninjaone = "ninja-0123456789"\n\n[intake.email]\nlisten = "[::1]:2525"\n'
    )
    config = load_config(path, env={})
    assert set(config.intake_tools) == {"ninjaone"}
    assert config.intake_email is not None and config.intake_email.listen == ("::1", 2525)


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ("max_size = 2000\n", "intake.email.listen", "required"),
        ('listen = "192.0.2.10:2525"\n', "intake.email.listen", "not a loopback address"),
        ('listen = "127.0.0.1"\n', "intake.email.listen", "host:port"),
        ('listen = "127.0.0.1:2525"\nmax_size = 10\n', "intake.email.max_size", ">= 1024"),
        ('listen = "127.0.0.1:2525"\nmax_size = "1MB"\n', "intake.email.max_size", "bytes"),
        ('listen = "127.0.0.1:2525"\nallow_remote = "yes"\n', "intake.email.allow_remote", "true"),
        ('listen = "127.0.0.1:2525"\nhostname = "a b"\n', "intake.email.hostname", "host name"),
        ('listen = "127.0.0.1:2525"\nport = 25\n', "intake.email.port", "unknown key"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, table: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(with_email(tmp_path, table), env={})
    assert key in str(error.value) and message in str(error.value)
