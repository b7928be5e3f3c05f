"""config.toml's `[intake.email]`: where the SMTP listener for e-mailed alerts runs.

    [intake.email]
    listen = "127.0.0.1:2525"      # required to turn e-mail intake on; absent = off
    max_size = 1048576             # bytes per message; a larger one is refused with 552
    hostname = "oncall.example"    # the name in the SMTP greeting (default "oncall")
    allow_remote = false           # a non-loopback listen address needs this set to true

The listener has no authentication: anyone who can connect can raise an alert for a client.
So it listens on loopback, fed by an MTA on the same host, unless `allow_remote` says the
owner has put a firewall in front of it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncall.errors import ConfigError

DEFAULT_MAX_SIZE = 1024 * 1024
_KEYS = frozenset({"listen", "max_size", "hostname", "allow_remote"})


@dataclass(frozen=True)
class EmailIntakeSettings:
    listen: tuple[str, int]
    max_size: int = DEFAULT_MAX_SIZE
    hostname: str = "oncall"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_email_settings(value: Any, path: Path) -> EmailIntakeSettings | None:
    """From `[intake.email]` (None when the table is absent: e-mail intake is off)."""
    from oncall.config import parse_listen  # config imports this module

    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(path, "intake.email", "expected a table ([intake.email])")
    for key in value:
        if key not in _KEYS:
            raise ConfigError(
                path, f"intake.email.{key}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})"
            )
    if "listen" not in value:
        raise ConfigError(
            path, "intake.email.listen", "required: the address to listen on, e.g. 127.0.0.1:2525"
        )
    listen = parse_listen(value["listen"], path, "intake.email.listen")
    allow_remote = value.get("allow_remote", False)
    if not isinstance(allow_remote, bool):
        raise ConfigError(path, "intake.email.allow_remote", "expected true or false")
    if not is_loopback(listen[0]) and not allow_remote:
        raise ConfigError(
            path,
            "intake.email.listen",
            f"{listen[0]} is not a loopback address; the SMTP listener has no authentication, "
            "so feed it from an MTA on this host, or set allow_remote = true behind a firewall",
        )
    max_size = value.get("max_size", DEFAULT_MAX_SIZE)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1024:
        raise ConfigError(
            path, "intake.email.max_size", f"expected a size in bytes (>= 1024), got {max_size!r}"
        )
    hostname = value.get("hostname", "oncall")
    if not isinstance(hostname, str) or not hostname.strip() or any(c.isspace() for c in hostname):
        raise ConfigError(path, "intake.email.hostname", f"expected a host name, got {hostname!r}")
    return EmailIntakeSettings(listen=listen, max_size=max_size, hostname=hostname)
