"""Client SOPs: read `sops/<client>.md` (TOML front matter + Markdown runbook) into a `Sop`.

The front matter says when the client's service desk is open (support window and holidays),
what counts as an emergency, and whom to page in what order; the body is the runbook a tech
reads. Every error is a ConfigError naming the file and the key or line. The reference for
every key is docs/sop-format.md.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from oncall.config import CHANNELS, Defaults, parse_duration, parse_phone, parse_zone
from oncall.errors import ConfigError
from oncall.intake import SEVERITIES, Alert, severity_rank

FENCE = "+++"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PRIORITIES = ("P1", "P2", "P3", "P4")
DEFAULT_CHANNELS = ("sms",)
# The close of a range that runs to midnight ("24:00"). A range covers open <= t < close,
# except that a range closing at END_OF_DAY covers the rest of the day.
END_OF_DAY = time.max
SECRET_SOURCES = ("env", "file", "credential")

_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_PIN = re.compile(r"\d{4,8}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_LAST_PART = re.compile(r"(\[\d+\]|\.[^.\[\]]+)$")
# Holiday names are checked against these years: wide enough for every name a country uses.
_HOLIDAY_NAME_YEARS = range(2000, 2051)
_OBSERVED_SUFFIX = " (observed)"

_TOP_KEYS = frozenset(
    {
        "client",
        "name",
        "timezone",
        "caller_ids",
        "pin",
        "alert_secret",
        "service_desk",
        "support_window",
        "holidays",
        "emergency",
        "escalation",
        "client_updates",
        "vendors",
    }
)
_HOLIDAY_KEYS = frozenset({"country", "subdivision", "extra", "not_observed"})
_RULE_KEYS = frozenset(
    {"id", "priority", "label", "sources", "min_severity", "hosts", "keywords", "phone_menu"}
)
_ESCALATION_KEYS = frozenset({"steps", "repeats", "final_contacts"})
_STEP_KEYS = frozenset({"rotation", "techs", "ack_timeout", "channels"})
_UPDATE_KEYS = frozenset({"every", "contacts"})
_CONTACT_KEYS = frozenset({"name", "role", "phone", "email"})
_VENDOR_KEYS = frozenset({"name", "phone", "email", "url", "account", "covers"})


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class EmergencyRule:
    """One thing the client calls an emergency: the phone-menu label and the alert conditions.

    Every condition that is given must hold; a rule with no conditions is a phone-menu-only
    emergency and never matches an alert.
    """

    id: str
    priority: str  # "P1".."P4"
    label: str  # spoken in the phone menu: "press 1 if <label>"
    sources: tuple[str, ...]  # globs on alert.source, case-insensitive
    min_severity: str | None
    hosts: tuple[str, ...]  # globs on alert.host, case-insensitive
    keywords: tuple[str, ...]  # any of them in summary + details, case-insensitive
    phone_menu: bool = True  # offered in the after-hours phone menu

    @property
    def matches_alerts(self) -> bool:
        """False for a phone-menu-only emergency (no alert conditions at all)."""
        return bool(self.sources or self.min_severity or self.hosts or self.keywords)

    def matches(self, alert: Alert) -> bool:
        return self.matches_alerts and all(ok for ok, _ in self._conditions(alert))

    def explain(self, alert: Alert) -> str:
        """Each condition against the alert, e.g. 'severity critical >= critical; host plc-line3 ~ plc-*'."""
        if not self.matches_alerts:
            return "phone-menu-only emergency: never matches an alert"
        return "; ".join(text for _, text in self._conditions(alert))

    def _conditions(self, alert: Alert) -> list[tuple[bool, str]]:
        conditions: list[tuple[bool, str]] = []
        if self.sources:
            conditions.append(_glob_condition("source", alert.source, self.sources))
        if self.min_severity is not None:
            conditions.append(self._severity_condition(alert.severity))
        if self.hosts:
            conditions.append(_glob_condition("host", alert.host, self.hosts))
        if self.keywords:
            text = _fold_text(f"{alert.summary} {alert.details}")
            hit = next((k for k in self.keywords if _fold_text(k) in text), None)
            if hit is not None:
                conditions.append((True, f"keyword {hit!r} in summary/details"))
            else:
                wanted = ", ".join(repr(k) for k in self.keywords)
                conditions.append((False, f"none of the keywords {wanted} in summary/details"))
        return conditions

    def _severity_condition(self, severity: str) -> tuple[bool, str]:
        assert self.min_severity is not None
        if severity not in SEVERITIES:
            return False, f"severity {severity!r} is unknown (needs >= {self.min_severity})"
        if severity_rank(severity) >= severity_rank(self.min_severity):
            return True, f"severity {severity} >= {self.min_severity}"
        return False, f"severity {severity} < {self.min_severity}"


def _fold_text(text: str) -> str:
    """Case- and whitespace-insensitive form used for keyword matching."""
    return " ".join(text.split()).casefold()


def _glob_condition(what: str, value: str, patterns: tuple[str, ...]) -> tuple[bool, str]:
    shown = value or "(none)"
    hit = next((p for p in patterns if value and fnmatchcase(value.casefold(), p.casefold())), None)
    if hit is not None:
        return True, f"{what} {shown} ~ {hit}"
    return False, f"{what} {shown} !~ {', '.join(patterns)}"


@dataclass(frozen=True)
class Step:
    """One step of an escalation chain: whoever is on call in a rotation, or named techs."""

    rotation: str | None  # a rotation name (rotations/<name>.ics) ...
    techs: tuple[str, ...]  # ... or tech ids; exactly one of the two is set
    ack_timeout: timedelta  # how long this step waits for ACK before the next step
    channels: tuple[str, ...]  # "sms" (voice comes with voice paging), in the order tried


@dataclass(frozen=True)
class EscalationChain:
    """Whom to page, in order, and whom to page when everyone has been tried."""

    steps: tuple[Step, ...]
    final_contacts: tuple[str, ...]  # tech ids paged when the chain is exhausted
    repeats: int  # extra passes over the steps before the final contacts


@dataclass(frozen=True)
class SupportWindow:
    """When the client's service desk is staffed, as wall-clock hours in the client's zone.

    `hours` has a key for every weekday (0 = Monday .. 6 = Sunday); each value is a sorted
    tuple of non-overlapping (open, close) pairs with open < close, covering open <= t < close.
    A close of END_OF_DAY (time.max) means 24:00. A range written across midnight
    ("22:00-06:00") is stored as (22:00, END_OF_DAY) on its day and (00:00, 06:00) on the next.
    A holiday closes its whole calendar date, including the after-midnight part of a range
    that started the day before.
    """

    hours: Mapping[int, tuple[tuple[time, time], ...]] = field(hash=False)
    holiday_country: str | None
    holiday_subdivision: str | None
    extra_closed: frozenset[date]
    not_observed: frozenset[str] = frozenset()  # casefolded holiday names the client works on

    def holiday(self, day: date) -> str | None:
        """The name of the holiday that closes `day` (client's local date), or None."""
        if self.holiday_country is not None:
            names = _holidays_in_year(self.holiday_country, self.holiday_subdivision, day.year).get(
                day, ()
            )
            observed = [n for n in names if _holiday_base_name(n) not in self.not_observed]
            if observed:
                return "; ".join(observed)
        if day in self.extra_closed:
            return f"extra closed date {day.isoformat()}"
        return None

    def ranges_on(self, day: date) -> tuple[tuple[time, time], ...]:
        """The open ranges on a local date: none on a holiday."""
        if self.holiday(day) is not None:
            return ()
        return self.hours.get(day.weekday(), ())


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


@dataclass(frozen=True)
class Sop:
    """One client's standard operating procedure: the front matter, resolved, plus the runbook."""

    id: str
    name: str
    path: Path
    timezone: ZoneInfo
    caller_ids: tuple[str, ...]  # E.164
    pin: str | None
    alert_secret: str = field(repr=False)
    alert_secret_is_sandbox_default: bool
    service_desk: str | None  # E.164; None: use config's daemon.service_desk
    support_window: SupportWindow
    emergencies: tuple[EmergencyRule, ...]
    escalation: EscalationChain
    runbook: str
    # Where the secret came from ("env:NAME", "file:/abs/path", "credential:NAME", "literal"
    # or "missing"), for messages; never the secret itself.
    alert_secret_source: str = "unknown"
    client_updates: ClientUpdates = ClientUpdates(every=None, contacts=())
    vendors: tuple[Vendor, ...] = ()

    def emergency(self, rule_id: str) -> EmergencyRule | None:
        return next((rule for rule in self.emergencies if rule.id == rule_id), None)

    @property
    def phone_menu(self) -> tuple[EmergencyRule, ...]:
        """The emergencies offered to callers, in file order ('press 1 for the first')."""
        return tuple(rule for rule in self.emergencies if rule.phone_menu)


def format_ranges(ranges: Iterable[tuple[time, time]]) -> str:
    """'06:00-12:00, 13:00-22:00'; END_OF_DAY prints as 24:00."""
    return ", ".join(f"{_hhmm(open_)}-{_hhmm(close)}" for open_, close in ranges)


def _hhmm(moment: time) -> str:
    return "24:00" if moment == END_OF_DAY else f"{moment:%H:%M}"


# --------------------------------------------------------------------------- holidays


@functools.lru_cache(maxsize=512)
def _holidays_in_year(
    country: str, subdivision: str | None, year: int
) -> Mapping[date, tuple[str, ...]]:
    """Public holidays of one year, computed on first use and kept (pure: same in, same out)."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return MappingProxyType(
        {day: tuple(name.split("; ")) for day, name in sorted(calendar.items())}
    )


@functools.lru_cache(maxsize=64)
def _holiday_names(country: str, subdivision: str | None) -> frozenset[str]:
    """Every (casefolded, '(observed)'-less) holiday name the calendar uses in any year."""
    calendar = holidays.country_holidays(country, subdiv=subdivision, years=_HOLIDAY_NAME_YEARS)
    return frozenset(
        _holiday_base_name(name) for names in calendar.values() for name in names.split("; ")
    )


def _holiday_base_name(name: str) -> str:
    return name.removesuffix(_OBSERVED_SUFFIX).strip().casefold()


# --------------------------------------------------------------------------- loading


def load_sop(path: Path, defaults: Defaults, *, env: Mapping[str, str], sandbox: bool) -> Sop:
    """Read and validate one SOP file; raise ConfigError naming the file and key or line."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(path, None, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror}") from exc
    front_matter, runbook, closing_line = _split_front_matter(path, text)
    try:
        data = tomllib.loads(front_matter)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, exc, closing_line) from exc
    try:
        return _build_sop(path, data, runbook, defaults, env, sandbox)
    except ConfigError as exc:
        line = _locate(_key_lines(front_matter), exc.where)
        if line is None or exc.path != str(path):
            raise
        raise ConfigError(path, exc.where, f"line {line}: {exc.message}") from exc


