"""What a paging call says and what its keys mean (oncall.voice_pages): pure functions."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from oncall.voice_pages import (
    PageCall,
    is_machine,
    key_action,
    key_path,
    key_result_speech,
    next_round,
    page_path,
    page_speech,
    page_twiml,
    settled_speech,
    speakable,
    spoken_priority,
    voicemail_twiml,
)

BASE = "https://oncall.example.com"
PAGE = PageCall(
    page_id=7,
    incident_id=12,
    kind="page",
    client_name="Acme Manufacturing",
    priority="P1",
    summary="PLC line 3 offline",
    body="[P1] Acme Manufacturing: PLC line 3 offline #12 Reply ACK 12",
)


@pytest.mark.parametrize(
    ("digits", "action"),
    [
        ("1", "ack"),
        ("2", "esc"),
        ("3", "res"),
        ("*", "repeat"),
        ("", "none"),
        (None, "none"),
        ("7", "invalid"),
        ("#", "invalid"),
        ("12", "ack"),
    ],
)
def test_key_action(digits: str | None, action: str) -> None:
    assert key_action(digits) == action


@pytest.mark.parametrize(
    ("action", "round_", "after"),
    [("none", 1, 2), ("none", 2, None), ("repeat", 2, 1), ("invalid", 1, 1)],
)
def test_no_key_repeats_once_then_hangs_up(action: str, round_: int, after: int | None) -> None:
    assert next_round(action, round_) == after


@pytest.mark.parametrize(
    ("answered_by", "machine"),
    [
        ("human", False),
        ("unknown", False),
        (None, False),
        ("machine_start", True),
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("fax", True),
    ],
)
def test_is_machine(answered_by: str | None, machine: bool) -> None:
    assert is_machine(answered_by) is machine


def test_the_page_speaks_client_priority_incident_and_summary() -> None:
    assert page_speech(PAGE) == (
        "This is on-call paging. Priority 1 emergency for Acme Manufacturing, incident 12: "
        "PLC line 3 offline."
    )
    exhausted = page_speech(PageCall(**{**PAGE.__dict__, "kind": "exhausted"}))
    assert exhausted.startswith("This is on-call paging. Nobody has acknowledged incident 12")
    notice = PageCall(**{**PAGE.__dict__, "kind": "notice", "body": "RESOLVED #12 Acme: fixed"})
    assert (
        page_speech(notice)
        == "This is on-call paging with a message. RESOLVED incident 12 Acme: fixed"
    )
    assert spoken_priority("P2") == "priority 2" and spoken_priority(None) == "unprioritised"
    assert speakable("Escalated #12: paging Bob.") == "Escalated incident 12: paging Bob."


def test_page_twiml_gathers_one_key_and_falls_through_to_the_same_action() -> None:
    root = ElementTree.fromstring(page_twiml(PAGE, BASE))
    gather, redirect = list(root)
    action = f"{BASE}/twilio/voice/page/key?page=7&round=1"
    assert gather.tag == "Gather" and gather.get("numDigits") == "1"
    assert gather.get("action") == action and gather.get("method") == "POST"
    assert gather.get("actionOnEmptyResult") == "false" and gather.get("timeout") == "6"
    (say,) = list(gather)
    assert "Priority 1 emergency" in (say.text or "") and "Press 2 to escalate" in (say.text or "")
    assert redirect.tag == "Redirect" and redirect.text == action
    again = ElementTree.fromstring(page_twiml(PAGE, BASE, 2, "Sorry. "))
    assert again[0].get("action").endswith("round=2")
    assert (again[0][0].text or "").startswith("Sorry. Repeating. This is on-call paging.")
    assert page_path(7) == "/twilio/voice/page?page=7" and key_path(7, 2).endswith("round=2")


def test_a_notice_is_read_twice_without_keys_and_a_machine_gets_a_short_message() -> None:
    notice = PageCall(**{**PAGE.__dict__, "kind": "notice", "body": "oncall: Alice opted out"})
    tags = [e.tag for e in ElementTree.fromstring(page_twiml(notice, BASE))]
    assert tags == ["Say", "Pause", "Say", "Hangup"]
    machine = ElementTree.fromstring(voicemail_twiml(PAGE))
    assert [e.tag for e in machine] == ["Say", "Hangup"]
    assert "not acknowledged and is being escalated" in (machine[0].text or "")


def test_what_the_tech_hears_after_a_key() -> None:
    assert key_result_speech("ack", "", 12) == "Incident 12 is acknowledged. You own it."
    assert key_result_speech("res", "", 12) == "Incident 12 is resolved."
    assert key_result_speech("esc", "Escalated #12: paging Carol Diaz.", 12) == (
        "Escalated incident 12: paging Carol Diaz."
    )
    assert settled_speech(12, "Acme", "acknowledged", "Bob Okafor") == (
        "Incident 12 for Acme is already acknowledged by Bob Okafor. Nothing to do."
    )
    assert "already resolved." in settled_speech(12, "Acme", "resolved", None)
