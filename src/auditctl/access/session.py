"""Opening the store for a command, as its role allows: writers seal, admins see plaintext."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from auditctl.access import selfaudit
from auditctl.access.sealing import Sealer, load_sealing_key
from auditctl.config import Config
from auditctl.errors import AuditctlError, DatabaseBusy
from auditctl.integrity.signing import load_or_create_key
from auditctl.integrity.verify import make_checkpoint
from auditctl.roles import Role
from auditctl.store import Store


def open_writer(cfg: Config) -> Store:
    """The store for ingest, watch and other signing writers: new events are sealed per
    `access.sensitive`, and the self-audit spool and config changes are brought in first."""
    store = Store.open(cfg.db, wait=cfg.lock_wait_seconds, memory_limit=cfg.memory_limit)
    try:
        if cfg.access.sealing:
            key, _ = load_sealing_key(cfg.sealing_key_path, create=True)
            store.attach_sealer(Sealer(cfg.access.sensitive, key, cfg.sealed_store_path, cfg.timezone,
                                      cfg.lock_wait_seconds))
        elif cfg.sealed_store_path.exists():  # sealing was turned off: deletions must still reach it
            store.attach_sealer(Sealer([], None, cfg.sealed_store_path, wait=cfg.lock_wait_seconds))
        if cfg.access.auditing:
            sync_self_audit(store, cfg)
    except BaseException:
        store.close()
        raise
    return store


def open_reader(cfg: Config, role: Role | None, *, read_only: bool = True) -> tuple[Store, str | None]:
    """The store for a reading command; admins get sealed fields in plaintext. Returns the
    store and, when an admin cannot read the sealed store, why (fields then stay tokens)."""
    store = Store.open(cfg.db, read_only=read_only, wait=cfg.lock_wait_seconds, memory_limit=cfg.memory_limit)
    sealed = cfg.sealed_store_path
    if role != Role.ADMIN or not sealed.exists():
        return store, None
    if not os.access(sealed, os.R_OK):
        return store, f"cannot read the sealed store {sealed}: sensitive fields stay sealed"
    try:
        store.attach_sealed_store(sealed, cfg.lock_wait_seconds)
    except BaseException:
        store.close()
        raise
    return store, None


def sync_self_audit(store: Store, cfg: Config) -> int:
    """Move spooled self-audit records in, and record config or rule files that changed."""
    added = selfaudit.drain_spool(store, cfg.self_audit_spool)
    files = selfaudit.watched_files(cfg.source_path, [Path(d).expanduser() for d in cfg.rules_dirs])
    current = selfaudit.fingerprints(files)
    seen = store.meta("config_fingerprints")
    previous = json.loads(seen) if seen else None
    events = selfaudit.config_change_events(previous, current, datetime.now(UTC))
    if events or seen is None:
        with store.transaction():
            selfaudit.append_records(store, events)
            store.set_meta("config_fingerprints", json.dumps(current, sort_keys=True))
    return added + len(events)


def record_invocation(cfg: Config, inv: selfaudit.Invocation, warn: Callable[[str], None]) -> None:
    """A command's self-audit record: into the log and signed, when this user can sign and the
    store is free; else into the spool (drained by the next writer)."""
    if not cfg.db.exists():
        return  # nothing stored yet, so nothing was read
    event = selfaudit.invocation_event(inv, cfg.db)
    if inv.role == Role.ADMIN and os.access(cfg.signing_key, os.R_OK):
        try:
            with open_writer(cfg) as store:
                before = store.end_before_own_writes()
                with store.transaction():
                    selfaudit.append_records(store, [event])
                key, _ = load_or_create_key(cfg.signing_key, cfg.key_name)
                cp, _ = make_checkpoint(store, key, cfg.checkpoints_path, adopted_upto=before)
                if cp.adopted:
                    warn(f"self-audit: signed seq {cp.adopted[0]}..{cp.adopted[1]}, stored by an earlier run that "
                         f"did not sign them (it stopped before signing); checkpoint #{cp.id} records this")
            return
        except (DatabaseBusy, AuditctlError) as exc:
            if not isinstance(exc, DatabaseBusy):
                warn(f"self-audit: {exc}; the record goes to the spool")
    try:
        selfaudit.spool(event, cfg.self_audit_spool)
    except OSError as exc:
        warn(f"self-audit: cannot record this command in {cfg.self_audit_spool}: {exc.strerror or exc}")
