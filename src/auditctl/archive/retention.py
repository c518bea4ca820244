"""Retention: archive old events to compressed Parquet (cold storage) and delete what is due,
without breaking the tamper-evident log.

Policies come from config (`retention:`), matched in order with the rule `where` syntax; the
first match decides, else the default (archive after 90 days, never delete). Legal holds
override deletion.

Archiving is crash-safe. A segment per month partition is written to a temporary file,
fsynced, renamed, read back, and its leaf hashes are compared with the hot rows. A manifest
(seq range, rows, time range, SHA-256 of the file, Merkle root of its leaves), signed with the
checkpoint key, is written beside it as `_seg-....json` (a leading `_`: engines that read
the folder as Parquet skip it). Only then, in one transaction, is the segment recorded
and are its rows deleted from the hot table. If it is interrupted anywhere, the next run
finds the orphaned file (not recorded) and removes it: nothing is lost and nothing is doubled.

Deletion keeps each deleted event's leaf hash (`tombstones`) and writes a signed deletion
receipt (what range, when, which policy). So the Merkle tree still verifies, and a verifier
can tell a deletion by policy from tampering.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditctl.errors import ConfigError
from auditctl.files import atomic_write_text, current_umask
from auditctl.integrity.merkle import mth
from auditctl.integrity.signing import SigningKey
from auditctl.integrity.verify import origin_of
from auditctl.store import Store
from auditctl.store.tree import leaf_sql
from auditctl.timeutil import parse_duration
from auditctl.where import Sql, check_where, where_sql

DEFAULT_ARCHIVE_AFTER = timedelta(days=90)
# the archive is read by the access group, as fileperms expects (SHARED_FILE, SHARED_DIR)
ARCHIVE_FILE_MODE = 0o640
ARCHIVE_DIR_MODE = 0o750


@dataclass(frozen=True)
class Policy:
    name: str
    where: dict[str, Any]
    archive_after: timedelta | None
    delete_after: timedelta | None


@dataclass(frozen=True)
class RetentionConfig:
    policies: tuple[Policy, ...]
    default: Policy
    holds: tuple[dict[str, Any], ...]


def parse_retention(data: dict[str, Any] | None, origin: str = "config") -> RetentionConfig:
    data = data or {}
    unknown = set(data) - {"default", "policies", "legal_hold", "archive_dir"}
    if unknown:
        raise ConfigError(f"{origin}: retention: unknown setting {sorted(unknown)[0]!r}")

    def policy(raw: Any, name: str) -> Policy:
        if not isinstance(raw, dict):
            raise ConfigError(f"{origin}: retention policy {name!r}: a mapping")
        where = raw.get("match") or {}
        check_where(where, lambda path, why: ConfigError(f"{origin}: retention policy {name!r}: match.{path}: {why}"))

        def duration(key: str) -> timedelta | None:
            value = raw.get(key)
            if value in (None, "never"):
                return None
            try:
                return parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{origin}: retention policy {name!r}: {key}: {exc}") from None

        archive = duration("archive_after") if "archive_after" in raw else DEFAULT_ARCHIVE_AFTER
        return Policy(str(raw.get("name", name)), where, archive, duration("delete_after"))

    policies = tuple(policy(p, str(p.get("name", f"#{i + 1}")) if isinstance(p, dict) else f"#{i + 1}")
                     for i, p in enumerate(data.get("policies") or []))
    default = policy({"name": "default", **(data.get("default") or {})}, "default")
    holds = []
    for i, hold in enumerate(data.get("legal_hold") or []):
        where = hold.get("match") if isinstance(hold, dict) else None
        if not isinstance(where, dict):
            raise ConfigError(f"{origin}: retention: legal_hold[{i}]: needs `match`")
        check_where(where, lambda path, why, i=i: ConfigError(f"{origin}: retention: legal_hold[{i}].match.{path}: {why}"))
        holds.append(where)
    return RetentionConfig(policies, default, tuple(holds))


def _policy_case(cfg: RetentionConfig, q: Sql) -> str:
    """SQL CASE giving each event its policy's index (the default is last)."""
    whens = [f"WHEN {where_sql(p.where, q)} THEN {i}" for i, p in enumerate(cfg.policies)]
    return f"(CASE {' '.join(whens)} ELSE {len(cfg.policies)} END)" if whens else f"{len(cfg.policies)}"


