"""The call log (oncall.call_log): one row per call, kept current by webhooks and callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oncall import call_log
from oncall.store import Store, utcnow_text

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
PARAMS = {"CallSid": "CA1", "From": "+18155550141", "To": "+15550009000", "CallStatus": "ringing"}


def test_a_call_row_is_created_once_and_kept_current(tmp_path) -> None:
    with Store(tmp_path / "c.db", durable=False) as store, store.transaction():
        row = call_log.start(store, "CA1", call_log.INBOUND, PARAMS, T0, client="acme")
        assert (row["from_phone"], row["status"], row["stage"], row["client"]) == (
            "+18155550141",
            "ringing",
            "new",
            "acme",
        )
        again = call_log.start(store, "CA1", call_log.INBOUND, PARAMS, T0 + timedelta(seconds=5))
        assert again == row  # a webhook delivered twice is one call
        call_log.update(store, "CA1", T0 + timedelta(seconds=9), stage="menu", menu_choice="1")
        later = call_log.get(store, "CA1")
        assert later is not None and later["stage"] == "menu" and later["menu_choice"] == "1"
        assert later["updated_at"] == utcnow_text(T0 + timedelta(seconds=9))


def test_status_callbacks_record_who_answered_and_when_it_ended(tmp_path) -> None:
    page = {"id": 4, "incident_id": 2}
    with Store(tmp_path / "c.db", durable=False) as store, store.transaction():
        call_log.status(
            store, "CA2", {**PARAMS, "CallSid": "CA2", "CallStatus": "ringing"}, T0, page
        )
        row = call_log.get(store, "CA2")
        assert row is not None and row["direction"] == "outbound" and row["page_id"] == 4
        assert row["ended_at"] is None
        done = {**PARAMS, "CallStatus": "completed", "AnsweredBy": "machine_end_beep"}
        call_log.status(store, "CA2", done, T0 + timedelta(seconds=40), page)
        row = call_log.get(store, "CA2")
        assert row is not None and row["status"] == "completed"
        assert row["answered_by"] == "machine_end_beep"
        assert row["ended_at"] == utcnow_text(T0 + timedelta(seconds=40))
