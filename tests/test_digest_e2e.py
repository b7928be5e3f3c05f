"""The next-business-day queue end to end: on a Saturday night a client leaves a voicemail on
the after-hours line and monitoring sends a non-emergency alert; both wait for Monday. The
daemon is restarted on Monday morning: the durable digest timer fires at the window opening
(08:00 in Chicago), the digest reaches a loopback SMTP server and the service desk's phone in
the sandbox peer, and `oncall queue done` clears the items."""

from __future__ import annotations

import json
from datetime import datetime

from click.testing import CliRunner
from harness import Harness, eventually, write_config
from mail_sink import mail_sink

from oncall.cli import main
from oncall.clock import OffsetClock

CLIENT = "+18155550141"
PHONE_LINE = 'caller_ids = ["+1 815 555 0141"]\npin = "4821"\n'
MONDAY_8 = "2026-11-30T14:00:00.000000Z"  # 08:00 CST


def config(tmp_path, port: int):
    path = write_config(tmp_path, ack="10s", top=PHONE_LINE)
    path.write_text(
        path.read_text()
        + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        + 'from = "oncall@msp.example"\n'
        + '\n[digest]\nemail_to = ["desk@msp.example"]\nsms = true\n'
    )
    return path


def test_a_weekend_queue_reaches_the_desk_on_monday_morning(tmp_path) -> None:
    with mail_sink() as (sink, port):
        path = config(tmp_path, port)
        with Harness(path) as h:  # Saturday 02:00 in Chicago
            call = h.caller(CLIENT).dial().press("9")
            call.leave_message(seconds=45).expect("Monday at 8 AM")
            h.post_alert({"severity": "warning", "summary": "disk 91% on fs1"}).raise_for_status()
            items = eventually(
                lambda: (
                    len(h.query("SELECT * FROM queue")) == 2
                    and h.query("SELECT * FROM queue ORDER BY id")
                )
            )
            voicemail, alert = items
            assert voicemail["kind"] == "call" and alert["kind"] == "alert"
            assert voicemail["summary"] == (
                "Voicemail from +18155550141 (45 s): the caller chose 'anything else'"
            )
            assert voicemail["due_at"] == alert["due_at"] == MONDAY_8
            (timer,) = h.query("SELECT * FROM timers WHERE kind = 'digest' AND done_at IS NULL")
            assert timer["due_at"] == MONDAY_8
            desk = h.catalog.config.service_desk
            assert desk is not None
            h.stranger(desk).expect_no_sms(0.2)
        assert sink.received == []
        monday = OffsetClock.starting_at(datetime.fromisoformat("2026-11-30T08:00:05-06:00"))
        with Harness(path, clock=monday) as h:  # the restart re-arms the overdue digest timer
            phone = h.stranger(desk).expect_sms("oncall digest TestCo: 2 open since Sat 02:00")
            assert "1 voicemail, 1 alert. oncall queue --client testco" in phone.last.body
            eventually(lambda: len(sink.received) == 1)
            eventually(
                lambda: h.query("SELECT email_state FROM digests")[0]["email_state"] == "sent"
            )
            (outbox,) = h.query("SELECT * FROM outbox")
            assert outbox["purpose"] == "digest" and outbox["to_name"] == "service desk"
    (mail,) = sink.received
    assert mail.rcpt_tos == ["desk@msp.example"]
    body = mail.message.get_content()
    assert "Voicemail from +18155550141 (45 s)" in body and "disk 91% on fs1" in body
    assert "Monday 2026-11-30 08:00 CST" in body
    result = CliRunner().invoke(
        main, ["queue", "done", "1", "2", "--config", str(path), "--as", "alice"]
    )
    assert result.exit_code == 0, result.output
    listing = CliRunner().invoke(main, ["queue", "--config", str(path), "--format", "json"])
    assert json.loads(listing.output) == []
