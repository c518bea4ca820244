"""Every stored event has a time, and says where it came from.

A record without a stamp of its own (a line no parser understood, a continuation line, a
stamp that did not parse) takes the time of the record before it in the same source
(`previous`); at the start of a source, the first stamped record after it (`next`); in a
source with no stamp at all, the file's modification time (`file`), or the ingest time for
stdin (`ingest`). `ts_source` records which, so a search can tell own stamps from borrowed
ones and time filters, reports, retention and exports reach every event.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

_TS_TYPE = pa.timestamp("us", tz="UTC")


class TimeFiller:
    """Fills `ts` and adds `ts_source` to the batches of one source, in order."""

    def __init__(self, fallback: datetime, fallback_kind: str) -> None:
        self.fallback = fallback
        self.fallback_kind = fallback_kind  # "file" or "ingest"
        self.carry: pa.Scalar | None = None  # the last time of the batches before

    def fill(self, part: pa.Table) -> pa.Table:
        ts = part.column("ts").combine_chunks().cast(_TS_TYPE)
        n = len(ts)
        own = pc.is_valid(ts)
        if ts.null_count == 0:
            filled, source = ts, pa.repeat(pa.scalar("record"), n)
        else:
            filled, source = self._borrow(ts, own)
        if n:
            self.carry = filled[n - 1]
        part = part.set_column(part.schema.get_field_index("ts"), "ts", filled)
        return part.append_column("ts_source", pa.array(source, pa.string()))

    def _borrow(self, ts: pa.Array, own: pa.Array) -> tuple[pa.Array, pa.Array]:
        if self.carry is not None and self.carry.is_valid:
            forward = pc.fill_null_forward(pa.concat_arrays([pa.array([self.carry], _TS_TYPE), ts]))[1:]
        else:
            forward = pc.fill_null_forward(ts)
        backward = pc.fill_null_backward(forward)
        filled = pc.fill_null(backward, pa.scalar(self.fallback, _TS_TYPE))
        source = pc.if_else(own, "record", pc.if_else(pc.is_valid(forward), "previous",
                                                     pc.if_else(pc.is_valid(backward), "next", self.fallback_kind)))
        return filled, source
