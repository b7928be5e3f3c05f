"""The runbook by SMS: the section for an incident's emergency, flattened and cut short."""

from __future__ import annotations

from oncall.runbook import SMS_LIMIT, plain, runbook_text, section

RUNBOOK = """# Acme — after-hours runbook

## First steps by emergency

### production-stopped (P1) — a line PLC is down
1. ACK the page, then call Luis back.
2. Restart the **FactoryTalk** service.

### ransomware / edr-critical (P1)
**Contain first.** Isolate the host.

## Escalation notes
- Primary, then backup.
"""


def test_the_section_is_the_heading_naming_the_rule_up_to_the_next_of_its_level() -> None:
    found = section(RUNBOOK, "production-stopped")
    assert found is not None
    assert found.startswith("production-stopped (P1)") and "FactoryTalk" in found
    assert "ransomware" not in found


def test_a_rule_sharing_a_heading_with_another_is_found_by_either_id() -> None:
    assert section(RUNBOOK, "edr-critical") == section(RUNBOOK, "ransomware")
    assert "Isolate the host" in (section(RUNBOOK, "edr-critical") or "")


def test_a_whole_word_match_only() -> None:
    assert section(RUNBOOK, "production") is None  # part of production-stopped
    assert section(RUNBOOK, "stopped") is None
    assert section(RUNBOOK, "mes-down") is None


def test_a_higher_level_heading_ends_the_section() -> None:
    found = section(RUNBOOK, "edr-critical") or ""
    assert "Escalation notes" not in found


def test_plain_drops_markdown_marks_and_folds_space() -> None:
    assert (
        plain("**Contain first.**\n  Isolate `fw-1`\n\n_now_") == "Contain first. Isolate fw-1 now"
    )


def test_the_answer_names_the_incident_and_client() -> None:
    text = runbook_text(12, "acme", "Acme", RUNBOOK, "ransomware")
    assert (
        text == "#12 Acme runbook: ransomware / edr-critical (P1) Contain first. Isolate the host."
    )


def test_a_long_section_is_cut_at_a_word_with_the_way_to_the_rest() -> None:
    long = "### big-rule (P1)\n" + "word " * 400
    text = runbook_text(3, "acme", "Acme", long, "big-rule")
    assert len(text) <= SMS_LIMIT
    assert text.endswith("… Full runbook: oncall sop show acme")
    assert "wor…" not in text


def test_no_section_says_so_and_where_the_runbook_is() -> None:
    assert runbook_text(4, "acme", "Acme", RUNBOOK, "mes-down") == (
        "#4 Acme: the runbook has no section for rule mes-down. Full runbook: oncall sop show acme"
    )
    assert "for this incident" in runbook_text(4, "acme", "Acme", RUNBOOK, None)


def test_sop_by_sms_answers_the_example_clients_section_to_any_tech(tmp_path) -> None:
    """`SOP 1` through the SMS inbox, on the shipped Acme SOP and its production-stopped rule."""
    from harness import AFTER_HOURS, REPO

    from oncall.catalog import load_catalog
    from oncall.clock import FakeClock
    from oncall.engine import Engine
    from oncall.intake import Alert
    from oncall.store import Store

    env = {"ONCALL_SECRET_ACME_MANUFACTURING": "x" * 24}
    catalog = load_catalog(REPO / "config.example.toml", env)
    engine = Engine(catalog, Store(tmp_path / "r.db", durable=False), None, FakeClock(AFTER_HOURS))
    alert = Alert(
        client="acme-manufacturing",
        source="ninjaone",
        severity="critical",
        summary="PLC line 3 offline",
        host="plc-line3",
    )
    assert engine.receive_alert(alert, b"{}").incident_id == 1
    not_paged = next(t for t in catalog.techs.values() if t.id == "dave")
    answer = engine.inbox.receive(
        {"MessageSid": "SM" + "5" * 32, "From": not_paged.phone, "Body": "SOP 1"}
    )
    assert answer is not None and answer.startswith(
        "#1 Acme Manufacturing runbook: production-stopped"
    )
    assert "FactoryTalk View SE Client" in answer and len(answer) <= SMS_LIMIT
    assert engine.store.incident(1)["state"] == "paging"  # reading it changed nothing