def collect_sops(
    directory: Path, defaults: Defaults, *, env: Mapping[str, str], sandbox: bool
) -> tuple[dict[str, Sop], list[ConfigError]]:
    """Load every *.md in the directory; return the good SOPs and every error (for `check`).

    Dot-files (editor locks, swap files) are skipped. A caller ID claimed by two clients is an
    error on the second file (in name order), which is still returned.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(directory, None, "SOP directory not found")
    sops: dict[str, Sop] = {}
    errors: list[ConfigError] = []
    for path in sorted(directory.glob("*.md")):
        if path.name.startswith("."):
            continue
        try:
            sop = load_sop(path, defaults, env=env, sandbox=sandbox)
        except ConfigError as exc:
            errors.append(exc)
            continue
        sops[sop.id] = sop
    owners: dict[str, str] = {}
    for sop in sops.values():
        for i, phone in enumerate(sop.caller_ids):
            if phone in owners:
                errors.append(
                    ConfigError(
                        sop.path,
                        f"caller_ids[{i}]",
                        f"{phone} is already a caller ID of client {owners[phone]!r}",
                    )
                )
            else:
                owners[phone] = sop.id
    return sops, errors


def load_sops(
    directory: Path, defaults: Defaults, *, env: Mapping[str, str], sandbox: bool
) -> dict[str, Sop]:
    """Load every *.md in the directory, keyed by client id; raise the first ConfigError."""
    sops, errors = collect_sops(directory, defaults, env=env, sandbox=sandbox)
    if errors:
        raise errors[0]
    return sops


def check_references(
    sops: Mapping[str, Sop], tech_ids: Collection[str], rotation_names: Collection[str]
) -> list[ConfigError]:
    """Escalation steps and final contacts that name a tech or rotation that does not exist."""
    known_techs = ", ".join(sorted(tech_ids)) or "none"
    known_rotations = ", ".join(sorted(rotation_names)) or "none"
    errors: list[ConfigError] = []
    for client in sorted(sops):
        sop = sops[client]
        for i, step in enumerate(sop.escalation.steps):
            if step.rotation is not None and step.rotation not in rotation_names:
                errors.append(
                    ConfigError(
                        sop.path,
                        f"escalation.steps[{i}].rotation",
                        f"unknown rotation {step.rotation!r} (rotations: {known_rotations})",
                    )
                )
            for tech in step.techs:
                if tech not in tech_ids:
                    errors.append(
                        ConfigError(
                            sop.path,
                            f"escalation.steps[{i}].techs",
                            f"unknown tech {tech!r} (techs: {known_techs})",
                        )
                    )
        for tech in sop.escalation.final_contacts:
            if tech not in tech_ids:
                errors.append(
                    ConfigError(
                        sop.path,
                        "escalation.final_contacts",
                        f"unknown tech {tech!r} (techs: {known_techs})",
                    )
                )
    return errors


# --------------------------------------------------------------------------- file structure


def _split_front_matter(path: Path, text: str) -> tuple[str, str, int]:
    """(TOML front matter, runbook, line number of the closing fence)."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].rstrip() != FENCE:
        raise ConfigError(
            path,
            "line 1",
            f"an SOP must start with a line '{FENCE}', then TOML front matter, then a "
            f"closing '{FENCE}' line, then the runbook",
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() == FENCE:
            front_matter = "".join(lines[1:index])
            body = "".join(lines[index + 1 :]).lstrip("\r\n").rstrip()
            return front_matter, (body + "\n" if body else ""), index + 1
    raise ConfigError(path, "line 1", f"the front matter opened here is never closed by '{FENCE}'")


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError, closing_line: int) -> ConfigError:
    """Re-locate tomllib's position from the front matter onto the file (it starts at line 2)."""
    message = str(exc)
    position = _TOML_POSITION.search(message)
    if position:
        line = int(position.group(1)) + 1
        reason = f"{message[: position.start()]} (column {position.group(2)})"
    else:
        line = max(closing_line - 1, 2)
        reason = _TOML_AT_END.sub(" (at the end of the front matter)", message)
    return ConfigError(path, f"line {line}", f"not valid TOML: {reason}")


