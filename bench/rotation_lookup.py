"""Rotation lookups: how long "who is on call at T" takes, and how long loading calendars takes.

Writes N rotation calendars the way a calendar app exports them — each a weekly hand-off
(two techs alternating, FREQ=WEEKLY;INTERVAL=2) starting YEARS ago, in a real time zone, with
EXDATEs sprinkled through its history and an overrides file for every tenth rotation — then:

- loads them all with oncall.rotations.load_rotations (parse, check, expand once over the
  index horizon, build the shift index), best of --runs;
- times --lookups calls of oncall.rotations.on_call at random instants inside the horizon,
  across all rotations (the paging hot path), and a few without the index for comparison.

    .venv/bin/python bench/rotation_lookup.py                 # 100 rotations, 5 years
    .venv/bin/python bench/rotation_lookup.py --rotations 300 --years 10

Targets (issue 3): a lookup <= 1 ms; loading 100 such calendars <= 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from oncall.config import Tech
from oncall.rotations import Rotation, load_rotations, on_call

ZONES = ("America/Chicago", "America/New_York", "Europe/Berlin", "America/Los_Angeles")
TECHS = {
    f"tech{i}": Tech(id=f"tech{i}", name=f"Tech {i}", phone=f"+1555000{1000 + i}")
    for i in range(20)
}


def calendar_text(number: int, now: datetime, years: int) -> str:
    zone = ZONES[number % len(ZONES)]
    first = (now - timedelta(days=365 * years)).astimezone(ZoneInfo(zone))
    first = first.replace(hour=8, minute=0, second=0, microsecond=0, tzinfo=None)
    first -= timedelta(days=first.weekday())  # a Monday, 08:00 local
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//oncall bench//EN",
        f"X-WR-CALNAME:rotation {number}",
        f"X-WR-TIMEZONE:{zone}",
    ]
    for k in range(2):
        tech = f"tech{(2 * number + k) % len(TECHS)}"
        start = first + timedelta(weeks=k)
        weeks = range(3 + number % 5, 52 * years // 2, 9)  # every 9th occurrence cancelled
        exdates = ",".join(f"{start + timedelta(weeks=2 * w):%Y%m%dT%H%M%S}" for w in weeks)
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{number}-{k}@example-msp.com",
            "DTSTAMP:20200101T000000Z",
            f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}",
            f"DTEND;TZID={zone}:{start + timedelta(weeks=1):%Y%m%dT%H%M%S}",
            "RRULE:FREQ=WEEKLY;INTERVAL=2",
            f"EXDATE;TZID={zone}:{exdates}",
            f"SUMMARY:{tech}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def overrides_text(number: int, now: datetime) -> str:
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=3 + number % 20)
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//oncall bench//EN",
            "BEGIN:VEVENT",
            f"UID:bench-override-{number}@example-msp.com",
            "DTSTAMP:20200101T000000Z",
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
            f"DTEND:{start + timedelta(days=2):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:tech{(number + 7) % len(TECHS)}",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )


def write_rotations(directory: Path, count: int, now: datetime, years: int) -> None:
    for number in range(count):
        (directory / f"rotation-{number:03d}.ics").write_text(calendar_text(number, now, years))
        if number % 10 == 0:
            (directory / f"rotation-{number:03d}.overrides.ics").write_text(
                overrides_text(number, now)
            )


def time_lookups(
    rotations: list[Rotation], instants: list[datetime], count: int
) -> tuple[float, float, float]:
    """Mean, p99 and max seconds per on_call lookup."""
    samples = []
    for i in range(count):
        rotation = rotations[i % len(rotations)]
        at = instants[i % len(instants)]
        started = time.perf_counter()
        on_call(rotation, TECHS, at)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.fmean(samples), samples[int(len(samples) * 0.99)], samples[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=100)
    parser.add_argument("--years", type=int, default=5, help="history before now")
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="loads timed; the best counts")
    args = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="oncall-bench-") as tmp:
        directory = Path(tmp)
        write_rotations(directory, args.rotations, now, args.years)
        load_times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            loaded = load_rotations(directory, now=now)
            load_times.append(time.perf_counter() - started)
        plain = load_rotations(directory)  # no index: every lookup expands the calendars

    rotations = list(loaded.values())
    shifts = sum(len(r.index) for r in rotations if r.index is not None)
    rng = random.Random(3)
    instants = [
        now + timedelta(seconds=rng.uniform(-30 * 86400, 380 * 86400)) for _ in range(10_000)
    ]
    mean, p99, worst = time_lookups(rotations, instants, args.lookups)
    plain_mean, _, _ = time_lookups(list(plain.values()), instants, min(2_000, args.lookups))

    print(
        f"{args.rotations} rotations, weekly hand-off, {args.years} years of history with "
        f"EXDATEs, {shifts} indexed shifts"
    )
    print(
        f"load all {args.rotations}: {min(load_times):.3f} s (best of {args.runs}; target <= 2 s)"
    )
    print(
        f"lookup (on_call): mean {mean * 1e6:.1f} us, p99 {p99 * 1e6:.1f} us, "
        f"max {worst * 1e6:.1f} us over {args.lookups} lookups (target <= 1000 us)"
    )
    print(f"lookup without the index (expanding each time): mean {plain_mean * 1e6:.1f} us")


if __name__ == "__main__":
    main()
