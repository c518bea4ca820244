"""Sealing sensitive fields: keyed tokens in the shared store, plaintext in an admin-only store.

At ingest, every event matching an `access.sensitive` entry has the listed fields replaced by
`sealed:<keyed BLAKE2b of the value>` before it is stored, hashed into the Merkle tree and
archived. The plaintext goes to a second DuckDB file, `<db>.sealed` (mode 0600), keyed by seq.

- Anyone who can read the main database or the archive sees tokens only. The key is needed
  to compute a token, so low-entropy values (IPs, user names) cannot be guessed from them.
- Equal values have equal tokens: rules group and count by sealed fields without the key,
  and reports computed over tokens are revealed value for value when an admin reads them.
- A token is a MAC of its plaintext, so the Merkle tree also commits to the sealed values:
  `verify`, run by an admin, checks every sealed value against its token.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from auditctl.errors import AuditctlError
from auditctl.files import atomic_write_text
from auditctl.roles import AccessDenied, Sensitive
from auditctl.schema import SEALABLE_FIELDS
from auditctl.store.connection import retry_locked
from auditctl.where import Sql, where_sql

TOKEN_PREFIX = "sealed:"
TOKEN_RE = re.compile(r"sealed:[0-9a-f]{32}")
KEY_BYTES = 32

SEALED_DDL = ("CREATE TABLE IF NOT EXISTS sealed (seq BIGINT, "
              + ", ".join(f"{f} VARCHAR" for f in SEALABLE_FIELDS) + ")")


class SealingKey:
    """The secret behind the tokens. Whoever holds it can recompute tokens; keep it admin-only."""

    def __init__(self, secret: bytes) -> None:
        self._mac = hashlib.blake2b(key=secret, digest_size=16, person=b"auditctl-seal")

    def token(self, value: str) -> str:
        mac = self._mac.copy()
        mac.update(value.encode("utf-8", "surrogatepass"))
        return TOKEN_PREFIX + mac.hexdigest()

    def tokens(self, values: Iterable[str]) -> list[str]:
        base, prefix = self._mac, TOKEN_PREFIX
        out = []
        for value in values:
            mac = base.copy()
            mac.update(value.encode("utf-8", "surrogatepass"))
            out.append(prefix + mac.hexdigest())
        return out


def load_sealing_key(path: Path, *, create: bool) -> tuple[SealingKey, bool]:
    """(key, created). Creating happens once, by an admin's first ingest, with mode 0600."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise AccessDenied(f"no sealing key at {path}: sensitive fields can only be shown or written by an "
                               "admin on the machine that ingests") from None
        secret = secrets.token_bytes(KEY_BYTES)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, secret.hex() + "\n", mode=0o600)
        return SealingKey(secret), True
    except PermissionError:
        raise AccessDenied(f"cannot read the sealing key {path}: permission denied (admins only)") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise AuditctlError(f"{path}: not a sealing key (expected {KEY_BYTES * 2} hex digits)") from None
    if len(secret) != KEY_BYTES:
        raise AuditctlError(f"{path}: not a sealing key (expected {KEY_BYTES * 2} hex digits)")
    return SealingKey(secret), False


def token_as_stored(column: str, token: str) -> str:
    """attrs is a JSON column: its token is stored as a JSON string."""
    return orjson.dumps(token).decode() if column == "attrs" else token


