"""What the after-hours line says, as TwiML from the twilio SDK's VoiceResponse (pure).

Each prompt that waits for the caller names the URL Twilio posts the answer to (built from
the daemon's public URL); a Gather that gets no key falls through to a Redirect to the same
URL, so the daemon sees (and logs) the silence too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from twilio.twiml.voice_response import VoiceResponse

from oncall import phone_line
from oncall.emergency import EmergencyRule
from oncall.voice_pages import LANGUAGE

PIN_SECONDS = 10
MENU_SECONDS = 8
RECORD_SECONDS = 180
DESK_RING_SECONDS = 30

PIN_PATH = "/twilio/voice/pin"
MENU_PATH = "/twilio/voice/menu"
RECORDED_PATH = "/twilio/voice/recorded"
DESK_PATH = "/twilio/voice/desk"

GREETING = "You have reached the after-hours support line."


def _say(response: VoiceResponse, text: str) -> None:
    response.say(text, language=LANGUAGE)


def ask_pin(
    base_url: str, *, retry: bool = False, tries_left: int = phone_line.MAX_PIN_TRIES
) -> str:
    response = VoiceResponse()
    action = base_url + PIN_PATH
    gather = response.gather(
        input="dtmf",
        action=action,
        method="POST",
        timeout=PIN_SECONDS,
        finish_on_key="#",
        action_on_empty_result=False,
    )
    if retry:
        left = "one more try" if tries_left == 1 else f"{tries_left} more tries"
        text = f"That PIN was not recognised. You have {left}. Please enter your PIN, then pound."
    else:
        text = (
            f"{GREETING} We do not recognise the number you are calling from. Please enter "
            "your company's support PIN, then press pound."
        )
    gather.say(text, language=LANGUAGE)
    response.redirect(action, method="POST")
    return str(response)


def dial_desk(base_url: str, client_name: str, desk: str) -> str:
    """Connect the caller to the desk; the desk sees the caller's own number."""
    response = VoiceResponse()
    _say(response, f"Hello, {client_name}. Connecting you to our service desk.")
    dial = response.dial(action=base_url + DESK_PATH, method="POST", timeout=DESK_RING_SECONDS)
    dial.number(desk)
    return str(response)


def offer_menu(
    base_url: str,
    entries: Iterable[tuple[str, EmergencyRule]],
    *,
    intro: str = "",
) -> str:
    response = VoiceResponse()
    action = base_url + MENU_PATH
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        action=action,
        method="POST",
        timeout=MENU_SECONDS,
        action_on_empty_result=False,
    )
    gather.say(
        (intro + " " if intro else "")
        + phone_line.menu_words(entries)
        + " Press star to hear this again.",
        language=LANGUAGE,
    )
    response.redirect(action, method="POST")
    return str(response)


def greeting(client_name: str) -> str:
    return f"Hello, {client_name}. {GREETING}"


def take_message(base_url: str, intro: str) -> str:
    """Record a message after the tone; the recording and what follows go to RECORDED_PATH."""
    response = VoiceResponse()
    _say(
        response,
        intro.rstrip()
        + " Please leave your name, your company, your phone number and what is happening after the tone. Press pound or hang up when you are done.",
    )
    response.record(
        action=base_url + RECORDED_PATH,
        method="POST",
        max_length=RECORD_SECONDS,
        timeout=10,
        finish_on_key="#",
        play_beep=True,
    )
    # Record falls through here only when nothing at all was recorded.
    _say(response, "We did not receive a message.")
    response.redirect(base_url + RECORDED_PATH, method="POST")
    return str(response)


def goodbye(text: str) -> str:
    response = VoiceResponse()
    _say(response, text.rstrip() + " Goodbye.")
    response.hangup()
    return str(response)


# --------------------------------------------------------------------------- the words


def paging_words(callback_within: timedelta, joined: bool, acknowledged: bool) -> str:
    """What a caller with an emergency hears once the engine has it."""
    minutes = max(1, round(callback_within.total_seconds() / 60))
    back = f"expect a call back within {minutes} minutes"
    if joined and acknowledged:
        return (
            f"Thank you. An engineer is already working on this emergency; {back}. If things "
            "get worse, call again."
        )
    if joined:
        return (
            f"Thank you. We already have this emergency and an engineer is being paged now; "
            f"{back}. If things get worse, call again."
        )
    return (
        f"Thank you. An engineer is being paged now; {back}. If you do not hear from us, call "
        "again."
    )


def message_intro(when: str) -> str:
    return f"Our service desk will deal with your message {when}."


def message_thanks(when: str) -> str:
    return f"Thank you. Your message is recorded, and our service desk will deal with it {when}."
