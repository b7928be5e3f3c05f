"""The SMS reply grammar (oncall.replies.parse_reply): a pure function, tested as a table."""

from __future__ import annotations

import pytest

from oncall.replies import HELP_TEXT, Reply, parse_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a colon after the number
        ("UPD 1: server back", Reply("upd", 1, "server back")),
        ("RES 1: done", Reply("res", 1, "done")),
        ("VENDOR 1: isp", Reply("vendor", 1, "", "isp")),
        ("VENDOR 1 isp: 8823 on hold", Reply("vendor", 1, "8823 on hold", "isp")),
        ("ACK 12:", Reply("ack", 12)),
        ("UPD 123", Reply("upd", 123, "")),
        # the runbook
        ("SOP 12", Reply("sop", 12)),
        ("runbook #4", Reply("sop", 4)),
        # acknowledge
        ("ACK 12", Reply("ack", 12)),
        ("ack 12", Reply("ack", 12)),
        ("Ack 12", Reply("ack", 12)),
        ("ACK12", Reply("ack", 12)),
        ("ack #7", Reply("ack", 7)),
        ("ACK#7", Reply("ack", 7)),
        ("ACK  \t 12", Reply("ack", 12)),
        ("acknowledge 3", Reply("ack", 3)),
        ("Acknowledged 3", Reply("ack", 3)),
        ("ACK 0012", Reply("ack", 12)),
        ("12A", Reply("ack", 12)),
        ("12a", Reply("ack", 12)),
        ("12 a", Reply("ack", 12)),
        ("12 A", Reply("ack", 12)),
        ("#12a", Reply("ack", 12)),
        # bare ACK: the latest page to this phone, so no incident number
        ("ACK", Reply("ack", None)),
        ("ack", Reply("ack", None)),
        ("Acknowledged", Reply("ack", None)),
        # escalate
        ("ESC 12", Reply("esc", 12)),
        ("esc 12", Reply("esc", 12)),
        ("ESC12", Reply("esc", 12)),
        ("esc #4", Reply("esc", 4)),
        ("Escalate 9", Reply("esc", 9)),
        # resolve, with and without a note
        ("RES 12", Reply("res", 12, "")),
        ("res 12", Reply("res", 12, "")),
        ("Resolve 12", Reply("res", 12, "")),
        ("resolved #12", Reply("res", 12, "")),
        ("RES 12 Replaced the PSU", Reply("res", 12, "Replaced the PSU")),
        ("res 12 rebooted SQL01, OK now", Reply("res", 12, "rebooted SQL01, OK now")),
        ("RES 12   Swapped    the  UPS", Reply("res", 12, "Swapped the UPS")),
        # who / help
        ("WHO", Reply("who")),
        ("who", Reply("who")),
        ("Who", Reply("who")),
        ("ACK ALL", Reply("ack_all")),
        ("ack all.", Reply("ack_all")),
        ("Acknowledge all", Reply("ack_all")),
        ("HELP", Reply("help")),
        ("help", Reply("help")),
        ("info", Reply("help")),
        ("?", Reply("help")),
    ],
)
def test_commands(body: str, expected: Reply) -> None:
    assert parse_reply(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "  ACK 12  ",
        "\nACK 12\n",
        '"ACK 12"',
        "'ACK 12'",
        "\u201cACK 12\u201d",  # curly double quotes
        "\u2018ACK 12\u2019",  # curly single quotes
        "`ACK 12`",
        "ACK 12.",
        "ACK 12!",
        "ACK 12...",
        ' "ACK 12." ',
        "\u201c ack 12 \u201d",
    ],
)
def test_surrounding_spaces_quotes_and_final_punctuation_are_ignored(body: str) -> None:
    assert parse_reply(body) == Reply("ack", 12)


def test_resolve_note_keeps_case_and_drops_final_period() -> None:
    reply = parse_reply("RES 12 Replaced the PSU on FS01.")
    assert reply == Reply("res", 12, "Replaced the PSU on FS01")


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "Stop",
        "stop",
        "STOPALL",
        "unsubscribe",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit",
        "optout",
        "revoke",
        " stop. ",
        '"STOP"',
    ],
)
def test_carrier_opt_out_keywords(body: str) -> None:
    assert parse_reply(body) == Reply("opt_out")


@pytest.mark.parametrize("body", ["START", "start", "Unstop", "YES", " yes! "])
def test_carrier_opt_in_keywords(body: str) -> None:
    assert parse_reply(body) == Reply("opt_in")


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        # Twilio's OptOutType wins over whatever the body says.
        ("ACK 12", "STOP", Reply("opt_out")),
        ("please stop texting me", "STOP", Reply("opt_out")),
        ("ACK 12", "stop", Reply("opt_out")),
        ("ACK 12", " Stop ", Reply("opt_out")),
        ("ESC 3", "START", Reply("opt_in")),
        ("RES 3 done", "HELP", Reply("help")),
        # Absent, empty or unknown OptOutType: the body decides.
        ("ACK 12", None, Reply("ack", 12)),
        ("ACK 12", "", Reply("ack", 12)),
        ("ACK 12", "SOMETHING_NEW", Reply("ack", 12)),
        ("STOP", None, Reply("opt_out")),
    ],
)
def test_opt_out_type_parameter(body: str, opt_out_type: str | None, expected: Reply) -> None:
    assert parse_reply(body, opt_out_type) == expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "hello",
        "on my way",
        "ESC",  # escalate needs an incident number
        "esc #",
        "RES",  # resolve needs an incident number
        "resolve it",
        "12",  # a bare number is not an ACK
        "ACK twelve",
        "ACK 12 please",
        "ACK -3",
        "12 b",
        "WHO IS ON",
        "stop it",  # only the bare keyword is a carrier keyword
        "helpme",
    ],
)
def test_nonsense_is_unknown(body: str) -> None:
    reply = parse_reply(body)
    assert reply.command == "unknown"
    assert reply.incident is None
    assert reply.note == ""


def test_reply_defaults_and_help_text() -> None:
    assert Reply("who") == Reply("who", None, "")
    for command in ("ACK 12", "12A", "ESC 12", "RES 12", "WHO"):
        assert command in HELP_TEXT
