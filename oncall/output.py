"""One formatter for every CLI listing: a table for people, JSON or CSV for machines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

FORMATS = ("table", "json", "csv")


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c) for c in columns})
        return buffer.getvalue().rstrip("\n")
    if not rows:
        return "(nothing)"
    return tabulate([[row.get(c, "") for c in columns] for row in rows], headers=columns)
