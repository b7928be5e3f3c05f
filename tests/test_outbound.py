"""The steps pages and the client-SMS outbox share on their way to Twilio (oncall.outbound):
the retry policy and its durable timer, recording a send Twilio took, and crash recovery.

Each test runs the functions against a real in-memory store with real `pages`, `outbox` and
`timers` rows, and reads the rows and the event log back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.config import Defaults
from oncall.notify import NO_ANSWER, SendError, Sent
from oncall.outbound import (
    log_recovery,
    mark_failed,
    mark_sent,
    may_have_reached_twilio,
    record_sent,
    retry_at,
    retry_or_give_up,
    schedule_retry,
    start_sending,
)
from oncall.outbox import OUTBOX_SEND
from oncall.pager import SEND
from oncall.store import Store, utcnow_text

T0 = datetime(2025, 3, 14, 22, 15, 30, 123456, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
DEFAULTS = Defaults(
    ack_timeout=timedelta(minutes=5),
    repeats=2,
    send_retries=3,
    retry_backoff=timedelta(seconds=2),
)
DANA = "+13125550199"
ALICE = "+15550001001"


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


def row(store: Store, table: str, row_id: int) -> dict[str, Any]:
    found = store.one(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
    assert found is not None
    return found


def add_page(store: Store, **fields: Any) -> dict[str, Any]:
    """An incident (pages need one) and a page to alice on it; `fields` override the page."""
    with store.transaction():
        incident_id = store.insert(
            "incidents",
            {
                "client": "testco",
                "summary": "SAN offline",
                "state": "paging",
                "opened_at": utcnow_text(T0),
            },
        )
        page_id = store.insert(
            "pages",
            {
                "incident_id": incident_id,
                "tech_id": "alice",
                "phone": ALICE,
                "channel": "sms",
                "kind": "page",
                "pass_number": 0,
                "step_index": 0,
                "body": "[P1] TestCo: SAN offline #1 Reply ACK 1",
                "state": "pending",
                "created_at": utcnow_text(T0),
                "updated_at": utcnow_text(T0),
            }
            | fields,
        )
    return row(store, "pages", page_id)


def add_outbox(store: Store, **fields: Any) -> dict[str, Any]:
    """A client update text to Dana; `fields` override the row."""
    with store.transaction():
        outbox_id = store.insert(
            "outbox",
            {
                "incident_id": 1,
                "client": "testco",
                "purpose": "client_update",
                "ref": 7,
                "to_name": "Dana Reyes",
                "phone": DANA,
                "body": "Northwind IT: we are working on an urgent issue for TestCo (ref #1).",
                "state": "pending",
                "created_at": utcnow_text(T0),
                "updated_at": utcnow_text(T0),
            }
            | fields,
        )
    return row(store, "outbox", outbox_id)


def add_timer(store: Store, kind: str, incident_id: int, ref: int) -> dict[str, Any]:
    with store.transaction():
        timer_id = store.insert(
            "timers",
            {"kind": kind, "incident_id": incident_id, "ref": ref, "due_at": utcnow_text(T0)},
        )
    return row(store, "timers", timer_id)


def timers(store: Store) -> list[dict[str, Any]]:
    return store.all(
        "SELECT id, kind, incident_id, ref, due_at, done_at, outcome FROM timers ORDER BY id"
    )


# -- retry_at ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, timedelta(seconds=2)), (2, timedelta(seconds=4)), (3, timedelta(seconds=8))],
)
def test_retry_at_doubles_the_backoff_after_each_attempt(attempts: int, wait: timedelta) -> None:
    defaults = Defaults(
        ack_timeout=timedelta(minutes=5),
        repeats=2,
        send_retries=4,
        retry_backoff=timedelta(seconds=2),
    )
    assert retry_at(defaults, attempts, True, T0) == T0 + wait


@pytest.mark.parametrize(
    ("attempts", "transient"),
    [
        (1, False),  # a definite refusal: never retried
        (3, True),  # send_retries (3) attempts made
        (4, True),
    ],
)
def test_retry_at_gives_up(attempts: int, transient: bool) -> None:
    assert retry_at(DEFAULTS, attempts, transient, T0) is None


def test_retry_at_retries_until_the_last_attempt() -> None:
    assert retry_at(DEFAULTS, DEFAULTS.send_retries - 1, True, T0) == T0 + timedelta(seconds=4)


# -- start_sending, mark_sent, mark_failed -----------------------------------------------------


def test_start_sending_marks_the_row_sending(store: Store) -> None:
    outbox = add_outbox(store)
    with store.transaction():
        start_sending(store, "outbox", outbox["id"], T1)
    after = row(store, "outbox", outbox["id"])
    assert (after["state"], after["updated_at"], after["attempts"]) == (
        "sending",
        utcnow_text(T1),
        0,
    )


@pytest.mark.parametrize("state", ["pending", "sending"])
def test_mark_sent_sets_sent_and_counts_the_attempt(store: Store, state: str) -> None:
    page = add_page(store, state=state, attempts=1)
    with store.transaction():
        mark_sent(store, "pages", page, Sent(sid="SM123", status="queued"), T1)
    after = row(store, "pages", page["id"])
    assert after["state"] == "sent"
    assert after["attempts"] == 2
    assert (after["twilio_sid"], after["twilio_status"]) == ("SM123", "queued")
    assert after["sent_at"] == after["updated_at"] == utcnow_text(T1)


@pytest.mark.parametrize("state", ["delivered", "failed", "answered"])
def test_mark_sent_keeps_a_state_a_status_callback_already_set(store: Store, state: str) -> None:
    page = add_page(store, state="sending")
    # The status callback landed while the create request was still waiting for its answer.
    store.update("pages", page["id"], {"state": state})
    with store.transaction():
        mark_sent(store, "pages", page, Sent(sid="CA9", status="in-progress"), T1)
    after = row(store, "pages", page["id"])
    assert after["state"] == state
    assert (after["attempts"], after["twilio_sid"], after["twilio_status"]) == (
        1,
        "CA9",
        "in-progress",
    )


def test_mark_failed_records_attempts_and_error(store: Store) -> None:
    outbox = add_outbox(store, state="sending", attempts=2)
    with store.transaction():
        mark_failed(store, "outbox", outbox["id"], 3, "21610: unsubscribed", T1)
    after = row(store, "outbox", outbox["id"])
    assert (after["state"], after["attempts"], after["error"], after["updated_at"]) == (
        "failed",
        3,
        "21610: unsubscribed",
        utcnow_text(T1),
    )
    assert after["twilio_sid"] is None


# -- record_sent -------------------------------------------------------------------------------


def test_record_sent_marks_the_row_finishes_the_timer_and_logs(store: Store) -> None:
    outbox = add_outbox(store, state="sending")
    timer = add_timer(store, OUTBOX_SEND, 1, outbox["id"])
    with store.transaction():
        record_sent(
            store,
            "outbox",
            outbox,
            timer,
            Sent(sid="SM42", status="queued"),
            T1,
            event="outbox",
            message="SMS to Dana Reyes: hello",
            client="testco",
            incident_id=1,
            outbox_id=outbox["id"],
            purpose="client_update",
        )
    after = row(store, "outbox", outbox["id"])
    assert (after["state"], after["attempts"], after["twilio_sid"]) == ("sent", 1, "SM42")
    assert timers(store) == [
        {
            "id": timer["id"],
            "kind": OUTBOX_SEND,
            "incident_id": 1,
            "ref": outbox["id"],
            "due_at": utcnow_text(T0),
            "done_at": utcnow_text(T1),
            "outcome": "sent",
        }
    ]
    (event,) = store.events()
    assert (event["kind"], event["message"], event["ts"]) == (
        "outbox.sent",
        "SMS to Dana Reyes: hello",
        utcnow_text(T1),
    )
    # client and incident_id are the event's own columns; the rest is its data.
    assert (event["client"], event["incident_id"]) == ("testco", 1)
    assert event["data"] == {"sid": "SM42", "outbox_id": outbox["id"], "purpose": "client_update"}


# -- retry_or_give_up --------------------------------------------------------------------------


class GiveUp:
    """A give_up callback that remembers its calls and returns a known list of timers."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.timers = [(99, T1 + timedelta(minutes=1))]

    def __call__(self, attempts: int) -> list[tuple[int, datetime]]:
        self.calls.append(attempts)
        return self.timers


