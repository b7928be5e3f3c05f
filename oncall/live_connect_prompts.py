"""Live connect, the words and TwiML (pure): a caller on hold, and the tech offered the call.

An emergency caller holds in a Twilio queue of their own incident (`<Enqueue>`, with a
`waitUrl` that says "please hold" and, past the SOP's `hold_limit`, `<Leave>`s). The tech who
acknowledges is offered the caller with one key; only that key runs `<Dial><Queue>`, so a
tech's voicemail can never take the caller. All TwiML comes from the twilio SDK's
VoiceResponse; the URLs Twilio comes back to are built here from the public URL.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from oncall.voice_pages import LANGUAGE

HOLD_PATH = "/twilio/voice/hold"  # the queue's waitUrl (?incident=N)
HELD_PATH = "/twilio/voice/held"  # the Enqueue action: the caller left the queue
CONNECT_PATH = "/twilio/voice/connect"  # the tech's key: 1 takes the caller
SCREEN_PATH = "/twilio/voice/screen"  # the call placed to a tech who acknowledged by SMS
HOLD_PAUSE_SECONDS = 15  # between "please hold" lines; Twilio fetches waitUrl again after it
OFFER_SECONDS = 8
ACCEPT_KEY = "1"


def queue_name(incident_id: int) -> str:
    """The Twilio queue a caller with this incident holds in."""
    return f"incident-{incident_id}"


def url(base_url: str, path: str, incident_id: int, **more: str) -> str:
    return f"{base_url}{path}?" + urlencode({"incident": incident_id} | more)


def _say(response: VoiceResponse, text: str) -> None:
    response.say(text, language=LANGUAGE)


def _minutes(span: timedelta) -> int:
    return max(1, round(span.total_seconds() / 60))


def hold(base_url: str, incident_id: int, joined: bool) -> str:
    """The caller chose an emergency nobody has acknowledged: page, and hold in its queue."""
    response = VoiceResponse()
    already = "We already have this emergency and an" if joined else "An"
    _say(
        response,
        f"Thank you. {already} engineer is being paged now. Please stay on the line: when "
        "they answer, we will connect you.",
    )
    response.enqueue(
        queue_name(incident_id),
        action=url(base_url, HELD_PATH, incident_id),
        method="POST",
        wait_url=url(base_url, HOLD_PATH, incident_id),
        wait_url_method="POST",
    )
    return str(response)


def waiting(limit_reached: bool) -> str:
    """The waitUrl: one more "please hold", or leave the queue once the hold limit is up."""
    response = VoiceResponse()
    if limit_reached:
        response.leave()
        return str(response)
    _say(response, "Please continue to hold. We are reaching an engineer for you.")
    response.pause(length=HOLD_PAUSE_SECONDS)
    return str(response)


def left_words(callback_within: timedelta) -> str:
    """A caller whose hold ended without a tech: what to expect now."""
    return (
        "Thank you for holding. The engineer could not take your call yet; expect a call back "
        f"within {_minutes(callback_within)} minutes. If things get worse, call again."
    )


def after_bridge() -> str:
    """The caller's side after talking to the tech."""
    response = VoiceResponse()
    _say(response, "Your call with the engineer has ended. Goodbye.")
    response.hangup()
    return str(response)


def offer(base_url: str, incident_id: int, client_name: str, intro: str, screen: bool) -> str:
    """One key connects the tech to the holding caller; no key (or another key) does not."""
    response = VoiceResponse()
    more = {"screen": "1"} if screen else {}
    gather = response.gather(
        num_digits=1,
        action=url(base_url, CONNECT_PATH, incident_id, **more),
        method="POST",
        timeout=OFFER_SECONDS,
        action_on_empty_result=True,
    )
    verb = "accept" if screen else "be connected to"
    gather.say(
        f"{intro} The caller from {client_name} for incident {incident_id} is holding. "
        f"Press {ACCEPT_KEY} to {verb} the caller.".strip(),
        language=LANGUAGE,
    )
    return str(response)


def screen_intro(client_name: str, incident_id: int) -> str:
    return f"This is on-call paging. You acknowledged incident {incident_id} for {client_name}."


def bridge(incident_id: int) -> str:
    """The tech took the call: join the caller's queue; the call ends when they hang up."""
    response = VoiceResponse()
    _say(response, "Connecting you to the caller.")
    dial = response.dial()
    dial.queue(queue_name(incident_id))
    _say(response, "The call with the caller has ended. Goodbye.")
    response.hangup()
    return str(response)


def not_connected(gone: bool) -> str:
    """The tech did not take the call, or the caller stopped holding first."""
    text = (
        "The caller is no longer holding. Call them back."
        if gone
        else "Not connected. The caller will be told to expect your call back."
    )
    response = VoiceResponse()
    _say(response, text + " Goodbye.")
    response.hangup()
    return str(response)
