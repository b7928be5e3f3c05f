"""Tests for oncall.shift_names: the texts an event names techs with, matched to tech ids.
(How every form of naming plays out through a calendar file: tests/test_rotations.py.)"""

from __future__ import annotations

import icalendar
import pytest
from calendar_files import TECHS

from oncall.shift_names import EventNames


def component(*lines: str) -> icalendar.Component:
    text = "\r\n".join(["BEGIN:VEVENT", *lines, "END:VEVENT"]) + "\r\n"
    return icalendar.Event.from_ical(text)


def test_event_names_are_read_once_from_the_component() -> None:
    names = EventNames.of(
        component(
            "SUMMARY:Alice & Bob",
            "ATTENDEE;CN=Dave Kim:mailto:dave.kim@personal.example",
            "ATTENDEE:mailto:carol@example-msp.com",
            "DESCRIPTION:Call the office first.",
        )
    )
    assert names == EventNames(
        summary="Alice & Bob",
        attendees=(
            ("mailto:dave.kim@personal.example", "Dave Kim"),
            ("mailto:carol@example-msp.com", None),
        ),
        description="Call the office first.",
    )
    assert names.tech_ids(TECHS) == ("alice", "bob", "dave", "carol")
    assert names.tech_ids({}) == ()


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (EventNames("alice, ALICE", (), "alice"), ("alice",)),  # each tech once
        (EventNames("", (), "Bob Okafor\nMallory"), ("bob",)),
        (EventNames("Mallory", (("mailto:nobody@example.com", "Nobody"),), ""), ()),
        (EventNames("  ", (), ""), ()),
    ],
)
def test_tech_ids(names: EventNames, expected: tuple[str, ...]) -> None:
    assert names.tech_ids(TECHS) == expected
