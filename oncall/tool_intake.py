"""Alerts posted in a monitoring tool's own format: read, route to clients, record every one.

The shell around the pure adapters (`oncall.adapters`) and routing (`oncall.routing`): the web
handlers call `ToolIntake.take` once the caller is authenticated and the body is read. Every
alert is recorded: accepted ones go to the engine (classify, page, fold, resolve); a body the
adapter cannot read, or an alert whose organisation matches no client, is kept raw with the
reason, so nothing a tool sent is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from oncall.adapters import Adapter
from oncall.engine import Engine
from oncall.intake import AlertError
from oncall.routing import ClientDirectory, Routed, Unrouted, route
from oncall.sops import Sop

log = structlog.get_logger(__name__)


class ToolIntake:
    """Takes tool payloads for one engine; rebuilds the name directory when the SOPs reload."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._directory_for: Mapping[str, Sop] | None = None
        self._directory = ClientDirectory(by_tool={})

    def directory(self) -> ClientDirectory:
        sops = self.engine.catalog.sops
        if sops is not self._directory_for:
            self._directory, _ = ClientDirectory.build(
                (sop.id, sop.path, sop.intake) for sop in sops.values()
            )
            self._directory_for = sops
        return self._directory

    def take(self, adapter: Adapter, raw: bytes, client: str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, answer) for a payload; `client` is None on the shared URL."""
        try:
            items = adapter.parse(raw)
        except AlertError as exc:
            reason = f"{adapter.title}: {exc}"
            alert_id = self.engine.reject_alert(client or "", raw, reason)
            log.warning("alert.unreadable", tool=adapter.tool, client=client, alert_id=alert_id)
            return 422, {"error": reason, "alert_id": alert_id}
        routed: list[Routed | Unrouted] = (
            route(items, adapter, self.directory())
            if client is None
            else [Routed(item.for_client(client), item.raw) for item in items]
        )
        accepted: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for entry in routed:
            if isinstance(entry, Unrouted):
                alert_id = self.engine.reject_alert("", entry.raw, entry.reason)
                log.warning("alert.unrouted", tool=adapter.tool, alert_id=alert_id)
                rejected.append({"alert_id": alert_id, "error": entry.reason})
                continue
            outcome = self.engine.receive_alert(entry.alert, entry.raw)
            accepted.append(
                {
                    "client": entry.alert.client,
                    "alert_id": outcome.alert_id,
                    "status": entry.alert.status,
                    "decision": outcome.decision.action,
                    "reason": outcome.decision.reason,
                    "incident": outcome.incident_id,
                }
            )
        if accepted:
            return 202, {"accepted": accepted, "rejected": rejected}
        reasons = dict.fromkeys(entry["error"] for entry in rejected)
        return 422, {"error": "; ".join(reasons), "rejected": rejected}