def _key_lines(front_matter: str) -> dict[str, int]:
    """Best-effort map from dotted key ('emergency[1].hosts') to its line number in the file."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(front_matter.splitlines(), start=2):
        if array := _ARRAY_HEADER.match(line):
            name = _dotted(array.group(1))
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = f"{name}[{index}]"
            lines.setdefault(table, number)
            lines.setdefault(name, number)
        elif header := _TABLE_HEADER.match(line):
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
        elif key := _KEY_LINE.match(line):
            name = _dotted(key.group(1))
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _locate(key_lines: Mapping[str, int], where: str | None) -> int | None:
    """The line of `where`, or of its nearest enclosing key or table."""
    key = where or ""
    while key:
        if key in key_lines:
            return key_lines[key]
        shorter = _LAST_PART.sub("", key)
        if shorter == key:
            return None
        key = shorter
    return None


# --------------------------------------------------------------------------- building


def _build_sop(
    path: Path,
    data: dict[str, Any],
    runbook: str,
    defaults: Defaults,
    env: Mapping[str, str],
    sandbox: bool,
) -> Sop:
    _check_keys(data, _TOP_KEYS, path, "")
    client = data.get("client")
    if client is None:
        raise ConfigError(path, "client", f"missing (the client id, here {path.stem!r})")
    if not isinstance(client, str) or not _ID.fullmatch(client):
        raise ConfigError(path, "client", f"expected an id of a-z, 0-9 and '-', got {client!r}")
    if client != path.stem:
        raise ConfigError(
            path, "client", f"{client!r} must equal the file name {path.stem!r} (without .md)"
        )
    name = _text(data, "name", path, required=True)
    assert name is not None
    if "timezone" not in data:
        raise ConfigError(path, "timezone", "missing (the client's zone, e.g. 'America/Chicago')")
    secret, is_sandbox_default, secret_source = _resolve_secret(
        data.get("alert_secret"), path, client, env, sandbox
    )
    return Sop(
        id=client,
        name=name,
        path=path,
        timezone=parse_zone(data["timezone"], path, "timezone"),
        caller_ids=_caller_ids(data.get("caller_ids", []), path),
        pin=_pin(data.get("pin"), path),
        alert_secret=secret,
        alert_secret_is_sandbox_default=is_sandbox_default,
        alert_secret_source=secret_source,
        service_desk=(
            parse_phone(data["service_desk"], path, "service_desk")
            if data.get("service_desk") is not None
            else None
        ),
        support_window=_support_window(data, path),
        emergencies=_emergencies(data.get("emergency", []), path),
        escalation=_escalation(data.get("escalation"), path, defaults),
        runbook=runbook,
        client_updates=_client_updates(data.get("client_updates", {}), path),
        vendors=_vendors(data.get("vendors", []), path),
    )


def _check_keys(table: Mapping[str, Any], allowed: frozenset[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                path, f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _table(value: Any, path: Path, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, key, f"expected a table ([{key}]), got {value!r}")
    return value


def _array_of_tables(value: Any, path: Path, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(path, key, f"expected [[{key}]] tables")
    return value


def _text(
    table: Mapping[str, Any], key: str, path: Path, where: str = "", required: bool = False
) -> str | None:
    value = table.get(key)
    location = f"{where}{key}"
    if value is None:
        if required:
            raise ConfigError(path, location, "missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, location, f"expected non-empty text, got {value!r}")
    return value.strip()


def _string_list(value: Any, path: Path, key: str) -> tuple[str, ...]:
    """A non-empty list of non-empty strings; a single string counts as a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(path, key, f"expected a non-empty list of strings, got {value!r}")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(path, key, f"expected non-empty strings, got {item!r}")
        items.append(item.strip())
    return tuple(items)


