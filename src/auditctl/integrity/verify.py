"""Tamper evidence: signed Merkle checkpoints over the event log, and their verification.

Every event is a leaf of an RFC 6962 Merkle tree in `seq` order (see `auditctl.integrity.merkle` for the
exact encoding). After each ingest a checkpoint is signed with an Ed25519 key kept outside the
database, and it is stored twice: in the database and appended to a checkpoint file beside it.
The first 4 bytes of every leaf hash are kept too (`digests`), so that a changed, moved,
inserted or deleted event can be named, not only detected.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from auditctl.errors import AuditctlError
from auditctl.integrity.merkle import Frontier, node_hash, perfect_subtrees
from auditctl.integrity.signing import SignatureError, SigningKey, VerifierKey, parse_note
from auditctl.store import Store

ORIGIN_PREFIX = "auditctl/"
MAX_NAMED = 1000  # problems named one by one; more are summarized
MOVE_PAIRS = 50  # changed events also tried at each other's seqs (swaps): pairs grow with its square


@dataclass(frozen=True)
class Checkpoint:
    id: int
    tree_size: int
    root: str  # hex
    created_at: datetime
    origin: str
    key_name: str
    key_id: str
    note: str
    # (first, last) seq this signing took over from an earlier run that stored them unsigned
    adopted: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat()
        d["adopted"] = list(self.adopted) if self.adopted else None
        return d


def checkpoint_body(origin: str, size: int, root: bytes, when: datetime,
                    adopted: tuple[int, int] | None = None) -> str:
    """The C2SP tlog-checkpoint body: origin, tree size, base64 root, then our extension lines:
    the time, and `adopted A..B` when seq A..B were stored by an earlier run that did not sign."""
    body = (f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
            f"time {when.astimezone(UTC).isoformat(timespec='seconds')}\n")
    return body + (f"adopted {adopted[0]}..{adopted[1]}\n" if adopted else "")


@dataclass(frozen=True)
class NoteClaim:
    """What a signed checkpoint note says."""

    origin: str
    tree_size: int
    root: bytes
    time: str | None
    adopted: tuple[int, int] | None = None


def read_claim(body: str) -> NoteClaim:
    lines = body.splitlines()
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError) as exc:
        raise SignatureError(f"not a checkpoint note: {exc}") from None
    when = next((ln[5:] for ln in lines[3:] if ln.startswith("time ")), None)
    adopted = next((ln[8:] for ln in lines[3:] if ln.startswith("adopted ")), None)
    first, _, last = (adopted or "").partition("..")
    span = (int(first), int(last)) if first.isdigit() and last.isdigit() else None
    return NoteClaim(origin, size, root, when, span)


def origin_of(store: Store) -> str:
    db_id = store.meta("db_id")
    if not db_id:
        raise AuditctlError(f"{store.path} has no database id: it predates integrity support")
    return ORIGIN_PREFIX + db_id


# -- making checkpoints -----------------------------------------------------------------------

def _fold(store: Store, leaves: str, frontier: Frontier, count: int) -> Frontier:
    """Append `count` leaves (temp table `leaves`) to the tree whose right edge is `frontier`."""
    total = frontier.size + count
    hashes: dict[int, bytes] = {}
    level, source = 0, leaves
    temps = []
    while total >> level:
        if level in frontier.hashes:
            store.add_node(source, (frontier.size >> level) - 1, frontier.hashes[level])
        if total >> level & 1:
            index = (total >> level) - 1
            hashes[level] = store.nodes(source, [index])[index]
        target = f"_fold_{level + 1}"
        store.pair_level(source, target)
        temps.append(target)
        source, level = target, level + 1
    store.drop_temp(*temps)
    return Frontier(total, hashes)


FOLD_CHUNK = 1 << 20  # leaves hashed and folded per step when signing


def make_checkpoint(store: Store, key: SigningKey, checkpoint_file: Path | None, *,
                    adopted_upto: int = 0) -> tuple[Checkpoint, bool]:
    """Sign a checkpoint covering every stored event. Returns (checkpoint, whether it is new).

    `adopted_upto`: the last seq this caller did not write itself (the log's end before it
    wrote, or all of it for a caller that writes nothing). Unsigned events up to there were
    left by an earlier run; the checkpoint says so in its signed note (`Checkpoint.adopted`).
    Refuses to sign over a log whose `seq` has gaps or duplicates: run `auditctl verify`.
    """
    origin = origin_of(store)
    frontier = Frontier.from_json(json.loads(store.meta("frontier") or '{"size": 0, "hashes": {}}'))
    adopted = (frontier.size + 1, adopted_upto) if adopted_upto > frontier.size else None
    count, max_seq = store.event_count_and_max_seq()
    latest = latest_checkpoint(store)
    if max_seq == frontier.size and latest is not None and latest.tree_size == max_seq:
        return latest, False
    if count != max_seq or store.distinct_seqs() != count:
        raise AuditctlError(f"cannot sign: {store.path} has {count} events but seq reaches {max_seq} "
                            "or repeats: run `auditctl verify` to see what changed")
    store.default_settings()
    with store.transaction(), store.bounded_memory():
        # a chunk at a time, so memory stays flat however many events arrived
        for lo in range(frontier.size, max_seq, FOLD_CHUNK):
            hi = min(lo + FOLD_CHUNK, max_seq)
            added = store.leaves_table("_new_leaves", lo, hi, contiguous=True)
            if added != hi - lo:
                raise AuditctlError("cannot sign: the events after the last checkpoint are not contiguous")
            store.save_digests("_new_leaves")
            frontier = _fold(store, "_new_leaves", frontier, added)
            store.drop_temp("_new_leaves")
        now = datetime.now(UTC)
        root = frontier.root()
        note = key.sign_note(checkpoint_body(origin, frontier.size, root, now, adopted))
        verifier = key.verifier
        cid = store.add_checkpoint(frontier.size, root.hex(), now, origin, verifier.name, verifier.id.hex(), note)
        store.set_meta("frontier", json.dumps(frontier.to_json()))
    cp = Checkpoint(cid, frontier.size, root.hex(), now, origin, verifier.name, verifier.id.hex(), note, adopted)
    if checkpoint_file is not None:
        append_checkpoint_file(checkpoint_file, cp)
    return cp, True


def append_checkpoint_file(path: Path, cp: Checkpoint) -> None:
    """Append one JSON line; the file is the copy of the checkpoints that lives outside the DB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(cp.to_json(), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint_file(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"unreadable": True, "line": number})
    return out