def _held(cfg: RetentionConfig, q: Sql) -> str:
    return "(" + " OR ".join(where_sql(h, q) for h in cfg.holds) + ")" if cfg.holds else "FALSE"


def _due(cfg: RetentionConfig, q: Sql, now: datetime, which: str) -> str:
    """SQL: the event is past its policy's `archive_after` or `delete_after`."""
    policies = [*cfg.policies, cfg.default]
    parts = []
    for i, p in enumerate(policies):
        after = p.archive_after if which == "archive" else p.delete_after
        if after is not None:
            parts.append(f"(policy = {i} AND ts < {q.bind(now - after)})")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


@dataclass
class Plan:
    archive: dict[str, list[int]] = field(default_factory=dict)  # partition -> seqs
    delete_hot: list[int] = field(default_factory=list)
    delete_segments: list[int] = field(default_factory=list)
    held: int = 0

    @property
    def archive_count(self) -> int:
        return sum(len(v) for v in self.archive.values())


def plan(store: Store, cfg: RetentionConfig, now: datetime) -> Plan:
    result = Plan()
    q = Sql()
    case, held = _policy_case(cfg, q), _held(cfg, q)
    archive_due, delete_due = _due(cfg, q, now, "archive"), _due(cfg, q, now, "delete")
    rows = store.run_query(
        f"""SELECT seq, strftime(ts AT TIME ZONE 'UTC', 'year=%Y/month=%m') AS part, {delete_due} AS del, held
            FROM (SELECT *, {case} AS policy, {held} AS held FROM hot_events)
            WHERE ts IS NOT NULL AND ({archive_due} OR {delete_due}) ORDER BY seq""", q.params)
    for r in rows:
        if r["del"] and not r["held"]:
            result.delete_hot.append(int(r["seq"]))
        else:
            result.held += int(bool(r["del"] and r["held"]))
            result.archive.setdefault(r["part"], []).append(int(r["seq"]))
    segments = store.run_query("SELECT id, path FROM archive_segments WHERE deleted_at IS NULL", [])
    for seg in segments:
        q2 = Sql()
        case2, held2 = _policy_case(cfg, q2), _held(cfg, q2)
        delete2 = _due(cfg, q2, now, "delete")
        path = seg["path"].replace("'", "''")
        counts = store.run_query(
            f"""SELECT count(*) AS n, count(*) FILTER (WHERE {delete2} AND NOT held) AS due
                FROM (SELECT *, {case2} AS policy, {held2} AS held FROM read_parquet('{path}'))""", q2.params)
        if counts and counts[0]["n"] and counts[0]["n"] == counts[0]["due"]:
            result.delete_segments.append(int(seg["id"]))
    return result


@dataclass
class ApplyResult:
    archived: int = 0
    segments: list[str] = field(default_factory=list)
    deleted: int = 0
    receipts: list[int] = field(default_factory=list)
    held: int = 0
    orphans_removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # files of an older layout given their `_` names


def archive_dir_of(store: Store, configured: Path | None) -> Path:
    return configured or store.path.with_name(store.path.name + ".archive")


def apply(store: Store, cfg: RetentionConfig, key: SigningKey, archive_dir: Path, now: datetime) -> ApplyResult:
    result = ApplyResult(orphans_removed=remove_orphans(store, archive_dir), renamed=engine_safe_layout(archive_dir))
    todo = plan(store, cfg, now)
    result.held = todo.held
    for partition, seqs in sorted(todo.archive.items()):
        result.segments.append(archive_segment(store, key, archive_dir, partition, seqs, now))
        result.archived += len(seqs)
    if todo.delete_hot:
        result.receipts.append(delete_hot(store, key, archive_dir, todo.delete_hot, now))
        result.deleted += len(todo.delete_hot)
    for seg_id in todo.delete_segments:
        rid, count = delete_segment(store, key, archive_dir, seg_id, now)
        result.receipts.append(rid)
        result.deleted += count
    store.define_log_views()
    return result


