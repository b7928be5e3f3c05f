"""The daemon: one asyncio loop running the HTTP server, the timer wheel, the calendar upkeep
(changed rotation files, remote calendars), handoff notices and (in sandbox mode) the local
Twilio peer; signal handling and reload with keep-last-good.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import replace

import structlog

from oncall.calendar_upkeep import CalendarUpkeep
from oncall.catalog import Catalog, catalog_for
from oncall.clock import Clock, SystemClock
from oncall.config import load_config
from oncall.deadman import Deadman
from oncall.email_intake import EmailListener, start_email_intake
from oncall.engine import Engine
from oncall.errors import ConfigError
from oncall.handoff_sender import HandoffSender
from oncall.metrics import note_reload
from oncall.notify import Notifier
from oncall.sandbox import SandboxPeer
from oncall.serving import RunningServer, start_server
from oncall.store import Store
from oncall.systemd_notify import SystemdNotifier
from oncall.web import create_app, durable_answers

log = structlog.get_logger(__name__)

# How often the daemon looks for deadlines written by CLI commands (`oncall page --test`, …).
ADOPT_EVERY = 2.0


class Daemon:
    """Start, run and stop every part of one oncall process."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        durable: bool = True,
    ) -> None:
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.env = dict(os.environ) if env is None else dict(env)
        self.echo = echo
        self.durable = durable
        self.sandbox: SandboxPeer | None = None
        self._sandbox_server: RunningServer | None = None
        self._http: RunningServer | None = None
        self.email: EmailListener | None = None
        self._wheel_task: asyncio.Task[None] | None = None
        self._upkeep_task: asyncio.Task[None] | None = None
        self.upkeep: CalendarUpkeep | None = None
        self.handoffs: HandoffSender | None = None
        self._handoff_task: asyncio.Task[None] | None = None
        self.engine: Engine | None = None
        self.store: Store | None = None
        self.notifier: Notifier | None = None
        self.systemd = SystemdNotifier(self.env)  # sd_notify; a no-op outside systemd
        self._watchdog_task: asyncio.Task[None] | None = None
        self.deadman = Deadman(lambda: self.catalog.config.deadman)
        self._deadman_task: asyncio.Task[None] | None = None
        self._adopt_task: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._ready = False  # READY=1 sent: reloads may tell systemd about themselves

    @property
    def url(self) -> str:
        assert self._http is not None
        return self._http.url

    async def start(self) -> None:
        config = self.catalog.config
        self.systemd.status("starting: opening the database")
        self.store = Store(config.database, durable=self.durable)
        # One COMMIT per event-loop turn instead of one per transaction. Every HTTP answer
        # waits until what it reports is fsynced (Store.durable); a Twilio request waits
        # until the change behind it is committed (Store.committed), which a crash or kill -9
        # cannot undo, so a page never waits on the disk's fsync latency.
        self.store.enable_group_commit()
        self.store.checkpoint_elsewhere()
        self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoints())
        api_base = config.twilio.api_base_url
        if config.twilio.mode == "sandbox" and api_base is None:
            names = {tech.phone: tech.name for tech in config.techs.values()}
            self.sandbox = SandboxPeer(
                config.twilio.account_sid, config.twilio.auth_token, echo=self.echo, names=names
            )
            host, port = config.twilio.sandbox_listen
            self._sandbox_server = await start_server(self.sandbox.app, host, port)
            api_base = self._sandbox_server.url
            log.info("sandbox.started", url=api_base)
        self.notifier = Notifier(config.twilio, api_base_url=api_base)
        self.notifier.before_send = self.store.committed
        self.engine = Engine(self.catalog, self.store, self.notifier, self.clock)
        rearmed = self.engine.rearm()
        self._wheel_task = asyncio.get_running_loop().create_task(self.engine.wheel.run())
        self._adopt_task = asyncio.get_running_loop().create_task(self._adopt_cli_timers())
        host, port = config.listen
        self._http = await start_server(
            durable_answers(create_app(self.engine), self.store), host, port
        )
        if config.intake_email is not None:
            self.email = await start_email_intake(self.engine, config.intake_email)
        self.upkeep = CalendarUpkeep(
            catalog=lambda: self.catalog,
            swap=self._swap,
            reload=self.reload_in_background,
            clock=self.clock,
        )
        self._upkeep_task = asyncio.get_running_loop().create_task(self.upkeep.run())
        self.handoffs = HandoffSender(self.engine)
        self._handoff_task = asyncio.get_running_loop().create_task(self.handoffs.run())
        for warning in self.catalog.warnings:
            log.warning("calendar.cached_copy", warning=warning)
        log.info(
            "daemon.ready",
            listen=self._http.url,
            public_url=config.public_url,
            mode=config.twilio.mode,
            database=str(config.database),
            rearmed_timers=rearmed,
            clients=sorted(self.catalog.sops),
            rotations=sorted(self.catalog.rotations),
            deadman=config.deadman.source if config.deadman else "off",
        )
        # Only now (database open, timers re-armed, HTTP listening) is the pager ready.
        self._ready = True
        self.systemd.ready(self._status_line())
        self._watchdog_task = asyncio.get_running_loop().create_task(self.systemd.run_watchdog())
        # The dead-man heartbeat starts only once the pager is ready to page.
        self._deadman_task = asyncio.get_running_loop().create_task(self.deadman.run())

    async def _checkpoints(self) -> None:
        """Copy the WAL into the database file from a worker thread, once a second."""
        assert self.store is not None
        store = self.store
        while True:
            await asyncio.sleep(1.0)
            self._checkpointing = asyncio.ensure_future(asyncio.to_thread(store.checkpoint))
            try:
                await asyncio.shield(self._checkpointing)
            except sqlite3.Error as exc:
                log.warning("store.checkpoint_failed", error=str(exc))

    async def _adopt_cli_timers(self) -> None:
        """Pick up deadlines CLI commands wrote to the database (see Engine.adopt_timers)."""
        assert self.engine is not None
        while True:
            await asyncio.sleep(ADOPT_EVERY)
            try:
                self.engine.adopt_timers()
            except sqlite3.Error as exc:  # a locked or busy moment: try again next round
                log.warning("timers.adopt_failed", error=str(exc))

    def _status_line(self) -> str:
        return (
            f"serving on {self._http.url if self._http else '?'} "
            f"(clients: {len(self.catalog.sops)}, rotations: {len(self.catalog.rotations)})"
        )

    async def stop(self) -> None:
        """Finish in-flight requests, let running timers finish, close everything."""
        # The watchdog stops first, so no WATCHDOG=1 follows STOPPING=1.
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog_task
        self.systemd.stopping("stopping: finishing in-flight requests")
        if self._deadman_task is not None:
            self._deadman_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deadman_task
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
        if self._checkpointing is not None:  # the store closes only once it is done
            with contextlib.suppress(Exception):
                await self._checkpointing
        if self._adopt_task is not None:
            self._adopt_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._adopt_task
        if self._upkeep_task is not None:
            self._upkeep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep_task
        if self._handoff_task is not None:
            self._handoff_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._handoff_task
        if self.email is not None:
            await self.email.stop()
        if self._http is not None:
            await self._http.stop()
        if self.engine is not None:
            await self.engine.wheel.stop()
        if self._wheel_task is not None:
            await self._wheel_task
        if self.notifier is not None:
            await self.notifier.close()
        if self._sandbox_server is not None:
            await self._sandbox_server.stop()
        if self.sandbox is not None:
            await self.sandbox.aclose()
        if self.store is not None:
            self.store.close()
        log.info("daemon.stopped")

    def reload(self) -> bool:
        """Re-read config, rotations and SOPs; keep the last good ones if anything is wrong.

        This is the SIGHUP (`systemctl reload`) path, so systemd hears RELOADING=1 first and
        READY=1 after, whether the new files were taken or the last good ones kept."""
        # A SIGHUP during start must not announce READY=1 before start() does.
        ready = self._ready
        if ready:
            self.systemd.reloading("reloading configuration")
        try:
            fresh = self._load_fresh()
        except ConfigError as exc:
            ok = self._reload_failed(exc)
            if ready:
                self.systemd.ready("reload failed, kept the last good configuration: " + str(exc))
            return ok
        self._apply(fresh)
        if ready:
            self.systemd.ready(self._status_line())
        return True

    async def reload_in_background(self) -> bool:
        """reload(), reading the files in a worker thread so timers keep firing meanwhile."""
        try:
            fresh = await asyncio.to_thread(self._load_fresh)
        except ConfigError as exc:
            return self._reload_failed(exc)
        self._apply(fresh)
        return True

    def _load_fresh(self) -> Catalog:
        # Remote calendars come from their cached copies: a reload never waits on a calendar
        # host (the upkeep refreshes them on its own schedule).
        # The database (and the calendar cache beside it) stays where it is until a restart.
        config = replace(
            load_config(self.catalog.config.path, self.env), database=self.catalog.config.database
        )
        return catalog_for(config, self.env, now=self.clock.now(), fetch_remote=False)

    def _reload_failed(self, exc: ConfigError) -> bool:
        log.error("reload.failed", error=str(exc), kept="last good configuration")
        if self.engine is not None:
            note_reload(self.engine, False, self.clock.now())
        return False

    def _apply(self, fresh: Catalog) -> None:
        if self.engine is not None:
            note_reload(self.engine, True, self.clock.now())
        old = self.catalog.config
        # Where the daemon listens, which database it holds and how it talks to Twilio (the
        # REST client and the token webhooks are checked with) change only with a restart.
        kept = replace(
            fresh.config,
            listen=old.listen,
            database=old.database,
            twilio=old.twilio,
            intake_email=old.intake_email,  # the SMTP listener, too, moves only on restart
        )
        if fresh.config.twilio != old.twilio:
            log.warning("reload.twilio_unchanged", note="[twilio] changes take effect on restart")
        self._swap(replace(fresh, config=kept))
        for warning in fresh.warnings:
            log.warning("calendar.cached_copy", warning=warning)
        log.info(
            "reload.ok", clients=sorted(self.catalog.sops), rotations=sorted(self.catalog.rotations)
        )

    def _swap(self, catalog: Catalog) -> None:
        self.catalog = catalog
        if self.engine is not None:
            self.engine.catalog = catalog
            self.engine.heartbeats.sync()  # checks added or re-scheduled in the SOPs
            self.engine.test_pages.sync()  # [test_pages] weekly may have changed
        if self.handoffs is not None:
            self.handoffs.poke()  # shifts may start at other times now


async def run_until_signalled(daemon: Daemon) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    try:
        await daemon.start()
    except BaseException:
        # A half-started daemon (port taken, database unwritable) still closes what it opened.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await daemon.stop()
        raise
    try:
        await stop.wait()
        log.info("daemon.stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await daemon.stop()
