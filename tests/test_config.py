"""Loading config.toml (oncall.config): defaults, located errors, durations and secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from oncall.config import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    Tech,
    load_config,
    parse_duration,
)
from oncall.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
LIVE_SID = "AC" + "5" * 32
LIVE_TOKEN = "live-secret-token-0123456789abcdef"


def write_config(tmp_path: Path, *edits: tuple[str, str], name: str = "config.toml") -> Path:
    """Copy config.example.toml into tmp_path, applying (old, new) text replacements."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, f"edit target not in the example config: {old!r}"
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


LIVE_MODE = ('mode = "sandbox"', 'mode = "live"')


def test_example_config_loads_with_sandbox_defaults() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.path == EXAMPLE
    assert config.listen == ("127.0.0.1", 8787)
    assert config.public_url == "http://127.0.0.1:8787"
    assert config.database == EXAMPLE.parent / "var" / "oncall.db"
    assert config.rotations_dir == EXAMPLE.parent / "rotations"
    assert config.timezone.key == "America/Chicago"
    assert config.service_desk == "+15550100000"
    twilio = config.twilio
    assert twilio.mode == "sandbox"
    assert twilio.account_sid == SANDBOX_ACCOUNT_SID
    assert twilio.auth_token == SANDBOX_AUTH_TOKEN
    assert twilio.from_number == "+15550009999"
    assert twilio.emergency_line == "+15550009000"
    assert twilio.sms_validity == timedelta(minutes=10)
    assert twilio.sandbox_listen == ("127.0.0.1", 8788)
    assert config.defaults.ack_timeout == timedelta(minutes=5)
    assert config.defaults.repeats == 1
    assert config.defaults.send_retries == 3
    assert config.defaults.retry_backoff == timedelta(seconds=2)
    assert list(config.techs) == ["alice", "bob", "carol", "dave", "owner"]
    assert config.techs["bob"] == Tech(
        id="bob",
        name="Bob Okafor",
        phone="+15550001002",
        email="bob@example-msp.com",
        channels=("sms",),
    )
    assert config.tech_by_phone("+15550001099") == config.techs["owner"]
    assert config.tech_by_phone("+15559999999") is None


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path, env={})
    assert config.database == tmp_path.resolve() / "var" / "oncall.db"
    assert config.sops_dir == tmp_path.resolve() / "sops"


def test_phone_numbers_are_normalised_to_e164(tmp_path: Path) -> None:
    path = write_config(tmp_path, ('phone = "+15550001002"', 'phone = "(555) 000-1002"'))
    assert load_config(path, env={}).techs["bob"].phone == "+15550001002"


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (('public_url = "http://127.0.0.1:8787"', ""), "daemon.public_url"),
        (
            ('public_url = "http://127.0.0.1:8787"', 'public_url = "oncall.local"'),
            "daemon.public_url",
        ),
        (('mode = "sandbox"', 'mode = "production"'), "twilio.mode"),
        (('phone = "+15550001002"', 'phone = "not-a-phone"'), "techs[1].phone"),
        (('phone = "+15550001002"', 'phone = "123"'), "techs[1].phone"),
        (('id = "bob"', 'id = "alice"'), "techs[1].id"),
        (('id = "bob"', 'id = "Bob"'), "techs[1].id"),
        (('phone = "+15550001002"', 'phone = "+15550001001"'), "techs[1].phone"),
        (('phone = "+15550001002"', 'phone = "+1 (555) 000-1001"'), "techs[1].phone"),
        (('sops_dir = "sops"', 'sops_dir = "sops"\ncolour = "red"'), "daemon.colour"),
        (('sms_validity = "10m"', 'sms_validity = "10m"\nauth_token = "x"'), "twilio.auth_token"),
        (("repeats = 1", "repeats = 1\nretries = 2"), "defaults.retries"),
        (('email = "bob@example-msp.com"', 'pager = "+15550001111"'), "techs[1].pager"),
        (("[defaults]", "[extras]\nx = 1\n\n[defaults]"), "extras"),
        (('ack_timeout = "5m"', 'ack_timeout = "soon"'), "defaults.ack_timeout"),
        (('ack_timeout = "5m"', 'ack_timeout = "0s"'), "defaults.ack_timeout"),
        (('retry_backoff = "2s"', "retry_backoff = true"), "defaults.retry_backoff"),
        (('sms_validity = "10m"', 'sms_validity = "2024-01-01"'), "twilio.sms_validity"),
        (("repeats = 1", "repeats = -1"), "defaults.repeats"),
        (("send_retries = 3", 'send_retries = "3"'), "defaults.send_retries"),
        (('timezone = "America/Chicago"', 'timezone = "Mars/Olympus"'), "daemon.timezone"),
        (('listen = "127.0.0.1:8787"', 'listen = "127.0.0.1:http"'), "daemon.listen"),
        (('from_number = "+15550009999"', ""), "twilio.from_number"),
        (('service_desk = "+15550100000"', 'service_desk = "12"'), "daemon.service_desk"),
    ],
)
def test_errors_name_the_file_and_the_key(
    tmp_path: Path, edit: tuple[str, str], where: str
) -> None:
    path = write_config(tmp_path, edit, name="broken-oncall.toml")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    error = info.value
    assert error.path == str(path.resolve())
    assert error.where == where
    message = str(error)
    assert "broken-oncall.toml" in message
    assert f": {where}: " in message


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, ("[daemon]", "[daemon"), name="garbled.toml")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path, env={})
    assert "garbled.toml" in str(info.value)
    assert info.value.path == str(path.resolve())


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        load_config(tmp_path / "absent.toml", env={})
    assert "absent.toml" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2s", timedelta(seconds=2)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 2 s ", timedelta(seconds=2)),
        ("90s", timedelta(seconds=90)),
        ("PT5M", timedelta(minutes=5)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
    ],
)
def test_parse_duration_accepts(value: object, expected: timedelta) -> None:
    assert parse_duration(value, "config.toml", "defaults.ack_timeout") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0s", "positive"),
        ("0m0s", "positive"),
        (0, "positive"),
        (-3, "positive"),
        ("PT0S", "positive"),
        ("abc", "cannot read duration"),
        ("-5m", "cannot read duration"),
        ("5 minutes please", "cannot read duration"),
        ("2024-01-01", "not a duration"),
        ("", "expected a duration"),
        ("   ", "expected a duration"),
        (True, "expected a duration"),
        (False, "expected a duration"),
        (None, "expected a duration"),
        (["5m"], "expected a duration"),
    ],
)
def test_parse_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        parse_duration(value, "cfg.toml", "defaults.ack_timeout")
    assert str(info.value).startswith("cfg.toml: defaults.ack_timeout: ")