def latest_checkpoint(store: Store) -> Checkpoint | None:
    rows = store.checkpoints()
    return _checkpoint(rows[-1]) if rows else None


def _checkpoint(row: dict[str, Any]) -> Checkpoint:
    return Checkpoint(int(row["id"]), int(row["tree_size"]), row["root"], row["created_at"], row["origin"],
                      row["key_name"], row["key_id"], row["note"])


# -- verifying --------------------------------------------------------------------------------

@dataclass
class Problem:
    kind: str
    message: str
    seq: int | None = None
    ts: datetime | None = None
    source: str | None = None
    line: int | None = None
    origin: str | None = None
    checkpoint: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ts"] = self.ts.isoformat() if self.ts else None
        return d


@dataclass
class VerifyReport:
    events: int = 0
    checkpoints_checked: int = 0
    covered: int = 0  # events covered by a valid signed checkpoint
    latest: Checkpoint | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth knowing that are not tampering
    seconds: float = 0.0

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact, "events": self.events, "checkpoints_checked": self.checkpoints_checked,
            "covered": self.covered, "seconds": round(self.seconds, 3),
            "latest_checkpoint": self.latest.to_json() if self.latest else None,
            "problems": [p.to_json() for p in self.problems], "notes": self.notes,
        }


def _locate(store: Store, kind: str, message: str, seq: int, **extra: Any) -> Problem:
    return _located(store.event_locators([seq]), kind, message, seq, **extra)


