"""The TOML front matter of an SOP file: finding it, and reading its values one key at a time.

An SOP file is a `+++` line, TOML, a closing `+++` line, then the Markdown runbook.
`read_front_matter` splits the file and parses the TOML; `locate_error` adds the file line to
an error about a key. The readers (`check_keys`, `as_table`, `get_text`, ...) each check one
value and raise a ConfigError naming the file and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oncall.errors import ConfigError

FENCE = "+++"

_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_AT_END = re.compile(r"\s*\(at end of document\)\s*$")
_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_KEY_LINE = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")
_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_LAST_PART = re.compile(r"(\[\d+\]|\.[^.\[\]]+)$")


# --------------------------------------------------------------------------- the file


def read_front_matter(path: Path, text: str) -> tuple[dict[str, Any], str, str]:
    """(parsed TOML, the TOML text, runbook); a bad fence or bad TOML names the file line."""
    front_matter, runbook, closing_line = _split_front_matter(path, text)
    try:
        data = tomllib.loads(front_matter)
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(path, exc, closing_line) from exc
    return data, front_matter, runbook


def locate_error(error: ConfigError, path: Path, front_matter: str) -> ConfigError | None:
    """`error` with 'line N: ' in front, if it is about a key of this file that can be found."""
    line = _locate(_key_lines(front_matter), error.where)
    if line is None or error.path != str(path):
        return None
    return ConfigError(path, error.where, f"line {line}: {error.message}")


def _split_front_matter(path: Path, text: str) -> tuple[str, str, int]:
    """(TOML front matter, runbook, line number of the closing fence)."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].rstrip() != FENCE:
        raise ConfigError(
            path,
            "line 1",
            f"an SOP must start with a line '{FENCE}', then TOML front matter, then a "
            f"closing '{FENCE}' line, then the runbook",
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() == FENCE:
            front_matter = "".join(lines[1:index])
            body = "".join(lines[index + 1 :]).lstrip("\r\n").rstrip()
            return front_matter, (body + "\n" if body else ""), index + 1
    raise ConfigError(path, "line 1", f"the front matter opened here is never closed by '{FENCE}'")


def _toml_error(path: Path, exc: tomllib.TOMLDecodeError, closing_line: int) -> ConfigError:
    """Re-locate tomllib's position from the front matter onto the file (it starts at line 2)."""
    message = str(exc)
    position = _TOML_POSITION.search(message)
    if position:
        line = int(position.group(1)) + 1
        reason = f"{message[: position.start()]} (column {position.group(2)})"
    else:
        line = max(closing_line - 1, 2)
        reason = _TOML_AT_END.sub(" (at the end of the front matter)", message)
    return ConfigError(path, f"line {line}", f"not valid TOML: {reason}")


def _key_lines(front_matter: str) -> dict[str, int]:
    """Best-effort map from dotted key ('emergency[1].hosts') to its line number in the file."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(front_matter.splitlines(), start=2):
        if array := _ARRAY_HEADER.match(line):
            name = _dotted(array.group(1))
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = f"{name}[{index}]"
            lines.setdefault(table, number)
            lines.setdefault(name, number)
        elif header := _TABLE_HEADER.match(line):
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
        elif key := _KEY_LINE.match(line):
            name = _dotted(key.group(1))
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _locate(key_lines: Mapping[str, int], where: str | None) -> int | None:
    """The line of `where`, or of its nearest enclosing key or table."""
    key = where or ""
    while key:
        if key in key_lines:
            return key_lines[key]
        shorter = _LAST_PART.sub("", key)
        if shorter == key:
            return None
        key = shorter
    return None


# --------------------------------------------------------------------------- values


def check_keys(table: Mapping[str, Any], allowed: frozenset[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                path, f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )


def as_table(value: Any, path: Path, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, key, f"expected a table ([{key}]), got {value!r}")
    return value


def as_array_of_tables(value: Any, path: Path, key: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(path, key, f"expected [[{key}]] tables")
    return value


def as_id(value: Any, path: Path, key: str) -> str:
    """An id of a-z, 0-9 and '-' (not starting or ending with '-')."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ConfigError(path, key, f"expected an id of a-z, 0-9 and '-', got {value!r}")
    return value


def get_text(
    table: Mapping[str, Any], key: str, path: Path, where: str = "", required: bool = False
) -> str | None:
    """The stripped, non-empty text at `key`; None if absent (ConfigError if `required`)."""
    value = table.get(key)
    location = f"{where}{key}"
    if value is None:
        if required:
            raise ConfigError(path, location, "missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, location, f"expected non-empty text, got {value!r}")
    return value.strip()


def as_string_list(value: Any, path: Path, key: str) -> tuple[str, ...]:
    """A non-empty list of non-empty strings; a single string counts as a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(path, key, f"expected a non-empty list of strings, got {value!r}")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(path, key, f"expected non-empty strings, got {item!r}")
        items.append(item.strip())
    return tuple(items)