def _caller_ids(value: Any, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, "caller_ids", f"expected a list of phone numbers, got {value!r}")
    phones: list[str] = []
    for i, raw in enumerate(value):
        phone = parse_phone(raw, path, f"caller_ids[{i}]")
        if phone in phones:
            raise ConfigError(path, f"caller_ids[{i}]", f"{phone} is listed twice")
        phones.append(phone)
    return tuple(phones)


def _pin(value: Any, path: Path) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        raise ConfigError(
            path, "pin", f'write the PIN as a quoted string (pin = "{value}") so leading zeros stay'
        )
    if not isinstance(value, str) or not _PIN.fullmatch(value.strip()):
        raise ConfigError(path, "pin", f"expected 4 to 8 digits, got {value!r}")
    return value.strip()


# --------------------------------------------------------------------------- alert secret


def _resolve_secret(
    raw: Any, path: Path, client: str, env: Mapping[str, str], sandbox: bool
) -> tuple[str, bool, str]:
    """(secret, is the sandbox default, where it came from)."""
    if raw is None:
        value, source, problem = None, "missing", "missing"
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(
                path,
                "alert_secret",
                "expected 'env:NAME', 'file:PATH', 'credential:NAME' or the secret itself",
            )
        value, source, problem = _read_secret(raw.strip(), path, env)
    if value:
        return value, False, source
    if sandbox:
        return f"sandbox-{client}", True, source
    raise ConfigError(
        path,
        "alert_secret",
        f"{problem}; live mode needs the client's alert secret (sandbox mode would use "
        "a placeholder)",
    )


