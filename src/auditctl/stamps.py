"""A record's own time stamp, found in text no parser understood.

A line in no known format often still starts with a full date: an ISO 8601 stamp (most
application logs), Apache's error-log `[Sun Dec 04 04:47:44 2005]`, nginx's `2024/03/11
08:11:03`, the Common Log Format's `[11/Mar/2024:08:11:03 +0100]`, or an epoch in seconds
as the first field; Debian's `update-alternatives 2025-06-24 14:36:53: ...` and apt's
`Start-Date: 2025-06-24  14:36:25` put an ISO date after a short prefix. Such a stamp is the record's own time (`ts_source = record`), better
than a neighbour's or the file's. Only stamps that carry their year are taken, and only near
the start of the line: a date later in a message is not the record's time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_HEAD = 32  # a stamp must start within the first characters of the line (CLF: after the client)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}
# apt's logs put two spaces before the time; update-alternatives a colon after the seconds
_ISO = re.compile(r"(\d{4})[-/.](\d{2})[-/.](\d{2})(?:T| {1,2})(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
                  r"\s?(Z|[+-]\d{2}:?\d{2})?(?!\d|:\d)")
_ASCTIME = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})"
                      r"(?:\.(\d{1,6}))? (\d{4})")
_CLF = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})")
_EPOCH = re.compile(r"^(?:-\s+)?(1\d{9})(?:\.(\d{1,6}))?\s")
_EPOCH_RANGE = (946684800, 4102444800)  # 2000-01-01 .. 2100-01-01: a plausible log stamp


def find_stamp(text: str, tz: tzinfo = UTC) -> datetime | None:
    """The first full date and time near the start of `text`; naive stamps are in `tz`."""
    head = text[:_HEAD + 40]
    for find in (_iso, _asctime, _clf, _epoch):
        found = find(head, tz)
        if found is not None:
            return found
    return None


def _iso(head: str, tz: tzinfo) -> datetime | None:
    m = _ISO.search(head)
    if not m or m.start() > _HEAD:
        return None
    frac = (m[7] or "0")[:6].ljust(6, "0")
    zone = _zone(m[8]) if m[8] else tz
    return _make(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), int(frac), zone)


def _asctime(head: str, tz: tzinfo) -> datetime | None:
    m = _ASCTIME.search(head)
    if not m or m.start() > _HEAD or m[1].lower() not in _MONTHS:
        return None
    micro = int((m[6] or "0").ljust(6, "0"))
    return _make(int(m[7]), _MONTHS[m[1].lower()], int(m[2]), int(m[3]), int(m[4]), int(m[5]), micro, tz)


def _clf(head: str, tz: tzinfo) -> datetime | None:
    m = _CLF.search(head)
    if not m or m.start() > _HEAD or m[2].lower() not in _MONTHS:
        return None
    return _make(int(m[3]), _MONTHS[m[2].lower()], int(m[1]), int(m[4]), int(m[5]), int(m[6]), 0, _zone(m[7]))


def _epoch(head: str, tz: tzinfo) -> datetime | None:
    m = _EPOCH.match(head)
    if not m:
        return None
    seconds = int(m[1])
    if not _EPOCH_RANGE[0] <= seconds < _EPOCH_RANGE[1]:
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=int((m[2] or "0").ljust(6, "0")))


def _zone(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _make(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int,
          zone: tzinfo | None) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone or UTC)
    except ValueError:  # 2024-13-45: digits that only look like a date
        return None
