#!/usr/bin/env python3
"""Compares `taskrt schedule-plan -o json` with an independent implementation
of the same rules on Python's zoneinfo (the system tzdata):

- cron fields are expanded here by a separate parser, local times are walked
  minute by minute (or second by second) on matching days;
- a local time that does not exist (spring forward) fires at the first
  instant after the gap (found by searching the UTC offsets, not from
  taskrt), a repeated one at its first occurrence (fold=0);
- --every is a fixed interval in absolute time aligned to the epoch.

Usage: schedule_plan_check.py PATH/TO/taskrt
"""
import datetime as dt
import json
import subprocess
import sys
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()


def expand(field, lo, hi, names=None):
    out = set()
    for item in field.split(","):
        rng, _, step = item.partition("/")
        step = int(step) if step else 1

        def val(s):
            if names and s.upper() in names:
                return names.index(s.upper()) + lo
            return int(s)
        if rng in ("*", "?"):
            a, b = lo, hi
        elif "-" in rng:
            a, b = (val(x) for x in rng.split("-"))
        else:
            a = val(rng)
            b = hi if step != 1 or "/" in item else a
        out.update(range(a, b + 1, step))
    return out


MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


def cron_matcher(expr):
    f = MACROS.get(expr, expr).split()
    if len(f) == 5:
        f = ["0"] + f
    sec, mins, hrs = expand(f[0], 0, 59), expand(f[1], 0, 59), expand(f[2], 0, 23)
    dom, mon = expand(f[3], 1, 31), expand(f[4], 1, 12, MONTHS)
    dow = {d % 7 for d in expand(f[5], 0, 7, DAYS + ["SUN"])}
    dom_star, dow_star = f[3] in ("*", "?"), f[5] in ("*", "?")

    def day_ok(d):
        if d.month not in mon:
            return False
        a, b = d.day in dom, (d.isoweekday() % 7) in dow
        return (a or b) if not dom_star and not dow_star else (a and b)
    times = sorted(dt.time(h, m, s) for h in hrs for m in mins for s in sec)
    return day_ok, times


def fire_instant(local, zone):
    """The UTC instant a matching local time fires at."""
    first = local.replace(tzinfo=zone, fold=0)
    u = first.astimezone(UTC)
    if u.astimezone(zone).replace(tzinfo=None) == local:
        return u  # unique, or the first of two occurrences (fold=0)
    # Nonexistent: the first instant after the gap is the transition, the
    # first UTC second whose offset is the later one; it lies between the
    # two readings of `local` (fold=1 uses the earlier offset in PEP 495
    # gaps... whichever is earlier).
    a = min(u, local.replace(tzinfo=zone, fold=1).astimezone(UTC))
    b = max(u, local.replace(tzinfo=zone, fold=1).astimezone(UTC))
    after = b.astimezone(zone).utcoffset()
    lo, hi = a, b
    while (hi - lo) > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) // 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi if lo.astimezone(zone).utcoffset() != after else lo


def expected_cron(expr, tz, start, count):
    zone = ZoneInfo(tz)
    day_ok, times = cron_matcher(expr)
    day = (start.astimezone(zone) - dt.timedelta(days=2)).date()
    fires = []
    seen = set()
    for _ in range(366 * 13):
        if day_ok(day):
            for t in times:
                f = fire_instant(dt.datetime.combine(day, t), zone)
                if f > start and f not in seen:
                    seen.add(f)
                    fires.append(f)
        day += dt.timedelta(days=1)
        if len(fires) >= count + 50:
            break
    fires.sort()
    return fires[:count]


def expected_every(seconds, start, count):
    t = int(start.timestamp()) // seconds * seconds
    return [dt.datetime.fromtimestamp(t + seconds * (i + 1), UTC) for i in range(count)]


def rfc(u):
    return u.strftime("%Y-%m-%dT%H:%M:%SZ")


