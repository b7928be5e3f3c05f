"""`oncall doctor`: the checks for what an owner gets wrong when setting the pager up.

Each check yields lines `ok:`, `warn:` or `fail:`; any fail makes the command exit 1. The
checks of the configuration, rotations and SOPs are pure functions of the catalog and an
instant; the database and the Twilio account (live mode only: one authenticated call for the
account, one for the from-number) are looked at by the two functions at the bottom.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from oncall.catalog import Catalog
from oncall.cli_rotations import coverage_check
from oncall.config import TwilioSettings

TWILIO_API = "https://api.twilio.com"
API_VERSION = "2010-04-01"
MAX_SKEW_SECONDS = 30.0
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Line:
    """One finding: level is "ok", "warn" or "fail"."""

    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def failed(lines: Iterable[Line]) -> bool:
    return any(line.level == "fail" for line in lines)


# -- pure checks -----------------------------------------------------------------------------


def check_public_url(public_url: str) -> Line:
    """Twilio must reach public_url over https (plain http is only sane on this machine)."""
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return Line("ok", f"public_url {public_url} is https")
    if host in LOCAL_HOSTS:
        return Line("ok", f"public_url {public_url} is local (fine for the sandbox only)")
    return Line(
        "warn",
        f"public_url {public_url} is plain http: Twilio's webhooks and your alert secrets "
        "travel unencrypted; put the daemon behind an https reverse proxy",
    )


def webhook_lines(catalog: Catalog) -> list[Line]:
    """The URLs to paste into the Twilio console and into each client's monitoring tool."""
    config = catalog.config
    base = config.public_url
    numbers = [config.twilio.from_number]
    if config.twilio.emergency_line and config.twilio.emergency_line not in numbers:
        numbers.append(config.twilio.emergency_line)
    lines = [
        Line(
            "ok",
            f"Twilio console, {', '.join(numbers)}, Messaging 'A message comes in': "
            f"POST {base}/twilio/sms",
        ),
        Line(
            "ok",
            f"Twilio console, {', '.join(numbers)}, Voice 'A call comes in': "
            f"POST {base}/twilio/voice",
        ),
    ]
    for client in sorted(catalog.sops):
        lines.append(
            Line(
                "ok",
                f"alerts for {client}: POST {base}/alerts/{client} "
                "(Authorization: Bearer <the client's alert_secret>)",
            )
        )
    return lines


def check_coverage(catalog: Catalog, now: datetime) -> list[Line]:
    """`oncall check`'s coverage: a first-step rotation with nobody on call within 7 days
    fails; other gaps, overlaps and empty shifts warn."""
    findings = coverage_check(catalog, now)
    lines = [
        Line("fail" if finding.level == "error" else "warn", str(finding)) for finding in findings
    ]
    if not any(line.level == "fail" for line in lines):
        lines.insert(0, Line("ok", "every first-step rotation has someone on call for 7 days"))
    return lines


def check_chains(catalog: Catalog, now: datetime) -> list[Line]:
    """Every SOP's escalation chain reaches at least one tech with a phone right now; steps
    reaching nobody and final contacts that are no known tech warn."""
    techs = catalog.config.techs
    lines: list[Line] = []
    for client in sorted(catalog.sops):
        chain = catalog.sops[client].escalation
        reached: list[str] = []
        for number, step in enumerate(chain.steps, start=1):
            ids = [i for i in catalog.step_tech_ids(step, now) if i in techs and techs[i].phone]
            if not ids:
                what = f"rotation {step.rotation!r}" if step.rotation else "its techs"
                lines.append(
                    Line("warn", f"{client}: step {number} ({what}) reaches nobody right now")
                )
            reached += [i for i in ids if i not in reached]
        unknown = [i for i in chain.final_contacts if i not in techs or not techs[i].phone]
        if unknown:
            lines.append(
                Line("warn", f"{client}: final contacts without a phone: {', '.join(unknown)}")
            )
        if reached:
            lines.append(Line("ok", f"{client}: escalation chain reaches {', '.join(reached)}"))
        else:
            lines.append(Line("fail", f"{client}: escalation chain reaches no tech with a phone"))
    return lines