def _read_secret(raw: str, path: Path, env: Mapping[str, str]) -> tuple[str | None, str, str]:
    """(value or None, source for messages, why it is missing)."""
    scheme, sep, rest = raw.partition(":")
    if not sep or not _SCHEME.fullmatch(scheme):
        return raw, "literal", ""
    scheme = scheme.lower()
    if scheme not in SECRET_SOURCES:
        raise ConfigError(
            path,
            "alert_secret",
            f"unknown secret source '{scheme}:' (use env:NAME, file:PATH, credential:NAME, "
            "or a literal secret without a 'word:' prefix)",
        )
    rest = rest.strip()
    if not rest:
        raise ConfigError(path, "alert_secret", f"'{scheme}:' needs a name after the colon")
    if scheme == "env":
        value = env.get(rest, "").strip()
        return value or None, f"env:{rest}", f"environment variable {rest} is not set or empty"
    if scheme == "file":
        secret_path = Path(rest).expanduser()
        if not secret_path.is_absolute():
            secret_path = path.parent / secret_path
        return _read_secret_file(secret_path, f"file:{secret_path}")
    if "/" in rest or rest in (".", ".."):
        raise ConfigError(
            path, "alert_secret", f"credential name {rest!r} must be a plain file name"
        )
    directory = env.get("CREDENTIALS_DIRECTORY", "").strip()
    if not directory:
        return (
            None,
            f"credential:{rest}",
            "CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=)",
        )
    value, _, problem = _read_secret_file(Path(directory) / rest, f"credential:{rest}")
    return value, f"credential:{rest}", problem


