"""What every built-in parser must do, from one table: detect its own samples (and explain why),
leave look-alike input alone, read its samples gzipped exactly as plain, and keep every line of a
line-based sample in some event, with the malformed ones as `unparsed`, and read the records of
a JSON-lines sample as one JSON array document (as an API page or export holds them) the same.

Golden files, auto-detection of every sample and "no other parser claims this sample" are
tests/test_golden.py; the corpus comparisons are per parser (tests/test_parser_<name>.py) and
tests/test_conformance.py. A new parser adds a row here and its samples under sample_logs/<name>/.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from auditctl.ingest.parsing import choose_parser, read_events
from auditctl.schema import validate_event
from auditctl.sources import head_from_bytes, read_head
from support import REFERENCE_TIME, SAMPLES, json_records, registry
from utmp_records import T0, lastlog_sample, record, wtmp_sample

SSHD = b"Mar 16 08:00:00 web01 sshd[4242]: Accepted password for alice from 192.0.2.10 port 52144 ssh2\n"
CLOUDTRAIL = orjson.dumps({"eventVersion": "1.09", "eventName": "CreateUser", "eventTime": "2026-03-14T10:00:00Z"}) + b"\n"
APP_JSON = b'{"level":"info","msg":"request served","status":200}\n'
LOGFMT = b'time="2026-03-14T09:00:00Z" level=info msg="hello" user=alice\n'
AUDITD = b"type=USER_LOGIN msg=audit(1710230400.1:1): pid=1 uid=0 auid=1000 ses=1 msg='op=login acct=\"a\" res=success'\n"
K8S = (b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1",'
       b'"stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods"}\n')
# no parser may claim these
NOBODYS = {"binary": bytes(range(256)) * 4, "empty": b""}


@dataclass(frozen=True)
class Spec:
    """One parser's row: its samples (file name under sample_logs/<name>/ -> the least detection
    score, or the exact one where `exact`), a word its explanation names, look-alike input it must
    score below 0.3, the samples that must read the same gzipped, and for line-based samples the
    lines that are malformed (kept as `unparsed` with `reason` in the reason), and the JSON-lines
    samples read again as one array document (sample -> json.dumps indent: None is the compact
    one-line array, 2 pretty-printed; each is read by a different path)."""

    name: str
    samples: dict[str, float]
    explains: str
    rejects: dict[str, bytes]
    exact: bool = False
    gzipped: tuple[str, ...] = ()
    unparsed: dict[str, list[int]] = field(default_factory=dict)
    reason: str = ""
    as_array: dict[str, int | None] = field(default_factory=dict)


SPECS = [
    Spec("apache_error", {"error_log": 0.9}, "Apache error-log", {
        "syslog": SSHD, "logfmt": LOGFMT,
        "web_access": b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8"\n',
        "nginx_error_log": b'2026/03/14 09:24:13 [error] 1204#1204: *5531 open() "/x" failed (2: No such file), '
                           b"client: 1.2.3.4\n",
        "ssl_request_log": b'[10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 '
                           b'"GET / HTTP/1.1" 1375\n',
    }, gzipped=("error_log",), unparsed={"error_log": [16]}, reason="apache_error"),
    Spec("auditd", {"audit.log": 0.9, "audit-enriched.log": 0.9}, "msg=audit", {
        "syslog": SSHD,
        "audit-via-syslog": b"Mar 12 08:40:13 web01 audispd: node=web01 type=USER_LOGIN msg=audit(1710232813.655:3188): "
                            b"pid=2201 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=\"root\" res=failed'\n",
        "cloudtrail": b'{"eventVersion":"1.08","eventName":"ConsoleLogin","eventTime":"2024-03-12T08:00:00Z"}\n',
        "k8s": b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete"}\n',
        "elf": b"\x00\x01\x02\x03ElfFile\x00\x00\xff\xfe" * 40,
    }, gzipped=("audit.log",)),
    Spec("azure", {"entra_PT1H.json": 0.9, "activity_eventhub.json": 0.9}, "resourceId", {
        "syslog": SSHD, "other_json": APP_JSON,
        "look_alike_keys": b'{"time":"2026-03-23T08:00:00Z","category":"app","operationName":"GetUser",'
                           b'"resourceId":"users/42"}\n',
    }, gzipped=("entra_PT1H.json", "activity_eventhub.json"), as_array={"entra_PT1H.json": 2}),
    Spec("cef", {"arcsight.cef": 0.9, "syslog-forwarded.log": 0.5}, "CEF header", {
        "syslog": SSHD, "json": CLOUDTRAIL, "auditd": AUDITD,
        "leef": b"LEEF:2.0|Trend Micro|Deep Security Manager|11.0|851|cat=System\tname=Scan\n",
    }, gzipped=("arcsight.cef",), unparsed={"arcsight.cef": [21, 22], "syslog-forwarded.log": [16, 17]},
        reason="CEF header"),
    Spec("cloudtrail", {"cloudwatch-export.jsonl": 0.9,
                       "111122223333_CloudTrail_us-east-1_20260314T0935Z_Xk3pR7vQm2LwN8sD.json.gz": 0.9}, "", {
        "syslog": SSHD, "k8s_audit": K8S, "other_json": APP_JSON,
        # S3 event notifications also use {"Records": [...]} with eventSource/eventName
        "s3_notification": b'{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",'
                           b'"eventTime":"2026-03-14T10:00:00.000Z","eventName":"ObjectCreated:Put"}]}',
    }, gzipped=("cloudwatch-export.jsonl",), unparsed={"cloudwatch-export.jsonl": [14]}, reason="invalid JSON"),
    Spec("gcp_audit", {"cloudaudit_sink.jsonl": 0.9, "gcloud_logging_read.json": 0.9}, "AuditLog", {
        "syslog": SSHD, "other_json": APP_JSON,
        "non_audit_log_entries": b'{"insertId":"x1","textPayload":"hello","logName":"projects/p/logs/stdout",'
                                 b'"timestamp":"2026-03-19T08:00:00Z"}\n',
    }, gzipped=("cloudaudit_sink.jsonl",), unparsed={"cloudaudit_sink.jsonl": [8]}, reason="invalid JSON",
        as_array={"cloudaudit_sink.jsonl": None}),
    Spec("github_audit", {"audit_stream.jsonl": 0.9, "enterprise_api_page.json": 0.9}, "GitHub", {
        "syslog": SSHD,
        "app_json": b'{"level":"info","ts":1710144131.4,"msg":"login succeeded","event":"session.login","actor":"alice"}\n',
        "action_object_actor": b'{"action":"Login","actor":{"id":1},"created_at":1710144131000}\n',
    }, gzipped=("audit_stream.jsonl",), unparsed={"audit_stream.jsonl": [21]}, reason="invalid JSON",
        as_array={"audit_stream.jsonl": 2}),
    Spec("journald", {"journal.json": 0.9}, "__REALTIME_TIMESTAMP", {
        "syslog": SSHD, "cloudtrail": CLOUDTRAIL, "logfmt": LOGFMT,
        "json_with_MESSAGE": orjson.dumps({"level": "info", "ts": 1710144000.1, "msg": "starting", "MESSAGE": "x"}) + b"\n",
    }, gzipped=("journal.json",), unparsed={"journal.json": [13, 22]}, reason="journal"),
    Spec("journal_file", {"system.journal.xz": 0.99}, "LPKSHHRH", {
        "syslog": SSHD, "zeros": bytes(4096), "evtx": b"ElfFile\x00" + bytes(120),
        "journal_json": orjson.dumps({"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1773479521000000",
                                      "MESSAGE": "LPKSHHRH"}) + b"\n",
        "magic_not_first": b"x" + b"LPKSHHRH" + bytes(200),
    }, exact=True),
    Spec("jsonl", {"ecs.jsonl": 0.5, "plain.jsonl": 0.5}, "JSON objects", {
        "syslog": SSHD,
        "pretty-json": b'{\n  "Records": [\n    {"eventName": "CreateUser"}\n  ]\n}\n',
        "json-arrays": b'["a", 1]\n[2, 3]\n"text"\n42\n',  # JSON values that are not objects
        "csv": b"time,user,action\n2024-03-11T08:00:00Z,alice,login\n",
        "malformed": b'{"broken": \n{"also": "broken"\nplain text\n',
    }, exact=True, gzipped=("ecs.jsonl",)),  # 0.5: below the 0.9+ of parsers for specific JSON formats
    Spec("k8s_audit", {"audit.log": 0.9}, "auditID", {
        "syslog": SSHD, "cloudtrail": CLOUDTRAIL,
        # a core Kubernetes Event (kubectl get events -o json): kind Event, but not an audit event
        "core_event": orjson.dumps({"kind": "Event", "apiVersion": "v1", "metadata": {"name": "web.17b"},
                                    "reason": "Pulled", "message": "Container image pulled"}) + b"\n",
    }, gzipped=("audit.log",), unparsed={"audit.log": [29]}, reason="invalid JSON"),
    Spec("logfmt", {"grafana.log": 0.6, "accounts-api.log": 0.6}, "logfmt", {  # generic: specific parsers win
        "syslog": SSHD, "json": orjson.dumps({"level": "info", "ts": 1710144000.1, "msg": "starting"}) + b"\n",
        # auditd records are key=value pairs with a msg key, but they are auditd's
        "auditd": AUDITD + b"type=SYSCALL msg=audit(1710230400.131:3101): arch=c000003e syscall=59 success=yes exit=0\n",
        "auditd_enriched": b"node=db01 type=DAEMON_START msg=audit(1716192000.447:412): op=start ver=3.1.2 "
                           b"format=enriched res=success\n",
        "cef": b"CEF:0|Trend Micro|Deep Security Manager|20.0|600|User Signed In|3|src=10.0.0.1 suser=admin msg=signed in\n",
        "web_access": b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8"\n',
        "syslog_kv": b"Mar 14 09:12:03 fw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=10.0.0.1 PROTO=TCP\n",
    }, gzipped=("grafana.log",), unparsed={"grafana.log": [18], "accounts-api.log": [17, 18]}, reason="logfmt"),
    Spec("okta", {"system_log.jsonl": 0.9, "logs_api_page.json": 0.9}, "eventType", {
        "syslog": SSHD,
        "other_json": b'{"level":"info","msg":"request served","status":200,"eventType":"click"}\n',
    }, gzipped=("system_log.jsonl", "logs_api_page.json"), unparsed={"system_log.jsonl": [17]},
        reason="invalid JSON", as_array={"system_log.jsonl": 2}),
    Spec("postgres", {"postgresql-16-main.log": 0.9, "rds-postgresql.log": 0.9}, "SEVERITY", {
        "syslog": SSHD, "logfmt": LOGFMT,
        "iso_syslog": b"2026-05-10T14:30:02.203151+02:00 db01 sshd[4179]: Accepted password for postgres "
                      b"from 10.1.2.3 port 55001 ssh2\n",
        "single_space": b"2026-05-10 14:30:02 db01 app[12]: LOG: something happened\n",  # not PostgreSQL's marker
        "jsonlog": orjson.dumps({"timestamp": "2026-03-14 09:00:00.000 UTC", "error_severity": "LOG", "message": "x"}) + b"\n",
    }, gzipped=("postgresql-16-main.log",), unparsed={"postgresql-16-main.log": [39], "rds-postgresql.log": [19]},
        reason="not a PostgreSQL log line"),
    Spec("syslog", {"auth.log": 0.9}, "", {
        "cloudtrail": b'{"eventVersion":"1.08","eventSource":"iam.amazonaws.com"}\n' * 3,
        "auditd": b"type=USER_LOGIN msg=audit(1364481363.243:24287): pid=25401 uid=0\n" * 3,
        "web_access": b"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326\n" * 3,
        "binary_text": b"\x00\x01\x02binary\xff\xfe" * 60,
    }, gzipped=("auth.log",)),
    Spec("utmp", {"wtmp": 0.95, "btmp": 0.95}, "utmp records", {
        "syslog": SSHD, "auditd": AUDITD, "lastlog": lastlog_sample(), "zeros": bytes(384 * 4),
        "future_type": record(12, 1, "pts/0", "", "alice", "", T0) * 3,
        "no_time": record(7, 1, "pts/0", "", "alice", "", 0) * 3,
        "control_in_user": record(7, 1, "pts/0", "", "al\x01ce", "", T0) * 3,
    }, exact=True, gzipped=("wtmp", "btmp")),
    Spec("lastlog", {"lastlog": 0.9}, "lastlog", {"syslog": SSHD, "wtmp": wtmp_sample()}, exact=True),
    Spec("utmp_sessions", {"utmp": 0.97}, "named utmp", {"wtmp": wtmp_sample(), "syslog": SSHD}, exact=True),
    Spec("faillog", {"faillog": 0.9}, "faillog", {"syslog": SSHD, "wtmp": wtmp_sample(),
                                                  "lastlog": lastlog_sample()}, exact=True),
    Spec("web_access", {"nginx-access.log": 0.9, "apache-vhosts.log": 0.9}, "access-log", {
        "syslog": SSHD, "json": CLOUDTRAIL,
        "nginx_error_log": b'2026/03/14 09:24:13 [error] 1204#1204: *5531 open() "/x" failed (2: No such file), '
                           b"client: 1.2.3.4\n",
        "logfmt": b'time="2026-03-14T09:00:00Z" level=info msg="hello" user=alice ip=10.0.0.1\n',
    }, gzipped=("nginx-access.log",), unparsed={"nginx-access.log": [23], "apache-vhosts.log": [15]},
        reason="web_access"),
    Spec("windows_security", {"hayabusa-openssh-bruteforce.evtx": 0.99, "wevtutil-security.xml": 0.95,
                              "winlogbeat.ndjson": 0.95, "other-channels.xml": 0.95}, "", {
        "syslog": b"Mar  1 10:00:01 web1 sshd[7]: Failed password for root from 203.0.113.9 port 22 ssh2\n",
        "cloudtrail": b'{"eventVersion":"1.08","eventName":"ConsoleLogin","eventID":"1",'
                      b'"eventSource":"signin.amazonaws.com"}\n',
        "k8s": b'{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}\n',
        "bare_event_id": b'{"EventID": 4624, "note": "no channel or provider"}\n',
        "text": b"EventID 4624 An account was successfully logged on\n",
        "xml_without_channel": b"<Events><Event><System><EventID>1</EventID></System></Event></Events>\n",
        "evtx_chunk_only": b"ElfChnk\x00" + b"\x00" * 100,
    }, exact=True),
]
BY_NAME = {s.name: s for s in SPECS}


def _cases(what):
    return [pytest.param(s, item, id=f"{s.name}-{item}") for s in SPECS for item in what(s)]


def _events(path: Path, forced: str | None) -> list:
    return read_events(path, registry(), forced, reference_time=REFERENCE_TIME)


def test_every_builtin_parser_has_a_row():
    assert {info.name for info in registry()} - {"dpkg"} == set(BY_NAME)  # dpkg: tests/test_parser_dpkg.py


@pytest.mark.parametrize(("spec", "sample"), _cases(lambda s: s.samples))
def test_detects_its_samples(spec, sample):
    parser = registry().get(spec.name)
    head = read_head(SAMPLES / spec.name / sample)
    score = parser.detect(head)
    assert score == spec.samples[sample] if spec.exact else score >= spec.samples[sample]
    assert spec.explains in parser.explain(head) and parser.explain(head)
    choice = choose_parser(head, registry())
    assert choice.parser.name == spec.name, choice.ranking


@pytest.mark.parametrize(("spec", "kind"), _cases(lambda s: [*s.rejects, *NOBODYS]))
def test_does_not_claim_other_input(spec, kind):
    data = spec.rejects.get(kind, NOBODYS.get(kind))
    assert registry().get(spec.name).detect(head_from_bytes("x.log", data)) < 0.3


@pytest.mark.parametrize(("spec", "sample"), _cases(lambda s: s.gzipped))
def test_gzipped_sample_reads_like_the_plain_one(spec, sample, tmp_path):
    plain = SAMPLES / spec.name / sample
    packed = tmp_path / (sample + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert choose_parser(read_head(packed), registry()).parser.name == spec.name
    fields = [(e.line, e.origin, e.action, e.outcome, e.actor, e.raw) for e in _events(plain, spec.name)]
    assert [(e.line, e.origin, e.action, e.outcome, e.actor, e.raw) for e in _events(packed, None)] == fields


@pytest.mark.parametrize(("spec", "sample"), _cases(lambda s: s.unparsed))
def test_every_line_is_kept_and_malformed_lines_are_unparsed(spec, sample):
    path = SAMPLES / spec.name / sample
    lines = path.read_text().splitlines()
    evs = _events(path, spec.name)
    covered = set()
    for ev in evs:
        assert validate_event(ev) == [] and ev.raw.split("\n")[0] == lines[ev.line - 1]
        covered.update(range(ev.line, ev.line + ev.raw.count("\n") + 1))
    assert covered == set(range(1, len(lines) + 1))  # every line is in some event's raw
    bad = [e for e in evs if e.action == "unparsed"]
    assert [e.line for e in bad] == spec.unparsed[sample]
    assert all(e.category == "other" and spec.reason in e.attrs["reason"] for e in bad), [e.attrs for e in bad]


@pytest.mark.parametrize(("spec", "sample"), _cases(lambda s: s.as_array))
def test_json_lines_sample_reads_the_same_as_one_array_document(spec, sample, tmp_path):
    lines = SAMPLES / spec.name / sample
    records = json_records(lines)
    array = tmp_path / "array.json"
    array.write_text(json.dumps(records, indent=spec.as_array[sample]), encoding="utf-8")
    from_array = _events(array, spec.name)
    from_lines = [e for e in _events(lines, spec.name) if "invalid JSON" not in (e.attrs or {}).get("reason", "")]
    assert [(e.action, e.outcome, e.actor, e.target, e.role, e.ts) for e in from_array] == [
        (e.action, e.outcome, e.actor, e.target, e.role, e.ts) for e in from_lines]
    located = [re.match(r"\[(\d+)\]", e.origin or "") for e in from_array]  # "[i]", or "[i]." and a path within
    assert all(located) and sorted({int(m[1]) for m in located}) == list(range(len(records)))
