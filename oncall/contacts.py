"""The people around an incident who are not techs: the client's contacts and the vendors.

From an SOP's `[client_updates]` (how often the incident owner is reminded to update the
client, and whom to update) and `[[vendors]]` (third parties a tech may need to call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from oncall.config import parse_duration, parse_phone
from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_table, check_keys, get_text

_UPDATE_KEYS = frozenset({"every", "contacts"})
_CONTACT_KEYS = frozenset({"name", "role", "phone", "email"})
_VENDOR_KEYS = frozenset({"name", "phone", "email", "url", "account", "covers"})


@dataclass(frozen=True)
class Contact:
    """Someone at the client the incident owner keeps informed."""

    name: str
    role: str | None
    phone: str | None  # E.164
    email: str | None


@dataclass(frozen=True)
class ClientUpdates:
    """How often the incident owner is reminded to update the client, and whom to update."""

    every: timedelta | None  # None: no reminders
    contacts: tuple[Contact, ...]


@dataclass(frozen=True)
class Vendor:
    """A third party the tech may need to call: ISP, line-of-business vendor, hardware support."""

    name: str
    phone: str | None  # E.164
    email: str | None
    url: str | None
    account: str | None  # contract, account or customer number to quote
    covers: str | None  # what they support


# --------------------------------------------------------------------------- reading the SOP


def parse_client_updates(value: Any, path: Path) -> ClientUpdates:
    """From an SOP's `[client_updates]` table (empty: no reminders, nobody to update)."""
    table = as_table(value, path, "client_updates")
    check_keys(table, _UPDATE_KEYS, path, "client_updates.")
    every = (
        parse_duration(table["every"], path, "client_updates.every") if "every" in table else None
    )
    contacts = tuple(
        _contact(contact, path, f"client_updates.contacts[{i}]")
        for i, contact in enumerate(
            as_array_of_tables(table.get("contacts", []), path, "client_updates.contacts")
        )
    )
    return ClientUpdates(every=every, contacts=contacts)


def parse_vendors(value: Any, path: Path) -> tuple[Vendor, ...]:
    """From an SOP's `[[vendors]]` tables, in file order."""
    vendors: list[Vendor] = []
    for i, table in enumerate(as_array_of_tables(value, path, "vendors")):
        where = f"vendors[{i}]"
        check_keys(table, _VENDOR_KEYS, path, f"{where}.")
        name = get_text(table, "name", path, f"{where}.", required=True)
        assert name is not None
        phone = _phone(table, path, where)
        email = get_text(table, "email", path, f"{where}.")
        url = get_text(table, "url", path, f"{where}.")
        if phone is None and email is None and url is None:
            raise ConfigError(path, where, f"{name}: give a phone, an email or a url")
        vendors.append(
            Vendor(
                name=name,
                phone=phone,
                email=email,
                url=url,
                account=get_text(table, "account", path, f"{where}."),
                covers=get_text(table, "covers", path, f"{where}."),
            )
        )
    return tuple(vendors)


def _contact(table: Mapping[str, Any], path: Path, where: str) -> Contact:
    check_keys(table, _CONTACT_KEYS, path, f"{where}.")
    name = get_text(table, "name", path, f"{where}.", required=True)
    assert name is not None
    phone = _phone(table, path, where)
    email = get_text(table, "email", path, f"{where}.")
    if phone is None and email is None:
        raise ConfigError(path, where, f"{name}: give a phone or an email")
    return Contact(
        name=name, role=get_text(table, "role", path, f"{where}."), phone=phone, email=email
    )


def _phone(table: Mapping[str, Any], path: Path, where: str) -> str | None:
    """The optional `phone` key, normalised to E.164."""
    if table.get("phone") is None:
        return None
    return parse_phone(table["phone"], path, f"{where}.phone")
