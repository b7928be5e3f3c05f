"""Alert secrets: env:, file:, credential: and literal sources; missing ones in live and sandbox mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall.errors import ConfigError


@pytest.mark.parametrize(
    ("reference", "env", "files", "expected", "source"),
    [
        ("env:HOOK", {"HOOK": " from-env \n"}, {}, "from-env", "env:HOOK"),
        ("file:secrets/acme.txt", {}, {"secrets/acme.txt": "from-file\n"}, "from-file", None),
        (
            "credential:acme-hook",
            {"CREDENTIALS_DIRECTORY": "{creds}"},
            {"creds/acme-hook": "from-credential\n"},
            "from-credential",
            "credential:acme-hook",
        ),
        ("k8Zq2LrX0vT4pN7w", {}, {}, "k8Zq2LrX0vT4pN7w", "literal"),
    ],
)
def test_alert_secret_sources(
    tmp_path: Path,
    reference: str,
    env: dict[str, str],
    files: dict[str, str],
    expected: str,
    source: str | None,
) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content, encoding="utf-8")
    env = {key: value.replace("{creds}", str(tmp_path / "creds")) for key, value in env.items()}
    front = MINIMAL.replace('"env:ONCALL_SECRET_ACME"', f'"{reference}"')
    sop = load(write_sop(tmp_path, front), env=env, sandbox=False)
    assert sop.alert_secret == expected
    assert not sop.alert_secret_is_sandbox_default
    assert sop.alert_secret_source == (source or f"file:{tmp_path / 'secrets/acme.txt'}")


@pytest.mark.parametrize(
    ("reference", "env", "mentions"),
    [
        ('"env:ONCALL_SECRET_ACME"', {}, "ONCALL_SECRET_ACME"),
        ('"env:ONCALL_SECRET_ACME"', {"ONCALL_SECRET_ACME": "  "}, "ONCALL_SECRET_ACME"),
        ('"file:missing.txt"', {}, "missing.txt"),
        ('"credential:acme-hook"', {}, "CREDENTIALS_DIRECTORY"),
        ('"credential:acme-hook"', {"CREDENTIALS_DIRECTORY": "/nonexistent"}, "acme-hook"),
        (None, {}, "missing"),
    ],
)
def test_missing_secret_is_an_error_in_live_mode_and_a_placeholder_in_sandbox(
    tmp_path: Path, reference: str | None, env: dict[str, str], mentions: str
) -> None:
    if reference is None:
        front = MINIMAL.replace('alert_secret = "env:ONCALL_SECRET_ACME"\n', "")
    else:
        front = MINIMAL.replace('"env:ONCALL_SECRET_ACME"', reference)
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path, env=env, sandbox=False)
    assert caught.value.path == str(path)
    assert caught.value.where == "alert_secret"
    assert mentions in caught.value.message
    sop = load(path, env=env, sandbox=True)
    assert sop.alert_secret == "sandbox-acme"
    assert sop.alert_secret_is_sandbox_default