def _read_secret_file(secret_path: Path, source: str) -> tuple[str | None, str, str]:
    try:
        value = secret_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None, source, f"secret file {secret_path} does not exist"
    except (OSError, UnicodeDecodeError) as exc:
        return None, source, f"cannot read secret file {secret_path}: {exc}"
    if not value:
        return None, source, f"secret file {secret_path} is empty"
    return value, source, ""


# --------------------------------------------------------------------------- support window


def _support_window(data: Mapping[str, Any], path: Path) -> SupportWindow:
    if "support_window" not in data:
        raise ConfigError(
            path,
            "support_window",
            "missing: add [support_window] with the service desk's hours per weekday "
            "(an empty table means always after hours)",
        )
    window = _table(data["support_window"], path, "support_window")
    _check_keys(window, frozenset(WEEKDAYS), path, "support_window.")
    minutes: dict[int, list[tuple[int, int]]] = {weekday: [] for weekday in range(7)}
    for weekday, day_name in enumerate(WEEKDAYS):
        if day_name not in window:
            continue
        for start, end in _day_ranges(window[day_name], path, f"support_window.{day_name}"):
            if end > start:
                minutes[weekday].append((start, end))
            else:  # runs past midnight into the next day
                minutes[weekday].append((start, 24 * 60))
                if end > 0:
                    minutes[(weekday + 1) % 7].append((0, end))
    hours = {weekday: _merge(ranges) for weekday, ranges in minutes.items()}
    country, subdivision, extra, not_observed = _holidays(data.get("holidays", {}), path)
    return SupportWindow(
        hours=MappingProxyType(hours),
        holiday_country=country,
        holiday_subdivision=subdivision,
        extra_closed=extra,
        not_observed=not_observed,
    )


def _day_ranges(value: Any, path: Path, key: str) -> list[tuple[int, int]]:
    """Minutes since midnight, (start, end); end <= start means it runs past midnight."""
    if isinstance(value, str) and value.strip().lower() == "closed":
        return []
    items = value if isinstance(value, list) else [value]
    ranges: list[tuple[int, int]] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(
                path, key, f"expected 'HH:MM-HH:MM', a list of them, or 'closed'; got {item!r}"
            )
        ranges.append(_range_minutes(item, path, key))
    return ranges


def _range_minutes(text: str, path: Path, key: str) -> tuple[int, int]:
    match = _RANGE.match(text)
    if not match:
        raise ConfigError(
            path,
            key,
            f"cannot read {text!r}: expected 'HH:MM-HH:MM' (e.g. '07:00-18:00') or 'closed'",
        )
    open_h, open_m, close_h, close_m = (int(g) for g in match.groups())
    if open_h > 23 or open_m > 59 or close_m > 59 or close_h > 24 or (close_h == 24 and close_m):
        raise ConfigError(path, key, f"{text!r} is not a time of day (00:00 to 24:00)")
    start, end = open_h * 60 + open_m, close_h * 60 + close_m
    if start == end:
        raise ConfigError(
            path, key, f"{text!r} is an empty range (for the whole day write '00:00-24:00')"
        )
    return start, end


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[time, time], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((_minute_time(start), _minute_time(end)) for start, end in merged)


def _minute_time(minutes: int) -> time:
    return END_OF_DAY if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


