"""classify: support windows in the client's zone, holidays, DST, emergency rules, next opening."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oncall.classify import (
    Decision,
    classify,
    match_emergency,
    next_business_start,
    support_window_status,
)
from oncall.config import Defaults
from oncall.intake import Alert
from oncall.sops import Sop, load_sop

CHICAGO = ZoneInfo("America/Chicago")
DEFAULTS = Defaults(
    ack_timeout=timedelta(minutes=5),
    repeats=1,
    send_retries=3,
    retry_backoff=timedelta(seconds=2),
)
CHAIN = """
[escalation]
final_contacts = ["owner"]
[[escalation.steps]]
rotation = "primary"
"""

# A service desk open Mon-Fri 06:00-22:00 Chicago time, with Illinois holidays.
DESK = (
    """
client = "desk"
name = "Desk client"
timezone = "America/Chicago"
alert_secret = "test-secret"

[support_window]
monday = "06:00-22:00"
tuesday = "06:00-22:00"
wednesday = "06:00-22:00"
thursday = "06:00-22:00"
friday = "06:00-22:00"

[holidays]
country = "US"
subdivision = "IL"
extra = ["2026-12-24"]
not_observed = ["Columbus Day"]

[[emergency]]
id = "production-stopped"
priority = "P1"
label = "production is stopped"
sources = ["ninja*", "prometheus"]
min_severity = "error"
hosts = ["plc-*", "scada-*"]
keywords = ["offline", "line down"]

[[emergency]]
id = "other"
priority = "P2"
label = "something else stops production"
"""
    + CHAIN
)

# A night desk: Monday 22:00 to Tuesday 06:00, Friday evening and all of Saturday.
NIGHT = (
    """
client = "night"
name = "Night client"
timezone = "America/Chicago"
alert_secret = "test-secret"

[support_window]
monday = "22:00-06:00"
friday = "18:00-24:00"
saturday = "00:00-24:00"

[holidays]
extra = ["2026-12-01"]
"""
    + CHAIN
)

# Sunday ranges placed on the DST changes (2026-03-08 and 2026-11-01 in Chicago).
DST = (
    """
client = "dst"
name = "DST client"
timezone = "America/Chicago"
alert_secret = "test-secret"

[support_window]
sunday = ["01:30-01:45", "02:30-10:00"]
"""
    + CHAIN
)

NEVER_OPEN = (
    """
client = "never"
name = "Never open"
timezone = "America/Chicago"
alert_secret = "test-secret"

[support_window]
"""
    + CHAIN
)

# Two rules an alert can both match: the first in the file wins.
ORDER = (
    """
client = "order"
name = "Order client"
timezone = "America/Denver"
alert_secret = "test-secret"

[support_window]

[[emergency]]
id = "plc-critical"
priority = "P1"
label = "a PLC is down"
hosts = ["plc-*"]
min_severity = "critical"

