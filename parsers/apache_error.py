"""apache_error: Apache httpd error logs (`error_log`, `error.log`), 2.0 to 2.4.

Shapes read, one message a line (the default ErrorLogFormat of each release):

    2.0/2.2  [Sun Dec 04 04:47:44 2005] [error] [client 10.0.0.5] File does not exist: /var/www/x
    2.4      [Thu Mar 14 09:24:13.123456 2024] [authz_core:error] [pid 1204:tid 14023] [client 10.0.0.5:51234]
             AH01630: client denied by server configuration: /srv/private

The stamp has no zone: it is local time, read in the source's time zone (config `timezone` /
`--tz`). A line in neither shape is kept as an unparsed event.

Mapping (app `httpd`; original_action = the AH code when there is one, else the level):
  client denied by server configuration: P, Directory index forbidden by rule: P,
  Cannot serve directory P: ..., access to P denied ...           -> data_access/access, failure
  user U: authentication failure for "P" ..., user U not found   -> authentication/authenticate, failure
  anything else                                                   -> system/log, unknown
Fields: src_ip = the client (`[client A]`, `[client A:port]`, 2.4's `[remote A:port]`),
pid = `[pid N]`, resource = the path an access or authentication line names, actor = the
user named by mod_auth_basic/mod_auth_digest; attrs: level, module (2.4), code (AHnnnnn),
port, tid, referer (2.4's trailing `, referer: R`). host stays None: the log does not name
the server.
"""

from __future__ import annotations

import re
from datetime import datetime

from auditctl.ingest.addresses import is_ip
from auditctl.plugins import LineParser
from auditctl.schema import Event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

_STAMP = r"\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d)(\.\d{1,6})? (\d{4})\]"
_LINE = re.compile(_STAMP + r" \[(?:([\w.-]+):)?(\w+)\] ?(.*)", re.S)
_PID = re.compile(r"\[pid (\d+)(?::tid (\d+))?\] ?")
_CLIENT = re.compile(r"\[(client|remote) ([0-9A-Fa-f.:]+?)(?::(\d+))?\] ?")
_CODE = re.compile(r"(AH\d{5}): ")
_REFERER = re.compile(r"(.*), referer: (\S*)$", re.S)
_DENIED = re.compile(r"(?:client denied by server configuration: |Directory index forbidden by rule: |"
                     r"Cannot serve directory |access to )(\S+?):?(?: denied.*)?(?:$|: | )")
_AUTH_FAILED = re.compile(r'user (.+?): authentication failure for "([^"]*)"')
_USER_UNKNOWN = re.compile(r"user (.+?) not found: (\S+)")


class ApacheErrorParser(LineParser):
    name = "apache_error"
    description = "Apache httpd error_log (2.0-2.4): client, access denials, basic/digest auth failures"

    def score(self, head: Head) -> tuple[float, str]:
        lines = [ln for ln in head.lines[:30] if ln.strip()]
        if not lines:
            return 0.0, ""
        hits = sum(1 for ln in lines if _LINE.match(ln))
        if hits >= 0.8 * len(lines):
            return 0.9, f"{hits} of the first {len(lines)} lines are Apache error-log lines ([date] [level])"
        return 0.0, ""

    def parse_line(self, text: str, source: Source) -> Event | None:
        m = _LINE.match(text)
        if m is None:
            return None
        stamp, fraction, year, module, level, rest = m.groups()
        when = datetime.strptime(f"{year} {stamp.replace('  ', ' ')}", "%Y %b %d %H:%M:%S")
        ts = parse_iso(when.isoformat() + (fraction or ""), source.tz)
        attrs: dict = {"level": level, **({"module": module} if module else {})}
        pid = None
        if (p := _PID.match(rest)) is not None:
            pid = int(p[1])
            if p[2]:
                attrs["tid"] = int(p[2])
            rest = rest[p.end():]
        src_ip = None
        if (c := _CLIENT.match(rest)) is not None:
            address = c[2]
            if c[3] and not is_ip(address) and is_ip(f"{address}:{c[3]}"):
                address = f"{address}:{c[3]}"  # an IPv6 address: its last group is not a port
            elif c[3]:
                attrs["port"] = int(c[3])
            src_ip = address if is_ip(address) else None
            if src_ip is None:
                attrs["client"] = address
            rest = rest[c.end():]
        message = rest.rstrip()
        if (r := _REFERER.match(message)) is not None:
            message, attrs["referer"] = r[1], r[2]
        body = message
        if (code := _CODE.match(message)) is not None:
            attrs["code"] = code[1]
            body = message[code.end():]
        ev = Event(ts=ts, category="system", action="log", outcome="unknown", app="httpd", pid=pid,
                   src_ip=src_ip, original_action=attrs.get("code") or level, message=message, attrs=attrs)
        if (d := _DENIED.match(body)) is not None:
            ev.category, ev.action, ev.outcome, ev.resource = "data_access", "access", "failure", d[1] or None
        elif (a := _AUTH_FAILED.match(body) or _USER_UNKNOWN.match(body)) is not None:
            ev.category, ev.action, ev.outcome = "authentication", "authenticate", "failure"
            ev.actor, ev.resource = a[1], a[2]
        return ev


parser = ApacheErrorParser()