CASES = [
    # (cron or None, every seconds or None, every text, tz, from, count)
    # Europe/Berlin (north): spring forward 2026-03-29 02:00->03:00, back 2026-10-25 03:00->02:00
    ("30 2 * * *", None, None, "Europe/Berlin", "2026-03-27T00:00:00Z", 5),
    ("*/15 * * * *", None, None, "Europe/Berlin", "2026-03-29T00:00:00Z", 12),
    ("0 * * * *", None, None, "Europe/Berlin", "2026-03-28T22:30:00Z", 8),
    ("30 2 * * *", None, None, "Europe/Berlin", "2026-10-23T00:00:00Z", 5),
    ("*/20 2 * * *", None, None, "Europe/Berlin", "2026-10-24T23:00:00Z", 6),
    ("0 * * * *", None, None, "Europe/Berlin", "2026-10-24T22:30:00Z", 8),
    # Australia/Sydney (south): back 2026-04-05 03:00->02:00, forward 2026-10-04 02:00->03:00
    ("30 2 * * *", None, None, "Australia/Sydney", "2026-04-03T00:00:00Z", 5),
    ("*/30 * * * *", None, None, "Australia/Sydney", "2026-04-04T14:00:00Z", 10),
    ("30 2 * * *", None, None, "Australia/Sydney", "2026-10-02T00:00:00Z", 5),
    ("*/30 * * * *", None, None, "Australia/Sydney", "2026-10-03T14:00:00Z", 10),
    # America/Santiago (south, transitions at 24:00 local): 2026-04-05 and 2026-09-06
    ("0 0 * * *", None, None, "America/Santiago", "2026-04-02T00:00:00Z", 6),
    ("30 23,0 * * *", None, None, "America/Santiago", "2026-09-04T00:00:00Z", 8),
    ("0 0 * * *", None, None, "America/Santiago", "2026-09-03T00:00:00Z", 6),
    # America/New_York, 6 fields with seconds, through the spring gap
    ("*/20 59 1 * * *", None, None, "America/New_York", "2026-03-07T00:00:00Z", 8),
    ("0 30 1 * * *", None, None, "America/New_York", "2026-10-31T00:00:00Z", 4),
    # Lord Howe: a 30-minute shift
    ("*/10 2 * * *", None, None, "Australia/Lord_Howe", "2026-10-03T12:00:00Z", 8),
    # Month ends and leap days
    ("0 0 31 * *", None, None, "UTC", "2026-01-15T00:00:00Z", 8),
    ("0 12 29 2 *", None, None, "Europe/Berlin", "2026-01-01T00:00:00Z", 3),
    ("0 6 28-31 2 *", None, None, "Asia/Tokyo", "2027-02-01T00:00:00Z", 6),
    ("0 0 1 * *", None, None, "Pacific/Auckland", "2026-01-15T00:00:00Z", 14),
    ("0 9 * * MON-FRI", None, None, "America/New_York", "2026-02-26T00:00:00Z", 10),
    ("0 0 13 * FRI", None, None, "UTC", "2026-01-01T00:00:00Z", 8),
    ("@monthly", None, None, "Asia/Kolkata", "2026-11-15T00:00:00Z", 4),
    # Intervals in absolute time, across DST nights
    (None, 1, "1s", "UTC", "2026-03-29T00:59:58Z", 5),
    (None, 90, "90s", "Europe/Berlin", "2026-03-29T00:55:00Z", 6),
    (None, 300, "5m", "Australia/Sydney", "2026-04-04T15:50:00Z", 6),
    (None, 5400, "1h30m", "America/Santiago", "2026-04-04T22:00:00Z", 6),
]


def main():
    taskrt = sys.argv[1]
    failures = 0
    for cron, every_s, every, tz, start, count in CASES:
        begin = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        cmd = [taskrt, "schedule-plan", "--tz", tz, "--from", start, "--count", str(count), "-o", "json"]
        if cron:
            cmd += ["--cron", cron]
            want = [rfc(u) for u in expected_cron(cron, tz, begin, count)]
        else:
            cmd += ["--every", every]
            want = [rfc(u) for u in expected_every(every_s, begin, count)]
        got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        label = f"{cron or '--every ' + every} in {tz} from {start}"
        if got != want:
            failures += 1
            print(f"MISMATCH {label}\n  taskrt: {got}\n  python: {want}")
        else:
            print(f"ok {label}: {len(got)} fire times")
    print(f"{len(CASES) - failures}/{len(CASES)} cases agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
