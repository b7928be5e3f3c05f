"""Escalation: the incident state machine and the walk down a client's escalation chain.

Pure functions of (chain, position, who is on call, instant). The engine stores the result and
arms the durable timers; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from oncall.sops import EscalationChain, Step

PAGING = "paging"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
EXHAUSTED = "exhausted"  # every step and repeat went unacknowledged
STATES = (PAGING, ACKNOWLEDGED, RESOLVED, EXHAUSTED)


@dataclass(frozen=True, order=True)
class Position:
    """Where an incident is in its chain: which pass over the steps, which step."""

    pass_number: int
    step_index: int

    def label(self) -> str:
        return f"step {self.step_index + 1}, pass {self.pass_number + 1}"


START = Position(0, 0)


@dataclass(frozen=True)
class StepPlan:
    """The step to page now: who, and when it times out."""

    position: Position
    step: Step
    tech_ids: tuple[str, ...]
    deadline: datetime
    skipped: tuple[str, ...]  # uncovered steps passed over on the way, with why


@dataclass(frozen=True)
class Exhausted:
    """Nobody is left to try: the final contacts get the 'nobody acknowledged' page."""

    final_contacts: tuple[str, ...]
    skipped: tuple[str, ...]


def step_name(step: Step) -> str:
    if step.rotation:
        return f"rotation {step.rotation}"
    return "techs " + ", ".join(step.techs)


def following(chain: EscalationChain, position: Position) -> Position | None:
    """The position after this one; after the last step the chain repeats, then ends."""
    if position.step_index + 1 < len(chain.steps):
        return Position(position.pass_number, position.step_index + 1)
    if position.pass_number < chain.repeats:
        return Position(position.pass_number + 1, 0)
    return None


def plan_from(
    chain: EscalationChain,
    position: Position | None,
    now: datetime,
    who: Callable[[Step], Sequence[str]],
) -> StepPlan | Exhausted:
    """Start at position and find the first step with someone to page.

    `who(step)` answers which tech ids that step reaches right now (a rotation resolved at
    `now`, or the step's fixed techs). A step that reaches nobody is an uncovered step: it is
    skipped at once and the skip is reported rather than waiting out its timeout.
    """
    skipped: list[str] = []
    while position is not None:
        step = chain.steps[position.step_index]
        tech_ids = tuple(dict.fromkeys(who(step)))
        if tech_ids:
            return StepPlan(position, step, tech_ids, now + step.ack_timeout, tuple(skipped))
        skipped.append(f"{position.label()} ({step_name(step)}): nobody on call")
        position = following(chain, position)
    return Exhausted(chain.final_contacts, tuple(skipped))


def after_timeout(
    chain: EscalationChain,
    current: Position,
    now: datetime,
    who: Callable[[Step], Sequence[str]],
) -> StepPlan | Exhausted:
    """The step timed out (or a tech asked to escalate): plan the next one."""
    return plan_from(chain, following(chain, current), now, who)


def may_act(tech_id: str, paged_tech_ids: Collection[str], final_contacts: Collection[str]) -> bool:
    """Only a tech paged for the incident, or one of its final contacts, changes its state."""
    return tech_id in paged_tech_ids or tech_id in final_contacts


def can_acknowledge(state: str) -> bool:
    return state in (PAGING, EXHAUSTED)


def can_escalate(state: str) -> bool:
    # An owner who acknowledged may still hand the incident up the chain.
    return state in (PAGING, ACKNOWLEDGED, EXHAUSTED)


def can_resolve(state: str) -> bool:
    return state in (PAGING, ACKNOWLEDGED, EXHAUSTED)
