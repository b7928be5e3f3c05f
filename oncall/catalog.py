"""The catalog: configuration, rotation calendars and client SOPs loaded and cross-checked.

The daemon holds one catalog at a time and swaps in a new one on reload only if it loads
cleanly, so a broken edit keeps the last good configuration running. Rotations are indexed
around the instant the catalog is loaded for (see oncall.shift_index); :meth:`reindexed`
moves the horizon along as time passes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from oncall.config import Config, Tech, load_config
from oncall.errors import ConfigError
from oncall.remote_calendars import load_remote_rotations, name_clash
from oncall.rotations import (
    OVERRIDES_SUFFIX,
    Rotation,
    load_rotation,
    load_rotations,
    on_call,
    rotation_files,
)
from oncall.sops import Sop, Step, check_references, collect_sops, load_sops


@dataclass(frozen=True)
class Catalog:
    config: Config
    rotations: Mapping[str, Rotation]
    sops: Mapping[str, Sop]
    # Things worth saying that did not stop loading (a remote calendar's cached copy in use).
    warnings: tuple[str, ...] = ()
    # The rotation files this catalog was read from (oncall.rotations.rotation_files).
    rotation_files: tuple[tuple[str, int, int], ...] = ()

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

    def rotation_uses(self) -> dict[str, list[tuple[str, int]]]:
        """Rotation name → the (client, step number from 1) pairs of the chains paging it."""
        uses: dict[str, list[tuple[str, int]]] = {}
        for client in sorted(self.sops):
            for number, step in enumerate(self.sops[client].escalation.steps, start=1):
                if step.rotation:
                    uses.setdefault(step.rotation, []).append((client, number))
        return uses

    def needs_reindex(self, now: datetime) -> bool:
        return any(rotation.needs_index(now) for rotation in self.rotations.values())

    def reindexed(self, now: datetime) -> Catalog:
        """The catalog with every rotation whose index horizon runs low re-expanded at now."""
        rotations = {
            name: rotation.indexed(now) if rotation.needs_index(now) else rotation
            for name, rotation in self.rotations.items()
        }
        return replace(self, rotations=rotations)

    def with_rotation(self, rotation: Rotation) -> Catalog:
        """The catalog with one rotation replaced (a remote calendar that changed)."""
        return replace(self, rotations={**self.rotations, rotation.name: rotation})


def load_catalog(
    config_path: Path | str,
    env: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
) -> Catalog:
    """Load everything; raise the first ConfigError found (file and key named)."""
    env = dict(os.environ) if env is None else dict(env)
    config = load_config(config_path, env)
    return catalog_for(config, env, now=now)


def catalog_for(
    config: Config,
    env: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
    fetch_remote: bool = True,
) -> Catalog:
    """Load rotations (indexed around ``now``, default: the system clock) and SOPs for a
    config. ``fetch_remote`` False uses remote calendars' cached copies where there are any
    (a reload must not wait on calendar hosts; the daemon refreshes them on its own)."""
    env = dict(os.environ) if env is None else dict(env)
    now = datetime.now(UTC) if now is None else now
    files = rotation_files(config.rotations_dir)
    rotations = load_rotations(config.rotations_dir, now=now)
    remote, warnings = load_remote_rotations(config, set(rotations), now, fetch=fetch_remote)
    rotations.update(remote)
    sops = load_sops(
        config.sops_dir, config.defaults, env=env, sandbox=config.twilio.mode == "sandbox"
    )
    problems = check_references(sops, config.techs.keys(), rotations.keys())
    if problems:
        raise problems[0]
    return Catalog(
        config=config,
        rotations=rotations,
        sops=sops,
        warnings=tuple(warnings),
        rotation_files=files,
    )


def check_all(config_path: Path | str, env: Mapping[str, str] | None = None) -> list[ConfigError]:
    """Every problem `oncall check` can find in the files, not just the first.

    Remote calendars are not fetched here: loading the catalog does that.
    """
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
            if path.name.startswith("."):
                continue
            if not path.name.endswith(OVERRIDES_SUFFIX):
                rotation_names.add(path.stem)
            try:
                load_rotation(path)
            except ConfigError as exc:
                problems.append(exc)
    for remote in config.rotation_settings.remote:
        if remote.name in rotation_names:
            problems.append(name_clash(config, remote))
        rotation_names.add(remote.name)
    try:
        sops, sop_problems = collect_sops(
            config.sops_dir, config.defaults, env=env, sandbox=config.twilio.mode == "sandbox"
        )
    except ConfigError as exc:
        return [*problems, exc]
    problems.extend(sop_problems)
    problems.extend(check_references(sops, config.techs.keys(), rotation_names))
    return problems


def orphan_overrides(catalog: Catalog) -> list[Path]:
    """Overrides files in the rotations directory with no rotation of that name."""
    return [
        path
        for path in sorted(catalog.config.rotations_dir.glob(f"*{OVERRIDES_SUFFIX}"))
        if not path.name.startswith(".")
        and path.name.removesuffix(OVERRIDES_SUFFIX) not in catalog.rotations
    ]
