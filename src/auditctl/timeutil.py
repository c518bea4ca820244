"""Time parsing shared by parsers and the CLI.

Year-less syslog rule: a `Mmm dd hh:mm:ss` stamp gets the latest year that does not put it
more than one day after the file's reference time (its modification time; the time of
reading for stdin). A file written from December into January therefore places its December
lines in the earlier year. The rule is per line, so it needs no state and works the same when
a file is parsed in parallel chunks. A log spanning more than a year cannot be dated this way.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
FUTURE_SLACK = timedelta(days=1)


def get_tz(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    if name.lower() == "local":
        local = datetime.now().astimezone().tzinfo
        return local or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def infer_year(month: int, day: int, hour: int, minute: int, second: int, micro: int,
               tz: tzinfo, reference: datetime) -> datetime:
    """The year-less stamp placed in the latest year not after reference + 1 day."""
    limit = reference + FUTURE_SLACK
    for year in range(reference.year + 1, reference.year - 8, -1):
        try:
            candidate = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        except ValueError:
            continue  # Feb 29 in a non-leap year
        if candidate <= limit:
            return candidate.astimezone(UTC)
    raise ValueError(f"no year fits month {month} day {day}")


class YearlessStamp:
    """Parses `Mmm dd hh:mm:ss[.ffffff]` with year inference, memoizing repeated stamps."""

    _RE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")

    def __init__(self, reference: datetime, tz: tzinfo) -> None:
        self.reference = reference
        self.tz = tz
        self._cache: dict[str, datetime] = {}

    def __call__(self, stamp: str) -> datetime:
        hit = self._cache.get(stamp)
        if hit is not None:
            return hit
        m = self._RE.match(stamp)
        if not m or m.group(1) not in MONTHS:
            raise ValueError(f"bad timestamp {stamp!r}")
        mon, day, hh, mm, ss, frac = m.groups()
        micro = int((frac or "0").ljust(6, "0"))
        value = infer_year(MONTHS[mon], int(day), int(hh), int(mm), int(ss), micro, self.tz, self.reference)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[stamp] = value
        return value


@lru_cache(maxsize=65536)
def parse_iso(text: str, default_tz: tzinfo = UTC) -> datetime:
    """ISO-8601 / RFC 3339 to aware UTC. Naive stamps are taken in `default_tz`."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python 3.11 accepts up to 6 fractional digits; trim nanoseconds.
    t = re.sub(r"(\.\d{6})\d+", r"\1", t)
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt.astimezone(UTC)


def from_epoch(value: float | int | str) -> datetime:
    """Seconds (or milliseconds/microseconds, judged by size) since the epoch to UTC."""
    v = float(value)
    if v > 1e14:
        v /= 1e6
    elif v > 1e11:
        v /= 1e3
    return datetime.fromtimestamp(v, UTC)


_RELATIVE = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, now: datetime | None = None, tz: tzinfo = UTC) -> datetime:
    """A CLI time: `15m`/`24h`/`7d`/`2w` ago, `today`, `yesterday`, `now`, an ISO date or time."""
    now = now or datetime.now(UTC)
    t = text.strip().lower()
    if t == "now":
        return now
    if t in ("today", "yesterday"):
        local_day = now.astimezone(tz).date()
        if t == "yesterday":
            local_day -= timedelta(days=1)
        return datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz).astimezone(UTC)
    m = _RELATIVE.match(t)
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)
        return parse_iso(text.strip().replace(" ", "T", 1), tz)
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use 15m, 24h, 7d, today, yesterday or an ISO date/time") from None


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    m = _RELATIVE.match(str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a duration (use e.g. 120s, 10m, 24h, 30d)")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def duration_text(td: timedelta) -> str:
    seconds = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
