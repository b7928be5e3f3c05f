"""oncall.cli_lazy: every command is reachable by name, and a read-only command does not load
what it does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from oncall.cli import COMMANDS, main
from oncall.cli_lazy import LazyGroup
from oncall.store import Store

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_lazy_command_loads_under_its_own_name(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name


def test_help_lists_lazy_and_local_commands_together() -> None:
    listed = main.list_commands(click.Context(main))
    assert listed == sorted(listed)
    assert {"log", "show", "run", "backup"} <= set(listed)
    assert set(COMMANDS) <= set(listed)


def test_a_name_that_is_not_a_command_is_refused() -> None:
    group = LazyGroup(name="g", lazy={"x": "oncall.cli_lazy:LazyGroup"})
    with pytest.raises(TypeError, match="not a click command"):
        group.get_command(click.Context(group), "x")
    assert group.get_command(click.Context(group), "nope") is None


def _config(tmp_path: Path) -> Path:
    (tmp_path / "rotations").mkdir()
    (tmp_path / "sops").mkdir()
    # A SOP the catalog would refuse: read-only commands must not care.
    (tmp_path / "sops" / "acme.md").write_text("not front matter at all\n")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[daemon]\ntimezone = "America/Chicago"\ndatabase = "{tmp_path / "oncall.db"}"\n'
        f'rotations_dir = "{tmp_path / "rotations"}"\nsops_dir = "{tmp_path / "sops"}"\n'
        'public_url = "https://pager.example.com"\n'
        '[twilio]\nmode = "sandbox"\nfrom_number = "+15125550100"\n'
        '[[techs]]\nid = "alice"\nname = "Alice"\nphone = "+15125550101"\n'
    )
    Store(tmp_path / "oncall.db").close()
    return config


def test_log_reads_config_and_database_only(tmp_path: Path) -> None:
    """`oncall log` works with a broken SOP and loads neither the catalog nor the engine."""
    config = _config(tmp_path)
    probe = (
        "import sys\n"
        "from oncall.cli import main\n"
        f"main(['log', '--config', {str(config)!r}, '--format', 'json'], standalone_mode=False)\n"
        "loaded = sorted(m for m in ('oncall.catalog', 'oncall.sops', 'oncall.rotations',"
        " 'oncall.engine', 'oncall.daemon', 'twilio') if m in sys.modules)\n"
        "print('LOADED', loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout
