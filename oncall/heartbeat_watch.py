"""The daemon's side of heartbeats: a row per check, a durable deadline, check-ins, misses.

Each configured check has a `heartbeats` row (when it is expected, its deadline, its last
check-in) and one pending `heartbeat` timer at that deadline, so deadlines survive a restart.
A deadline that passes without a check-in becomes an alert classified like any other; the
check-in that ends a miss sends the matching resolved alert. The schedule itself is
`oncall.heartbeats`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from oncall import heartbeats
from oncall.engine_part import EnginePart
from oncall.heartbeats import HeartbeatCheck
from oncall.sops import Sop
from oncall.store import Store, parse_ts, utcnow_text

log = structlog.get_logger(__name__)

HEARTBEAT = "heartbeat"  # the timer kind; its ref is the heartbeats row
NO_INCIDENT = 0  # timers.incident_id is required; a heartbeat deadline belongs to none


class UnknownCheck(LookupError):
    """No such client, or the client's SOP declares no such heartbeat check."""


class HeartbeatWatch(EnginePart):
    """Keeps each configured check's deadline armed and turns misses into alerts."""

    def sync(self) -> list[tuple[int, datetime]]:
        """Give every configured check a row and a pending deadline (start-up and reload).

        A check whose schedule changed in the SOP is re-planned from its last check-in.
        """
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            for sop in self.catalog.sops.values():
                for check in sop.heartbeats:
                    row = self._row(sop.id, check.name)
                    if row is None:
                        expected = heartbeats.first_expected(check, now, sop.timezone)
                        row_id = self.store.insert(
                            "heartbeats",
                            {
                                "client": sop.id,
                                "name": check.name,
                                "schedule": check.schedule,
                                "watched_since": utcnow_text(now),
                                "expected_at": utcnow_text(expected),
                                "due_at": utcnow_text(heartbeats.deadline(check, expected)),
                            },
                        )
                        timers.append(self._plan(row_id, check, expected))
                    elif row["schedule"] != check.schedule:
                        last = row["last_checkin_at"]
                        expected = (
                            heartbeats.expected_after_checkin(
                                check, parse_ts(last), parse_ts(last), sop.timezone
                            )
                            if last
                            else heartbeats.first_expected(check, now, sop.timezone)
                        )
                        self.store.update("heartbeats", row["id"], {"schedule": check.schedule})
                        timers.append(self._plan(row["id"], check, expected))
                    elif not self._pending(row["id"]):
                        timers.append(self._plan(row["id"], check, parse_ts(row["expected_at"])))
        self.engine.arm(timers)
        return timers

    def check_in(self, client: str, name: str) -> dict[str, Any]:
        """Record a check-in; one that ends a miss sends the resolved alert. Raises UnknownCheck."""
        sop, check = self._configured(client, name)
        if self._row(client, name) is None:
            self.sync()  # a check added by a reload the watch has not seen yet
        now = self.clock.now()
        resolved_alert: int | None = None
        with self.store.transaction():
            row = self._row(client, name)
            assert row is not None
            expected = heartbeats.expected_after_checkin(
                check, now, parse_ts(row["expected_at"]), sop.timezone
            )
            self.store.update(
                "heartbeats", row["id"], {"last_checkin_at": utcnow_text(now), "missed_since": None}
            )
            timers = [self._plan(row["id"], check, expected)]
            late = row["missed_since"] is not None
            self.store.log(
                now,
                "heartbeat.checkin",
                f"heartbeat {name!r} checked in" + (" (late)" if late else ""),
                client=client,
                check=name,
                late=late,
            )
            if late:
                alert = heartbeats.checked_in_alert(client, check, now, sop.timezone)
                body = json.dumps(alert.to_dict()).encode()
                resolved_alert = self.engine.receive_alert(alert, body).alert_id
        self.engine.arm(timers)
        log.info("heartbeat.checkin", client=client, check=name, late=late)
        return {
            "client": client,
            "check": name,
            "late": late,
            "next_deadline": utcnow_text(heartbeats.deadline(check, expected)),
            "resolved_alert": resolved_alert,
        }

    def deadline_passed(self, timer: dict[str, Any]) -> None:
        """A `heartbeat` timer fired: if nothing checked in since it was set, alert once."""
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            row = self.store.one("SELECT * FROM heartbeats WHERE id = ?", (timer["ref"],))
            found = self._find(row["client"], row["name"]) if row else None
            if row is None or found is None or row["due_at"] != timer["due_at"]:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            sop, check = found
            self.store.finish_timer(timer["id"], now, "missed")
            expected = parse_ts(row["expected_at"])
            last = parse_ts(row["last_checkin_at"]) if row["last_checkin_at"] else None
            alert = heartbeats.missed_alert(sop.id, check, expected, last, sop.timezone)
            # After downtime several periods may have passed: one alert covers them all.
            following = heartbeats.expected_after_miss(check, expected, sop.timezone)
            while heartbeats.deadline(check, following) <= now:
                following = heartbeats.expected_after_miss(check, following, sop.timezone)
            self.store.update(
                "heartbeats", row["id"], {"missed_since": row["missed_since"] or timer["due_at"]}
            )
            timers.append(self._plan(row["id"], check, following))
            self.store.log(
                now,
                "heartbeat.missed",
                f"heartbeat {check.name!r} missed its deadline ({check.schedule})",
                client=sop.id,
                check=check.name,
                expected_at=row["expected_at"],
            )
            self.engine.receive_alert(alert, json.dumps(alert.to_dict()).encode())
        self.engine.arm(timers)
        log.warning("heartbeat.missed", client=sop.id, check=check.name)

    # -- helpers ----------------------------------------------------------------------------

    def _plan(self, row_id: int, check: HeartbeatCheck, expected: datetime) -> tuple[int, datetime]:
        """Make `expected` the check's next expected check-in, with one pending deadline."""
        now = self.clock.now()
        due = heartbeats.deadline(check, expected)
        for old in self._pending(row_id):
            self.store.finish_timer(old["id"], now, "rescheduled")
            self.engine.wheel.cancel(old["id"])
        self.store.update(
            "heartbeats",
            row_id,
            {"expected_at": utcnow_text(expected), "due_at": utcnow_text(due)},
        )
        timer_id = self.store.insert(
            "timers",
            {
                "kind": HEARTBEAT,
                "incident_id": NO_INCIDENT,
                "ref": row_id,
                "due_at": utcnow_text(due),
            },
        )
        return timer_id, due

    def _pending(self, row_id: int) -> list[dict[str, Any]]:
        return self.store.all(
            "SELECT id FROM timers WHERE kind = ? AND ref = ? AND done_at IS NULL",
            (HEARTBEAT, row_id),
        )

    def _row(self, client: str, name: str) -> dict[str, Any] | None:
        return self.store.one(
            "SELECT * FROM heartbeats WHERE client = ? AND name = ?", (client, name)
        )

    def _find(self, client: str, name: str) -> tuple[Sop, HeartbeatCheck] | None:
        sop = self.catalog.sops.get(client)
        check = next((c for c in sop.heartbeats if c.name == name), None) if sop else None
        return (sop, check) if sop is not None and check is not None else None

    def _configured(self, client: str, name: str) -> tuple[Sop, HeartbeatCheck]:
        found = self._find(client, name)
        if found is None:
            sop = self.catalog.sops.get(client)
            if sop is None:
                raise UnknownCheck(f"unknown client {client!r}")
            names = ", ".join(c.name for c in sop.heartbeats) or "none"
            raise UnknownCheck(f"client {client!r} has no heartbeat {name!r} (checks: {names})")
        return found


def heartbeat_report(
    store: Store | None, sops: Mapping[str, Sop], now: datetime
) -> list[dict[str, Any]]:
    """Each configured check's last check-in, next deadline and state, for `oncall heartbeats`.

    `store` is None before the daemon ever ran: every check is then 'never', unscheduled.
    """
    report: list[dict[str, Any]] = []
    for client in sorted(sops):
        for check in sops[client].heartbeats:
            row = (
                store.one(
                    "SELECT * FROM heartbeats WHERE client = ? AND name = ?", (client, check.name)
                )
                if store is not None
                else None
            )
            last = parse_ts(row["last_checkin_at"]) if row and row["last_checkin_at"] else None
            due = parse_ts(row["due_at"]) if row else None
            missed = parse_ts(row["missed_since"]) if row and row["missed_since"] else None
            if missed is None and due is not None and due <= now:
                missed = due  # the daemon is down or has not fired it yet: still late
            report.append(
                {
                    "client": client,
                    "check": check.name,
                    "schedule": check.schedule,
                    "state": heartbeats.state(last, missed),
                    "last_checkin": last,
                    "next_deadline": due,
                }
            )
    return report
