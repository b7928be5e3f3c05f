"""Tool webhooks through real HTTP: each tool's own payload on its shared URL (routed by the SOPs'
[intake] names) or on a client's URL, authentication, and every bad payload stored raw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from alert_fixtures import as_body, fixture, fixture_json
from harness import SECRET, Harness, write_config

TOOL_SECRETS = {
    "ninjaone": "ninjaone-shared-0123456789",
    "datto": "datto-shared-0123456789",
    "ncentral": "ncentral-shared-0123456789",
    "alertmanager": "alertmanager-shared-0123456789",
}  # generic has no shared URL in this config
HARBOR_SECRET = "harbor-secret-0123456789"


def tool_config(tmp_path: Path) -> Path:
    """TestCo (Acme Manufacturing, Riverside Clinic) and Harbor Law Group, four shared URLs."""
    config = write_config(tmp_path, ack="5m", auto_resolve=True)
    testco = tmp_path / "sops" / "testco.md"
    runbook = "+++\n# TestCo runbook"
    sop = testco.read_text()
    testco.write_text(
        sop.replace(
            runbook, '[intake]\nnames = ["Acme Manufacturing", "Riverside Clinic"]\n' + runbook
        )
    )
    harbor = (
        sop.replace('client = "testco"', 'client = "harbor"')
        .replace('name = "TestCo"', 'name = "Harbor Law"')
        .replace('"env:ONCALL_TEST_SECRET"', f'"{HARBOR_SECRET}"')
        .replace(runbook, '[intake]\ndatto = ["Harbor Law Group"]\n' + runbook)
    )
    (tmp_path / "sops" / "harbor.md").write_text(harbor)
    tools = "".join(f'{tool} = "{secret}"\n' for tool, secret in TOOL_SECRETS.items())
    config.write_text(config.read_text() + "\n[intake.tools]\n" + tools)
    return config


@pytest.fixture
def h(tmp_path: Path):
    with Harness(tool_config(tmp_path)) as harness:
        yield harness


def post(
    h: Harness,
    path: str,
    raw: bytes,
    *,
    bearer: str | None = None,
    token: str | None = None,
    content_type: str = "application/json",
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    params = {"token": token} if token is not None else None
    return h.http.post(f"{h.url}{path}", content=raw, headers=headers, params=params)


def alert_rows(h: Harness) -> list[dict[str, Any]]:
    return h.query("SELECT * FROM alerts ORDER BY id")


def expect_page(h: Harness, incident: int) -> None:
    """The primary on call gets the page (and the daemon is quiet again before it stops)."""
    primary = h.catalog.on_call("primary", h.clock.now())[0].id
    h.phone(primary).expect_sms(f"#{incident}")


@pytest.mark.parametrize(
    ("tool", "name", "client", "decision", "status"),
    [
        ("ninjaone", "condition_triggered.json", "testco", "page", "triggered"),
        ("ninjaone", "condition_reset.json", "testco", "record", "resolved"),
        ("datto", "alert_triggered.json", "harbor", "queue", "triggered"),
        ("datto", "alert_resolved.json", "harbor", "record", "resolved"),
        ("ncentral", "service_failed.xml", "testco", "page", "triggered"),
        ("ncentral", "service_normal.xml", "testco", "record", "resolved"),
        ("alertmanager", "group_resolved.json", "testco", "record", "resolved"),
    ],
)
def test_each_tools_payload_reaches_its_client_on_the_shared_url(
    h: Harness, tool: str, name: str, client: str, decision: str, status: str
) -> None:
    raw = fixture(tool, name)
    # Datto and N-central often cannot set headers: they use the token parameter.
    by_query = tool in ("datto", "ncentral")
    response = post(
        h,
        f"/alerts/tool/{tool}",
        raw,
        bearer=None if by_query else TOOL_SECRETS[tool],
        token=TOOL_SECRETS[tool] if by_query else None,
        content_type="text/xml" if name.endswith(".xml") else "application/json",
    )
    assert response.status_code == 202, response.text
    (accepted,) = response.json()["accepted"]
    assert response.json()["rejected"] == []
    assert (accepted["client"], accepted["decision"], accepted["status"]) == (
        client,
        decision,
        status,
    )
    (row,) = alert_rows(h)
    assert (row["client"], row["source"], row["status"], row["accepted"]) == (
        client,
        tool,
        status,
        1,
    )
    assert row["id"] == accepted["alert_id"]
    if tool != "alertmanager":
        assert row["raw"] == raw.decode("utf-8")
    if decision == "page":
        expect_page(h, accepted["incident"])


def test_a_reset_resolves_the_incident_its_trigger_opened(h: Harness) -> None:
    secret = TOOL_SECRETS["ninjaone"]
    opened = post(
        h, "/alerts/tool/ninjaone", fixture("ninjaone", "condition_triggered.json"), bearer=secret
    )
    incident = opened.json()["accepted"][0]["incident"]
    expect_page(h, incident)
    reset = post(
        h, "/alerts/tool/ninjaone", fixture("ninjaone", "condition_reset.json"), bearer=secret
    )
    assert reset.json()["accepted"][0]["incident"] == incident
    assert h.incident(incident)["state"] == "resolved"


def test_a_grouped_alertmanager_payload_is_one_record_per_alert(h: Harness) -> None:
    body = fixture_json("alertmanager", "group_firing.json")
    response = post(
        h, "/alerts/tool/alertmanager", as_body(body), bearer=TOOL_SECRETS["alertmanager"]
    )
    assert response.status_code == 202, response.text
    decisions = [(a["client"], a["decision"]) for a in response.json()["accepted"]]
    assert decisions == [("testco", "page"), ("testco", "queue")]
    rows = alert_rows(h)
    assert [row["dedup_key"] for row in rows] == ["1a30ba71cca2921f", "7c2e91d04ab3f615"]
    for row, entry in zip(rows, body["alerts"], strict=True):
        assert json.loads(row["raw"])["alerts"] == [entry]
    (incident,) = h.query("SELECT id FROM incidents")
    expect_page(h, incident["id"])


def test_a_group_with_an_unknown_client_keeps_the_rest(h: Harness) -> None:
    body = fixture_json("alertmanager", "group_firing.json")
    body["alerts"][1]["labels"]["client"] = "Globex"
    response = post(
        h, "/alerts/tool/alertmanager", as_body(body), bearer=TOOL_SECRETS["alertmanager"]
    )
    assert response.status_code == 202
    assert [a["client"] for a in response.json()["accepted"]] == ["testco"]
    expect_page(h, response.json()["accepted"][0]["incident"])
    (rejected,) = response.json()["rejected"]
    assert "'Globex' matches no client" in rejected["error"]
    stored = h.query("SELECT client, raw, error FROM alerts WHERE accepted = 0")
    assert stored == [{"client": "", "raw": stored[0]["raw"], "error": rejected["error"]}]
    assert json.loads(stored[0]["raw"])["alerts"] == [body["alerts"][1]]


def test_an_organisation_no_sop_lists_is_422_and_stored_raw(h: Harness) -> None:
    body = fixture_json("ninjaone", "condition_triggered.json")
    body["device"]["references"]["organization"]["name"] = "Globex Corp"
    body["device"]["organizationId"] = 977
    raw = as_body(body)
    response = post(h, "/alerts/tool/ninjaone", raw, bearer=TOOL_SECRETS["ninjaone"])
    assert response.status_code == 422
    error = response.json()["error"]
    assert "organisation 'Globex Corp' / '977' matches no client" in error
    (row,) = alert_rows(h)
    assert (row["accepted"], row["raw"], row["error"], row["client"]) == (
        0,
        raw.decode(),
        error,
        "",
    )


@pytest.mark.parametrize(
    ("path", "raw", "bearer", "reason"),
    [
        (
            "/alerts/tool/ncentral",
            b"<notification>",
            TOOL_SECRETS["ncentral"],
            "N-central: body is not valid XML",
        ),
        (
            "/alerts/tool/datto",
            b'{"status": "triggered"}',
            TOOL_SECRETS["datto"],
            "Datto RMM: missing 'alert_priority'",
        ),
        (
            "/alerts/harbor/alertmanager",
            b'{"version": "4"}',
            HARBOR_SECRET,
            "Alertmanager: 'alerts' must be",
        ),
    ],
)
def test_unreadable_payloads_are_422_and_stored_raw(
    h: Harness, path: str, raw: bytes, bearer: str, reason: str
) -> None:
    response = post(h, path, raw, bearer=bearer)
    assert response.status_code == 422
    assert response.json()["error"].startswith(reason)
    (row,) = alert_rows(h)
    assert (row["accepted"], row["raw"], row["error"]) == (
        0,
        raw.decode(),
        response.json()["error"],
    )
    assert row["client"] == ("harbor" if path.startswith("/alerts/harbor") else "")


@pytest.mark.parametrize(
    ("path", "bearer", "token"),
    [
        ("/alerts/tool/ninjaone", None, None),
        ("/alerts/tool/ninjaone", "wrong", None),
        ("/alerts/tool/ninjaone", None, "wrong"),
        ("/alerts/tool/ninjaone", SECRET, None),  # a client's secret is not the tool's
        ("/alerts/tool/ninjaone", TOOL_SECRETS["datto"], None),  # nor is another tool's
        ("/alerts/harbor/ninjaone", SECRET, None),  # nor another client's
        ("/alerts/harbor/ninjaone", TOOL_SECRETS["ninjaone"], None),  # nor a tool's, per client
    ],
)
def test_wrong_secrets_are_401_and_store_nothing(
    h: Harness, path: str, bearer: str | None, token: str | None
) -> None:
    raw = fixture("ninjaone", "condition_triggered.json")
    response = post(h, path, raw, bearer=bearer, token=token)
    assert response.status_code == 401
    assert "?token=" in response.json()["error"]
    assert alert_rows(h) == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/alerts/tool/kaseya", "unknown tool 'kaseya' (tools: alertmanager, datto, generic"),
        ("/alerts/tool/generic", "no shared Generic JSON URL: add generic to [intake.tools]"),
        ("/alerts/harbor/kaseya", "unknown tool 'kaseya'"),
        ("/alerts/globex/ninjaone", "unknown client 'globex'"),
    ],
)
def test_unknown_tools_and_clients_are_404(h: Harness, path: str, reason: str) -> None:
    response = post(h, path, fixture("generic", "triggered.json"), bearer=HARBOR_SECRET)
    assert response.status_code == 404
    assert reason in response.json()["error"]
    assert alert_rows(h) == []


def test_a_clients_own_url_takes_any_tool_whatever_the_organisation(h: Harness) -> None:
    # The NinjaOne fixture names Acme Manufacturing (TestCo's), but the URL says Harbor Law.
    raw = fixture("ninjaone", "condition_triggered.json")
    response = post(h, "/alerts/harbor/ninjaone", raw, token=HARBOR_SECRET)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"][0]["client"] == "harbor"
    expect_page(h, response.json()["accepted"][0]["incident"])
    generic = post(
        h, "/alerts/harbor/generic", fixture("generic", "triggered.json"), bearer=HARBOR_SECRET
    )
    assert generic.json()["accepted"][0]["client"] == "harbor"
    assert [row["client"] for row in alert_rows(h)] == ["harbor", "harbor"]


def test_the_generic_route_per_client_is_unchanged(h: Harness) -> None:
    response = h.post_alert({"severity": "critical", "summary": "File server down"})
    assert response.status_code == 202
    assert response.json()["decision"] == "page"
