"""An SOP's `[phone_line]` table: how the after-hours line treats this client's callers.

    [phone_line]
    unknown_callers = "voicemail"   # or "page": an unidentified caller's voicemail pages this chain
    callback_within = "15m"         # what a caller with an emergency is told to expect
    live_connect = true             # hold an emergency caller for the tech who acknowledges
    hold_limit = "5m"               # the longest a caller holds before "expect a call back"

Also checks that the client's phone menu fits a keypad: keys 1 to 8 for the emergencies whose
`phone_menu` is true, 9 for anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from oncall.durations import parse_duration
from oncall.emergency import EmergencyRule
from oncall.errors import ConfigError
from oncall.front_matter import as_table, check_keys

UNKNOWN_CALLER_POLICIES = ("voicemail", "page")
MENU_KEYS = 8  # keys 1..8 choose an emergency; 9 is "anything else"
_KEYS = frozenset({"unknown_callers", "callback_within", "live_connect", "hold_limit"})


@dataclass(frozen=True)
class PhoneLine:
    """What the after-hours line does for this client beyond the menu itself."""

    # "voicemail": a caller nobody could identify (unknown number, three wrong PINs) leaves a
    # message and nobody is woken. "page": that voicemail opens an incident on this client's
    # chain (at most one client may say so; it is the catch-all for unidentified callers).
    unknown_callers: str = "voicemail"
    # A caller who chose an emergency hears "expect a call back within 15 minutes".
    callback_within: timedelta = timedelta(minutes=15)
    # True: a caller with an emergency holds (for at most hold_limit) and the tech who
    # acknowledges is offered "press 1 to be connected to the caller" (oncall.live_connect).
    live_connect: bool = False
    hold_limit: timedelta = timedelta(minutes=5)

    @property
    def pages_unknown_callers(self) -> bool:
        return self.unknown_callers == "page"


def parse_phone_line(value: Any, path: Path, emergencies: Sequence[EmergencyRule]) -> PhoneLine:
    """Read `[phone_line]` (absent: the defaults) and check the menu fits keys 1 to 8."""
    menu = [rule for rule in emergencies if rule.phone_menu]
    if len(menu) > MENU_KEYS:
        raise ConfigError(
            path,
            "emergency",
            f"{len(menu)} emergencies are in the phone menu but a caller can choose from "
            f"{MENU_KEYS} (keys 1-{MENU_KEYS}; 9 is 'anything else'): set phone_menu = false "
            "on the ones callers do not need",
        )
    table = as_table(value, path, "phone_line")
    check_keys(table, _KEYS, path, "phone_line.")
    unknown = table.get("unknown_callers", "voicemail")
    if unknown not in UNKNOWN_CALLER_POLICIES:
        raise ConfigError(
            path,
            "phone_line.unknown_callers",
            f'expected "voicemail" (page nobody) or "page", got {unknown!r}',
        )
    callback = (
        parse_duration(table["callback_within"], path, "phone_line.callback_within")
        if "callback_within" in table
        else PhoneLine.callback_within
    )
    live = table.get("live_connect", False)
    if not isinstance(live, bool):
        raise ConfigError(path, "phone_line.live_connect", f"expected true or false, got {live!r}")
    hold = (
        parse_duration(table["hold_limit"], path, "phone_line.hold_limit")
        if "hold_limit" in table
        else PhoneLine.hold_limit
    )
    if hold <= timedelta(0):
        raise ConfigError(path, "phone_line.hold_limit", "must be longer than 0 seconds")
    return PhoneLine(
        unknown_callers=unknown, callback_within=callback, live_connect=live, hold_limit=hold
    )


class _ClientLine(Protocol):
    """What the clash check reads of an SOP (oncall.sops.Sop)."""

    @property
    def id(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def pin(self) -> str | None: ...
    @property
    def phone_line(self) -> PhoneLine: ...


def phone_line_clashes(sops: Iterable[_ClientLine]) -> list[ConfigError]:
    """A PIN two clients share, or two catch-alls for unknown callers, cannot be told apart.

    The error is on the second file (in the order given)."""
    errors: list[ConfigError] = []
    pins: dict[str, str] = {}
    catch_all: str | None = None
    for sop in sops:
        if sop.pin is not None:
            if sop.pin in pins:
                errors.append(
                    ConfigError(sop.path, "pin", f"client {pins[sop.pin]!r} has the same PIN")
                )
            else:
                pins[sop.pin] = sop.id
        if sop.phone_line.pages_unknown_callers:
            if catch_all is not None:
                errors.append(
                    ConfigError(
                        sop.path,
                        "phone_line.unknown_callers",
                        f"client {catch_all!r} already pages for unknown callers; only one may",
                    )
                )
            else:
                catch_all = sop.id
    return errors
