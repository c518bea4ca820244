"""Retention's records: archived Parquet segments, deletion receipts and tombstones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from auditctl.schema import COLUMN_NAMES
from auditctl.store.connection import ROW_GROUP_ROWS, Connection, first_row, sql_list


class Archive(Connection):
    def next_segment_id(self) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM archive_segments"))
        return int(row[0]) if row else 1

    def copy_events_to_parquet(self, seqs: Sequence[int], path: Path) -> None:
        target = str(path).replace("'", "''")
        self.con.execute(
            f"COPY (SELECT {', '.join(COLUMN_NAMES)} FROM hot_events WHERE seq IN (SELECT unnest(CAST(? AS BIGINT[]))) "
            f"ORDER BY seq) TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
            [list(seqs)])

    def add_segment(self, seg_id: int, path: str, partition: str, manifest: dict[str, Any], size: int, note: str,
                    now: datetime) -> None:
        self.con.execute(
            "INSERT INTO archive_segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [seg_id, path, partition, manifest["seq_min"], manifest["seq_max"], manifest["rows"],
             manifest["ts_min"], manifest["ts_max"], size, manifest["sha256"], manifest["leaves_root"], note, now])

    def delete_events(self, seqs: Sequence[int]) -> None:
        self.con.execute("DELETE FROM events WHERE seq IN (SELECT unnest(CAST(? AS BIGINT[])))", [list(seqs)])

    def add_receipt(self, now: datetime, policy: str, events: int, ranges: str, root: str, note: str) -> int:
        row = first_row(self.con.execute("SELECT coalesce(max(id), 0) + 1 FROM deletion_receipts"))
        rid = int(row[0]) if row else 1
        self.con.execute("INSERT INTO deletion_receipts VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [rid, now, policy, events, ranges, root, note])
        return rid

    def add_tombstones(self, leaves: Sequence[tuple[int, bytes]], receipt: int) -> None:
        table = pa.table({"seq": pa.array([s for s, _ in leaves], pa.int64()),
                          "leaf": pa.array([h for _, h in leaves], pa.binary()),
                          "receipt": pa.array([receipt] * len(leaves), pa.int64())})
        self.con.from_arrow(table).insert_into("tombstones")
        if self.sealer is not None:  # deleted for good: their plaintext goes too, in the paired transaction
            self.sealer.begin()
            self.sealer.forget([s for s, _ in leaves])

    def segment_path(self, seg_id: int) -> str:
        row = first_row(self.con.execute("SELECT path FROM archive_segments WHERE id = ?", [seg_id]))
        assert row is not None
        return str(row[0])

    def mark_segment_deleted(self, seg_id: int, now: datetime) -> None:
        self.con.execute("UPDATE archive_segments SET deleted_at = ? WHERE id = ?", [now, seg_id])

    def parquet_readable(self, path: str) -> bool:
        try:
            self.con.execute(f"SELECT count(*) FROM read_parquet({sql_list([path])})").fetchall()
            return True
        except duckdb.Error:
            return False

    def segments(self) -> list[dict[str, Any]]:
        return self.run_query("SELECT * FROM archive_segments ORDER BY id", [])

    def receipts(self) -> list[dict[str, Any]]:
        return self.run_query("SELECT * FROM deletion_receipts ORDER BY id", [])

    def tombstone_leaves(self, receipt: int) -> list[tuple[int, bytes]]:
        rows = self.con.execute("SELECT seq, leaf FROM tombstones WHERE receipt = ? ORDER BY seq", [receipt]).fetchall()
        return [(int(a), bytes(b)) for a, b in rows]

    def storage_stats(self) -> dict[str, Any]:
        hot = first_row(self.con.execute("SELECT count(*), min(ts) FROM events"))
        arch = first_row(self.con.execute(
            "SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(bytes), 0), max(ts_max) FROM archive_segments "
            "WHERE deleted_at IS NULL"))
        dead = first_row(self.con.execute("SELECT count(*) FROM tombstones"))
        raw = first_row(self.con.execute("SELECT coalesce(sum(size), 0) FROM files"))
        assert hot and arch and dead and raw
        return {"hot_rows": int(hot[0]), "oldest_hot": hot[1], "db_bytes": self.path.stat().st_size,
                "archive_segments": int(arch[0]), "archived_rows": int(arch[1]), "archive_bytes": int(arch[2]),
                "newest_archived": arch[3], "deleted_rows": int(dead[0]), "raw_bytes": int(raw[0])}
