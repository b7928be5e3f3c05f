"""Remote rotations: a calendar's secret address (Google, Outlook) fetched over HTTPS and
cached on disk, so coverage never disappears because a calendar host is down.

Every fetch is conditional (If-None-Match / If-Modified-Since from the last good copy). A
readable calendar (200) replaces the cached copy; "not modified" (304) keeps it; anything
else — a timeout, an HTTP error, an HTML login page — keeps the cached copy in use and says
why. With no cached copy yet, that is a ConfigError naming the config key. The address is a
password: messages and logs show only its scheme and host.

The cache lives next to the database: ``calendar-cache/<name>.ics`` (the last good calendar)
and ``<name>.json`` (its validators, when it was fetched, and a digest of the URL, so a
changed URL never reuses another calendar's copy).

:func:`resolve` decides what one answer means (pure); :func:`fetch` and
:class:`CalendarCache` do the I/O; :class:`RemoteCalendars` ties them together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from oncall.config import Config
from oncall.errors import ConfigError
from oncall.rotation_settings import RemoteRotation
from oncall.rotations import Rotation, parse_rotation, with_local_overrides

CACHE_DIR = "calendar-cache"
MAX_BYTES = 20 * 1024 * 1024


def hide_secret(url: str) -> str:
    """The address without its secret part: 'https://calendar.google.com/…'."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…"


@dataclass(frozen=True)
class CachedCopy:
    """The last good calendar from one address and how to ask whether it changed."""

    body: bytes
    etag: str | None
    last_modified: str | None
    fetched_at: datetime  # when the host last confirmed it (200 or 304)


@dataclass(frozen=True)
class Answer:
    """What the calendar host answered."""

    status: int
    body: bytes
    etag: str | None
    last_modified: str | None


class FetchError(Exception):
    """The host could not be asked: no connection, a timeout, too large an answer."""


@dataclass(frozen=True)
class Refresh:
    """What one fetch means for a remote rotation."""

    rotation: Rotation | None  # a new calendar to use; None: keep the one in use
    keep: CachedCopy | None  # write this to the cache; None: leave the cache alone
    warning: str | None  # why the cached copy stays in use


def resolve(
    remote: RemoteRotation,
    answer: Answer | FetchError,
    cached: CachedCopy | None,
    now: datetime,
    cache_path: Path,
    config_path: Path,
) -> Refresh:
    """Decide what an answer means; raise ConfigError when there is no calendar to use."""
    source = hide_secret(remote.url)
    if isinstance(answer, FetchError):
        problem = f"cannot fetch: {answer}"
    elif answer.status == 304 and cached is not None:
        return Refresh(None, _confirmed(cached, answer, now), None)
    elif answer.status == 200:
        if cached is not None and answer.body == cached.body:
            return Refresh(None, _confirmed(cached, answer, now), None)
        try:
            rotation = parse_rotation(answer.body, remote.name, cache_path, source=source)
        except ConfigError as exc:
            problem = f"the answer is not a calendar ({exc.message})"
        else:
            copy = CachedCopy(answer.body, answer.etag, answer.last_modified, now)
            return Refresh(rotation, copy, None)
    else:
        problem = f"the host answered HTTP {answer.status}"
    if cached is None:
        raise ConfigError(
            config_path,
            f"rotations.remote.{remote.name}",
            f"{source}: {problem}; there is no cached copy to fall back on",
        )
    since = cached.fetched_at.isoformat(timespec="seconds")
    return Refresh(None, None, f"{source}: {problem}; using the copy cached {since}")


def _confirmed(cached: CachedCopy, answer: Answer, now: datetime) -> CachedCopy:
    return replace(
        cached,
        etag=answer.etag or cached.etag,
        last_modified=answer.last_modified or cached.last_modified,
        fetched_at=now,
    )


