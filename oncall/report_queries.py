"""The rows behind `oncall report`: one month's incidents and what hangs off them, from SQLite.

Test-page incidents (incidents.test = 1) are left out everywhere. oncall.report turns the
rows into figures.
"""

from __future__ import annotations

from typing import Any

from oncall.call_log import INBOUND
from oncall.report import ClientRows, Month
from oncall.store import Store, utcnow_text

# A page a tech really received: not held back by the paging budget, not cancelled unsent.
_RECEIVED = "kind IN ('page', 'exhausted') AND state NOT IN ('suppressed', 'cancelled')"


def _month_ids(month: Month, client: str | None) -> tuple[str, list[Any]]:
    """A subquery for the ids of the month's incidents, and its parameters."""
    sql = "SELECT id FROM incidents WHERE test = 0 AND opened_at >= ? AND opened_at < ?"
    params: list[Any] = [utcnow_text(month.start), utcnow_text(month.end)]
    if client is not None:
        sql += " AND client = ?"
        params.append(client)
    return sql, params


def month_incidents(store: Store, month: Month, client: str | None = None) -> list[dict[str, Any]]:
    """Incidents opened in the month (not test pages), oldest first."""
    ids, params = _month_ids(month, client)
    return store.all(f"SELECT * FROM incidents WHERE id IN ({ids}) ORDER BY opened_at, id", params)


def _of_incidents(
    store: Store, table: str, month: Month, client: str | None
) -> list[dict[str, Any]]:
    ids, params = _month_ids(month, client)
    return store.all(f"SELECT * FROM {table} WHERE incident_id IN ({ids}) ORDER BY id", params)


def client_rows(store: Store, month: Month, client: str | None = None) -> ClientRows:
    span = [utcnow_text(month.start), utcnow_text(month.end)]
    only, only_params = ("AND client = ?", [client]) if client is not None else ("", [])
    return ClientRows(
        incidents=month_incidents(store, month, client),
        pages=_of_incidents(store, "pages", month, client),
        updates=_of_incidents(store, "client_updates", month, client),
        vendor_contacts=_of_incidents(store, "vendor_contacts", month, client),
        calls=store.all(
            "SELECT * FROM calls WHERE direction = ? AND client IS NOT NULL"
            f" AND started_at >= ? AND started_at < ? {only} ORDER BY started_at",
            [INBOUND, *span, *only_params],
        ),
        voicemails=store.all(
            "SELECT * FROM voicemails WHERE client IS NOT NULL"
            f" AND received_at >= ? AND received_at < ? {only} ORDER BY received_at",
            [*span, *only_params],
        ),
    )


def received_pages(store: Store, month: Month) -> list[dict[str, Any]]:
    """The pages of the month's incidents that reached (or were sent towards) a tech."""
    ids, params = _month_ids(month, None)
    return store.all(
        f"SELECT * FROM pages WHERE incident_id IN ({ids}) AND {_RECEIVED} ORDER BY id", params
    )
