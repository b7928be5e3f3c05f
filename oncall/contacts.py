"""The client's people around an incident: the contacts the incident owner keeps informed.

From an SOP's `[client_updates]` (how often the incident owner is reminded to update the
client, and whom to update). The vendors (`[[vendors]]`) are in oncall/vendors.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from oncall.client_updates import DEFAULT_GRACE, check_templates
from oncall.config import parse_duration, parse_phone
from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_string_list, as_table, check_keys, get_text

_UPDATE_KEYS = frozenset({"every", "grace", "contacts", "templates"})
_CONTACT_KEYS = frozenset({"name", "role", "phone", "email", "priorities"})


@dataclass(frozen=True)
class Contact:
    """Someone at the client the incident owner keeps informed."""

    name: str
    role: str | None
    phone: str | None  # E.164
    email: str | None
    priorities: tuple[str, ...] = ()  # updated about incidents of these priorities; () = all

    def wants(self, priority: str | None) -> bool:
        return not self.priorities or priority in self.priorities


@dataclass(frozen=True)
class ClientUpdates:
    """How often the incident owner is reminded to update the client, and whom to update."""

    every: timedelta | None  # for every priority; None: see every_priority (or no reminders)
    contacts: tuple[Contact, ...]
    every_priority: Mapping[str, timedelta] = field(default_factory=dict)  # `every` as a table
    grace: timedelta = DEFAULT_GRACE  # after a missed update, how long until finals are told
    templates: Mapping[str, str] = field(default_factory=dict)  # first/update/closing overrides

    def cadence(self, priority: str | None) -> timedelta | None:
        """How often clients hear about an incident of this priority (None: not updated)."""
        if self.every is not None:
            return self.every
        return self.every_priority.get(priority or "")

    def recipients(self, priority: str | None) -> tuple[Contact, ...]:
        """The contacts texted about an incident of this priority."""
        return tuple(c for c in self.contacts if c.phone and c.wants(priority))


# --------------------------------------------------------------------------- reading the SOP


def parse_client_updates(value: Any, path: Path) -> ClientUpdates:
    """From an SOP's `[client_updates]` table (empty: no reminders, nobody to update)."""
    table = as_table(value, path, "client_updates")
    check_keys(table, _UPDATE_KEYS, path, "client_updates.")
    every, every_priority = _every(table.get("every"), path)
    contacts = tuple(
        _contact(contact, path, f"client_updates.contacts[{i}]")
        for i, contact in enumerate(
            as_array_of_tables(table.get("contacts", []), path, "client_updates.contacts")
        )
    )
    return ClientUpdates(
        every=every,
        contacts=contacts,
        every_priority=every_priority,
        grace=parse_duration(table.get("grace", "15m"), path, "client_updates.grace"),
        templates=check_templates(table.get("templates", {}), path, "client_updates.templates"),
    )


def _every(value: Any, path: Path) -> tuple[timedelta | None, dict[str, timedelta]]:
    """`every = "1h"` (all priorities) or `every = { P1 = "30m", P2 = "1h" }`."""
    if value is None:
        return None, {}
    if isinstance(value, dict):
        return None, {
            str(priority): parse_duration(span, path, f"client_updates.every.{priority}")
            for priority, span in value.items()
        }
    return parse_duration(value, path, "client_updates.every"), {}


def _contact(table: Mapping[str, Any], path: Path, where: str) -> Contact:
    check_keys(table, _CONTACT_KEYS, path, f"{where}.")
    name = get_text(table, "name", path, f"{where}.", required=True)
    assert name is not None
    phone = _phone(table, path, where)
    email = get_text(table, "email", path, f"{where}.")
    if phone is None and email is None:
        raise ConfigError(path, where, f"{name}: give a phone or an email")
    priorities = (
        as_string_list(table["priorities"], path, f"{where}.priorities")
        if table.get("priorities") not in (None, [])
        else ()
    )
    return Contact(
        name=name,
        role=get_text(table, "role", path, f"{where}."),
        phone=phone,
        email=email,
        priorities=priorities,
    )


def _phone(table: Mapping[str, Any], path: Path, where: str) -> str | None:
    """The optional `phone` key, normalised to E.164."""
    if table.get("phone") is None:
        return None
    return parse_phone(table["phone"], path, f"{where}.phone")
