"""Who owns an incident, as pure decisions: who may take it over, what TAKE does, and which
step an acknowledged incident brings in by itself (help desk → engineering).

The tech who acknowledges first owns the incident; a tech paged later (engineering, after
ESC) who acknowledges stops the paging but the owner stays; TAKE or `oncall assign` moves
ownership. No I/O here: oncall/incident_owners.py stores the outcome and sends the notices.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from oncall import escalation
from oncall.escalation import Position
from oncall.sops import EscalationChain
from oncall.texts import duration

# How ownership changed (the `how` of an `incident.owner` event).
BY_ACK, BY_TAKE, BY_ASSIGN = "ack", "take", "assign"

# What TAKE does.
RESOLVED, REFUSED, ALREADY_OWNER, TAKE = "resolved", "refused", "already_owner", "take"


def may_take(
    tech_id: str,
    *,
    paged: Collection[str],
    final_contacts: Collection[str],
    on_call_now: Collection[str],
    named_in_steps: Collection[str],
) -> bool:
    """A tech may take an incident over if they may act on it (paged for it, or a final
    contact), or if they are on call now in a rotation of the SOP's chain or named in a step."""
    return (
        escalation.may_act(tech_id, paged, final_contacts)
        or tech_id in on_call_now
        or tech_id in named_in_steps
    )


def take_decision(state: str, owner: str | None, tech_id: str, allowed: bool) -> str:
    """What `TAKE n` from tech_id does: resolved, refused, already_owner or take."""
    if state == escalation.RESOLVED:
        return RESOLVED
    if not allowed:
        return REFUSED
    if owner == tech_id and state == escalation.ACKNOWLEDGED:
        return ALREADY_OWNER
    return TAKE


@dataclass(frozen=True)
class Engage:
    """The step an acknowledged incident brings in by itself, and after how long."""

    position: Position
    after: timedelta


def engage_target(chain: EscalationChain, current: Position) -> Engage | None:
    """The first step after `current` (same pass) that has engage_after, if any."""
    for index in range(current.step_index + 1, len(chain.steps)):
        after = chain.steps[index].engage_after
        if after is not None:
            return Engage(Position(current.pass_number, index), after)
    return None


def engage_stale(state: str, current: Position, target: Position) -> str | None:
    """Why an engage deadline no longer applies (None: page the step now).

    Only an incident still acknowledged, and not yet at or past the target step, engages:
    a resolved one is done, and one paging again (ESC) is already moving down the chain."""
    if state == escalation.RESOLVED:
        return "resolved"
    if state != escalation.ACKNOWLEDGED:
        return f"incident is {state}"
    if current >= target:
        return "already at or past that step"
    return None


# --------------------------------------------------------------------------- texts


def step_title(label: str | None, index: int) -> str:
    return label or f"step {index + 1}"


def ack_kept_text(number: int, owner_name: str) -> str:
    """To a tech who acknowledged an incident someone else owns (engineering after ESC)."""
    return f"#{number} acknowledged; {owner_name} still owns it. TAKE {number} to take it over."


def engaged_notice(number: int, client_name: str, tech_name: str, label: str | None) -> str:
    """To the owner: the step they escalated to picked the incident up."""
    who = f"{tech_name} ({label})" if label else tech_name
    return f"{who} acknowledged #{number} ({client_name}). You still own it."


def took_text(taker_name: str, number: int, client_name: str) -> str:
    """To the previous owner."""
    return f"{taker_name} took #{number} ({client_name}) from you"


def assigned_away_text(by: str, new_name: str, number: int, client_name: str) -> str:
    return f"{by} assigned #{number} ({client_name}) to {new_name}; you no longer own it"


def assigned_text(by: str, number: int, client_name: str, summary: str) -> str:
    """To the new owner after `oncall assign`."""
    return (
        f"{by} assigned you #{number} ({client_name}): {summary}. You own it. "
        f"RES {number} when resolved, ESC {number} to escalate."
    )


def take_answer(number: int, summary: str, previous_name: str | None) -> str:
    told = f" {previous_name} was told." if previous_name else ""
    return f"You own #{number} now: {summary}.{told} RES {number} when resolved."


def escalated_note(owner_name: str | None, actor_name: str, actor_is_owner: bool) -> str:
    """The line added to the pages of a step an acknowledged incident was escalated to."""
    if actor_is_owner or owner_name is None:
        return f"Escalated by {actor_name}" + (" (owner)" if actor_is_owner else "")
    return f"Escalated by {actor_name}; {owner_name} owns it"


def engage_note(owner_name: str | None, since: timedelta) -> str:
    """The line added to the pages of a step engaged because the incident stayed open."""
    owner = f"{owner_name} (owner)" if owner_name else "the help desk"
    return f"Still open {duration(since)} after ack; {owner} needs you"
