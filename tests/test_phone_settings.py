"""An SOP's [phone_line] table and the phone menu's size (oncall.phone_settings)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sop_files import DEFAULTS, ENV, MINIMAL, load, write_sop

from oncall.errors import ConfigError
from oncall.sops import collect_sops


def test_phone_line_table(tmp_path) -> None:
    sop = load(write_sop(tmp_path, MINIMAL))
    assert sop.phone_line.unknown_callers == "voicemail"
    assert sop.phone_line.callback_within == timedelta(minutes=15)
    front = MINIMAL + '\n[phone_line]\nunknown_callers = "page"\ncallback_within = "20m"\n'
    sop = load(write_sop(tmp_path, front))
    assert sop.phone_line.pages_unknown_callers
    assert sop.phone_line.callback_within == timedelta(minutes=20)
    assert not sop.phone_line.live_connect  # off unless the SOP says so
    front = MINIMAL + '\n[phone_line]\nlive_connect = true\nhold_limit = "90s"\n'
    sop = load(write_sop(tmp_path, front))
    assert sop.phone_line.live_connect
    assert sop.phone_line.hold_limit == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ('unknown_callers = "ring everyone"', "phone_line.unknown_callers"),
        ('callback_within = "later"', "phone_line.callback_within"),
        ('greeting = "hi"', "phone_line.greeting"),
        ('live_connect = "yes"', "phone_line.live_connect"),
        ('hold_limit = "soon"', "phone_line.hold_limit"),
        ("hold_limit = 0", "phone_line.hold_limit"),
    ],
)
def test_bad_phone_line_keys_are_refused(tmp_path, table: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, MINIMAL + f"\n[phone_line]\n{table}\n"))
    assert caught.value.where == where


def test_a_phone_menu_longer_than_the_keypad_is_refused(tmp_path) -> None:
    rules = "".join(
        f'\n[[emergency]]\nid = "e{i}"\npriority = "P2"\nlabel = "thing {i}"\n' for i in range(8)
    )
    front = MINIMAL.replace("[escalation]", rules + "\n[escalation]")
    with pytest.raises(ConfigError) as caught:
        load(write_sop(tmp_path, front))
    assert "9 emergencies are in the phone menu" in caught.value.message


def test_shared_pins_and_two_unknown_caller_catch_alls_are_errors(tmp_path) -> None:
    def catch_all(client: str) -> str:
        return (
            MINIMAL.replace('client = "acme"', f'client = "{client}"')
            .replace('caller_ids = ["+1 312 555 0142"]', 'caller_ids = []\npin = "1234"')
            .replace("[escalation]", '[phone_line]\nunknown_callers = "page"\n\n[escalation]')
        )

    write_sop(tmp_path, catch_all("acme"))
    write_sop(tmp_path, catch_all("beta"), name="beta")
    sops, errors = collect_sops(tmp_path, DEFAULTS, env=ENV, sandbox=False)
    assert set(sops) == {"acme", "beta"}
    assert [(e.path, e.where) for e in errors] == [
        (str(tmp_path / "beta.md"), "pin"),
        (str(tmp_path / "beta.md"), "phone_line.unknown_callers"),
    ]
    assert "'acme'" in errors[0].message and "'acme'" in errors[1].message