class Sealer:
    """Replaces sensitive fields in ingest batches and writes their plaintext to the sealed store.

    The sealed store is its own DuckDB file, so it has its own transaction: it commits just
    before the main store's, and rows left by a crash in between (seq beyond the main log) are
    removed when the next writer opens it.
    """

    def __init__(self, rules: Sequence[Sensitive], key: SealingKey | None, path: Path, timezone: str = "UTC",
                 wait: float = 5.0) -> None:
        if rules and key is None:
            raise ValueError("sealing needs the key")
        self.rules = list(rules)
        self.key = key
        self.path = path
        self.fields = tuple(f for f in SEALABLE_FIELDS if any(f in r.fields for r in self.rules))
        q = Sql()
        self._conditions = [where_sql(r.where, q, timezone) for r in self.rules]
        self._params = q.params
        self.con = open_sealed_store(path, wait)
        self._in_transaction = False
        self.sealed_events = 0

    # -- transactions, driven by Store.transaction ---------------------------------------

    def begin(self) -> None:
        if not self._in_transaction:
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction = True

    def commit(self) -> None:
        if self._in_transaction:
            self.con.execute("COMMIT")
            self._in_transaction = False

    def rollback(self) -> None:
        if self._in_transaction:
            self.con.execute("ROLLBACK")
            self._in_transaction = False

    def drop_beyond(self, max_seq: int) -> None:
        """Forget plaintext whose events never committed (a crash between the two commits)."""
        self.con.execute("DELETE FROM sealed WHERE seq > ?", [max_seq])

    def forget(self, seqs: Sequence[int]) -> None:
        """Retention deleted these events: their plaintext goes too."""
        if seqs:
            self.con.register("_forget", pa.table({"seq": pa.array(seqs, pa.int64())}))
            try:
                self.con.execute("DELETE FROM sealed WHERE seq IN (SELECT seq FROM _forget)")
            finally:
                self.con.unregister("_forget")

    def close(self) -> None:
        self.rollback()
        self.con.close()

    # -- sealing a batch -----------------------------------------------------------------

    def seal(self, batch: pa.Table, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """The batch with sensitive fields replaced by tokens; their plaintext is stored here."""
        if not self.rules or batch.num_rows == 0:
            return batch
        masks = self._masks(batch, con)
        any_rule = masks[0]
        for m in masks[1:]:
            any_rule = pc.or_(any_rule, m)
        if not pc.any(any_rule).as_py():
            return batch
        plain: dict[str, pa.Array] = {"seq": batch.column("seq").combine_chunks().filter(any_rule)}
        for column in SEALABLE_FIELDS:
            plain[column] = pa.nulls(len(plain["seq"]), pa.string())
        for column in self.fields:
            col = batch.column(column).combine_chunks()
            mask = None
            for rule, m in zip(self.rules, masks, strict=True):
                if column in rule.fields:
                    mask = m if mask is None else pc.or_(mask, m)
            assert mask is not None
            mask = pc.and_(mask, pc.is_valid(col))
            values = col.filter(mask).to_pylist()
            if not values:
                continue
            assert self.key is not None
            tokens = self.key.tokens(values)
            if column == "attrs":
                tokens = [token_as_stored(column, t) for t in tokens]
            batch = batch.set_column(batch.schema.get_field_index(column), column,
                                     pc.replace_with_mask(col, mask, pa.array(tokens, pa.string())))
            plain[column] = pc.if_else(mask.filter(any_rule), col.filter(any_rule), pa.scalar(None, pa.string()))
        self.begin()
        self.con.from_arrow(pa.table(plain)).insert_into("sealed")
        self.sealed_events += len(plain["seq"])
        return batch

    def _masks(self, batch: pa.Table, con: duckdb.DuckDBPyConnection) -> list[pa.Array]:
        view = f"_seal_batch_{os.getpid()}"
        con.register(view, batch)
        try:
            select = ", ".join(f"coalesce({c}, false) AS m{i}" for i, c in enumerate(self._conditions))
            table = con.sql(f"SELECT {select} FROM {view}", params=self._params).to_arrow_table()
            assert table is not None
        finally:
            con.unregister(view)
        return [table.column(i).combine_chunks() for i in range(len(self._conditions))]


def open_sealed_store(path: Path, wait: float = 5.0) -> duckdb.DuckDBPyConnection:
    new = not path.exists()
    old_umask = os.umask(0o077)  # plaintext: only the owner, from the first byte on disk
    try:
        con = retry_locked(path, wait, lambda: duckdb.connect(str(path)))
    finally:
        os.umask(old_umask)
    con.execute(SEALED_DDL)
    if new:
        os.chmod(path, 0o600)
    return con


def reveal(obj: Any, plaintext: dict[str, str]) -> Any:
    """`obj` (strings, lists, dicts, as rendered) with every known token replaced by its value."""
    if not plaintext:
        return obj
    if isinstance(obj, str):
        return TOKEN_RE.sub(lambda m: plaintext.get(m.group(0), m.group(0)), obj) if TOKEN_PREFIX in obj else obj
    if isinstance(obj, list):
        return [reveal(v, plaintext) for v in obj]
    if isinstance(obj, tuple):
        return tuple(reveal(v, plaintext) for v in obj)
    if isinstance(obj, dict):
        return {k: reveal(v, plaintext) for k, v in obj.items()}
    return obj


def tokens_in(obj: Any, found: set[str] | None = None) -> set[str]:
    found = set() if found is None else found
    if isinstance(obj, str):
        if TOKEN_PREFIX in obj:
            found.update(TOKEN_RE.findall(obj))
    elif isinstance(obj, list | tuple):
        for v in obj:
            tokens_in(v, found)
    elif isinstance(obj, dict):
        for v in obj.values():
            tokens_in(v, found)
    return found