[[emergency]]
id = "any-plc"
priority = "P3"
label = "a PLC problem"
hosts = ["plc-*"]
"""
    + CHAIN
)


@pytest.fixture(scope="module")
def sops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sop]:
    directory = tmp_path_factory.mktemp("sops")
    loaded: dict[str, Sop] = {}
    for name, front_matter in {
        "desk": DESK,
        "night": NIGHT,
        "dst": DST,
        "never": NEVER_OPEN,
        "order": ORDER,
    }.items():
        path = directory / f"{name}.md"
        path.write_text(f"+++{front_matter}+++\n# Runbook\n", encoding="utf-8")
        loaded[name] = load_sop(path, DEFAULTS, env={}, sandbox=False)
    return loaded


def local(*parts: int) -> datetime:
    """A Chicago wall-clock instant (never on an ambiguous or skipped time)."""
    return datetime(*parts, tzinfo=CHICAGO)  # type: ignore[misc]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def alert(**fields: str) -> Alert:
    values = {
        "client": "desk",
        "source": "ninjaone",
        "severity": "critical",
        "summary": "PLC line 3 offline",
        "host": "plc-line3",
    }
    values.update(fields)
    return Alert(**values)


DESK_HOURS = "Monday 06:00-22:00 America/Chicago"


# --------------------------------------------------------------------------- support window


@pytest.mark.parametrize(
    ("client", "at", "inside", "window"),
    [
        # weekday in and out, exactly at open (inside) and exactly at close (outside)
        ("desk", local(2026, 11, 30, 9, 0), True, DESK_HOURS),
        ("desk", local(2026, 11, 30, 5, 59, 59), False, DESK_HOURS),
        ("desk", local(2026, 11, 30, 6, 0), True, DESK_HOURS),
        ("desk", local(2026, 11, 30, 21, 59, 59, 999999), True, DESK_HOURS),
        ("desk", local(2026, 11, 30, 22, 0), False, DESK_HOURS),
        ("desk", local(2026, 12, 2, 12, 0), True, "Wednesday 06:00-22:00 America/Chicago"),
        # the instant may come in any zone; the client's wall clock decides
        ("desk", utc(2026, 11, 30, 12, 0), True, DESK_HOURS),  # 06:00 CST
        ("desk", utc(2026, 11, 30, 11, 59, 59), False, DESK_HOURS),
        ("desk", utc(2026, 7, 6, 11, 0), True, "Monday 06:00-22:00 America/Chicago"),  # CDT
        ("desk", utc(2026, 7, 6, 10, 59), False, "Monday 06:00-22:00 America/Chicago"),
        ("desk", utc(2026, 12, 1, 3, 59), True, DESK_HOURS),  # Monday 21:59 CST
        # weekend
        ("desk", local(2026, 11, 28, 10, 0), False, "Saturday: closed"),
        ("desk", local(2026, 11, 29, 23, 59), False, "Sunday: closed"),
        # holidays: public, extra, and one the client does not observe
        ("desk", local(2026, 11, 26, 10, 0), False, "holiday: Thanksgiving Day"),
        ("desk", local(2026, 7, 3, 10, 0), False, "holiday: Independence Day (observed)"),
        ("desk", local(2026, 12, 24, 10, 0), False, "holiday: extra closed date 2026-12-24"),
        ("desk", local(2026, 10, 12, 10, 0), True, "Monday 06:00-22:00 America/Chicago"),
        # overnight range: Monday 22:00 runs into Tuesday 06:00
        ("night", local(2026, 11, 23, 23, 0), True, "Monday 22:00-24:00 America/Chicago"),
        ("night", local(2026, 11, 23, 21, 59), False, "Monday 22:00-24:00 America/Chicago"),
        ("night", local(2026, 11, 24, 0, 0), True, "Tuesday 00:00-06:00 America/Chicago"),
        ("night", local(2026, 11, 24, 3, 0), True, "Tuesday 00:00-06:00 America/Chicago"),
        ("night", local(2026, 11, 24, 6, 0), False, "Tuesday 00:00-06:00 America/Chicago"),
        ("night", local(2026, 11, 22, 23, 0), False, "Sunday: closed"),
        # a holiday closes the after-midnight part of the range too
        ("night", local(2026, 11, 30, 23, 0), True, "Monday 22:00-24:00 America/Chicago"),
        ("night", local(2026, 12, 1, 3, 0), False, "holiday: extra closed date 2026-12-01"),
        # 24:00 covers the last instant of the day
        (
            "night",
            local(2026, 11, 27, 23, 59, 59, 999999),
            True,
            "Friday 18:00-24:00 America/Chicago",
        ),
        (
            "night",
            local(2026, 11, 28, 23, 59, 59, 999999),
            True,
            "Saturday 00:00-24:00 America/Chicago",
        ),
        ("night", local(2026, 11, 29, 0, 0), False, "Sunday: closed"),
    ],
)
def test_support_window_status(
    sops: dict[str, Sop], client: str, at: datetime, inside: bool, window: str
) -> None:
    assert support_window_status(sops[client], at) == (inside, window)


DST_SPRING = "Sunday 01:30-01:45, 02:30-10:00 America/Chicago"


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        # 2026-03-08: 02:00 CST (08:00Z) jumps to 03:00 CDT; 02:30 never shows on the wall
        (utc(2026, 3, 8, 7, 40), True),  # 01:40 CST
        (utc(2026, 3, 8, 7, 45), False),  # 01:45 CST: closes
        (utc(2026, 3, 8, 7, 59, 59), False),  # 01:59:59 CST
        (utc(2026, 3, 8, 8, 0), True),  # 03:00 CDT: the 02:30 opening happens at the jump
        (utc(2026, 3, 8, 14, 59), True),  # 09:59 CDT
        (utc(2026, 3, 8, 15, 0), False),  # 10:00 CDT: closes (a 23-hour day)
        # 2026-11-01: 02:00 CDT (07:00Z) falls back to 01:00 CST; 01:00-02:00 happens twice
        (utc(2026, 11, 1, 6, 40), True),  # 01:40 CDT
        (utc(2026, 11, 1, 6, 50), False),  # 01:50 CDT
        (utc(2026, 11, 1, 7, 10), False),  # 01:10 CST
        (utc(2026, 11, 1, 7, 30), True),  # 01:30 CST: the wall clock reads 01:30 again
        (utc(2026, 11, 1, 7, 45), False),  # 01:45 CST
        (utc(2026, 11, 1, 8, 30), True),  # 02:30 CST
        (utc(2026, 11, 1, 15, 59), True),  # 09:59 CST (a 25-hour day)
        (utc(2026, 11, 1, 16, 0), False),  # 10:00 CST
    ],
)
def test_support_window_on_dst_days(sops: dict[str, Sop], at: datetime, inside: bool) -> None:
    assert support_window_status(sops["dst"], at) == (inside, DST_SPRING)


# --------------------------------------------------------------------------- next opening


@pytest.mark.parametrize(
    ("client", "at", "expected"),
    [
        # inside: the same instant, in UTC
        ("desk", local(2026, 11, 30, 9, 0), utc(2026, 11, 30, 15, 0)),
        # Friday 23:00 -> Monday 06:00 local, across a weekend
        ("desk", local(2026, 11, 20, 23, 0), utc(2026, 11, 23, 12, 0)),
        # exactly at close -> next morning
        ("desk", local(2026, 11, 30, 22, 0), utc(2026, 12, 1, 12, 0)),
        ("desk", local(2026, 11, 30, 5, 0), utc(2026, 11, 30, 12, 0)),
        # Wednesday night before Thanksgiving -> Friday 06:00
        ("desk", local(2026, 11, 25, 22, 0), utc(2026, 11, 27, 12, 0)),
        # extra date, Christmas, weekend -> Monday 2026-12-28 06:00
        ("desk", local(2026, 12, 23, 22, 30), utc(2026, 12, 28, 12, 0)),
        # across DST: Monday 06:00 is 06:00 on the wall whatever the offset
        ("desk", local(2026, 3, 6, 23, 0), utc(2026, 3, 9, 11, 0)),  # CST -> CDT
        ("desk", local(2026, 10, 30, 23, 0), utc(2026, 11, 2, 12, 0)),  # CDT -> CST
        # the instant's own zone does not matter
        (
            "desk",
            datetime(2026, 11, 21, 6, 0, tzinfo=ZoneInfo("Europe/Berlin")),
            utc(2026, 11, 23, 12, 0),
        ),
        # overnight ranges
        ("night", local(2026, 11, 22, 12, 0), utc(2026, 11, 24, 4, 0)),  # Monday 22:00
        ("night", local(2026, 11, 24, 6, 0), utc(2026, 11, 28, 0, 0)),  # Friday 18:00
        ("night", local(2026, 11, 30, 12, 0), utc(2026, 12, 1, 4, 0)),  # Monday 22:00 still
        ("night", local(2026, 12, 1, 1, 0), utc(2026, 12, 5, 0, 0)),  # holiday tail skipped
        # DST days: the skipped 02:30 opens at the jump; the repeated 01:30 opens again
        ("dst", utc(2026, 3, 8, 7, 45), utc(2026, 3, 8, 8, 0)),
        ("dst", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 30)),
        ("dst", utc(2026, 11, 1, 6, 50), utc(2026, 11, 1, 7, 30)),
        ("dst", utc(2026, 11, 1, 7, 45), utc(2026, 11, 1, 8, 30)),
        ("dst", utc(2026, 11, 1, 16, 0), utc(2026, 11, 8, 7, 30)),  # next Sunday 01:30 CST
        ("dst", utc(2026, 3, 1, 16, 0), utc(2026, 3, 8, 7, 30)),  # 01:30 CST before the jump
    ],
)
def test_next_business_start(
    sops: dict[str, Sop], client: str, at: datetime, expected: datetime
) -> None:
    start = next_business_start(sops[client], at)
    assert start == expected
    assert start.tzinfo is UTC
    assert support_window_status(sops[client], start)[0]
    if start > at:
        assert not support_window_status(sops[client], start - timedelta(seconds=1))[0]


def test_next_business_start_gives_up_after_400_days(sops: dict[str, Sop]) -> None:
    with pytest.raises(ValueError, match="400 days"):
        next_business_start(sops["never"], local(2026, 11, 30, 9, 0))


@pytest.mark.parametrize(
    "call",
    [
        lambda sop: next_business_start(sop, datetime(2026, 11, 30, 9, 0)),
        lambda sop: support_window_status(sop, datetime(2026, 11, 30, 9, 0)),
        lambda sop: classify(sop, alert(), datetime(2026, 11, 30, 9, 0)),
    ],
)
def test_naive_instants_are_refused(sops: dict[str, Sop], call: Callable[[Sop], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(sops["desk"])


# --------------------------------------------------------------------------- classify

SATURDAY_NIGHT = local(2026, 11, 28, 2, 0)
MONDAY_MORNING = utc(2026, 11, 30, 12, 0)


@pytest.mark.parametrize(
    ("the_alert", "at", "action", "rule_id", "window", "next_start"),
    [
        # after hours + emergency -> page
        (alert(), SATURDAY_NIGHT, "page", "production-stopped", "Saturday: closed", None),
        # inside the window -> service desk, even for an emergency
        (
            alert(),
            local(2026, 11, 30, 9, 0),
            "service_desk",
            "production-stopped",
            DESK_HOURS,
            None,
        ),
        (alert(host="fs-01"), local(2026, 11, 30, 9, 0), "service_desk", None, DESK_HOURS, None),
        # resolved -> record only, in or out of hours
        (alert(status="resolved"), SATURDAY_NIGHT, "record", None, "Saturday: closed", None),
        (alert(status="resolved"), local(2026, 11, 30, 9, 0), "record", None, DESK_HOURS, None),
        # each condition of the rule failing on its own -> queue for Monday 06:00
        (alert(source="datto"), SATURDAY_NIGHT, "queue", None, "Saturday: closed", MONDAY_MORNING),
        (
            alert(severity="warning"),
            SATURDAY_NIGHT,
            "queue",
            None,
            "Saturday: closed",
            MONDAY_MORNING,
        ),
        (alert(host="fs-01"), SATURDAY_NIGHT, "queue", None, "Saturday: closed", MONDAY_MORNING),
        (alert(host=""), SATURDAY_NIGHT, "queue", None, "Saturday: closed", MONDAY_MORNING),
        (
            alert(summary="PLC line 3 CPU at 95%"),
            SATURDAY_NIGHT,
            "queue",
            None,
            "Saturday: closed",
            MONDAY_MORNING,
        ),
        # matching is case-insensitive and whitespace-tolerant; keywords also hit details
        (
            alert(source="NinjaOne", host="SCADA-01", summary="Line   DOWN on press 2"),
            SATURDAY_NIGHT,
            "page",
            "production-stopped",
            "Saturday: closed",
            None,
        ),
        (
            alert(
                source="prometheus", severity="error", summary="PLC alarm", details="went offline"
            ),
            SATURDAY_NIGHT,
            "page",
            "production-stopped",
            "Saturday: closed",
            None,
        ),
        # holidays
        (
            alert(),
            local(2026, 11, 26, 10, 0),
            "page",
            "production-stopped",
            "holiday: Thanksgiving Day",
            None,
        ),
        (
            alert(host="fs-01"),
            local(2026, 11, 26, 10, 0),
            "queue",
            None,
            "holiday: Thanksgiving Day",
            utc(2026, 11, 27, 12, 0),
        ),
        (
            alert(host="fs-01"),
            local(2026, 12, 24, 10, 0),
            "queue",
            None,
            "holiday: extra closed date 2026-12-24",
            utc(2026, 12, 28, 12, 0),
        ),
        # exactly at close is after hours
        (alert(), local(2026, 11, 30, 22, 0), "page", "production-stopped", DESK_HOURS, None),
        (
            alert(host="fs-01"),
            local(2026, 11, 30, 22, 0),
            "queue",
            None,
            DESK_HOURS,
            utc(2026, 12, 1, 12, 0),
        ),
    ],
)
def test_classify(
    sops: dict[str, Sop],
    the_alert: Alert,
    at: datetime,
    action: str,
    rule_id: str | None,
    window: str,
    next_start: datetime | None,
) -> None:
    decision = classify(sops["desk"], the_alert, at)
    assert decision.action == action
    assert decision.rule_id == rule_id
    assert decision.priority == ("P1" if rule_id else None)
    assert decision.window == window
    assert decision.next_business_start == next_start
    assert window in decision.reason


def test_reasons_say_why(sops: dict[str, Sop]) -> None:
    desk = sops["desk"]
    paged = classify(desk, alert(), SATURDAY_NIGHT)
    assert paged.reason == (
        "Saturday 2026-11-28 02:00 CST is outside the support window (Saturday: closed) and the "
        "alert matches emergency 'production-stopped' (P1, production is stopped): source "
        "ninjaone ~ ninja*; severity critical >= error; host plc-line3 ~ plc-*; keyword "
        "'offline' in summary/details. Paging."
    )
    desk_hours = classify(desk, alert(), local(2026, 11, 30, 9, 0))
    assert desk_hours.reason.startswith(
        "Monday 2026-11-30 09:00 CST is inside the support window (Monday 06:00-22:00 "
        "America/Chicago): routed to the service desk. After hours it would page as emergency "
        "'production-stopped' (P1"
    )
    queued = classify(desk, alert(severity="info"), SATURDAY_NIGHT)
    assert queued.reason == (
        "Saturday 2026-11-28 02:00 CST is outside the support window (Saturday: closed) and "
        "matches none of the 2 emergency rules: queued for the next business day, Monday "
        "2026-11-30 06:00 CST."
    )
    never = classify(sops["never"], alert(client="never"), SATURDAY_NIGHT)
    assert never.action == "queue" and never.next_business_start is None
    assert "does not open in the next 400 days" in never.reason
    assert "defines no emergencies" in never.reason


def test_first_matching_rule_in_file_order_wins(sops: dict[str, Sop]) -> None:
    order = sops["order"]
    both = alert(client="order")
    only_second = alert(client="order", severity="warning")
    assert match_emergency(order, both) == order.emergency("plc-critical")
    assert match_emergency(order, only_second) == order.emergency("any-plc")
    assert match_emergency(order, alert(client="order", host="sw-01")) is None
    decision = classify(order, only_second, SATURDAY_NIGHT)
    assert (decision.action, decision.rule_id, decision.priority) == ("page", "any-plc", "P3")


def test_phone_menu_only_emergency_never_matches_an_alert(sops: dict[str, Sop]) -> None:
    other = sops["desk"].emergency("other")
    assert other is not None
    assert not other.matches(alert(summary="something else stops production"))


def test_decision_to_dict_is_json(sops: dict[str, Sop]) -> None:
    queued = classify(sops["desk"], alert(host="fs-01"), SATURDAY_NIGHT)
    data = json.loads(json.dumps(queued.to_dict()))
    assert data == {
        "action": "queue",
        "reason": queued.reason,
        "window": "Saturday: closed",
        "rule_id": None,
        "priority": None,
        "next_business_start": "2026-11-30T12:00:00+00:00",
    }
    paged = Decision("page", "why", "Saturday: closed", "production-stopped", "P1", None)
    assert json.loads(json.dumps(paged.to_dict()))["next_business_start"] is None
