"""Which year a file's year-less stamps (`Mar 12 10:52:25`, BSD syslog) belong to.

The stamps are dated by `timeutil.infer_year` against a reference time: each gets the latest
year that does not put it more than a day after the reference, so a file written from December
into January keeps its December lines in the earlier year. This module picks the reference,
best evidence first:

1. `ingest --year YYYY`: the year of the file's last stamp.
2. A date in the file name, as logrotate's `dateext` writes it (`auth.log-20170312[.gz]`):
   the file was rotated that day, after its last line.
3. A full date in the content on a line whose year-less stamp has the same month and day:
   an ISO date in the message (`2016-12-13 11:35:28.419 ...`) or an audit epoch
   (`audit(1489312345.123:42)`). That line's year, carried forward to the last stamp (one year
   more if the last stamp's month/day comes before the anchor's: a rollover).
4. Otherwise the file's modification time, which is a guess: a log copied today would land in
   this year, so ingest says so in the file's note.
"""

from __future__ import annotations

import gzip
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from auditctl.sources import HEAD_BYTES, open_binary, read_head
from auditctl.timeutil import MONTHS

TAIL_BYTES = 64 * 1024
LOOKAHEAD = timedelta(days=60)
# a year-less BSD stamp at the start of a line (not followed by a year, which RFC 3164 allows)
_STAMP = re.compile(r"^(?:<\d{1,3}>)?([A-Z][a-z]{2}) ([ \d]?\d) (\d\d):(\d\d):(\d\d)(?:\.\d{1,6})? (?!\d{4} )")
_NAME_DATE = re.compile(r"[-_.]((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?:\D|$)")
_ISO_DATE = re.compile(r"\b((?:19|20)\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]\d\d:\d\d")
_EPOCH = re.compile(r"\baudit\((\d{9,10})(?:\.\d+)?:\d+\)")


@dataclass(frozen=True)
class YearChoice:
    """The reference time for a file's year-less stamps, and where its year came from."""

    reference: datetime
    source: str  # "--year", "file name", "content", "mtime"

    @property
    def guessed(self) -> bool:
        return self.source == "mtime"

    def note(self) -> str:
        year = self.reference.year
        if self.guessed:
            return (f"year-less stamps dated by the file's modification time ({year}), a guess; "
                    "pass --year YYYY if the log is from another year")
        return f"year-less stamps dated from the {self.source} (last stamp in {year})"


def _stamp(line: str) -> tuple[int, int, int, int, int] | None:
    m = _STAMP.match(line)
    if m is None or m.group(1) not in MONTHS:
        return None
    mon, day, hh, mm, ss = m.groups()
    return MONTHS[mon], int(day), int(hh), int(mm), int(ss)


def _tail_lines(path: Path) -> list[str]:
    """The last lines of the (decompressed) file."""
    with open_binary(path) as f:
        if isinstance(f, gzip.GzipFile):  # no seeking from the end: read it through
            kept: deque[bytes] = deque(maxlen=2)
            for chunk in iter(lambda: f.read(TAIL_BYTES), b""):
                kept.append(chunk)
            data = b"".join(kept)
        else:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 2 * TAIL_BYTES))
            data = f.read()
    cut = len(data) > TAIL_BYTES
    lines = data[-TAIL_BYTES:].decode("utf-8", "replace").split("\n")
    if cut:
        lines = lines[1:]  # the first may be cut
    return [ln.rstrip("\r") for ln in lines if ln.strip()]


def _anchor_year(line: str, month: int, day: int, tz: tzinfo) -> int | None:
    """The year a line's content states for its own month and day, if it states one."""
    candidates: list[tuple[int, int, int]] = [
        (int(y), int(mo), int(d)) for y, mo, d in _ISO_DATE.findall(line)]
    for epoch in _EPOCH.findall(line):
        when = datetime.fromtimestamp(int(epoch), UTC).astimezone(tz)
        candidates.append((when.year, when.month, when.day))
    for year, mo, d in candidates:
        try:
            stated = datetime(year, mo, d)
            own = datetime(year, month, day)
        except ValueError:
            continue
        if abs(stated - own) <= timedelta(days=1):  # zones may put the two on adjacent days
            return year
    return None


def _at(year: int, stamp: tuple[int, int, int, int, int], tz: tzinfo) -> datetime:
    month, day, hh, mm, ss = stamp
    try:
        return datetime(year, month, day, hh, mm, ss, tzinfo=tz)
    except ValueError:  # Feb 29 in a year without one: the day before
        return datetime(year, month, day - 1, hh, mm, ss, tzinfo=tz)


def choose_year(path: Path, tz: tzinfo, mtime: datetime, year: int | None = None) -> YearChoice | None:
    """The reference for `path`'s year-less stamps; None when its head has none."""
    head = read_head(path, HEAD_BYTES).lines
    if not any(_stamp(ln) for ln in head):
        return None
    tail = _tail_lines(path)
    last = next((s for s in map(_stamp, reversed(tail)) if s), None) or next(
        s for s in map(_stamp, reversed(head)) if s)
    seen = [s for s in map(_stamp, head + tail) if s]
    if year is not None:
        return YearChoice(_latest(year, last, seen, tz), "--year")
    m = _NAME_DATE.search(path.name)
    if m:
        y, mo, d = map(int, m.groups())
        return YearChoice(datetime(y, mo, d, 23, 59, 59, tzinfo=tz), "file name")
    found = _content_year(tail, last, tz) or _content_year(head, last, tz)
    if found is not None:
        return YearChoice(_latest(found, last, seen, tz), "content")
    return YearChoice(mtime, "mtime")


def _latest(year: int, last: tuple[int, int, int, int, int], seen: list[tuple[int, int, int, int, int]],
            tz: tzinfo) -> datetime:
    """The last stamp placed in `year`, or a stamp seen up to 60 days after it: a file of
    concatenated logs is not quite in order, and its latest line is the reference."""
    end = _at(year, last, tz)
    latest = end
    for stamp in seen:
        when = _at(year, stamp, tz)
        if when < end:
            when = _at(year + 1, stamp, tz)
        if when - end <= LOOKAHEAD and when > latest:
            latest = when
    return latest


def _content_year(lines: list[str], last: tuple[int, int, int, int, int], tz: tzinfo) -> int | None:
    """The year of the last stamp, carried from the latest line whose content states its year."""
    for line in reversed(lines):
        stamp = _stamp(line)
        if stamp is None:
            continue
        year = _anchor_year(line, stamp[0], stamp[1], tz)
        if year is not None:
            return year + 1 if last < stamp else year  # the file rolled over into a new year after it
    return None
