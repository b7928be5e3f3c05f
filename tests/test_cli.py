"""The `oncall` command line (oncall.cli) through click's CliRunner: what a manager or the
owner types, what they read back, and the exit codes (0 ok, 1 not found/failed, 2 bad input or
configuration). The log/show and `sandbox reply` tests run against a real daemon (the harness)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog
from click.testing import CliRunner, Result
from harness import AFTER_HOURS, REPO, SECRET, Harness, free_port, write_config

from oncall.catalog import Catalog, load_catalog
from oncall.cli import main

REPO_CONFIG = REPO / "config.example.toml"
CHICAGO = ZoneInfo("America/Chicago")
SATURDAY_2AM = "2026-11-28T02:00:00-06:00"  # after hours for every example client
TUESDAY_10AM = "2026-11-24T10:00:00-06:00"  # inside Acme's support window (Mon-Fri 06-22)

PLC_DOWN = {
    "source": "ninjaone",
    "severity": "critical",
    "summary": "PLC line 3 offline",
    "host": "plc-line3",
}
DISK_WARNING = {"source": "ninjaone", "severity": "warning", "summary": "Disk 80%", "host": "fs01"}
SERVER_DOWN = {"source": "ninjaone", "severity": "critical", "summary": "File server down"}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sandbox credentials on both sides: no real Twilio settings leak in from the shell."""
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "CREDENTIALS_DIRECTORY",
        "ONCALL_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONCALL_TEST_SECRET", SECRET)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`run` and `demo` configure structlog onto the runner's (soon closed) stderr."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def failed(result: Result, code: int) -> str:
    """The command exited with `code` on purpose (not a traceback); return its stderr."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr


def example_config(tmp: Path) -> Path:
    """config.example.toml with its own database in tmp (rotations and SOPs from the repo)."""
    text = REPO_CONFIG.read_text()
    for old, new in (
        ('rotations_dir = "rotations"', f'rotations_dir = "{REPO / "rotations"}"'),
        ('sops_dir = "sops"', f'sops_dir = "{REPO / "sops"}"'),
        ('database = "var/oncall.db"', f'database = "{tmp / "var" / "oncall.db"}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "config.toml"
    path.write_text(text)
    return path


def instant(text: str) -> datetime:
    """How the CLI reads --at: an ISO instant; without an offset, in the daemon's zone."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHICAGO)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(REPO_CONFIG, {})


# --------------------------------------------------------------------------- check


def test_check_accepts_the_example_config(catalog: Catalog) -> None:
    out = ok(oncall("check", "--config", REPO_CONFIG))
    assert out.startswith(
        f"OK: {len(catalog.techs)} techs, {len(catalog.rotations)} rotations "
        f"({', '.join(sorted(catalog.rotations))}), {len(catalog.sops)} clients "
    )
    for name in ("primary", "backup", "acme-manufacturing", "harbor-law", "riverside-clinic"):
        assert name in out


def test_check_accepts_the_test_config(tmp_path: Path) -> None:
    out = ok(oncall("check", "--config", write_config(tmp_path)))
    assert "1 clients (testco)" in out


