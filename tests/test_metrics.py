"""`GET /metrics`: the series Prometheus scrapes after a real paged and acknowledged incident."""

from __future__ import annotations

from harness import Harness, eventually, write_config
from prometheus_client.parser import text_string_to_metric_families

from oncall.metrics import ACK_BUCKETS, ack_histogram, is_api_error, note_reload

EMERGENCY = {"source": "ninjaone", "severity": "critical", "summary": "File server down"}


def scrape(h: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = h.http.get(f"{h.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_scrape_after_a_paged_and_acknowledged_incident(tmp_path) -> None:
    config = write_config(tmp_path, ack="30s")
    config.write_text(config.read_text().replace('retry_backoff = "2s"', "retry_backoff = 0.1"))
    with Harness(config) as h:
        primary = h.catalog.on_call("primary", h.clock.now())[0]
        h.peer.fail_next(primary.phone, 1, "http_500")
        opened = h.post_alert(EMERGENCY).json()
        number = opened["incident"]
        phone = h.phone(primary.id)
        phone.expect_sms(f"#{number}", timeout=3)
        before_ack = scrape(h)
        assert before_ack[("oncall_open_incidents", (("client", "testco"),))] == 1
        assert before_ack[("oncall_ack_latency_seconds_count", ())] == 0

        phone.reply(f"ACK {number}").expect(f"Acknowledged #{number}")
        h.post_alert({"severity": "warning", "summary": "Disk 80% full"})
        assert h.post_alert("{not json").status_code == 422
        eventually(lambda: h.incident(number)["state"] == "acknowledged")
        m = scrape(h)

    alerts = "oncall_alerts_received_total"
    assert m[(alerts, (("client", "testco"), ("decision", "page")))] == 1
    assert m[(alerts, (("client", "testco"), ("decision", "queue")))] == 1
    assert m[(alerts, (("client", "testco"), ("decision", "rejected")))] == 1
    assert m[("oncall_pages", (("channel", "sms"), ("state", "sent")))] == 1
    assert ("oncall_open_incidents", (("client", "testco"),)) not in m
    assert m[("oncall_ack_latency_seconds_count", ())] == 1
    assert m[("oncall_ack_latency_seconds_bucket", (("le", "30.0"),))] == 1
    assert 0 < m[("oncall_ack_latency_seconds_sum", ())] < 30
    assert m[("oncall_twilio_api_errors_total", (("outcome", "retried"),))] == 1
    assert m[("oncall_twilio_api_errors_total", (("outcome", "gave_up"),))] == 0
    assert m[("oncall_timer_max_lateness_seconds", ())] >= 0
    assert m[("oncall_config_last_reload_success", ())] == 1
    assert m[("oncall_config_last_reload_timestamp_seconds", ())] > 0


def test_reload_status_follows_the_daemon(tmp_path) -> None:
    with Harness(write_config(tmp_path)) as h:
        engine = h.daemon.engine
        assert engine is not None
        started = scrape(h)[("oncall_config_last_reload_timestamp_seconds", ())]
        assert 0 < started <= h.clock.now().timestamp()

        assert h.call(h.daemon.reload) is True  # what SIGHUP does: a fresh catalog
        swapped = scrape(h)
        assert swapped[("oncall_config_last_reload_success", ())] == 1
        assert swapped[("oncall_config_last_reload_timestamp_seconds", ())] > started

        h.call(lambda: note_reload(engine, False, h.clock.now()))
        failed = scrape(h)
        assert failed[("oncall_config_last_reload_success", ())] == 0
        at = h.clock.now()
        assert h.call(h.daemon.reload) is True  # the daemon notes its own reloads
        fixed = scrape(h)
        assert fixed[("oncall_config_last_reload_success", ())] == 1
        assert fixed[("oncall_config_last_reload_timestamp_seconds", ())] >= at.timestamp()


def test_two_daemons_keep_their_own_series(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Harness(write_config(tmp_path / "a")) as a, Harness(write_config(tmp_path / "b")) as b:
        a.post_alert({"severity": "warning", "summary": "Disk 80% full"})
        key = ("oncall_alerts_received_total", (("client", "testco"), ("decision", "queue")))
        assert scrape(a)[key] == 1
        assert key not in scrape(b)


def test_ack_histogram_is_cumulative() -> None:
    buckets, total = ack_histogram([10, 45, 45, 4000, 90000])
    counts = dict(buckets)
    assert counts["30.0"] == 1 and counts["60.0"] == 3 and counts["3600.0"] == 3
    assert counts[str(float(ACK_BUCKETS[-1]))] == 4 and counts["+Inf"] == 5
    assert total == 10 + 45 + 45 + 4000 + 90000


def test_only_send_errors_count_as_api_errors() -> None:
    assert is_api_error("SMS to alice failed: Twilio answered 400 (code 21211): bad number")
    assert is_api_error("voice call to bob failed: cannot reach Twilio: TimeoutError()")
    assert not is_api_error("SMS to alice failed: undelivered (30003 unreachable handset)")
