"""Escalation: the incident state machine and the walk down a client's escalation chain.

Pure functions of (chain, position, who is on call, instant). The engine stores the result and
arms the durable timers; nothing here does I/O. Within one step each tech is tried on the
step's channel ladder (`ladder`: SMS now, a voice call `voice_after` later); a step whose
every tech is out of channels (`step_unreachable`) moves on at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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

# Page rows still on their way out (not yet handed to Twilio).
UNSENT = ("pending", "sending")
# Outcomes that reached nobody: Twilio gave up, or the paging budget held the page back.
UNREACHED = ("failed", "suppressed")


@dataclass(frozen=True)
class Rung:
    """One channel of a step's ladder for one tech, and when it goes out after the step starts."""

    channel: str  # "sms" | "voice"
    delay: timedelta


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
    """'rotation primary', 'techs owner, carol'; with a label 'engineering: techs owner'."""
    who = f"rotation {step.rotation}" if step.rotation else "techs " + ", ".join(step.techs)
    return f"{step.label}: {who}" if step.label else who


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


def ladder(step: Step, *, sms_opted_out: bool = False) -> tuple[Rung, ...]:
    """The channels one tech is tried on in this step, in order, each `voice_after` after the
    one before. A tech whose phone opted out of SMS (STOP) is called instead, at once."""
    channels = step.channels
    if sms_opted_out:
        channels = tuple(c for c in channels if c != "sms") or ("voice",)
    return tuple(Rung(channel, step.voice_after * i) for i, channel in enumerate(channels))


def notice_channel(sms_opted_out: bool) -> str:
    """Notices (no acknowledgment needed) go by SMS, or by voice to a phone that opted out."""
    return "voice" if sms_opted_out else "sms"


def tech_unreachable(states: Sequence[str]) -> bool:
    """One tech's pages in one step, oldest first: nothing left to send and the latest attempt
    reached nobody (SMS undelivered, call unanswered/busy/failed/voicemail, or held back)."""
    live = [state for state in states if state != "cancelled"]
    return bool(live) and not any(s in UNSENT for s in live) and live[-1] in UNREACHED


def step_unreachable(pages: Iterable[Mapping[str, object]]) -> bool:
    """Every tech of a step is out of channels, so waiting for the ack timeout is pointless.

    `pages` are the step's page rows (tech_id, state), oldest first."""
    by_tech: dict[object, list[str]] = {}
    for page in pages:
        by_tech.setdefault(page["tech_id"], []).append(str(page["state"]))
    return bool(by_tech) and all(tech_unreachable(states) for states in by_tech.values())
