"""Which techs a rotation event names.

An event names techs in SUMMARY, ATTENDEE (the mailto address, else its CN) and DESCRIPTION,
each matched case-insensitively against a tech's id, name or e-mail
(:meth:`oncall.config.Tech.matches`). SUMMARY and DESCRIPTION may list several names:
"alice, bob", "Alice & Bob", "alice and bob", one name per line. An event naming nobody we
know names no techs: an *empty shift*.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import icalendar

from oncall.config import Tech

# "alice, bob", "Alice & Bob", "alice and bob", one name per line.
_NAME_SEPARATORS = re.compile(r"\s*(?:,|&|\r?\n|\band\b)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class EventNames:
    """The texts an event names its techs with, read once when the calendar is expanded."""

    summary: str
    attendees: tuple[tuple[str, str | None], ...]  # (address, CN)
    description: str

    @classmethod
    def of(cls, component: icalendar.Component) -> EventNames:
        attendees = component.get("ATTENDEE")
        found = []
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            if attendee is not None:
                cn = getattr(attendee, "params", {}).get("CN")
                found.append((str(attendee), str(cn) if cn else None))
        return cls(
            summary=_text(component, "SUMMARY"),
            attendees=tuple(found),
            description=_text(component, "DESCRIPTION"),
        )

    def tech_ids(self, techs: Mapping[str, Tech]) -> tuple[str, ...]:
        """Tech ids named by SUMMARY, then ATTENDEEs, then DESCRIPTION, without repeats."""
        found: list[str] = []

        def add(name: str) -> bool:
            matched = False
            for tech in techs.values():
                if tech.matches(name):
                    matched = True
                    if tech.id not in found:
                        found.append(tech.id)
            return matched

        def add_list(text: str) -> None:
            if text.strip() and not add(text):
                for part in _NAME_SEPARATORS.split(text):
                    if part.strip():
                        add(part)

        add_list(self.summary)
        for address, cn in self.attendees:
            if not add(address) and cn:
                add(cn)
        add_list(self.description)
        return tuple(found)


def _text(component: icalendar.Component, prop_name: str) -> str:
    value = component.get(prop_name)
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)
