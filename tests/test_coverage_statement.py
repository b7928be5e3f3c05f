"""oncall.coverage_statement and `oncall sop explain`: the coverage model in plain language."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sop_files import DEFAULTS, MINIMAL, load, write_sop

from oncall.cli import main
from oncall.coverage_statement import coverage_statement
from oncall.response_promise import ResponsePromise
from oncall.sops import Sop, load_sops

REPO = Path(__file__).resolve().parent.parent
NAMES = {
    "alice": "Alice Nguyen",
    "bob": "Bob Okafor",
    "carol": "Carol Diaz",
    "dave": "Dave Kim",
    "owner": "Priya Shah",
}
SOPS = load_sops(REPO / "sops", DEFAULTS, env={}, sandbox=True)


def statement(client: str, fmt: str = "text", desk: str | None = None) -> str:
    return coverage_statement(SOPS[client], NAMES, desk, fmt)


@pytest.mark.parametrize(
    ("client", "sentences"),
    [
        (
            "acme-manufacturing",
            [
                "Our service desk covers Acme Manufacturing at these hours (America/Chicago time):",
                "  - Monday to Friday: 06:00-22:00",
                "Closed all day: Saturday and Sunday.",
                "Closed on the public holidays of US-IL, except Casimir Pulaski Day, Columbus Day, "
                "Election Day, Lincoln's Birthday and Veterans Day, which are normal working days.",
                "Also closed on 2026-12-24 and 2026-12-31.",
                "Every other hour is after hours.",
                "After hours, only these emergencies page an on-call technician:",
                "  - P1: a production line is stopped — raised by our monitoring and reported by "
                "phone (after-hours line, menu option 1)",
                "  - P1: a security alert on a plant computer — raised by our monitoring",
                "  - P2: another computer problem is stopping production — reported by phone "
                "(after-hours line, menu option 6)",
                "A caller who reports an emergency is told to expect a call back within 15 minutes.",
                "on call in the primary rotation, by text message, then a phone call "
                "2 minutes later; waits 5 minutes for an acknowledgment before the next step",
                "If nobody acknowledges, the steps are tried once more.",
                "If nobody has acknowledged after that, Priya Shah is paged.",
                "The technician who acknowledges owns the incident until it is resolved.",
                "P1: updates every 30 minutes.",
                "P2: updates every hour.",
                "An update more than 15 minutes late is raised with our escalation contacts.",
                "  - Luis Ortega — Night-shift production supervisor, for P1 incidents",
                "  - Dana Reyes — Plant manager (decides on line restarts)",
                "  - Rockwell Automation TechConnect: ControlLogix PLCs, FactoryTalk View SCADA "
                "and HMIs",
                "Emergencies are acknowledged by a technician: P1 within 15 minutes and P2 within "
                "1 hour.",
            ],
        ),
        (
            "harbor-law",
            [
                "  - Monday to Friday: 08:00-18:00",
                "  1. Whoever is on call in the primary rotation, by text message; waits 10 minutes "
                "for an acknowledgment before the next step",
                "If nobody has acknowledged after that, Priya Shah is paged.",
                "Updates are due every hour.",
                "  - Cyber insurer breach hotline (Northbridge Mutual): Must be called before any "
                "incident-response firm is engaged",
                "An emergency is acknowledged by a technician within 30 minutes.",
            ],
        ),
        (
            "riverside-clinic",
            [
                "  - Monday to Friday: 07:30-19:00",
                "  - Saturday: 08:00-12:00",
                "Closed all day: Sunday.",
                "  3. Priya Shah, by text message; waits 10 minutes for an acknowledgment",
                "  - P1: a vaccine refrigerator or freezer temperature alarm is going off — raised "
                "by our monitoring and reported by phone (after-hours line, menu option 1)",
                "  - Nurse on call — Handles vaccine storage out of hours",
                "An emergency is acknowledged by a technician within 15 minutes.",
            ],
        ),
    ],
)
def test_example_sops_in_plain_text(client: str, sentences: list[str]) -> None:
    text = statement(client)
    assert text.startswith(f"After-hours coverage: {SOPS[client].name}\n")
    for sentence in sentences:
        assert sentence in text
    assert "If nobody acknowledges, the steps are tried" not in statement("harbor-law")


def test_no_phone_numbers_of_techs_or_contacts() -> None:
    """A statement for a contract: no tech or client phone numbers, no account numbers."""
    text = statement("acme-manufacturing")
    for secret in ("555 0150", "555-0150", "5550150", "TC-2231-88", "40412", "4821"):
        assert secret not in text


@pytest.mark.parametrize("client", sorted(SOPS))
def test_markdown_for_a_contract_appendix(client: str) -> None:
    md = statement(client, "md")
    assert md.startswith(f"# After-hours coverage: {SOPS[client].name}\n\n## Service-desk window\n")
    for title in (
        "What qualifies for after-hours escalation",
        "Who is paged, in what order",
        "When the help desk hands off to engineering",
        "Client updates",
        "Vendors",
        "Response time",
    ):
        assert f"\n## {title}\n\n" in md
    assert "\n1. " in md and "\n- " in md
    assert "===" not in md and "  - " not in md


def test_service_desk_number_is_stated() -> None:
    assert "the service desk answers at +1 970-555-0100." in statement(
        "riverside-clinic", desk="+19705550100"
    )
    assert "service desk answers" not in statement("harbor-law")


def minimal(tmp_path: Path, extra: str = "") -> Sop:
    return load(write_sop(tmp_path, MINIMAL + extra))


def test_no_window_no_promise_no_vendors(tmp_path: Path) -> None:
    sop = minimal(tmp_path)
    sop = replace(sop, support_window=replace(sop.support_window, hours={}))
    text = coverage_statement(sop, NAMES)
    assert "There is no staffed service-desk window for Acme: every hour is after hours." in text
    assert "This SOP promises no acknowledgment time ([response] is not set)." in text
    assert "No third-party vendors are coordinated under this SOP." in text
    assert "No scheduled client updates are part of this SOP's coverage." in text
    assert "There is no automatic hand-off to engineering in this SOP." in text


def test_a_promise_for_some_priorities_says_which_have_none(tmp_path: Path) -> None:
    extra = '\n[[emergency]]\nid = "erp"\npriority = "P2"\nlabel = "the ERP is down"\n'
    sop = minimal(tmp_path, extra)
    sop = replace(sop, response=ResponsePromise(by_priority={"P1": timedelta(minutes=20)}))
    text = coverage_statement(sop, NAMES)
    assert "Emergencies are acknowledged by a technician: P1 within 20 minutes." in text
    assert "No time is promised for P2." in text


def test_named_techs_labels_and_the_engineering_hand_off(tmp_path: Path) -> None:
    sop = minimal(tmp_path)
    first = replace(sop.escalation.steps[0], label="help desk", channels=("voice",))
    engineering = replace(
        first,
        rotation=None,
        techs=("dave", "owner"),
        label="engineering",
        channels=("sms",),
        engage_after=timedelta(minutes=45),
    )
    sop = replace(sop, escalation=replace(sop.escalation, steps=(first, engineering)))
    text = coverage_statement(sop, NAMES)
    assert "  1. Help desk: whoever is on call in the primary rotation, by phone call;" in text
    assert (
        "  2. Engineering: Dave Kim and Priya Shah, by text message; waits 5 minutes for an "
        "acknowledgment before the next step; also paged on a hand-off (see below)" in text
    )
    assert (
        "When an acknowledged incident is still open 45 minutes after the acknowledgment, "
        "engineering (Dave Kim and Priya Shah) is paged automatically; the help desk technician "
        "stays the owner."
    ) in text


def test_update_cadence_per_priority(tmp_path: Path) -> None:
    extra = '\n[[emergency]]\nid = "erp"\npriority = "P2"\nlabel = "the ERP is down"\n'
    sop = minimal(tmp_path, extra)
    updates = sop.client_updates
    if not hasattr(updates, "every_priority"):
        pytest.skip("ClientUpdates has no per-priority cadence yet")
    updates = replace(updates, every=None, every_priority={"P1": timedelta(minutes=30)})
    text = coverage_statement(replace(sop, client_updates=updates), NAMES)
    assert "P1: updates every 30 minutes." in text
    assert "P2: no scheduled updates." in text


# --------------------------------------------------------------------------- the command


def test_sop_explain_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONCALL_CONFIG", raising=False)
    config = str(REPO / "config.example.toml")
    result = CliRunner().invoke(main, ["sop", "explain", "harbor-law", "--config", config])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("After-hours coverage: Harbor Law Group\n")
    assert "the service desk answers at +1 555-010-0000." in result.output  # config's desk
    md = CliRunner().invoke(
        main, ["sop", "explain", "acme-manufacturing", "--format", "md", "--config", config]
    )
    assert md.exit_code == 0, md.output
    assert md.output.startswith("# After-hours coverage: Acme Manufacturing\n")
    unknown = CliRunner().invoke(main, ["sop", "explain", "nobody", "--config", config])
    assert unknown.exit_code == 1
    assert "unknown client 'nobody'" in unknown.output
