"""syslog: RFC 3164, RFC 5424 and ISO-8601-stamped lines, with auth sub-parsers.

Headers give time, host, program and PID (older `sshd(pam_unix)[pid]:` tags give the program
and the PAM module; launchd's `com.apple.xpc.launchd[1] (job[pid]):` the program and the job).
Messages of sshd, sudo, su, runuser, PAM modules, the shadow-utils tools (useradd, userdel,
usermod, groupadd, groupdel, groupmod, gpasswd, passwd, chpasswd, chage, chfn, chsh, newusers,
vipw/vigr, pwck/grpck, newgrp), login, ftpd and systemd-logind are mapped to the schema's categories
and actions by `auditctl.ingest.authlog` (shared with journald); other programs' lines are kept as `system`/`log` events with host, app and message.
sysklogd's `syslogd 1.4.1: restart.` gives app `syslogd` and attrs.version; util-linux login's
retitled ident ` -- USER[pid]:` gives app `login` and attrs.ident.
Authentication lines follow issue 16's contract: `login` is an attempt, `authenticate` a
duplicate report or credential check, and summaries ("PAM 2 more authentication failures",
rsyslog's "message repeated N times: [...]") are `authenticate` with attrs.summary/repeats.
One line is one event. Continuation lines (macOS multi-line messages, which start with white
space) are joined to the message they continue.

The spool of `watch --listen` is read here too: each of its lines is a JSON record holding one
received message's exact bytes and how it arrived (`auditctl.ingest.received`). The message is
parsed as any syslog line, with `raw` its exact bytes (newlines included), and the record's
facts go to the `received` column: receive time, listener, peer address, and under mutual TLS
the client certificate (CN, SANs, SHA-256 fingerprint). When the record names the host names
the certificate may use, `received.host_check` says whether the header's host is one of them
(`match`, `mismatch`, `absent`); a mismatch is stored, flagged, never trusted silently."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from auditctl.ingest.authlog import interpret
from auditctl.ingest.received import host_check, is_record, read_record
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import YearlessStamp, parse_iso

# re.S: a received message (watch --listen) may hold line ends; a line of a file never does
_BSD = re.compile(
    r"(?:<(\d{1,3})>)?([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) (?:(\d{4}) )?(.*)", re.S)
_ISO = re.compile(
    r"(?:<(\d{1,3})>)?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) (.*)", re.S)
_RFC5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (.*)", re.S)
_TAG = re.compile(r"([^\s\[\]:]+)(?:\[([^\]]*)\])?: ?(.*)", re.S)
# macOS program names may contain spaces ("Google Chrome[85294]:") or a launchd suffix
# ("com.apple.xpc.launchd[1] (com.apple.quicklook[21498]):"): then the whole tag is the app.
_TAG_SPACED = re.compile(r"([^\[\]:]{1,64}?)\[(\d+)\]: (.*)", re.S)
_TAG_LAUNCHD = re.compile(r"(\S+)\[(\d+)\] \(([^)\[]*)(?:\[(\d+)\])?\): (.*)", re.S)
# sysklogd marks its own (re)start with its version in the tag: `syslogd 1.4.1: restart.`
# (Debian: `syslogd 1.5.0#6: restart.`).
_TAG_VERSION = re.compile(r"([^\s\[\]:]+) (\d+(?:\.\d+)+[\w#+~.-]*): ?(.*)", re.S)
# util-linux login started as /bin/login retitles itself `login -- USER` (setproctitle); the
# syslog ident, the program name's tail, then reads ` -- USER`: `host  -- root[2421]: ...`.
_LOGIN_RETITLED = re.compile(r"\s*-- \S+")
# Older Red Hat tags name the PAM module the program used: `sshd(pam_unix)[19939]:`.
_APP_MODULE = re.compile(r"([^()\s]+)\(([\w.-]+)\)")
# The common auth.log shape in one match; anything else takes the general path, which gives
# the same result for these lines (the goldens and corpus tests hold both to it).
_FAST_BSD = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ([^\s\[:]+) ([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)", re.S)
_LAST_REPEATED = re.compile(r"last message repeated (\d+) times?$")
# macOS syslogd writes the count on a line of its own, with no host or tag:
# `Apr 4 03:39:57 --- last message repeated 1 time ---`
_BARE_REPEATED = re.compile(r"--- (last message repeated \d+ times?) ---$")


# -- the parser ----------------------------------------------------------------------------

# Detection checks the structure after the stamp, not just the stamp: a syslog line has a tag
# ending in a colon (`host prog[pid]: `, or `prog: ` without a host) within its first words.
# dpkg.log (`2024-01-15 10:23:45 status installed libc6:amd64 2.36-9`) has an ISO stamp but no
# tag colon, and its verbs must not become host names.
_TAG_AFTER = r"(?: \d{4})? (?:\S+ )?(?:[^\s:\[\]]+(?:\[[^\]]*\])?|[^\[\]:]{1,64}?\[\d+\](?: \([^)]*\))?):(?: |$)"
_HEAD_BSD = re.compile(r"^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,6})?" + _TAG_AFTER)
_HEAD_ISO = re.compile(
    r"^(?:<\d{1,3}>)?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?" + _TAG_AFTER)
_HEAD_5424 = re.compile(r"^<\d{1,3}>1 \d{4}-\d\d-\d\dT")


class SyslogParser(Parser):
    name = "syslog"
    description = "syslog (RFC 3164/5424, ISO-stamped) incl. auth.log/secure: sshd, sudo, su, PAM, user/group tools"
    splittable = True
    yearless = True

    def detect(self, head: Head) -> float:
        lines = head.lines[:20]
        if not lines:
            return 0.0
        if all(is_record(ln) for ln in lines):
            return 0.99  # the receiver's spool: a JSON format no other parser reads as syslog
        hits = sum(1 for ln in lines if _HEAD_BSD.match(ln) or _HEAD_5424.match(ln) or _HEAD_ISO.match(ln))
        cont = sum(1 for ln in lines if ln[:1] in (" ", "\t"))
        ratio = hits / max(1, len(lines) - cont)
        return 0.95 * ratio if ratio >= 0.5 else 0.0

    def explain(self, head: Head) -> str:
        lines = head.lines[:20]
        if lines and all(is_record(ln) for ln in lines):
            return f"{len(lines)} lines are records of auditctl's syslog receiver (watch --listen)"
        kinds = {"RFC 3164": sum(1 for ln in lines if _HEAD_BSD.match(ln)),
                 "RFC 5424": sum(1 for ln in lines if _HEAD_5424.match(ln)),
                 "ISO-8601": sum(1 for ln in lines if _HEAD_ISO.match(ln) and not _HEAD_5424.match(ln))}
        best = max(kinds, key=lambda k: kinds[k])
        return f"{kinds[best]} of the first {len(lines)} lines have a {best} syslog header"

    def parse(self, source: Source) -> Iterator[Event]:
        stamp = YearlessStamp(source.reference_time, source.tz)
        stamps: dict[str, YearlessStamp] = {}  # received messages: dated against their day of arrival
        pending: list[Event] = []
        for number, text in source.lines():
            if text[:1] in (" ", "\t") and pending and text.strip():
                _continue(pending, text)
                continue
            yield from pending
            if not text.strip():
                pending = []
                continue
            if is_record(text):
                pending = []
                yield from self._received(text, number, stamps, source)
                continue
            try:
                pending = self._parse_line(text, number, stamp, source)
            except ValueError as exc:
                pending = [unparsed_event(text, f"syslog: {exc}", line=number)]
        yield from pending

    def _received(self, text: str, number: int, stamps: dict[str, YearlessStamp], source: Source) -> list[Event]:
        """The events of one spool record: its message parsed, with how it arrived in attrs.
        A year-less stamp gets its year from the day the message arrived."""
        try:
            rec = read_record(text)
            arrived = datetime.fromisoformat(rec.at)
            if arrived.tzinfo is None:
                arrived = arrived.replace(tzinfo=UTC)
        except ValueError as exc:
            return [unparsed_event(text, f"syslog: {exc}", line=number)]
        day = rec.at[:10]
        stamp = stamps.get(day)
        if stamp is None:
            if len(stamps) > 64:
                stamps.clear()
            stamp = stamps[day] = YearlessStamp(arrived.replace(hour=23, minute=59, second=59), source.tz)
        try:
            events = self._parse_line(rec.message, number, stamp, source) if rec.message.strip() else []
        except ValueError as exc:
            events = [unparsed_event(rec.message, f"syslog: {exc}", line=number)]
        if not events:
            events = [unparsed_event(rec.message, "empty message", line=number)]
        for ev in events:
            ev.raw = rec.message  # the exact bytes received
            if ev.ts is None:
                ev.ts = arrived  # no stamp of its own: the time it arrived
            ev.received = received = rec.fields()
            if rec.names is not None:
                received["host_check"] = host_check(ev.host, rec.names)
                if received["host_check"] == "mismatch":
                    received["allowed"] = rec.names
            # the message is read here or kept unparsed with its sender: never offered to other
            # parsers, whose events would not carry how it arrived
            ev.parser = self.name
        return events

    def _parse_line(self, text: str, number: int, stamp: YearlessStamp, source: Source) -> list[Event]:
        fast = _FAST_BSD.match(text)
        if fast is not None and "(" not in fast[3]:
            raw_ts, host, app, pid, msg = fast.groups()
            return [self._event(text, number, stamp(raw_ts), host, app, int(pid) if pid else None,
                                msg.strip(), {})]
        pri, ts, _year, host, rest, extra = self._header(text, stamp, source)
        if ts is None:
            return [unparsed_event(text, "no syslog header", line=number)]
        if host == "---" and (bare := _BARE_REPEATED.match("--- " + rest)) is not None:
            return [self._event(text, number, ts, None, None, None, bare[1], {})]
        app = pid = None
        msg = rest
        attrs: dict = {}
        m = _TAG.match(rest) or _TAG_SPACED.match(rest)
        if m:
            app, pid, msg = m.groups()
            msg = msg.strip()
            if app and app.endswith(")") and (mod := _APP_MODULE.fullmatch(app)) is not None:
                app, attrs["module"] = mod[1], mod[2]
            elif app and _LOGIN_RETITLED.fullmatch(app):
                app, attrs["ident"] = "login", app.strip()
        elif (m := _TAG_LAUNCHD.match(rest)) is not None:
            # launchd speaking for a job: `com.apple.xpc.launchd[1] (com.apple.quicklook[21498]):`
            app, pid, service, service_pid, msg = m.groups()
            attrs["service"] = service
            if service_pid:
                attrs["service_pid"] = int(service_pid)
        elif (m := _TAG_VERSION.match(rest)) is not None:
            app, attrs["version"], msg = m.groups()
            msg = msg.strip()
        number_pid = int(pid) if pid and pid.isdigit() else None
        if pid and number_pid is None:
            attrs["pid"] = pid  # not a number ("app[main]:"): kept as written
        if pri is not None:
            attrs["facility"], attrs["severity"] = divmod(int(pri), 8)
        if extra:
            attrs.update(extra)
        return [self._event(text, number, ts, host, app, number_pid, msg, attrs)]

    def _header(self, text: str, stamp: YearlessStamp, source: Source):
        first = text[:1]
        if first == "<" and ">1 " in text[:7]:
            m5 = _RFC5424.match(text)
            if m5:
                return _rfc5424(m5, source)
        if first.isdigit() or (first == "<" and "-" in text[:16]):
            m = _ISO.match(text)
            if m:
                ts = parse_iso(m[2].replace(",", "."), source.tz)
                host, _, rest = m[3].partition(" ")
                return m[1], ts, None, _host(host), rest, None
        m = _BSD.match(text)
        if m:
            pri, raw_ts, year, rest = m.groups()
            ts = (_with_year(raw_ts, year, source) if year else stamp(raw_ts))
            host, rest = _split_host(rest)
            return pri, ts, year, host, rest, None
        return None, None, None, None, text, None

    def _event(self, text: str, number: int, ts: datetime, host: str | None, app: str | None,
               pid: int | None, msg: str, attrs: dict) -> Event:
        module = attrs.pop("module", None)
        ev = interpret(app, msg, module)
        if module:
            attrs["pam_module" if module.startswith("pam_") else "module"] = module
        if ev is None and (last := _LAST_REPEATED.match(msg)) is not None:
            # BSD syslogd's `last message repeated N times`: what repeated is on another line,
            # maybe in another chunk of a parallel parse, so only the count is kept
            attrs["repeats"] = int(last[1])
        if ev is None:
            return Event(ts=ts, category="system", action="log", host=host, app=app, pid=pid,
                         message=msg, raw=text, attrs=attrs or None, line=number)
        ev.ts, ev.host, ev.app, ev.pid, ev.message, ev.raw, ev.line = ts, host, app, pid, msg, text, number
        if ev.attrs:
            attrs = {**attrs, **ev.attrs}
        ev.attrs = attrs or None
        return ev



def _continue(pending: list[Event], text: str) -> None:
    for ev in pending:
        ev.raw += "\n" + text
        ev.message = (ev.message or "") + "\n" + text


def _host(host: str) -> str | None:
    return None if host in ("-", "") else host


def _split_host(rest: str) -> tuple[str | None, str]:
    """`host tag: msg` or, when the host is missing, `tag: msg`."""
    token, sep, tail = rest.partition(" ")
    if not sep or token.endswith(":") or "[" in token:
        return None, rest
    return token, tail


def _with_year(raw_ts: str, year: str, source: Source) -> datetime:
    return parse_iso(datetime.strptime(f"{year} {raw_ts}", "%Y %b %d %H:%M:%S").isoformat(), source.tz)


def _rfc5424(m: re.Match[str], source: Source):
    pri, ts, host, app, procid, msgid, rest = m.groups()
    sd, msg = _split_structured_data(rest)
    extra: dict = {}
    if msgid != "-":
        extra["msgid"] = msgid
    if sd:
        extra["structured_data"] = sd
    tag = (app if app != "-" else "") + (f"[{procid}]" if procid != "-" else "")
    rest_with_tag = f"{tag}: {msg}" if tag else msg
    return pri, parse_iso(ts, source.tz), None, _host(host), rest_with_tag, extra


def _split_structured_data(rest: str) -> tuple[str | None, str]:
    if rest.startswith("-"):
        return None, rest[2:].lstrip("\ufeff")
    if not rest.startswith("["):
        return None, rest.lstrip("\ufeff")
    depth_end = 0
    i = 0
    escaped = False
    in_element = False
    while i < len(rest):
        c = rest[i]
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == "[" and not in_element:
            in_element = True
        elif c == "]" and in_element:
            in_element = False
            depth_end = i + 1
            if i + 1 >= len(rest) or rest[i + 1] != "[":
                break
        elif c == '"' and in_element:
            j = i + 1
            while j < len(rest) and not (rest[j] == '"' and rest[j - 1] != "\\"):
                j += 1
            i = j
        i += 1
    return rest[:depth_end], rest[depth_end + 1:].lstrip("\ufeff")


parser = SyslogParser()