def fail_page(
    store: Store, page: dict[str, Any], timer: dict[str, Any], exc: SendError, give_up: GiveUp
) -> list[tuple[int, datetime]]:
    with store.transaction():
        return retry_or_give_up(
            store,
            DEFAULTS,
            "pages",
            page,
            timer,
            exc,
            T1,
            timer_kind=SEND,
            timer_incident=page["incident_id"],
            event="page",
            what=f"send page {page['id']} to alice",
            give_up=give_up,
            data={"incident_id": page["incident_id"], "page_id": page["id"]},
        )


@pytest.mark.parametrize(("attempts_before", "wait"), [(0, 2), (1, 4)])
def test_a_transient_error_schedules_a_retry(store: Store, attempts_before: int, wait: int) -> None:
    page = add_page(store, state="sending", attempts=attempts_before)
    timer = add_timer(store, SEND, page["incident_id"], page["id"])
    give_up = GiveUp()
    exc = SendError("HTTP 500 from Twilio", transient=True)

    armed = fail_page(store, page, timer, exc, give_up)

    attempt = attempts_before + 1
    due = T1 + timedelta(seconds=wait)
    assert give_up.calls == []
    (original, retry) = timers(store)
    assert (original["id"], original["done_at"], original["outcome"]) == (
        timer["id"],
        utcnow_text(T1),
        "error",
    )
    assert retry == {
        "id": retry["id"],
        "kind": SEND,
        "incident_id": page["incident_id"],
        "ref": page["id"],
        "due_at": utcnow_text(due),
        "done_at": None,
        "outcome": None,
    }
    assert armed == [(retry["id"], due)]
    after = row(store, "pages", page["id"])
    assert (after["state"], after["attempts"], after["error"], after["updated_at"]) == (
        "pending",
        attempt,
        "HTTP 500 from Twilio",
        utcnow_text(T1),
    )
    (event,) = store.events()
    assert event["kind"] == "page.retry"
    assert event["message"] == (
        f"attempt {attempt} to send page {page['id']} to alice failed (HTTP 500 from Twilio);"
        f" retrying at {utcnow_text(due)}"
    )
    assert event["incident_id"] == page["incident_id"]
    assert event["data"] == {"page_id": page["id"]}


