"""A loopback SMTP server (aiosmtpd in its own thread) that keeps what it receives, for tests
of outgoing mail: plain, STARTTLS or implicit TLS, with or without a login."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from harness import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    """aiosmtpd's handler: keeps every message (or refuses them all)."""

    refuse: bool = False
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse:
            return "554 5.7.1 rejected by the test sink"
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=policy.default),
            )
        )
        return "250 OK"


def tls_pair(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) from a fresh self-signed certificate."""
    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("openssl is not installed")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


@contextmanager
def mail_sink(
    *,
    login: tuple[str, str] | None = None,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    refuse: bool = False,
) -> Iterator[tuple[Sink, int]]:
    """Run a sink on a free loopback port; yields (sink, port)."""
    sink = Sink(refuse=refuse)
    kwargs: dict[str, Any] = {}
    if login is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            return AuthResult(success=ok, handled=False)

        kwargs |= {
            "authenticator": authenticator,
            "auth_required": True,
            "auth_require_tls": starttls is not None or implicit_tls is not None,
        }
    if starttls is not None:
        kwargs |= {"tls_context": starttls, "require_starttls": True}
    port = free_port()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, ssl_context=implicit_tls, **kwargs
    )
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()
