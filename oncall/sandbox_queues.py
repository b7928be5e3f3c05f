"""Call queues in the sandbox Twilio peer: ``<Enqueue>``, its ``waitUrl``, ``<Dial><Queue>``.

``Enqueue`` holds the call in a named queue: the ``waitUrl`` is fetched at once, and again by
``hold`` (a test or a person saying how long the caller has held, ``QueueTime``); its ``Say``
is heard, and a ``Leave`` takes the call out of the queue and posts the Enqueue action with
``QueueResult=leave``. ``Dial`` with a ``Queue`` bridges to the longest-holding call in that
queue (an empty queue ends the Dial at once). When either side of a bridge hangs up the other
goes on: the queued caller's Enqueue action gets ``QueueResult=bridged``; the dialling call
runs the rest of its document.
"""

from __future__ import annotations

from urllib.parse import urljoin
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import ParseError, fromstring

from oncall.sandbox_calls import SandboxCalls
from oncall.sandbox_records import CallRecord


class SandboxQueues(SandboxCalls):
    """Queued callers, their hold prompts, and bridging a Dial to them."""

    async def hold(self, sid: str, seconds: int) -> CallRecord:
        """A queued caller has held ``seconds``: Twilio fetches the waitUrl again."""
        record = self._waiting_call(sid, "queue")
        await self._wait_prompt(record, seconds)
        return record

    async def _queue_verb(
        self, record: CallRecord, verb: Element, rest: list[Element], url: str | None
    ) -> bool:
        if verb.tag == "Enqueue":
            record.queue = (verb.text or "").strip()
            record.waiting = "queue"
            action, wait_url = verb.get("action"), verb.get("waitUrl")
            record.action = urljoin(url or "", action) if action else None
            record.wait_url = urljoin(url or "", wait_url) if wait_url else None
            record.rest = rest
            self._say(f"{self._who(record.from_)} holds in queue {record.queue}")
            await self._wait_prompt(record, 0)
            return True
        queues = [q for q in verb if q.tag == "Queue"] if verb.tag == "Dial" else []
        if not queues:
            return False
        name = (queues[0].text or "").strip()
        record.dialed.append(f"queue:{name}")
        if not self._bridge(record, name):
            await self._execute(record, rest, url)  # an empty queue: the Dial ends at once
            return True
        record.waiting, record.rest = "dial", rest
        action = verb.get("action")
        record.action = urljoin(url or "", action) if action else None
        return True

    async def _wait_prompt(self, record: CallRecord, seconds: int) -> None:
        if not record.wait_url:
            return
        extra = {"QueueTime": str(seconds), "QueuePosition": "1", "CurrentQueueSize": "1"}
        text = await self._webhook(record, record.wait_url, extra)
        if text is None:
            return
        record.documents.append(text)
        try:
            root = fromstring(text)
        except ParseError as exc:
            record.webhook_errors.append(f"{record.wait_url}: not TwiML: {exc}")
            return
        for verb in root:
            if verb.tag == "Say":
                record.said.append((verb.text or "").strip())
            elif verb.tag == "Leave":
                await self._dequeued(record, "leave", seconds)
                return

    async def _dequeued(self, record: CallRecord, result: str, seconds: int = 0) -> None:
        """The call leaves its queue: post the Enqueue action (or go on with the document)."""
        action, queue = record.action, record.queue
        record.queue = None
        self._say(f"{self._who(record.from_)} left queue {queue}: {result}")
        if action:
            extra = {"QueueResult": result, "QueueTime": str(seconds), "QueueSid": f"QU{queue}"}
            await self._follow(record, action, extra)
        else:
            await self._continue(record)

    async def _unbridge(self, record: CallRecord) -> None:
        partner = self.call(record.bridged_with) if record.bridged_with else None
        record.bridged_with = None
        if partner is None or partner.ended:
            return
        partner.bridged_with = None
        if partner.waiting == "bridged":
            await self._dequeued(partner, "bridged")
        elif partner.waiting == "dial":
            await self._continue(partner)

    def _bridge(self, record: CallRecord, queue: str) -> bool:
        """Join a <Dial><Queue> to the longest-holding call in that queue, if any."""
        with self._cond:
            holding = [c for c in self.calls if c.queue == queue and c.waiting == "queue"]
        if not holding:
            return False
        caller = holding[0]
        caller.waiting, caller.bridged_with = "bridged", record.sid
        record.bridged_with = caller.sid
        self._say(f"{self._who(record.to)} is connected to {self._who(caller.from_)}")
        return True
