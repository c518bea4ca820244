"""utmp, wtmp and btmp: the binary login records of glibc on Linux (`/var/log/wtmp`, `/var/log/btmp`, `/run/utmp`).

Each record is a fixed 384-byte `struct utmp` (Linux x86_64 and aarch64, little-endian; `man 5
utmp`): ut_type (i16 + 2 pad bytes), ut_pid (i32), ut_line (32 bytes, the tty), ut_id (4),
ut_user (32), ut_host (256), ut_exit (2 x i16), ut_session (i32), ut_tv (2 x i32: seconds,
microseconds), ut_addr_v6 (4 x i32, network order), 20 unused bytes. Detected by content: every
record in the first 64 KiB has a known ut_type (0-9), microseconds below 1,000,000, a time
after 1980 (or none, for an EMPTY record) and no control character in its texts.

One event per record, `line` None, `origin` = `record <n> at byte <offset>` (n from 1 at the
start of the file). `raw` = the record as `utmpdump` prints it (`[type] [pid] [id] [user]
[line] [host] [address] [time]`, the time in UTC), and the record's exact 384 bytes are kept in
`raw_b64` (the leaf hash covers them). `ts` = ut_tv in UTC (the seconds read unsigned, so the
stamps go on past 2038); none for a record without a time. `pid` = ut_pid, `session` =
ut_session when not 0, `src_ip` = ut_addr_v6 when not all zero (IPv4 when only its first word is
set; `::ffff:a.b.c.d` written as `a.b.c.d`), else ut_host when it is an address. attrs:
`ut_type` (its name), `tty` (ut_line), `id` (ut_id), `host` (ut_host as written: a remote host,
an X display `:0`, or the kernel release of a boot record), `from` (ut_host when it is a name,
as the login parser keeps a login's FROM), `exit` ([termination, status] when not 0, 0).

| ut_type | event |
|---|---|
| USER_PROCESS (7) | authentication/login success, actor = ut_user |
| DEAD_PROCESS (8) | authentication/logout success, actor = ut_user when written (usually empty) |
| BOOT_TIME (2), or user `reboot` | system/service_start, "system boot" (as Windows' 4608) |
| RUN_LVL (1) with user `shutdown`, or user `shutdown` | system/service_stop, "system shutdown" (as 4609) |
| RUN_LVL (1) | system/log, attrs.runlevel and attrs.previous_runlevel (from ut_pid) |
| NEW_TIME (3), OLD_TIME (4) | system/log: the clock was set (the time after, and before) |
| INIT_PROCESS (5) | system/process_start, pid |
| LOGIN_PROCESS (6) | system/log: a getty waits for a login on the tty |
| EMPTY (0), ACCOUNTING (9) | system/log |

btmp holds failed login attempts (written by login and sshd, as LOGIN_PROCESS records): in a
file named `btmp` (`btmp.1`, `btmp-20240101`, `btmp.1.gz` ...), or with the option
`btmp: true` (config `parsers: utmp: btmp: true`, for a renamed copy or stdin), every record
with a user is authentication/login **failure**, actor = the user that was tried.

A record whose ut_type is unknown, and a partial record at the end of a file (a write cut
short), are kept as unparsed events with their exact bytes. wtmp and btmp are append-only, so
ingest resumes at the byte offset it reached and reads only the records appended since. When
that offset is inside a record (its first bytes were stored as a partial record and the writer
completed it later), the bytes up to the next 384-byte boundary are kept as one more unparsed
event and reading goes on from the boundary. (glibc's updwtmp instead truncates a partial
record before appending: the file's stored prefix then changed, and ingest reads it from the
start, as for any file edited in place.) `/run/utmp`, the table of current sessions, has the
same records but is rewritten in place: ingesting it again stores it again. Following a live
file (`watch`) leaves a partial record at the end for the next cycle.

`lastlog` (292-byte entries indexed by uid: the time, tty and host of each account's last
login) is recognized by the `lastlog` parser below and skipped, not read: it is a table, not a
log. Each entry is overwritten at the next login, so an entry is not an event of its own
(the login it summarizes is a USER_PROCESS record in wtmp, and an entry cannot say which); it
names a uid, not a user; a sparse file of millions of empty entries would be read again in full
whenever one entry changes. Ingest reports it as "skipped: not a log" and does not fail.
"""

from __future__ import annotations

import gzip
import ipaddress
import lzma
import re
import socket
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from auditctl.ingest.addresses import is_ip
from auditctl.ingest.rawbytes import decode_record
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import HEAD_BYTES, Head, Source, SourceError

