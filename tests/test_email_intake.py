"""E-mail intake end to end: real SMTP sessions (smtplib) against a running daemon's listener on
127.0.0.1; each mail is recorded, classified against the client's SOP and paged when it is an
after-hours emergency."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from harness import Harness, eventually, free_port, write_config

MAX_SIZE = 4096


@pytest.fixture
def h(tmp_path: Path):
    config = write_config(tmp_path, ack="5m", auto_resolve=True)
    config.write_text(
        config.read_text()
        + f'\n[intake.email]\nlisten = "127.0.0.1:{free_port()}"\nmax_size = {MAX_SIZE}\n'
    )
    with Harness(config) as harness:
        yield harness


def send(h: Harness, subject: str, body: str, to: str = "testco@alerts.example-msp.com") -> Any:
    message = EmailMessage()
    message["From"] = "Veeam Backup <vbr@testco.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return send_raw(h, bytes(message), to)


def send_raw(h: Harness, raw: bytes, to: str) -> Any:
    assert h.daemon.email is not None
    with smtplib.SMTP("127.0.0.1", h.daemon.email.port, timeout=5) as smtp:
        return smtp.sendmail("vbr@testco.example", [to], raw)


def alerts(h: Harness) -> list[dict[str, Any]]:
    return h.query("SELECT * FROM alerts ORDER BY id")


def test_emergency_mail_is_recorded_classified_and_paged(h: Harness) -> None:
    assert send(h, "PROBLEM: FS01 is CRITICAL", "Host: FS01\nThe file server is down.") == {}
    [alert] = alerts(h)
    assert alert["client"] == "testco" and alert["accepted"] == 1
    assert (alert["source"], alert["severity"], alert["host"]) == ("veeam", "critical", "FS01")
    assert alert["summary"] == "PROBLEM: FS01 is CRITICAL"
    assert "Subject: PROBLEM: FS01 is CRITICAL" in alert["raw"]
    assert alert["incident_id"] is not None
    h.phone("alice").expect_sms("FS01 is CRITICAL")


def test_recovery_mail_resolves_the_incident(h: Harness) -> None:
    send(h, "PROBLEM: FS01 is CRITICAL", "Host: FS01")
    h.phone("alice").expect_sms("FS01")
    send(h, "RECOVERY: FS01 is OK", "Host: FS01")
    eventually(lambda: h.incident(1)["state"] == "resolved")
    first, second = alerts(h)
    assert second["status"] == "resolved" and second["dedup_key"] == first["dedup_key"]


def test_non_emergency_mail_is_queued_not_paged(h: Harness) -> None:
    send(h, "Backup job Nightly completed with warnings", "1 VM skipped")
    [alert] = alerts(h)
    assert alert["severity"] == "warning" and alert["incident_id"] is None
    assert '"action": "queue"' in alert["decision"]
    h.phone("alice").expect_no_sms(within=0.3)


def test_unknown_recipient_is_refused_with_550(h: Harness) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(h, "PROBLEM: FS01 is CRITICAL", "x", to="nobody@alerts.example-msp.com")
    [(code, reason)] = refused.value.recipients.values()
    assert code == 550 and b"no such client" in reason
    assert alerts(h) == []


def test_unreadable_mail_is_stored_raw_and_accepted(h: Harness) -> None:
    raw = b"From: vbr@testco.example\r\nTo: testco@x.example\r\n\r\n\r\n"
    assert send_raw(h, raw, "testco@x.example") == {}
    [alert] = alerts(h)
    assert alert["accepted"] == 0 and alert["client"] == "testco"
    assert "no subject and no text" in alert["error"]
    assert "From: vbr@testco.example" in alert["raw"]


def test_mail_over_the_size_limit_is_refused_with_552(h: Harness) -> None:
    # An ESMTP client declares the size at MAIL FROM and is refused there.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(h, "PROBLEM: big", "x" * (MAX_SIZE * 2))
    assert refused.value.smtp_code == 552
    # A plain SMTP (HELO) client finds out at the end of DATA.
    assert h.daemon.email is not None
    with smtplib.SMTP("127.0.0.1", h.daemon.email.port, timeout=5) as smtp:
        smtp.helo("sender.example")
        with pytest.raises(smtplib.SMTPDataError) as too_big:
            lines = (b"x" * 70 + b"\r\n") * (MAX_SIZE // 30)
            smtp.sendmail("vbr@testco.example", ["testco@x.example"], lines)
    assert too_big.value.smtp_code == 552
    assert alerts(h) == []


def test_known_recipient_is_delivered_when_another_is_refused(h: Harness) -> None:
    message = EmailMessage()
    message["From"] = "vbr@testco.example"
    message["Subject"] = "Backup job Nightly FAILED"
    message.set_content("1 VM failed")
    assert h.daemon.email is not None
    with smtplib.SMTP("127.0.0.1", h.daemon.email.port, timeout=5) as smtp:
        refused = smtp.sendmail(
            "vbr@testco.example", ["nobody@x.example", "TestCo+veeam@x.example"], bytes(message)
        )
    assert list(refused) == ["nobody@x.example"] and refused["nobody@x.example"][0] == 550
    [alert] = alerts(h)
    assert (alert["client"], alert["severity"]) == ("testco", "error")