def manifest_path(parquet: Path) -> Path:
    """Where a segment's signed manifest goes: beside it, named with a leading `_`, which Spark,
    Hive, Trino and Athena skip when they read the folder as Parquet (archives before this
    named it `seg-....json`; `legacy_manifest_path`)."""
    return parquet.with_name("_" + parquet.with_suffix(".json").name)


def legacy_manifest_path(parquet: Path) -> Path:
    return parquet.with_suffix(".json")


RECEIPTS_FILE = "_deletion-receipts.jsonl"  # once `deletion-receipts.jsonl`: engines took it for data


def engine_safe_layout(archive_dir: Path) -> list[str]:
    """Rename what older versions wrote among the data files (manifests `seg-*.json`, the
    receipts file) to their `_` names, so other engines read the folder. What was renamed."""
    renamed: list[str] = []
    if not archive_dir.exists():
        return renamed
    moves = [(old, old.with_name("_" + old.name)) for old in archive_dir.rglob("seg-*.json")]
    moves.append((archive_dir / "deletion-receipts.jsonl", archive_dir / RECEIPTS_FILE))
    for old, new in moves:
        if not old.exists():
            continue
        if new.exists():  # both: the receipts were appended to twice; keep every line
            with new.open("a") as out:
                out.write(old.read_text())
            old.unlink()
        else:
            os.replace(old, new)
        renamed.append(f"{old} -> {new.name}")
    return renamed


def remove_orphans(store: Store, archive_dir: Path) -> list[str]:
    """Segment files a crash left behind before they were recorded: their rows are still hot."""
    known = set(store.archive_files())
    removed = []
    if archive_dir.exists():
        for f in [*archive_dir.rglob("seg-*"), *archive_dir.rglob("_seg-*.json")]:
            parquet = str(f.with_name(f.name.removeprefix("_")).with_suffix(".parquet")) if f.suffix == ".json" else str(f)
            if parquet not in known or f.name.startswith(".tmp"):
                f.unlink()
                removed.append(str(f))
    return removed


def _leaves(store: Store, relation: str, params: list[Any]) -> list[tuple[int, bytes]]:
    rows = store.run_query(f"SELECT seq, unhex({leaf_sql()}) AS h FROM {relation} ORDER BY seq", params)
    return [(int(r["seq"]), bytes(r["h"])) for r in rows]


def archive_segment(store: Store, key: SigningKey, archive_dir: Path, partition: str, seqs: list[int],
                    now: datetime) -> str:
    target_dir = archive_dir / partition
    target_dir.mkdir(parents=True, exist_ok=True, mode=ARCHIVE_DIR_MODE)
    seg_id = store.next_segment_id()
    final = target_dir / f"seg-{seqs[0]}-{seqs[-1]}-{seg_id}.parquet"
    tmp = target_dir / f".tmp-{final.name}"
    store.copy_events_to_parquet(seqs, tmp)
    os.chmod(tmp, ARCHIVE_FILE_MODE & ~current_umask())  # DuckDB creates it 0666 less the umask
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    hot = _leaves(store, "hot_events WHERE seq IN (SELECT unnest(CAST($1 AS BIGINT[])))", [seqs])
    cold = _leaves(store, f"read_parquet('{str(final).replace(chr(39), chr(39) * 2)}')", [])
    if hot != cold:
        final.unlink()
        raise RuntimeError(f"archive segment {final} does not read back as written; nothing was moved")
    sha = hashlib.sha256(final.read_bytes()).hexdigest()
    stats = store.run_query("SELECT min(ts) AS lo, max(ts) AS hi FROM hot_events WHERE seq IN "
                            "(SELECT unnest(CAST($1 AS BIGINT[])))", [seqs])[0]
    manifest = {"origin": origin_of(store), "segment": seg_id, "file": final.name, "partition": partition,
                "seq_min": seqs[0], "seq_max": seqs[-1], "rows": len(seqs),
                "ts_min": stats["lo"].isoformat(), "ts_max": stats["hi"].isoformat(), "sha256": sha,
                "leaves_root": mth([h for _, h in cold]).hex(), "created_at": now.isoformat()}
    note = key.sign_note(json.dumps(manifest, sort_keys=True) + "\n")
    atomic_write_text(manifest_path(final), note, mode=ARCHIVE_FILE_MODE)
    with store.transaction():
        store.add_segment(seg_id, str(final), partition, manifest, final.stat().st_size, note, now)
        store.delete_events(seqs)
    return str(final)


