"""The escalation walk and incident state rules (oncall.escalation): pure functions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from oncall.escalation import (
    ACKNOWLEDGED,
    EXHAUSTED,
    PAGING,
    RESOLVED,
    START,
    STATES,
    Exhausted,
    Position,
    Rung,
    StepPlan,
    after_timeout,
    can_acknowledge,
    can_escalate,
    can_resolve,
    following,
    ladder,
    may_act,
    notice_channel,
    plan_from,
    step_name,
    step_unreachable,
    tech_unreachable,
)
from oncall.sops import EscalationChain, Step

NOW = datetime(2025, 3, 15, 3, 12, tzinfo=UTC)

PRIMARY = Step(rotation="primary", techs=(), ack_timeout=timedelta(minutes=5), channels=("sms",))
BACKUP = Step(
    rotation="backup", techs=(), ack_timeout=timedelta(minutes=10), channels=("sms", "voice")
)
OWNERS = Step(
    rotation=None, techs=("owner", "carol"), ack_timeout=timedelta(minutes=15), channels=("voice",)
)


def chain(*steps: Step, repeats: int = 0, final: tuple[str, ...] = ("owner",)) -> EscalationChain:
    return EscalationChain(steps=steps, final_contacts=final, repeats=repeats)


THREE = chain(PRIMARY, BACKUP, OWNERS, repeats=1)


def on_call(mapping: Mapping[str, Sequence[str]]) -> Callable[[Step], Sequence[str]]:
    """who(step): rotations looked up in `mapping`; fixed techs as listed unless overridden."""

    def who(step: Step) -> Sequence[str]:
        if step.rotation:
            return mapping.get(step.rotation, ())
        return mapping.get("techs", step.techs)

    return who


NOBODY = on_call({"techs": ()})


# -- following ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esc_chain", "position", "expected"),
    [
        (THREE, Position(0, 0), Position(0, 1)),
        (THREE, Position(0, 1), Position(0, 2)),
        (THREE, Position(0, 2), Position(1, 0)),  # the chain repeats
        (THREE, Position(1, 0), Position(1, 1)),
        (THREE, Position(1, 2), None),  # last step of the last pass
        (chain(PRIMARY, BACKUP), Position(0, 1), None),  # repeats=0: one pass only
        (chain(PRIMARY), Position(0, 0), None),
        (chain(PRIMARY, repeats=2), Position(0, 0), Position(1, 0)),
        (chain(PRIMARY, repeats=2), Position(1, 0), Position(2, 0)),
        (chain(PRIMARY, repeats=2), Position(2, 0), None),
    ],
)
def test_following(
    esc_chain: EscalationChain, position: Position, expected: Position | None
) -> None:
    assert following(esc_chain, position) == expected


@pytest.mark.parametrize(("steps", "repeats"), [(1, 0), (3, 0), (3, 1), (2, 3)])
def test_following_walks_every_position_once_in_order(steps: int, repeats: int) -> None:
    esc_chain = chain(*([PRIMARY] * steps), repeats=repeats)
    walked: list[Position] = []
    position: Position | None = START
    while position is not None:
        walked.append(position)
        position = following(esc_chain, position)
    assert walked == [Position(p, s) for p in range(repeats + 1) for s in range(steps)]
    assert walked == sorted(walked)  # Position orders by pass, then step


def test_position_label_is_one_based() -> None:
    assert Position(0, 0) == START
    assert Position(1, 2).label() == "step 3, pass 2"


@pytest.mark.parametrize(
    ("step", "name"),
    [(PRIMARY, "rotation primary"), (OWNERS, "techs owner, carol")],
)
def test_step_name(step: Step, name: str) -> None:
    assert step_name(step) == name


# -- plan_from ------------------------------------------------------------------------------


def test_plan_from_start_pages_the_first_covered_step() -> None:
    plan = plan_from(THREE, START, NOW, on_call({"primary": ["alice"], "backup": ["bob"]}))
    assert plan == StepPlan(
        position=Position(0, 0),
        step=PRIMARY,
        tech_ids=("alice",),
        deadline=NOW + timedelta(minutes=5),
        skipped=(),
    )


@pytest.mark.parametrize(
    ("position", "step", "timeout"),
    [
        (Position(0, 0), PRIMARY, timedelta(minutes=5)),
        (Position(0, 1), BACKUP, timedelta(minutes=10)),
        (Position(1, 2), OWNERS, timedelta(minutes=15)),
    ],
)
def test_deadline_is_now_plus_the_step_ack_timeout(
    position: Position, step: Step, timeout: timedelta
) -> None:
    who = on_call({"primary": ["alice"], "backup": ["bob"]})
    plan = plan_from(THREE, position, NOW, who)
    assert isinstance(plan, StepPlan)
    assert plan.position == position
    assert plan.step == step
    assert plan.deadline == NOW + timeout


def test_uncovered_steps_are_skipped_with_a_reason() -> None:
    plan = plan_from(THREE, START, NOW, on_call({"primary": [], "backup": []}))
    assert isinstance(plan, StepPlan)
    assert plan.position == Position(0, 2)
    assert plan.step == OWNERS
    assert plan.tech_ids == ("owner", "carol")
    assert plan.deadline == NOW + OWNERS.ack_timeout  # the skipped steps cost no time
    assert plan.skipped == (
        "step 1, pass 1 (rotation primary): nobody on call",
        "step 2, pass 1 (rotation backup): nobody on call",
    )


def test_skipping_carries_over_into_the_next_pass() -> None:
    plan = plan_from(THREE, Position(0, 1), NOW, on_call({"primary": ["alice"], "techs": ()}))
    assert isinstance(plan, StepPlan)
    assert plan.position == Position(1, 0)
    assert plan.tech_ids == ("alice",)
    assert plan.skipped == (
        "step 2, pass 1 (rotation backup): nobody on call",
        "step 3, pass 1 (techs owner, carol): nobody on call",
    )


def test_nobody_anywhere_is_exhausted_with_the_final_contacts() -> None:
    result = plan_from(THREE, START, NOW, NOBODY)
    assert isinstance(result, Exhausted)
    assert result.final_contacts == ("owner",)
    assert len(result.skipped) == 6  # 3 steps x 2 passes, each reported
    assert result.skipped[0] == "step 1, pass 1 (rotation primary): nobody on call"
    assert result.skipped[-1] == "step 3, pass 2 (techs owner, carol): nobody on call"


def test_plan_from_no_position_is_exhausted_at_once() -> None:
    calls: list[Step] = []

    def who(step: Step) -> Sequence[str]:
        calls.append(step)
        return ["alice"]

    result = plan_from(chain(PRIMARY, final=("owner", "dave")), None, NOW, who)
    assert result == Exhausted(final_contacts=("owner", "dave"), skipped=())
    assert calls == []


def test_who_is_asked_about_each_step_in_turn() -> None:
    asked: list[str | None] = []

    def who(step: Step) -> Sequence[str]:
        asked.append(step.rotation)
        return ["dave"] if step.rotation is None else []

    plan = plan_from(THREE, START, NOW, who)
    assert isinstance(plan, StepPlan)
    assert asked == ["primary", "backup", None]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (["alice", "bob", "alice"], ("alice", "bob")),
        (["bob", "alice", "bob", "bob"], ("bob", "alice")),  # first-seen order kept
        (("carol", "carol"), ("carol",)),
    ],
)
def test_tech_ids_are_deduplicated_in_order(answer: list[str], expected: tuple[str, ...]) -> None:
    plan = plan_from(chain(PRIMARY), START, NOW, lambda step: answer)
    assert isinstance(plan, StepPlan)
    assert plan.tech_ids == expected


# -- after_timeout --------------------------------------------------------------------------


def test_after_timeout_moves_to_the_next_step() -> None:
    who = on_call({"primary": ["alice"], "backup": ["bob"]})
    later = NOW + timedelta(minutes=5)
    plan = after_timeout(THREE, START, later, who)
    assert isinstance(plan, StepPlan)
    assert plan.position == Position(0, 1)
    assert plan.tech_ids == ("bob",)
    assert plan.deadline == later + BACKUP.ack_timeout
    assert plan.skipped == ()


def test_after_timeout_on_the_last_step_starts_the_next_pass() -> None:
    who = on_call({"primary": ["alice"], "backup": ["bob"]})
    plan = after_timeout(THREE, Position(0, 2), NOW, who)
    assert isinstance(plan, StepPlan)
    assert plan.position == Position(1, 0)
    assert plan.tech_ids == ("alice",)


def test_after_timeout_skips_uncovered_steps() -> None:
    plan = after_timeout(THREE, START, NOW, on_call({"primary": ["alice"], "backup": []}))
    assert isinstance(plan, StepPlan)
    assert plan.position == Position(0, 2)
    assert plan.skipped == ("step 2, pass 1 (rotation backup): nobody on call",)


def test_after_timeout_of_the_last_position_is_exhausted() -> None:
    who = on_call({"primary": ["alice"], "backup": ["bob"]})
    result = after_timeout(THREE, Position(1, 2), NOW, who)
    assert result == Exhausted(final_contacts=("owner",), skipped=())


def test_after_timeout_with_nobody_left_reports_the_skips() -> None:
    result = after_timeout(THREE, Position(1, 0), NOW, NOBODY)
    assert isinstance(result, Exhausted)
    assert result.skipped == (
        "step 2, pass 2 (rotation backup): nobody on call",
        "step 3, pass 2 (techs owner, carol): nobody on call",
    )


def test_a_full_walk_pages_each_covered_step_then_exhausts() -> None:
    who = on_call({"primary": ["alice"], "backup": ["bob", "alice"]})
    now = NOW
    result = plan_from(THREE, START, now, who)
    paged: list[tuple[Position, tuple[str, ...]]] = []
    while isinstance(result, StepPlan):
        paged.append((result.position, result.tech_ids))
        now = result.deadline
        result = after_timeout(THREE, result.position, now, who)
    assert paged == [
        (Position(0, 0), ("alice",)),
        (Position(0, 1), ("bob", "alice")),
        (Position(0, 2), ("owner", "carol")),
        (Position(1, 0), ("alice",)),
        (Position(1, 1), ("bob", "alice")),
        (Position(1, 2), ("owner", "carol")),
    ]
    assert result == Exhausted(final_contacts=("owner",), skipped=())
    assert now == NOW + 2 * (PRIMARY.ack_timeout + BACKUP.ack_timeout + OWNERS.ack_timeout)


# -- who may act, and which state changes are allowed --------------------------------------


@pytest.mark.parametrize(
    ("tech_id", "paged", "final", "expected"),
    [
        ("alice", {"alice", "bob"}, ("owner",), True),
        ("owner", {"alice"}, ("owner",), True),  # a final contact, never paged yet
        ("carol", {"alice", "bob"}, ("owner",), False),
        ("carol", set(), (), False),
        ("Alice", {"alice"}, (), False),  # tech ids are exact
        ("bob", ["alice", "bob"], [], True),  # any collection
    ],
)
def test_may_act(tech_id: str, paged: set[str], final: tuple[str, ...], expected: bool) -> None:
    assert may_act(tech_id, paged, final) is expected


def test_states() -> None:
    assert STATES == (PAGING, ACKNOWLEDGED, RESOLVED, EXHAUSTED)
    assert len(set(STATES)) == 4


@pytest.mark.parametrize(
    ("state", "acknowledge", "escalate", "resolve"),
    [
        (PAGING, True, True, True),
        (ACKNOWLEDGED, False, True, True),  # the owner may still hand it up the chain
        (EXHAUSTED, True, True, True),  # a late ACK after everyone was tried still counts
        (RESOLVED, False, False, False),
    ],
)
def test_state_transition_tables(
    state: str, acknowledge: bool, escalate: bool, resolve: bool
) -> None:
    assert can_acknowledge(state) is acknowledge
    assert can_escalate(state) is escalate
    assert can_resolve(state) is resolve


# --- the channel ladder ----------------------------------------------------------------------


def test_ladder_sends_sms_now_and_calls_voice_after_later() -> None:
    step = Step(
        rotation="primary",
        techs=(),
        ack_timeout=timedelta(minutes=5),
        channels=("sms", "voice"),
        voice_after=timedelta(minutes=2),
    )
    assert ladder(step) == (Rung("sms", timedelta(0)), Rung("voice", timedelta(minutes=2)))
    # A phone that replied STOP gets the call at once instead.
    assert ladder(step, sms_opted_out=True) == (Rung("voice", timedelta(0)),)
    assert ladder(PRIMARY, sms_opted_out=True) == (Rung("voice", timedelta(0)),)
    assert ladder(OWNERS) == (Rung("voice", timedelta(0)),)
    assert notice_channel(False) == "sms" and notice_channel(True) == "voice"


@pytest.mark.parametrize(
    ("states", "unreachable"),
    [
        (["failed"], True),
        (["suppressed"], True),
        (["sent"], False),  # delivered, maybe read: wait for the ack timeout
        (["failed", "pending"], False),  # the call is still to come
        (["sent", "failed"], True),  # texted, then the call went unanswered
        (["failed", "sent"], False),  # the call got through
        (["sent", "answered"], False),
        (["failed", "cancelled"], True),
        (["cancelled"], False),
        ([], False),
    ],
)
def test_tech_unreachable(states: list[str], unreachable: bool) -> None:
    assert tech_unreachable(states) is unreachable


def test_step_unreachable_needs_every_tech_out_of_channels() -> None:
    def rows(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"tech_id": tech, "state": state} for tech, state in pairs]

    assert step_unreachable(rows(("alice", "failed"), ("bob", "sent"), ("bob", "failed")))
    assert not step_unreachable(rows(("alice", "failed"), ("bob", "sent"), ("bob", "pending")))
    assert not step_unreachable([])
