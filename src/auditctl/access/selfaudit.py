"""auditctl audits itself: who read, exported, verified or changed what, as events in the store.

Each recorded command becomes one event with parser `auditctl` in the same tamper-evident log
as everything else. A process that can sign (an admin) appends it and signs a checkpoint at
once. Anyone else cannot sign, and an unsigned append would make `verify` fail, so their
record goes to the spool directory `<db>.spool/` (group may create files there but not list or
remove others': mode 1730); the next signing writer (ingest, watch, checkpoint, or any admin
command) moves spooled records into the log, in the order they were written.

Changes to the config file and rule files are recorded too: every signing writer compares
their SHA-256 with the ones it saw last and records `audit_config_changed` for each change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from auditctl.ingest.batch import complete_batch, events_to_arrow
from auditctl.roles import Identity, Role
from auditctl.schema import Event
from auditctl.sources import file_sha256
from auditctl.store import Store

PARSER = "auditctl"
SOURCE = "auditctl"
SPOOL_MODE = 0o1730

# command -> (action, category)
AUDITED: dict[str, tuple[str, str]] = {
    "search": ("log_read", "data_access"),
    "stats": ("log_read", "data_access"),
    "findings": ("log_read", "data_access"),
    "report": ("log_read", "data_access"),
    "export": ("log_exported", "data_access"),
    "verify": ("log_verified", "data_access"),
    "retention apply": ("retention_applied", "policy_change"),
}

_SECRET_OPTION = re.compile(r"^(?:--?)?[\w-]*(?:key|secret|token|password|passwd|credential)[\w-]*$", re.I)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.I)
_SECRET_ASSIGN = re.compile(r"(?P<name>(?:key|secret|token|password|passwd)[\w-]*=)[^&\s]+", re.I)


def scrub_args(args: Sequence[str]) -> list[str]:
    """Arguments with secrets replaced: values of *key/secret/token/password* options (as
    `--name value`, `--name=value` or `name=value`), user:password@ in URLs, and
    token=/password= query parameters."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if eq:
                out.append(f"{name}=***")
            else:
                out.append(arg)
                hide_next = name.startswith("-")
            continue
        arg = _URL_USERINFO.sub(r"\g<scheme>***@", arg)
        out.append(_SECRET_ASSIGN.sub(r"\g<name>***", arg))
    return out


@dataclass
class Invocation:
    """One command as run: who, with which role, what, and how it ended."""

    command: str
    args: list[str]
    identity: Identity
    role: Role | None
    started: datetime
    exit_code: int = 0
    denied: bool = False
    detail: dict[str, Any] | None = None  # what the command touched: counts, files, finding ids

    @property
    def succeeded(self) -> bool:
        # findings at --fail-on (3) and a store that does not verify (4) are answers, not failures
        return not self.denied and self.exit_code in (0, 3, 4)


def invocation_event(inv: Invocation, db: Path) -> Event:
    action, category = AUDITED.get(inv.command, ("access", "data_access"))
    role = inv.role.label if inv.role else "none"
    shown = " ".join(["auditctl", *inv.args])
    verdict = "denied" if inv.denied else ("success" if inv.succeeded else f"failed (exit {inv.exit_code})")
    attrs: dict[str, Any] = {"command": inv.command, "args": inv.args, "exit_code": inv.exit_code,
                             "uid": inv.identity.uid, "user": inv.identity.user, "database": str(db)}
    if inv.identity.sudo_user:
        attrs["sudo_user"] = inv.identity.sudo_user
    if inv.denied:
        attrs["denied"] = True
    if inv.detail:
        attrs.update(inv.detail)
    raw = orjson.dumps({"time": inv.started.isoformat(), "user": inv.identity.actor, "role": role,
                        "command": inv.command, "args": inv.args, "exit_code": inv.exit_code,
                        "denied": inv.denied}).decode()
    return Event(
        ts=inv.started, host=socket.gethostname(), app="auditctl", pid=os.getpid(), category=category,
        action=action, original_action=inv.command, outcome="success" if inv.succeeded else "failure",
        actor=inv.identity.actor, role=role, resource=str(db),
        message=f"{inv.identity.actor} ({role}) ran `{shown}`: {verdict}", raw=raw, attrs=attrs,
    )


