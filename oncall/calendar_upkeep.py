"""The daemon's calendar upkeep: pick up changed rotation files, refresh remote calendars and
move shift indexes along as time passes — from the event loop, off the paging path.

Every ``rotations.watch_interval`` (default 5 s) one tick:

1. compares the rotation files (names, sizes, modification times) with those the running
   catalog was read from; on a change it runs the daemon's keep-last-good reload, so a broken
   calendar keeps the last good rotations and logs why — once per change, not every tick;
2. every ``rotations.refresh`` (default 15 min) fetches each remote calendar (conditionally)
   and swaps in the ones that changed; a failed fetch keeps the calendar in use and warns;
3. re-expands rotations whose index horizon runs low.

Reading, fetching and expanding run in a worker thread; only the swap runs on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from oncall.catalog import Catalog
from oncall.clock import Clock
from oncall.errors import ConfigError
from oncall.remote_calendars import RemoteCalendars, hide_secret
from oncall.rotation_settings import RemoteRotation
from oncall.rotations import Rotation, rotation_files, with_local_overrides

log = structlog.get_logger(__name__)

# After a failed re-expansion, wait this long before trying again (instead of every tick).
REINDEX_RETRY = timedelta(hours=1)


class CalendarUpkeep:
    """Keeps the daemon's rotations current. ``tick()`` does one round; ``run()`` loops."""

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        swap: Callable[[Catalog], None],
        reload: Callable[[], Awaitable[bool]],
        clock: Clock,
    ) -> None:
        self._catalog = catalog
        self._swap = swap
        self._reload = reload
        self._clock = clock
        self._seen_files = catalog().rotation_files
        self._next_fetch = clock.now() + catalog().config.rotation_settings.refresh
        self._next_reindex = clock.now()

    async def run(self) -> None:
        """Tick forever (until cancelled); an unexpected error is logged, never fatal."""
        while True:
            try:
                await self.tick()
            except Exception:  # a bug here must not stop paging: log it and try again
                log.exception("calendars.upkeep_failed")
            interval = self._catalog().config.rotation_settings.watch_interval
            await asyncio.sleep(interval.total_seconds())

    async def tick(self) -> None:
        await self.check_files()
        await self.refresh_remote()
        await self.reindex()

    async def check_files(self) -> bool | None:
        """Reload if the rotation files changed since last seen: True/False as the reload
        went, None when nothing changed."""
        directory = self._catalog().config.rotations_dir
        files = await asyncio.to_thread(rotation_files, directory)
        if files == self._seen_files:
            return None
        self._seen_files = files  # a broken file is reported once, then again when it changes
        log.info("calendars.changed", directory=str(directory))
        return await self._reload()

    async def refresh_remote(self, force: bool = False) -> None:
        """Fetch every remote calendar when due (or now, with force)."""
        now = self._clock.now()
        settings = self._catalog().config.rotation_settings
        if not settings.remote or (now < self._next_fetch and not force):
            return
        self._next_fetch = now + settings.refresh
        for remote in settings.remote:
            await self._refresh_one(remote, now)

    async def _refresh_one(self, remote: RemoteRotation, now: datetime) -> None:
        config = self._catalog().config

        def fetch() -> tuple[Rotation | None, str | None]:
            result = RemoteCalendars(config).refresh(remote, now)
            if result.rotation is None:
                return None, result.warning
            rotation = with_local_overrides(result.rotation, config.rotations_dir)
            return rotation.indexed(now), result.warning

        source = hide_secret(remote.url)
        try:
            rotation, warning = await asyncio.to_thread(fetch)
        except ConfigError as exc:  # no cached copy (and nothing in memory is touched)
            log.warning("calendar.fetch_failed", rotation=remote.name, error=str(exc))
            return
        if warning:
            log.warning(
                "calendar.fetch_failed", rotation=remote.name, error=warning, kept="cached copy"
            )
        if rotation is None:
            return
        current = self._catalog()
        if current.config.rotation_settings.remote_url(remote.name) != remote.url:
            return  # reloaded meanwhile without this calendar: the fetch is stale
        self._swap(current.with_rotation(rotation))
        log.info("calendar.updated", rotation=remote.name, source=source)

    async def reindex(self) -> None:
        """Re-expand rotations whose index horizon runs low (about once a month)."""
        now = self._clock.now()
        catalog = self._catalog()
        if now < self._next_reindex or not catalog.needs_reindex(now):
            return
        try:
            fresh = await asyncio.to_thread(catalog.reindexed, now)
        except ConfigError as exc:  # lookups fall back to expanding the calendars meanwhile
            self._next_reindex = now + REINDEX_RETRY
            log.error("calendars.reindex_failed", error=str(exc), retry_in=str(REINDEX_RETRY))
            return
        if self._catalog() is catalog:  # else a reload swapped in a fresh catalog meanwhile
            self._swap(fresh)
            log.info("calendars.reindexed", at=now.isoformat())
