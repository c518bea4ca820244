"""The systemd journal: one journal entry (the JSON object `journalctl -o json` prints) as an Event,
and binary journal files read through journalctl.

`entry_event(entry)` is the one mapping of a journal entry, used by the `journald` parser (entries
exported as JSON lines) and the `journal_file` parser (binary `.journal` files, whose entries
journalctl renders as the same JSON). Auth messages go through `auditctl.ingest.authlog`, so
they map exactly as the same lines of auth.log do.

`read_journal_file(path, start_cursor)` runs `journalctl --file=PATH -o json --all --no-pager`
(with `--cursor=C` to start at a known entry) and yields its JSON lines. No journal file is
parsed here: journalctl is the reader, as on every systemd host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from auditctl.ingest.authlog import interpret
from auditctl.schema import Event

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JOURNAL_MAGIC = b"LPKSHHRH"  # the first 8 bytes of every journal file
CURSOR_ORIGIN = "cursor "  # an entry's origin: "cursor " + its __CURSOR
JOURNALCTL_MISSING = "journalctl not found: install systemd or export with journalctl -o json"

UNIT_MESSAGES: dict[str, tuple[str, str, str]] = {
    "39f53479d3a045ac8e11786248231fbf": ("service_start", "success", "unit started"),
    "be02cf6855d2428ba40df7e9d022f03d": ("service_start", "failure", "unit failed"),
    "9d1aaa27d60140bd96365438aad20286": ("service_stop", "success", "unit stopped"),
}
_ATTR_FIELDS = (("PRIORITY", "severity", True), ("SYSLOG_FACILITY", "facility", True),
                ("_UID", "process_uid", True), ("_TRANSPORT", "transport", False),
                ("MESSAGE_ID", "message_id", False), ("_AUDIT_SESSION", "audit_session", True),
                ("_AUDIT_LOGINUID", "audit_loginuid", True),
                ("_AUDIT_TYPE_NAME", "audit_type", False))


def field_text(value: Any) -> str | None:
    """A journal field value as text: byte lists decoded, repeated fields' first value."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if value and all(isinstance(b, int) and not isinstance(b, bool) for b in value):
            try:
                return bytes(value).decode("utf-8", "replace")
            except ValueError:
                return None
        for item in value:
            text = field_text(item)
            if text is not None:
                return text
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    text = field_text(value)
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _stamp(entry: dict[str, Any]) -> datetime | None:
    for key in ("_SOURCE_REALTIME_TIMESTAMP", "__REALTIME_TIMESTAMP"):
        usec = _int(entry.get(key))
        if usec is not None:
            try:
                return EPOCH + timedelta(microseconds=usec)
            except OverflowError:
                continue
    return None


def is_entry(doc: Any) -> bool:
    return isinstance(doc, dict) and ("__REALTIME_TIMESTAMP" in doc or "__CURSOR" in doc or "MESSAGE" in doc)


def entry_event(entry: dict[str, Any]) -> Event:
    """The Event of one journal entry (no raw, line or origin: the caller's)."""
    app = field_text(entry.get("SYSLOG_IDENTIFIER")) or field_text(entry.get("_COMM")) or None
    raw_message = entry.get("MESSAGE")
    message = field_text(raw_message)
    attrs: dict[str, Any] = {}
    for key, name, numeric in _ATTR_FIELDS:
        value = _int(entry.get(key)) if numeric else field_text(entry.get(key))
        if value is not None and value != "":
            attrs[name] = value
    unit = field_text(entry.get("_SYSTEMD_UNIT")) or field_text(entry.get("_SYSTEMD_USER_UNIT"))
    if unit:
        attrs["unit"] = unit
    if "MESSAGE" in entry and raw_message is None:
        attrs["message_omitted"] = True  # larger than journalctl's field limit
    msg = message.strip() if message else ""
    ev = interpret(app, msg) if msg else None
    if ev is None:
        known = UNIT_MESSAGES.get(attrs.get("message_id", ""))
        if known is not None:
            action, outcome, original = known
            ev = Event(ts=None, category="system", action=action, outcome=outcome,
                       original_action=original,
                       resource=field_text(entry.get("UNIT")) or field_text(entry.get("USER_UNIT")))
        else:
            ev = Event(ts=None, category="system", action="log")
    if ev.attrs:
        attrs.update(ev.attrs)
    ev.ts = _stamp(entry)
    ev.host = field_text(entry.get("_HOSTNAME")) or None
    ev.app = app
    ev.pid = _int(entry.get("_PID"))
    if ev.pid is None:
        ev.pid = _int(entry.get("SYSLOG_PID"))
    ev.message = (" ".join(msg.split()) if "\n" in msg or "\r" in msg else msg) or None
    ev.attrs = attrs or None
    return ev


