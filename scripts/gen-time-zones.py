#!/usr/bin/env python3
"""Writes the time-zone table policies name zones from, and the test data that checks it.

A policy's `local_time` condition names an IANA zone ("Europe/Berlin"). The worker cannot carry
the whole tz database beside a bundle near the Free plan's 3 MiB, and needs none of its history:
a rule is judged at the moment a request arrives. Each TZif file ends with a POSIX TZ string
that states the zone's current rule (RFC 8536, section 3.3), e.g. "CET-1CEST,M3.5.0,M10.5.0/3";
the table is those strings by name, read from the system's tzdata (Debian's `tzdata`
package; the version goes in the table's first line). Re-run after a tzdata release that
changes a rule:

    python3 scripts/gen-time-zones.py          # writes src/routing/time_zones/*.tsv

A few zones change in ways no POSIX rule states (Morocco's hour off in Ramadan, written into
the database year by year): where the rule alone departs from the database between 2026 and
2050, the database's changes in those years follow the rule on its line, as unix-time:offset,
the last one back to the rule's own offset.

Python's zoneinfo (3.11) reads two POSIX day forms a day off, `n` and `J59` in leap years, where
the Rust reader follows POSIX; no zone's rule uses them today, but a footer that does would get
needless exceptions here and wrong expectations in the test data.

It also writes, for the native tests, each zone's UTC offset at the start of 2027 and every
change of it through 2028 as Python's zoneinfo (the same tzdata, read in full) computes them,
so the rule reader is checked against the real database rather than against itself.
"""
import datetime
import io
import os
import re
import struct
import sys
import zoneinfo

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ZONEINFO = "/usr/share/zoneinfo"
OUT = os.path.join(ROOT, "src/routing/time_zones")


def footer(path):
    data = open(path, "rb").read()
    if not data.startswith(b"TZif") or data[4:5] < b"2":
        return None
    # The footer is the text between the file's last two newlines (empty for a zone no POSIX
    # rule describes).
    if not data.endswith(b"\n"):
        return None
    end = data[:-1]
    start = end.rfind(b"\n")
    return end[start + 1:].decode("ascii") or None if start >= 0 else None


def version():
    for line in open(os.path.join(ZONEINFO, "tzdata.zi")):
        m = re.match(r"# version (\S+)", line)
        if m:
            return m.group(1)
    sys.exit("no version line in tzdata.zi")


def rule_alone(rule):
    """A zone that has only `rule`: a TZif file with no transitions, whose footer zoneinfo reads."""
    block = b"TZif2" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 0, 1, 4) + struct.pack(">lbb", 0, 0, 0) + b"UTC\0"
    return zoneinfo.ZoneInfo.from_file(io.BytesIO(block + block + b"\n" + rule.encode() + b"\n"), key=rule)


def offset(zone, t):
    return int(datetime.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())


def utc(year):
    return int(datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc).timestamp())


def exceptions(name, rule):
    """The database's changes from 2026 to 2050 where the rule alone says otherwise, else []."""
    start, end = utc(2026), utc(2050)
    six_hours = 6 * 3600
    if changes(zoneinfo.ZoneInfo(name), start, end, six_hours) == changes(rule_alone(rule), start, end, six_hours):
        return []
    first, found = changes(zoneinfo.ZoneInfo(name), start, end, six_hours)
    return [(start, first)] + found + [(end, offset(rule_alone(rule), end))]


def changes(zone, start, end, step=3600):
    """The zone's offset at `start` and each (unix time, new offset) before `end`, to the second
    (looked for every `step` seconds: no zone keeps an offset for less than a few weeks)."""
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    off = lambda t: int(datetime.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())
    first = off(start)
    found, t = [], start
    last = first
    while t < end:
        nxt = t + step
        if off(nxt) != last:
            lo, hi = t, nxt  # off(lo) == last, off(hi) != last
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if off(mid) == last:
                    lo = mid
                else:
                    hi = mid
            last = off(hi)
            found.append((hi, last))
            t = hi
        else:
            t = nxt
    return first, found


def main():
    os.makedirs(OUT, exist_ok=True)
    # `localtime` is the generating machine's own zone, `posixrules` and `Factory` no place's.
    not_places = {"localtime", "posixrules", "Factory"}
    names = sorted(n for n in zoneinfo.available_timezones() if not n.startswith(("posix/", "right/")) and n not in not_places)
    rows, skipped = [], []
    for name in names:
        rule = footer(os.path.join(ZONEINFO, name))
        if not rule:
            skipped.append(name)
            continue
        rows.append((name, rule))
    with open(os.path.join(OUT, "zones.tsv"), "w") as f:
        f.write(f"# IANA time zones and their current rule as a POSIX TZ string, from tzdata {version()}; written by scripts/gen-time-zones.py\n")
        for name, rule in rows:
            f.write("\t".join([name, rule] + [f"{t}:{o}" for t, o in exceptions(name, rule)]) + "\n")
    start, end = utc(2027), utc(2029)
    with open(os.path.join(OUT, "offsets-2027-2028.tsv"), "w") as f:
        f.write(f"# zone, UTC offset in seconds at 2027-01-01T00:00Z, then unix-time:new-offset for each change before 2029, by Python's zoneinfo from tzdata {version()}\n")
        for name, _ in rows:
            first, found = changes(name, start, end)
            f.write("\t".join([name, str(first)] + [f"{t}:{o}" for t, o in found]) + "\n")
    print(f"{len(rows)} zones written, {len(skipped)} without a POSIX rule skipped: {' '.join(skipped)}")


main()
