"""oncall.response_promise: the SOP's `[response]` table, read into a ResponsePromise."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sop_files import MINIMAL, load, write_sop

from oncall.errors import ConfigError
from oncall.response_promise import NO_PROMISE, parse_response

HERE = Path("acme.md")


@pytest.mark.parametrize(
    ("table", "priority", "expected"),
    [
        ({}, "P1", None),
        ({"acknowledge_within": "15m"}, "P1", timedelta(minutes=15)),
        ({"acknowledge_within": "15m"}, "P4", timedelta(minutes=15)),
        ({"acknowledge_within": "15m"}, None, timedelta(minutes=15)),
        ({"acknowledge_within": {"P1": "15m", "P2": "1h"}}, "P1", timedelta(minutes=15)),
        ({"acknowledge_within": {"P1": "15m", "P2": "1h"}}, "P2", timedelta(hours=1)),
        ({"acknowledge_within": {"P1": "15m", "P2": "1h"}}, "P3", None),
        ({"acknowledge_within": {"P1": "15m"}}, None, None),
        ({"acknowledge_within": 900}, "P2", timedelta(minutes=15)),
    ],
)
def test_promise_per_priority(
    table: dict[str, object], priority: str | None, expected: timedelta | None
) -> None:
    assert parse_response(table, HERE).acknowledge_within(priority) == expected


def test_no_table_is_no_promise() -> None:
    assert parse_response({}, HERE) == NO_PROMISE
    assert not NO_PROMISE.promised
    assert parse_response({"acknowledge_within": "5m"}, HERE).promised


def test_per_priority_promises_are_kept_in_priority_order() -> None:
    promise = parse_response({"acknowledge_within": {"P2": "1h", "P1": "15m"}}, HERE)
    assert list(promise.by_priority) == ["P1", "P2"]


@pytest.mark.parametrize(
    ("table", "where", "fragment"),
    [
        ({"acknowledge": "15m"}, "response.acknowledge", "unknown key"),
        ({"acknowledge_within": "soon"}, "response.acknowledge_within", "cannot read duration"),
        ({"acknowledge_within": "0s"}, "response.acknowledge_within", "positive"),
        ({"acknowledge_within": {}}, "response.acknowledge_within", "give a duration"),
        (
            {"acknowledge_within": {"P9": "15m"}},
            "response.acknowledge_within.P9",
            "unknown priority 'P9'",
        ),
        (
            {"acknowledge_within": {"P1": "quick"}},
            "response.acknowledge_within.P1",
            "cannot read duration",
        ),
    ],
)
def test_errors_name_file_and_key(table: dict[str, object], where: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_response(table, HERE)
    assert caught.value.path == str(HERE)
    assert caught.value.where == where
    assert fragment in caught.value.message


def test_response_is_not_a_table(tmp_path: Path) -> None:
    path = write_sop(tmp_path, 'response = "15m"\n' + MINIMAL)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.where == "response"


def test_sop_reads_its_response_table(tmp_path: Path) -> None:
    sop = load(write_sop(tmp_path, MINIMAL))
    assert sop.response == NO_PROMISE
    front = MINIMAL + '\n[response]\nacknowledge_within = { P1 = "15m", P2 = "1h" }\n'
    sop = load(write_sop(tmp_path, front))
    assert sop.response.acknowledge_within("P1") == timedelta(minutes=15)
    assert sop.response.acknowledge_within("P2") == timedelta(hours=1)


def test_sop_error_in_response_names_the_key(tmp_path: Path) -> None:
    front = MINIMAL + '\n[response]\nacknowledge_within = { P7 = "15m" }\n'
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert caught.value.where == "response.acknowledge_within.P7"
