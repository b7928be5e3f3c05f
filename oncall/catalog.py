"""The catalog: configuration, rotation calendars and client SOPs loaded and cross-checked.

The daemon holds one catalog at a time and swaps in a new one on reload only if it loads
cleanly, so a broken edit keeps the last good configuration running.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from oncall.config import Config, Tech, load_config
from oncall.errors import ConfigError
from oncall.rotations import Rotation, load_rotation, load_rotations, on_call
from oncall.sops import Sop, Step, check_references, collect_sops, load_sops


@dataclass(frozen=True)
class Catalog:
    config: Config
    rotations: Mapping[str, Rotation]
    sops: Mapping[str, Sop]

    @property
    def techs(self) -> Mapping[str, Tech]:
        return self.config.techs

    def on_call(self, rotation: str, at: datetime) -> list[Tech]:
        calendar = self.rotations.get(rotation)
        return on_call(calendar, self.config.techs, at) if calendar else []

    def step_tech_ids(self, step: Step, at: datetime) -> list[str]:
        """Who one escalation step reaches at this instant."""
        if step.rotation:
            return [tech.id for tech in self.on_call(step.rotation, at)]
        return [tech_id for tech_id in step.techs if tech_id in self.config.techs]


def load_catalog(config_path: Path | str, env: Mapping[str, str] | None = None) -> Catalog:
    """Load everything; raise the first ConfigError found (file and key named)."""
    env = dict(os.environ) if env is None else dict(env)
    config = load_config(config_path, env)
    return catalog_for(config, env)


def catalog_for(config: Config, env: Mapping[str, str] | None = None) -> Catalog:
    env = dict(os.environ) if env is None else dict(env)
    rotations = load_rotations(config.rotations_dir)
    sops = load_sops(
        config.sops_dir, config.defaults, env=env, sandbox=config.twilio.mode == "sandbox"
    )
    problems = check_references(sops, config.techs.keys(), rotations.keys())
    if problems:
        raise problems[0]
    return Catalog(config=config, rotations=rotations, sops=sops)


def check_all(config_path: Path | str, env: Mapping[str, str] | None = None) -> list[ConfigError]:
    """Every problem `oncall check` can find, not just the first."""
    env = dict(os.environ) if env is None else dict(env)
    try:
        config = load_config(config_path, env)
    except ConfigError as exc:
        return [exc]
    problems: list[ConfigError] = []
    rotation_names: set[str] = set()
    if not config.rotations_dir.is_dir():
        problems.append(ConfigError(config.rotations_dir, None, "rotations directory not found"))
    else:
        # Every calendar on its own, so one broken file does not hide the next one. A broken
        # calendar still counts as a rotation name for the SOP cross-check below.
        for path in sorted(config.rotations_dir.glob("*.ics")):
            if path.name.startswith(".") or path.name.endswith(".overrides.ics"):
                continue
            rotation_names.add(path.stem)
            try:
                load_rotation(path)
            except ConfigError as exc:
                problems.append(exc)
    try:
        sops, sop_problems = collect_sops(
            config.sops_dir, config.defaults, env=env, sandbox=config.twilio.mode == "sandbox"
        )
    except ConfigError as exc:
        return [*problems, exc]
    problems.extend(sop_problems)
    problems.extend(check_references(sops, config.techs.keys(), rotation_names))
    return problems
