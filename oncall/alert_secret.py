"""A client's alert secret: the shared secret their monitoring tool sends with each alert.

An SOP's `alert_secret` names where the secret lives, so the SOP itself can be committed:
`env:NAME` (an environment variable), `file:PATH` (relative to the SOP), `credential:NAME`
(systemd `LoadCredential=`), or the secret itself. Live mode refuses a missing secret; sandbox
mode stands in a placeholder. Messages say where the secret came from, never what it is.
`resolve_secret` is the same resolution for other secrets named this way (config.toml's
`[intake.tools]` webhook secrets).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oncall.errors import ConfigError

SECRET_SOURCES = ("env", "file", "credential")

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def resolve_alert_secret(
    raw: Any, path: Path, client: str, env: Mapping[str, str], sandbox: bool
) -> tuple[str, bool, str]:
    """(secret, is the sandbox default, where it came from)."""
    return resolve_secret(
        raw,
        path,
        env,
        sandbox,
        key="alert_secret",
        placeholder=f"sandbox-{client}",
        needed="the client's alert secret",
    )


def resolve_secret(
    raw: Any,
    path: Path,
    env: Mapping[str, str],
    sandbox: bool,
    *,
    key: str,
    placeholder: str,
    needed: str,
) -> tuple[str, bool, str]:
    """(secret, is the sandbox placeholder, where it came from); errors name `key` in `path`."""
    if raw is None:
        value, source, problem = None, "missing", "missing"
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(
                path,
                key,
                "expected 'env:NAME', 'file:PATH', 'credential:NAME' or the secret itself",
            )
        value, source, problem = _read_secret(raw.strip(), path, env, key)
    if value:
        return value, False, source
    if sandbox:
        return placeholder, True, source
    raise ConfigError(
        path,
        key,
        f"{problem}; live mode needs {needed} (sandbox mode would use a placeholder)",
    )


def _read_secret(
    raw: str, path: Path, env: Mapping[str, str], key: str
) -> tuple[str | None, str, str]:
    """(value or None, source for messages, why it is missing)."""
    scheme, sep, rest = raw.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        return raw, "literal", ""
    scheme = scheme.lower()
    if scheme not in SECRET_SOURCES:
        raise ConfigError(
            path,
            key,
            f"unknown secret source '{scheme}:' (use env:NAME, file:PATH, credential:NAME, "
            "or a literal secret without a 'word:' prefix)",
        )
    rest = rest.strip()
    if not rest:
        raise ConfigError(path, key, f"'{scheme}:' needs a name after the colon")
    if scheme == "env":
        value = env.get(rest, "").strip()
        return value or None, f"env:{rest}", f"environment variable {rest} is not set or empty"
    if scheme == "file":
        secret_path = Path(rest).expanduser()
        if not secret_path.is_absolute():
            secret_path = path.parent / secret_path
        return _read_secret_file(secret_path, f"file:{secret_path}")
    if "/" in rest or rest in (".", ".."):
        raise ConfigError(path, key, f"credential name {rest!r} must be a plain file name")
    directory = env.get("CREDENTIALS_DIRECTORY", "").strip()
    if not directory:
        return (
            None,
            f"credential:{rest}",
            "CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=)",
        )
    value, _, problem = _read_secret_file(Path(directory) / rest, f"credential:{rest}")
    return value, f"credential:{rest}", problem


def _read_secret_file(secret_path: Path, source: str) -> tuple[str | None, str, str]:
    try:
        value = secret_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None, source, f"secret file {secret_path} does not exist"
    except (OSError, UnicodeDecodeError) as exc:
        return None, source, f"cannot read secret file {secret_path}: {exc}"
    if not value:
        return None, source, f"secret file {secret_path} is empty"
    return value, source, ""