def fetch(url: str, cached: CachedCopy | None, timeout: float) -> Answer:
    """GET the calendar, conditionally when there is a cached copy; at most `timeout` s."""
    headers = {"Accept": "text/calendar, */*;q=0.1", "User-Agent": "oncall"}
    if cached is not None and cached.etag:
        headers["If-None-Match"] = cached.etag
    if cached is not None and cached.last_modified:
        headers["If-Modified-Since"] = cached.last_modified
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FetchError(f"the answer is larger than {MAX_BYTES // 2**20} MB")
                if time.monotonic() > deadline:
                    raise FetchError(f"no complete answer within {timeout:g} s")
            return Answer(
                response.status_code,
                bytes(body),
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


class CalendarCache:
    """The last good copy of each remote calendar, on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def beside(cls, database: Path) -> CalendarCache:
        return cls(Path(database).parent / CACHE_DIR)

    def calendar_path(self, name: str) -> Path:
        return self.directory / f"{name}.ics"

    def read(self, name: str, url: str) -> CachedCopy | None:
        """The cached copy of this URL's calendar, or None (missing, unreadable, other URL)."""
        try:
            meta = json.loads((self.directory / f"{name}.json").read_text(encoding="utf-8"))
            body = self.calendar_path(name).read_bytes()
            if meta.get("url_sha256") != _digest(url):
                return None
            return CachedCopy(
                body=body,
                etag=meta.get("etag"),
                last_modified=meta.get("last_modified"),
                fetched_at=datetime.fromisoformat(meta["fetched_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, name: str, url: str, copy: CachedCopy) -> None:
        """Replace the cached copy atomically; raises OSError when the disk refuses."""
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "url_sha256": _digest(url),
            "etag": copy.etag,
            "last_modified": copy.last_modified,
            "fetched_at": copy.fetched_at.isoformat(),
        }
        _replace(self.calendar_path(name), copy.body)
        _replace(self.directory / f"{name}.json", json.dumps(meta, indent=2).encode())


def _digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class RemoteCalendars:
    """Fetch, cache and parse the remote rotations of one configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cache = CalendarCache.beside(config.database)
        self.timeout = config.rotation_settings.fetch_timeout.total_seconds()

    def refresh(self, remote: RemoteRotation, now: datetime) -> Refresh:
        """Fetch once and update the cache. Raises ConfigError only with no cached copy."""
        cached = self.cache.read(remote.name, remote.url)
        try:
            answer: Answer | FetchError = fetch(remote.url, cached, self.timeout)
        except FetchError as exc:
            answer = exc
        path = self.cache.calendar_path(remote.name)
        result = resolve(remote, answer, cached, now, path, self.config.path)
        if result.keep is not None:
            try:
                self.cache.write(remote.name, remote.url, result.keep)
            except OSError as exc:
                note = f"cannot write the cached copy in {self.cache.directory}: {exc.strerror}"
                result = replace(result, warning="; ".join(filter(None, [result.warning, note])))
        return result

    def load(self, remote: RemoteRotation, now: datetime, fetch: bool) -> tuple[Rotation, str]:
        """The base calendar to start with, and a warning ('' if none).

        With ``fetch`` False a readable cached copy is used without asking the host.
        """
        if not fetch:
            cached = self.cache.read(remote.name, remote.url)
            if cached is not None:
                # An unreadable cached copy: ask the host instead.
                with contextlib.suppress(ConfigError):
                    return self._parse_cached(remote, cached), ""
        result = self.refresh(remote, now)
        if result.rotation is not None:
            return result.rotation, result.warning or ""
        cached = self.cache.read(remote.name, remote.url)
        if cached is None:
            raise ConfigError(
                self.config.path,
                f"rotations.remote.{remote.name}",
                f"{hide_secret(remote.url)}: the cached copy in {self.cache.directory} vanished",
            )
        return self._parse_cached(remote, cached), result.warning or ""

    def _parse_cached(self, remote: RemoteRotation, cached: CachedCopy) -> Rotation:
        path = self.cache.calendar_path(remote.name)
        return parse_rotation(cached.body, remote.name, path, source=hide_secret(remote.url))


def load_remote_rotations(
    config: Config, local: set[str], now: datetime, fetch: bool = True
) -> tuple[dict[str, Rotation], list[str]]:
    """Every ``[rotations.remote]`` rotation, with local overrides, indexed around now; and
    the warnings (cached copies in use). Fetches run in parallel."""
    remotes = config.rotation_settings.remote
    for remote in remotes:
        if remote.name in local:
            raise name_clash(config, remote)
    calendars = RemoteCalendars(config)

    def one(remote: RemoteRotation) -> tuple[Rotation, str]:
        rotation, warning = calendars.load(remote, now, fetch)
        return with_local_overrides(rotation, config.rotations_dir).indexed(now), warning

    if not remotes:
        return {}, []
    with ThreadPoolExecutor(max_workers=min(8, len(remotes))) as pool:
        loaded = list(pool.map(one, remotes))
    rotations = {rotation.name: rotation for rotation, _ in loaded}
    return rotations, [warning for _, warning in loaded if warning]


def name_clash(config: Config, remote: RemoteRotation) -> ConfigError:
    """The error for a remote rotation named like a rotation file."""
    return ConfigError(
        config.path,
        f"rotations.remote.{remote.name}",
        f"{config.rotations_dir / (remote.name + '.ics')} already defines rotation "
        f"{remote.name!r}; a rotation is one calendar",
    )
