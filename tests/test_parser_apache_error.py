"""The apache_error parser: Apache httpd 2.0-2.4 error_log lines (the shape of Loghub's Apache
set and of 2.4's default ErrorLogFormat)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditctl.ingest.parsing import read_events
from auditctl.timeutil import get_tz
from support import REFERENCE_TIME, registry


def one(tmp_path: Path, line: str, **kwargs):
    path = tmp_path / "error_log"
    path.write_text(line + "\n", encoding="utf-8")
    events = read_events(path, registry(), "apache_error", reference_time=REFERENCE_TIME, **kwargs)
    assert len(events) == 1
    return events[0]


@pytest.mark.parametrize(("line", "expected"), [
    ("[Sat Mar 02 11:20:05 2024] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
     ("system", "log", "unknown", "notice", None, None, None, None)),
    ("[Sat Mar 02 11:35:40 2024] [error] [client 198.51.100.17] Directory index forbidden by rule: /var/www/html/",
     ("data_access", "access", "failure", "error", None, "/var/www/html/", "198.51.100.17", None)),
    ("[Mon Dec 05 01:30:32 2005] [error] [client 198.51.100.18] File does not exist: /var/www/html/awstats",
     ("system", "log", "unknown", "error", None, None, "198.51.100.18", None)),
    ('[Tue Dec 06 06:02:13 2005] [error] [client 203.0.113.40] user admin: authentication failure for "/admin": '
     "Password Mismatch", ("authentication", "authenticate", "failure", "error", "admin", "/admin", "203.0.113.40", None)),
    ("[Thu Mar 14 09:24:13.123456 2024] [authz_core:error] [pid 1204:tid 140230] [client 198.51.100.9:51234] "
     "AH01630: client denied by server configuration: /srv/private/report.pdf, referer: https://www.example.com/",
     ("data_access", "access", "failure", "AH01630", None, "/srv/private/report.pdf", "198.51.100.9", 1204)),
    ("[Thu Mar 14 09:25:09.543210 2024] [auth_basic:error] [pid 1205:tid 140231] [client 203.0.113.41:40023] "
     "AH01618: user mallory not found: /intranet",
     ("authentication", "authenticate", "failure", "AH01618", "mallory", "/intranet", "203.0.113.41", 1205)),
    ("[Thu Mar 14 09:31:12.410000 2024] [core:info] [pid 1207:tid 140233] [remote 192.0.2.77:60111] "
     "AH00128: File does not exist: /var/www/html/wp-login.php",
     ("system", "log", "unknown", "AH00128", None, None, "192.0.2.77", 1207)),
])
def test_lines_map_to_the_schema(tmp_path, line, expected):
    ev = one(tmp_path, line)
    assert (ev.category, ev.action, ev.outcome, ev.original_action, ev.actor, ev.resource, ev.src_ip,
            ev.pid) == expected
    assert ev.app == "httpd" and ev.raw == line and ev.host is None


def test_the_stamp_is_local_time_with_its_fraction(tmp_path):
    ev = one(tmp_path, "[Thu Mar 14 09:24:13.123456 2024] [core:notice] [pid 1] AH00094: Command line: 'httpd'",
             tz=get_tz("Europe/Berlin"))
    assert ev.ts == datetime(2024, 3, 14, 8, 24, 13, 123456, tzinfo=UTC)
    assert ev.attrs == {"level": "notice", "module": "core", "code": "AH00094"}


def test_an_unpadded_day_and_a_client_port_and_referer(tmp_path):
    ev = one(tmp_path, "[Sun Mar  3 07:30:00 2024] [error] [client 198.51.100.9:51234] File does not exist: /x, "
                       "referer: https://www.example.com/a")
    assert ev.ts == datetime(2024, 3, 3, 7, 30, tzinfo=UTC)
    assert ev.attrs == {"level": "error", "port": 51234, "referer": "https://www.example.com/a"}
    assert ev.message == "File does not exist: /x"


def test_a_line_of_another_shape_is_kept_unparsed(tmp_path):
    ev = one(tmp_path, "2026/03/14 09:24:13 [error] 1204#1204: *5531 open() failed, client: 1.2.3.4")
    assert ev.action == "unparsed" and "apache_error" in ev.attrs["reason"]