def _located(where: dict[int, dict[str, Any]], kind: str, message: str, seq: int, **extra: Any) -> Problem:
    loc = where.get(seq) or {}
    return Problem(kind, message, seq=seq, ts=loc.get("ts"), source=loc.get("source"), line=loc.get("line"),
                   origin=loc.get("origin"), **extra)


class Verifier:
    def __init__(self, store: Store, key: VerifierKey, checkpoint_file: Path | None) -> None:
        self.store = store
        self.key = key
        self.checkpoint_file = checkpoint_file
        self.report = VerifyReport()

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        origin = origin_of(self.store)
        damaged = self._check_archive()
        if damaged:
            self.store.define_log_views(exclude=damaged)  # their events count as missing below
        count, max_seq = self.store.event_count_and_max_seq()
        self.report.events = count
        checkpoints = self._checked_checkpoints(origin)
        contiguous = self._check_seq_structure()
        with self.store.bounded_memory():
            n, roots, bad = self._recompute(checkpoints, max_seq, contiguous)
            self._check_digests(bad)
            self._check_roots(checkpoints, n, roots, max_seq)
        self._check_receipts()
        self.store.drop_temp("_v_leaves", *[f"_v_level_{k}" for k in range(1, 64)])
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _problem(self, problem: Problem) -> None:
        self.report.problems.append(problem)

    # signatures and the two copies of the checkpoints
    def _checked_checkpoints(self, origin: str) -> list[tuple[int, NoteClaim]]:
        valid: list[tuple[int, NoteClaim]] = []
        db_rows = self.store.checkpoints()
        db_notes = {row["note"] for row in db_rows}
        for row in db_rows:
            claim = self._check_note(row["note"], origin, f"checkpoint #{row['id']}", row["id"])
            if claim is not None:
                if claim.tree_size != row["tree_size"] or claim.root.hex() != row["root"]:
                    self._problem(Problem("checkpoint_altered", f"checkpoint #{row['id']}: the stored size/root "
                                          "differ from what its signed note says", checkpoint=row["id"]))
                valid.append((row["id"], claim))
                if claim.adopted:
                    first, last = claim.adopted
                    self.report.notes.append(
                        f"checkpoint #{row['id']} signed seq {first}..{last} ({last - first + 1} events) stored by "
                        "an earlier run that did not sign them (it stopped before signing): they are covered "
                        "from then on, but nothing proves they were unchanged before")
        if self.checkpoint_file is not None:
            for entry in read_checkpoint_file(self.checkpoint_file):
                if entry.get("unreadable"):
                    self._problem(Problem("checkpoint_file", f"{self.checkpoint_file} line {entry['line']} "
                                          "is not a checkpoint record"))
                    continue
                if entry.get("note") in db_notes:
                    continue
                claim = self._check_note(entry.get("note", ""), origin,
                                         f"checkpoint #{entry.get('id')} in {self.checkpoint_file}", entry.get("id"))
                if claim is not None:
                    self._problem(Problem(
                        "checkpoint_missing", f"checkpoint #{entry.get('id')} (tree size {claim.tree_size}) is in "
                        f"{self.checkpoint_file} but not in the database: checkpoints were deleted or the "
                        "database was replaced", checkpoint=entry.get("id")))
                    valid.append((entry.get("id") or 0, claim))
        self.report.checkpoints_checked = len(valid)
        latest = latest_checkpoint(self.store)
        self.report.latest = latest
        return sorted(valid, key=lambda pair: pair[1].tree_size)

    def _check_note(self, note: str, origin: str, what: str, cid: int | None) -> NoteClaim | None:
        try:
            parsed = parse_note(note)
            claim = read_claim(parsed.body)
        except SignatureError as exc:
            self._problem(Problem("checkpoint_unreadable", f"{what}: {exc}", checkpoint=cid))
            return None
        if not parsed.verify(self.key):
            signers = ", ".join(parsed.signer_ids())
            self._problem(Problem(
                "bad_signature", f"{what}: not validly signed by {self.key.name}+{self.key.id.hex()} "
                f"(signed by {signers}): re-signed with another key, or forged", checkpoint=cid))
            return None
        if claim.origin != origin:
            self._problem(Problem(
                "wrong_log", f"{what} is for log {claim.origin}, this database is {origin}: the database "
                "was rebuilt or replaced", checkpoint=cid))
            return None
        return claim

    # seq must be 1..n without gaps or repeats
    def _check_seq_structure(self) -> bool:
        """Report gaps and repeats in seq; True when there are none."""
        gaps, dups = self.store.seq_problems()
        gaps, dups = gaps[:MAX_NAMED], dups[:MAX_NAMED]
        where = self.store.event_locators([after or before for after, before in gaps] + [seq for seq, _ in dups])
        for after, before in gaps:
            missing = f"seq {after + 1}" if before - after == 2 else f"seq {after + 1}..{before - 1}"
            message = (f"{missing} missing (deleted) after the event at seq {after}" if after
                       else f"{missing} missing (deleted) before seq {before}")
            self._problem(_located(where, "deleted", message, after or before))
        for seq, times in dups:
            self._problem(_located(where, "inserted", f"{times} events share seq {seq}: an event was inserted", seq))
        return not gaps and not dups

    # every leaf recomputed from the events: the roots at the checkpoints' sizes, and the
    # events whose leaf no longer matches its stored digest
    def _recompute(self, checkpoints: list[tuple[int, NoteClaim]], max_seq: int,
                   contiguous: bool) -> tuple[int, dict[int, bytes], list[dict[str, Any]]]:
        sizes = {c.tree_size for _, c in checkpoints if c.tree_size <= max_seq}
        if not contiguous:  # a damaged log: positions are not seq - 1, so hash it as one piece
            n = self.store.leaves_table("_v_leaves", 0, max_seq)
            bad = self.store.digest_mismatches("_v_leaves", MAX_NAMED + 1, 0, max_seq)
            levels = self._levels(n)
            return n, {size: self._root(levels, size) for size in sizes if size <= n}, bad
        # intact shape: a slice at a time, folded like signing does, so memory stays flat and
        # no join or aggregate spans the whole log (10M events: 32 s -> 21 s under the memory cap)
        bounds = sorted(set(range(0, max_seq, FOLD_CHUNK)) | sizes | {max_seq})
        frontier, roots, bad = Frontier(0, {}), {0: hashlib.sha256(b"").digest()}, []
        for lo, hi in itertools.pairwise(bounds):
            added = self.store.leaves_table("_v_leaves", lo, hi, contiguous=True)
            if len(bad) <= MAX_NAMED:
                bad += self.store.digest_mismatches("_v_leaves", MAX_NAMED + 1 - len(bad), lo, hi)
            frontier = _fold(self.store, "_v_leaves", frontier, added)
            roots[hi] = frontier.root()
        return max_seq, roots, bad

    # each event against its stored digest: names changed, moved, inserted events
    def _check_digests(self, bad: list[dict[str, Any]]) -> None:
        covered_upto = max((c.tree_size for c in [self.report.latest] if c), default=0)
        mismatched = [m for m in bad if m["stored"] is not None]
        undigested = [m for m in bad if m["stored"] is None]
        moved = self._moves([m["seq"] for m in bad])  # an undigested event may be a signed one pushed past the end
        for m in mismatched[:MAX_NAMED]:
            seq = m["seq"]
            if seq in moved:
                self._problem(self._from(m, "moved", moved[seq]))
            else:
                self._problem(self._from(m, "modified", f"event at seq {seq} was modified after it was signed "
                                         "(its content no longer matches its leaf hash)"))
        for m in undigested[:MAX_NAMED]:
            if m["seq"] in moved:
                self._problem(self._from(m, "moved", moved[m["seq"]]))
            elif m["seq"] <= covered_upto:
                self._problem(self._from(m, "inserted", f"event at seq {m['seq']} has no recorded hash although "
                                         "a signed checkpoint covers it: inserted"))
        named = {p.seq for p in self.report.problems if p.kind == "deleted"}
        for seq in self.store.digests_without_events(MAX_NAMED):
            if seq - 1 not in named and seq + 1 not in named:
                self._problem(Problem("deleted", f"the event at seq {seq} was deleted (its hash is recorded)", seq=seq))
        if len(bad) > MAX_NAMED:
            self._problem(Problem("many", f"more than {MAX_NAMED} events differ; only the first are named"))

    def _moves(self, seqs: list[int]) -> dict[int, str]:
        """For changed events, whether each is an intact event that now sits at another seq.

        Every changed event is tried at its neighbours' seqs (an insert or delete shifted it);
        the first MOVE_PAIRS are also tried at each other's (swaps). All pairs go to the store in
        one query, so the cost does not grow with the damage in round trips."""
        swappable = seqs[:MOVE_PAIRS]
        tries = {seq: [*(o for o in swappable if o != seq), seq - 1, seq + 1] if seq in swappable
                 else [seq - 1, seq + 1] for seq in seqs}
        pairs = {(seq, other) for seq, others in tries.items() for other in others}
        pairs |= {(other, seq) for seq in swappable for other in swappable if other != seq}
        matches = self.store.digest_with_seq(sorted(pairs))
        moves: dict[int, str] = {}
        for seq, others in tries.items():
            other = next((o for o in others if (seq, o) in matches), None)
            if other is None:
                continue
            how = (f"swapped with seq {other}" if (other, seq) in matches else
                   f"moved here from seq {other}: an event was inserted or deleted before it")
            moves[seq] = f"event at seq {seq} is the event signed as seq {other}: {how}"
        return moves

    def _from(self, m: dict[str, Any], kind: str, message: str) -> Problem:
        return Problem(kind, message, seq=m["seq"], ts=m["ts"], source=m["source"], line=m["line"], origin=m["origin"])

    # the signed roots against the tree recomputed from the events
    def _check_roots(self, checkpoints: list[tuple[int, NoteClaim]], n: int, roots: dict[int, bytes],
                     max_seq: int) -> None:
        """`n` leaves were hashed; the log ends at `max_seq`. They differ when events inside the
        log were deleted or inserted: those are named already, and only seqs past the end were
        truncated (a checkpoint that needs missing leaves is a root mismatch)."""
        ok_upto = 0
        for cid, claim in checkpoints:
            if claim.tree_size > max_seq:
                self._problem(Problem(
                    "truncated", f"checkpoint #{cid} covers {claim.tree_size} events but the log ends at seq "
                    f"{max_seq}: seq {max_seq + 1}..{claim.tree_size} were removed", seq=max_seq + 1, checkpoint=cid))
                continue
            if roots.get(claim.tree_size) == claim.root:
                ok_upto = max(ok_upto, claim.tree_size)
            else:
                self._problem(Problem(
                    "root_mismatch", f"checkpoint #{cid} (tree size {claim.tree_size}) does not match the events: "
                    f"something in seq {ok_upto + 1}..{claim.tree_size} changed since it was signed",
                    checkpoint=cid))
        self.report.covered = ok_upto
        signed_upto = max((c.tree_size for _, c in checkpoints), default=0)
        if max_seq > signed_upto:
            self._problem(_locate(
                self.store, "uncovered", f"seq {signed_upto + 1}..{max_seq} ({max_seq - signed_upto} events) are not covered "
                "by any signed checkpoint: appended without the key, or an ingest stopped before signing "
                "(run `auditctl checkpoint` if you trust them)", signed_upto + 1))

    # archived segments and deletion receipts
    def _check_archive(self) -> list[str]:
        """Check every archived segment; return the files that cannot be trusted."""
        damaged: list[str] = []
        for seg in self.store.segments():
            if seg["deleted_at"] is not None:
                continue
            path, what = Path(seg["path"]), f"archive segment {seg['id']} ({seg['path']})"
            try:
                manifest = json.loads(self._signed_body(seg["manifest"], what))
            except (SignatureError, json.JSONDecodeError):
                continue
            if (manifest["sha256"], manifest["leaves_root"]) != (seg["sha256"], seg["root"]):
                self._problem(Problem("archive_altered", f"{what}: its record differs from its signed manifest"))
            if not path.exists():
                self._problem(Problem("archive_missing", f"{what} is missing: seq {seg['seq_min']}..{seg['seq_max']} "
                                      f"({seg['rows']} events) cannot be read", seq=seg["seq_min"]))
            elif _file_sha256(path) != manifest["sha256"]:
                self._problem(Problem("archive_modified", f"{what}: the file changed since it was archived "
                                      "(SHA-256 differs from its signed manifest)", seq=seg["seq_min"]))
                if not self.store.parquet_readable(str(path)):
                    damaged.append(str(path))
        return damaged

    def _check_receipts(self) -> None:
        for r in self.store.receipts():
            what = f"deletion receipt #{r['id']}"
            try:
                body = json.loads(self._signed_body(r["note"], what))
            except (SignatureError, json.JSONDecodeError):
                continue
            leaves = self.store.tombstone_leaves(r["id"])
            from auditctl.integrity.merkle import mth
            if mth([h for _, h in leaves]).hex() != body["leaves_root"] or len(leaves) != body["events"]:
                self._problem(Problem("receipt_mismatch", f"{what}: the kept hashes of the deleted events "
                                      "do not match the signed receipt"))

    def _signed_body(self, note: str, what: str) -> str:
        try:
            parsed = parse_note(note)
        except SignatureError as exc:
            self._problem(Problem("bad_signature", f"{what}: {exc}"))
            raise
        if not parsed.verify(self.key):
            self._problem(Problem("bad_signature", f"{what}: not validly signed by {self.key.name}+{self.key.id.hex()} "
                                  f"(signed by {', '.join(parsed.signer_ids())})"))
            raise SignatureError("bad signature")
        return parsed.body

    def _levels(self, n: int) -> list[str]:
        tables = ["_v_leaves"]
        level = 0
        while n >> (level + 1):
            target = f"_v_level_{level + 1}"
            self.store.pair_level(tables[-1], target)
            tables.append(target)
            level += 1
        return tables

    def _root(self, levels: list[str], size: int) -> bytes:
        parts = perfect_subtrees(size)
        if not parts:
            return hashlib.sha256(b"").digest()
        hashes = []
        for level, index in parts:
            found = self.store.nodes(levels[level], [index])
            if index not in found:
                return b""
            hashes.append(found[index])
        root = hashes[-1]
        for h in reversed(hashes[:-1]):
            root = node_hash(h, root)
        return root


