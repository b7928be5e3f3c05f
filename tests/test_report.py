"""oncall.report and oncall.report_queries: figures from a fixture database, answers by hand.

The fixture month is October 2026 in America/Phoenix (no DST: UTC-7 all year), so the month
runs 2026-10-01T07:00Z to 2026-11-01T07:00Z and a tech's local hour is UTC - 7.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oncall.report import (
    client_figures,
    engaged_minutes,
    incident_lines,
    is_night,
    median,
    month_span,
    p90,
    promise_figures,
    tech_figures,
    update_figures,
)
from oncall.report_queries import client_rows, month_incidents, received_pages
from oncall.response_promise import ResponsePromise
from oncall.store import Store, utcnow_text

PHOENIX = ZoneInfo("America/Phoenix")
CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
OCTOBER = month_span("2026-10", PHOENIX, NOW)


def ts(text: str) -> str:
    """'2026-10-03 08:00:30' (UTC) as stored."""
    return utcnow_text(datetime.fromisoformat(text).replace(tzinfo=UTC))


# --------------------------------------------------------------------------- pure tables


@pytest.mark.parametrize(
    ("values", "expected_median", "expected_p90"),
    [
        ([], None, None),
        ([7.0], 7.0, 7.0),
        ([5.0, 10.0, 30.0, 60.0], 20.0, 60.0),
        ([1.0, 2.0, 3.0], 2.0, 3.0),
        ([float(n) for n in range(1, 11)], 5.5, 9.0),  # rank ceil(9.0) = 9
        ([float(n) for n in range(1, 21)], 10.5, 18.0),  # rank 18
        ([float(n) for n in range(1, 12)], 6.0, 10.0),  # rank ceil(9.9) = 10
    ],
)
def test_median_and_nearest_rank_p90(
    values: list[float], expected_median: float | None, expected_p90: float | None
) -> None:
    assert median(values) == expected_median
    assert p90(values) == expected_p90


@pytest.mark.parametrize(
    ("text", "zone", "start", "end"),
    [
        ("2026-10", PHOENIX, "2026-10-01T07:00:00", "2026-11-01T07:00:00"),
        ("2026-12", PHOENIX, "2026-12-01T07:00:00", "2027-01-01T07:00:00"),
        # Chicago: October starts in CDT (UTC-5) and November ends in CST (UTC-6).
        ("2026-10", CHICAGO, "2026-10-01T05:00:00", "2026-11-01T05:00:00"),
        ("2026-11", CHICAGO, "2026-11-01T05:00:00", "2026-12-01T06:00:00"),
        (None, CHICAGO, "2026-11-01T05:00:00", "2026-12-01T06:00:00"),  # NOW's month
    ],
)
def test_month_span_in_the_zone(text: str | None, zone: ZoneInfo, start: str, end: str) -> None:
    month = month_span(text, zone, NOW)
    assert month.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert month.end == datetime.fromisoformat(end).replace(tzinfo=UTC)


def test_month_span_default_is_the_local_month() -> None:
    # 2026-11-01T03:00Z is still October 31 in Chicago.
    assert month_span(None, CHICAGO, datetime(2026, 11, 1, 3, tzinfo=UTC)).label == "2026-10"


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "October", "2026-10-01", ""])
def test_month_span_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="expected a month like"):
        month_span(text, CHICAGO, NOW)


@pytest.mark.parametrize(
    ("acked", "resolved", "minutes"),
    [
        ("2026-10-03 08:04:00", "2026-10-03 09:10:00", 66),
        ("2026-10-03 08:04:00", "2026-10-03 08:04:01", 1),  # rounded up
        ("2026-10-03 08:04:00", "2026-10-03 08:04:00", 0),
        ("2026-10-03 08:04:00", None, None),  # open
        (None, None, None),
    ],
)
def test_engaged_minutes(acked: str | None, resolved: str | None, minutes: int | None) -> None:
    incident = {"acked_at": acked and ts(acked), "resolved_at": resolved and ts(resolved)}
    assert engaged_minutes(incident) == minutes


def update(i: int, kind: str, created: str, due: str | None) -> dict[str, object]:
    return {
        "id": i,
        "kind": kind,
        "created_at": ts(created),
        "next_due_at": due and ts(due),
    }


@pytest.mark.parametrize(
    ("rows", "resolved", "expected"),
    [
        ([], None, (0, 0, 0)),
        # first due 08:35 (an update came 08:30: on time); that update due 09:00 (next row
        # 09:05: late); the 09:05 update due 09:35 is after the 09:10 resolution: not due.
        (
            [
                update(1, "first", "2026-10-03 08:05:00", "2026-10-03 08:35:00"),
                update(2, "update", "2026-10-03 08:30:00", "2026-10-03 09:00:00"),
                update(3, "update", "2026-10-03 09:05:00", "2026-10-03 09:35:00"),
                update(4, "closing", "2026-10-03 09:10:00", None),
            ],
            "2026-10-03 09:10:00",
            (3, 2, 1),
        ),
        # open: the first message's deadline has passed by NOW with nothing after it
        ([update(1, "first", "2026-10-28 06:01:00", "2026-10-28 06:31:00")], None, (1, 1, 0)),
        # the closing message at the deadline itself is on time
        (
            [
                update(1, "first", "2026-10-03 08:05:00", "2026-10-03 08:35:00"),
                update(2, "closing", "2026-10-03 08:35:00", None),
            ],
            "2026-10-03 08:40:00",
            (1, 1, 1),
        ),
        # resolved exactly at the deadline: it was never due
        (
            [update(1, "first", "2026-10-03 08:05:00", "2026-10-03 08:35:00")],
            "2026-10-03 08:35:00",
            (1, 0, 0),
        ),
    ],
)
def test_update_figures(
    rows: list[dict[str, object]], resolved: str | None, expected: tuple[int, int, int]
) -> None:
    figures = update_figures(rows, resolved and ts(resolved), NOW)
    assert (figures["updates_sent"], figures["updates_due"], figures["updates_on_time"]) == (
        expected
    )


@pytest.mark.parametrize(
    ("utc", "night"),
    [
        ("2026-10-03 04:59:59", False),  # 21:59:59 Phoenix
        ("2026-10-03 05:00:00", True),  # 22:00
        ("2026-10-03 12:59:59", True),  # 05:59:59
        ("2026-10-03 13:00:00", False),  # 06:00
        ("2026-10-03 20:00:00", False),  # 13:00
    ],
)
def test_night_is_22_to_06_in_the_techs_zone(utc: str, night: bool) -> None:
    instant = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert is_night(instant, PHOENIX) is night


# --------------------------------------------------------------------------- the fixture database


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "oncall.db", durable=False)
    yield s
    s.close()


def incident(store: Store, client: str, priority: str | None, opened: str, **fields: object) -> int:
    row: dict[str, object] = {
        "client": client,
        "priority": priority,
        "summary": f"{client} {priority} {opened}",
        "state": "resolved" if fields.get("resolved_at") else "acknowledged",
        "opened_at": ts(opened),
    }
    for key in ("acked_at", "resolved_at"):
        if isinstance(fields.get(key), str):
            fields[key] = ts(str(fields[key]))
    return store.insert("incidents", row | fields)


def page(
    store: Store,
    incident_id: int,
    tech: str,
    created: str,
    sent: str | None,
    *,
    step: int = 0,
    channel: str = "sms",
    kind: str = "page",
    state: str = "sent",
) -> int:
    return store.insert(
        "pages",
        {
            "incident_id": incident_id,
            "tech_id": tech,
            "phone": "+15550001001",
            "channel": channel,
            "kind": kind,
            "pass_number": 0,
            "step_index": step,
            "body": "page",
            "state": state,
            "created_at": ts(created),
            "sent_at": sent and ts(sent),
            "updated_at": ts(created),
        },
    )


def client_update(store: Store, incident_id: int, kind: str, created: str, due: str | None) -> None:
    store.insert(
        "client_updates",
        {
            "incident_id": incident_id,
            "client": "acme",
            "kind": kind,
            "body": "update",
            "author": "alice",
            "created_at": ts(created),
            "next_due_at": due and ts(due),
        },
    )


def vendor(store: Store, incident_id: int, name: str, at: str) -> None:
    store.insert(
        "vendor_contacts",
        {
            "incident_id": incident_id,
            "client": "acme",
            "vendor": name,
            "actor": "alice",
            "at": ts(at),
        },
    )


def call(store: Store, sid: str, client: str, at: str, direction: str = "inbound") -> None:
    store.insert(
        "calls",
        {
            "call_sid": sid,
            "direction": direction,
            "from_phone": "+18155550141",
            "to_phone": "+18005550100",
            "client": client,
            "stage": "done",
            "started_at": ts(at),
            "updated_at": ts(at),
        },
    )


def voicemail(store: Store, sid: str, client: str, at: str) -> None:
    store.insert(
        "voicemails",
        {
            "call_sid": sid,
            "client": client,
            "from_phone": "+18155550141",
            "reason": "after hours",
            "received_at": ts(at),
        },
    )


@pytest.fixture
def month(store: Store) -> Store:
    """October 2026: four acme incidents, one harbor, one river; a test page and September."""
    # 1: acme P1 at 01:00 Phoenix. alice's SMS left 08:00:30 (first page 30s); the call rung of
    # the same step went at 08:02. Acked 08:04 (240s), resolved 09:10 (4200s, 66 minutes).
    one = incident(
        store, "acme", "P1", "2026-10-03 08:00:00", acked_at="2026-10-03 08:04:00",
        acked_by="alice", owner="alice", resolved_at="2026-10-03 09:10:00",
    )  # fmt: skip
    page(store, one, "alice", "2026-10-03 08:00:00", "2026-10-03 08:00:30")
    page(store, one, "alice", "2026-10-03 08:00:00", "2026-10-03 08:02:00", channel="voice")
    client_update(store, one, "first", "2026-10-03 08:05:00", "2026-10-03 08:35:00")
    client_update(store, one, "update", "2026-10-03 08:30:00", "2026-10-03 09:00:00")
    client_update(store, one, "update", "2026-10-03 09:05:00", "2026-10-03 09:35:00")
    client_update(store, one, "closing", "2026-10-03 09:10:00", None)
    vendor(store, one, "isp", "2026-10-03 08:10:00")
    vendor(store, one, "isp", "2026-10-03 08:40:00")
    vendor(store, one, "rockwell", "2026-10-03 08:20:00")
    # 2: acme P1 at 05:00 Phoenix. alice (sent 12:01: first page 60s) did not answer; bob's
    # page left 12:05:20 and he acked 12:20 (1200s; 880s after his page). carol took it over.
    # Resolved 13:00 (3600s, 40 minutes).
    two = incident(
        store, "acme", "P1", "2026-10-10 12:00:00", acked_at="2026-10-10 12:20:00",
        acked_by="bob", owner="carol", resolved_at="2026-10-10 13:00:00",
    )  # fmt: skip
    page(store, two, "alice", "2026-10-10 12:00:00", "2026-10-10 12:01:00")
    page(store, two, "bob", "2026-10-10 12:05:00", "2026-10-10 12:05:20", step=1)
    page(store, two, "bob", "2026-10-10 12:05:00", None, step=1, channel="voice", state="cancelled")
    vendor(store, two, "isp", "2026-10-10 12:30:00")
    # 3: acme P2 at 13:00 Phoenix. bob's page left 20:00:10 (10s), acked 20:02 (120s; 110s
    # after his page), resolved 20:30:30 (1830s; 28.5 minutes engaged, billed 29).
    # dave's page was held back by the paging budget; his notice is not a page.
    three = incident(
        store, "acme", "P2", "2026-10-20 20:00:00", acked_at="2026-10-20 20:02:00",
        acked_by="bob", owner="bob", resolved_at="2026-10-20 20:30:30",
    )  # fmt: skip
    page(store, three, "bob", "2026-10-20 20:00:00", "2026-10-20 20:00:10")
    page(store, three, "dave", "2026-10-20 20:00:00", None, state="suppressed")
    page(store, three, "dave", "2026-10-20 20:03:00", "2026-10-20 20:03:05", kind="notice")
    # 4: acme P1 at 22:30 Phoenix (Oct 27). alice's page left 05:30:05 (5s), acked 06:00
    # (1800s; 1795s after her page), still open. Its first update (due 06:31) was the last.
    four = incident(
        store, "acme", "P1", "2026-10-28 05:30:00", acked_at="2026-10-28 06:00:00",
        acked_by="alice", owner="alice",
    )  # fmt: skip
    page(store, four, "alice", "2026-10-28 05:30:00", "2026-10-28 05:30:05")
    client_update(store, four, "first", "2026-10-28 06:01:00", "2026-10-28 06:31:00")
    # 5: a test page: left out of everything.
    test = incident(
        store, "acme", "P1", "2026-10-12 09:00:00", acked_at="2026-10-12 09:30:00",
        acked_by="alice", owner="dave", resolved_at="2026-10-12 10:00:00", test=1,
    )  # fmt: skip
    page(store, test, "alice", "2026-10-12 09:00:00", "2026-10-12 09:00:01")
    client_update(store, test, "first", "2026-10-12 09:31:00", "2026-10-12 09:32:00")
    vendor(store, test, "isp", "2026-10-12 09:40:00")
    # 6: September 30, 16:00 Phoenix: another month.
    september = incident(
        store, "acme", "P1", "2026-10-01 06:59:59", acked_at="2026-10-01 07:30:00",
        acked_by="alice", owner="alice", resolved_at="2026-10-01 08:00:00",
    )  # fmt: skip
    page(store, september, "alice", "2026-10-01 06:59:59", "2026-10-01 07:00:01")
    # 7: harbor P1 at 20:00 Phoenix (Oct 14): nobody acknowledged; carol got the page and the
    # exhausted page (neither at night).
    seven = incident(store, "harbor", "P1", "2026-10-15 03:00:00", state="exhausted")
    page(store, seven, "carol", "2026-10-15 03:00:00", "2026-10-15 03:00:02")
    page(store, seven, "carol", "2026-10-15 03:30:00", "2026-10-15 03:30:02", kind="exhausted")
    # 9: river P1: dave acked from the shell without a page (100s), resolved 10 minutes later.
    incident(
        store, "river", "P1", "2026-10-05 10:00:00", acked_at="2026-10-05 10:01:40",
        acked_by="dave", owner="dave", resolved_at="2026-10-05 10:11:40",
    )  # fmt: skip
    # The after-hours line: two acme calls and one harbor call in October; a voice page (an
    # outbound call) and a November call do not count. One acme voicemail in October.
    call(store, "CA1", "acme", "2026-10-03 07:58:00")
    call(store, "CA2", "acme", "2026-10-31 23:00:00")
    call(store, "CA3", "harbor", "2026-10-15 02:55:00")
    call(store, "CA4", "acme", "2026-10-03 08:02:00", direction="outbound")
    call(store, "CA5", "acme", "2026-11-01 07:00:00")
    voicemail(store, "CA1", "acme", "2026-10-03 07:59:00")
    voicemail(store, "CA6", "acme", "2026-09-30 12:00:00")
    return store


def test_month_incidents_leave_out_test_pages_and_other_months(month: Store) -> None:
    assert [i["client"] for i in month_incidents(month, OCTOBER)] == [
        "acme", "river", "acme", "harbor", "acme", "acme",
    ]  # fmt: skip
    assert len(month_incidents(month, OCTOBER, "acme")) == 4


def test_client_figures(month: Store) -> None:
    rows = client_rows(month, OCTOBER)
    acme, harbor, river = client_figures(["acme", "harbor", "river"], rows, NOW)
    assert acme == {
        "client": "acme",
        "incidents": 4,
        "P1": 3,
        "P2": 1,
        "P3": 0,
        "P4": 0,
        "first_page_median": 20.0,  # [5, 10, 30, 60]
        "first_page_p90": 60.0,
        "ack_median": 720.0,  # [120, 240, 1200, 1800]
        "ack_p90": 1800.0,
        "resolve_median": 3600.0,  # [1830, 3600, 4200]
        "resolve_p90": 4200.0,
        "updates_sent": 4,
        "updates_due": 3,
        "updates_on_time": 1,
        "vendor_escalations": 3,  # (1, isp), (1, rockwell), (2, isp)
        "calls_answered": 2,
        "calls_queued": 1,
        "engaged_minutes": 135,  # 66 + 40 + 29; #4 is open
        "open": 1,
    }
    assert (harbor["incidents"], harbor["first_page_median"], harbor["ack_median"]) == (
        1,
        2.0,
        None,
    )
    assert (harbor["calls_answered"], harbor["engaged_minutes"], harbor["open"]) == (1, 0, 1)
    assert (river["incidents"], river["first_page_median"], river["engaged_minutes"]) == (
        1,
        None,
        10,
    )


def test_client_figures_for_one_client(month: Store) -> None:
    rows = client_rows(month, OCTOBER, "acme")
    assert {i["client"] for i in rows.incidents} == {"acme"}
    assert len(rows.calls) == 2 and len(rows.voicemails) == 1
    (acme,) = client_figures(["acme"], rows, NOW)
    assert acme["engaged_minutes"] == 135


def test_incident_lines_for_billing(month: Store) -> None:
    lines = incident_lines(client_rows(month, OCTOBER, "acme").incidents)
    assert [(line["incident"], line["engaged_minutes"], line["state"]) for line in lines] == [
        (1, 66, "resolved"),
        (2, 40, "resolved"),
        (3, 29, "resolved"),
        (4, None, "open"),
    ]
    assert [line["owner"] for line in lines] == ["alice", "carol", "bob", "alice"]


def test_tech_figures(month: Store) -> None:
    techs = {"alice": "Alice", "bob": "Bob", "carol": "Carol", "dave": "Dave", "erin": "Erin"}
    rows = tech_figures(
        techs, lambda tech: PHOENIX, month_incidents(month, OCTOBER), received_pages(month, OCTOBER)
    )
    by_tech = {row["tech"]: row for row in rows}
    assert by_tech["alice"] == {
        "tech": "alice",
        "name": "Alice",
        "pages": 3,  # #1 (SMS and call: one page), #2, #4
        "night_pages": 3,  # 01:00, 05:00, 22:30
        "acks": 2,
        "ack_median": 1002.5,  # [210, 1795]
        "owned": 2,
    }
    assert by_tech["bob"] == {
        "tech": "bob",
        "name": "Bob",
        "pages": 2,
        "night_pages": 1,  # 05:05; 13:00 is day
        "acks": 2,
        "ack_median": 495.0,  # [880, 110]
        "owned": 1,
    }
    assert by_tech["carol"] == {
        "tech": "carol",
        "name": "Carol",
        "pages": 2,  # harbor's page and exhausted page, 20:00 and 20:30
        "night_pages": 0,
        "acks": 0,
        "ack_median": None,
        "owned": 1,
    }
    # dave: a held-back page and a notice are not pages; his ack had no page to time from.
    assert by_tech["dave"] == {
        "tech": "dave",
        "name": "Dave",
        "pages": 0,
        "night_pages": 0,
        "acks": 1,
        "ack_median": None,
        "owned": 1,
    }
    assert by_tech["erin"]["pages"] == 0
    assert list(by_tech) == ["alice", "bob", "carol", "dave", "erin"]


def test_night_pages_follow_each_techs_zone(month: Store) -> None:
    # In Chicago (CDT, UTC-5) alice's pages are at 03:00, 07:00 and 00:30: two at night.
    zones = {"alice": CHICAGO}
    rows = tech_figures(
        {"alice": "Alice"},
        lambda tech: zones.get(tech, PHOENIX),
        month_incidents(month, OCTOBER),
        received_pages(month, OCTOBER),
    )
    assert rows[0]["night_pages"] == 2


def test_a_tech_no_longer_in_the_config_still_shows(month: Store) -> None:
    rows = tech_figures(
        {"alice": "Alice"}, lambda tech: PHOENIX, month_incidents(month, OCTOBER),
        received_pages(month, OCTOBER),
    )  # fmt: skip
    assert [row["tech"] for row in rows] == ["alice", "bob", "carol", "dave"]
    assert rows[1]["name"] == "bob"


def test_promise_figures(month: Store) -> None:
    promises = {
        "acme": ResponsePromise(
            by_priority={"P1": timedelta(minutes=15), "P2": timedelta(hours=1)}
        ),
        "harbor": ResponsePromise(every=timedelta(minutes=10)),
    }
    rows, breaches = promise_figures(
        ["acme", "harbor", "river", "other"], promises, month_incidents(month, OCTOBER), NOW
    )
    assert rows == [
        # 240s met; 1200s and 1800s breached
        {"client": "acme", "priority": "P1", "promised": 900.0, "incidents": 3, "met": 1,
         "breached": 2, "ack_p90": 1800.0},
        {"client": "acme", "priority": "P2", "promised": 3600.0, "incidents": 1, "met": 1,
         "breached": 0, "ack_p90": 120.0},
        {"client": "harbor", "priority": "P1", "promised": 600.0, "incidents": 1, "met": 0,
         "breached": 1, "ack_p90": None},
        {"client": "river", "priority": "P1", "promised": None, "incidents": 1, "met": None,
         "breached": None, "ack_p90": 100.0},
        {"client": "other", "priority": None, "promised": None, "incidents": 0, "met": None,
         "breached": None, "ack_p90": None},
    ]  # fmt: skip
    assert breaches == [
        {"incident": 2, "client": "acme", "opened_at": ts("2026-10-10 12:00:00"),
         "priority": "P1", "promised": 900.0, "measured": 1200.0, "note": ""},
        {"incident": 4, "client": "acme", "opened_at": ts("2026-10-28 05:30:00"),
         "priority": "P1", "promised": 900.0, "measured": 1800.0, "note": ""},
        {"incident": 7, "client": "harbor", "opened_at": ts("2026-10-15 03:00:00"),
         "priority": "P1", "promised": 600.0, "measured": None, "note": "not acknowledged"},
    ]  # fmt: skip


def test_an_unacknowledged_incident_inside_its_promise_is_neither(store: Store) -> None:
    incident(store, "acme", "P1", "2026-11-02 11:55:00", state="paging")
    rows, breaches = promise_figures(
        ["acme"],
        {"acme": ResponsePromise(every=timedelta(minutes=15))},
        month_incidents(store, month_span("2026-11", PHOENIX, NOW)),
        NOW,
    )
    assert rows == [
        {"client": "acme", "priority": "P1", "promised": 900.0, "incidents": 1, "met": 0,
         "breached": 0, "ack_p90": None},
    ]  # fmt: skip
    assert breaches == []
