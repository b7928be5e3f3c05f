"""Test pages: prove each tech's phone takes a page before a real emergency needs it.

A test page is an incident with `test = 1` and client `_test` (no SOP), paged to one tech
through the ordinary pager on the `[test_pages]` channels, with one step that waits
`ack_within`. The tech answers it exactly like a real page (ACK n, nA, bare ACK, ACK ALL,
or 1 on the voice call; ESC or RES count too, the phone clearly works): the incident is
resolved at once and the answer says the phone works. If the step times out (or every
channel fails) the incident is resolved with `resolved_by = "test-timeout"` and no
`acked_at`, `test_page.unacknowledged` is logged and daemon.owner (unless that is the tech
under test) gets a notice SMS.

The weekly test is one durable `test_schedule` timer (incident 0): `sync` (start-up and
reload) keeps exactly one pending at the next `[test_pages] weekly` occurrence; when it
fires each configured tech is paged, STAGGER apart, and next week's timer is armed. A daemon
that was down at the scheduled time does not page late at night: a firing more than
LATE_LIMIT late is skipped (`test_page.schedule_missed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from oncall import escalation, texts
from oncall.engine_part import EnginePart
from oncall.escalation import START, Position
from oncall.sops import DEFAULT_VOICE_AFTER, Step
from oncall.store import Store, parse_ts, utcnow_text
from oncall.test_page_schedule import next_occurrence
from oncall.timers import Timers

if TYPE_CHECKING:
    from oncall.engine import Engine

log = structlog.get_logger(__name__)

TEST_CLIENT = "_test"  # incidents.client of a test page; no SOP has this id
SCHEDULE = "test_schedule"  # the weekly timer kind
NO_INCIDENT = 0
STEP_TIMEOUT = "step_timeout"  # the engine's kind; a test page's single step uses it too
UNACKNOWLEDGED_BY = "test-timeout"  # resolved_by of a test page nobody acknowledged
STAGGER = timedelta(seconds=5)  # between two techs' test pages, so phones do not ring at once
LATE_LIMIT = timedelta(hours=1)  # a weekly test later than this (daemon was down) is skipped
ACK_TEXT = "Test page acknowledged — your phone works. Nothing to do."


def summary_text(number: int) -> str:
    return f"Test page — reply ACK {number} to confirm your phone works"


class TestPages(EnginePart):
    """Sends test pages, settles them, and keeps the weekly schedule armed."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        engine.timer_kinds[SCHEDULE] = self.schedule_fired

    # -- sending ----------------------------------------------------------------------------

    def default_techs(self) -> list[str]:
        """`[test_pages] techs` still configured, or every tech."""
        chosen = self.catalog.config.test_pages.techs
        return [t for t in chosen if t in self.catalog.techs] or list(self.catalog.techs)

    def page(self, tech_ids: Iterable[str], why: str) -> list[int]:
        """Send test pages now, from inside the daemon (the timers are armed at once)."""
        numbers, timers = self.send(tech_ids, self.clock.now(), why)
        self.engine.arm(timers)
        return numbers

    def send(self, tech_ids: Iterable[str], now: datetime, why: str) -> tuple[list[int], Timers]:
        """Open and page one test incident per tech, STAGGER apart (own transaction, or the
        caller's). Returns the incident numbers and the timers to arm after commit."""
        numbers: list[int] = []
        timers: Timers = []
        with self.store.transaction():
            for i, tech_id in enumerate(tech_ids):
                number, more = self._open(tech_id, now + i * STAGGER, why)
                numbers.append(number)
                timers += more
        return numbers, timers

    def _open(self, tech_id: str, start: datetime, why: str) -> tuple[int, Timers]:
        settings = self.catalog.config.test_pages
        tech = self.catalog.techs[tech_id]
        number = self.store.insert(
            "incidents",
            {
                "client": TEST_CLIENT,
                "rule_id": "test-page",
                "summary": "Test page",
                "state": escalation.PAGING,
                "opened_at": utcnow_text(start),
                "last_alert_at": utcnow_text(start),
                "alert_count": 0,
                "test": 1,
            },
        )
        summary = summary_text(number)
        self.store.update("incidents", number, {"summary": summary})
        self.store.log(
            start,
            "test_page.sent",
            f"test page #{number} to {tech.name} ({why}); acknowledge within "
            f"{texts.duration(settings.ack_within)} on {', '.join(settings.channels)}",
            client=TEST_CLIENT,
            incident_id=number,
            tech=tech_id,
            why=why,
        )
        step = Step(
            rotation=None,
            techs=(tech_id,),
            ack_timeout=settings.ack_within,
            channels=settings.channels,
            # as in SOPs: the call comes within the step, at most half way through it
            voice_after=min(DEFAULT_VOICE_AFTER, settings.ack_within / 2),
        )
        timers = self.engine.pager.page(number, tech_id, "page", START, step, summary, start)
        deadline = start + settings.ack_within
        timer_id = self.store.insert(
            "timers",
            {
                "kind": STEP_TIMEOUT,
                "incident_id": number,
                "pass_number": START.pass_number,
                "step_index": START.step_index,
                "due_at": utcnow_text(deadline),
            },
        )
        log.info("test_page.sent", incident_id=number, tech=tech_id, why=why)
        return number, [*timers, (timer_id, deadline)]

    # -- settling (inside the engine's transaction) -----------------------------------------

    def acknowledged(
        self, incident: dict[str, Any], actor: str, now: datetime
    ) -> tuple[str, str, Timers]:
        """The tech answered (ACK, ESC or RES by SMS, a key on the call, or the shell).

        Only the tech under test can settle it: `oncall ack N --as OTHER` or `oncall assign`
        would otherwise record a phone as working that nobody answered."""
        number = incident["id"]
        tested = [p["tech_id"] for p in self.store.pages_for(number) if p["kind"] == "page"]
        if tested and actor not in tested:
            tech = self.catalog.techs.get(tested[0])
            name = tech.name if tech else tested[0]
            return (
                "already",
                f"#{number} is a test page for {name}: only their phone can acknowledge it. "
                "Nothing changed.",
                [],
            )
        self.store.update(
            "incidents",
            number,
            {
                "state": escalation.RESOLVED,
                "acked_at": utcnow_text(now),
                "acked_by": actor,
                "resolved_at": utcnow_text(now),
                "resolved_by": actor,
            },
        )
        self.engine._stop_paging(number, now, "acknowledged")
        took = now - parse_ts(incident["opened_at"])
        self.store.log(
            now,
            "test_page.acknowledged",
            f"test page #{number} acknowledged by {actor} after {texts.duration(took)}: "
            "the phone works",
            actor=actor,
            client=TEST_CLIENT,
            incident_id=number,
            seconds=took.total_seconds(),
        )
        log.info("test_page.acknowledged", incident_id=number, actor=actor)
        return "ack", ACK_TEXT, []

    def unacknowledged(self, incident: dict[str, Any], now: datetime, why: str) -> Timers:
        """The step timed out, or no channel reached the phone: tell the owner."""
        number = incident["id"]
        self.engine._stop_paging(number, now, "unacknowledged")
        self.store.update(
            "incidents",
            number,
            {
                "state": escalation.RESOLVED,
                "resolved_at": utcnow_text(now),
                "resolved_by": UNACKNOWLEDGED_BY,
            },
        )
        paged = [p for p in self.store.pages_for(number) if p["kind"] != "notice"]
        tech_id = paged[0]["tech_id"] if paged else ""
        tech = self.catalog.techs.get(tech_id)
        name = tech.name if tech else tech_id
        sent = texts.local_time(parse_ts(incident["opened_at"]), self.catalog.config.timezone)
        within = self.catalog.config.test_pages.ack_within
        reason = f"within {texts.duration(within)}" if why == "timeout" else f"({why})"
        body = (
            f"Test page to {name} (sent {sent}) was not acknowledged {reason} — check their "
            "phone, SMS opt-out state and number."
        )
        self.store.log(
            now,
            "test_page.unacknowledged",
            f"test page #{number} to {name} was not acknowledged ({why})",
            client=TEST_CLIENT,
            incident_id=number,
            tech=tech_id,
            why=why,
        )
        log.warning("test_page.unacknowledged", incident_id=number, tech=tech_id, why=why)
        owner = self.catalog.config.owner
        if owner is None or owner == tech_id or owner not in self.catalog.techs:
            return []
        return self.engine.pager.notice(number, owner, Position(0, 0), body, now)

    # -- the weekly schedule ----------------------------------------------------------------

    def sync(self) -> Timers:
        """Exactly one pending `test_schedule` timer at the next weekly occurrence (none when
        the weekly test is off); a changed schedule is re-planned. Start-up and reload."""
        now = self.clock.now()
        weekly = self.catalog.config.test_pages.weekly
        timers: Timers = []
        with self.store.transaction():
            pending = self._pending()
            due = next_occurrence(weekly, now, self.catalog.config.timezone) if weekly else None
            keep = next(
                (
                    t
                    for t in pending
                    if due is not None
                    and (t["due_at"] == utcnow_text(due) or t["due_at"] <= utcnow_text(now))
                ),
                None,
            )
            for timer in pending:
                if timer is not keep:
                    self.store.finish_timer(timer["id"], now, "rescheduled" if due else "off")
                    self.engine.wheel.cancel(timer["id"])
            if due is not None and keep is None:
                timers.append(self._plan(due, now))
        self.engine.arm(timers)
        return timers

    def schedule_fired(self, timer: dict[str, Any]) -> None:
        """Page every configured tech (unless the daemon was down too long), then next week."""
        now = self.clock.now()
        settings = self.catalog.config.test_pages
        timers: Timers = []
        with self.store.transaction():
            if settings.weekly is None:
                self.store.finish_timer(timer["id"], now, "stale")
                return
            due = parse_ts(timer["due_at"])
            if now - due > LATE_LIMIT:
                self.store.finish_timer(timer["id"], now, "missed")
                self.store.log(
                    now,
                    "test_page.schedule_missed",
                    f"weekly test pages due {texts.local_time(due, self.catalog.config.timezone)} "
                    f"skipped: the daemon was not running then (more than "
                    f"{texts.duration(LATE_LIMIT)} late)",
                    client=TEST_CLIENT,
                )
            else:
                self.store.finish_timer(timer["id"], now, "fired")
                _, timers = self.send(
                    self.default_techs(), now, f"weekly, {settings.weekly.text()}"
                )
            following = next_occurrence(
                settings.weekly, max(now, due), self.catalog.config.timezone
            )
            if not self._pending():
                timers.append(self._plan(following, now))
        self.engine.arm(timers)

    def _plan(self, due: datetime, now: datetime) -> tuple[int, datetime]:
        timer_id = self.store.insert(
            "timers",
            {"kind": SCHEDULE, "incident_id": NO_INCIDENT, "due_at": utcnow_text(due)},
        )
        self.store.log(
            now,
            "test_page.scheduled",
            f"next weekly test pages {texts.local_time(due, self.catalog.config.timezone)}",
            client=TEST_CLIENT,
            due_at=utcnow_text(due),
        )
        return timer_id, due

    def _pending(self) -> list[dict[str, Any]]:
        return self.store.all(
            "SELECT * FROM timers WHERE kind = ? AND done_at IS NULL ORDER BY due_at, id",
            (SCHEDULE,),
        )


def recent_test_pages(store: Store, limit: int) -> list[dict[str, Any]]:
    """The latest test pages, newest first: who, when, and how each ended."""
    rows = store.all(
        "SELECT i.*, (SELECT p.tech_id FROM pages p WHERE p.incident_id = i.id"
        " AND p.kind != 'notice' ORDER BY p.id LIMIT 1) AS tech_id"
        " FROM incidents i WHERE i.test = 1 ORDER BY i.id DESC LIMIT ?",
        (limit,),
    )
    report = []
    for row in rows:
        opened = parse_ts(row["opened_at"])
        acked = parse_ts(row["acked_at"]) if row["acked_at"] else None
        if acked is not None:
            outcome = "acknowledged"
        elif row["resolved_by"] == UNACKNOWLEDGED_BY:
            outcome = "unacknowledged"
        elif row["state"] == escalation.RESOLVED:
            outcome = "cancelled"
        else:
            outcome = "waiting"
        report.append(
            {
                "incident": row["id"],
                "tech": row["tech_id"] or "",
                "sent": opened,
                "outcome": outcome,
                "seconds_to_ack": (acked - opened).total_seconds() if acked else None,
                "acked_by": row["acked_by"],
            }
        )
    return report
