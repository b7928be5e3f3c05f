"""The after-hours phone line, decided: pure functions of (SOPs, caller, keys, instant).

Which client is calling (caller ID, or the PIN an unknown caller enters), where the call goes
(the service desk inside the client's support window, the emergency menu after hours), what
a key in the menu means, how a phone emergency is classified and described as an event for
the engine, and when a message left after hours will be handled, in the client's words
("Monday at 8 AM"). No I/O: `oncall.phone_calls` records and acts, `oncall.phone_prompts`
says it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers

from oncall.classify import Decision, next_business_start, support_window_status
from oncall.emergency import EmergencyRule
from oncall.intake import Alert
from oncall.sops import Sop

MAX_PIN_TRIES = 3
OTHER_KEY = "9"  # "press 9 for anything else"
REPEAT_KEY = "*"
MAX_MENU_MISSES = 2  # no key twice: take a message rather than hang up on the caller
SOURCE = "phone"  # the Alert source of emergencies chosen on the phone line


@dataclass(frozen=True)
class Route:
    """Where an identified caller goes now."""

    action: str  # "desk" (Dial the service desk) | "menu" | "message"
    desk: str | None  # the number dialled for "desk"
    reason: str  # why, for the log and `oncall explain`
    window: str  # the client's support window that day, in words


@dataclass(frozen=True)
class MenuChoice:
    """What a key pressed in the emergency menu means."""

    kind: str  # "emergency" | "other" | "repeat" | "none" | "invalid"
    rule: EmergencyRule | None = None


# --------------------------------------------------------------------------- who is calling


def normalise(number: str | None, region: str = "US") -> str | None:
    """A caller's number in E.164, or None when it is withheld or unreadable."""
    if not number or not number.strip():
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identify(sops: Mapping[str, Sop], caller: str | None) -> Sop | None:
    """The client whose SOP lists this caller ID."""
    if caller is None:
        return None
    return next((sop for sop in sops.values() if caller in sop.caller_ids), None)


def accepts_pins(sops: Mapping[str, Sop]) -> bool:
    """Whether asking an unknown caller for a PIN can lead anywhere."""
    return any(sop.pin for sop in sops.values())


def pin_owner(sops: Mapping[str, Sop], digits: str | None) -> Sop | None:
    """The client whose PIN this is (compared in constant time)."""
    entered = (digits or "").strip().rstrip("#")
    if not entered:
        return None
    matches = [
        sop
        for sop in sops.values()
        if sop.pin is not None and hmac.compare_digest(sop.pin.encode(), entered.encode())
    ]
    return matches[0] if len(matches) == 1 else None


def unknown_caller_client(sops: Mapping[str, Sop]) -> Sop | None:
    """The client whose chain a voicemail from an unidentified caller pages, if any."""
    return next((sop for sop in sops.values() if sop.phone_line.pages_unknown_callers), None)


# --------------------------------------------------------------------------- where it goes


def route(sop: Sop, at: datetime, default_desk: str | None) -> Route:
    """Inside the support window: the service desk; after hours: the emergency menu."""
    inside, window = support_window_status(sop, at)
    if inside:
        desk = sop.service_desk or default_desk
        if desk is not None:
            return Route("desk", desk, f"inside the support window ({window}): dial {desk}", window)
        reason = (
            f"inside the support window ({window}) but no service desk number is configured "
            "(SOP service_desk or daemon.service_desk): emergency menu offered"
        )
        return Route("menu" if sop.phone_menu else "message", None, reason, window)
    if not sop.phone_menu:
        return Route(
            "message", None, f"outside the support window ({window}); no phone menu", window
        )
    return Route("menu", None, f"outside the support window ({window}): emergency menu", window)


def menu(sop: Sop) -> tuple[tuple[str, EmergencyRule], ...]:
    """The menu: key 1 for the first phone-menu emergency, 2 for the next (at most 8)."""
    return tuple((str(i), rule) for i, rule in enumerate(sop.phone_menu[:8], start=1))


def menu_choice(sop: Sop, digits: str | None) -> MenuChoice:
    key = (digits or "").strip().rstrip("#")
    if not key:
        return MenuChoice("none")
    if key == OTHER_KEY:
        return MenuChoice("other")
    if key == REPEAT_KEY:
        return MenuChoice("repeat")
    rule = dict(menu(sop)).get(key)
    return MenuChoice("emergency", rule) if rule else MenuChoice("invalid")


