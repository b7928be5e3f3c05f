"""Vendors: the third parties a tech may need during an incident (ISP, line-of-business vendor,
hardware support, cyber insurer), as pure functions.

The model and the reading of an SOP's `[[vendors]]` tables, matching what a tech typed in
`VENDOR 12 isp ...` to a vendor id, splitting the rest into ticket and note, and the texts a
tech reads (how to reach the vendor, the chase reminder). No I/O: the engine part in
oncall/vendor_chase.py stores contacts and arms the reminders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import phonenumbers

from oncall.config import parse_duration, parse_phone
from oncall.errors import ConfigError
from oncall.front_matter import as_array_of_tables, as_id, check_keys, get_text
from oncall.texts import duration

_VENDOR_KEYS = frozenset(
    {"id", "name", "phone", "email", "url", "account", "covers", "chase_every"}
)
DEFAULT_CHASE_EVERY = timedelta(minutes=30)
# The note that releases a vendor: `VENDOR 12 isp done` (no more chase reminders).
RELEASE_WORDS = frozenset({"done", "released", "release", "closed"})


@dataclass(frozen=True)
class Vendor:
    """A third party the tech may need to call: ISP, line-of-business vendor, hardware support."""

    name: str
    phone: str | None  # E.164
    email: str | None
    url: str | None
    account: str | None  # contract, account or customer number to quote
    covers: str | None  # what they support
    id: str = ""  # the SOP's slug for it: what a tech types in `VENDOR 12 <id>`
    chase_every: timedelta = DEFAULT_CHASE_EVERY  # how often the owner is reminded to chase


# --------------------------------------------------------------------------- reading the SOP


def parse_vendors(value: Any, path: Path) -> tuple[Vendor, ...]:
    """From an SOP's `[[vendors]]` tables, in file order."""
    vendors: list[Vendor] = []
    for i, table in enumerate(as_array_of_tables(value, path, "vendors")):
        where = f"vendors[{i}]"
        check_keys(table, _VENDOR_KEYS, path, f"{where}.")
        name = get_text(table, "name", path, f"{where}.", required=True)
        assert name is not None
        if "id" not in table:
            raise ConfigError(
                path, f"{where}.id", f'missing: the short id techs type for {name} (e.g. "isp")'
            )
        vendor_id = as_id(table["id"], path, f"{where}.id")
        if any(v.id == vendor_id for v in vendors):
            raise ConfigError(path, f"{where}.id", f"{vendor_id!r} is already used by a vendor")
        phone = _phone(table, path, where)
        email = get_text(table, "email", path, f"{where}.")
        url = get_text(table, "url", path, f"{where}.")
        if phone is None and email is None and url is None:
            raise ConfigError(path, where, f"{name}: give a phone, an email or a url")
        chase_every = DEFAULT_CHASE_EVERY
        if "chase_every" in table:
            chase_every = parse_duration(table["chase_every"], path, f"{where}.chase_every")
        vendors.append(
            Vendor(
                id=vendor_id,
                name=name,
                phone=phone,
                email=email,
                url=url,
                account=get_text(table, "account", path, f"{where}."),
                covers=get_text(table, "covers", path, f"{where}."),
                chase_every=chase_every,
            )
        )
    return tuple(vendors)


def _phone(table: Mapping[str, Any], path: Path, where: str) -> str | None:
    if table.get("phone") is None:
        return None
    return parse_phone(table["phone"], path, f"{where}.phone")


# --------------------------------------------------------------------------- reading SMS


def find_vendor(vendors: Sequence[Vendor], typed: str) -> Vendor | None:
    """The vendor whose id is `typed` (any case), or the only one whose id starts with it."""
    wanted = typed.strip().lower()
    if not wanted:
        return None
    for vendor in vendors:
        if vendor.id == wanted:
            return vendor
    matches = [vendor for vendor in vendors if vendor.id.startswith(wanted)]
    return matches[0] if len(matches) == 1 else None


def split_ticket(rest: str) -> tuple[str | None, str]:
    """'88231 on hold 20 min' → ('88231', 'on hold 20 min'): the first word is the vendor's
    ticket number if it has a digit in it; the rest (or everything) is the note."""
    words = rest.strip().split(maxsplit=1)
    if words and re.search(r"\d", words[0]):
        return words[0].strip("#,;:"), (words[1] if len(words) > 1 else "").strip()
    return None, rest.strip()


def is_release(note: str) -> bool:
    """`VENDOR 12 isp done`: the vendor is no longer needed, so the reminders stop."""
    return note.strip().lower().rstrip(".!") in RELEASE_WORDS


# --------------------------------------------------------------------------- texts


def phone_text(phone: str) -> str:
    """+18005550177 → '+1 800 555 0177'."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return formatted.replace("-", " ")


def reach(vendor: Vendor) -> str:
    """How to reach the vendor: phone, else URL, else e-mail."""
    if vendor.phone:
        return phone_text(vendor.phone)
    return vendor.url or vendor.email or ""


def vendor_list_text(number: int, vendors: Sequence[Vendor]) -> str:
    """`VENDOR 12` without an id: the client's vendor ids."""
    if not vendors:
        return f"#{number}: this client's SOP lists no vendors."
    items = "; ".join(f"{v.id} = {v.name}" for v in vendors)
    return f"Vendors for #{number}: {items}. Reply VENDOR {number} <id> [ticket] [note]."


def unknown_vendor_text(number: int, typed: str, vendors: Sequence[Vendor]) -> str:
    ids = ", ".join(v.id for v in vendors) or "none"
    return f"No vendor {typed!r} for #{number}. Vendor ids: {ids}."


def contact_text(vendor: Vendor, ticket: str | None) -> str:
    """The answer to `VENDOR 12 isp ...`: what the tech needs to call them."""
    parts = [f"{vendor.name}: {reach(vendor)}"]
    if vendor.phone and vendor.url:
        parts.append(vendor.url)
    if vendor.account:
        parts.append(vendor.account)
    logged = f"Logged ticket {ticket}." if ticket else "Logged."
    return ", ".join(parts) + f". {logged} Reminder to chase in {duration(vendor.chase_every)}."


def released_text(number: int, vendor: Vendor) -> str:
    return f"{vendor.name} released for #{number}; no more reminders."


def chase_text(number: int, vendor: Vendor, ticket: str | None, since: timedelta) -> str:
    """The owner's reminder: the vendor has not been chased for a while."""
    ticket_part = f", ticket {ticket}" if ticket else ""
    return (
        f"Chase {vendor.name} ({reach(vendor)}) for #{number}{ticket_part}: last contact "
        f"{duration(since)} ago. Reply VENDOR {number} {vendor.id} <news>."
    )
