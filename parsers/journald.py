"""journald: the systemd journal exported with `journalctl -o json` (one JSON object a line).

Journal fields are text; a value that is not valid UTF-8 comes as a list of byte values
(decoded here as UTF-8 with replacement), a field set more than once comes as a list of values
(the first is used), and a field larger than journalctl's limit (4096 bytes without `--all`)
comes as null. `-o json-seq` lines (an RS byte first) are read too.

Fields: ts = _SOURCE_REALTIME_TIMESTAMP (when the program logged it; journalctl shows this one
too), else __REALTIME_TIMESTAMP (when journald received it), microseconds since the epoch;
host = _HOSTNAME; app = SYSLOG_IDENTIFIER, else _COMM; pid = _PID, else SYSLOG_PID; message =
MESSAGE (on one line). attrs: severity (PRIORITY) and facility (SYSLOG_FACILITY) as the syslog
plugin names them, unit (_SYSTEMD_UNIT or _SYSTEMD_USER_UNIT), process_uid (_UID), transport,
message_id, audit_session, audit_loginuid, audit_type (_AUDIT_TYPE_NAME of kernel audit records),
plus the attrs of the sub-parser below (which win on a name clash: `uid` is the new account's).

Mapping: MESSAGE goes through the syslog plugin's auth sub-parsers with app = SYSLOG_IDENTIFIER,
so sshd, sudo, su, PAM, useradd/userdel/usermod/groupadd/gpasswd/passwd/chage, login and
systemd-logind entries map exactly as the same lines of auth.log do (see the syslog plugin).
Otherwise systemd's catalogued unit messages, by MESSAGE_ID (resource = UNIT / USER_UNIT):
  39f53479d3a045ac8e11786248231fbf  start job finished    -> system/service_start, success
  be02cf6855d2428ba40df7e9d022f03d  start job failed      -> system/service_start, failure
  9d1aaa27d60140bd96365438aad20286  stop job finished     -> system/service_stop, success
and everything else -> system/log. A line that is not JSON, not an object, or has none of
__REALTIME_TIMESTAMP, __CURSOR and MESSAGE is kept as an unparsed event.

The mapping is `auditctl.ingest.journal.entry_event` (shared with the `journal_file` parser, which
reads binary journal files through journalctl), and for auth messages `auditctl.ingest.authlog.interpret`,
the library module the syslog plugin uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from auditctl.ingest.journal import entry_event, is_entry
from auditctl.ingest.rawbytes import loads_json
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source


class JournaldParser(Parser):
    name = "journald"
    description = "systemd journal as `journalctl -o json`; sshd/sudo/PAM/useradd messages mapped like syslog"
    splittable = True

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:20]
        if not lines:
            return 0.0, "empty"
        hits = 0
        for line in lines:
            text = line.strip().lstrip("\x1e")
            if not text.startswith("{") or "__REALTIME_TIMESTAMP" not in text:
                continue
            try:
                doc = loads_json(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and "__REALTIME_TIMESTAMP" in doc and ("MESSAGE" in doc or "__CURSOR" in doc):
                hits += 1
        if hits and hits >= 0.5 * len(lines):
            return 0.95, f"{hits} of the first {len(lines)} lines are journal entries (__REALTIME_TIMESTAMP, MESSAGE/__CURSOR)"
        return 0.0, f"{hits} of the first {len(lines)} lines are journal entries"

    def parse(self, source: Source) -> Iterator[Event]:
        loads = loads_json
        for number, text in source.lines():
            stripped = text.strip()
            if not stripped:
                continue
            if stripped[0] == "\x1e":  # json-seq record separator
                stripped = stripped.lstrip("\x1e")
            try:
                doc = loads(stripped)
            except orjson.JSONDecodeError as exc:
                yield unparsed_event(text, f"journald: not valid JSON: {exc}", line=number)
                continue
            if not is_entry(doc):
                yield unparsed_event(text, "journald: not a journal entry (no __REALTIME_TIMESTAMP, "
                                     "__CURSOR or MESSAGE)", line=number)
                continue
            ev = entry_event(doc)
            ev.raw = text
            ev.line = number
            yield ev


parser = JournaldParser()
