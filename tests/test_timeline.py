"""oncall.timeline: one incident's story from the event log, in the reader's time zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from oncall.store import Store, utcnow_text
from oncall.timeline import incident_summary, render_incident, timeline_rows

CHICAGO = ZoneInfo("America/Chicago")
# 2026-11-01: US DST ends at 02:00 CDT, so 01:30 happens twice (CDT, then CST an hour later).
FIRST_0130 = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
SECOND_0130 = FIRST_0130 + timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "oncall.db", durable=False)
    yield s
    s.close()


def add_alert(store: Store, at: datetime, summary: str) -> int:
    return store.insert(
        "alerts",
        {
            "received_at": utcnow_text(at),
            "client": "acme",
            "summary": summary,
            "raw": "{}",
            "accepted": 1,
        },
    )


def add_incident(store: Store, alert_id: int, at: datetime, **fields: object) -> int:
    row = {
        "client": "acme",
        "priority": "P1",
        "summary": "PLC line 3 offline",
        "host": "plc-line3",
        "state": "paging",
        "opened_at": utcnow_text(at),
        "alert_id": alert_id,
    }
    return store.insert("incidents", row | fields)


def add_page(store: Store, incident_id: int, at: datetime) -> int:
    return store.insert(
        "pages",
        {
            "incident_id": incident_id,
            "tech_id": "carol",
            "phone": "+15550001003",
            "channel": "sms",
            "kind": "page",
            "pass_number": 0,
            "step_index": 0,
            "body": "page",
            "state": "sent",
            "created_at": utcnow_text(at),
            "updated_at": utcnow_text(at),
        },
    )


@pytest.fixture
def story(store: Store) -> int:
    """Incident 1 (acked and resolved across the DST fall-back) and unrelated incident 2."""
    t = FIRST_0130
    alert = add_alert(store, t, "PLC line 3 offline")
    other_alert = add_alert(store, t, "Disk 80%")
    number = add_incident(
        store,
        alert,
        t,
        state="resolved",
        acked_at=utcnow_text(SECOND_0130),
        acked_by="carol",
        resolved_at=utcnow_text(SECOND_0130 + timedelta(minutes=20)),
        resolved_by="carol",
    )
    other = add_incident(store, other_alert, t, summary="Other", host="")
    page = add_page(store, number, t)
    other_page = add_page(store, other, t)
    store.log(t, "alert.received", "critical alert: PLC line 3 offline", alert_id=alert)
    store.log(t, "decision.page", "outside the window: paging", alert_id=alert)
    store.log(t, "alert.received", "warning alert: Disk 80%", alert_id=other_alert)
    store.log(t, "incident.opened", "incident #1 opened", incident_id=number)
    store.log(t, "incident.opened", "incident #2 opened", incident_id=other)
    store.log(t, "page.sent", "SMS to Carol Diaz", incident_id=number, page_id=page)
    store.log(t, "page.status", "delivered", page_id=page)
    store.log(t, "page.status", "other page delivered", page_id=other_page)
    store.log(
        SECOND_0130,
        "incident.acknowledged",
        "#1 acknowledged by carol",
        actor="carol",
        incident_id=number,
    )
    store.log(
        SECOND_0130 + timedelta(minutes=20),
        "incident.resolved",
        "#1 resolved by carol: restarted the HMI",
        actor="carol",
        incident_id=number,
    )
    return number


def test_rows_are_the_incident_its_alert_and_its_pages_oldest_first(
    store: Store, story: int
) -> None:
    rows = timeline_rows(store, story, CHICAGO)
    assert [r["kind"] for r in rows] == [
        "alert.received",
        "decision.page",
        "incident.opened",
        "page.sent",
        "page.status",
        "incident.acknowledged",
        "incident.resolved",
    ]
    assert "Disk 80%" not in str(rows) and "#2" not in str(rows)
    assert "other page" not in str(rows)
    assert [r["actor"] for r in rows][-2:] == ["carol", "carol"]


def test_times_are_local_and_tell_the_repeated_hour_apart(store: Store, story: int) -> None:
    rows = timeline_rows(store, story, CHICAGO)
    assert rows[0]["time"] == "2026-11-01 01:30:00 CDT"
    assert rows[-2]["time"] == "2026-11-01 01:30:00 CST"
    assert timeline_rows(store, story, ZoneInfo("UTC"))[0]["time"] == "2026-11-01 06:30:00 UTC"


def test_render_incident_header_and_lines(store: Store, story: int) -> None:
    text = render_incident(store, story, CHICAGO)
    lines = text.splitlines()
    assert lines[0] == "Incident #1  acme  P1  [resolved]"
    assert lines[1] == "  PLC line 3 offline  (host plc-line3)"
    assert lines[2] == (
        "  opened 2026-11-01 01:30:00 CDT; acknowledged 2026-11-01 01:30:00 CST by carol;"
        " resolved 2026-11-01 01:50:00 CST by carol"
    )
    assert lines[3] == ""
    assert len(lines) == 4 + len(timeline_rows(store, story, CHICAGO))
    ack = lines[-2].split()
    assert ack[3:5] == ["carol", "incident.acknowledged"]
    assert lines[-1].endswith("#1 resolved by carol: restarted the HMI")


def test_render_open_incident_without_host_or_ack(store: Store, story: int) -> None:
    text = render_incident(store, 2, CHICAGO)
    lines = text.splitlines()
    assert lines[0] == "Incident #2  acme  P1  [paging]"
    assert lines[1] == "  Other"
    assert "acknowledged -;" in lines[2] and lines[2].endswith("resolved -")
    assert " by " not in lines[2]
    assert "incident #2 opened" in text and "incident #1" not in text


def test_missing_incident(store: Store, story: int) -> None:
    assert render_incident(store, 99, CHICAGO) == "no incident #99"
    assert timeline_rows(store, 99, CHICAGO) == []
    assert incident_summary(store, 99) is None
    assert incident_summary(store, story)["acked_by"] == "carol"  # type: ignore[index]


def test_missing_incident_in_an_empty_database(store: Store) -> None:
    assert render_incident(store, 1, CHICAGO) == "no incident #1"
    assert timeline_rows(store, 1, CHICAGO) == []


def test_show_lists_owners_vendor_contacts_and_client_updates(store: Store, story: int) -> None:
    t = SECOND_0130 + timedelta(minutes=1)  # 01:31 CST
    store.log(t, "incident.owner", "#1 owned by carol (ack)", actor="carol", incident_id=story,
              owner="carol", previous=None, how="ack")  # fmt: skip
    store.log(t + timedelta(minutes=5), "incident.owner", "#1 owner carol -> dave (take by dave)",
              actor="dave", incident_id=story, owner="dave", previous="carol", how="take")  # fmt: skip
    store.insert(
        "vendor_contacts",
        {"incident_id": story, "client": "acme", "vendor": "isp", "ticket": "88231",
         "note": "on hold", "actor": "dave", "at": utcnow_text(t + timedelta(minutes=6))},
    )  # fmt: skip
    store.insert(
        "client_updates",
        {"incident_id": story, "client": "acme", "kind": "first", "author": "carol",
         "body": "We are on it.", "created_at": utcnow_text(t),
         "next_due_at": utcnow_text(t + timedelta(minutes=30))},
    )  # fmt: skip
    lines = render_incident(store, story, CHICAGO).splitlines()
    start = lines.index("Owners:")
    assert lines[start : start + 4] == [
        "Owners:",
        "  2026-11-01 01:31:00 CST  carol  (ack)",
        "  2026-11-01 01:36:00 CST  carol -> dave  (take by dave)",
        "",
    ]
    assert lines[start + 4 : start + 7] == [
        "Vendor contacts:",
        "  2026-11-01 01:37:00 CST  isp  ticket 88231  by dave: on hold",
        "",
    ]
    assert lines[start + 7 : start + 11] == [
        "Client updates:",
        "  2026-11-01 01:31:00 CST  first by carol; next due 2026-11-01 02:01:00 CST",
        "      We are on it.",
        "",
    ]
    assert lines[start + 11] == "Timeline:"
    assert lines[-1].endswith("#1 owner carol -> dave (take by dave)")  # logged last
