"""SOP front matter: the +++ fences, TOML errors and key errors located by line in the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sop_files import MINIMAL, line_of, load, write_sop

from oncall.errors import ConfigError


@pytest.mark.parametrize(
    ("old", "new", "located_text"),
    [
        ('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"', "timezone ="),
        ('monday = "07:00-18:00"', 'monday = "7am-6pm"', "monday ="),
        ('hosts = ["plc-*"]', "hosts = []", "hosts ="),
        ('rotation = "primary"', 'rotation = "primary"\nack_timeout = "soon"', "ack_timeout ="),
        ('name = "Acme"', 'name = "Acme"\ncolour = "blue"', "colour ="),
        (
            'caller_ids = ["+1 312 555 0142"]',
            'caller_ids = [\n  "+1 312 555 0142",\n  "bad",\n]',
            "caller_ids =",
        ),
    ],
)
def test_key_errors_also_give_the_line(
    tmp_path: Path, old: str, new: str, located_text: str
) -> None:
    front = MINIMAL.replace(old, new, 1)
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.message.startswith(f"line {line_of(front, located_text)}: ")


def test_key_error_in_second_array_table_points_at_its_line(tmp_path: Path) -> None:
    front = MINIMAL + '[[escalation.steps]]\nrotation = "backup"\nack_timeout = "later"\n'
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == "escalation.steps[1].ack_timeout"
    assert caught.value.message.startswith(f"line {line_of(front, 'ack_timeout = ')}: ")


@pytest.mark.parametrize(
    ("broken_line", "column"),
    [
        ('name = "Acme', None),
        ("name = Acme", "column 8"),
        ('monday = "07:00-18:00" x', None),
        ("[support_window", None),
    ],
)
def test_toml_errors_give_the_line_in_the_file(
    tmp_path: Path, broken_line: str, column: str | None
) -> None:
    original = 'name = "Acme"' if broken_line.startswith("name") else None
    if broken_line.startswith("monday"):
        original = 'monday = "07:00-18:00"'
    if broken_line.startswith("[support_window"):
        original = "[support_window]"
    assert original is not None
    front = MINIMAL.replace(original, broken_line, 1)
    path = write_sop(tmp_path, front)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert caught.value.where == f"line {line_of(front, broken_line)}"
    assert caught.value.message.startswith("not valid TOML: ")
    if column:
        assert column in caught.value.message


def test_toml_error_at_end_of_front_matter(tmp_path: Path) -> None:
    front = MINIMAL + "final = [1,\n"
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert caught.value.where == f"line {line_of(front, 'final = [1,')}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must start with a line '+++'"),
        ("# Acme\nJust a runbook.\n", "must start with a line '+++'"),
        ('---\nclient = "acme"\n---\n', "must start with a line '+++'"),
        (f"+++\n{MINIMAL}# no closing fence\n", "never closed"),
    ],
)
def test_missing_fence_is_an_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "acme.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.path == str(path)
    assert caught.value.where == "line 1"
    assert fragment in caught.value.message


def test_fence_tolerates_bom_and_trailing_spaces(tmp_path: Path) -> None:
    path = tmp_path / "acme.md"
    path.write_text(f"\ufeff+++  \r\n{MINIMAL}+++\t\r\n# Runbook\r\n", encoding="utf-8")
    assert load(path).runbook == "# Runbook\n"


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nobody.md")
