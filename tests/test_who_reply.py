"""WHO by SMS answers for the rotations the sending tech works (a shift in the last or next 30
days), and for every rotation when they are in none."""

from __future__ import annotations

from harness import Harness, write_config


def test_who_names_only_the_senders_rotations_and_everyone_for_a_tech_in_none(tmp_path) -> None:
    with Harness(write_config(tmp_path)) as h:
        now = h.clock.now()
        primary = ", ".join(t.name for t in h.catalog.on_call("primary", now))
        backup = ", ".join(t.name for t in h.catalog.on_call("backup", now))
        assert primary and backup
        # alice (and bob) work primary only; dave works backup only.
        assert h.phone("alice").reply("WHO").text == f"On call now: primary: {primary}"
        assert h.phone("bob").reply("WHO").text == f"On call now: primary: {primary}"
        assert h.phone("dave").reply("WHO").text == f"On call now: backup: {backup}"
        # The owner has no shifts anywhere: every rotation.
        assert h.phone("owner").reply("WHO").text == (
            f"On call now: backup: {backup}; primary: {primary}"
        )
        answers = h.query("SELECT count(*) AS n FROM events WHERE kind = 'sms.answer'")
        assert answers == [{"n": 4}]