def _holidays(
    value: Any, path: Path
) -> tuple[str | None, str | None, frozenset[date], frozenset[str]]:
    table = _table(value, path, "holidays")
    _check_keys(table, _HOLIDAY_KEYS, path, "holidays.")
    country = _text(table, "country", path, "holidays.")
    subdivision = _text(table, "subdivision", path, "holidays.")
    if subdivision is not None and country is None:
        raise ConfigError(path, "holidays.subdivision", "needs holidays.country as well")
    if country is not None:
        country = country.upper()
        try:
            holidays.country_holidays(country, subdiv=subdivision)
        except NotImplementedError as exc:
            supported = holidays.list_supported_countries()
            if country not in supported:
                raise ConfigError(
                    path,
                    "holidays.country",
                    f"no holiday calendar for country {country!r} (use an ISO 3166 code such "
                    "as 'US', 'CA', 'GB')",
                ) from exc
            raise ConfigError(
                path,
                "holidays.subdivision",
                f"{country} has no subdivision {subdivision!r} "
                f"(subdivisions: {', '.join(supported[country])})",
            ) from exc
    extra: set[date] = set()
    raw_extra = table.get("extra", [])
    if not isinstance(raw_extra, list):
        raise ConfigError(path, "holidays.extra", "expected a list of dates like 2026-12-24")
    for i, raw in enumerate(raw_extra):
        extra.add(_date(raw, path, f"holidays.extra[{i}]"))
    not_observed: set[str] = set()
    if "not_observed" in table:
        if country is None:
            raise ConfigError(path, "holidays.not_observed", "needs holidays.country as well")
        known = _holiday_names(country, subdivision)
        for name in _string_list(table["not_observed"], path, "holidays.not_observed"):
            base = _holiday_base_name(name)
            if base not in known:
                region = f"{country}-{subdivision}" if subdivision else country
                raise ConfigError(
                    path,
                    "holidays.not_observed",
                    f"{name!r} is not a holiday name in the {region} calendar",
                )
            not_observed.add(base)
    return country, subdivision, frozenset(extra), frozenset(not_observed)


def _date(value: Any, path: Path, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(path, key, f"expected a date like 2026-12-24, got {value!r}")


# --------------------------------------------------------------------------- emergencies


def _emergencies(value: Any, path: Path) -> tuple[EmergencyRule, ...]:
    rules: list[EmergencyRule] = []
    for i, table in enumerate(_array_of_tables(value, path, "emergency")):
        rule = _emergency_rule(table, path, f"emergency[{i}]")
        if any(existing.id == rule.id for existing in rules):
            raise ConfigError(path, f"emergency[{i}].id", f"duplicate emergency id {rule.id!r}")
        rules.append(rule)
    return tuple(rules)


def _emergency_rule(table: Mapping[str, Any], path: Path, where: str) -> EmergencyRule:
    _check_keys(table, _RULE_KEYS, path, f"{where}.")
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise ConfigError(
            path, f"{where}.id", f"expected an id of a-z, 0-9 and '-', got {rule_id!r}"
        )
    priority = table.get("priority")
    if not isinstance(priority, str) or priority.strip().upper() not in PRIORITIES:
        raise ConfigError(
            path, f"{where}.priority", f"expected one of {', '.join(PRIORITIES)}, got {priority!r}"
        )
    label = _text(table, "label", path, f"{where}.", required=True)
    assert label is not None
    min_severity = table.get("min_severity")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise ConfigError(
            path,
            f"{where}.min_severity",
            f"expected one of {', '.join(SEVERITIES)}, got {min_severity!r}",
        )
    phone_menu = table.get("phone_menu", True)
    if not isinstance(phone_menu, bool):
        raise ConfigError(
            path, f"{where}.phone_menu", f"expected true or false, got {phone_menu!r}"
        )
    rule = EmergencyRule(
        id=rule_id,
        priority=priority.strip().upper(),
        label=label,
        sources=_optional_list(table, "sources", path, where),
        min_severity=min_severity,
        hosts=_optional_list(table, "hosts", path, where),
        keywords=_optional_list(table, "keywords", path, where),
        phone_menu=phone_menu,
    )
    if not rule.matches_alerts and not rule.phone_menu:
        raise ConfigError(
            path,
            where,
            "this emergency can never fire: it has no alert conditions (sources, min_severity, "
            "hosts, keywords) and phone_menu = false",
        )
    return rule


def _optional_list(table: Mapping[str, Any], key: str, path: Path, where: str) -> tuple[str, ...]:
    if key not in table:
        return ()
    return _string_list(table[key], path, f"{where}.{key}")


# --------------------------------------------------------------------------- escalation


def _escalation(value: Any, path: Path, defaults: Defaults) -> EscalationChain:
    if value is None:
        raise ConfigError(
            path, "escalation", "missing: add [escalation] with final_contacts and steps"
        )
    table = _table(value, path, "escalation")
    _check_keys(table, _ESCALATION_KEYS, path, "escalation.")
    repeats = table.get("repeats", defaults.repeats)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 0:
        raise ConfigError(
            path, "escalation.repeats", f"expected a whole number >= 0, got {repeats!r}"
        )
    if "final_contacts" not in table:
        raise ConfigError(
            path,
            "escalation.final_contacts",
            "missing: the tech ids paged when nobody in the chain acknowledges",
        )
    final_contacts = _string_list(table["final_contacts"], path, "escalation.final_contacts")
    if "steps" not in table:
        raise ConfigError(
            path, "escalation.steps", "missing: add at least one [[escalation.steps]]"
        )
    raw_steps = _array_of_tables(table["steps"], path, "escalation.steps")
    if not raw_steps:
        raise ConfigError(path, "escalation.steps", "add at least one [[escalation.steps]]")
    steps = tuple(
        _step(step, path, f"escalation.steps[{i}]", defaults) for i, step in enumerate(raw_steps)
    )
    return EscalationChain(steps=steps, final_contacts=final_contacts, repeats=repeats)


def _step(table: Mapping[str, Any], path: Path, where: str, defaults: Defaults) -> Step:
    _check_keys(table, _STEP_KEYS, path, f"{where}.")
    has_rotation, has_techs = "rotation" in table, "techs" in table
    if has_rotation == has_techs:
        raise ConfigError(
            path, where, 'give either rotation = "<rotation name>" or techs = [tech ids]'
        )
    rotation = _text(table, "rotation", path, f"{where}.") if has_rotation else None
    techs = _string_list(table["techs"], path, f"{where}.techs") if has_techs else ()
    channels = (
        _string_list(table["channels"], path, f"{where}.channels")
        if "channels" in table
        else DEFAULT_CHANNELS
    )
    for channel in channels:
        if channel not in CHANNELS:
            raise ConfigError(
                path,
                f"{where}.channels",
                f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})",
            )
    if len(set(channels)) != len(channels):
        raise ConfigError(path, f"{where}.channels", "a channel is listed twice")
    ack_timeout = (
        parse_duration(table["ack_timeout"], path, f"{where}.ack_timeout")
        if "ack_timeout" in table
        else defaults.ack_timeout
    )
    return Step(rotation=rotation, techs=techs, ack_timeout=ack_timeout, channels=channels)