def check_skew(date_header: str | None, now: datetime) -> Line:
    """Compare this machine's clock with the Date header of a Twilio API response."""
    if not date_header:
        return Line("warn", "clock: Twilio's answer had no Date header; skew not checked")
    try:
        remote = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return Line("warn", f"clock: cannot read Twilio's Date header {date_header!r}")
    skew = (now - remote).total_seconds()
    # The header has whole seconds: up to one second of difference is rounding.
    if abs(skew) > MAX_SKEW_SECONDS:
        return Line(
            "warn",
            f"clock: this machine is {skew:+.0f} s off Twilio's clock (more than "
            f"{MAX_SKEW_SECONDS:.0f} s); escalation deadlines and the log run off by as much "
            "(enable NTP: timedatectl set-ntp true)",
        )
    return Line("ok", f"clock: within {max(1.0, abs(skew)):.0f} s of Twilio's")


def check_number(listing: Mapping[str, Any], from_number: str) -> Line:
    """The from-number must be one of the account's numbers, able to send SMS and call."""
    numbers = listing.get("incoming_phone_numbers") or []
    owned = [n for n in numbers if n.get("phone_number") == from_number]
    if not owned:
        return Line("fail", f"from_number {from_number} is not a number of this Twilio account")
    capabilities = owned[0].get("capabilities") or {}
    missing = [name for name in ("sms", "voice") if not capabilities.get(name)]
    if missing:
        return Line("fail", f"from_number {from_number} cannot do {' or '.join(missing)} on Twilio")
    return Line("ok", f"from_number {from_number} is on the account with SMS and voice")


# -- the imperative edge ---------------------------------------------------------------------


def check_database(path: Path) -> Line:
    """The database opens and takes a write lock (or, before the first run, its directory is
    writable so the daemon can create it)."""
    if not path.exists():
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if os.access(parent, os.W_OK):
            return Line("ok", f"database {path} does not exist yet; the daemon will create it")
        return Line("fail", f"database {path} cannot be created: {parent} is not writable")
    try:
        conn = sqlite3.connect(str(path), timeout=2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Line("fail", f"database {path} is not writable: {exc}")
    return Line("ok", f"database {path} is writable")


def check_twilio(settings: TwilioSettings, now: datetime, http: httpx.Client) -> list[Line]:
    """Live mode: credentials (fetch the account), the clock (its Date header) and the
    from-number's capabilities. Sandbox mode calls nothing."""
    if settings.mode != "live":
        return [Line("ok", "twilio: sandbox mode; credentials and numbers not checked")]
    base = (settings.api_base_url or TWILIO_API).rstrip("/")
    account = f"{base}/{API_VERSION}/Accounts/{settings.account_sid}"
    auth = (settings.account_sid, settings.auth_token)
    try:
        answer = http.get(f"{account}.json", auth=auth)
    except httpx.HTTPError as exc:
        return [Line("fail", f"twilio: cannot reach {base}: {exc!r}")]
    if answer.status_code in (401, 403):
        return [
            Line(
                "fail",
                f"twilio: credentials rejected ({answer.status_code}); check "
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            )
        ]
    if answer.status_code != 200:
        return [Line("fail", f"twilio: fetching the account answered {answer.status_code}")]
    status = _json(answer).get("status", "unknown")
    lines = [
        Line(
            "ok" if status == "active" else "fail",
            f"twilio: credentials valid, account {settings.account_sid} is {status}",
        ),
        check_skew(answer.headers.get("date"), now),
    ]
    try:
        listing = http.get(
            f"{account}/IncomingPhoneNumbers.json",
            params={"PhoneNumber": settings.from_number},
            auth=auth,
        )
    except httpx.HTTPError as exc:
        return [*lines, Line("warn", f"from_number not checked: {exc!r}")]
    if listing.status_code != 200:
        return [
            *lines,
            Line("warn", f"from_number not checked: Twilio answered {listing.status_code}"),
        ]
    return [*lines, check_number(_json(listing), settings.from_number)]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def run_checks(
    catalog: Catalog, now: datetime, http: httpx.Client, at: datetime | None = None
) -> list[Line]:
    """Every check, in the order the owner should fix them. `now` is this machine's clock
    (compared with Twilio's); coverage and chains are checked as of `at` (default: now)."""
    config = catalog.config
    at = at or now
    return [
        *check_twilio(config.twilio, now, http),
        check_public_url(config.public_url),
        check_database(config.database),
        *check_coverage(catalog, at),
        *check_chains(catalog, at),
        *webhook_lines(catalog),
    ]
