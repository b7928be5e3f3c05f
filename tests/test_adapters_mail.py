"""E-mailed alerts as tables: subjects to severity/status/dedup key, bodies in every shape an
RMM or backup tool sends (plain, multipart, HTML only, quoted-printable, encoded subjects)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from oncall.adapters.mail import (
    client_for_recipient,
    html_to_text,
    normalise_subject,
    parse_mail,
    subject_status,
)
from oncall.intake import AlertError


def mail(
    subject: str | None,
    text: str | None = None,
    *,
    html: str | None = None,
    sender: str = "Backup Server <backup@client.example>",
    cte: str | None = None,
    mailer: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "testco@oncall.local"
    if subject is not None:
        message["Subject"] = subject
    if mailer:
        message["X-Mailer"] = mailer
    if text is not None:
        message.set_content(text, cte=cte) if cte else message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    return bytes(message)


@pytest.mark.parametrize(
    ("subject", "severity", "status"),
    [
        ("** PROBLEM Service Alert: srv01/Disk C is CRITICAL **", "critical", "triggered"),
        ("** RECOVERY Service Alert: srv01/Disk C is OK **", "info", "resolved"),
        ("[Failed] Backup job Nightly (3 VMs)", "error", "triggered"),
        ("[Success] Backup job Nightly (3 VMs)", "info", "resolved"),
        ("Backup job Nightly completed with warnings", "warning", "triggered"),
        ("RESOLVED: Server FS01 down", "info", "resolved"),
        ("Internet link OFFLINE at Main St", "critical", "triggered"),
        ("Weekly patch report", "info", "triggered"),
        ("Okta sync report", "info", "triggered"),  # 'ok' only as a whole word
        ("Upgrade available", "info", "triggered"),  # 'up' only as a whole word
    ],
)
def test_subject_words_set_severity_and_status(subject: str, severity: str, status: str) -> None:
    assert subject_status(subject) == (severity, status)


@pytest.mark.parametrize(
    ("problem", "recovery"),
    [
        (
            "** PROBLEM Service Alert: srv01/Disk C is CRITICAL **",
            "** RECOVERY Service Alert: srv01/Disk C is OK **",
        ),
        (
            "Re: [Veeam] Backup job Nightly FAILED 2026-11-28 03:00",
            "[Success] Backup job Nightly 2026-11-29 03:00",
        ),
        ("Disk C: on FS01 91% full - WARNING", "Disk C: on FS01 72% full - OK"),
    ],
)
def test_problem_and_recovery_mails_share_a_condition(problem: str, recovery: str) -> None:
    assert normalise_subject(problem) == normalise_subject(recovery)
    assert normalise_subject(problem)


def test_different_hosts_stay_different_conditions() -> None:
    assert normalise_subject("srv01 is DOWN") != normalise_subject("srv02 is DOWN")


@pytest.mark.parametrize(
    ("address", "client"),
    [
        ("testco@oncall.local", "testco"),
        ("<TestCo@alerts.example-msp.com>", "testco"),
        ("testco+veeam@oncall.local", "testco"),
        ("harbor@oncall.local", "harbor"),
        ("nobody@oncall.local", None),
        ("testco", None),
        ("", None),
    ],
)
def test_recipient_local_part_is_the_client(address: str, client: str | None) -> None:
    assert client_for_recipient(address, ["testco", "harbor"]) == client


def test_plain_mail() -> None:
    raw = mail(
        "PROBLEM: FS01 is DOWN",
        "The file server stopped answering.\nHost: FS01\nChecked at 02:00.",
    )
    alert = parse_mail("testco", raw)
    assert alert.client == "testco"
    assert alert.source == "email"
    assert (alert.severity, alert.status) == ("critical", "triggered")
    assert alert.summary == "PROBLEM: FS01 is DOWN"
    assert alert.host == "FS01"
    assert "The file server stopped answering." in alert.details
    assert alert.details.startswith("from: Backup Server <backup@client.example>")
    assert alert.dedup_key == "email:backup@client.example:fs01 is"


def test_multipart_prefers_the_plain_part() -> None:
    raw = mail(
        "Backup job Nightly FAILED",
        "Plain: job Nightly failed on VM sql01.",
        html="<p>HTML: job <b>Nightly</b> failed</p>",
    )
    alert = parse_mail("testco", raw)
    assert "Plain: job Nightly failed on VM sql01." in alert.details
    assert "HTML:" not in alert.details
    assert alert.severity == "error"


def test_html_only_mail_becomes_text() -> None:
    html = (
        "<html><head><style>td {color: red}</style><title>x</title></head><body>"
        "<h1>Backup job Nightly</h1><table><tr><td>Status</td><td>Failed</td></tr>"
        "<tr><td>Device:</td><td>sql01</td></tr></table><p>Details &amp; log</p>"
        "<script>alert(1)</script></body></html>"
    )
    alert = parse_mail("testco", mail("[Failed] Backup job Nightly", html=html))
    assert "Backup job Nightly" in alert.details
    assert "Status Failed" in alert.details
    assert "Details & log" in alert.details
    assert "color: red" not in alert.details and "alert(1)" not in alert.details


def test_html_to_text_keeps_block_lines() -> None:
    assert html_to_text("<p>one</p><p>two<br>three</p>") == "one\n\ntwo\nthree"


def test_quoted_printable_body_is_decoded() -> None:
    text = "Température du serveur élevée: 85°C sur srv01 — seuil dépassé " + "x" * 80
    raw = mail("WARNING temperature", text, cte="quoted-printable")
    assert b"quoted-printable" in raw and "élevée".encode() not in raw
    alert = parse_mail("testco", raw)
    assert "Température du serveur élevée: 85°C" in alert.details
    assert alert.severity == "warning"


def test_encoded_subject_is_decoded() -> None:
    raw = (
        b"From: alerts@ninjarmm.com\r\nTo: testco@oncall.local\r\n"
        b"Subject: =?utf-8?b?Q1JJVElDQUw6IFNlcnZldXIgw6ltZXR0ZXVyIGhvcnMgbGlnbmU=?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nBody\r\n"
    )
    alert = parse_mail("testco", raw)
    assert alert.summary == "CRITICAL: Serveur émetteur hors ligne"
    assert alert.severity == "critical"
    assert alert.source == "ninjaone"  # recognised from the sender's domain


@pytest.mark.parametrize(
    ("sender", "mailer", "source"),
    [
        ("Datto RMM <noreply@centrastage.net>", None, "datto"),
        ("alerts@example.com", "N-able N-central", "ncentral"),
        ("Veeam Backup <vbr@client.example>", None, "veeam"),
        ("someone@client.example", None, "email"),
    ],
)
def test_sender_names_the_tool(sender: str, mailer: str | None, source: str) -> None:
    assert parse_mail("testco", mail("Alert", "x", sender=sender, mailer=mailer)).source == source


def test_resolved_mail_resolves_the_same_condition() -> None:
    failed = parse_mail("testco", mail("[Failed] Backup job Nightly 2026-11-28", "x"))
    success = parse_mail("testco", mail("[Success] Backup job Nightly 2026-11-29", "y"))
    assert (failed.status, success.status) == ("triggered", "resolved")
    assert failed.dedup_key == success.dedup_key


def test_no_subject_uses_the_first_body_line() -> None:
    alert = parse_mail("testco", mail(None, "\n\nUPS on battery at Main St\nmore"))
    assert alert.summary == "UPS on battery at Main St"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"From: a@b.example\r\nTo: testco@x\r\n\r\n", "no subject and no text"),
        (
            b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=no-such-cs"
            b"\r\n\r\nbody\r\n",
            "cannot decode",
        ),
    ],
)
def test_unreadable_mail_is_an_alert_error(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertError, match=reason):
        parse_mail("testco", raw)