# -- secrets ------------------------------------------------------------------------------


def test_live_mode_without_credentials_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, LIVE_MODE)
    with pytest.raises(ConfigError, match="TWILIO_ACCOUNT_SID") as info:
        load_config(path, env={})
    assert info.value.where == "twilio"
    assert "config.toml" in str(info.value)


@pytest.mark.parametrize(
    "env",
    [
        {"TWILIO_ACCOUNT_SID": LIVE_SID},
        {"TWILIO_AUTH_TOKEN": LIVE_TOKEN},
        {"TWILIO_ACCOUNT_SID": LIVE_SID, "TWILIO_AUTH_TOKEN": ""},
    ],
)
def test_live_mode_needs_both_credentials(tmp_path: Path, env: dict[str, str]) -> None:
    path = write_config(tmp_path, LIVE_MODE)
    with pytest.raises(ConfigError, match="live mode needs"):
        load_config(path, env=env)


def test_live_credentials_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, LIVE_MODE)
    config = load_config(
        path, env={"TWILIO_ACCOUNT_SID": LIVE_SID, "TWILIO_AUTH_TOKEN": LIVE_TOKEN}
    )
    assert config.twilio.mode == "live"
    assert config.twilio.account_sid == LIVE_SID
    assert config.twilio.auth_token == LIVE_TOKEN


