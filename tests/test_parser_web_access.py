"""The web_access parser: detection, status mapping, log shapes, and Filebeat's nginx/apache goldens."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from support import CORPUS, SAMPLES, parser_and_reader

NAME = "web_access"
NGINX = SAMPLES / NAME / "nginx-access.log"
APACHE = SAMPLES / NAME / "apache-vhosts.log"
BEATS = CORPUS / "elastic-beats-2019" / "filebeat" / "module"
COMBINED = (b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
            b'"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"\n')


parser, events = parser_and_reader(NAME)


def one(tmp_path, line: bytes):
    path = tmp_path / "access.log"
    path.write_bytes(line)
    evs = events(path)
    assert len(evs) == 1
    return evs[0]


def at(path, line):
    return next(e for e in events(path) if e.line == line)


# --- detection -------------------------------------------------------------------------------

# --- mapping ---------------------------------------------------------------------------------

def test_combined_line_maps_every_field(tmp_path):
    ev = one(tmp_path, COMBINED)
    assert (ev.category, ev.action, ev.outcome) == ("data_access", "access", "success")
    assert ev.ts == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert (ev.actor, ev.src_ip, ev.resource, ev.original_action) == ("frank", "10.1.2.3", "/apache_pb.gif", "GET")
    assert ev.user_agent == "Mozilla/4.08 [en] (Win98; I ;Nav)"
    assert ev.attrs == {"method": "GET", "protocol": "HTTP/1.0", "status": 200, "bytes": 2326,
                        "referrer": "http://www.example.com/start.html"}
    assert ev.host is None and ev.raw == COMBINED.decode().rstrip("\n")


@pytest.mark.parametrize(("status", "expected"), [
    (200, ("data_access", "access", "success")),
    (304, ("data_access", "access", "success")),
    (401, ("authentication", "authenticate", "failure")),
    (407, ("authentication", "authenticate", "failure")),
    (403, ("data_access", "access", "failure")),
    (404, ("data_access", "access", "failure")),
    (502, ("data_access", "access", "failure")),
])
def test_status_decides_category_and_outcome(tmp_path, status, expected):
    ev = one(tmp_path, COMBINED.replace(b" 200 ", f" {status} ".encode()))
    assert (ev.category, ev.action, ev.outcome) == expected


def test_basic_auth_brute_force_in_the_sample():
    failures = [e for e in events(NGINX) if e.action == "authenticate"]
    assert [e.actor for e in failures] == [None, "admin", "root", "administrator"]
    assert {e.src_ip for e in failures} == {"203.0.113.50"} and {e.outcome for e in failures} == {"failure"}
    ok = at(NGINX, 8)
    assert (ok.actor, ok.outcome, ok.resource) == ("ops", "success", "/admin/")


def test_vhost_common_and_odd_requests():
    vhost = at(APACHE, 5)
    assert vhost.attrs["vhost"] == "git.example.com:443" and vhost.src_ip == "185.220.101.4"
    assert (vhost.action, vhost.actor) == ("authenticate", "deploy")
    common = at(APACHE, 11)  # common log format: no referrer, no user agent
    assert common.user_agent is None and common.attrs["bytes"] == 803
    timeout = at(APACHE, 10)
    assert (timeout.resource, timeout.original_action, timeout.attrs) == (None, None, {"vhost": "www.example.com:443", "status": 408})
    assert timeout.src_ip == "::1"
    tls_garbage = at(NGINX, 16)
    assert tls_garbage.attrs["request"].startswith("\\x16\\x03") and tls_garbage.resource is None
    escaped = at(APACHE, 14)
    assert escaped.resource == '/cgi-bin/search?q=\\"><script>alert(1)</script>'


def test_client_lists_and_non_ip_clients():
    proxied = at(NGINX, 18)
    assert proxied.src_ip == "81.2.69.142"  # the first public address, as Filebeat picks it
    assert proxied.attrs["remote_ip_list"] == ["10.0.0.5", "81.2.69.142"]
    sock = at(NGINX, 22)
    assert sock.src_ip is None and sock.attrs["client"] == "unix:"
    extra = at(NGINX, 19)
    assert extra.attrs["extra"] == '"10.20.1.15"' and extra.outcome == "failure"


# nginx `$host $remote_addr ...` and Apache `%v %h ...` without a port: the first word, when a
# space (not a comma) follows it, is the server's name or address, never the client's
# (Filebeat's NGINX_HOST grammar reads it as destination too).
@pytest.mark.parametrize(("prefix", "src_ip", "vhost", "rest"), [
    ("67.43.156.15 localhost", None, "67.43.156.15", {"client": "localhost"}),
    ("67.43.156.15 2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6, 10.225.192.17 10.2.2.121",
     "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "67.43.156.15",
     {"remote_ip_list": ["2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "10.225.192.17", "10.2.2.121"]}),
    ("example.com 10.0.0.2, 10.0.0.1, 127.0.0.1", "10.0.0.2", "example.com",
     {"remote_ip_list": ["10.0.0.2", "10.0.0.1", "127.0.0.1"]}),
    ("203.0.113.7 198.51.100.23", "198.51.100.23", "203.0.113.7", {}),
    ("10.0.0.5, 81.2.69.142", "81.2.69.142", None, {"remote_ip_list": ["10.0.0.5", "81.2.69.142"]}),
])
def test_a_leading_server_word_is_not_the_client(tmp_path, prefix, src_ip, vhost, rest):
    ev = one(tmp_path, f'{prefix} - - [29/May/2017:19:02:48 +0000] "GET /t HTTP/1.1" 200 612 "-" "curl/8"\n'.encode())
    assert ev.src_ip == src_ip and ev.attrs.get("vhost") == vhost
    assert {k: ev.attrs[k] for k in ("client", "remote_ip_list") if k in ev.attrs} == rest


def test_ssl_request_log(tmp_path):
    ev = one(tmp_path, b'[10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 '
                       b'"GET /nagios/ HTTP/1.1" 1375\n')
    assert (ev.action, ev.outcome, ev.src_ip, ev.resource) == ("access", "unknown", "172.30.0.119", "/nagios/")
    assert ev.attrs["tls_protocol"] == "TLSv1.2" and ev.ts == datetime(2018, 8, 10, 7, 45, 56, tzinfo=UTC)


# --- Filebeat's nginx and apache access goldens ------------------------------------------------

def _corpus_pairs():
    return sorted(p for module in ("nginx", "apache") for p in (BEATS / module / "access" / "test").glob("*.log"))


def _none(value):
    return None if value in (None, "-", "") else value


def test_corpus_agrees_with_filebeat_goldens():
    pairs = _corpus_pairs()
    if not pairs:
        pytest.skip("shared corpus not present")
    compared = agreed = 0
    report = []
    for log in pairs:
        expected = json.loads(log.with_name(log.name + "-expected.json").read_text())
        lines = [ln for ln in log.read_text().splitlines() if ln.strip()]
        got = events(log)
        assert len(got) == len(lines) == len(expected), log  # every line became an event
        assert all(e.action != "unparsed" for e in got), log
        for ev, doc in zip(got, expected, strict=True):
            checks = {
                "@timestamp": (ev.ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"), doc.get("@timestamp")),
                "source.ip": (ev.src_ip, doc.get("source.ip")),
                "user.name": (ev.actor, _none(doc.get("user.name"))),
                "http.response.status_code": ((ev.attrs or {}).get("status"), doc.get("http.response.status_code")),
                "http.request.method": ((ev.attrs or {}).get("method"), doc.get("http.request.method")),
                "url.original": (ev.resource, doc.get("url.original")),
                "user_agent.original": (ev.user_agent, _none(doc.get("user_agent.original"))),
                # the client as written: our src_ip, else attrs.client (host names, unix sockets)
                "source.address": (ev.src_ip or (ev.attrs or {}).get("client"), doc.get("source.address")),
            }
            for name, (ours, theirs) in checks.items():
                compared += 1
                if ours == theirs:
                    agreed += 1
                else:
                    report.append(f"{log.name}:{ev.line} {name}: ours {ours!r} vs Filebeat {theirs!r}")
    rate = agreed / compared
    print(f"\nweb_access vs Filebeat nginx/apache access: {agreed}/{compared} fields agree ({rate:.1%})")
    for line in report:
        print("  ", line)
    # Every compared field is text copied from the line (or, for proxied address lists, the
    # first public address, which is Filebeat's rule too), so there is no judgement call where
    # the two parsers may reasonably differ: all 352 fields agree today and anything below 99%
    # (more than three fields) is a parsing bug, not a difference of opinion.
    assert rate >= 0.99, report[:10]