def _ranges(seqs: list[int]) -> str:
    out, start, prev = [], seqs[0], seqs[0]
    for s in seqs[1:]:
        if s != prev + 1:
            out.append(f"{start}-{prev}" if start != prev else str(start))
            start = s
        prev = s
    out.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(out)


def _receipt(store: Store, key: SigningKey, archive_dir: Path, leaves: list[tuple[int, bytes]], policy: str,
             now: datetime) -> tuple[int, str]:
    seqs = [s for s, _ in leaves]
    ranges, root = _ranges(seqs), mth([h for _, h in leaves]).hex()
    body = {"origin": origin_of(store), "deleted_at": now.isoformat(), "policy": policy, "events": len(seqs),
            "seq_ranges": ranges, "leaves_root": root}
    note = key.sign_note(json.dumps(body, sort_keys=True) + "\n")
    rid = store.add_receipt(now, policy, len(seqs), ranges, root, note)
    archive_dir.mkdir(parents=True, exist_ok=True, mode=ARCHIVE_DIR_MODE)
    fd = os.open(archive_dir / RECEIPTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, ARCHIVE_FILE_MODE)
    with os.fdopen(fd, "a") as f:
        f.write(json.dumps({"id": rid, "note": note}) + "\n")
    return rid, note


def delete_hot(store: Store, key: SigningKey, archive_dir: Path, seqs: list[int], now: datetime) -> int:
    leaves = _leaves(store, "hot_events WHERE seq IN (SELECT unnest(CAST($1 AS BIGINT[])))", [seqs])
    with store.transaction():
        rid, _ = _receipt(store, key, archive_dir, leaves, "delete_after", now)
        store.add_tombstones(leaves, rid)
        store.delete_events(seqs)
    return rid


def delete_segment(store: Store, key: SigningKey, archive_dir: Path, seg_id: int, now: datetime) -> tuple[int, int]:
    path = store.segment_path(seg_id)
    leaves = _leaves(store, f"(SELECT {store.parquet_select([path])})", [])
    with store.transaction():
        rid, _ = _receipt(store, key, archive_dir, leaves, f"delete_after (segment {seg_id})", now)
        store.add_tombstones(leaves, rid)
        store.mark_segment_deleted(seg_id, now)
    for f in (Path(path), manifest_path(Path(path)), legacy_manifest_path(Path(path))):
        f.unlink(missing_ok=True)
    return rid, len(leaves)


def status(store: Store) -> dict[str, Any]:
    s = store.storage_stats()
    raw = s["raw_bytes"] or 0
    stored = (s["db_bytes"] or 0) + (s["archive_bytes"] or 0)
    return {**s, "compression_ratio": round(stored / raw, 3) if raw else None,
            "oldest_hot": s["oldest_hot"].isoformat() if s.get("oldest_hot") else None,
            "newest_archived": s["newest_archived"].isoformat() if s.get("newest_archived") else None}


def now_utc() -> datetime:
    return datetime.now(UTC)
