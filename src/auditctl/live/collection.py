"""What the syslog listeners took in, refused and dropped: the status file `watch --status`
prints, and the `log_collected` records that make the counts durable.

Received messages are events, so what was received is counted from the store. What never
became an event (connections or datagrams refused, TLS handshake failures, drops, empty
messages, throttling) is recorded by `watch` as a `log_collected` event per listener: in the
signed log like everything else, at most every `RECORD_EVERY` while something changes, and
when `watch` stops. The review report's collection line sums both for its period. After
`kill -9`, the counts since the last record (at most `RECORD_EVERY`) are lost; the messages
are not.

The status file (`<db>.watch-status.json`) is rewritten atomically at most once a second:
per listener, the counts since `watch` started, the senders seen, the last TLS failures, the
host-name mismatches and messages stored (from the store), and the spool's backlog.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditctl.config import Config
from auditctl.errors import AuditctlError
from auditctl.files import atomic_write_text
from auditctl.live.listener import Listener
from auditctl.report.sql import LISTENER_COUNTS
from auditctl.schema import Event

RECORD_EVERY = timedelta(seconds=10)
STATUS_EVERY = timedelta(seconds=1)
COUNTED = tuple(k for k in LISTENER_COUNTS if k != "dropped")  # the listener's own counters recorded


def status_path(config: Config) -> Path:
    return config.db.with_name(config.db.name + ".watch-status.json")


@dataclass
class Tracker:
    """Per listener: the counts last recorded in the store, and the store's own counts."""

    recorded: dict[str, dict[str, Any]] = field(default_factory=dict)
    recorded_at: dict[str, datetime] = field(default_factory=dict)
    stored: dict[str, dict[str, int]] = field(default_factory=dict)  # listener -> messages/host_mismatches
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    status_at: datetime | None = None

    def due(self, listeners: Sequence[Listener], now: datetime, final: bool) -> list[tuple[str, dict[str, Any]]]:
        """(listener, snapshot) of the listeners whose counts changed since the last record and
        whose last record is RECORD_EVERY old (any changed one when `final`)."""
        out = []
        for listener in listeners:
            snap = listener.stats.snapshot()
            last = self.recorded.get(listener.url, {})
            if not any(snap[k] != last.get(k, 0) for k in COUNTED):
                continue
            if final or now - self.recorded_at.get(listener.url, self.started) >= RECORD_EVERY:
                out.append((listener.url, snap))
        return out

    def events(self, due: list[tuple[str, dict[str, Any]]], now: datetime) -> list[Event]:
        return [collection_event(url, snap, self.recorded.get(url, {}), self.recorded_at.get(url, self.started), now)
                for url, snap in due]

    def mark(self, due: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        for url, snap in due:
            self.recorded[url] = snap
            self.recorded_at[url] = now

    def add_stored(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["listener"] is None:
                continue  # the row over all listeners
            counts = self.stored.setdefault(str(row["listener"]), {"stored": 0, "host_mismatches": 0})
            counts["stored"] += int(row["messages"])
            counts["host_mismatches"] += int(row["host_mismatches"])


def collection_event(listener: str, snap: dict[str, Any], last: dict[str, Any], since: datetime,
                     now: datetime) -> Event:
    """One `log_collected` event: the listener's counts over [since, now)."""
    delta = {k: int(snap[k]) - int(last.get(k, 0)) for k in ("messages", "bytes", "truncated", "connections", *COUNTED)}
    delta["dropped"] = delta["dropped_rate"] + delta["dropped_full"] + delta["dropped_kernel"]
    before = last.get("tls_failure_reasons", {})
    reasons = {r: n - before.get(r, 0) for r, n in snap["tls_failure_reasons"].items() if n - before.get(r, 0)}
    attrs: dict[str, Any] = {"listener": listener, "since": since.isoformat(), "until": now.isoformat(), **delta}
    if reasons:
        attrs["tls_failure_reasons"] = reasons
    parts = [f"{delta[k]:,} {label}" for k, label in (
        ("refused", "refused (sender network)"), ("refused_busy", "refused (too many connections)"),
        ("tls_failures", "TLS handshake failures"), ("dropped", "dropped"), ("empty", "empty"),
        ("throttled", "throttled reads"), ("paused", "waits for spool room")) if delta[k]]
    seconds = max(0, int((now - since).total_seconds()))
    message = f"{listener}: {delta['messages']:,} messages; " + ", ".join(parts) + f" in {seconds} s"
    return Event(ts=now, host=socket.gethostname(), app="auditctl", pid=os.getpid(), category="system",
                 action="log_collected", original_action="collection", outcome="success", resource=listener,
                 message=message, raw=json.dumps(attrs, sort_keys=True), attrs=attrs)


# -- the status file -----------------------------------------------------------------------

def status_doc(listeners: Sequence[Listener], tracker: Tracker, config: Config, now: datetime) -> dict[str, Any]:
    budget = listeners[0].budget if listeners else None
    out: dict[str, Any] = {
        "pid": os.getpid(), "host": socket.gethostname(), "db": str(config.db),
        "started": tracker.started.isoformat(), "updated": now.isoformat(),
        "spool": {"bytes": budget.used if budget else 0, "max_bytes": budget.max_bytes if budget else 0,
                  "peak_bytes": budget.peak if budget else 0,
                  "backlog": sum(listener.spool.backlog for listener in listeners)},
        "listeners": [],
    }
    for listener in listeners:
        snap = listener.stats.snapshot()
        stored = tracker.stored.get(listener.url, {"stored": 0, "host_mismatches": 0})
        out["listeners"].append({"listener": listener.url, **snap, **stored, "backlog": listener.spool.backlog,
                                 "spool_bytes": listener.spool.disk_bytes})
    return out


def write_status(path: Path, doc: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n", 0o640)


def read_status(path: Path) -> dict[str, Any]:
    """The status a running (or the last) `watch --listen` wrote, with `running`: whether its
    process is still there."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditctlError(f"no watch status at {path}: is `auditctl watch --listen` running with this database?") from None
    except (OSError, ValueError) as exc:
        raise AuditctlError(f"cannot read the watch status {path}: {exc}") from None
    doc["running"] = _alive(int(doc.get("pid", 0)), str(doc.get("host", "")))
    return doc


def _alive(pid: int, host: str) -> bool | None:
    if host != socket.gethostname() or pid <= 0:
        return None  # another machine's watch: unknown
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