# -- the spool ------------------------------------------------------------------------------

def spool(event: Event, spool_dir: Path) -> Path:
    """Write one record to the spool, durably, under a name that sorts by time."""
    if not spool_dir.exists():
        spool_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            os.chmod(spool_dir, SPOOL_MODE)
    name = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}.json"
    path = spool_dir / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, orjson.dumps(event_to_json(event)))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def event_to_json(event: Event) -> dict[str, Any]:
    doc = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if getattr(event, f.name) is not None}
    doc["ts"] = event.ts.isoformat() if event.ts else None
    return doc


def event_from_json(doc: dict[str, Any]) -> Event:
    fields = dict(doc)
    fields["ts"] = datetime.fromisoformat(fields["ts"]) if fields.get("ts") else None
    return Event(**fields)


def spooled(spool_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in spool_dir.iterdir() if p.suffix == ".json")
    except (FileNotFoundError, PermissionError):
        return []


# -- into the store -------------------------------------------------------------------------

def append_records(store: Store, events: Sequence[Event]) -> int:
    """Append self-audit events (never sealed: their arguments are scrubbed instead)."""
    if not events:
        return 0
    batch = complete_batch(events_to_arrow(list(events)), first_seq=store.next_seq(),
                           ingested_at=datetime.now(UTC), source=SOURCE, parser=PARSER)
    store.append_events(batch, seal=False)
    return len(events)


def drain_spool(store: Store, spool_dir: Path) -> int:
    """Move spooled records into the log (one transaction), then remove their files."""
    files = spooled(spool_dir)
    events, bad = [], []
    for path in files:
        try:
            events.append(event_from_json(orjson.loads(path.read_bytes())))
        except (OSError, ValueError, TypeError):
            bad.append(path)  # kept in place for a human to look at; never silently dropped
    if not events:
        return 0
    with store.transaction():
        append_records(store, events)
    for path in files:
        if path not in bad:
            path.unlink(missing_ok=True)
    return len(events)


# -- config and rule changes ----------------------------------------------------------------

def watched_files(config_path: Path | None, rule_paths: Iterable[Path]) -> list[Path]:
    files = [config_path] if config_path is not None else []
    for p in rule_paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml")))
        else:
            files.append(p)
    return files


def fingerprints(files: Iterable[Path]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for f in files:
        try:
            out[str(f.resolve())] = file_sha256(f)
        except OSError:
            out[str(f.resolve())] = None
    return out


def config_change_events(previous: dict[str, str | None] | None, current: dict[str, str | None],
                         now: datetime) -> list[Event]:
    """One `audit_config_changed` event per file added, changed or removed since last seen."""
    previous = previous or {}
    events = []
    for path in sorted(set(previous) | set(current)):
        before, after = previous.get(path), current.get(path)
        if before == after:
            continue
        change = "created" if before is None else ("removed" if after is None else "changed")
        owner = _owner(Path(path))
        events.append(Event(
            ts=now, host=socket.gethostname(), app="auditctl", category="policy_change",
            action="audit_config_changed", original_action=f"file_{change}", outcome="success",
            actor=owner, resource=path,
            message=f"auditctl configuration {path} {change} (owner {owner or 'unknown'})",
            raw=orjson.dumps({"path": path, "change": change, "sha256_before": before,
                              "sha256_after": after}).decode(),
            attrs={"change": change, "sha256_before": before, "sha256_after": after, "file_owner": owner},
        ))
    return events


def _owner(path: Path) -> str | None:
    import pwd

    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
