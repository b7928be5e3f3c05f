"""The base of the engine's parts (delivery, SMS inbox): shared access to what the engine holds.

The catalog is read through the engine on every use because a reload swaps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncall.catalog import Catalog
    from oncall.clock import Clock
    from oncall.engine import Engine
    from oncall.store import Store


class EnginePart:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def store(self) -> Store:
        return self.engine.store

    @property
    def catalog(self) -> Catalog:
        return self.engine.catalog

    @property
    def clock(self) -> Clock:
        return self.engine.clock
