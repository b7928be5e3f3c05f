"""Outgoing e-mail: config.toml's `[smtp]` settings and sending one message through them.

    [smtp]
    host = "smtp.example-msp.com"
    port = 587                          # default: 587 starttls, 465 ssl, 25 none
    security = "starttls"               # "starttls" | "ssl" | "none"
    username = "oncall@example-msp.com" # optional: log in when set
    password = "env:ONCALL_SMTP_PASSWORD"  # env:NAME, file:PATH, credential:NAME or literal
    from = "oncall <oncall@example-msp.com>"
    timeout = "30s"

The password is a secret: resolved like the other secrets (oncall.alert_secret), never
logged, never in a repr; errors name where it came from. Sending uses the standard library
(smtplib, email.message) in a worker thread so the event loop never blocks on the network.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from oncall.alert_secret import resolve_secret
from oncall.durations import parse_duration
from oncall.errors import ConfigError

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_KEYS = frozenset({"host", "port", "security", "username", "password", "from", "timeout"})


class MailError(RuntimeError):
    """Sending failed; the message never contains the password."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    sender: str  # the From: header
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_source: str = "none"  # where the password came from (safe to log)
    timeout: timedelta = timedelta(seconds=30)
    # Test servers present self-signed certificates; production verifies them.
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def parse_smtp_settings(
    raw: Any, path: Path, env: Mapping[str, str], sandbox: bool
) -> SmtpSettings | None:
    """From config.toml's `[smtp]` table (None when absent)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(path, "smtp", "expected a table ([smtp])")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(
                path, f"smtp.{key}", f"unknown key (allowed: {', '.join(sorted(_KEYS))})"
            )
    host = raw.get("host")
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host.strip()):
        raise ConfigError(path, "smtp.host", f"expected the mail server's host name, got {host!r}")
    security = raw.get("security", "starttls")
    if security not in SECURITY:
        raise ConfigError(
            path, "smtp.security", f"expected one of {', '.join(SECURITY)}, got {security!r}"
        )
    port = raw.get("port", DEFAULT_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(path, "smtp.port", f"expected a port number, got {port!r}")
    sender = raw.get("from")
    if not isinstance(sender, str) or "@" not in sender:
        raise ConfigError(
            path,
            "smtp.from",
            f"expected the sender address, e.g. oncall@example.com, got {sender!r}",
        )
    username = raw.get("username")
    if username is not None and (not isinstance(username, str) or not username.strip()):
        raise ConfigError(path, "smtp.username", f"expected a user name, got {username!r}")
    password: str | None = None
    source = "none"
    if username is not None:
        value, placeholder, source = resolve_secret(
            raw.get("password"),
            path,
            env,
            sandbox,
            key="smtp.password",
            placeholder="",
            needed="the SMTP password",
        )
        password = None if placeholder else value
    elif "password" in raw:
        raise ConfigError(path, "smtp.password", "set smtp.username too (who logs in)")
    timeout = parse_duration(raw.get("timeout", "30s"), path, "smtp.timeout")
    return SmtpSettings(
        host=host.strip(),
        port=port,
        security=security,
        sender=sender.strip(),
        username=username.strip() if username else None,
        password=password,
        password_source=source,
        timeout=timeout,
    )


def build_message(
    sender: str, to: Sequence[str], subject: str, body: str, domain: str = "oncall"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


def send_sync(settings: SmtpSettings, to: Sequence[str], subject: str, body: str) -> None:
    """Send one plain-text message; raises MailError (the server's answer, never the password)."""
    message = build_message(settings.sender, to, subject, body)
    timeout = settings.timeout.total_seconds()
    context = settings.tls_context or ssl.create_default_context()
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username is not None and settings.password:
                smtp.login(settings.username, settings.password)
            refused = smtp.send_message(message)
        if refused:
            raise MailError(f"recipients refused: {', '.join(sorted(refused))}")
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{settings.host}:{settings.port} refused the login of {settings.username} "
            f"(password from {settings.password_source}): {exc.smtp_code}"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{settings.host}:{settings.port}: {type(exc).__name__}: {exc}") from None


async def send(settings: SmtpSettings, to: Sequence[str], subject: str, body: str) -> None:
    """send_sync in a worker thread."""
    await asyncio.to_thread(send_sync, settings, list(to), subject, body)