def verify(store: Store, key: VerifierKey, checkpoint_file: Path | None) -> VerifyReport:
    return Verifier(store, key, checkpoint_file).run()


@dataclass(frozen=True)
class ConsistencyResult:
    consistent: bool
    message: str
    claim: NoteClaim | None
    current_size: int

    def to_json(self) -> dict[str, Any]:
        claim = None
        if self.claim:
            claim = {"origin": self.claim.origin, "tree_size": self.claim.tree_size,
                     "root": self.claim.root.hex(), "time": self.claim.time}
        return {"consistent": self.consistent, "message": self.message, "checkpoint": claim,
                "current_size": self.current_size}


def verify_against(store: Store, key: VerifierKey, exported: str) -> ConsistencyResult:
    """Is today's log an append-only extension of an older exported checkpoint?"""
    text = exported.strip() + "\n"
    if text.lstrip().startswith("{"):
        try:
            text = json.loads(text)["note"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise AuditctlError("the checkpoint file is JSON but has no `note`") from None
    note = parse_note(text)
    claim = read_claim(note.body)
    count, max_seq = store.event_count_and_max_seq()
    if not note.verify(key):
        return ConsistencyResult(False, f"the checkpoint is not validly signed by {key.name}+{key.id.hex()} "
                                 f"(signed by {', '.join(note.signer_ids())})", claim, count)
    origin = origin_of(store)
    if claim.origin != origin:
        return ConsistencyResult(False, f"the checkpoint is for log {claim.origin}; this database is {origin}",
                                 claim, count)
    if claim.tree_size > count:
        return ConsistencyResult(False, f"the checkpoint covers {claim.tree_size} events but the log has only "
                                 f"{count}: history was truncated", claim, count)
    v = Verifier(store, key, None)
    n = store.leaves_table("_v_leaves", 0, max_seq)
    root = v._root(v._levels(n), claim.tree_size)
    store.drop_temp("_v_leaves", *[f"_v_level_{k}" for k in range(1, 64)])
    if root != claim.root:
        return ConsistencyResult(False, f"the first {claim.tree_size} events no longer hash to the checkpoint's "
                                 "root: history was rewritten", claim, count)
    return ConsistencyResult(True, f"the log ({count} events) is an append-only extension of the checkpoint "
                             f"({claim.tree_size} events, signed {claim.time})", claim, count)


# -- the original files ---------------------------------------------------------------------

@dataclass(frozen=True)
class SourceStatus:
    path: str
    status: str  # unchanged | grown | modified | missing | truncated
    detail: str

    @property
    def bad(self) -> bool:
        return self.status in ("modified", "truncated")


def verify_sources(store: Store) -> list[SourceStatus]:
    """Re-hash the ingested files still on disk against the SHA-256 recorded at ingest."""
    out = []
    for rec in store.files():
        path = Path(rec.path)
        if not path.exists():
            out.append(SourceStatus(rec.path, "missing", "no longer on disk (rotated away or deleted)"))
            continue
        size = path.stat().st_size
        if size < rec.size:
            out.append(SourceStatus(rec.path, "truncated", f"{size} bytes now, {rec.size} at ingest"))
            continue
        digest = _sha256_prefix(path, rec.size)
        if digest != rec.sha256:
            out.append(SourceStatus(rec.path, "modified", "the bytes ingested have changed since"))
        elif size > rec.size:
            out.append(SourceStatus(rec.path, "grown", f"first {rec.size} bytes unchanged, {size - rec.size} appended"))
        else:
            out.append(SourceStatus(rec.path, "unchanged", f"sha256 {rec.sha256[:16]}…"))
    return out


def _file_sha256(path: Path) -> str:
    return _sha256_prefix(path, path.stat().st_size)


def _sha256_prefix(path: Path, length: int) -> str:
    h = hashlib.sha256()
    remaining = length
    with path.open("rb") as f:
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            remaining -= len(chunk)
    return h.hexdigest()


# -- sealed fields (admins) --------------------------------------------------------------------

MAX_SEALED_PROBLEMS = 20


class TokenKey(Protocol):
    """The sealing key, as verify uses it (`auditctl.access.sealing.SealingKey`)."""

    def token(self, value: str) -> str: ...


def verify_sealed(store: Store, key: TokenKey) -> tuple[int, list[Problem]]:
    """Check the sealed store against the signed tokens: every token has its plaintext, every
    plaintext hashes to its token, and no plaintext is left for an event that is gone.
    Returns (values checked, problems). Needs the sealed store attached and the sealing key."""
    checked = 0
    problems: list[Problem] = []
    for column, rows in store.sealed_pairs():
        for seq, stored, plain in rows:
            checked += 1
            if len(problems) >= MAX_SEALED_PROBLEMS:
                continue
            if plain is None:
                problems.append(_locate(store, "sealed_missing", f"seq {seq}: {column} is sealed but its plaintext "
                                        "is missing from the sealed store", seq))
            elif stored != key.token(plain):
                problems.append(_locate(store, "sealed_mismatch", f"seq {seq}: the sealed store's {column} does not "
                                        "match the signed token (the plaintext was altered or swapped)", seq))
    for seq in store.sealed_orphans():
        if len(problems) < MAX_SEALED_PROBLEMS:
            problems.append(Problem("sealed_orphan", f"seq {seq}: the sealed store holds plaintext for an event "
                                    "that is not in the log", seq=seq))
    return checked, problems
