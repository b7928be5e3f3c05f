"""The SMS reply grammar: what a tech's text message means, as a pure function.

ACK 12 | 12A | ACK      acknowledge incident 12 (bare ACK: the latest page to this phone)
ACK ALL                 acknowledge every open incident this phone was paged for
ESC 12                  escalate incident 12 to the next step now
RES 12 [note]           resolve incident 12 (the note goes into the client's closing message)
TAKE 12                 take ownership of incident 12 (acknowledges it if nobody has)
UPD 12 text             send the client an update on incident 12
VENDOR 12 isp [ticket] [note]   record that the SOP's vendor `isp` is engaged / was chased
SOP 12                  the runbook's steps for incident 12's emergency
WHO                     who is on call now
HELP                    the list of commands
STOP, START, ...        carrier opt-out keywords: recorded, never commands
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A colon after the incident number ("UPD 12: fibre cut", "RES 12: done") is allowed.
_ACK_ALL = re.compile(r"^(?:ack|acknowledge)\s*all$", re.IGNORECASE)
_ACK = re.compile(r"^(?:ack|acknowledge|acknowledged)\s*#?\s*(\d+)?\s*:?$", re.IGNORECASE)
_ACK_SHORT = re.compile(r"^#?(\d+)\s*a$", re.IGNORECASE)
_ESC = re.compile(r"^(?:esc|escalate)\s*#?\s*(\d+)\s*:?$", re.IGNORECASE)
_RES = re.compile(r"^(?:res|resolve|resolved)\s*#?\s*(\d+)\s*:?(?:\s*(.+))?$", re.IGNORECASE)
_TAKE = re.compile(r"^(?:take|own)\s*#?\s*(\d+)\s*:?$", re.IGNORECASE)
_UPD = re.compile(r"^(?:upd|update)\s*#?\s*(\d+)\s*:?(?:\s*(.+))?$", re.IGNORECASE)
_VENDOR = re.compile(
    r"^(?:vendor|vnd)\s*#?\s*(\d+)\s*:?(?:\s*([^\s:]+):?(?:\s+(.+))?)?$", re.IGNORECASE
)
_SOP = re.compile(r"^(?:sop|runbook)\s*#?\s*(\d+)\s*:?$", re.IGNORECASE)
_WHO = re.compile(r"^who$", re.IGNORECASE)
_HELP = re.compile(r"^(?:help|info|\?)$", re.IGNORECASE)
# Carrier keywords (Twilio's defaults): the carrier acts on these, so we only record them.
_OPT_OUT = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
_OPT_IN = {"start", "unstop", "yes"}
_QUOTES = "\"'“”‘’`"

HELP_TEXT = (
    "oncall: ACK 12 (or 12A) acknowledge, ACK ALL all your pages, ESC 12 escalate, "
    "RES 12 note resolve, TAKE 12 own it, UPD 12 text update the client, "
    "VENDOR 12 isp [ticket] vendor engaged, SOP 12 runbook, WHO on call now. "
    "Bare ACK acks your latest page."
)


@dataclass(frozen=True)
class Reply:
    """What a reply asks for. incident is None for bare ACK and commands without one."""

    # ack | ack_all | esc | res | take | upd | vendor | sop | who | help | opt_out | opt_in
    # | unknown
    command: str
    incident: int | None = None
    note: str = ""  # RES and VENDOR: the rest of the text; UPD: the update itself
    vendor: str = ""  # VENDOR: the SOP's vendor id, as typed


def _clean(body: str) -> str:
    """Drop surrounding spaces, quotes and final punctuation; fold inner white space."""
    text = body.strip().strip(_QUOTES).strip()
    text = re.sub(r"\s+", " ", text)
    return text if text == "?" else text.rstrip(".!?").strip()


def parse_reply(body: str, opt_out_type: str | None = None) -> Reply:
    """Read one inbound SMS body. opt_out_type is Twilio's OptOutType parameter, if sent."""
    if opt_out_type:
        kind = opt_out_type.strip().upper()
        if kind == "STOP":
            return Reply("opt_out")
        if kind == "START":
            return Reply("opt_in")
        if kind == "HELP":
            return Reply("help")
    text = _clean(body)
    keyword = text.lower()
    if keyword in _OPT_OUT:
        return Reply("opt_out")
    if keyword in _OPT_IN:
        return Reply("opt_in")
    if _ACK_ALL.match(text):
        return Reply("ack_all")
    if match := _ACK.match(text) or _ACK_SHORT.match(text):
        number = match.group(1)
        return Reply("ack", int(number) if number else None)
    if match := _ESC.match(text):
        return Reply("esc", int(match.group(1)))
    if match := _RES.match(text):
        return Reply("res", int(match.group(1)), (match.group(2) or "").strip())
    if match := _TAKE.match(text):
        return Reply("take", int(match.group(1)))
    if match := _UPD.match(text):
        return Reply("upd", int(match.group(1)), (match.group(2) or "").strip())
    if match := _VENDOR.match(text):
        return Reply(
            "vendor", int(match.group(1)), (match.group(3) or "").strip(), match.group(2) or ""
        )
    if match := _SOP.match(text):
        return Reply("sop", int(match.group(1)))
    if _WHO.match(text):
        return Reply("who")
    if _HELP.match(text):
        return Reply("help")
    return Reply("unknown")
