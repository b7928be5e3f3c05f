"""The after-hours line's decisions (oncall.phone_line): pure functions, tables of cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall import phone_line
from oncall.phone_line import MenuChoice
from oncall.sops import Sop

CHICAGO = ZoneInfo("America/Chicago")
FRONT = (
    MINIMAL.replace('monday = "07:00-18:00"', 'monday = "07:00-18:00"\nfriday = "07:00-18:00"')
    .replace('caller_ids = ["+1 312 555 0142"]', 'caller_ids = ["+1 312 555 0142"]\npin = "4821"')
    .replace(
        "[escalation]",
        '[[emergency]]\nid = "many-users"\npriority = "P2"\nlabel = "several people cannot work."\n'
        '\n[[emergency]]\nid = "edr"\npriority = "P1"\nlabel = "x"\nsources = ["huntress"]\n'
        "phone_menu = false\n\n[escalation]",
    )
)


@pytest.fixture
def sop(tmp_path) -> Sop:
    return load(write_sop(tmp_path, FRONT))


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+13125550142", "+13125550142"),
        ("(312) 555-0142", "+13125550142"),
        ("+44 20 7946 0958", "+442079460958"),
        ("anonymous", None),
        ("", None),
        (None, None),
        ("+266696687", None),  # Twilio's "restricted" pseudo-number
    ],
)
def test_normalise(raw: str | None, e164: str | None) -> None:
    assert phone_line.normalise(raw) == e164


def test_identify_by_caller_id_and_pin(sop: Sop) -> None:
    sops = {"acme": sop}
    assert phone_line.identify(sops, "+13125550142") is sop
    assert phone_line.identify(sops, "+13125550199") is None
    assert phone_line.identify(sops, None) is None
    assert phone_line.pin_owner(sops, "4821") is sop
    assert phone_line.pin_owner(sops, "4821#") is sop
    assert phone_line.pin_owner(sops, "482") is None
    assert phone_line.pin_owner(sops, "") is None
    assert phone_line.accepts_pins(sops)
    assert phone_line.unknown_caller_client(sops) is None


@pytest.mark.parametrize(
    ("at", "desk", "action"),
    [
        ("2026-11-30 10:00", "+15550100000", "desk"),  # Monday, inside the window
        ("2026-11-30 10:00", None, "menu"),  # inside, but nobody to dial
        ("2026-11-30 19:00", "+15550100000", "menu"),  # Monday evening
        ("2026-11-28 10:00", "+15550100000", "menu"),  # Saturday
    ],
)
def test_route(sop: Sop, at: str, desk: str | None, action: str) -> None:
    route = phone_line.route(sop, local(at), desk)
    assert route.action == action
    assert route.desk == (desk if action == "desk" else None)
    assert route.window.startswith(("Monday", "Saturday"))


def test_a_client_without_phone_emergencies_goes_straight_to_a_message(tmp_path) -> None:
    quiet = load(
        write_sop(
            tmp_path, MINIMAL.replace('hosts = ["plc-*"]', 'hosts = ["plc-*"]\nphone_menu = false')
        )
    )
    assert phone_line.route(quiet, local("2026-11-28 10:00"), None).action == "message"


def test_the_menu_numbers_phone_emergencies_in_file_order(sop: Sop) -> None:
    entries = phone_line.menu(sop)
    assert [(key, rule.id) for key, rule in entries] == [
        ("1", "production-stopped"),
        ("2", "many-users"),
    ]
    assert phone_line.menu_words(entries) == (
        "Press 1 if production is stopped. Press 2 if several people cannot work. "
        "Press 9 for anything else."
    )
    assert phone_line.menu_choice(sop, "2") == MenuChoice("emergency", sop.emergency("many-users"))
    assert [phone_line.menu_choice(sop, d).kind for d in ("9", "*", "", "3", "0")] == [
        "other",
        "repeat",
        "none",
        "invalid",
        "invalid",
    ]


def test_decisions_say_why(sop: Sop) -> None:
    saturday = local("2026-11-28 02:00")
    rule = sop.emergency("production-stopped")
    assert rule is not None
    page = phone_line.emergency_decision(sop, rule, "1", saturday, "an emergency after hours")
    assert (page.action, page.rule_id, page.priority) == ("page", "production-stopped", "P1")
    assert "the caller pressed 1" in page.reason and "Saturday 2026-11-28 02:00 CST" in page.reason
    queue = phone_line.message_decision(sop, saturday, "the caller chose 'anything else'")
    assert queue.action == "queue"
    assert queue.next_business_start == local("2026-11-30 07:00")
    assert "Monday 2026-11-30 07:00 CST" in queue.reason


def test_a_phone_emergency_is_an_event_that_folds_by_emergency(sop: Sop) -> None:
    rule = sop.emergency("many-users")
    assert rule is not None
    event = phone_line.emergency_event(sop, rule, "+13125550142")
    assert (event.client, event.source, event.severity) == ("acme", "phone", "critical")
    assert event.summary == "Phone: several people cannot work. (caller +13125550142)"
    assert event.dedup_key == "phone:many-users"
    withheld = phone_line.emergency_event(sop, rule, None)
    assert "withheld number" in withheld.summary


@pytest.mark.parametrize(
    ("now", "due", "words"),
    [
        ("2026-11-28 02:00", "2026-11-30 07:00", "Monday at 7 AM"),
        ("2026-11-30 05:00", "2026-11-30 07:00", "today at 7 AM"),
        ("2026-11-30 19:00", "2026-12-01 07:30", "tomorrow at 7:30 AM"),
        ("2026-12-24 19:00", "2026-12-28 13:00", "Monday at 1 PM"),
        ("2026-12-20 19:00", "2027-01-04 07:00", "Monday, January 4 at 7 AM"),
        ("2026-11-30 10:00", "2026-11-30 10:00", "shortly"),
    ],
)
def test_spoken_when(sop: Sop, now: str, due: str, words: str) -> None:
    assert phone_line.spoken_when(local(due), local(now), sop) == words


def test_spoken_when_uses_the_clients_zone(sop: Sop) -> None:
    due = datetime(2026, 11, 30, 13, 0, tzinfo=ZoneInfo("UTC"))  # 07:00 in Chicago
    assert phone_line.spoken_when(due, due - timedelta(days=2), sop) == "Monday at 7 AM"
    assert phone_line.spoken_when(None, due, sop) == "as soon as our service desk is open"


def test_unknown_callers_page_the_catch_all_only_after_hours(tmp_path) -> None:
    front = FRONT + '\n[phone_line]\nunknown_callers = "page"\n'
    catch_all = load(write_sop(tmp_path, front))
    assert phone_line.unknown_caller_client({"acme": catch_all}) is catch_all
    night = phone_line.unknown_caller_decision(catch_all, local("2026-11-28 02:00"))
    assert (night.action, night.priority) == ("page", "P2")
    day = phone_line.unknown_caller_decision(catch_all, local("2026-11-30 10:00"))
    assert day.action == "queue" and day.next_business_start == local("2026-11-30 10:00")
    event = phone_line.unknown_caller_event(catch_all, None, "https://api.twilio.com/x")
    assert event.summary == "Phone: voicemail from unidentified caller withheld number"
    assert "https://api.twilio.com/x" in event.details
