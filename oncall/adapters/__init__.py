"""Alert adapters: one module per monitoring tool, each a pure function from the tool's own
payload to alerts in the product's terms (`Alert`), or an `AlertError` giving the reason.

The registry below names each tool as it appears in URLs (`/alerts/tool/<tool>`,
`/alerts/<client>/<tool>`), in config.toml's `[intake.tools]` and in an SOP's `[intake]` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from oncall.adapters import alertmanager, datto, generic, ncentral, ninjaone
from oncall.adapters.base import Adapter, ToolAlert

ADAPTERS: Mapping[str, Adapter] = MappingProxyType(
    {
        adapter.tool: adapter
        for adapter in (
            ninjaone.ADAPTER,
            datto.ADAPTER,
            ncentral.ADAPTER,
            alertmanager.ADAPTER,
            generic.ADAPTER,
        )
    }
)
TOOLS: tuple[str, ...] = tuple(sorted(ADAPTERS))

__all__ = ["ADAPTERS", "TOOLS", "Adapter", "ToolAlert"]
