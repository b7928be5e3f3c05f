"""Alert intake: record every alert, classify it, and open, fold or resolve an incident.

The engine's first half: an alert (from a tool, the e-mail intake, a heartbeat or the phone
line) is written to `alerts` with its decision in one transaction; an after-hours emergency
opens and pages an incident (or joins the client's open one: duplicates and storms page
once), a recovery may auto-resolve, and a non-emergency goes to the next-business-day queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from oncall import escalation, grouping, queue, texts
from oncall.classify import Decision, classify
from oncall.engine_part import EnginePart
from oncall.escalation import Position
from oncall.intake import Alert
from oncall.maintenance_windows import maintenance_decision, window_at
from oncall.phone_line import SOURCE as PHONE_SOURCE
from oncall.sops import Sop
from oncall.store import parse_ts, utcnow_text

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AlertOutcome:
    alert_id: int
    decision: Decision
    incident_id: int | None


class AlertIntake(EnginePart):
    """Alerts in; incidents opened, folded into, or resolved by monitoring."""

    def reject_alert(self, client: str, raw: bytes, reason: str) -> int:
        """Keep a body we could not read, so nothing sent to us is lost."""
        now = self.clock.now()
        with self.store.transaction():
            alert_id = self.store.insert(
                "alerts",
                {
                    "received_at": utcnow_text(now),
                    "client": client,
                    "raw": raw.decode("utf-8", "replace"),
                    "accepted": 0,
                    "error": reason,
                },
            )
            self.store.log(
                now, "alert.rejected", f"alert rejected: {reason}", client=client, alert_id=alert_id
            )
        return alert_id

    def receive_alert(self, alert: Alert, raw: bytes) -> AlertOutcome:
        """Record, classify and (if it is an after-hours emergency) open and page an incident.

        During a maintenance window an alert is only recorded; a resolution still resolves."""
        now = self.clock.now()
        sop = self.catalog.sops[alert.client]
        window = window_at(self.store, sop, now) if alert.status != "resolved" else None
        if window is not None:
            return self.receive_event(alert, raw, maintenance_decision(window, sop, now), now)
        return self.receive_event(alert, raw, classify(sop, alert, now), now)

    def receive_event(
        self, alert: Alert, raw: bytes, decision: Decision, now: datetime
    ) -> AlertOutcome:
        """Record an event already classified (an alert, or an emergency chosen on the phone
        line) and act on the decision: page, or fold into the client's open incident."""
        sop = self.catalog.sops[alert.client]
        timers: list[tuple[int, datetime]] = []
        incident_id: int | None = None
        with self.store.transaction():
            alert_id = self.store.insert(
                "alerts",
                {
                    "received_at": utcnow_text(now),
                    **alert.to_dict(),
                    "raw": raw.decode("utf-8", "replace"),
                    "accepted": 1,
                    "decision": json.dumps(decision.to_dict(), default=str),
                },
            )
            self.store.log(
                now,
                "alert.received",
                (
                    f"emergency line: {alert.summary}"
                    if alert.source == PHONE_SOURCE
                    else f"{alert.severity} alert from {alert.source}: {alert.summary}"
                ),
                client=alert.client,
                alert_id=alert_id,
                alert=alert.to_dict(),
            )
            self.store.log(
                now,
                f"decision.{decision.action}",
                decision.reason,
                client=alert.client,
                alert_id=alert_id,
                decision=decision.to_dict(),
            )
            if decision.action == "page":
                incident_id, timers = self._page_or_fold(sop, alert, alert_id, decision, now)
            elif alert.status == "resolved":
                incident_id, timers = self._monitoring_resolved(sop, alert, alert_id, now)
            elif decision.action == "queue":
                timers = queue.queue_alert(self.store, alert, alert_id, decision, now)
            if incident_id is not None:
                self.store.update("alerts", alert_id, {"incident_id": incident_id})
        self.engine.arm(timers)
        log.info(
            "alert.received",
            client=alert.client,
            alert_id=alert_id,
            action=decision.action,
            incident_id=incident_id,
        )
        return AlertOutcome(alert_id, decision, incident_id)

    def _open_incidents(
        self, alert: Alert, recent_since: datetime | None = None
    ) -> list[grouping.OpenIncident]:
        """The client's open incidents an alert could join: same condition, or (for storms)
        grown since `recent_since`. Narrowed in SQL so thousands of open incidents stay cheap."""
        since = utcnow_text(recent_since) if recent_since is not None else "9999"
        # A UNION of two index searches ((client, fold_key) and (client, last_alert_at)): an
        # OR in one WHERE made SQLite walk every open incident of the client instead.
        states = (escalation.PAGING, escalation.ACKNOWLEDGED, escalation.EXHAUSTED)
        rows = self.store.all(
            "SELECT id, fold_key, priority, last_alert_at FROM incidents"
            " WHERE client = ? AND fold_key = ? AND state IN (?, ?, ?)"
            " UNION SELECT id, fold_key, priority, last_alert_at FROM incidents"
            " WHERE client = ? AND last_alert_at >= ? AND state IN (?, ?, ?)"
            " ORDER BY id",
            (alert.client, grouping.fold_key(alert), *states, alert.client, since, *states),
        )
        return [
            grouping.OpenIncident(
                r["id"], r["fold_key"] or "", r["priority"], parse_ts(r["last_alert_at"])
            )
            for r in rows
        ]

    def _page_or_fold(
        self, sop: Sop, alert: Alert, alert_id: int, decision: Decision, now: datetime
    ) -> tuple[int, list[tuple[int, datetime]]]:
        """Open and page a new incident, or fold the alert into an open one (no new page)."""
        window = self.catalog.config.defaults.group_window
        fold = grouping.fold_target(alert, self._open_incidents(alert, now - window), now, window)
        if fold is not None:
            return fold.incident_id, self._fold(sop, alert, alert_id, decision, fold, now)
        incident_id = self.store.insert(
            "incidents",
            {
                "client": alert.client,
                "priority": decision.priority,
                "rule_id": decision.rule_id,
                "summary": alert.summary,
                "host": alert.host,
                "state": escalation.PAGING,
                "opened_at": utcnow_text(now),
                "last_alert_at": utcnow_text(now),
                "alert_id": alert_id,
                "fold_key": grouping.fold_key(alert),
                "alert_count": 1,
            },
        )
        self.store.log(
            now,
            "incident.opened",
            f"incident #{incident_id} opened ({decision.priority}, rule {decision.rule_id})",
            client=alert.client,
            incident_id=incident_id,
            alert_id=alert_id,
        )
        plan = escalation.plan_from(sop.escalation, escalation.START, now, self.engine._who(now))
        return incident_id, self.engine._apply_plan(incident_id, sop, plan, now, "alert")

    def _fold(
        self,
        sop: Sop,
        alert: Alert,
        alert_id: int,
        decision: Decision,
        fold: grouping.Fold,
        now: datetime,
    ) -> list[tuple[int, datetime]]:
        """Count the alert into the incident; tell its owner if a new kind of emergency joined."""
        incident = self.store.incident(fold.incident_id)
        assert incident is not None
        count = incident["alert_count"] + 1
        changes: dict[str, Any] = {
            "alert_count": count,
            "last_alert_at": utcnow_text(now),
            "priority": grouping.higher_priority(incident["priority"], decision.priority),
        }
        if fold.storm:
            first = self.store.one(
                "SELECT summary FROM alerts WHERE id = ?", (incident["alert_id"],)
            )
            changes["summary"] = grouping.storm_summary(
                count,
                sop.name,
                now - parse_ts(incident["opened_at"]),
                first["summary"] if first else incident["summary"],
            )
        new_kind = decision.rule_id != incident["rule_id"] and not self.store.one(
            "SELECT 1 FROM events WHERE incident_id = ? AND kind = 'incident.folded'"
            " AND json_extract(data, '$.rule_id') = ?",
            (incident["id"], decision.rule_id),
        )
        self.store.update("incidents", incident["id"], changes)
        self.store.log(
            now,
            "incident.folded",
            f"alert joined incident #{incident['id']} ({fold.reason}); {count} alerts, not paged again",
            client=alert.client,
            incident_id=incident["id"],
            alert_id=alert_id,
            storm=fold.storm,
            rule_id=decision.rule_id,
        )
        owner = incident["owner"] or incident["acked_by"]
        if not (
            fold.storm
            and new_kind
            and incident["state"] == escalation.ACKNOWLEDGED
            and owner in self.catalog.techs
        ):
            return []
        # The owner is already working on this incident and would not otherwise hear that a
        # different emergency has just joined it.
        body = texts.joined_text(incident["id"], sop.name, decision.priority, alert.summary, count)
        position = Position(incident["pass_number"], incident["step_index"])
        return self.engine.pager.notice(incident["id"], owner, position, body, now)

    def _monitoring_resolved(
        self, sop: Sop, alert: Alert, alert_id: int, now: datetime
    ) -> tuple[int | None, list[tuple[int, datetime]]]:
        """A resolved/reset alert: resolve its incident if the SOP's rule allows auto-resolve."""
        incident_id = grouping.resolve_target(alert, self._open_incidents(alert))
        if incident_id is None:
            return None, []
        incident = self.store.incident(incident_id)
        assert incident is not None
        rule = next((r for r in sop.emergencies if r.id == incident["rule_id"]), None)
        if rule is None or not rule.auto_resolve:
            self.store.log(
                now,
                "incident.monitoring_resolved",
                f"monitoring reports #{incident_id} resolved; it stays open until a tech resolves it "
                f"(auto_resolve is off for rule {incident['rule_id']})",
                client=alert.client,
                incident_id=incident_id,
                alert_id=alert_id,
            )
            return incident_id, []
        _, _, timers = self.engine.resolve(
            incident, "monitoring", now, "monitoring reports it resolved"
        )
        body = texts.auto_resolved_text(incident_id, sop.name, incident["summary"])
        position = Position(incident["pass_number"], incident["step_index"])
        paged = dict.fromkeys(
            p["tech_id"] for p in self.store.pages_for(incident_id) if p["kind"] != "notice"
        )
        for tech_id in paged:
            if tech_id in self.catalog.techs:
                timers += self.engine.pager.notice(incident_id, tech_id, position, body, now)
        return incident_id, timers
