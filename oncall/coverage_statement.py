"""The coverage statement: a client's after-hours coverage model in plain language, from its SOP.

What `oncall sop explain CLIENT` prints: the service-desk window, what qualifies for
after-hours escalation, who is paged in what order with what timeouts, when the help desk
hands off to engineering, who owns client updates and how often, which vendors are
coordinated by whom, and the promised acknowledgment time. The answers a buyer asks for
before signing, as text for a terminal or Markdown for a contract appendix. Pure: the SOP and
the tech names in, text out.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import phonenumbers

from oncall.emergency import PRIORITIES
from oncall.sops import Sop, Step
from oncall.support_window import WEEKDAYS, format_ranges
from oncall.texts import duration

FORMATS = ("text", "md")


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: Sequence[str] = ()
    items: Sequence[str] = field(default_factory=tuple)  # a numbered or bulleted list
    numbered: bool = False
    after: Sequence[str] = ()  # paragraphs after the list


def _span(value: timedelta) -> str:
    """'5m' → '5 minutes', '1h30m' → '1 hour 30 minutes'."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    return " ".join(parts) or duration(value)


def _every(value: timedelta) -> str:
    """'every 30 minutes', 'every hour'."""
    text = _span(value)
    single = text.startswith("1 ") and " " not in text[2:]  # "1 hour", not "1 hour 30 minutes"
    return f"every {text[2:] if single else text}"


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _phone(phone: str) -> str:
    """+15550100000 → '+1 555-010-0000' (as dialled internationally)."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _day(index: int) -> str:
    return WEEKDAYS[index].capitalize()


# --------------------------------------------------------------------------- the sections


def window_section(sop: Sop, desk: str | None) -> Section:
    window = sop.support_window
    runs: list[tuple[int, int, str]] = []  # first day, last day, ranges
    for weekday in range(7):
        ranges = window.hours.get(weekday, ())
        if not ranges:
            continue
        text = format_ranges(ranges)
        if runs and runs[-1][1] == weekday - 1 and runs[-1][2] == text:
            runs[-1] = (runs[-1][0], weekday, text)
        else:
            runs.append((weekday, weekday, text))
    zone = sop.timezone.key
    if not runs:
        return Section(
            "Service-desk window",
            [f"There is no staffed service-desk window for {sop.name}: every hour is after hours."],
        )
    items = [
        f"{_day(first)}{'' if first == last else (' and ' if last == first + 1 else ' to ') + _day(last)}"
        f": {text}"
        for first, last, text in runs
    ]
    closed = [_day(d) for d in range(7) if not window.hours.get(d)]
    paragraphs = [f"Our service desk covers {sop.name} at these hours ({zone} time):"]
    after: list[str] = []
    if closed:
        after.append(f"Closed all day: {_join(closed)}.")
    if window.holiday_country:
        region = window.holiday_country + (
            f"-{window.holiday_subdivision}" if window.holiday_subdivision else ""
        )
        text = f"Closed on the public holidays of {region}"
        if window.not_observed:
            names = sorted(string.capwords(n) for n in window.not_observed)
            text += f", except {_join(names)}, which are normal working days"
        after.append(text + ".")
    if window.extra_closed:
        dates = [d.isoformat() for d in sorted(window.extra_closed)]
        after.append(f"Also closed on {_join(dates)}.")
    if desk:
        after.append(f"During these hours the service desk answers at {_phone(desk)}.")
    after.append("Every other hour is after hours.")
    return Section("Service-desk window", paragraphs, items, after=after)


def emergency_section(sop: Sop) -> Section:
    menu = {rule.id: key for key, rule in enumerate(sop.phone_menu, start=1)}
    items = []
    for rule in sop.emergencies:
        ways = []
        if rule.matches_alerts:
            ways.append("raised by our monitoring")
        if rule.id in menu:
            ways.append(f"reported by phone (after-hours line, menu option {menu[rule.id]})")
        items.append(f"{rule.priority}: {rule.label} — {_join(ways)}")
    line = sop.phone_line
    after = [
        "Anything else that arrives after hours (alerts, calls, voicemails) waits for the "
        "service desk's next opening."
    ]
    callers = (
        "Callers to the after-hours line are identified by caller ID or PIN. A caller who "
        f"reports an emergency is told to expect a call back within {_span(line.callback_within)}"
    )
    if line.live_connect:
        callers += (
            f", or holds for up to {_span(line.hold_limit)} to be connected to the technician "
            "who takes the call"
        )
    after.append(callers + ".")
    if not items:
        return Section(
            "What qualifies for after-hours escalation",
            ["No emergencies are defined: nothing pages a technician after hours."],
            after=after,
        )
    return Section(
        "What qualifies for after-hours escalation",
        ["After hours, only these emergencies page an on-call technician:"],
        items,
        after=after,
    )


def _who(step: Step, names: Mapping[str, str]) -> str:
    if step.rotation:
        return f"Whoever is on call in the {step.rotation} rotation"
    return _join([names.get(t, t) for t in step.techs])


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text.startswith("Whoever") else text


def _how(step: Step) -> str:
    if step.channels == ("sms",):
        return "by text message"
    if step.channels == ("voice",):
        return "by phone call"
    if step.channels == ("sms", "voice"):
        return f"by text message, then a phone call {_span(step.voice_after)} later"
    return "by " + " then ".join(step.channels)


def paging_section(sop: Sop, names: Mapping[str, str]) -> Section:
    chain = sop.escalation
    items = []
    for step in chain.steps:
        label = getattr(step, "label", None)
        head = f"{label[:1].upper()}{label[1:]}: " if label else ""
        who = _lower(_who(step, names)) if label else _who(step, names)
        handoff = (
            "; also paged on a hand-off (see below)"
            if getattr(step, "engage_after", None) is not None
            else ""
        )
        items.append(
            f"{head}{who}, {_how(step)}; waits {_span(step.ack_timeout)} "
            f"for an acknowledgment before the next step{handoff}"
        )
    after = []
    if chain.repeats:
        times = "once more" if chain.repeats == 1 else f"{chain.repeats} more times"
        after.append(f"If nobody acknowledges, the steps are tried {times}.")
    finals = _join([names.get(t, t) for t in chain.final_contacts])
    after.append(
        f"If nobody has acknowledged after that, {finals} {_is(chain.final_contacts)} paged."
    )
    return Section("Who is paged, in what order", ["In this order:"], items, True, after)


def _is(people: Sequence[str]) -> str:
    return "is" if len(people) == 1 else "are"


def handoff_section(sop: Sop, names: Mapping[str, str]) -> Section:
    paragraphs = [
        "The technician who acknowledges owns the incident until it is resolved. They can hand "
        "it to the next step at any time (ESC) and stay the owner; another technician can take "
        "it over (TAKE), and the owner changes."
    ]
    for number, step in enumerate(sop.escalation.steps, start=1):
        after = getattr(step, "engage_after", None)
        if after is None:
            continue
        label = getattr(step, "label", None) or f"step {number}"
        paragraphs.append(
            f"When an acknowledged incident is still open {_span(after)} after the "
            f"acknowledgment, {label} ({_lower(_who(step, names))}) is paged automatically; the help "
            "desk technician stays the owner."
        )
    if len(paragraphs) == 1:
        paragraphs.append("There is no automatic hand-off to engineering in this SOP.")
    return Section("When the help desk hands off to engineering", paragraphs)


def updates_section(sop: Sop) -> Section:
    updates = sop.client_updates
    cadence = getattr(updates, "cadence", None)
    priorities = sorted({rule.priority for rule in sop.emergencies}, key=PRIORITIES.index)
    spans: dict[str, timedelta | None] = {
        p: cadence(p) if cadence is not None else updates.every for p in priorities
    }
    if not any(spans.values()):
        return Section(
            "Client updates", ["No scheduled client updates are part of this SOP's coverage."]
        )
    paragraphs = [
        "The incident owner (the technician who acknowledged, or who took the incident over) "
        "owns client updates: a first message when the incident is acknowledged, updates "
        "while it is open, and a closing message when it is resolved."
    ]
    same = set(spans.values())
    if len(same) == 1 and (only := same.pop()) is not None:
        paragraphs.append(f"Updates are due {_every(only)}.")
    else:
        for priority, span in spans.items():
            paragraphs.append(
                f"{priority}: updates {_every(span)}."
                if span
                else f"{priority}: no scheduled updates."
            )
    grace = getattr(updates, "grace", None)
    if grace is not None and any(spans.values()):
        paragraphs.append(
            f"An update more than {_span(grace)} late is raised with our escalation contacts."
        )
    items = []
    for contact in updates.contacts:
        text = contact.name + (f" — {contact.role}" if contact.role else "")
        only: Any = getattr(contact, "priorities", ())
        if only:
            text += f", for {_join(list(only))} incidents"
        items.append(text)
    if items:
        paragraphs.append("Updates go to:")
    return Section("Client updates", paragraphs, items)


def vendors_section(sop: Sop) -> Section:
    if not sop.vendors:
        return Section("Vendors", ["No third-party vendors are coordinated under this SOP."])
    items = []
    for vendor in sop.vendors:
        text = vendor.name + (f": {vendor.covers}" if vendor.covers else "")
        chase = getattr(vendor, "chase_every", None)
        if chase is not None:
            text += f" (followed up {_every(chase)} while a case is open)"
        items.append(text)
    return Section(
        "Vendors",
        [
            "The incident owner contacts and coordinates these vendors on the client's behalf "
            "and keeps the client informed of their progress:"
        ],
        items,
    )


def promise_section(sop: Sop) -> Section:
    promise = sop.response
    if promise.every is not None:
        text = f"An emergency is acknowledged by a technician within {_span(promise.every)}."
    elif promise.by_priority:
        parts = [f"{p} within {_span(d)}" for p, d in promise.by_priority.items()]
        text = f"Emergencies are acknowledged by a technician: {_join(parts)}."
        missing = [
            rule.priority for rule in sop.emergencies if rule.priority not in promise.by_priority
        ]
        if missing:
            text += f" No time is promised for {_join(sorted(set(missing)))}."
    else:
        return Section(
            "Response time", ["This SOP promises no acknowledgment time ([response] is not set)."]
        )
    return Section(
        "Response time",
        [text, "Measured from the first alert or call to the acknowledgment; reported monthly."],
    )


def sections(sop: Sop, names: Mapping[str, str], desk: str | None) -> list[Section]:
    return [
        window_section(sop, desk),
        emergency_section(sop),
        paging_section(sop, names),
        handoff_section(sop, names),
        updates_section(sop),
        vendors_section(sop),
        promise_section(sop),
    ]


# --------------------------------------------------------------------------- rendering


def coverage_statement(
    sop: Sop, names: Mapping[str, str], desk: str | None = None, fmt: str = "text"
) -> str:
    """The statement as plain text (fmt 'text') or Markdown ('md'). `names`: tech id → name."""
    title = f"After-hours coverage: {sop.name}"
    parts = sections(sop, names, desk)
    if fmt == "md":
        lines = [f"# {title}", ""]
        for section in parts:
            lines += [f"## {section.title}", ""]
            lines += [line for p in section.paragraphs for line in (p, "")]
            if section.items:
                lines += [
                    f"{f'{i}.' if section.numbered else '-'} {item}"
                    for i, item in enumerate(section.items, start=1)
                ]
                lines.append("")
            lines += [line for p in section.after for line in (p, "")]
        return "\n".join(lines).rstrip() + "\n"
    lines = [title, "=" * len(title), ""]
    for section in parts:
        lines += [section.title, "-" * len(section.title)]
        lines += list(section.paragraphs)
        lines += [
            f"  {f'{i}.' if section.numbered else '-'} {item}"
            for i, item in enumerate(section.items, start=1)
        ]
        lines += list(section.after)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
