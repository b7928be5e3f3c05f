"""Voice pages: what a paging call says and what each key means, as pure functions.

The call speaks client, priority and summary, then waits for one key: 1 acknowledge,
2 escalate to the next person, 3 resolve, * repeat. With no key the message is repeated once,
then the call ends unacknowledged (the step's ack timeout still runs). An answering machine
gets a short message, and the page counts as not acknowledged. The TwiML comes from the
twilio SDK's VoiceResponse; the URLs Twilio comes back to are built here from the public URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

GATHER_SECONDS = 6
LANGUAGE = "en-US"
KEYS = {"1": "ack", "2": "esc", "3": "res", "*": "repeat"}
MENU = (
    "Press 1 to acknowledge. Press 2 to escalate to the next person. Press 3 to resolve. "
    "Press star to hear this again."
)


@dataclass(frozen=True)
class PageCall:
    """What a paging call is about, read from the incident when the call is answered."""

    page_id: int
    incident_id: int
    kind: str  # "page" | "exhausted" | "notice" | "test" (a test page: no emergency)
    client_name: str
    priority: str | None
    summary: str
    body: str  # the page's text (a notice is read out as it is)


def page_path(page_id: int) -> str:
    """Where Twilio fetches the call's TwiML when it is answered."""
    return "/twilio/voice/page?" + urlencode({"page": page_id})


def key_path(page_id: int, round_: int) -> str:
    """The Gather action: the key pressed, or none after round `round_` of the message."""
    return "/twilio/voice/page/key?" + urlencode({"page": page_id, "round": round_})


def is_machine(answered_by: str | None) -> bool:
    """AnsweredBy from answering-machine detection: machine_start, machine_end_beep, fax, ..."""
    value = (answered_by or "").lower()
    return value.startswith("machine") or value == "fax"


def key_action(digits: str | None) -> str:
    """ack | esc | res | repeat | none (no key before the timeout) | invalid."""
    if not digits:
        return "none"
    return KEYS.get(digits.strip()[:1], "invalid")


def next_round(action: str, round_: int) -> int | None:
    """After no key or a key that only replays: the round to play next, or None to hang up.

    No key repeats the message once; a star (or a key that means nothing) starts again."""
    if action == "none":
        return 2 if round_ < 2 else None
    return 1


def speakable(text: str) -> str:
    """SMS wording read aloud: '#12' is 'incident 12'."""
    return re.sub(r"#(\d+)", r"incident \1", text)


def spoken_priority(priority: str | None) -> str:
    return f"priority {priority[1:]}" if priority and priority[1:].isdigit() else "unprioritised"


def page_speech(call: PageCall) -> str:
    """The message itself: who, how urgent, what."""
    if call.kind == "notice":
        return f"This is on-call paging with a message. {speakable(call.body)}"
    what = call.summary.rstrip(". ")
    if call.kind == "test":
        return (
            f"This is on-call paging with a test page, incident {call.incident_id}, to check "
            "that your phone works. There is no emergency."
        )
    if call.kind == "exhausted":
        return (
            f"This is on-call paging. Nobody has acknowledged incident {call.incident_id}, "
            f"{spoken_priority(call.priority)}, for {call.client_name}: {what}."
        )
    return (
        f"This is on-call paging. {spoken_priority(call.priority).capitalize()} emergency for "
        f"{call.client_name}, incident {call.incident_id}: {what}."
    )


def page_twiml(call: PageCall, base_url: str, round_: int = 1, prefix: str = "") -> str:
    """The message, then one key; no key falls through to the action with no digits."""
    response = VoiceResponse()
    if call.kind == "notice":
        # Nothing to acknowledge: say it twice and hang up.
        response.say(page_speech(call), language=LANGUAGE)
        response.pause(length=1)
        response.say("Again: " + page_speech(call), language=LANGUAGE)
        response.hangup()
        return str(response)
    action = base_url + key_path(call.page_id, round_)
    gather = response.gather(
        num_digits=1,
        action=action,
        method="POST",
        timeout=GATHER_SECONDS,
        action_on_empty_result=False,
    )
    intro = prefix + ("Repeating. " if round_ > 1 else "")
    gather.say(intro + page_speech(call) + " " + MENU, language=LANGUAGE)
    response.redirect(action, method="POST")
    return str(response)


def voicemail_twiml(call: PageCall) -> str:
    """An answering machine picked up: a short message; the page is not acknowledged."""
    response = VoiceResponse()
    if call.kind == "notice":
        response.say(page_speech(call), language=LANGUAGE)
    elif call.kind == "test":
        response.say(
            page_speech(call) + " Reply to the text message to acknowledge it.", language=LANGUAGE
        )
    else:
        response.say(
            f"This is on-call paging. {spoken_priority(call.priority).capitalize()} emergency "
            f"for {call.client_name}, incident {call.incident_id}: {call.summary.rstrip('. ')}. "
            "It is not acknowledged and is being escalated. Check your text messages.",
            language=LANGUAGE,
        )
    response.hangup()
    return str(response)


def goodbye_twiml(text: str) -> str:
    """Say one thing and hang up."""
    response = VoiceResponse()
    response.say(text.rstrip() + " Goodbye.", language=LANGUAGE)
    response.hangup()
    return str(response)


def no_key_speech(incident_id: int) -> str:
    return (
        f"No key pressed. Incident {incident_id} stays open and unacknowledged; reply to the "
        "text message to acknowledge it."
    )


def settled_speech(incident_id: int, client_name: str, state: str, who: str | None) -> str:
    """The incident needs nothing from this tech any more (someone acknowledged or resolved)."""
    done = "resolved" if state == "resolved" else "acknowledged"
    by = f" by {who}" if who else ""
    return f"Incident {incident_id} for {client_name} is already {done}{by}. Nothing to do."


def key_result_speech(handled: str, answer: str, incident_id: int) -> str:
    """What the tech hears after pressing 1, 2 or 3 (the engine's answer, read aloud)."""
    if handled == "ack":
        return f"Incident {incident_id} is acknowledged. You own it."
    if handled == "res":
        return f"Incident {incident_id} is resolved."
    return speakable(answer)
