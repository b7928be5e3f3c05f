"""Errors that name what is wrong and where: the file, and the key or line in it."""

from __future__ import annotations

from pathlib import Path


class OncallError(Exception):
    """Base class for errors a user can act on; str() is the message to show."""


class ConfigError(OncallError):
    """A configuration, SOP or calendar problem, located by file and key or line."""

    def __init__(self, path: Path | str | None, where: str | None, message: str) -> None:
        self.path = str(path) if path is not None else None
        self.where = where
        self.message = message
        location = self.path or "<config>"
        if where:
            location = f"{location}: {where}"
        super().__init__(f"{location}: {message}")
