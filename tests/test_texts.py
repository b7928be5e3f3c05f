"""The words people read (oncall.texts): pages fit one SMS segment, bundles two."""

from __future__ import annotations

from oncall.texts import bundle_text, opt_out_warning, page_text
from oncall.twilio_webhooks import sms_segments


def test_a_long_page_is_shortened_to_one_gsm7_segment() -> None:
    text = page_text(12, "Acme Manufacturing", "P1", "PLC line 3 offline " * 20, "plc-line3")
    assert text.startswith("[P1] Acme Manufacturing: PLC line 3 offline")
    assert text.endswith("... #12 Reply ACK 12")
    assert sms_segments(text) == 1  # "[" and "]" cost two septets each; "…" would force UCS-2


def test_a_bundle_names_every_incident_and_fits_two_segments() -> None:
    items = [(n, "TestCo", "P1", f"Host {n} unreachable on the third floor") for n in range(2, 11)]
    text = bundle_text(items)
    assert text.startswith("9 open incidents: #2 P1 TestCo: Host 2")
    assert text.endswith(" Reply ACK ALL or ACK 2")
    assert all(f"#{n} " in text for n in range(2, 11))
    assert sms_segments(text) <= 2
    short = bundle_text(items[:2])
    assert "Host 2 unreachable on the third floor; #3" in short
    many = bundle_text([(n, "Acme", "P1", "down") for n in range(100, 160)])
    assert many.startswith("60 open incidents: #100, #101") and sms_segments(many) <= 2


def test_the_opt_out_warning_fits_one_segment() -> None:
    text = opt_out_warning("Alice Nguyen", "+15550001001", "+15550009999")
    assert "opted out of SMS (STOP)" in text and "START to +15550009999" in text
    assert sms_segments(text) == 1
