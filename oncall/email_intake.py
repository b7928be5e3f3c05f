"""E-mail intake: an SMTP listener (aiosmtpd) in the daemon's event loop, one alert per mail.

The shell around `oncall.adapters.mail`. At RCPT TO a recipient whose local part is no client
id is refused with 550, so the sending MTA bounces the mail to its sender instead of it
vanishing. At DATA each recipient client gets the mail: a readable one goes to the engine
(classified against that client's SOP like any alert); an unreadable one is stored raw with
the reason (`Engine.reject_alert`) and still answered 250, since a sender that retried it would
only fail again. A mail larger than `max_size` is refused with 552; an error while recording
is answered 451, so the sender's MTA keeps the mail and tries again later.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from oncall.adapters.mail import client_for_recipient, parse_mail
from oncall.email_settings import EmailIntakeSettings
from oncall.engine import Engine
from oncall.intake import AlertError

log = structlog.get_logger(__name__)


class EmailHandler:
    """aiosmtpd's handler hooks: check recipients, turn each mail into alerts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        client = client_for_recipient(address, self.engine.catalog.sops)
        if client is None:
            log.warning("email.unknown_recipient", recipient=address, peer=str(session.peer))
            return f"550 5.1.1 <{address}>: no such client (the local part must be a client id)"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        clients = dict.fromkeys(
            client
            for address in envelope.rcpt_tos
            if (client := client_for_recipient(address, self.engine.catalog.sops)) is not None
        )
        if not clients:  # the SOP was removed by a reload between RCPT and DATA
            return "554 5.1.1 no valid recipients"
        try:
            answers = [self._take(client, raw) for client in clients]
        except Exception:  # noqa: BLE001 - the sender must keep the mail and retry
            log.exception("email.record_failed", clients=list(clients))
            return "451 4.3.0 could not record the alert; try again later"
        await self.engine.store.durable()  # committed before the sender may forget it
        return "250 " + "; ".join(answers)

    def _take(self, client: str, raw: bytes) -> str:
        try:
            alert = parse_mail(client, raw)
        except AlertError as exc:
            alert_id = self.engine.reject_alert(client, raw, f"e-mail: {exc}")
            log.warning("email.unreadable", client=client, alert_id=alert_id, error=str(exc))
            return f"stored unread as alert {alert_id} for {client}"
        outcome = self.engine.receive_alert(alert, raw)
        log.info(
            "email.received",
            client=client,
            alert_id=outcome.alert_id,
            action=outcome.decision.action,
            incident_id=outcome.incident_id,
        )
        return f"alert {outcome.alert_id} for {client}: {outcome.decision.action}"


class EmailListener:
    """The listening socket; `stop` closes it and waits for open sessions to end."""

    def __init__(self, server: asyncio.Server, url: str) -> None:
        self.server = server
        self.url = url

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_email_intake(engine: Engine, settings: EmailIntakeSettings) -> EmailListener:
    """Listen for SMTP on `settings.listen` in the running loop."""
    loop = asyncio.get_running_loop()
    handler = EmailHandler(engine)

    def session() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=settings.max_size,
            hostname=settings.hostname,
            ident="oncall e-mail intake",
            timeout=60,
            loop=loop,
        )

    host, port = settings.listen
    server = await loop.create_server(session, host, port)
    bound: Any = server.sockets[0].getsockname()
    listener = EmailListener(server, f"smtp://{host}:{bound[1]}")
    log.info("email.listening", url=listener.url, max_size=settings.max_size)
    return listener
