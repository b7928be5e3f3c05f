"""Writing SOP files for tests: a small valid front matter, and loading with test defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from oncall.config import Defaults
from oncall.sops import Sop, load_sop

DEFAULTS = Defaults(
    ack_timeout=timedelta(minutes=5),
    repeats=2,
    send_retries=3,
    retry_backoff=timedelta(seconds=2),
)
ENV = {"ONCALL_SECRET_ACME": "s3cret-acme"}

# A small valid front matter; each error case in the tests changes one line of it.
MINIMAL = """\
client = "acme"
name = "Acme"
timezone = "America/Chicago"
caller_ids = ["+1 312 555 0142"]
alert_secret = "env:ONCALL_SECRET_ACME"

[support_window]
monday = "07:00-18:00"

[[emergency]]
id = "production-stopped"
priority = "P1"
label = "production is stopped"
hosts = ["plc-*"]

[escalation]
final_contacts = ["owner"]

[[escalation.steps]]
rotation = "primary"
"""


def write_sop(
    directory: Path, front_matter: str, name: str = "acme", body: str = "# Runbook\n"
) -> Path:
    path = directory / f"{name}.md"
    path.write_text(f"+++\n{front_matter}+++\n{body}", encoding="utf-8")
    return path


def load(path: Path, *, env: dict[str, str] | None = None, sandbox: bool = False) -> Sop:
    return load_sop(path, DEFAULTS, env=ENV if env is None else env, sandbox=sandbox)


def line_of(front_matter: str, text: str) -> int:
    """The file line (front matter starts on line 2) of the first line containing text."""
    for number, line in enumerate(front_matter.splitlines(), start=2):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in front matter")
