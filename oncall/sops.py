"""Client SOPs: read `sops/<client>.md` (TOML front matter + Markdown runbook) into a `Sop`.

The front matter says when the client's service desk is open (support window and holidays),
what counts as an emergency, and whom to page in what order; the body is the runbook a tech
reads. Every error is a ConfigError naming the file and the key or line. The reference for
every key is docs/sop-format.md. This module holds the `Sop` itself, its escalation chain,
and the loading of files and directories; each other table is read by its own module
(support_window, emergency, alert_secret, contacts, routing), with front_matter's readers.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oncall.alert_secret import resolve_alert_secret
from oncall.config import CHANNELS, Defaults, parse_duration, parse_phone, parse_zone
from oncall.contacts import ClientUpdates, parse_client_updates
from oncall.emergency import EmergencyRule, parse_emergencies
from oncall.errors import ConfigError
from oncall.front_matter import (
    as_array_of_tables,
    as_id,
    as_string_list,
    as_table,
    check_keys,
    get_text,
    locate_error,
    read_front_matter,
)
from oncall.heartbeats import HeartbeatCheck, parse_heartbeats
from oncall.maintenance import WeeklyWindow, parse_maintenance
from oncall.phone_settings import PhoneLine, parse_phone_line, phone_line_clashes
from oncall.response_promise import NO_PROMISE, ResponsePromise, parse_response
from oncall.routing import ClientDirectory, IntakeNames, parse_intake
from oncall.support_window import SupportWindow, parse_support_window
from oncall.texts import duration
from oncall.vendors import Vendor, parse_vendors

DEFAULT_CHANNELS = ("sms",)
# With channels = ["sms", "voice"], the call goes out this long after the text (capped at half
# the step's ack timeout when voice_after is not given, so the call always happens in the step).
DEFAULT_VOICE_AFTER = timedelta(minutes=2)

_PIN = re.compile(r"\d{4,8}")

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
        "intake",
        "phone_line",
        "heartbeat",
        "maintenance",
        "response",
    }
)
# `/alerts/tool/<tool>` is the shared webhook URL, so no client may be called "tool".
RESERVED_CLIENT_IDS = frozenset({"tool"})
_ESCALATION_KEYS = frozenset({"steps", "repeats", "final_contacts"})
_STEP_KEYS = frozenset(
    {"rotation", "techs", "ack_timeout", "channels", "voice_after", "label", "engage_after"}
)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Step:
    """One step of an escalation chain: whoever is on call in a rotation, or named techs."""

    rotation: str | None  # a rotation name (rotations/<name>.ics) ...
    techs: tuple[str, ...]  # ... or tech ids; exactly one of the two is set
    ack_timeout: timedelta  # how long this step waits for ACK before the next step
    channels: tuple[str, ...]  # "sms", "voice": the ladder, in the order tried
    # the delay between one channel of the ladder and the next (SMS now, the call this later)
    voice_after: timedelta = DEFAULT_VOICE_AFTER
    label: str | None = None  # what the step is ("help desk", "engineering"), for people
    # A later step paged by itself when an acknowledged incident is still open this long
    # after the acknowledgment (help desk → engineering); the owner stays the owner.
    engage_after: timedelta | None = None


@dataclass(frozen=True)
class EscalationChain:
    """Whom to page, in order, and whom to page when everyone has been tried."""

    steps: tuple[Step, ...]
    final_contacts: tuple[str, ...]  # tech ids paged when the chain is exhausted
    repeats: int  # extra passes over the steps before the final contacts


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
    intake: IntakeNames = IntakeNames()  # names and ids the client goes by in the tools
    phone_line: PhoneLine = PhoneLine()  # [phone_line]: unknown callers, call-back promise
    heartbeats: tuple[HeartbeatCheck, ...] = ()  # [[heartbeat]]: jobs that must check in
    maintenance: tuple[WeeklyWindow, ...] = ()  # [[maintenance]]: weekly windows, no paging
    response: ResponsePromise = NO_PROMISE  # [response]: the promised acknowledgment time

    def emergency(self, rule_id: str) -> EmergencyRule | None:
        return next((rule for rule in self.emergencies if rule.id == rule_id), None)

    @property
    def phone_menu(self) -> tuple[EmergencyRule, ...]:
        """The emergencies offered to callers, in file order ('press 1 for the first')."""
        return tuple(rule for rule in self.emergencies if rule.phone_menu)


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
    data, front_matter, runbook = read_front_matter(path, text)
    try:
        return _build_sop(path, data, runbook, defaults, env, sandbox)
    except ConfigError as exc:
        located = locate_error(exc, path, front_matter)
        if located is None:
            raise
        raise located from exc


def collect_sops(
    directory: Path, defaults: Defaults, *, env: Mapping[str, str], sandbox: bool
) -> tuple[dict[str, Sop], list[ConfigError]]:
    """Load every *.md in the directory; return the good SOPs and every error (for `check`).

    Dot-files (editor locks, swap files) are skipped. A caller ID or an `[intake]` name
    claimed by two clients is an error on the second file (in name order), which is still
    returned.
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
    errors.extend(phone_line_clashes(sops.values()))
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
    _, intake_errors = ClientDirectory.build(
        (sop.id, sop.path, sop.intake) for sop in sops.values()
    )
    errors.extend(intake_errors)
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


