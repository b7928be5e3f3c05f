"""`oncall assign` and `oncall vendor` against a database (no daemon): answers, exit codes, and
the rows and timers they leave for the daemon; a fresh engine (a restarted daemon) fires them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result
from harness import AFTER_HOURS, SECRET, write_config

from oncall.catalog import load_catalog
from oncall.cli import main
from oncall.clock import FakeClock
from oncall.engine import Engine
from oncall.intake import Alert
from oncall.store import Store

VENDORS = '\n[[vendors]]\nid = "isp"\nname = "Comcast Business"\nphone = "+1 800 555 0177"\n'


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the commands configure logging globally


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_config(tmp_path, ack="5m", tables=VENDORS)
    catalog = load_catalog(path, {"ONCALL_TEST_SECRET": SECRET})
    with Store(catalog.config.database) as store:
        engine = Engine(catalog, store, None, FakeClock(AFTER_HOURS))
        alert = Alert(client="testco", source="z", severity="critical", summary="WAN down")
        engine.receive_alert(alert, b"{}")
    return path


def oncall(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_assign_then_vendor_then_list(config: Path) -> None:
    out = oncall("assign", 1, "dave", "--config", config)
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == "#1 assigned to Dave Kim."
    again = oncall("assign", 1, "dave", "--config", config)
    assert again.exit_code == 0 and "already owned by Dave Kim" in again.stdout
    out = oncall("vendor", 1, "ISP", "--ticket", "T-1", "--note", "on hold", "--as", "dave",
                 "--config", config)  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "Logged ticket T-1. Reminder to chase in 30m." in out.stdout
    listing = oncall("vendor", 1, "--config", config)
    assert listing.exit_code == 0, listing.output
    assert "isp" in listing.stdout and "dave" in listing.stdout and "on hold" in listing.stdout
    catalog = load_catalog(config, {"ONCALL_TEST_SECRET": SECRET})
    with Store(catalog.config.database) as store:
        incident = store.incident(1)
        assert incident is not None
        assert incident["owner"] == "dave" and incident["state"] == "acknowledged"
        events = store.all("SELECT actor FROM events WHERE kind = 'incident.owner'")
        assert events == [{"actor": "cli"}]
        kinds = {t["kind"] for t in store.pending_timers()}
        assert {"send", "vendor_chase"} <= kinds
        # A daemon started later (a fresh engine) knows the timer kinds and fires them.
        engine = Engine(catalog, store, None, FakeClock(AFTER_HOURS))
        (chase,) = [t for t in store.pending_timers() if t["kind"] == "vendor_chase"]
        engine.clock.set(AFTER_HOURS.replace(year=2030))  # type: ignore[attr-defined]
        asyncio.run(engine._fire(chase["id"]))
        notice = store.one("SELECT body FROM pages WHERE tech_id = 'dave' ORDER BY id DESC")
        assert notice is not None and notice["body"].startswith("Chase Comcast Business")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("assign", 9, "dave"), 1, "no incident #9"),
        (("assign", 1, "zed"), 2, "unknown tech 'zed'"),
        (("vendor", 1, "isp"), 2, "--as TECH"),
        (("vendor", 1, "rockwell", "--as", "alice"), 1, "Vendor ids: isp"),
        (("vendor", 1, "isp", "--note", "done", "--as", "alice"), 2, "--done"),
        (("vendor", 1, "isp", "--done", "--as", "alice"), 0, "was not engaged"),
        (("vendor", 9), 1, "no incident #9"),
    ],
)
def test_errors(config: Path, args: tuple[object, ...], code: int, fragment: str) -> None:
    result = oncall(*args, "--config", config)
    assert result.exit_code == code, result.output
    assert fragment in (result.stderr if code else result.stdout)