# --------------------------------------------------------------------------- people


def _client_updates(value: Any, path: Path) -> ClientUpdates:
    table = _table(value, path, "client_updates")
    _check_keys(table, _UPDATE_KEYS, path, "client_updates.")
    every = (
        parse_duration(table["every"], path, "client_updates.every") if "every" in table else None
    )
    contacts = tuple(
        _contact(contact, path, f"client_updates.contacts[{i}]")
        for i, contact in enumerate(
            _array_of_tables(table.get("contacts", []), path, "client_updates.contacts")
        )
    )
    return ClientUpdates(every=every, contacts=contacts)


def _contact(table: Mapping[str, Any], path: Path, where: str) -> Contact:
    _check_keys(table, _CONTACT_KEYS, path, f"{where}.")
    name = _text(table, "name", path, f"{where}.", required=True)
    assert name is not None
    phone = (
        parse_phone(table["phone"], path, f"{where}.phone")
        if table.get("phone") is not None
        else None
    )
    email = _text(table, "email", path, f"{where}.")
    if phone is None and email is None:
        raise ConfigError(path, where, f"{name}: give a phone or an email")
    return Contact(
        name=name, role=_text(table, "role", path, f"{where}."), phone=phone, email=email
    )


def _vendors(value: Any, path: Path) -> tuple[Vendor, ...]:
    vendors: list[Vendor] = []
    for i, table in enumerate(_array_of_tables(value, path, "vendors")):
        where = f"vendors[{i}]"
        _check_keys(table, _VENDOR_KEYS, path, f"{where}.")
        name = _text(table, "name", path, f"{where}.", required=True)
        assert name is not None
        phone = (
            parse_phone(table["phone"], path, f"{where}.phone")
            if table.get("phone") is not None
            else None
        )
        email = _text(table, "email", path, f"{where}.")
        url = _text(table, "url", path, f"{where}.")
        if phone is None and email is None and url is None:
            raise ConfigError(path, where, f"{name}: give a phone, an email or a url")
        vendors.append(
            Vendor(
                name=name,
                phone=phone,
                email=email,
                url=url,
                account=_text(table, "account", path, f"{where}."),
                covers=_text(table, "covers", path, f"{where}."),
            )
        )
    return tuple(vendors)