def test_check_names_the_file_and_line_of_bad_sop_toml(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    sop = tmp_path / "sops" / "testco.md"
    text = sop.read_text()
    sop.write_text(text.replace('priority = "P1"', "priority = P1"))
    line = 1 + text.splitlines().index('priority = "P1"')
    err = failed(oncall("check", "--config", config), 2)
    assert str(sop) in err and f"line {line}" in err and "not valid TOML" in err
    assert "OK" not in oncall("check", "--config", config).stdout


def test_check_names_the_sop_key_of_an_unknown_rotation(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    sop = tmp_path / "sops" / "testco.md"
    sop.write_text(sop.read_text().replace('rotation = "backup"', 'rotation = "nightshift"'))
    err = failed(oncall("check", "--config", config), 2)
    assert str(sop) in err
    assert "escalation.steps[1].rotation" in err and "'nightshift'" in err
    assert "backup, primary" in err  # the rotations that do exist


def test_check_names_an_unknown_final_contact(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    sop = tmp_path / "sops" / "testco.md"
    sop.write_text(
        sop.read_text().replace('final_contacts = ["owner"]', 'final_contacts = ["zed"]')
    )
    err = failed(oncall("check", "--config", config), 2)
    assert "testco.md: escalation.final_contacts" in err and "'zed'" in err


def with_own_rotations(tmp: Path) -> Path:
    """The test config with a private copy of the rotation calendars, to break."""
    config = write_config(tmp)
    shutil.copytree(REPO / "rotations", tmp / "rotations")
    config.write_text(config.read_text().replace(str(REPO / "rotations"), str(tmp / "rotations")))
    return config


def test_check_names_the_calendar_and_line_of_a_bad_event(tmp_path: Path) -> None:
    config = with_own_rotations(tmp_path)
    ok(oncall("check", "--config", config))
    ics = tmp_path / "rotations" / "backup.ics"
    good = "DTSTART;TZID=America/Chicago:20260105T080000"
    lines = ics.read_text().splitlines()
    line = 1 + lines.index(good)
    ics.write_text(ics.read_text().replace(good, "DTSTART;TZID=America/Chicago:2026010X", 1))
    err = failed(oncall("check", "--config", config), 2)
    first = err.splitlines()[0]
    assert str(ics) in first and f"line {line}" in first and "2026010X" in first


def test_check_names_a_cut_short_calendar(tmp_path: Path) -> None:
    config = with_own_rotations(tmp_path)
    ics = tmp_path / "rotations" / "primary.ics"
    ics.write_text(ics.read_text().replace("END:VCALENDAR", ""))
    err = failed(oncall("check", "--config", config), 2)
    assert "primary.ics" in err.splitlines()[0] and "END:VCALENDAR" in err


def test_check_reports_every_broken_file_not_just_the_first(tmp_path: Path) -> None:
    config = with_own_rotations(tmp_path)
    for name in ("primary", "backup"):
        ics = tmp_path / "rotations" / f"{name}.ics"
        ics.write_text(ics.read_text().replace("END:VCALENDAR", ""))
    sop = tmp_path / "sops" / "testco.md"
    (tmp_path / "sops" / "other.md").write_text(
        sop.read_text().replace('"testco"', '"other"').replace('priority = "P1"', "priority = P1")
    )
    sop.write_text(
        sop.read_text().replace('final_contacts = ["owner"]', 'final_contacts = ["zed"]')
    )
    err = failed(oncall("check", "--config", config), 2)
    assert "primary.ics" in err and "backup.ics" in err
    assert "other.md" in err and "testco.md: escalation.final_contacts" in err
    assert "unknown rotation" not in err  # broken calendars still count as rotations


def test_check_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    err = failed(oncall("check", "--config", missing), 2)
    assert str(missing) in err and "not found" in err


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize(
    ("at", "rotation", "expected"),
    [
        (SATURDAY_2AM, "primary", "alice"),
        (SATURDAY_2AM, "backup", "carol"),
        # Handover is Monday 08:00 Chicago time, weekly.
        ("2026-11-30T07:59:59-06:00", "primary", "alice"),
        ("2026-11-30T08:00:00-06:00", "primary", "bob"),
        ("2026-11-30T08:00:00-06:00", "backup", "dave"),
        ("2026-11-30T14:00:00Z", "primary", "bob"),
        # The Monday after DST starts: 08:00 CDT (13:00 UTC), read without an offset.
        ("2026-03-09T07:59:59", "primary", "alice"),
        ("2026-03-09T08:00:00", "primary", "bob"),
    ],
)
def test_who_at_an_instant(catalog: Catalog, at: str, rotation: str, expected: str) -> None:
    assert [t.id for t in catalog.on_call(rotation, instant(at))] == [expected]
    out = ok(oncall("who", rotation, "--at", at, "--config", REPO_CONFIG))
    tech = catalog.techs[expected]
    row = next(line for line in out.splitlines() if line.startswith(rotation))
    assert row.split()[:2] == [rotation, expected]
    assert tech.name in row and tech.phone in row


def test_who_all_rotations_as_json_and_csv(catalog: Catalog) -> None:
    # `until`: the shift's end, Monday 2026-11-30 08:00 CST, in UTC for machines
    expected = [
        {"rotation": name, "tech": t.id, "name": t.name, "phone": t.phone}
        | {"until": "2026-11-30T14:00:00Z"}
        for name in sorted(catalog.rotations)
        for t in catalog.on_call(name, instant(SATURDAY_2AM))
    ]
    assert [(r["rotation"], r["tech"]) for r in expected] == [
        ("backup", "carol"),
        ("primary", "alice"),
    ]
    out = ok(oncall("who", "--at", SATURDAY_2AM, "--format", "json", "--config", REPO_CONFIG))
    assert json.loads(out) == expected
    out = ok(oncall("who", "--at", SATURDAY_2AM, "--format", "csv", "--config", REPO_CONFIG))
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == ["rotation", "tech", "name", "phone", "until"]
    assert list(reader) == expected


def test_who_now_matches_the_calendars(catalog: Catalog) -> None:
    before = {name: catalog.on_call(name, datetime.now(CHICAGO)) for name in catalog.rotations}
    rows = json.loads(ok(oncall("who", "--format", "json", "--config", REPO_CONFIG)))
    after = {name: catalog.on_call(name, datetime.now(CHICAGO)) for name in catalog.rotations}
    assert [row["rotation"] for row in rows] == sorted(catalog.rotations)
    for row in rows:
        assert row["tech"] in {t.id for t in before[row["rotation"]] + after[row["rotation"]]}


def test_who_unknown_rotation_is_exit_1() -> None:
    err = failed(oncall("who", "nightshift", "--config", REPO_CONFIG), 1)
    assert "'nightshift'" in err and "backup, primary" in err


def test_who_uncovered_instant_is_exit_1() -> None:
    # Before the example rotations start (Monday 2026-01-05 08:00).
    result = oncall("who", "primary", "--at", "2026-01-05T07:00:00", "--config", REPO_CONFIG)
    assert result.exit_code == 1
    assert "(nobody: uncovered)" in result.stdout


@pytest.mark.parametrize("at", ["garbage", "P1D", "2026-13-01T00:00:00"])
def test_who_unreadable_time_is_exit_2(at: str) -> None:
    err = failed(oncall("who", "--at", at, "--config", REPO_CONFIG), 2)
    assert repr(at) in err


# --------------------------------------------------------------------------- explain


def alert_file(tmp: Path, body: dict[str, str] | str, name: str = "alert.json") -> Path:
    path = tmp / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def explain(
    config: Path, alert: Path, at: str, *extra: str, client: str = "acme-manufacturing"
) -> Result:
    args = ["--config", config, "--client", client, "--alert", alert, "--at", at]
    return oncall("explain", *args, *extra)


def explain_json(config: Path, alert: Path, at: str) -> dict:
    rows = json.loads(ok(explain(config, alert, at, "--format", "json")))
    assert len(rows) == 1
    return rows[0]


def test_explain_after_hours_emergency_pages(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    out = ok(explain(config, alert_file(tmp_path, PLC_DOWN), SATURDAY_2AM))
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in out.splitlines())
    )
    assert fields["action"] == "page"
    assert fields["rule_id"] == "production-stopped" and fields["priority"] == "P1"
    assert fields["window"] == "Saturday: closed"
    assert fields["would_page"] == "Alice Nguyen"  # primary on call at that instant
    assert "production-stopped" in fields["reason"] and "plc-*" in fields["reason"]
    assert not (tmp_path / "var").exists()  # explain touches no database


def test_explain_as_json(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    result = explain_json(config, alert_file(tmp_path, PLC_DOWN), SATURDAY_2AM)
    assert result["action"] == "page"
    assert result["rule_id"] == "production-stopped"
    assert result["client"] == "acme-manufacturing"
    assert result["at"] == "2026-11-28T08:00:00+00:00"
    assert result["would_page"] == "Alice Nguyen"
    assert result["next_business_start"] is None
    assert not (tmp_path / "var").exists()


def test_explain_as_csv(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    out = ok(explain(config, alert_file(tmp_path, PLC_DOWN), SATURDAY_2AM, "--format", "csv"))
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["action"] == "page" and row["would_page"] == "Alice Nguyen"


def test_explain_business_hours_goes_to_the_service_desk(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    result = explain_json(config, alert_file(tmp_path, PLC_DOWN), TUESDAY_10AM)
    assert result["action"] == "service_desk"
    assert result["window"] == "Tuesday 06:00-22:00 America/Chicago"
    assert result["rule_id"] == "production-stopped"  # would have paged after hours
    assert "would_page" not in result


def test_explain_after_hours_non_emergency_is_queued(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    alert = alert_file(tmp_path, DISK_WARNING)
    result = explain_json(config, alert, SATURDAY_2AM)
    assert result["action"] == "queue"
    assert result["rule_id"] is None
    # Monday 06:00 CST, when Acme's window opens again.
    assert result["next_business_start"] == "2026-11-30T12:00:00+00:00"
    assert "would_page" not in result
    table = ok(explain(config, alert, SATURDAY_2AM))
    assert re.search(r"^\s+action: queue$", table, re.M)
    assert "next_business_start: 2026-11-30T12:00:00+00:00" in table


def test_explain_holidays_are_in_the_clients_calendar(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    alert = alert_file(tmp_path, PLC_DOWN)
    # Thanksgiving (US) and Acme's extra shutdown day are weekday business hours, but closed.
    thanksgiving = explain_json(config, alert, "2026-11-26T10:00:00")
    assert thanksgiving["action"] == "page" and "Thanksgiving" in thanksgiving["window"]
    shutdown = explain_json(config, alert, "2026-12-24T10:00:00")
    assert shutdown["action"] == "page" and "2026-12-24" in shutdown["window"]


@pytest.mark.parametrize(
    "body", ['{"severity": "critical", "summary": ', "[1, 2]", '{"summary": "no severity"}']
)
def test_explain_bad_json_is_exit_2(tmp_path: Path, body: str) -> None:
    config = example_config(tmp_path)
    err = failed(explain(config, alert_file(tmp_path, body), SATURDAY_2AM), 2)
    assert "bad alert" in err
    assert not (tmp_path / "var").exists()


def test_explain_unknown_client_is_exit_1(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    err = failed(explain(config, alert_file(tmp_path, PLC_DOWN), SATURDAY_2AM, client="globex"), 1)
    assert "'globex'" in err and "acme-manufacturing" in err


# --------------------------------------------------------------------------- sop show


def test_sop_show_prints_the_runbook_not_the_front_matter() -> None:
    out = ok(oncall("sop", "show", "harbor-law", "--config", REPO_CONFIG))
    assert out.startswith("# Harbor Law Group (harbor-law)")
    assert "after-hours runbook" in out
    runbook = (REPO / "sops" / "harbor-law.md").read_text().split("+++")[2].strip()
    assert runbook in out
    assert "alert_secret" not in out and "+++" not in out


def test_sop_show_unknown_client_is_exit_1() -> None:
    err = failed(oncall("sop", "show", "globex", "--config", REPO_CONFIG), 1)
    assert "'globex'" in err and "harbor-law" in err


# --------------------------------------------------------------------------- log and show


@dataclass
class Run:
    config: Path
    incident: int
    acked_by: str


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A real daemon run: an emergency paged and ACKed by phone, then a queued warning."""
    tmp = tmp_path_factory.mktemp("ran")
    config = write_config(tmp, ack="1m")
    with Harness(config) as h:
        primary = h.catalog.on_call("primary", h.clock.now())[0]
        response = h.post_alert(SERVER_DOWN)
        assert response.status_code == 202 and response.json()["decision"] == "page"
        number = int(response.json()["incident"])
        phone = h.phone(primary.id)
        phone.expect_sms(f"#{number}")
        phone.reply(f"ACK {number}").expect(f"Acknowledged #{number}")
        queued = h.post_alert(DISK_WARNING)
        assert queued.status_code == 202 and queued.json()["decision"] == "queue"
        database = h.catalog.config.database
    assert database.is_file()
    return Run(config=config, incident=number, acked_by=primary.id)


def log_json(run: Run, *args: object) -> list[dict]:
    return json.loads(ok(oncall("log", "--config", run.config, "--format", "json", *args)))


def test_log_table_shows_every_event_in_local_time(ran: Run) -> None:
    out = ok(oncall("log", "--config", ran.config))
    header = out.splitlines()[0].split()
    assert header == ["id", "time", "kind", "client", "incident", "actor", "message"]
    for kind in (
        "alert.received",
        "decision.page",
        "incident.opened",
        "page.sent",
        "incident.acknowledged",
        "decision.queue",
    ):
        assert kind in out
    assert "2026-11-28T02:00:0" in out and "-06:00" in out  # Chicago, not UTC
    assert f"#{ran.incident} acknowledged by {ran.acked_by}" in out


def test_log_json_and_csv_agree(ran: Run) -> None:
    rows = log_json(ran)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert set(rows[0]) == {"id", "time", "kind", "client", "incident", "actor", "message", "data"}
    assert {r["client"] for r in rows} == {"testco"}
    assert all(r["time"].startswith("2026-11-28T08:00:") for r in rows)  # UTC for machines
    assert all(isinstance(r["data"], dict) for r in rows)
    ack = next(r for r in rows if r["kind"] == "incident.acknowledged")
    assert ack["actor"] == ran.acked_by and ack["incident"] == ran.incident

    out = ok(oncall("log", "--config", ran.config, "--format", "csv"))
    reader = csv.DictReader(io.StringIO(out))
    columns = ["id", "time", "kind", "client", "incident", "actor", "message", "data"]
    assert reader.fieldnames == columns
    from_csv = list(reader)
    assert [int(r["id"]) for r in from_csv] == [r["id"] for r in rows]
    assert [r["message"] for r in from_csv] == [r["message"] for r in rows]


def test_log_filters_by_client(ran: Run) -> None:
    everything = log_json(ran)
    testco = log_json(ran, "--client", "testco")
    assert testco == [r for r in everything if r["client"] == "testco"]
    assert {"alert.received", "page.sent", "decision.queue"} <= {r["kind"] for r in testco}
    assert log_json(ran, "--client", "acme-manufacturing") == []
    assert "(nothing)" in ok(oncall("log", "--config", ran.config, "--client", "globex"))


def test_log_filters_by_incident(ran: Run) -> None:
    rows = log_json(ran, "--incident", ran.incident)
    kinds = [r["kind"] for r in rows]
    # The incident's own events, plus those of the alert that opened it (not yet an incident).
    assert all(r["incident"] in (ran.incident, None) for r in rows)
    assert {r["kind"] for r in rows if r["incident"] is None} == {"alert.received", "decision.page"}
    assert "page.sent" in kinds and "incident.acknowledged" in kinds
    assert "decision.queue" not in kinds
    assert log_json(ran, "--incident", 999) == []


def test_log_filters_by_since_and_limit(ran: Run) -> None:
    everything = log_json(ran)
    # The harness clock starts at Saturday 02:00 Chicago; a bare time is read in that zone.
    assert log_json(ran, "--since", "2026-11-28T02:00:00") == everything
    assert log_json(ran, "--since", AFTER_HOURS.isoformat()) == everything
    assert log_json(ran, "--since", "2026-11-28T03:00:00") == []
    assert log_json(ran, "--limit", 3) == everything[:3]
    failed(oncall("log", "--config", ran.config, "--since", "yesterday-ish"), 2)


def test_show_tells_the_incident_timeline(ran: Run) -> None:
    out = ok(oncall("show", ran.incident, "--config", ran.config))
    lines = out.splitlines()
    assert lines[0].startswith(f"Incident #{ran.incident}  testco  P1  [acknowledged]")
    assert "File server down" in lines[1]
    assert "acknowledged 2026-11-28 02:00:0" in lines[2] and f"by {ran.acked_by}" in lines[2]
    assert "resolved -" in lines[2]
    # The owners (and any vendor contacts and client updates), then the timeline.
    assert lines[4] == "Owners:" and lines[5].endswith(f"  {ran.acked_by}  (ack)")
    timeline = lines[lines.index("Timeline:") + 1 :]
    kinds = [line.split()[4] for line in timeline]  # date, time, zone, actor, kind, what
    assert kinds[0] == "alert.received"  # the alert that opened it belongs to its story
    for kind in ("alert.received", "decision.page", "page.sent", "incident.acknowledged"):
        assert kind in kinds
    assert kinds.index("page.sent") < kinds.index("incident.acknowledged")
    ack = next(line for line in lines if "incident.acknowledged" in line)
    assert ran.acked_by in ack and "CST" in ack
    assert "decision.queue" not in out and "Disk 80%" not in out  # another alert's events


def test_show_unknown_incident_is_exit_1(ran: Run) -> None:
    err = failed(oncall("show", 999, "--config", ran.config), 1)
    assert "no incident #999" in err


@pytest.mark.parametrize("command", [["log"], ["show", "1"]])
def test_without_a_database_is_exit_1_and_creates_nothing(tmp_path: Path, command) -> None:
    config = write_config(tmp_path)
    err = failed(oncall(*command, "--config", config), 1)
    assert f"no database at {tmp_path / 'oncall.db'}" in err and "daemon" in err
    assert not (tmp_path / "oncall.db").exists()


# --------------------------------------------------------------------------- sandbox reply


def config_for(h: Harness, config: Path) -> Path:
    """The same config, but with the addresses the harness daemon really listens on."""
    host, port = h.catalog.config.listen
    text = config.read_text()
    for old, new in (
        ('listen = "127.0.0.1:8787"', f'listen = "{host}:{port}"'),
        ('public_url = "http://127.0.0.1:8787"', f'public_url = "{h.catalog.config.public_url}"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = config.with_name("cli.toml")
    path.write_text(text)
    return path


def open_incident(h: Harness) -> tuple[int, str, str]:
    """Page an emergency; return (incident number, paged tech id, their phone)."""
    primary = h.catalog.on_call("primary", h.clock.now())[0]
    response = h.post_alert(SERVER_DOWN)
    assert response.status_code == 202, response.text
    number = int(response.json()["incident"])
    h.phone(primary.id).expect_sms(f"#{number}")
    return number, primary.id, primary.phone


def reply(config: Path, phone: str, body: str, *extra: str) -> Result:
    return oncall("sandbox", "reply", "--config", config, "--from", phone, *extra, body)


@pytest.fixture
def quiet_daemon() -> None:
    """The harness daemon logs from its own thread to sys.stdout, which the runner captures:
    send those lines elsewhere so stdout is only the command's answer."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))


@pytest.mark.usefixtures("quiet_daemon")
def test_sandbox_reply_acks_through_the_running_daemon(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m")
    with Harness(config) as h:
        cli_config = config_for(h, config)
        number, tech, phone = open_incident(h)
        out = ok(reply(cli_config, phone, f"ACK {number}", "--url", h.url))
        assert f"Acknowledged #{number}" in out
        incident = h.incident(number)
        assert incident["state"] == "acknowledged" and incident["acked_by"] == tech
        # Without --url it posts to daemon.listen from the config.
        out = ok(reply(cli_config, phone, "WHO"))
        name = h.catalog.techs[tech].name
        assert out.startswith("On call now:") and f"primary: {name}" in out
        # A stranger's SMS changes nothing and is answered with nothing.
        assert ok(reply(cli_config, "+15557770000", f"RES {number}")).strip() == "(no answer)"
        assert h.incident(number)["state"] == "acknowledged"


@pytest.mark.usefixtures("quiet_daemon")
def test_sandbox_reply_signed_for_another_public_url_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1m")
    with Harness(config) as h:
        number, _, phone = open_incident(h)
        # config.toml says public_url http://127.0.0.1:8787; this daemon is elsewhere.
        err = failed(reply(config, phone, f"ACK {number}", "--url", h.url), 1)
        assert "403" in err and "X-Twilio-Signature" in err
        assert h.incident(number)["state"] == "paging"


@pytest.fixture
def not_twiml_server() -> Iterator[str]:
    """An HTTP server that answers 200 with HTML: something that is not the daemon."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b"<html><body>It works!"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Keep the test output quiet (http.server logs every request to stderr)."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}", "not-a-url", "ftp://127.0.0.1/", "http://[::1"]
)
def test_sandbox_reply_bad_or_unreachable_url_is_exit_1(tmp_path: Path, url: str) -> None:
    config = write_config(tmp_path)
    url = url.format(port=free_port())
    err = failed(reply(config, "+15550001001", "ACK", "--url", url), 1)
    assert "cannot reach the daemon" in err


def test_sandbox_reply_from_something_not_the_daemon_is_exit_1(
    tmp_path: Path, not_twiml_server: str
) -> None:
    config = write_config(tmp_path)
    err = failed(reply(config, "+15550001001", "ACK", "--url", not_twiml_server), 1)
    assert not_twiml_server in err and "TwiML" in err


def test_sandbox_reply_bad_phone_is_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    err = failed(reply(config, "call me", "ACK", "--url", "http://127.0.0.1:1"), 2)
    assert "--from" in err


# --------------------------------------------------------------------------- demo and run


def test_demo_passes_on_the_example_config() -> None:
    result = oncall("demo", "--ack-timeout", 1, "--config", REPO_CONFIG)
    out = ok(result)
    assert "Demo passed" in out and "DEMO FAILED" not in out
    assert "incident.acknowledged" in out  # the timeline printed from SQLite


def test_run_with_a_broken_config_is_exit_2_and_names_the_problem(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    sop = tmp_path / "sops" / "testco.md"
    sop.write_text(sop.read_text().replace("[support_window]", "[support_window\n"))
    err = failed(oncall("run", "--config", config), 2)
    assert str(sop) in err and "TOML" in err
    missing = tmp_path / "missing.toml"
    err = failed(oncall("run", "--config", missing), 2)
    assert str(missing) in err


def test_version() -> None:
    out = ok(oncall("--version"))
    assert re.search(r"\d+\.\d+\.\d+", out)


def test_ack_and_resolve_from_the_shell_stop_a_running_escalation(tmp_path: Path) -> None:
    config = write_config(tmp_path, ack="1s")
    with Harness(config) as h:
        response = h.post_alert(SERVER_DOWN)
        number = response.json()["incident"]
        primary = h.catalog.on_call("primary", h.clock.now())[0]
        backup = h.catalog.on_call("backup", h.clock.now())[0]
        h.phone(primary.id).expect_sms(f"#{number}")
        out = ok(oncall("ack", str(number), "--as", "owner", "--config", config))
        assert f"Acknowledged #{number}" in out
        h.phone(backup.id).expect_no_sms(1.5)
        assert h.incident(number)["acked_by"] == "owner"
        assert "already acknowledged" in failed(
            oncall("ack", str(number), "--as", "owner", "--config", config), 1
        )
        out = ok(
            oncall(
                "resolve",
                str(number),
                "--as",
                "owner",
                "--note",
                "power restored",
                "--config",
                config,
            )
        )
        assert f"Resolved #{number}" in out
        assert h.incident(number)["state"] == "resolved"
    assert failed(oncall("ack", "99", "--as", "owner", "--config", config), 1)
    assert failed(oncall("ack", "1", "--as", "nobody", "--config", config), 2)
