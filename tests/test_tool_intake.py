"""ToolIntake.take on a recording engine: what is accepted, what is stored raw, the answers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from alert_fixtures import as_body, fixture, fixture_json

from oncall.adapters import ADAPTERS
from oncall.classify import Decision
from oncall.engine import AlertOutcome, Engine
from oncall.intake import Alert
from oncall.routing import IntakeNames
from oncall.tool_intake import ToolIntake


@dataclass
class FakeSop:
    id: str
    intake: IntakeNames
    path: Path = Path("/sops/x.md")


@dataclass
class FakeCatalog:
    sops: dict[str, FakeSop]


@dataclass
class RecordingEngine:
    """Just the two calls ToolIntake makes, recorded."""

    catalog: FakeCatalog
    received: list[tuple[Alert, bytes]] = field(default_factory=list)
    rejected: list[tuple[str, bytes, str]] = field(default_factory=list)

    def receive_alert(self, alert: Alert, raw: bytes) -> AlertOutcome:
        self.received.append((alert, raw))
        decision = Decision("queue", "after hours", "Saturday: closed", None, None, None)
        return AlertOutcome(len(self.received) + len(self.rejected), decision, None)

    def reject_alert(self, client: str, raw: bytes, reason: str) -> int:
        self.rejected.append((client, raw, reason))
        return len(self.received) + len(self.rejected)


def intake_for(*sops: FakeSop) -> tuple[ToolIntake, RecordingEngine]:
    engine = RecordingEngine(FakeCatalog({sop.id: sop for sop in sops}))
    return ToolIntake(cast(Engine, engine)), engine


ACME = FakeSop("acme", IntakeNames(names=("Acme Manufacturing",)))


def test_a_routed_alert_goes_to_the_engine_with_its_client() -> None:
    intake, engine = intake_for(ACME)
    raw = fixture("ninjaone", "condition_triggered.json")
    status, answer = intake.take(ADAPTERS["ninjaone"], raw, None)
    assert status == 202
    assert answer == {
        "accepted": [
            {
                "client": "acme",
                "alert_id": 1,
                "status": "triggered",
                "decision": "queue",
                "reason": "after hours",
                "incident": None,
            }
        ],
        "rejected": [],
    }
    ((alert, stored),) = engine.received
    assert (alert.client, alert.source, stored) == ("acme", "ninjaone", raw)


def test_an_unreadable_body_is_stored_whole_with_the_reason() -> None:
    intake, engine = intake_for(ACME)
    status, answer = intake.take(ADAPTERS["datto"], b"<xml/>", "acme")
    assert status == 422
    assert answer["error"].startswith("Datto RMM: body is not valid JSON")
    assert engine.rejected == [("acme", b"<xml/>", answer["error"])]
    assert answer["alert_id"] == 1 and engine.received == []


def test_unrouted_alerts_are_stored_one_by_one_and_reasons_are_not_repeated() -> None:
    intake, engine = intake_for(ACME)
    body = fixture_json("alertmanager", "group_firing.json")
    for entry in body["alerts"]:
        entry["labels"]["client"] = "Globex"
    status, answer = intake.take(ADAPTERS["alertmanager"], as_body(body), None)
    assert status == 422
    assert answer["error"].count("matches no client") == 1
    assert [r["alert_id"] for r in answer["rejected"]] == [1, 2]
    assert [json.loads(raw)["alerts"] for _, raw, _ in engine.rejected] == [
        [entry] for entry in body["alerts"]
    ]
    assert {client for client, _, _ in engine.rejected} == {""}


def test_the_clients_url_ignores_the_organisation() -> None:
    intake, engine = intake_for(ACME)
    status, _ = intake.take(ADAPTERS["datto"], fixture("datto", "alert_triggered.json"), "acme")
    assert status == 202
    assert [alert.client for alert, _ in engine.received] == ["acme"]


def test_the_directory_follows_a_reload_of_the_sops() -> None:
    intake, engine = intake_for(ACME)
    raw = fixture("datto", "alert_triggered.json")  # Harbor Law Group
    assert intake.take(ADAPTERS["datto"], raw, None)[0] == 422
    harbor = FakeSop("harbor", IntakeNames(per_tool=(("datto", ("harbor law group",)),)))
    engine.catalog.sops = {"acme": ACME, "harbor": harbor}
    status, answer = intake.take(ADAPTERS["datto"], raw, None)
    assert status == 202 and answer["accepted"][0]["client"] == "harbor"


def test_answers_have_the_documented_shape() -> None:
    intake, _ = intake_for(ACME)
    accepted = intake.take(ADAPTERS["generic"], fixture("generic", "triggered.json"), None)[1]
    rejected = intake.take(ADAPTERS["generic"], b"[]", None)[1]
    assert set(accepted) == {"accepted", "rejected"}
    assert set(rejected) == {"error", "alert_id"}
