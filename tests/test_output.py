"""oncall.output.render: one formatter for every CLI listing (table, JSON, CSV)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from oncall.output import FORMATS, render

ROWS = [
    {"rotation": "primary", "tech": "alice", "name": "Alice Nguyen", "phone": "+15550001001"},
    {"rotation": "backup", "tech": "carol", "name": "Diaz, Carol", "phone": "+15550001003"},
]
COLUMNS = ["rotation", "tech", "name", "phone"]


def test_formats_are_the_three_the_cli_offers() -> None:
    assert FORMATS == ("table", "json", "csv")


def test_table_has_a_header_and_one_line_per_row() -> None:
    lines = render(ROWS, "table", COLUMNS).splitlines()
    assert lines[0].split() == COLUMNS
    assert set(lines[1]) <= {"-", " "}  # the rule under the header
    assert lines[2].split()[:3] == ["primary", "alice", "Alice"]
    assert "Diaz, Carol" in lines[3] and len(lines) == 4


def test_table_without_rows_says_so() -> None:
    assert render([], "table", COLUMNS) == "(nothing)"
    assert render([], "table") == "(nothing)"


def test_json_round_trips_in_column_order() -> None:
    text = render(ROWS, "json", COLUMNS)
    assert json.loads(text) == ROWS
    assert list(json.loads(text)[0]) == COLUMNS


def test_json_without_rows_is_an_empty_list() -> None:
    assert json.loads(render([], "json", COLUMNS)) == []
    assert json.loads(render([], "json")) == []


def test_csv_has_a_header_and_quotes_commas() -> None:
    text = render(ROWS, "csv", COLUMNS)
    assert text.splitlines()[0] == "rotation,tech,name,phone"
    assert '"Diaz, Carol"' in text
    assert not text.endswith("\n")
    assert list(csv.DictReader(io.StringIO(text))) == ROWS


def test_csv_without_rows_is_just_the_header() -> None:
    assert render([], "csv", COLUMNS) == "rotation,tech,name,phone"
    assert render([], "csv") == ""


def test_csv_keeps_multiline_messages_in_one_field() -> None:
    rows = [{"id": 1, "message": "line one\nline two, with comma"}]
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert parsed == [{"id": "1", "message": "line one\nline two, with comma"}]


def test_columns_default_to_the_first_rows_keys() -> None:
    assert list(json.loads(render(ROWS, "json"))[0]) == COLUMNS
    assert render(ROWS, "csv").splitlines()[0] == "rotation,tech,name,phone"


def test_columns_select_and_order_and_missing_values_are_blank() -> None:
    rows = [{"a": 1, "b": 2, "c": 3}, {"a": 4}]
    assert json.loads(render(rows, "json", ["c", "a"])) == [{"c": 3, "a": 1}, {"c": None, "a": 4}]
    assert render(rows, "csv", ["c", "a"]).splitlines() == ["c,a", "3,1", ",4"]
    table = render(rows, "table", ["c", "a"]).splitlines()
    assert table[0].split() == ["c", "a"] and table[3].split() == ["4"]
    assert "b" not in table[0]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_values_that_json_cannot_encode_are_written_as_text(fmt: str) -> None:
    when = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert str(when) in render([{"at": when}], fmt)
