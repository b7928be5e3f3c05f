"""`GET /metrics`: the daemon's health in Prometheus text format, computed at scrape time.

Every series is read from SQLite (or the engine's timer wheel) when Prometheus scrapes, by one
custom collector in a registry of its own per app: the engine carries no counters, the figures
survive restarts, and several daemons in one process (the tests) do not share series.

Counts that only grow (alerts, Twilio API errors, acknowledged incidents) are counters; counts
of rows whose state still moves (pages by state, open incidents) are gauges.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oncall.engine import Engine
from oncall.store import Store, parse_ts

# Seconds from an incident opening to its acknowledgement.
ACK_BUCKETS: tuple[float, ...] = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200)

# How `SendError` texts begin (oncall.notify): a page event whose error is one of these came
# from the Twilio REST API (or from failing to reach it), not from a delivery status callback.
_API_ERROR_PREFIXES = (
    "Twilio answered",
    "cannot reach Twilio",
    "unexpected error talking to Twilio",
)


@dataclass
class ReloadStatus:
    """The outcome of the last configuration (re)load and when it happened."""

    ok: bool
    at: datetime
    reported: bool = True  # False: inferred from the engine holding a new config


_reloads: weakref.WeakKeyDictionary[Engine, ReloadStatus] = weakref.WeakKeyDictionary()


def note_reload(engine: Engine, ok: bool, at: datetime) -> None:
    """Record a reload's outcome for `engine`'s metrics (the daemon calls this on SIGHUP)."""
    _reloads[engine] = ReloadStatus(ok=ok, at=at)


def ack_histogram(latencies: Iterable[float]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) buckets over ACK_BUCKETS and +Inf, and the sum of latencies."""
    values = list(latencies)
    buckets = [(_le(bound), float(sum(1 for v in values if v <= bound))) for bound in ACK_BUCKETS]
    buckets.append(("+Inf", float(len(values))))
    return buckets, float(sum(values))


def _le(bound: float) -> str:
    return str(float(bound))


def is_api_error(message: str) -> bool:
    return any(prefix in message for prefix in _API_ERROR_PREFIXES)


class OncallCollector(Collector):
    """Reads the series from the engine's store and timer wheel on every scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._config = engine.catalog.config
        self._started = engine.clock.now()

    def collect(self) -> Iterator[Metric]:
        store = self.engine.store
        yield from _alerts(store)
        yield from _pages(store)
        yield from _incidents(store)
        yield from _twilio_errors(store)
        yield from _test_pages(store)
        yield from self._timers()
        yield from self._reload()

    def _timers(self) -> Iterator[Metric]:
        wheel = self.engine.wheel
        yield GaugeMetricFamily(
            "oncall_timer_max_lateness_seconds",
            "Largest delay seen between a timer's due time and its firing, since start",
            value=wheel.max_lateness,
        )
        yield GaugeMetricFamily(
            "oncall_timers_pending", "Timers armed and not yet fired", value=wheel.pending()
        )

    def _reload(self) -> Iterator[Metric]:
        status = _reloads.get(self.engine)
        if self.engine.catalog.config is not self._config:
            # The daemon swapped in a freshly read config: a reload succeeded (calendar
            # refreshes keep the config object). Its own report, if any, is more exact.
            self._config = self.engine.catalog.config
            if status is None or not status.reported:
                status = ReloadStatus(ok=True, at=self.engine.clock.now(), reported=False)
                _reloads[self.engine] = status
        if status is None:
            status = ReloadStatus(ok=True, at=self._started, reported=False)
        yield GaugeMetricFamily(
            "oncall_config_last_reload_success",
            "1 if the last configuration load or reload succeeded, 0 if it failed",
            value=1.0 if status.ok else 0.0,
        )
        yield GaugeMetricFamily(
            "oncall_config_last_reload_timestamp_seconds",
            "Unix time of the last configuration load or reload attempt",
            value=status.at.timestamp(),
        )


def _alerts(store: Store) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "oncall_alerts_received",
        "Alerts received, by client and decision (rejected: the body could not be read)",
        labels=["client", "decision"],
    )
    rows = store.all(
        "SELECT client, CASE WHEN accepted = 0 THEN 'rejected'"
        " ELSE coalesce(json_extract(decision, '$.action'), 'unknown') END AS decision,"
        " count(*) AS n FROM alerts GROUP BY 1, 2 ORDER BY 1, 2"
    )
    for row in rows:
        family.add_metric([row["client"], row["decision"]], row["n"])
    yield family


def _pages(store: Store) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "oncall_pages",
        "Pages by channel and current state (sent, failed, suppressed, cancelled, pending…)",
        labels=["channel", "state"],
    )
    rows = store.all(
        "SELECT channel, state, count(*) AS n FROM pages WHERE kind != 'notice'"
        " GROUP BY 1, 2 ORDER BY 1, 2"
    )
    for row in rows:
        family.add_metric([row["channel"], row["state"]], row["n"])
    yield family


def _incidents(store: Store) -> Iterator[Metric]:
    open_family = GaugeMetricFamily(
        "oncall_open_incidents",
        "Incidents still paging or exhausted (not acknowledged or resolved), by client",
        labels=["client"],
    )
    rows = store.all(
        "SELECT client, count(*) AS n FROM incidents WHERE state IN ('paging', 'exhausted')"
        " GROUP BY client ORDER BY client"
    )
    for row in rows:
        open_family.add_metric([row["client"]], row["n"])
    yield open_family

    acked = store.all(
        "SELECT opened_at, acked_at FROM incidents WHERE acked_at IS NOT NULL AND test = 0"
        " ORDER BY id"
    )
    latencies = [
        max(0.0, (parse_ts(r["acked_at"]) - parse_ts(r["opened_at"])).total_seconds())
        for r in acked
    ]
    buckets, total = ack_histogram(latencies)
    histogram = HistogramMetricFamily(
        "oncall_ack_latency_seconds",
        "Seconds from an incident opening to its acknowledgement",
    )
    histogram.add_metric([], buckets, total)
    yield histogram


def _twilio_errors(store: Store) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "oncall_twilio_api_errors",
        "Twilio REST API calls that failed (retried: tried again; gave_up: page failed)",
        labels=["outcome"],
    )
    rows = store.all("SELECT kind, message FROM events WHERE kind IN ('page.retry', 'page.failed')")
    counts = {"retried": 0, "gave_up": 0}
    for row in rows:
        if row["kind"] == "page.retry":
            counts["retried"] += 1
        elif is_api_error(row["message"]):
            counts["gave_up"] += 1
    for outcome, n in counts.items():
        family.add_metric([outcome], n)
    yield family


def _test_pages(store: Store) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "oncall_test_pages",
        "Test pages settled, by outcome (acknowledged; unacknowledged: the owner was told)",
        labels=["outcome"],
    )
    row = store.one(
        "SELECT count(acked_at) AS acked, count(*) - count(acked_at) AS unacked FROM incidents"
        " WHERE test = 1 AND state = 'resolved'"
    )
    family.add_metric(["acknowledged"], row["acked"] if row else 0)
    family.add_metric(["unacknowledged"], row["unacked"] if row else 0)
    yield family


def metrics_routes(engine: Engine) -> list[Route]:
    """The `/metrics` route, with a registry of its own for this engine."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OncallCollector(engine))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