# --------------------------------------------------------------------------- decisions


def emergency_decision(sop: Sop, rule: EmergencyRule, key: str, at: datetime, why: str) -> Decision:
    """A caller chose an emergency: page, like an alert matching that rule after hours."""
    _, window = support_window_status(sop, at)
    reason = (
        f"{_when(sop, at)}: the caller pressed {key}, emergency {rule.id!r} ({rule.priority}, "
        f"{rule.label}); {why}. Paging."
    )
    return Decision("page", reason, window, rule.id, rule.priority, None)


def message_decision(sop: Sop, at: datetime, why: str) -> Decision:
    """A message left on the line: handled when the support window next opens."""
    _, window = support_window_status(sop, at)
    try:
        opens: datetime | None = next_business_start(sop, at)
    except ValueError:
        opens = None
    when = f"the next business day, {_when(sop, opens)}" if opens else "no business day in sight"
    reason = f"{_when(sop, at)}: {why}; message queued for {when}."
    return Decision("queue", reason, window, None, None, opens)


def desk_decision(route_: Route, sop: Sop, at: datetime) -> Decision:
    return Decision(
        "service_desk", f"{_when(sop, at)}: {route_.reason}.", route_.window, None, None, None
    )


def emergency_event(sop: Sop, rule: EmergencyRule, caller: str | None) -> Alert:
    """The call as an event for the engine: repeated calls about the same emergency join the
    open incident (same dedup key), other calls within the group window join as a storm."""
    who = caller or "withheld number"
    return Alert(
        client=sop.id,
        source=SOURCE,
        severity="critical",
        summary=f"Phone: {rule.label} (caller {who})",
        details=f"The caller chose '{rule.label}' in the after-hours phone menu.",
        dedup_key=f"{SOURCE}:{rule.id}",
    )


def unknown_caller_event(sop: Sop, caller: str | None, recording_url: str | None) -> Alert:
    """A voicemail from a caller nobody could identify, for the catch-all client's chain."""
    who = caller or "withheld number"
    return Alert(
        client=sop.id,
        source=SOURCE,
        severity="critical",
        summary=f"Phone: voicemail from unidentified caller {who}",
        details=f"Three wrong PINs; recording: {recording_url or 'none'}",
        dedup_key=f"{SOURCE}:unknown:{who}",
    )


def unknown_caller_decision(sop: Sop, at: datetime) -> Decision:
    """The catch-all client's window decides: the desk handles it in hours, else page."""
    inside, window = support_window_status(sop, at)
    if inside:
        return Decision(
            "queue",
            f"{_when(sop, at)}: voicemail from an unidentified caller; inside {sop.id}'s "
            f"support window ({window}): queued for the service desk now.",
            window,
            None,
            None,
            at,
        )
    return Decision(
        "page",
        f"{_when(sop, at)}: voicemail from an unidentified caller; {sop.id} pages for unknown "
        f'callers ([phone_line] unknown_callers = "page") and it is after hours ({window}).',
        window,
        "unknown-caller",
        "P2",
        None,
    )


# --------------------------------------------------------------------------- in words


def spoken_when(due: datetime | None, at: datetime, sop: Sop) -> str:
    """When a message will be handled, as the caller hears it, in the client's zone:
    'today at 6 AM', 'tomorrow at 8 AM', 'Monday at 8 AM', 'Monday, January 5 at 8:30 AM'."""
    if due is None:
        return "as soon as our service desk is open"
    local, now = due.astimezone(sop.timezone), at.astimezone(sop.timezone)
    if local - now < timedelta(minutes=1):
        return "shortly"
    clock = local.strftime("%I:%M %p").lstrip("0").replace(":00 ", " ")
    days = (local.date() - now.date()).days
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif days < 7:
        day = local.strftime("%A")
    else:
        day = f"{local:%A}, {local:%B} {local.day}"
    return f"{day} at {clock}"


def menu_words(entries: Iterable[tuple[str, EmergencyRule]]) -> str:
    """'Press 1 if a production line is stopped. … Press 9 for anything else.'"""
    lines = [f"Press {key} if {rule.label.rstrip('.')}." for key, rule in entries]
    lines.append(f"Press {OTHER_KEY} for anything else.")
    return " ".join(lines)


def _when(sop: Sop, at: datetime) -> str:
    local = at.astimezone(sop.timezone)
    return f"{local:%A %Y-%m-%d %H:%M} {local.tzname()}"