NAME = "utmp"
RECORD = 384
_STRUCT = struct.Struct("<h2xi32s4s32s256shhiII16s20x")
assert _STRUCT.size == RECORD
TYPES = ("EMPTY", "RUN_LVL", "BOOT_TIME", "NEW_TIME", "OLD_TIME", "INIT_PROCESS", "LOGIN_PROCESS",
         "USER_PROCESS", "DEAD_PROCESS", "ACCOUNTING")
(EMPTY, RUN_LVL, BOOT_TIME, NEW_TIME, OLD_TIME, INIT_PROCESS, LOGIN_PROCESS, USER_PROCESS,
 DEAD_PROCESS, ACCOUNTING) = range(10)
EARLIEST = 315532800  # 1980-01-01: no Linux login record is older
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BTMP_NAME = re.compile(r"btmp(?:[.\-_].*)?")
_CONTROL = re.compile(rb"[\x01-\x1f\x7f]")
_DECOMPRESS_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


class Record:
    """One decoded `struct utmp`."""

    __slots__ = ("addr", "exit", "host", "id", "line", "pid", "sec", "session", "type", "usec", "user")

    def __init__(self, data: bytes) -> None:
        (self.type, self.pid, line, ut_id, user, host, term, status, self.session, self.sec, self.usec,
         addr) = _STRUCT.unpack(data)
        self.line, self.id, self.user, self.host = _text(line), _text(ut_id), _text(user), _text(host)
        self.exit = (term, status)
        self.addr = addr

    @property
    def ts(self) -> datetime | None:
        if self.sec == 0:
            return None
        return _EPOCH + timedelta(seconds=self.sec, microseconds=self.usec)

    def render(self) -> str:
        """The record as `utmpdump` prints it (the time in UTC)."""
        when = (self.ts or _EPOCH).strftime("%Y-%m-%dT%H:%M:%S,%f+00:00")
        return (f"[{self.type}] [{self.pid:05d}] [{self.id:<4.4}] [{self.user:<8.32}] [{self.line:<12.32}] "
                f"[{self.host:<20.256}] [{_dumped_address(self.addr):<15}] [{when}]")


def _text(field: bytes) -> str:
    """A NUL-padded text field (strncpy: it may fill the field with no NUL)."""
    return decode_record(field.split(b"\0", 1)[0])


def _dumped_address(addr: bytes) -> str:
    """ut_addr_v6 as utmpdump and `last -i` print it: IPv4 when only the first word is set."""
    if addr[4:] == bytes(12):
        return socket.inet_ntop(socket.AF_INET, addr[:4])
    return socket.inet_ntop(socket.AF_INET6, addr)


def _address(addr: bytes) -> str | None:
    """ut_addr_v6 as src_ip: None when all zero, `::ffff:a.b.c.d` as `a.b.c.d`."""
    if addr == bytes(16):
        return None
    if addr[4:] == bytes(12):
        return str(ipaddress.IPv4Address(addr[:4]))
    v6 = ipaddress.IPv6Address(addr)
    return str(v6.ipv4_mapped) if v6.ipv4_mapped else str(v6)


def plausible(data: bytes) -> bool:
    """Whether 384 bytes look like a utmp record (detection; never raises)."""
    kind, sec, usec = struct.unpack_from("<h", data, 0)[0], *struct.unpack_from("<II", data, 340)
    if not 0 <= kind < len(TYPES) or usec >= 1_000_000:
        return False
    if kind == EMPTY and sec == 0:
        return True
    if sec < EARLIEST:
        return False
    return not any(_CONTROL.search(data[a:b].split(b"\0", 1)[0]) for a, b in ((8, 40), (44, 76), (76, 332)))


class UtmpParser(Parser):
    name = NAME
    description = "utmp/wtmp/btmp: Linux binary login records (logins, logouts, boots; btmp: failed logins)"

    def score(self, head: Head) -> tuple[float, str]:
        data = head.data
        whole = len(data) // RECORD
        if whole == 0:
            return 0.0, ""
        records = [data[i * RECORD:(i + 1) * RECORD] for i in range(whole)]
        if not all(plausible(r) for r in records) or all(r == bytes(RECORD) for r in records):
            return 0.0, ""
        tail = len(data) % RECORD if len(data) < HEAD_BYTES else 0
        what = f"the first {whole} 384-byte records are utmp records (known ut_type, time after 1980)"
        if tail:
            return 0.7, f"{what}, and {tail} bytes of a partial record follow"
        return 0.95, what

    def parse(self, source: Source) -> Iterator[Event]:
        failed_logins = _is_btmp(source)
        pos = source.start_offset
        gap = -pos % RECORD
        if gap:  # the rest of a record whose first bytes were stored as a partial record
            data = _read(source, gap)
            if data and (len(data) == gap or not source.complete_lines_only):
                yield _fragment(data, pos, f"{NAME}: the last {len(data)} bytes of the record at byte "
                                           f"{pos - RECORD + gap:,}, whose first {RECORD - gap} bytes were "
                                           "stored before as a partial record")
                pos += len(data)
                source.consumed = pos
            if len(data) < gap:
                return
        while True:
            if source.end_offset is not None and pos >= source.end_offset:
                return
            data = _read(source, RECORD)
            if len(data) < RECORD:
                if data and not source.complete_lines_only:  # a live writer may still finish it
                    yield _fragment(data, pos, f"{NAME}: a partial record: {len(data)} of {RECORD} bytes "
                                               "at the end of the file")
                    source.consumed = pos + len(data)
                return
            yield record_event(data, pos, failed_logins)
            pos += RECORD
            source.consumed = pos


