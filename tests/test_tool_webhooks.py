"""config.toml [intake.tools]: the shared webhook secrets, from every source, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import LIVE_MODE, LIVE_SID, LIVE_TOKEN, write_config

from oncall.config import load_config
from oncall.errors import ConfigError

LIVE_ENV = {"TWILIO_ACCOUNT_SID": LIVE_SID, "TWILIO_AUTH_TOKEN": LIVE_TOKEN}


def with_intake(tmp_path: Path, table: str, *edits: tuple[str, str]) -> Path:
    path = write_config(tmp_path, *edits)
    path.write_text(path.read_text(encoding="utf-8") + "\n" + table, encoding="utf-8")
    return path


def test_no_intake_table_means_no_shared_urls(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path), env={}).intake_tools == {}


def test_secrets_from_env_file_credential_and_literal(tmp_path: Path) -> None:
    (tmp_path / "datto.secret").write_text("datto-from-file\n", encoding="utf-8")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "oncall-ncentral").write_text("from-credential", encoding="utf-8")
    path = with_intake(
        tmp_path,
        "[intake.tools]\n"
        'ninjaone = "env:ONCALL_NINJAONE_SECRET"\n'
        'datto = "file:datto.secret"\n'
        'ncentral = "credential:oncall-ncentral"\n'
        'alertmanager = "Zq81LrX0vT4pN7wA"\n',
        LIVE_MODE,
    )
    env = {
        **LIVE_ENV,
        "ONCALL_NINJAONE_SECRET": "ninja-from-env",
        "CREDENTIALS_DIRECTORY": str(tmp_path / "creds"),
    }
    tools = load_config(path, env=env).intake_tools
    assert {tool: hook.secret for tool, hook in tools.items()} == {
        "ninjaone": "ninja-from-env",
        "datto": "datto-from-file",
        "ncentral": "from-credential",
        "alertmanager": "Zq81LrX0vT4pN7wA",
    }
    assert tools["ninjaone"].source == "env:ONCALL_NINJAONE_SECRET"
    assert tools["datto"].source == f"file:{tmp_path / 'datto.secret'}"
    assert tools["alertmanager"].source == "literal"
    assert not any(hook.is_sandbox_default for hook in tools.values())
    assert "ninja-from-env" not in repr(tools)


def test_a_missing_secret_is_a_placeholder_in_sandbox_mode(tmp_path: Path) -> None:
    path = with_intake(tmp_path, '[intake.tools]\nninjaone = "env:ONCALL_NINJAONE_SECRET"\n')
    hook = load_config(path, env={}).intake_tools["ninjaone"]
    assert (hook.secret, hook.is_sandbox_default) == ("sandbox-ninjaone", True)


@pytest.mark.parametrize(
    ("table", "where", "reason"),
    [
        (
            '[intake.tools]\nninjaone = "env:ONCALL_NINJAONE_SECRET"\n',
            "intake.tools.ninjaone",
            "ONCALL_NINJAONE_SECRET is not set or empty; live mode needs the NinjaOne webhook "
            "secret",
        ),
        ('[intake.tools]\nkaseya = "x"\n', "intake.tools.kaseya", "unknown tool (tools: "),
        ("[intake.tools]\ndatto = 12\n", "intake.tools.datto", "expected 'env:NAME'"),
        ('[intake.tools]\ndatto = "vault:datto"\n', "intake.tools.datto", "unknown secret source"),
        (
            '[intake]\nsmtp = "127.0.0.1:2525"\n',
            "intake.smtp",
            "unknown key (allowed: tools, email)",
        ),
        ('[intake]\ntools = "ninjaone"\n', "intake.tools", "expected a table"),
        ('intake = "ninjaone"\n', "intake", "expected a table"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, table: str, where: str, reason: str) -> None:
    path = write_config(tmp_path, LIVE_MODE)
    text = path.read_text(encoding="utf-8")
    # A bare key must come before the first table; a table can go at the end.
    text = table + text if table.startswith("intake =") else text + "\n" + table
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=LIVE_ENV)
    assert caught.value.where == where
    assert caught.value.path == str(path)
    assert reason in caught.value.message
