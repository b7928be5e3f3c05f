"""Tests for oncall.remote_calendars against a calendar host on 127.0.0.1: 200, 304 with ETag
or Last-Modified, failures and HTML answers keep the cached copy, no cached copy is a clear
error, and the secret address never shows up in a message."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from calendar_files import (
    TECHS,
    add_remote_rotation,
    calendar_text,
    shift_event,
    utc,
    write_ics,
)
from calendar_host import CalendarHost
from harness import write_config

from oncall import remote_calendars
from oncall.config import Config, load_config
from oncall.errors import ConfigError
from oncall.remote_calendars import (
    Answer,
    CachedCopy,
    CalendarCache,
    FetchError,
    RemoteCalendars,
    hide_secret,
    load_remote_rotations,
    resolve,
)
from oncall.rotation_settings import RemoteRotation
from oncall.rotations import Rotation, on_call

NOW = utc(2026, 6, 1)
ALICE = calendar_text(*shift_event("20260601T000000Z", "20260608T000000Z", "alice", "a")).encode()
BOB = calendar_text(*shift_event("20260601T000000Z", "20260608T000000Z", "bob", "b")).encode()
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>...</body></html>"
SECRET = "private-s3cr3t0123456789"


def config_with_remote(tmp_path: Path, url: str, timeout: str | float = "2s") -> Config:
    path = write_config(tmp_path)
    add_remote_rotation(path, "night-desk", url, fetch_timeout=timeout)
    return load_config(path, env={})


def remote(config: Config) -> RemoteRotation:
    [night_desk] = config.rotation_settings.remote
    return night_desk


def on_call_ids(rotation: Rotation, at: datetime | None = None) -> list[str]:
    return [tech.id for tech in on_call(rotation, TECHS, at or utc(2026, 6, 2))]


def test_hide_secret_keeps_only_scheme_and_host() -> None:
    assert hide_secret("https://calendar.google.com/calendar/ical/x%40y/private-abc/basic.ics") == (
        "https://calendar.google.com/…"
    )
    assert hide_secret("http://127.0.0.1:8123/a/b?token=x") == "http://127.0.0.1:8123/…"


def test_a_200_is_used_and_cached_with_its_validators(tmp_path: Path) -> None:
    with CalendarHost(
        body=ALICE, etag='"v1"', last_modified="Mon, 01 Jun 2026 00:00:00 GMT"
    ) as host:
        config = config_with_remote(tmp_path, host.url)
        rotation, warning = RemoteCalendars(config).load(remote(config), NOW, fetch=True)
    assert warning == "" and rotation.name == "night-desk"
    assert on_call_ids(rotation) == ["alice"]
    assert rotation.source == "http://127.0.0.1:" + host.url.split(":")[2].split("/")[0] + "/…"
    assert host.requests[0]["accept"].startswith("text/calendar")
    assert "if-none-match" not in host.requests[0]  # nothing cached yet
    cache = tmp_path / "calendar-cache"  # next to the database (tmp_path / oncall.db)
    assert (cache / "night-desk.ics").read_bytes() == ALICE
    meta = json.loads((cache / "night-desk.json").read_text())
    assert meta["etag"] == '"v1"' and meta["last_modified"].startswith("Mon, 01 Jun")
    assert SECRET not in (cache / "night-desk.json").read_text()  # only a digest of the URL
    assert rotation.path == cache / "night-desk.ics"


@pytest.mark.parametrize(
    ("validators", "header"),
    [
        ({"etag": '"v1"'}, "if-none-match"),
        ({"last_modified": "Mon, 01 Jun 2026"}, "if-modified-since"),
    ],
)
def test_a_304_keeps_the_cached_copy(tmp_path: Path, validators: dict, header: str) -> None:
    with CalendarHost(body=ALICE, **validators) as host:
        config = config_with_remote(tmp_path, host.url)
        calendars = RemoteCalendars(config)
        calendars.load(remote(config), NOW, fetch=True)
        later = NOW + timedelta(minutes=15)
        result = calendars.refresh(remote(config), later)
        assert host.requests[-1][header] == next(iter(validators.values()))
        rotation, warning = calendars.load(remote(config), later, fetch=True)
    assert result.rotation is None and result.warning is None  # unchanged: keep what runs
    assert result.keep is not None and result.keep.fetched_at == later
    assert warning == "" and on_call_ids(rotation) == ["alice"]
    assert len(host.requests) == 3


def test_a_changed_calendar_replaces_the_cached_copy(tmp_path: Path) -> None:
    with CalendarHost(body=ALICE, etag='"v1"') as host:
        config = config_with_remote(tmp_path, host.url)
        calendars = RemoteCalendars(config)
        calendars.load(remote(config), NOW, fetch=True)
        host.body, host.etag = BOB, '"v2"'
        result = calendars.refresh(remote(config), NOW)
    assert result.rotation is not None and on_call_ids(result.rotation) == ["bob"]
    assert CalendarCache.beside(config.database).read("night-desk", host.url).etag == '"v2"'


@pytest.mark.parametrize(
    ("misbehave", "reason"),
    [
        ({"status": 500, "body": b"oops"}, "the host answered HTTP 500"),
        ({"status": 404, "body": b"gone"}, "the host answered HTTP 404"),
        (  # a login page instead of the calendar (an expired or revoked secret address)
            {"status": 200, "body": LOGIN_PAGE, "content_type": "text/html", "etag": None},
            "the answer is not a calendar",
        ),
        ({"status": 200, "body": b"", "etag": None}, "the answer is not a calendar"),
    ],
)
def test_a_bad_answer_keeps_the_cached_copy_and_says_why(
    tmp_path: Path, misbehave: dict, reason: str
) -> None:
    with CalendarHost(body=ALICE, etag='"v1"') as host:
        config = config_with_remote(tmp_path, host.url)
        calendars = RemoteCalendars(config)
        calendars.load(remote(config), NOW, fetch=True)
        for key, value in misbehave.items():
            setattr(host, key, value)
        result = calendars.refresh(remote(config), NOW + timedelta(hours=1))
        rotation, warning = calendars.load(remote(config), NOW + timedelta(hours=1), fetch=True)
    assert result.rotation is None and result.keep is None
    for text in (result.warning, warning):
        assert text is not None and reason in text
        assert "using the copy cached 2026-06-01T00:00:00+00:00" in text
        assert SECRET not in text and text.startswith("http://127.0.0.1:")
    assert on_call_ids(rotation) == ["alice"]  # coverage did not disappear
    assert CalendarCache.beside(config.database).read("night-desk", host.url).body == ALICE


def test_an_unreachable_host_keeps_the_cached_copy(tmp_path: Path) -> None:
    with CalendarHost(body=ALICE) as host:
        config = config_with_remote(tmp_path, host.url)
        RemoteCalendars(config).load(remote(config), NOW, fetch=True)
    # the host is gone now: connection refused
    rotation, warning = RemoteCalendars(config).load(remote(config), NOW, fetch=True)
    assert "cannot fetch: ConnectError" in warning and "using the copy cached" in warning
    assert on_call_ids(rotation) == ["alice"]


def test_a_stuck_host_times_out_and_keeps_the_cached_copy(tmp_path: Path) -> None:
    with CalendarHost(body=ALICE) as host:
        # The first fetch may take its time (a loaded machine); only the stalled one is short.
        first = config_with_remote(tmp_path, host.url)
        RemoteCalendars(first).load(remote(first), NOW, fetch=True)
        config = config_with_remote(tmp_path, host.url, timeout=0.05)
        host.stall = True
        result = RemoteCalendars(config).refresh(remote(config), NOW)
        host.release()
    assert result.warning is not None and "no answer within 0.05 s" in result.warning


def test_too_large_an_answer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_calendars, "MAX_BYTES", 100)
    with CalendarHost(body=ALICE) as host:
        config = config_with_remote(tmp_path, host.url)
        with pytest.raises(ConfigError, match="larger than"):
            RemoteCalendars(config).load(remote(config), NOW, fetch=True)


@pytest.mark.parametrize("misbehave", [{"status": 503}, {"body": LOGIN_PAGE}, {}])
def test_no_cached_copy_and_no_calendar_is_a_clear_error(tmp_path: Path, misbehave: dict) -> None:
    with CalendarHost(**misbehave) as host:
        config = config_with_remote(tmp_path, host.url)
        url = host.url
        if misbehave:
            with pytest.raises(ConfigError) as info:
                RemoteCalendars(config).load(remote(config), NOW, fetch=True)
    if not misbehave:  # the host is gone: connection refused
        with pytest.raises(ConfigError) as info:
            RemoteCalendars(config).load(remote(config), NOW, fetch=True)
    error = info.value
    assert error.path == str(config.path) and error.where == "rotations.remote.night-desk"
    assert "there is no cached copy to fall back on" in error.message
    assert hide_secret(url) in error.message and SECRET not in str(error)


def test_a_changed_address_does_not_reuse_another_calendars_copy(tmp_path: Path) -> None:
    cache = CalendarCache(tmp_path)
    cache.write("night-desk", "https://a.example/one", CachedCopy(ALICE, '"1"', None, NOW))
    assert cache.read("night-desk", "https://a.example/one") is not None
    assert cache.read("night-desk", "https://a.example/two") is None
    assert cache.read("other", "https://a.example/one") is None
    (tmp_path / "night-desk.json").write_text("{not json")
    assert cache.read("night-desk", "https://a.example/one") is None


def test_without_fetching_a_cached_copy_is_used_as_is(tmp_path: Path) -> None:
    with CalendarHost(body=ALICE, etag='"v1"') as host:
        config = config_with_remote(tmp_path, host.url)
        RemoteCalendars(config).load(remote(config), NOW, fetch=True)
        host.body = BOB
        rotation, warning = RemoteCalendars(config).load(remote(config), NOW, fetch=False)
        assert len(host.requests) == 1  # the reload did not ask the host
    assert on_call_ids(rotation) == ["alice"] and warning == ""


def test_remote_rotations_get_local_overrides_and_an_index(tmp_path: Path) -> None:
    with CalendarHost(body=ALICE) as host:
        config = config_with_remote(tmp_path, host.url)
        overrides_dir = tmp_path / "rotations"
        overrides_dir.mkdir()
        config = replace(config, rotations_dir=overrides_dir)
        write_ics(
            overrides_dir,
            "night-desk.overrides.ics",
            *shift_event("20260602T000000Z", "20260603T000000Z", "carol", "o"),
        )
        rotations, warnings = load_remote_rotations(config, set(), NOW)
    night_desk = rotations["night-desk"]
    assert warnings == [] and night_desk.index is not None
    assert on_call_ids(night_desk, utc(2026, 6, 2, 12)) == ["carol"]
    assert on_call_ids(night_desk, utc(2026, 6, 4)) == ["alice"]
    with pytest.raises(ConfigError, match="already defines rotation 'night-desk'") as info:
        load_remote_rotations(config, {"night-desk"}, NOW)
    assert info.value.where == "rotations.remote.night-desk"


# --------------------------------------------------------------------------- resolve (pure)

NIGHT_DESK = RemoteRotation("night-desk", "https://calendar.example/private-xyz/basic.ics")
CACHED = CachedCopy(ALICE, '"v1"', None, NOW)


def decide(answer: Answer | FetchError, cached: CachedCopy | None = CACHED):  # noqa: ANN201
    return resolve(NIGHT_DESK, answer, cached, NOW, Path("/cache/night-desk.ics"), Path("/c.toml"))


def test_resolve_new_unchanged_and_failed() -> None:
    new = decide(Answer(200, BOB, '"v2"', None))
    assert new.rotation is not None and new.keep == CachedCopy(BOB, '"v2"', None, NOW)
    same = decide(Answer(200, ALICE, None, None))  # no validators, same body: unchanged
    assert same.rotation is None and same.keep is not None and same.keep.etag == '"v1"'
    failed = decide(FetchError("no answer within 20 s"))
    assert failed.rotation is None and failed.keep is None
    assert failed.warning == (
        "https://calendar.example/…: cannot fetch: no answer within 20 s; "
        "using the copy cached 2026-06-01T00:00:00+00:00"
    )
    with pytest.raises(ConfigError, match="answered HTTP 304.*no cached copy"):
        decide(Answer(304, b"", None, None), cached=None)
