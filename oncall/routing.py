"""Which client an alert on a shared tool webhook is for: the SOPs' `[intake]` names.

Each SOP lists the names and ids its client goes by in the monitoring tools:

    [intake]
    names = ["Acme Manufacturing", "ACME-01"]   # matched for every tool
    ninjaone = ["41"]                           # matched for NinjaOne only (its organization id)

A tool's payload names an organisation (NinjaOne's organization, Datto's site, N-central's
customer, an Alertmanager `client` label); the first of its names or ids that an SOP lists
decides the client. Matching ignores case and repeated spaces. A name belongs to one client
per tool: `collect_sops` reports a name claimed twice, on the second SOP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oncall.adapters import TOOLS, Adapter, ToolAlert
from oncall.errors import ConfigError
from oncall.front_matter import as_table, check_keys
from oncall.intake import Alert

EVERY_TOOL = "names"
_INTAKE_KEYS = frozenset({EVERY_TOOL, *TOOLS})


@dataclass(frozen=True)
class IntakeNames:
    """An SOP's `[intake]`: the client's names and ids in the tools' payloads."""

    names: tuple[str, ...] = ()  # for every tool
    per_tool: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (tool, names for that tool only)

    def for_tool(self, tool: str) -> tuple[str, ...]:
        return self.names + dict(self.per_tool).get(tool, ())


@dataclass(frozen=True)
class Routed:
    alert: Alert
    raw: bytes


@dataclass(frozen=True)
class Unrouted:
    reason: str
    raw: bytes


def fold(name: str) -> str:
    """The form names are compared in: case-insensitive, runs of whitespace as one space."""
    return " ".join(name.split()).casefold()


# --------------------------------------------------------------------------- reading the SOP


def parse_intake(value: Any, path: Path) -> IntakeNames:
    """From an SOP's `[intake]` table (absent: no names, so only per-client URLs reach it)."""
    table = as_table(value, path, "intake")
    check_keys(table, _INTAKE_KEYS, path, "intake.")
    per_tool = tuple(
        (tool, _names(table[tool], path, f"intake.{tool}")) for tool in TOOLS if tool in table
    )
    names = _names(table[EVERY_TOOL], path, "intake.names") if EVERY_TOOL in table else ()
    return IntakeNames(names=names, per_tool=per_tool)


def _names(value: Any, path: Path, key: str) -> tuple[str, ...]:
    """A name, an id, or a non-empty list of them; ids may be written as numbers."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(path, key, "expected a non-empty list of names or ids")
    names: list[str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                path, key, f"expected names or ids (non-empty strings or numbers), got {item!r}"
            )
        name = " ".join(item.split())
        if any(fold(name) == fold(existing) for existing in names):
            raise ConfigError(path, key, f"{name!r} is listed twice")
        names.append(name)
    return tuple(names)


# --------------------------------------------------------------------------- the directory


@dataclass(frozen=True)
class ClientDirectory:
    """Every tool's organisation names, folded, to the client they belong to."""

    by_tool: Mapping[str, Mapping[str, str]]

    @classmethod
    def build(
        cls, intakes: Iterable[tuple[str, Path, IntakeNames]]
    ) -> tuple[ClientDirectory, list[ConfigError]]:
        """The directory, and an error for each name a later SOP claims from an earlier one."""
        by_tool: dict[str, dict[str, str]] = {tool: {} for tool in TOOLS}
        errors: list[ConfigError] = []
        reported: set[tuple[str, str]] = set()
        for client, path, intake in intakes:
            for tool, owners in by_tool.items():
                for key, name in _keyed(intake, tool):
                    owner = owners.setdefault(fold(name), client)
                    if owner != client and (client, fold(name)) not in reported:
                        reported.add((client, fold(name)))
                        errors.append(
                            ConfigError(
                                path,
                                key,
                                f"{name!r} is already an intake name of client {owner!r}"
                                + ("" if key == "intake.names" else f" for {tool}"),
                            )
                        )
        return cls(by_tool=by_tool), errors

    def client_for(self, tool: str, org: Iterable[str]) -> str | None:
        """The client whose SOP lists the first of the tool's names that any SOP lists."""
        owners = self.by_tool.get(tool, {})
        return next((owners[fold(name)] for name in org if fold(name) in owners), None)


def _keyed(intake: IntakeNames, tool: str) -> list[tuple[str, str]]:
    """(SOP key, name) for every name that applies to `tool`."""
    return [("intake.names", name) for name in intake.names] + [
        (f"intake.{tool}", name) for name in dict(intake.per_tool).get(tool, ())
    ]


def route(
    items: Iterable[ToolAlert], adapter: Adapter, directory: ClientDirectory
) -> list[Routed | Unrouted]:
    """Give each alert from a shared webhook its client, or the reason it has none."""
    routed: list[Routed | Unrouted] = []
    for item in items:
        client = directory.client_for(adapter.tool, item.org)
        if client is not None:
            routed.append(Routed(item.for_client(client), item.raw))
        elif item.org:
            named = " / ".join(repr(name) for name in item.org)
            routed.append(
                Unrouted(
                    f"{adapter.title}: organisation {named} matches no client; list it in that "
                    f"client's SOP under [intake] (names = [...] or {adapter.tool} = [...])",
                    item.raw,
                )
            )
        else:
            routed.append(
                Unrouted(
                    f"{adapter.title}: the payload names no organisation ({adapter.org_fields}), "
                    "so the shared URL cannot tell which client it is for; post it to "
                    f"/alerts/<client>/{adapter.tool} instead",
                    item.raw,
                )
            )
    return routed
