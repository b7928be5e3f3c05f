"""The sandbox Twilio peer as a process of its own (the load proof's Twilio), so the proof's
own work does not slow the peer down: ``python proof/peer.py PORT``. What it received is at
``GET /_sandbox/messages`` (``received_at`` is this machine's monotonic clock)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prooflib import SID, TOKEN  # noqa: E402

from oncall.sandbox import SandboxPeer  # noqa: E402
from oncall.serving import start_server  # noqa: E402


async def serve(port: int) -> None:
    peer = SandboxPeer(SID, TOKEN, echo=None)
    await start_server(peer.app, "127.0.0.1", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
