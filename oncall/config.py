"""Load and validate config.toml: daemon settings, Twilio settings, techs and defaults.

Every error names the file and the key. Secrets (Twilio SID and token) come from the
environment, systemd credentials or a credentials file, never from config.toml itself.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from oncall.client_updates import check_templates
from oncall.deadman import DeadmanSettings, parse_deadman_settings
from oncall.digest import DigestSettings, parse_digest_settings
from oncall.durations import parse_duration
from oncall.email_settings import EmailIntakeSettings, parse_email_settings
from oncall.errors import ConfigError
from oncall.mailer import SmtpSettings, parse_smtp_settings
from oncall.rotation_settings import RotationSettings, parse_rotation_settings
from oncall.test_page_schedule import TestPageSettings, parse_test_page_settings
from oncall.tool_webhooks import ToolWebhook, parse_intake_config

SANDBOX_ACCOUNT_SID = "AC" + "0" * 32
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
# How a page reaches a tech: a text message, or a voice call with keypress acknowledgment.
CHANNELS = ("sms", "voice")


def parse_phone(value: Any, path: Path | str | None, key: str, region: str = "US") -> str:
    """Normalise a phone number to E.164, or raise naming the key."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, key, f"expected a phone number, got {value!r}")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ConfigError(path, key, f"cannot read phone number {value!r}: {exc}") from exc
    if not phonenumbers.is_possible_number(number):
        raise ConfigError(path, key, f"{value!r} is not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_zone(value: Any, path: Path | str | None, key: str) -> ZoneInfo:
    if not isinstance(value, str):
        raise ConfigError(path, key, f"expected an IANA time zone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(path, key, f"unknown time zone {value!r}") from exc


def parse_listen(value: Any, path: Path | str | None, key: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(path, key, f"expected 'host:port', got {value!r}")
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(path, key, f"bad port in {value!r}")
    return host, int(port)


@dataclass(frozen=True)
class Tech:
    """A person who can be paged."""

    id: str
    name: str
    phone: str  # E.164
    email: str | None = None
    channels: tuple[str, ...] = ("sms",)

    def matches(self, text: str) -> bool:
        """True when text names this tech by id, name or e-mail (case-insensitive)."""
        wanted = text.strip().lower().removeprefix("mailto:")
        names = {self.id.lower(), self.name.lower()}
        if self.email:
            names.add(self.email.lower())
        return wanted in names


@dataclass(frozen=True)
class TwilioSettings:
    mode: str  # "live" | "sandbox"
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    emergency_line: str | None
    api_base_url: str | None
    sms_validity: timedelta
    request_timeout: timedelta
    sandbox_listen: tuple[str, int]


@dataclass(frozen=True)
class Defaults:
    ack_timeout: timedelta
    repeats: int
    send_retries: int
    retry_backoff: timedelta
    group_window: timedelta = timedelta(
        minutes=3
    )  # a client's alerts within this join one incident
    tech_pages_per_hour: int = 20  # a tech's paging budget; 0 = no limit
    # SMS noise control: at least this long between two SMS to one tech (0 = off), and at most
    # this many SMS per tech in 15 minutes (0 = off); pages held meanwhile go as one SMS
    tech_sms_gap: timedelta = timedelta(0)
    tech_sms_per_15m: int = 0


@dataclass(frozen=True)
class Config:
    path: Path
    listen: tuple[str, int]
    public_url: str
    database: Path
    rotations_dir: Path
    sops_dir: Path
    timezone: ZoneInfo
    service_desk: str | None
    twilio: TwilioSettings
    defaults: Defaults
    techs: dict[str, Tech]
    # [intake.tools]: the tools with a shared webhook URL, keyed by tool
    intake_tools: Mapping[str, ToolWebhook] = field(default_factory=dict)
    # [intake.email]: the SMTP listener for e-mailed alerts (None: off)
    intake_email: EmailIntakeSettings | None = None
    # [rotations]: file watching and remote calendars
    rotation_settings: RotationSettings = RotationSettings()
    # daemon.owner: the tech warned about problems with the paging itself (a tech's SMS opt-out)
    owner: str | None = None
    # daemon.company: the MSP's name as its clients know it (client updates are signed with it)
    company: str = "Your IT provider"
    # [client_updates.templates]: the texts clients receive (first/update/closing overrides)
    client_templates: Mapping[str, str] = field(default_factory=dict)
    # [selfcheck]: the dead-man heartbeat URL and interval (None: off)
    deadman: DeadmanSettings | None = None
    # [smtp]: the mail server outgoing e-mail goes through (None: no e-mail)
    smtp: SmtpSettings | None = None
    # [digest]: where the next-business-day queue's morning digest goes
    digest: DigestSettings = DigestSettings()
    # [test_pages]: the weekly test page and its acknowledgment window
    test_pages: TestPageSettings = TestPageSettings()

    def tech_by_phone(self, phone: str) -> Tech | None:
        for tech in self.techs.values():
            if tech.phone == phone:
                return tech
        return None


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(path, name, "expected a table")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                path, f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def _whole_number(table: dict[str, Any], key: str, default: int, path: Path) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(path, f"defaults.{key}", f"expected a whole number >= 0, got {value!r}")
    return value


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _credential(name: str, env: dict[str, str], file_values: dict[str, str]) -> str | None:
    """Environment first, then systemd's $CREDENTIALS_DIRECTORY, then the credentials file."""
    env_name = name.upper()
    if env.get(env_name):
        return env[env_name]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        candidate = Path(cred_dir) / name.lower()
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").strip()
    return file_values.get(env_name) or None


def _load_twilio(
    data: dict[str, Any], path: Path, base: Path, env: dict[str, str]
) -> TwilioSettings:
    t = _table(data, "twilio", path)
    _check_keys(
        t,
        {
            "mode",
            "from_number",
            "emergency_line",
            "api_base_url",
            "credentials_file",
            "sms_validity",
            "request_timeout",
            "sandbox_listen",
        },
        path,
        "twilio.",
    )
    mode = t.get("mode", "sandbox")
    if mode not in ("live", "sandbox"):
        raise ConfigError(path, "twilio.mode", f"must be 'live' or 'sandbox', got {mode!r}")
    file_values: dict[str, str] = {}
    if "credentials_file" in t:
        cred_path = base / str(t["credentials_file"])
        if not cred_path.is_file():
            raise ConfigError(path, "twilio.credentials_file", f"no such file: {cred_path}")
        file_values = _read_env_file(cred_path)
    sid = _credential("TWILIO_ACCOUNT_SID", env, file_values)
    token = _credential("TWILIO_AUTH_TOKEN", env, file_values)
    if mode == "sandbox":
        sid = sid or SANDBOX_ACCOUNT_SID
        token = token or SANDBOX_AUTH_TOKEN
    elif not sid or not token:
        raise ConfigError(
            path,
            "twilio",
            "live mode needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (environment, "
            "systemd LoadCredential= or twilio.credentials_file)",
        )
    assert sid is not None and token is not None
    if "from_number" not in t:
        raise ConfigError(path, "twilio.from_number", "missing (the Twilio number pages come from)")
    api_base_url = t.get("api_base_url") or None
    if api_base_url is not None and not re.match(r"^https?://", str(api_base_url)):
        raise ConfigError(
            path, "twilio.api_base_url", f"expected an http(s) URL, got {api_base_url!r}"
        )
    return TwilioSettings(
        mode=mode,
        account_sid=sid,
        auth_token=token,
        from_number=parse_phone(t["from_number"], path, "twilio.from_number"),
        emergency_line=(
            parse_phone(t["emergency_line"], path, "twilio.emergency_line")
            if t.get("emergency_line")
            else None
        ),
        api_base_url=str(api_base_url).rstrip("/") if api_base_url else None,
        sms_validity=parse_duration(t.get("sms_validity", "10m"), path, "twilio.sms_validity"),
        request_timeout=parse_duration(
            t.get("request_timeout", "10s"), path, "twilio.request_timeout"
        ),
        sandbox_listen=parse_listen(
            t.get("sandbox_listen", "127.0.0.1:8788"), path, "twilio.sandbox_listen"
        ),
    )


def _load_techs(data: dict[str, Any], path: Path) -> dict[str, Tech]:
    raw = data.get("techs", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, "techs", "expected at least one [[techs]] entry")
    techs: dict[str, Tech] = {}
    phones: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"techs[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, where, "expected a table")
        _check_keys(entry, {"id", "name", "phone", "email", "channels"}, path, f"{where}.")
        tech_id = entry.get("id")
        if not isinstance(tech_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", tech_id):
            raise ConfigError(path, f"{where}.id", f"expected a lowercase id, got {tech_id!r}")
        if tech_id in techs:
            raise ConfigError(path, f"{where}.id", f"duplicate tech id {tech_id!r}")
        phone = parse_phone(entry.get("phone"), path, f"{where}.phone")
        if phone in phones:
            raise ConfigError(path, f"{where}.phone", f"{phone} is already used by another tech")
        phones.add(phone)
        raw_channels = entry.get("channels", ["sms"])
        if not isinstance(raw_channels, list):
            raise ConfigError(
                path, f"{where}.channels", f'expected a list like ["sms"], got {raw_channels!r}'
            )
        channels = tuple(raw_channels)
        email = entry.get("email")
        if email is not None and (not isinstance(email, str) or "@" not in email):
            raise ConfigError(path, f"{where}.email", f"expected an e-mail address, got {email!r}")
        for channel in channels:
            if channel not in CHANNELS:
                raise ConfigError(path, f"{where}.channels", f"unknown channel {channel!r}")
        techs[tech_id] = Tech(
            id=tech_id,
            name=str(entry.get("name", tech_id)),
            phone=phone,
            email=email,
            channels=channels,
        )
    return techs


def _company(value: Any, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, "daemon.company", f"expected the MSP's name, got {value!r}")
    return value.strip()


def _client_templates(value: Any, path: Path) -> dict[str, str]:
    """`[client_updates.templates]`: the texts every client receives, unless its SOP says."""
    table = _table({"client_updates": value}, "client_updates", path)
    _check_keys(table, {"templates"}, path, "client_updates.")
    return check_templates(table.get("templates", {}), path, "client_updates.templates")


def load_config(path: Path | str, env: dict[str, str] | None = None) -> Config:
    """Read and validate a config file; relative paths are relative to the file."""
    path = Path(path).resolve()
    env = dict(os.environ) if env is None else env
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(path, None, "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from exc
    _check_keys(
        data,
        {
            "daemon",
            "twilio",
            "defaults",
            "techs",
            "intake",
            "rotations",
            "selfcheck",
            "test_pages",
            "client_updates",
            "smtp",
            "digest",
        },
        path,
        "",
    )
    base = path.parent
    d = _table(data, "daemon", path)
    _check_keys(
        d,
        {
            "listen",
            "public_url",
            "database",
            "rotations_dir",
            "sops_dir",
            "timezone",
            "service_desk",
            "owner",
            "company",
        },
        path,
        "daemon.",
    )
    public_url = d.get("public_url")
    if not isinstance(public_url, str) or not re.match(r"^https?://[^/]+", public_url):
        raise ConfigError(
            path,
            "daemon.public_url",
            "expected the base URL Twilio calls back, e.g. https://oncall.example.com",
        )
    defaults = _table(data, "defaults", path)
    _check_keys(
        defaults,
        {
            "ack_timeout",
            "repeats",
            "send_retries",
            "retry_backoff",
            "group_window",
            "tech_pages_per_hour",
            "tech_sms_gap",
            "tech_sms_per_15m",
        },
        path,
        "defaults.",
    )
    group_window = defaults.get("group_window", "3m")
    twilio = _load_twilio(data, path, base, env)
    techs = _load_techs(data, path)
    smtp = parse_smtp_settings(data.get("smtp"), path, env, sandbox=twilio.mode == "sandbox")
    owner = d.get("owner")
    if owner is not None and (not isinstance(owner, str) or owner not in techs):
        raise ConfigError(
            path, "daemon.owner", f"unknown tech {owner!r} (techs: {', '.join(sorted(techs))})"
        )
    return Config(
        path=path,
        listen=parse_listen(d.get("listen", "127.0.0.1:8787"), path, "daemon.listen"),
        public_url=public_url.rstrip("/"),
        database=base / str(d.get("database", "var/oncall.db")),
        rotations_dir=base / str(d.get("rotations_dir", "rotations")),
        sops_dir=base / str(d.get("sops_dir", "sops")),
        timezone=parse_zone(d.get("timezone", "UTC"), path, "daemon.timezone"),
        service_desk=(
            parse_phone(d["service_desk"], path, "daemon.service_desk")
            if d.get("service_desk")
            else None
        ),
        twilio=twilio,
        defaults=Defaults(
            ack_timeout=parse_duration(
                defaults.get("ack_timeout", "5m"), path, "defaults.ack_timeout"
            ),
            repeats=_whole_number(defaults, "repeats", 1, path),
            send_retries=_whole_number(defaults, "send_retries", 3, path),
            retry_backoff=parse_duration(
                defaults.get("retry_backoff", "2s"), path, "defaults.retry_backoff"
            ),
            group_window=(
                timedelta(0)
                if group_window in (0, "0", "0s", "off")
                else parse_duration(group_window, path, "defaults.group_window")
            ),
            tech_pages_per_hour=_whole_number(defaults, "tech_pages_per_hour", 20, path),
            tech_sms_gap=(
                timedelta(0)
                if defaults.get("tech_sms_gap", 0) in (0, "0", "0s", "off")
                else parse_duration(defaults["tech_sms_gap"], path, "defaults.tech_sms_gap")
            ),
            tech_sms_per_15m=_whole_number(defaults, "tech_sms_per_15m", 0, path),
        ),
        techs=techs,
        owner=owner,
        company=_company(d.get("company", "Your IT provider"), path),
        client_templates=_client_templates(data.get("client_updates", {}), path),
        rotation_settings=parse_rotation_settings(
            data.get("rotations"), path, env, sandbox=twilio.mode == "sandbox"
        ),
        intake_tools=parse_intake_config(
            data.get("intake", {}), path, env, sandbox=twilio.mode == "sandbox"
        ),
        intake_email=parse_email_settings(data.get("intake", {}).get("email"), path),
        deadman=parse_deadman_settings(
            data.get("selfcheck"), path, env, sandbox=twilio.mode == "sandbox"
        ),
        smtp=smtp,
        digest=parse_digest_settings(data.get("digest"), path, smtp is not None),
        test_pages=parse_test_page_settings(data.get("test_pages"), path, techs),
    )
