"""Outgoing mail: `[smtp]` settings (secret password, every error names its key) and real SMTP
sessions against a loopback aiosmtpd server: plain, STARTTLS and implicit TLS, with a login."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from harness import free_port
from mail_sink import mail_sink, tls_pair

from oncall import mailer
from oncall.errors import ConfigError
from oncall.mailer import MailError, SmtpSettings, parse_smtp_settings

PATH = Path("/etc/oncall/config.toml")
BASE = {"host": "127.0.0.1", "from": "oncall@msp.example"}


def settings(port: int, **changes: object) -> SmtpSettings:
    plain = SmtpSettings(
        host="127.0.0.1",
        port=port,
        security="none",
        sender="oncall <oncall@msp.example>",
        timeout=timedelta(seconds=5),
    )
    return replace(plain, **changes)  # type: ignore[arg-type]


def test_absent_table_means_no_mail() -> None:
    assert parse_smtp_settings(None, PATH, {}, sandbox=False) is None


def test_defaults_and_ports_follow_the_security() -> None:
    for security, port in (("starttls", 587), ("ssl", 465), ("none", 25)):
        parsed = parse_smtp_settings(BASE | {"security": security}, PATH, {}, sandbox=False)
        assert parsed is not None and (parsed.security, parsed.port) == (security, port)
    parsed = parse_smtp_settings(BASE, PATH, {}, sandbox=False)
    assert parsed is not None and parsed.security == "starttls" and parsed.username is None


def test_the_password_is_a_secret_reference_and_stays_out_of_repr(tmp_path) -> None:
    raw = BASE | {"username": "oncall", "password": "env:SMTP_PW", "port": 2525}
    parsed = parse_smtp_settings(raw, PATH, {"SMTP_PW": "hunter2"}, sandbox=False)
    assert parsed is not None and parsed.password == "hunter2"
    assert parsed.password_source == "env:SMTP_PW" and "hunter2" not in repr(parsed)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    from_file = parse_smtp_settings(
        BASE | {"username": "u", "password": f"file:{secret}"}, PATH, {}, sandbox=False
    )
    assert from_file is not None and from_file.password == "s3cret"
    with pytest.raises(ConfigError) as missing:
        parse_smtp_settings(raw, PATH, {}, sandbox=False)
    assert missing.value.where == "smtp.password" and "SMTP_PW" in str(missing.value)
    sandbox = parse_smtp_settings(raw, PATH, {}, sandbox=True)
    assert sandbox is not None and sandbox.password is None


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"from": "a@b.example"}, "smtp.host"),
        ({"host": "mail example", "from": "a@b.example"}, "smtp.host"),
        (BASE | {"security": "tls"}, "smtp.security"),
        (BASE | {"port": 0}, "smtp.port"),
        (BASE | {"port": "25"}, "smtp.port"),
        ({"host": "mail.example"}, "smtp.from"),
        (BASE | {"username": ""}, "smtp.username"),
        (BASE | {"password": "env:X"}, "smtp.password"),
        (BASE | {"timeout": "forever"}, "smtp.timeout"),
        (BASE | {"tls": True}, "smtp.tls"),
        ("mail.example", "smtp"),
    ],
)
def test_bad_settings_name_the_key(raw: object, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_smtp_settings(raw, PATH, {}, sandbox=False)
    assert error.value.where == key and str(PATH) in str(error.value)


def test_plain_smtp_delivers_the_message() -> None:
    with mail_sink() as (sink, port):
        asyncio.run(mailer.send(settings(port), ["desk@msp.example"], "Digest", "three items"))
    (got,) = sink.received
    assert got.rcpt_tos == ["desk@msp.example"] and got.mail_from == "oncall@msp.example"
    assert got.message["Subject"] == "Digest" and got.message["To"] == "desk@msp.example"
    assert "three items" in got.message.get_content()


def test_starttls_with_a_login(tmp_path) -> None:
    server, client = tls_pair(tmp_path)
    with mail_sink(login=("oncall", "pw"), starttls=server) as (sink, port):
        smtp = settings(
            port, security="starttls", username="oncall", password="pw", tls_context=client
        )
        mailer.send_sync(smtp, ["a@msp.example", "b@msp.example"], "s", "b")
        assert sink.received[0].rcpt_tos == ["a@msp.example", "b@msp.example"]
        wrong = replace(smtp, password="nope", password_source="env:SMTP_PW")
        with pytest.raises(MailError) as refused:
            mailer.send_sync(wrong, ["a@msp.example"], "s", "b")
    assert "env:SMTP_PW" in str(refused.value) and "nope" not in str(refused.value)
    assert len(sink.received) == 1


def test_implicit_tls(tmp_path) -> None:
    server, client = tls_pair(tmp_path)
    with mail_sink(implicit_tls=server) as (sink, port):
        mailer.send_sync(
            settings(port, security="ssl", tls_context=client), ["a@msp.example"], "s", "b"
        )
    assert len(sink.received) == 1


def test_failures_are_mail_errors() -> None:
    with mail_sink(refuse=True) as (_, port), pytest.raises(MailError, match="554"):
        mailer.send_sync(settings(port), ["a@msp.example"], "s", "b")
    port = free_port()  # nothing listens there
    with pytest.raises(MailError, match="127.0.0.1"):
        mailer.send_sync(settings(port), ["a@msp.example"], "s", "b")
