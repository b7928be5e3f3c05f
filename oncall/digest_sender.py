"""The morning digest, the shell: `digest` timers, the e-mail and the SMS to the service desk.

Each (client, window opening) with queued items has a `digests` row and a durable `digest`
timer (oncall.queue). When it fires, every OPEN item of that client due by then goes into one
digest: items listed for the first time get the digest's id, older ones still open are
listed again under "still open from before". The digest is e-mailed to `[digest] email_to`
through `[smtp]` and/or sent by SMS to the service desk (the SOP's `service_desk`, else
`daemon.service_desk`) through the outbox. No open items: no digest (logged).

A failed e-mail is tried again after `[digest] retry_backoff` (doubling), `retries` times,
by arming a new `digest` timer; then it is logged loudly (`digest.email_failed`). The items
stay open whatever happens to the e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from oncall import mailer, queue, texts
from oncall.classify import next_business_start
from oncall.digest import Composed, Item, compose, counts
from oncall.engine_part import EnginePart
from oncall.mailer import MailError
from oncall.store import parse_ts, utcnow_text

log = structlog.get_logger(__name__)

# digests.email_state
OFF, NOTHING, SENDING, RETRYING, SENT, FAILED = (
    "off",
    "nothing",
    "sending",
    "retrying",
    "sent",
    "failed",
)


@dataclass(frozen=True)
class EmailJob:
    digest_id: int
    client: str
    to: tuple[str, ...]
    composed: Composed


class DigestSender(EnginePart):
    """Fires `digest` timers: composes the client's digest and sends it."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        engine.timer_kinds[queue.DIGEST] = self.fire

    # -- start-up -------------------------------------------------------------------------

    def sync(self) -> list[tuple[int, datetime]]:
        """Give every open item not yet in a digest a planned one, and every e-mail cut off
        by a stop a retry (start-up; also picks up items from before the queue existed)."""
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            waiting = self.store.all(
                "SELECT DISTINCT q.client, q.due_at, d.id AS digest_id, d.sent_at FROM queue q"
                " LEFT JOIN digests d ON d.client = q.client AND d.due_at = q.due_at"
                " WHERE q.done_at IS NULL AND q.digest_id IS NULL"
            )
            for row in waiting:
                due = parse_ts(row["due_at"])
                if row["digest_id"] is None or row["sent_at"] is not None:
                    due = max(due, self._next_opening(row["client"], now))
                timers += queue.plan_digest(self.store, row["client"], due)
            cut_off = self.store.all(
                "SELECT d.id FROM digests d WHERE d.email_state IN (?, ?) AND NOT EXISTS"
                " (SELECT 1 FROM timers t WHERE t.kind = ? AND t.ref = d.id AND t.done_at IS NULL)",
                (SENDING, RETRYING, queue.DIGEST),
            )
            for row in cut_off:
                self.store.update("digests", row["id"], {"email_state": RETRYING})
                timers.append(self._timer(row["id"], now))
        self.engine.arm(timers)
        return timers

    def _next_opening(self, client: str, now: datetime) -> datetime:
        sop = self.catalog.sops.get(client)
        if sop is None:
            return now
        try:
            return next_business_start(sop, now)
        except ValueError:
            return now

    def _timer(self, digest_id: int, due: datetime) -> tuple[int, datetime]:
        timer_id = self.store.insert(
            "timers",
            {
                "kind": queue.DIGEST,
                "incident_id": queue.NO_INCIDENT,
                "ref": digest_id,
                "due_at": utcnow_text(due),
            },
        )
        return timer_id, due

    # -- the timer ------------------------------------------------------------------------

    async def fire(self, timer: dict[str, Any]) -> None:
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        job: EmailJob | None = None
        with self.store.transaction():
            digest = self.store.one("SELECT * FROM digests WHERE id = ?", (timer["ref"],))
            if digest is None:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            if digest["sent_at"] is None:
                job, timers = self._first(timer, digest, now)
            elif digest["email_state"] == RETRYING:
                job = self._again(timer, digest, now)
            else:
                self.store.finish_timer(timer["id"], now, "stale")
                return
        self.engine.arm(timers)
        if job is not None:
            await self._email(job)

    def _items(self, digest: dict[str, Any], due_by: datetime) -> list[Item]:
        rows = queue.open_items(self.store, digest["client"], due_by)
        return [
            Item(
                id=r["id"],
                kind=r["kind"],
                summary=r["summary"],
                received_at=parse_ts(r["received_at"]),
                new=r["digest_id"] in (None, digest["id"]),
            )
            for r in rows
        ]

    def _compose(self, client: str, items: list[Item], now: datetime) -> Composed:
        sop = self.catalog.sops.get(client)
        zone = sop.timezone if sop else self.catalog.config.timezone
        return compose(client, sop.name if sop else client, items, zone, now)

    def _first(
        self, timer: dict[str, Any], digest: dict[str, Any], now: datetime
    ) -> tuple[EmailJob | None, list[tuple[int, datetime]]]:
        """The digest's first firing: list, mark, send (inside the transaction)."""
        client, settings = digest["client"], self.catalog.config.digest
        items = self._items(digest, now)
        if not items:
            self.store.update(
                "digests", digest["id"], {"sent_at": utcnow_text(now), "email_state": NOTHING}
            )
            self.store.finish_timer(timer["id"], now, "empty")
            self.store.log(
                now,
                "digest.empty",
                f"no digest for {client}: nothing in the queue is open",
                client=client,
                digest_id=digest["id"],
            )
            log.info("digest.empty", client=client, digest_id=digest["id"])
            return None, []
        self.store.conn.execute(
            "UPDATE queue SET digest_id = ? WHERE client = ? AND done_at IS NULL"
            " AND digest_id IS NULL AND due_at <= ?",
            (digest["id"], client, utcnow_text(now)),
        )
        composed = self._compose(client, items, now)
        email = bool(settings.email_to) and self.catalog.config.smtp is not None
        self.store.update(
            "digests",
            digest["id"],
            {
                "sent_at": utcnow_text(now),
                "items": len(items),
                "email_state": SENDING if email else OFF,
            },
        )
        self.store.finish_timer(timer["id"], now, "fired")
        timers: list[tuple[int, datetime]] = []
        channels = [f"e-mail to {', '.join(settings.email_to)}"] if email else []
        if settings.sms:
            sop = self.catalog.sops.get(client)
            phone = (sop.service_desk if sop else None) or self.catalog.config.service_desk
            if phone:
                timers += self.engine.outbox.queue_sms(
                    None, client, "digest", digest["id"], "service desk", phone, composed.sms, now
                )
                channels.append("SMS to the service desk")
            else:
                self.store.log(
                    now,
                    "digest.no_desk_phone",
                    f"digest for {client} not sent by SMS: no service_desk number "
                    "(SOP service_desk or daemon.service_desk)",
                    client=client,
                    digest_id=digest["id"],
                )
                log.warning("digest.no_desk_phone", client=client)
        new = sum(1 for i in items if i.new)
        self.store.log(
            now,
            "digest.sent",
            f"digest for {client}: {len(items)} open ({counts(items)}; {new} new); "
            + (
                "sent by " + " and ".join(channels)
                if channels
                else "sent nowhere (set [digest] email_to or sms in config.toml)"
            ),
            client=client,
            digest_id=digest["id"],
            items=[i.id for i in items],
            channels=channels,
        )
        log.info("digest.sent", client=client, digest_id=digest["id"], items=len(items))
        if not email:
            return None, timers
        job = EmailJob(digest["id"], client, settings.email_to, composed)
        return job, timers

    def _again(
        self, timer: dict[str, Any], digest: dict[str, Any], now: datetime
    ) -> EmailJob | None:
        """A retry of the e-mail: what is still open of the digest, composed again."""
        client, settings = digest["client"], self.catalog.config.digest
        self.store.finish_timer(timer["id"], now, "retry")
        items = self._items(digest, parse_ts(digest["sent_at"]))
        if not items or not settings.email_to or self.catalog.config.smtp is None:
            self.store.update("digests", digest["id"], {"email_state": NOTHING})
            self.store.log(
                now,
                "digest.email_dropped",
                f"digest e-mail for {client} not retried: "
                + ("every item is done" if not items else "e-mail is no longer configured"),
                client=client,
                digest_id=digest["id"],
            )
            return None
        self.store.update("digests", digest["id"], {"email_state": SENDING})
        return EmailJob(digest["id"], client, settings.email_to, self._compose(client, items, now))

    async def _email(self, job: EmailJob) -> None:
        smtp = self.catalog.config.smtp
        settings = self.catalog.config.digest
        assert smtp is not None
        error: str | None = None
        try:
            await self.store.durable()  # the digest's 'sending' state first
            await mailer.send(smtp, job.to, job.composed.subject, job.composed.body)
        except MailError as exc:
            error = str(exc)
        now = self.clock.now()
        timers: list[tuple[int, datetime]] = []
        with self.store.transaction():
            if error is None:
                self.store.update(
                    "digests", job.digest_id, {"email_state": SENT, "email_error": None}
                )
                self.store.log(
                    now,
                    "digest.emailed",
                    f"digest for {job.client} e-mailed to {', '.join(job.to)}",
                    client=job.client,
                    digest_id=job.digest_id,
                )
            else:
                attempts = self._attempts(job.digest_id)
                if attempts <= settings.retries:
                    delay = settings.retry_delay(attempts)
                    self.store.update(
                        "digests", job.digest_id, {"email_state": RETRYING, "email_error": error}
                    )
                    timers.append(self._timer(job.digest_id, now + delay))
                    self.store.log(
                        now,
                        "digest.email_retry",
                        f"digest e-mail for {job.client} failed (attempt {attempts}): {error}; "
                        f"trying again in {texts.duration(delay)}",
                        client=job.client,
                        digest_id=job.digest_id,
                        error=error,
                    )
                    log.warning("digest.email_retry", client=job.client, error=error)
                else:
                    self.store.update(
                        "digests", job.digest_id, {"email_state": FAILED, "email_error": error}
                    )
                    self.store.log(
                        now,
                        "digest.email_failed",
                        f"DIGEST E-MAIL FOR {job.client} FAILED after {attempts} attempts: "
                        f"{error}. The items stay open: oncall queue --client {job.client}",
                        client=job.client,
                        digest_id=job.digest_id,
                        error=error,
                    )
                    log.error("digest.email_failed", client=job.client, error=error)
        self.engine.arm(timers)

    def _attempts(self, digest_id: int) -> int:
        """E-mail attempts so far: one per `digest` timer of the digest that has fired."""
        row = self.store.one(
            "SELECT count(*) AS n FROM timers WHERE kind = ? AND ref = ? AND done_at IS NOT NULL",
            (queue.DIGEST, digest_id),
        )
        return int(row["n"]) if row else 1