def test_sandbox_mode_uses_real_credentials_when_given(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(
        path, env={"TWILIO_ACCOUNT_SID": LIVE_SID, "TWILIO_AUTH_TOKEN": LIVE_TOKEN}
    )
    assert config.twilio.mode == "sandbox"
    assert config.twilio.account_sid == LIVE_SID
    assert config.twilio.auth_token == LIVE_TOKEN


def test_live_credentials_from_systemd_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twilio_account_sid").write_text(LIVE_SID + "\n", encoding="utf-8")
    (creds / "twilio_auth_token").write_text(LIVE_TOKEN + "\n", encoding="utf-8")
    path = write_config(tmp_path, LIVE_MODE)
    config = load_config(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.twilio.account_sid == LIVE_SID
    assert config.twilio.auth_token == LIVE_TOKEN  # trailing newline stripped


def test_credentials_directory_without_the_files_is_still_an_error(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    path = write_config(tmp_path, LIVE_MODE)
    with pytest.raises(ConfigError, match="live mode needs"):
        load_config(path, env={"CREDENTIALS_DIRECTORY": str(creds)})


def test_live_credentials_from_credentials_file(tmp_path: Path) -> None:
    (tmp_path / "twilio.env").write_text(
        f"# Twilio secrets\n\nTWILIO_ACCOUNT_SID={LIVE_SID}\nTWILIO_AUTH_TOKEN = '{LIVE_TOKEN}'\n",
        encoding="utf-8",
    )
    path = write_config(
        tmp_path,
        LIVE_MODE,
        (
            '# credentials_file = "/etc/oncall/twilio.env"',
            'credentials_file = "twilio.env"',
        ),
    )
    config = load_config(path, env={})
    assert config.twilio.account_sid == LIVE_SID
    assert config.twilio.auth_token == LIVE_TOKEN  # quotes and spaces stripped


def test_missing_credentials_file_is_an_error(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        LIVE_MODE,
        ('# credentials_file = "/etc/oncall/twilio.env"', 'credentials_file = "nope.env"'),
    )
    with pytest.raises(ConfigError, match="no such file") as info:
        load_config(path, env={})
    assert info.value.where == "twilio.credentials_file"


def test_credential_sources_in_order_env_then_directory_then_file(tmp_path: Path) -> None:
    (tmp_path / "twilio.env").write_text(
        "TWILIO_ACCOUNT_SID=ACfromfile\nTWILIO_AUTH_TOKEN=token-from-file\n", encoding="utf-8"
    )
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twilio_auth_token").write_text("token-from-dir", encoding="utf-8")
    path = write_config(
        tmp_path,
        LIVE_MODE,
        ('# credentials_file = "/etc/oncall/twilio.env"', 'credentials_file = "twilio.env"'),
    )
    # Nothing in the environment: the directory beats the file, the file fills the gap.
    config = load_config(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.twilio.auth_token == "token-from-dir"
    assert config.twilio.account_sid == "ACfromfile"
    # The environment beats both.
    config = load_config(
        path,
        env={
            "CREDENTIALS_DIRECTORY": str(creds),
            "TWILIO_ACCOUNT_SID": "ACfromenv",
            "TWILIO_AUTH_TOKEN": "token-from-env",
        },
    )
    assert config.twilio.account_sid == "ACfromenv"
    assert config.twilio.auth_token == "token-from-env"


def test_auth_token_never_appears_in_repr(tmp_path: Path) -> None:
    path = write_config(tmp_path, LIVE_MODE)
    config = load_config(
        path, env={"TWILIO_ACCOUNT_SID": LIVE_SID, "TWILIO_AUTH_TOKEN": LIVE_TOKEN}
    )
    assert config.twilio.auth_token == LIVE_TOKEN
    assert LIVE_TOKEN not in repr(config.twilio)
    assert LIVE_TOKEN not in str(config.twilio)
    assert LIVE_TOKEN not in repr(config)
    assert "auth_token" not in repr(config.twilio)
    assert LIVE_SID in repr(config.twilio)  # the SID is not a secret; only the token is hidden


# -- Tech.matches ---------------------------------------------------------------------------

ALICE = Tech(id="alice", name="Alice Nguyen", phone="+15550001001", email="alice@example-msp.com")
NO_EMAIL = Tech(id="bob", name="Bob Okafor", phone="+15550001002")


@pytest.mark.parametrize(
    ("tech", "text", "expected"),
    [
        (ALICE, "alice", True),
        (ALICE, "ALICE", True),
        (ALICE, "  alice  ", True),
        (ALICE, "Alice Nguyen", True),
        (ALICE, "alice nguyen", True),
        (ALICE, "alice@example-msp.com", True),
        (ALICE, "Alice@Example-MSP.com", True),
        (ALICE, "mailto:alice@example-msp.com", True),
        (ALICE, "Alice", True),
        (ALICE, "Nguyen", False),
        (ALICE, "ali", False),
        (ALICE, "alice@other.com", False),
        (ALICE, "+15550001001", False),
        (ALICE, "", False),
        (NO_EMAIL, "bob", True),
        (NO_EMAIL, "bob okafor", True),
        (NO_EMAIL, "", False),
        (NO_EMAIL, "mailto:", False),
    ],
)
def test_tech_matches(tech: Tech, text: str, expected: bool) -> None:
    assert tech.matches(text) is expected


def test_daemon_owner_names_a_tech(tmp_path: Path) -> None:
    assert load_config(EXAMPLE, env={}).owner in (None, "owner")
    edit = ('service_desk = "+15550100000"', 'service_desk = "+15550100000"\nowner = "owner"')
    assert load_config(write_config(tmp_path, edit), env={}).owner == "owner"
    for bad in ('"nobody"', '["owner"]'):
        broken = ('service_desk = "+15550100000"', f'service_desk = "+15550100000"\nowner = {bad}')
        with pytest.raises(ConfigError) as caught:
            load_config(write_config(tmp_path, broken), env={})
        assert caught.value.where == "daemon.owner" and "unknown tech" in caught.value.message


def test_techs_may_list_the_voice_channel(tmp_path: Path) -> None:
    edit = ('phone = "+15550001002"', 'phone = "+15550001002"\nchannels = ["sms", "voice"]')
    assert load_config(write_config(tmp_path, edit), env={}).techs["bob"].channels == (
        "sms",
        "voice",
    )


def test_sms_noise_limits_are_off_unless_set(tmp_path: Path) -> None:
    defaults = load_config(EXAMPLE, env={}).defaults
    assert defaults.tech_sms_gap == timedelta(0) and defaults.tech_sms_per_15m == 0
    edit = ("[defaults]\n", '[defaults]\ntech_sms_gap = "1m"\ntech_sms_per_15m = 4\n')
    defaults = load_config(write_config(tmp_path, edit), env={}).defaults
    assert defaults.tech_sms_gap == timedelta(minutes=1) and defaults.tech_sms_per_15m == 4
    for bad, key in (('tech_sms_gap = "soon"', "gap"), ("tech_sms_per_15m = -1", "per_15m")):
        broken = ("[defaults]\n", f"[defaults]\n{bad}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(write_config(tmp_path, broken), env={})
        assert caught.value.where == f"defaults.tech_sms_{key}"