# --------------------------------------------------------------------------- building


def _build_sop(
    path: Path,
    data: dict[str, Any],
    runbook: str,
    defaults: Defaults,
    env: Mapping[str, str],
    sandbox: bool,
) -> Sop:
    check_keys(data, _TOP_KEYS, path, "")
    client = data.get("client")
    if client is None:
        raise ConfigError(path, "client", f"missing (the client id, here {path.stem!r})")
    client = as_id(client, path, "client")
    if client != path.stem:
        raise ConfigError(
            path, "client", f"{client!r} must equal the file name {path.stem!r} (without .md)"
        )
    if client in RESERVED_CLIENT_IDS:
        raise ConfigError(
            path,
            "client",
            f"{client!r} is reserved (/alerts/{client}/... is the shared webhook URL)",
        )
    name = get_text(data, "name", path, required=True)
    assert name is not None
    if "timezone" not in data:
        raise ConfigError(path, "timezone", "missing (the client's zone, e.g. 'America/Chicago')")
    emergencies = parse_emergencies(data.get("emergency", []), path)
    secret, is_sandbox_default, secret_source = resolve_alert_secret(
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
        support_window=parse_support_window(data, path),
        emergencies=emergencies,
        escalation=_escalation(data.get("escalation"), path, defaults),
        runbook=runbook,
        client_updates=parse_client_updates(data.get("client_updates", {}), path),
        vendors=parse_vendors(data.get("vendors", []), path),
        intake=parse_intake(data.get("intake", {}), path),
        phone_line=parse_phone_line(data.get("phone_line", {}), path, emergencies),
        heartbeats=parse_heartbeats(data.get("heartbeat", []), path),
        maintenance=parse_maintenance(data.get("maintenance", []), path),
        response=parse_response(data.get("response", {}), path),
    )


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


# --------------------------------------------------------------------------- escalation


def _escalation(value: Any, path: Path, defaults: Defaults) -> EscalationChain:
    if value is None:
        raise ConfigError(
            path, "escalation", "missing: add [escalation] with final_contacts and steps"
        )
    table = as_table(value, path, "escalation")
    check_keys(table, _ESCALATION_KEYS, path, "escalation.")
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
    final_contacts = as_string_list(table["final_contacts"], path, "escalation.final_contacts")
    if "steps" not in table:
        raise ConfigError(
            path, "escalation.steps", "missing: add at least one [[escalation.steps]]"
        )
    raw_steps = as_array_of_tables(table["steps"], path, "escalation.steps")
    if not raw_steps:
        raise ConfigError(path, "escalation.steps", "add at least one [[escalation.steps]]")
    steps = tuple(
        _step(step, path, f"escalation.steps[{i}]", defaults) for i, step in enumerate(raw_steps)
    )
    if steps[0].engage_after is not None:
        raise ConfigError(
            path,
            "escalation.steps[0].engage_after",
            "only a later step can be engaged after an acknowledgment (the first step is "
            "paged first anyway); put engage_after on the step to bring in",
        )
    return EscalationChain(steps=steps, final_contacts=final_contacts, repeats=repeats)


def _step(table: Mapping[str, Any], path: Path, where: str, defaults: Defaults) -> Step:
    check_keys(table, _STEP_KEYS, path, f"{where}.")
    has_rotation, has_techs = "rotation" in table, "techs" in table
    if has_rotation == has_techs:
        raise ConfigError(
            path, where, 'give either rotation = "<rotation name>" or techs = [tech ids]'
        )
    rotation = get_text(table, "rotation", path, f"{where}.") if has_rotation else None
    techs = as_string_list(table["techs"], path, f"{where}.techs") if has_techs else ()
    channels = (
        as_string_list(table["channels"], path, f"{where}.channels")
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
    voice_after = min(DEFAULT_VOICE_AFTER, ack_timeout / 2)
    if "voice_after" in table:
        voice_after = parse_duration(table["voice_after"], path, f"{where}.voice_after")
        if len(channels) < 2:
            raise ConfigError(
                path,
                f"{where}.voice_after",
                'needs a second channel to wait for, e.g. channels = ["sms", "voice"]',
            )
        if voice_after >= ack_timeout:
            raise ConfigError(
                path,
                f"{where}.voice_after",
                f"must be shorter than the step's ack_timeout ({duration(ack_timeout)}), or "
                "the next step starts before the call is placed",
            )
    engage_after = (
        parse_duration(table["engage_after"], path, f"{where}.engage_after")
        if "engage_after" in table
        else None
    )
    return Step(
        rotation=rotation,
        techs=techs,
        ack_timeout=ack_timeout,
        channels=channels,
        voice_after=voice_after,
        label=get_text(table, "label", path, f"{where}."),
        engage_after=engage_after,
    )