def cursor_of(origin: str | None) -> str | None:
    """The journal cursor an event's origin names, if it names one."""
    if origin and origin.startswith(CURSOR_ORIGIN):
        return origin[len(CURSOR_ORIGIN):]
    return None


def journalctl() -> str | None:
    """The journalctl program on PATH, if any."""
    return shutil.which("journalctl")


@dataclass
class JournalRead:
    """What one journalctl run said besides its entries (filled in when its output ends)."""

    returncode: int | None = None
    stderr: list[str] = field(default_factory=list)

    def complaint(self) -> str:
        """journalctl's stderr on one line ("" when it said nothing)."""
        return " / ".join(" ".join(line.split()) for line in self.stderr if line.strip())


def journalctl_command(program: str, path: Path, start_cursor: str | None) -> list[str]:
    # --all: fields over 4 KiB are printed in full, not as null (nothing of an entry is dropped)
    cmd = [program, f"--file={path}", "--output=json", "--all", "--no-pager"]
    if start_cursor:
        # --cursor, not --after-cursor: journalctl seeks to the nearest position when the entry
        # is not in the file (another file, an older cursor) and --after-cursor then silently
        # skips whichever entry is there; starting AT the cursor lets the caller prove the
        # first entry is the one it stored before it takes any after it.
        cmd.append(f"--cursor={start_cursor}")
    return cmd


def journal_env() -> dict[str, str]:
    return {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "SYSTEMD_LOG_COLOR": "0", "LC_ALL": "C.UTF-8"}


def read_journal_file(path: Path, start_cursor: str | None, report: JournalRead) -> Iterator[str]:
    """journalctl's JSON lines for the entries of the journal file `path` (from the entry at
    `start_cursor` on, when given). Raises FileNotFoundError when there is no journalctl."""
    program = journalctl()
    if program is None:
        raise FileNotFoundError(JOURNALCTL_MISSING)
    proc = subprocess.Popen(journalctl_command(program, path, start_cursor), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=journal_env())
    assert proc.stdout is not None and proc.stderr is not None
    errors = _drain(proc.stderr, report)
    try:
        for raw in proc.stdout:
            text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
            if text:
                yield text
    finally:
        if proc.poll() is None:
            proc.kill()  # the reader stopped early (an error, or a proof that failed)
        proc.stdout.close()
        report.returncode = proc.wait()
        errors.join()
        proc.stderr.close()


_ENTRY_OBJECTS = re.compile(r"^Entry objects: (\d+)$", re.M)


def header_entries(path: Path) -> int | None:
    """How many entries the journal file's header counts (`journalctl --header`), None when
    journalctl does not say. journalctl skips entries it finds damaged without a word, so a
    read that gave fewer is reported."""
    program = journalctl()
    if program is None:
        return None
    try:
        out = subprocess.run([program, f"--file={path}", "--header", "--no-pager"], capture_output=True,
                             stdin=subprocess.DEVNULL, env=journal_env(), check=False).stdout
    except OSError:
        return None
    m = _ENTRY_OBJECTS.search(out.decode("utf-8", "replace"))
    return int(m.group(1)) if m else None


def _drain(stream: IO[bytes], report: JournalRead) -> threading.Thread:
    """Read journalctl's stderr beside its stdout, so neither pipe can fill and block it."""

    def run() -> None:
        for raw in stream:
            if len(report.stderr) < 20:
                report.stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
