"""`oncall report clients|techs|promises` through click's CliRunner on a fixture database.

October 2026 in daemon.timezone (America/Chicago, CDT = UTC-5). testco promises P1 within
15 minutes. Incident 1 (02:00 CDT): alice's page left 30s after it opened, she acked at 10m
(9m30s after her page), resolved at 1h (50 engaged minutes). Incident 2 (01:00 CDT): bob's
page left at 10s, he acked at 20m (a breach), resolved at 50m (30 minutes). A test page
incident and a September incident are left out.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from harness import SECRET, write_config

from oncall.cli import main
from oncall.cli_report import INCIDENT_COLUMNS
from oncall.store import Store, utcnow_text


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCALL_TEST_SECRET", SECRET)


def at(text: str) -> str:
    return utcnow_text(datetime.fromisoformat(text).replace(tzinfo=UTC))


def add_incident(
    store: Store, opened: str, tech: str, sent: str, acked: str, resolved: str, **extra: object
) -> int:
    number = store.insert(
        "incidents",
        {
            "client": "testco",
            "priority": "P1",
            "summary": f"server down {opened}",
            "state": "resolved",
            "opened_at": at(opened),
            "acked_at": at(acked),
            "acked_by": tech,
            "owner": tech,
            "resolved_at": at(resolved),
            "resolved_by": tech,
        }
        | extra,
    )
    store.insert(
        "pages",
        {
            "incident_id": number,
            "tech_id": tech,
            "phone": "+15550001001",
            "channel": "sms",
            "kind": "page",
            "pass_number": 0,
            "step_index": 0,
            "body": "page",
            "state": "delivered",
            "created_at": at(opened),
            "sent_at": at(sent),
            "updated_at": at(sent),
        },
    )
    return number


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path, tables='\n[response]\nacknowledge_within = { P1 = "15m" }\n')
    with Store(tmp_path / "oncall.db") as store:
        add_incident(store, "2026-10-03 07:00:00", "alice", "2026-10-03 07:00:30",
                     "2026-10-03 07:10:00", "2026-10-03 08:00:00")  # fmt: skip
        add_incident(store, "2026-10-10 06:00:00", "bob", "2026-10-10 06:00:10",
                     "2026-10-10 06:20:00", "2026-10-10 06:50:00")  # fmt: skip
        add_incident(store, "2026-10-12 06:00:00", "carol", "2026-10-12 06:00:10",
                     "2026-10-12 06:01:00", "2026-10-12 09:00:00", test=1)  # fmt: skip
        add_incident(store, "2026-10-01 04:59:00", "carol", "2026-10-01 04:59:10",
                     "2026-10-01 05:30:00", "2026-10-01 06:00:00")  # fmt: skip
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["report", *args, "--config", str(config)])


def test_clients_table_for_people(config: Path) -> None:
    result = run(config, "clients", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2026-10 (America/Chicago)")
    (line,) = [line for line in result.output.splitlines() if line.startswith("testco")]
    # first page 10s/30s -> median 20s; ack 10m/20m; resolve 1h/50m; 50 + 30 engaged minutes
    for text in ("20s / 30s", "15m / 20m", "55m / 1h", " 80"):
        assert text in line
    assert "Incidents:" not in result.output


def test_clients_json_has_seconds_and_the_incident_lines(config: Path) -> None:
    result = run(config, "clients", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["month"], answer["timezone"]) == ("2026-10", "America/Chicago")
    assert (answer["from"], answer["until"]) == ("2026-10-01T05:00:00Z", "2026-11-01T05:00:00Z")
    (testco,) = answer["clients"]
    assert testco["incidents"] == 2 and testco["P1"] == 2
    assert (testco["first_page_median"], testco["ack_median"], testco["ack_p90"]) == (20, 900, 1200)
    assert (testco["resolve_median"], testco["engaged_minutes"]) == (3300, 80)
    assert [(i["incident"], i["engaged_minutes"]) for i in answer["incidents"]] == [
        (1, 50),
        (2, 30),
    ]
    assert answer["incidents"][0]["opened_at"] == "2026-10-03T07:00:00.000000Z"


def test_clients_csv_incident_lines_for_the_psa(config: Path) -> None:
    result = run(config, "clients", "--month", "2026-10", "--incidents", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == INCIDENT_COLUMNS
    assert [(r["incident"], r["owner"], r["engaged_minutes"]) for r in rows] == [
        ("1", "alice", "50"),
        ("2", "bob", "30"),
    ]


def test_clients_table_with_incidents_in_local_time(config: Path) -> None:
    result = run(config, "clients", "--month", "2026-10", "--incidents")
    assert result.exit_code == 0, result.output
    assert "Incidents:" in result.output
    assert "2026-10-03 02:00 CDT" in result.output


def test_techs_report(config: Path) -> None:
    result = run(config, "techs", "--month", "2026-10", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["tech"]: r for r in csv.DictReader(io.StringIO(result.output))}
    # 02:00 and 01:00 CDT are night pages; alice acked 9m30s after her page, bob 19m50s
    assert rows["alice"] == {
        "tech": "alice", "name": rows["alice"]["name"], "pages": "1", "night_pages": "1",
        "acks": "1", "ack_median": "570", "owned": "1",
    }  # fmt: skip
    assert (rows["bob"]["night_pages"], rows["bob"]["ack_median"]) == ("1", "1190")
    assert (rows["carol"]["pages"], rows["carol"]["acks"], rows["carol"]["ack_median"]) == (
        "0",
        "0",
        "",
    )
    table = run(config, "techs", "--month", "2026-10")
    assert "9m30s" in table.output


def test_promises_report(config: Path) -> None:
    result = run(config, "promises", "--month", "2026-10", "--format", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["promises"] == [
        {"client": "testco", "priority": "P1", "promised": 900, "incidents": 2, "met": 1,
         "breached": 1, "ack_p90": 1200},
    ]  # fmt: skip
    assert answer["breaches"] == [
        {"incident": 2, "client": "testco", "opened_at": "2026-10-10T06:00:00.000000Z",
         "priority": "P1", "promised": 900, "measured": 1200, "note": ""},
    ]  # fmt: skip
    table = run(config, "promises", "--month", "2026-10")
    assert "Breaches:" in table.output
    assert "2026-10-10 01:00 CDT" in table.output
    breaches = run(config, "promises", "--month", "2026-10", "--format", "csv", "--breaches")
    assert breaches.output.splitlines()[1].startswith("2,testco,")


def test_default_month_is_the_current_one(config: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with Store(tmp_path / "oncall.db") as store:
        text = now.isoformat(sep=" ").removesuffix("+00:00")
        add_incident(store, text, "alice", text, text, text)
    answer = json.loads(run(config, "clients", "--format", "json").output)
    assert answer["clients"][0]["incidents"] == 1
    assert answer["month"] == now.astimezone(ZoneInfo("America/Chicago")).strftime("%Y-%m")
    assert now - timedelta(days=32) < datetime.fromisoformat(answer["from"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["clients", "--month", "2026-13"], 2, "--month: expected a month like 2026-11"),
        (["promises", "--client", "nobody"], 2, "unknown client 'nobody'"),
    ],
)
def test_bad_input(config: Path, args: list[str], code: int, message: str) -> None:
    result = run(config, *args)
    assert result.exit_code == code
    assert message in result.output


def test_no_database(tmp_path: Path) -> None:
    result = run(write_config(tmp_path), "techs")
    assert result.exit_code == 1
    assert "no database" in result.output
