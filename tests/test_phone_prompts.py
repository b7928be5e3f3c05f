"""What the after-hours line says (oncall.phone_prompts): TwiML built with the SDK, pure."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

from oncall import phone_prompts
from oncall.emergency import EmergencyRule

BASE = "https://oncall.example.com"
RULE = EmergencyRule("production-stopped", "P1", "a production line is stopped", (), None, (), ())


def tags(twiml: str) -> list[str]:
    return [element.tag for element in ElementTree.fromstring(twiml)]


def test_the_pin_prompt_gathers_digits_until_pound_and_posts_silence_too() -> None:
    root = ElementTree.fromstring(phone_prompts.ask_pin(BASE))
    gather, redirect = list(root)
    assert gather.get("finishOnKey") == "#" and gather.get("action") == f"{BASE}/twilio/voice/pin"
    assert "enter your company's support PIN" in (gather[0].text or "")
    assert redirect.text == f"{BASE}/twilio/voice/pin"
    retry = ElementTree.fromstring(phone_prompts.ask_pin(BASE, retry=True, tries_left=1))
    assert "You have one more try." in (retry[0][0].text or "")


def test_the_menu_lists_the_emergencies_then_anything_else() -> None:
    root = ElementTree.fromstring(phone_prompts.offer_menu(BASE, [("1", RULE)], intro="Hello."))
    gather = root[0]
    assert gather.get("numDigits") == "1" and gather.get("action") == f"{BASE}/twilio/voice/menu"
    assert gather[0].text == (
        "Hello. Press 1 if a production line is stopped. Press 9 for anything else. "
        "Press star to hear this again."
    )


def test_the_desk_is_dialled_with_an_action_for_when_it_ends() -> None:
    root = ElementTree.fromstring(phone_prompts.dial_desk(BASE, "Acme", "+15550100000"))
    say, dial = list(root)
    assert "Connecting you to our service desk" in (say.text or "")
    assert dial.get("action") == f"{BASE}/twilio/voice/desk" and dial[0].text == "+15550100000"


def test_a_message_is_recorded_after_the_tone() -> None:
    twiml = phone_prompts.take_message(BASE, phone_prompts.message_intro("Monday at 8 AM"))
    assert tags(twiml) == ["Say", "Record", "Say", "Redirect"]
    record = ElementTree.fromstring(twiml)[1]
    assert record.get("action") == f"{BASE}/twilio/voice/recorded"
    assert record.get("maxLength") == "180" and record.get("playBeep") == "true"
    assert "Monday at 8 AM" in (ElementTree.fromstring(twiml)[0].text or "")


def test_what_a_caller_with_an_emergency_hears() -> None:
    within = timedelta(minutes=15)
    assert "An engineer is being paged now; expect a call back within 15 minutes" in (
        phone_prompts.paging_words(within, joined=False, acknowledged=False)
    )
    assert "We already have this emergency" in (
        phone_prompts.paging_words(within, joined=True, acknowledged=False)
    )
    assert "already working on this emergency" in (
        phone_prompts.paging_words(within, joined=True, acknowledged=True)
    )
    assert tags(phone_prompts.goodbye("Thanks.")) == ["Say", "Hangup"]
