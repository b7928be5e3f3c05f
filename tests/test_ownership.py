"""Ownership decisions (pure): who may take over, what TAKE does, which step is engaged, and
the SOP keys `label` and `engage_after` that describe help desk → engineering."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sop_files import DEFAULTS, MINIMAL, load, write_sop

from oncall import escalation, ownership
from oncall.errors import ConfigError
from oncall.escalation import ACKNOWLEDGED, EXHAUSTED, PAGING, RESOLVED, Position
from oncall.ownership import Engage, engage_stale, engage_target, may_take, take_decision
from oncall.sops import EscalationChain, Step
from oncall.texts import page_text


@pytest.mark.parametrize(
    ("tech", "expected"),
    [
        ("alice", True),  # paged for it
        ("owner", True),  # final contact
        ("carol", True),  # on call now in a rotation of the chain
        ("dave", True),  # named in a step
        ("erin", False),  # none of these
    ],
)
def test_may_take(tech: str, expected: bool) -> None:
    assert (
        may_take(
            tech,
            paged={"alice"},
            final_contacts=("owner",),
            on_call_now={"carol"},
            named_in_steps={"dave"},
        )
        is expected
    )


@pytest.mark.parametrize(
    ("state", "owner", "tech", "allowed", "expected"),
    [
        (RESOLVED, "alice", "bob", True, ownership.RESOLVED),
        (RESOLVED, "alice", "erin", False, ownership.RESOLVED),
        (ACKNOWLEDGED, "alice", "erin", False, ownership.REFUSED),
        (ACKNOWLEDGED, "alice", "alice", True, ownership.ALREADY_OWNER),
        (ACKNOWLEDGED, "alice", "bob", True, ownership.TAKE),
        (PAGING, None, "bob", True, ownership.TAKE),  # TAKE acknowledges too
        (PAGING, "alice", "alice", True, ownership.TAKE),  # owner escalated; takes it back
        (EXHAUSTED, None, "owner", True, ownership.TAKE),
    ],
)
def test_take_decision(
    state: str, owner: str | None, tech: str, allowed: bool, expected: str
) -> None:
    assert take_decision(state, owner, tech, allowed) == expected


def _step(engage: timedelta | None = None, label: str | None = None) -> Step:
    return Step(
        rotation="primary",
        techs=(),
        ack_timeout=timedelta(minutes=5),
        channels=("sms",),
        label=label,
        engage_after=engage,
    )


CHAIN = EscalationChain(
    steps=(_step(), _step(), _step(timedelta(minutes=45), "engineering")),
    final_contacts=("owner",),
    repeats=1,
)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (Position(0, 0), Engage(Position(0, 2), timedelta(minutes=45))),
        (Position(0, 1), Engage(Position(0, 2), timedelta(minutes=45))),
        (Position(1, 0), Engage(Position(1, 2), timedelta(minutes=45))),
        (Position(0, 2), None),  # already at the engineering step
    ],
)
def test_engage_target(current: Position, expected: Engage | None) -> None:
    assert engage_target(CHAIN, current) == expected


def test_no_engage_step_means_no_target() -> None:
    chain = EscalationChain(steps=(_step(), _step()), final_contacts=(), repeats=0)
    assert engage_target(chain, Position(0, 0)) is None


@pytest.mark.parametrize(
    ("state", "current", "stale"),
    [
        (ACKNOWLEDGED, Position(0, 0), None),
        (RESOLVED, Position(0, 0), "resolved"),
        (PAGING, Position(0, 1), "incident is paging"),  # ESC moved it down the chain
        (ACKNOWLEDGED, Position(0, 2), "already at or past that step"),
        (ACKNOWLEDGED, Position(1, 0), "already at or past that step"),
    ],
)
def test_engage_stale(state: str, current: Position, stale: str | None) -> None:
    assert engage_stale(state, current, Position(0, 2)) == stale


def test_step_name_shows_the_label() -> None:
    assert escalation.step_name(_step(label="engineering")) == "engineering: rotation primary"
    assert escalation.step_name(_step()) == "rotation primary"


def test_texts() -> None:
    assert ownership.ack_kept_text(12, "Alice") == (
        "#12 acknowledged; Alice still owns it. TAKE 12 to take it over."
    )
    assert ownership.took_text("Bob", 12, "Acme") == "Bob took #12 (Acme) from you"
    assert ownership.escalated_note("Alice", "Alice", True) == "Escalated by Alice (owner)"
    assert ownership.escalated_note("Alice", "Bob", False) == "Escalated by Bob; Alice owns it"
    assert "Alice (owner)" in ownership.engage_note("Alice", timedelta(minutes=45))
    assert ownership.step_title(None, 1) == "step 2"


def test_a_page_with_a_note_fits_two_segments() -> None:
    body = page_text(12, "Acme", "P1", "x" * 300, "", "Escalated by Alice Nguyen (owner)")
    assert body.startswith("[P1] Acme: xxx") and body.endswith(
        "... Escalated by Alice Nguyen (owner). #12 Reply ACK 12"
    )
    assert len(body) <= 2 * 153
    assert page_text(12, "Acme", "P1", "down", "") == "[P1] Acme: down #12 Reply ACK 12"


# --------------------------------------------------------------------------- SOP keys

ENGAGE_SOP = MINIMAL + (
    'label = "help desk"\n'
    "[[escalation.steps]]\n"
    'label = "engineering"\ntechs = ["owner"]\nengage_after = "45m"\n'
)


def test_sop_label_and_engage_after(tmp_path: Path) -> None:
    sop = load(write_sop(tmp_path, ENGAGE_SOP))
    first, second = sop.escalation.steps
    assert first.label == "help desk" and first.engage_after is None
    assert second.label == "engineering" and second.engage_after == timedelta(minutes=45)
    assert second.ack_timeout == DEFAULTS.ack_timeout


@pytest.mark.parametrize(
    ("old", "new", "where", "fragment"),
    [
        (
            'label = "help desk"\n',
            'label = "help desk"\nengage_after = "10m"\n',
            "escalation.steps[0].engage_after",
            "later step",
        ),
        ('engage_after = "45m"', 'engage_after = "soon"', "escalation.steps[1].engage_after", ""),
        ('label = "engineering"', "label = 3", "escalation.steps[1].label", ""),
    ],
)
def test_sop_engage_errors(tmp_path: Path, old: str, new: str, where: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write_sop(tmp_path, ENGAGE_SOP.replace(old, new, 1)))
    assert info.value.where is not None and where in info.value.where
    assert fragment in str(info.value) and "acme.md" in str(info.value)
