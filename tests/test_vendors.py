"""Vendors: SOP parsing, matching a typed id, ticket/note splitting and the texts (pure)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall.errors import ConfigError
from oncall.vendors import (
    DEFAULT_CHASE_EVERY,
    Vendor,
    chase_text,
    contact_text,
    find_vendor,
    is_release,
    split_ticket,
    unknown_vendor_text,
    vendor_list_text,
)

ISP = Vendor(
    id="isp",
    name="Comcast Business",
    phone="+18005550177",
    email=None,
    url=None,
    account="Account 8771",
    covers="the plant circuit",
)
EPICOR = Vendor(
    id="epicor",
    name="Epicor Support",
    phone=None,
    email=None,
    url="https://support.epicor.example",
    account=None,
    covers=None,
    chase_every=timedelta(hours=1),
)
ISP2 = Vendor(
    id="isp-backup",
    name="LTE backup",
    phone="+18005550178",
    email=None,
    url=None,
    account=None,
    covers=None,
)
ALL = (ISP, EPICOR, ISP2)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("isp", ISP),  # exact wins over the prefix of isp-backup
        ("ISP", ISP),
        ("epi", EPICOR),  # unique prefix
        ("isp-b", ISP2),
        ("is", None),  # ambiguous prefix
        ("rockwell", None),
        ("", None),
    ],
)
def test_find_vendor(typed: str, expected: Vendor | None) -> None:
    assert find_vendor(ALL, typed) == expected


@pytest.mark.parametrize(
    ("rest", "ticket", "note"),
    [
        ("88231 on hold 20 min", "88231", "on hold 20 min"),
        ("CS-4410", "CS-4410", ""),
        ("#88231, tech dispatched", "88231", "tech dispatched"),
        ("on hold 20 min", None, "on hold 20 min"),
        ("", None, ""),
        ("  done ", None, "done"),
    ],
)
def test_split_ticket(rest: str, ticket: str | None, note: str) -> None:
    assert split_ticket(rest) == (ticket, note)


@pytest.mark.parametrize(
    ("note", "released"), [("done", True), ("DONE.", True), ("done soon", False), ("", False)]
)
def test_is_release(note: str, released: bool) -> None:
    assert is_release(note) is released


def test_texts() -> None:
    assert contact_text(ISP, "88231") == (
        "Comcast Business: +1 800 555 0177, Account 8771. Logged ticket 88231. "
        "Reminder to chase in 30m."
    )
    assert contact_text(EPICOR, None).endswith("Logged. Reminder to chase in 1h.")
    assert chase_text(12, ISP, "88231", timedelta(minutes=30)) == (
        "Chase Comcast Business (+1 800 555 0177) for #12, ticket 88231: last contact 30m ago. "
        "Reply VENDOR 12 isp <news>."
    )
    assert "isp = Comcast Business" in vendor_list_text(12, ALL)
    assert "lists no vendors" in vendor_list_text(12, ())
    assert "isp, epicor, isp-backup" in unknown_vendor_text(12, "x", ALL)


VENDOR_SOP = MINIMAL + (
    '[[vendors]]\nid = "isp"\nname = "Comcast"\nphone = "+1 800 555 0177"\n'
    '[[vendors]]\nid = "erp"\nname = "Epicor"\nurl = "https://e.example"\nchase_every = "1h"\n'
)


def test_sop_vendor_ids_and_chase_every(tmp_path: Path) -> None:
    sop = load(write_sop(tmp_path, VENDOR_SOP))
    assert [v.id for v in sop.vendors] == ["isp", "erp"]
    assert sop.vendors[0].chase_every == DEFAULT_CHASE_EVERY
    assert sop.vendors[1].chase_every == timedelta(hours=1)


@pytest.mark.parametrize(
    ("old", "new", "where", "fragment"),
    [
        ('id = "isp"\n', "", "vendors[0].id", "missing"),
        ('id = "erp"', 'id = "isp"', "vendors[1].id", "already used"),
        ('id = "isp"', 'id = "ISP"', "vendors[0].id", "a-z, 0-9"),
        ('chase_every = "1h"', 'chase_every = "soon"', "vendors[1].chase_every", "duration"),
    ],
)
def test_sop_vendor_errors(tmp_path: Path, old: str, new: str, where: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write_sop(tmp_path, VENDOR_SOP.replace(old, new, 1)))
    assert info.value.where is not None and where in info.value.where
    assert fragment in str(info.value)
    assert "acme.md" in str(info.value)
