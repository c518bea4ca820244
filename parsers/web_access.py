"""web_access: nginx and Apache access logs (combined, common, vhost and SSL-request variants).

Shapes read, one request a line:

    combined   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "referer" "agent"
    common     the same without the quoted referrer and user agent
    vhost      www.example.com:443 127.0.0.1 - frank [...] "GET / HTTP/1.1" 200 ...   (Apache vhost_combined;
               also without the port, and nginx `$host $remote_addr`: the first word is the server)
    proxied    10.0.0.2, 10.0.0.1, 85.181.35.98 - - [...] ...   (nginx with real_ip / X-Forwarded-For lists)
    ssl        [10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 "GET / HTTP/1.1" 1375
               (Apache ssl_request_log; it has no status code)

Fields after the user agent (nginx `"$http_x_forwarded_for"` and the like) are kept in
attrs.extra. A line in none of these shapes is kept as an unparsed event.

Mapping (every request is one event; original_action = the HTTP method):
  status 401, 407       -> authentication/authenticate, failure (credentials missing or refused)
  status 403            -> data_access/access, failure (authenticated or not, access refused)
  other 4xx, 5xx        -> data_access/access, failure
  1xx, 2xx, 3xx         -> data_access/access, success
  no status ("-", ssl)  -> data_access/access, unknown
Fields: actor = the authenticated user (%u; "-" is None), src_ip = the client address — for a
list of addresses the first public one, else the first (as Filebeat does), a host name such as
`localhost` is not an IP and is kept in attrs.client instead; resource = the request target
(path and query, as sent), user_agent; attrs: method, status, bytes, protocol, referrer, ident,
vhost, request (when it is not `METHOD target PROTOCOL`), remote_ip_list. host stays None: the
log does not name the server (attrs.vhost has the virtual host when logged).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source

_Q = r'"((?:[^"\\]|\\.)*)"'
_LINE = re.compile(
    r"(.+?) (\S+) (\S+) \[([^\]]+)\] " + _Q + r" (\d{3}|-) (\d+|-)"
    r"(?: " + _Q + r" " + _Q + r")?(.*)$")
_SSL = re.compile(r"\[([^\]]+)\] (\S+) (\S+) (\S+) " + _Q + r" (\d+|-)\s*$")
_REQUEST = re.compile(r"(\S+) (\S+)(?: (\S+))?$")
_VHOST = re.compile(r"([^\s:,\"]+):(\d{1,5}) (\S+)$")
_TIME = re.compile(r"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: ([+-])(\d\d):?(\d\d))?$")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
_SPLIT = re.compile(r"[\s,\"]+")
_AUTH_STATUS = frozenset({401, 407})
_NONE = frozenset({"-", ""})


@lru_cache(maxsize=8192)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _client(text: str) -> tuple[str | None, list[str] | None]:
    """(source IP, the address list when there is more than one) from the client field."""
    if " " not in text and "," not in text and '"' not in text:
        return (text if _ip(text) is not None else None), None
    tokens = [t for t in _SPLIT.split(text) if t]
    addresses = [t for t in tokens if _ip(t) is not None]
    for token in addresses:
        ip = _ip(token)
        if ip is not None and not (ip.is_private or ip.is_loopback):
            return token, tokens
    return (addresses[0] if addresses else None), tokens


def _parse_time(text: str, tz: tzinfo, cache: dict[str, datetime]) -> datetime:
    hit = cache.get(text)
    if hit is not None:
        return hit
    m = _TIME.match(text)
    if not m or m[2] not in _MONTHS:
        raise ValueError(f"bad time {text!r}")
    day, mon, year, hh, mm, ss, frac, sign, oh, om = m.groups()
    zone = tz
    if sign:
        offset = timedelta(hours=int(oh), minutes=int(om))
        zone = timezone(-offset if sign == "-" else offset)
    value = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss),
                     int((frac or "0").ljust(6, "0")), tzinfo=zone).astimezone(UTC)
    if len(cache) > 50_000:
        cache.clear()
    cache[text] = value
    return value


def _classify(status: int | None) -> tuple[str, str, str]:
    if status is None:
        return "data_access", "access", "unknown"
    if status in _AUTH_STATUS:
        return "authentication", "authenticate", "failure"
    if status >= 400:
        return "data_access", "access", "failure"
    return "data_access", "access", "success"


class WebAccessParser(Parser):
    name = "web_access"
    description = "nginx/Apache access logs: combined, common, vhost_combined, proxied client lists, ssl_request_log"
    splittable = True

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:30]
        if not lines:
            return 0.0, "empty"
        hits = sum(1 for ln in lines if _LINE.match(ln) or _SSL.match(ln))
        ratio = hits / len(lines)
        if ratio >= 0.6:
            return 0.92, f"{hits} of the first {len(lines)} lines are web server access-log lines"
        return 0.0, f"only {hits} of the first {len(lines)} lines look like access-log lines"

    def parse(self, source: Source) -> Iterator[Event]:
        cache: dict[str, datetime] = {}
        tz = source.tz
        for number, text in source.lines():
            if not text.strip():
                continue
            try:
                ev = self._line(text, tz, cache)
            except ValueError as exc:
                yield unparsed_event(text, f"web_access: {exc}", line=number)
                continue
            if ev is None:
                yield unparsed_event(text, "web_access: not an access-log line", line=number)
                continue
            ev.line = number
            yield ev

    @staticmethod
    def _line(text: str, tz: tzinfo, cache: dict[str, datetime]) -> Event | None:
        m = _LINE.match(text)
        attrs: dict = {}
        if m:
            client, ident, user, stamp, request, status_s, size, referrer, agent, rest = m.groups()
            v = _VHOST.match(client)
            if v:
                attrs["vhost"] = f"{v[1]}:{v[2]}"
                client = v[3]
            elif " " in client:
                # `$host $remote_addr` (nginx), `%v %h` (Apache): a first word that a space, not a
                # comma, follows is the server; an address list is `a, b` or a quoted `"a, b" c`
                head, _, tail = client.partition(" ")
                if not head.endswith(",") and not head.startswith('"'):
                    attrs["vhost"] = head
                    client = tail.lstrip()
            if ident not in _NONE:
                attrs["ident"] = ident
        else:
            s = _SSL.match(text)
            if not s:
                return None
            stamp, client, tls_protocol, cipher, request, size = s.groups()
            user = ident = "-"
            status_s, referrer, agent, rest = "-", None, None, ""
            attrs["tls_protocol"], attrs["tls_cipher"] = tls_protocol, cipher
        ts = _parse_time(stamp, tz, cache)
        src_ip, addresses = _client(client)
        if addresses is not None:
            attrs["remote_ip_list"] = addresses
        if src_ip is None and client not in _NONE:
            attrs["client"] = client
        method = target = None
        r = _REQUEST.match(request)
        if r:
            method, target, protocol = r.groups()
            attrs["method"] = method
            if protocol:
                attrs["protocol"] = protocol
        elif request not in _NONE:
            attrs["request"] = request
        status = int(status_s) if status_s != "-" else None
        if status is not None:
            attrs["status"] = status
        if size != "-":
            attrs["bytes"] = int(size)
        if referrer not in _NONE and referrer is not None:
            attrs["referrer"] = referrer
        rest = rest.strip()
        if rest and rest != '"-"':
            attrs["extra"] = rest[:256]
        category, action, outcome = _classify(status)
        summary = f"{method} {target}" if r else (request or "(empty request)")
        return Event(
            ts=ts, category=category, action=action, outcome=outcome,
            actor=None if user in _NONE else user, src_ip=src_ip,
            user_agent=None if agent in _NONE else agent, resource=target,
            original_action=method,
            message=f"{summary} -> {status_s}" if status is not None else summary,
            raw=text, attrs=attrs or None)


parser = WebAccessParser()
