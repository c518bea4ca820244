"""RFC 6962 Merkle tree hashing: the reference implementation in Python.

The store computes the same hashes in SQL for speed (see `store.leaf_sql`); tests hold the two
to each other. The scheme, so an auditor can re-implement it:

- canonical encoding of an event: for each column in schema order (`seq` first), the value as
  text (integers and `line`/`pid` in decimal, timestamps as microseconds since the epoch in
  decimal, text and JSON as stored) written as `<length in UTF-8 bytes>:<text>`; a NULL is
  written as `-`. The fields are concatenated with nothing between them.
- tail columns (added after the first encoding: `ts_source`, `raw_b64`, `received`) follow, in schema
  order, each only when it holds a value, as its name then `<length>:<text>`. A leaf signed
  before they existed therefore keeps its hash, and the name tags keep the encoding
  unambiguous (no column name starts with a digit or `-`).
- leaf hash = SHA-256(0x00 || canonical encoding)
- node hash = SHA-256(0x01 || left || right)
- the tree over n leaves is RFC 6962's MTH: for n > 1, split at the largest power of two
  k < n: MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])). The empty tree's hash is SHA-256("").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from auditctl.schema import COLUMNS

EMPTY_ROOT = hashlib.sha256(b"").digest()
_MICROSECOND = timedelta(microseconds=1)


def canonical(values: Iterable[Any], tail: Iterable[tuple[str, Any]] = ()) -> bytes:
    """The canonical encoding of one event's column values, in schema order; `tail` holds
    (name, value) of the tail columns."""
    out = bytearray()
    for value in values:
        if value is None:
            out += b"-"
            continue
        out += _field(value)
    for name, value in tail:
        if value is not None:
            out += name.encode() + _field(value)
    return bytes(out)


def canonical_event(event: Mapping[str, Any]) -> bytes:
    """The canonical encoding of a stored event given as {column: value}."""
    return canonical((event.get(c.name) for c in COLUMNS if not c.tail),
                     [(c.name, event.get(c.name)) for c in COLUMNS if c.tail])


def _field(value: Any) -> bytes:
    if isinstance(value, datetime):
        delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
        text = str(delta // _MICROSECOND)
    elif isinstance(value, bool):
        raise TypeError("booleans have no canonical encoding")
    else:
        text = str(value)
    data = text.encode("utf-8")
    return str(len(data)).encode() + b":" + data


def leaf_hash(encoded: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + encoded).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash of leaf hashes (recursive definition; for tests and small trees)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = largest_power_of_two_below(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees that make up a tree of `size` leaves, left to right.

    Level k index j covers leaves [j * 2**k, (j + 1) * 2**k).
    """
    parts = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            parts.append((level, start >> level))
            start += 1 << level
    return parts


def root_from_subtrees(size: int, node: Callable[[int, int], bytes]) -> bytes:
    """MTH of the first `size` leaves, given a lookup of perfect-subtree hashes by (level, index)."""
    if size == 0:
        return EMPTY_ROOT
    hashes = [node(level, index) for level, index in perfect_subtrees(size)]
    root = hashes[-1]
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


class Frontier:
    """The perfect-subtree hashes on the right edge of a growing tree: appends in O(log n).

    `hashes[k]` is the root of the perfect subtree of 2**k leaves ending at the current size,
    present only where bit k of the size is set.
    """

    def __init__(self, size: int = 0, hashes: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.hashes = dict(hashes or {})

    def append(self, leaf: bytes) -> None:
        level, h = 0, leaf
        while self.size >> level & 1:
            h = node_hash(self.hashes.pop(level), h)
            level += 1
        self.hashes[level] = h
        self.size += 1

    def root(self) -> bytes:
        if self.size == 0:
            return EMPTY_ROOT
        levels = sorted(self.hashes)  # low levels are the rightmost subtrees
        root = self.hashes[levels[0]]
        for level in levels[1:]:
            root = node_hash(self.hashes[level], root)
        return root

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "hashes": {str(k): v.hex() for k, v in self.hashes.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Frontier:
        return cls(int(data["size"]), {int(k): bytes.fromhex(v) for k, v in data["hashes"].items()})