@pytest.mark.parametrize(
    ("attempts_before", "transient"),
    [
        (0, False),  # a definite refusal on the first attempt
        (DEFAULTS.send_retries - 1, True),  # this was the last attempt allowed
    ],
)
def test_giving_up_calls_give_up_once_and_schedules_nothing(
    store: Store, attempts_before: int, transient: bool
) -> None:
    page = add_page(store, state="sending", attempts=attempts_before)
    timer = add_timer(store, SEND, page["incident_id"], page["id"])
    give_up = GiveUp()
    exc = SendError("21211: invalid 'To' number", transient=transient, code=21211)

    armed = fail_page(store, page, timer, exc, give_up)

    assert give_up.calls == [attempts_before + 1]
    assert armed is give_up.timers
    (only,) = timers(store)  # no retry timer was written
    assert (only["id"], only["done_at"], only["outcome"]) == (
        timer["id"],
        utcnow_text(T1),
        "error",
    )
    # The row and the log are give_up's business: retry_or_give_up left them alone.
    assert row(store, "pages", page["id"]) == page
    assert store.events() == []


def test_schedule_retry_on_an_outbox_row_without_incident(store: Store) -> None:
    outbox = add_outbox(store, incident_id=None, state="sending")
    due = T1 + timedelta(seconds=8)
    with store.transaction():
        armed = schedule_retry(
            store,
            "outbox",
            outbox,
            timer_kind=OUTBOX_SEND,
            incident_id=0,
            attempts=3,
            error=f"{NO_ANSWER}: timeout",
            due=due,
            now=T1,
        )
    (timer,) = timers(store)
    assert armed == (timer["id"], due)
    assert (timer["kind"], timer["incident_id"], timer["ref"], timer["due_at"]) == (
        OUTBOX_SEND,
        0,
        outbox["id"],
        utcnow_text(due),
    )
    assert timer["done_at"] is None
    after = row(store, "outbox", outbox["id"])
    assert (after["state"], after["attempts"], after["error"]) == (
        "pending",
        3,
        f"{NO_ANSWER}: timeout",
    )
    # A retry after no answer must ask Twilio first.
    assert may_have_reached_twilio(after)


# -- may_have_reached_twilio, log_recovery -----------------------------------------------------


@pytest.mark.parametrize(
    ("state", "error", "expected"),
    [
        ("sending", None, True),  # a restart cut the send off
        ("pending", f"{NO_ANSWER}: TimeoutError()", True),  # timed out after the request left
        ("pending", None, False),  # never tried
        ("pending", "cannot reach Twilio: ConnectionRefusedError()", False),  # never connected
        ("pending", f"HTTP 500 ({NO_ANSWER} in the middle)", False),  # only as a prefix
    ],
)
def test_may_have_reached_twilio(
    store: Store, state: str, error: str | None, expected: bool
) -> None:
    page = add_page(store, state=state, error=error)
    assert may_have_reached_twilio(page) is expected


def test_log_recovery_when_twilio_has_it(store: Store) -> None:
    with store.transaction():
        log_recovery(
            store,
            T1,
            "outbox",
            "SMS 3 to Dana Reyes",
            Sent(sid="SM77", status="delivered"),
            client="testco",
            incident_id=1,
            outbox_id=3,
        )
    (event,) = store.events()
    assert event["kind"] == "outbox.recovered"
    assert event["message"] == (
        "SMS 3 to Dana Reyes may already be at Twilio (cut off by a restart or a timeout):"
        " Twilio has it (SM77), not sent again"
    )
    assert (event["client"], event["incident_id"], event["data"]) == ("testco", 1, {"outbox_id": 3})


def test_log_recovery_when_twilio_has_no_trace(store: Store) -> None:
    with store.transaction():
        log_recovery(store, T1, "page", "page 5 to alice", None, page_id=5)
    (event,) = store.events()
    assert event["kind"] == "page.resend"
    assert event["message"] == (
        "page 5 to alice may already be at Twilio (cut off by a restart or a timeout):"
        " Twilio has no trace of it; sending again"
    )
    assert (event["ts"], event["data"]) == (utcnow_text(T1), {"page_id": 5})