class SessionTableParser(UtmpParser):
    """`utmp` itself (/run/utmp, /var/run/utmp) holds the current sessions, and its records are
    rewritten in place as sessions end: ingesting it again would store its open sessions again,
    and a rewritten record proves nothing about the past. It is recognized and skipped; the
    logins and logouts are in wtmp. `--parser utmp` still reads it on purpose."""

    name = "utmp_sessions"
    description = "utmp (current sessions): recognized and skipped (rewritten in place; the history is in wtmp)"
    not_a_log = "the table of current sessions, rewritten in place as sessions end; logins and logouts are in wtmp"

    def score(self, head: Head) -> tuple[float, str]:
        if head.name not in ("utmp", "utmpx"):
            return 0.0, ""
        score, why = super().score(head)
        return (0.97, f"named {head.name}, and {why}") if score else (0.0, "")

    def parse(self, source: Source) -> Iterator[Event]:
        return iter(())


def _is_btmp(source: Source) -> bool:
    if "btmp" in source.options:
        return bool(source.options["btmp"])
    name = source.path.name if source.path is not None else source.label.rsplit("/", 1)[-1]
    return bool(_BTMP_NAME.fullmatch(name))


def _read(source: Source, size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end of the stream)."""
    parts: list[bytes] = []
    want = size
    try:
        while want:
            chunk = source.stream.read(want)
            if not chunk:
                break
            parts.append(chunk)
            want -= len(chunk)
    except _DECOMPRESS_ERRORS as exc:
        raise SourceError(f"{source.label}: {exc or type(exc).__name__}") from exc
    return b"".join(parts)


def _origin(pos: int) -> str:
    return f"record {pos // RECORD + 1} at byte {pos}"


def _fragment(data: bytes, pos: int, reason: str) -> Event:
    ev = unparsed_event(f"{NAME}: {len(data)} bytes: {data.hex()}", reason, origin=f"byte {pos}")
    ev.raw_bytes = data
    return ev


def record_event(data: bytes, pos: int, failed_logins: bool) -> Event:
    """The event of one 384-byte record at byte `pos`."""
    rec = Record(data)
    raw = rec.render()
    if not 0 <= rec.type < len(TYPES):
        ev = unparsed_event(raw, f"{NAME}: unknown ut_type {rec.type}", origin=_origin(pos), ts=rec.ts)
        ev.raw_bytes = data
        return ev
    attrs: dict[str, Any] = {"ut_type": TYPES[rec.type]}
    for key, value in (("tty", rec.line), ("id", rec.id), ("host", rec.host)):
        if value:
            attrs[key] = value
    if rec.exit != (0, 0):
        attrs["exit"] = list(rec.exit)
    category, action, outcome, message = _meaning(rec, failed_logins, attrs)
    src_ip = _address(rec.addr)
    remote = category == "authentication" or rec.type == LOGIN_PROCESS  # else ut_host is no remote host
    if remote and rec.host and is_ip(rec.host):
        src_ip = src_ip or rec.host
    elif remote and rec.host:
        attrs["from"] = rec.host
    return Event(
        ts=rec.ts, category=category, action=action, outcome=outcome, pid=rec.pid or None,
        actor=(rec.user or None) if category == "authentication" else None, src_ip=src_ip,
        session=str(rec.session) if rec.session else None, message=message,
        original_action=TYPES[rec.type], raw=raw, attrs=attrs, origin=_origin(pos), raw_bytes=data)


def _meaning(rec: Record, failed_logins: bool, attrs: dict[str, Any]) -> tuple[str, str, str, str]:
    """(category, action, outcome, message) of a record with a known ut_type."""
    on = f" on {rec.line}" if rec.line else ""
    by = f" from {rec.host}" if rec.host else ""
    if failed_logins and rec.user and rec.type in (LOGIN_PROCESS, USER_PROCESS):
        return "authentication", "login", "failure", f"failed login of {rec.user}{on}{by} (btmp)"
    if rec.type == USER_PROCESS:
        return "authentication", "login", "success", f"login of {rec.user}{on}{by}"
    if rec.type == DEAD_PROCESS:
        who = f" of {rec.user}" if rec.user else ""
        return "authentication", "logout", "success", f"logout{who}{on} (process {rec.pid})"
    if rec.type == BOOT_TIME or rec.user == "reboot":
        kernel = f" (kernel {rec.host})" if rec.host else ""
        return "system", "service_start", "success", f"system boot{kernel}"
    if rec.user == "shutdown":
        return "system", "service_stop", "success", "system shutdown"
    if rec.type == RUN_LVL:
        level, previous = chr(rec.pid & 0xFF), chr((rec.pid >> 8) & 0xFF)
        if level.isprintable() and level.strip():
            attrs["runlevel"] = level
        if previous.isprintable() and previous.strip():
            attrs["previous_runlevel"] = previous
        return "system", "log", "success", f"runlevel {level!r} (was {previous!r})"
    if rec.type in (NEW_TIME, OLD_TIME):
        when = "after" if rec.type == NEW_TIME else "before"
        return "system", "log", "success", f"the clock was set: the time {when} the change"
    if rec.type == INIT_PROCESS:
        return "system", "process_start", "success", f"init started process {rec.pid}{on}"
    if rec.type == LOGIN_PROCESS:
        return "system", "log", "unknown", f"waiting for a login{on} (process {rec.pid})"
    return "system", "log", "unknown", f"{TYPES[rec.type]} record"


LASTLOG_ENTRY = 292  # ll_time i32, ll_line 32s, ll_host 256s
FAILLOG_ENTRY = 32  # fail_cnt i16, fail_max i16, fail_line 12s, fail_time i64, fail_locktime i64


class PerUidTable(Parser):
    """A file of fixed-size entries indexed by uid (lastlog, faillog): recognized by its name and
    its entries so that ingest can skip it and say why. Such a table is overwritten in place, so
    it holds no history to store; what it summarizes is in wtmp/btmp and the auth log."""

    entry_size = 0
    file_name: re.Pattern[str]

    def entry_ok(self, entry: bytes) -> bool:
        raise NotImplementedError

    def score(self, head: Head) -> tuple[float, str]:
        if not self.file_name.fullmatch(head.name):
            return 0.0, ""
        data, size = head.data, self.entry_size
        if len(data) < HEAD_BYTES and len(data) % size:
            return 0.0, ""
        entries = [data[i:i + size] for i in range(0, len(data) - size + 1, size)]
        if not entries or not all(self.entry_ok(e) for e in entries):
            return 0.0, ""
        return 0.9, f"named {self.name}, and its first {len(entries)} {size}-byte entries are empty or valid"

    def parse(self, source: Source) -> Iterator[Event]:
        return iter(())


class LastlogParser(PerUidTable):
    name = "lastlog"
    description = "lastlog: the per-uid table of last logins; recognized and skipped (not a log)"
    not_a_log = "a per-uid table of last logins, overwritten at each login; the logins are in wtmp"
    entry_size = LASTLOG_ENTRY
    file_name = re.compile(r"lastlog(?:[.\-_]\d+)?(?:\.gz)?")

    def entry_ok(self, entry: bytes) -> bool:
        when = struct.unpack_from("<I", entry)[0]
        if when == 0:
            return entry == bytes(LASTLOG_ENTRY)
        return when >= EARLIEST and not _CONTROL.search(entry[4:36].split(b"\0", 1)[0])


class FaillogParser(PerUidTable):
    name = "faillog"
    description = "faillog: the per-uid table of login failure counters; recognized and skipped (not a log)"
    not_a_log = ("a per-uid table of failure counters, overwritten at each failure; "
                 "the failed logins are in btmp and the auth log")
    entry_size = FAILLOG_ENTRY
    file_name = re.compile(r"faillog(?:[.\-_]\d+)?(?:\.gz)?")

    def entry_ok(self, entry: bytes) -> bool:
        count, _limit = struct.unpack_from("<hh", entry)
        when = struct.unpack_from("<q", entry, 16)[0]
        if when == 0:
            return count >= 0
        return count >= 0 and when >= EARLIEST and not _CONTROL.search(entry[4:16].split(b"\0", 1)[0])


parsers = [UtmpParser(), SessionTableParser(), LastlogParser(), FaillogParser()]
