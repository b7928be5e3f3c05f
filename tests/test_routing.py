"""Routing alerts from a shared tool URL: SOP [intake] names, their checks, and the lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_fixtures import fixture
from sop_files import DEFAULTS, ENV, MINIMAL, line_of, load, write_sop

from oncall.adapters import ADAPTERS, ToolAlert
from oncall.errors import ConfigError
from oncall.intake import Alert
from oncall.routing import ClientDirectory, IntakeNames, Routed, Unrouted, fold, route
from oncall.sops import collect_sops

ACME = IntakeNames(names=("Acme Manufacturing", "ACME-01"), per_tool=(("ninjaone", ("41",)),))
HARBOR = IntakeNames(names=("Harbor Law Group",), per_tool=(("datto", ("41",)),))


def directory(*entries: tuple[str, IntakeNames]) -> ClientDirectory:
    built, errors = ClientDirectory.build(
        (client, Path(f"/sops/{client}.md"), names) for client, names in entries
    )
    assert errors == []
    return built


def tool_alert(*org: str) -> ToolAlert:
    return ToolAlert(org=org, alert=Alert("", "ninjaone", "critical", "SQL down"), raw=b"{}")


# --------------------------------------------------------------------------- the SOP table


def test_intake_names_load_from_the_sop(tmp_path: Path) -> None:
    front = MINIMAL + (
        '[intake]\nnames = ["Acme  Manufacturing ", "ACME-01"]\nninjaone = [41, "7"]\n'
        'datto = "9f1c-site"\n'
    )
    sop = load(write_sop(tmp_path, front))
    assert sop.intake.names == ("Acme Manufacturing", "ACME-01")
    assert sop.intake.for_tool("ninjaone") == ("Acme Manufacturing", "ACME-01", "41", "7")
    assert sop.intake.for_tool("datto") == ("Acme Manufacturing", "ACME-01", "9f1c-site")
    assert sop.intake.for_tool("ncentral") == ("Acme Manufacturing", "ACME-01")


def test_an_sop_without_intake_has_no_names(tmp_path: Path) -> None:
    assert load(write_sop(tmp_path, MINIMAL)).intake == IntakeNames()


@pytest.mark.parametrize(
    ("table", "where", "reason"),
    [
        ("names = []", "intake.names", "non-empty list"),
        ('names = ["Acme", ""]', "intake.names", "non-empty strings or numbers"),
        ("names = [true]", "intake.names", "got True"),
        ('names = [["Acme"]]', "intake.names", "got ['Acme']"),
        ('names = ["Acme", "ACME"]', "intake.names", "'ACME' is listed twice"),
        ('kaseya = ["Acme"]', "intake.kaseya", "unknown key (allowed: alertmanager, datto"),
        ("ninjaone = {id = 41}", "intake.ninjaone", "non-empty strings or numbers"),
    ],
)
def test_bad_intake_names_are_located(tmp_path: Path, table: str, where: str, reason: str) -> None:
    front = MINIMAL + f"[intake]\n{table}\n"
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == where
    assert caught.value.message.startswith(f"line {line_of(front, table)}: ")
    assert reason in caught.value.message


def test_intake_must_be_a_table(tmp_path: Path) -> None:
    front = 'intake = "Acme"\n' + MINIMAL
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == "intake"


def test_the_client_id_tool_is_reserved(tmp_path: Path) -> None:
    front = MINIMAL.replace('client = "acme"', 'client = "tool"')
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front, name="tool"))
    assert caught.value.where == "client"
    assert "reserved" in caught.value.message


# --------------------------------------------------------------------------- uniqueness


def write_client(directory: Path, client: str, intake: str) -> None:
    front = MINIMAL.replace('client = "acme"', f'client = "{client}"').replace(
        '["+1 312 555 0142"]', "[]"
    )
    write_sop(directory, front + f"[intake]\n{intake}\n", name=client)


def test_a_name_claimed_by_two_clients_is_an_error_on_the_second(tmp_path: Path) -> None:
    write_client(tmp_path, "acme", 'names = ["Acme Manufacturing"]\nninjaone = ["41"]')
    write_client(tmp_path, "beta", 'names = ["acme   MANUFACTURING", "Beta"]')
    write_client(tmp_path, "gamma", 'ninjaone = ["41"]\ndatto = ["Beta"]')
    sops, errors = collect_sops(tmp_path, DEFAULTS, env=ENV, sandbox=True)
    assert set(sops) == {"acme", "beta", "gamma"}  # still loaded, as with caller IDs
    assert [(Path(e.path or "").name, e.where) for e in errors] == [
        ("beta.md", "intake.names"),
        ("gamma.md", "intake.datto"),
        ("gamma.md", "intake.ninjaone"),
    ]
    assert "'acme MANUFACTURING' is already an intake name of client 'acme'" in errors[0].message
    assert "of client 'beta' for datto" in errors[1].message
    assert "of client 'acme' for ninjaone" in errors[2].message


def test_the_same_id_may_mean_different_clients_in_different_tools(tmp_path: Path) -> None:
    write_client(tmp_path, "acme", 'ninjaone = ["41"]')
    write_client(tmp_path, "harbor", 'datto = ["41"]')
    _, errors = collect_sops(tmp_path, DEFAULTS, env=ENV, sandbox=True)
    assert errors == []


# --------------------------------------------------------------------------- lookup and route


@pytest.mark.parametrize(
    ("tool", "org", "client"),
    [
        ("ninjaone", ("Acme Manufacturing",), "acme"),
        ("ninjaone", ("  acme   manufacturing",), "acme"),
        ("datto", ("ACME-01",), "acme"),
        ("ninjaone", ("41",), "acme"),
        ("datto", ("41",), "harbor"),
        ("ncentral", ("41",), None),
        ("ninjaone", ("Unknown Org", "41"), "acme"),
        ("datto", ("Harbor Law Group", "ACME-01"), "harbor"),  # the first listed name decides
        ("ninjaone", (), None),
        ("kaseya", ("Acme Manufacturing",), None),
    ],
)
def test_client_for(tool: str, org: tuple[str, ...], client: str | None) -> None:
    assert directory(("acme", ACME), ("harbor", HARBOR)).client_for(tool, org) == client


def test_fold_ignores_case_and_repeated_spaces() -> None:
    assert fold("  ACME\tManufacturing  ") == fold("acme manufacturing") == "acme manufacturing"


def test_route_gives_each_alert_its_client_or_the_reason() -> None:
    routed = route(
        [tool_alert("Acme Manufacturing", "41"), tool_alert("Globex", "99"), tool_alert()],
        ADAPTERS["ninjaone"],
        directory(("acme", ACME)),
    )
    assert routed[0] == Routed(tool_alert().for_client("acme"), b"{}")
    assert isinstance(routed[1], Unrouted) and isinstance(routed[2], Unrouted)
    assert routed[1].reason.startswith("NinjaOne: organisation 'Globex' / '99' matches no client")
    assert "[intake] (names = [...] or ninjaone = [...])" in routed[1].reason
    assert "names no organisation (device.references.organization.name" in routed[2].reason
    assert "/alerts/<client>/ninjaone" in routed[2].reason
    assert routed[1].raw == b"{}"


def test_the_example_sops_route_the_fixture_payloads() -> None:
    examples = Path(__file__).resolve().parent.parent / "sops"
    sops, errors = collect_sops(examples, DEFAULTS, env={}, sandbox=True)
    assert errors == []
    built, conflicts = ClientDirectory.build(
        (sop.id, sop.path, sop.intake) for sop in sops.values()
    )
    assert conflicts == []
    expected = {
        ("ninjaone", "condition_triggered.json"): "acme-manufacturing",
        ("datto", "alert_triggered.json"): "harbor-law",
        ("ncentral", "service_failed.xml"): "riverside-clinic",
        ("alertmanager", "group_firing.json"): "acme-manufacturing",
        ("generic", "triggered.json"): "acme-manufacturing",
    }
    for (tool, name), client in expected.items():
        items = ADAPTERS[tool].parse(fixture(tool, name))
        assert {built.client_for(tool, item.org) for item in items} == {client}, (tool, name)
