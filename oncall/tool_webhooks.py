"""config.toml's `[intake.tools]`: the tools allowed to post to the shared webhook URL.

    [intake.tools]
    ninjaone = "env:ONCALL_NINJAONE_SECRET"
    datto = "credential:oncall-datto"

Each tool listed gets `POST /alerts/tool/<tool>`, which serves every client (routed by the
SOPs' `[intake]` names) and needs that tool's own secret. A secret is named like an SOP's
`alert_secret` (env:, file: relative to config.toml, credential:, or the secret itself);
sandbox mode stands in `sandbox-<tool>` for a missing one, live mode refuses to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall.adapters import ADAPTERS, TOOLS
from oncall.alert_secret import resolve_secret
from oncall.errors import ConfigError


@dataclass(frozen=True)
class ToolWebhook:
    """One tool's shared webhook: the secret it must present and where that came from."""

    tool: str
    secret: str = field(repr=False)
    source: str  # "env:NAME", "file:/abs/path", "credential:NAME", "literal" or "missing"
    is_sandbox_default: bool


def parse_intake_config(
    value: Any, path: Path, env: Mapping[str, str], sandbox: bool
) -> dict[str, ToolWebhook]:
    """The shared webhooks from config.toml's `[intake]` table, keyed by tool."""
    if not isinstance(value, dict):
        raise ConfigError(path, "intake", "expected a table ([intake])")
    for key in value:
        if key not in ("tools", "email"):  # [intake.email] is read by oncall.email_settings
            raise ConfigError(path, f"intake.{key}", "unknown key (allowed: tools, email)")
    tools = value.get("tools", {})
    if not isinstance(tools, dict):
        raise ConfigError(path, "intake.tools", "expected a table ([intake.tools])")
    webhooks: dict[str, ToolWebhook] = {}
    for tool, raw in tools.items():
        if tool not in ADAPTERS:
            raise ConfigError(
                path, f"intake.tools.{tool}", f"unknown tool (tools: {', '.join(TOOLS)})"
            )
        secret, is_sandbox_default, source = resolve_secret(
            raw,
            path,
            env,
            sandbox,
            key=f"intake.tools.{tool}",
            placeholder=f"sandbox-{tool}",
            needed=f"the {ADAPTERS[tool].title} webhook secret",
        )
        webhooks[tool] = ToolWebhook(tool, secret, source, is_sandbox_default)
    return webhooks
