"""Shared machinery of line-based bulk paths: read a file in blocks of lines, and splice the
plugin's events for the lines SQL did not claim between the rows it did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from auditctl.ingest.batch import EVENT_SCHEMA, STORE_SCHEMA, events_to_arrow
from auditctl.ingest.bulk.base import BulkJob
from auditctl.schema import Event
from auditctl.sources import _DECOMPRESS_ERRORS, SourceError, _reason, open_binary, without_line_end

BLOCK_BYTES = 8 << 20  # decompressed bytes of lines handed to SQL at a time


@dataclass
class LineBlock:
    """Consecutive lines of a file (`lines`: bytes without the line ending, exactly as
    `Source.raw_lines` yields them; `raw`: the same lines with their endings, as the file holds
    them) and the first line after them (None at the end)."""

    first: int  # line number of lines[0]
    raw: list[bytes]
    following: bytes | None
    end: int  # decompressed byte offset after the block
    lines: list[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = [without_line_end(ln) for ln in self.raw]

    def numbers(self) -> pa.Array:
        return pa.array(range(self.first, self.first + len(self.lines)), pa.int64())

    def ascii_text(self) -> pa.Array:
        """The lines as text; null where a line is not ASCII (SQL never reads it: such lines
        go to the plugin, which also keeps their exact bytes)."""
        return pa.array([ln if ln.isascii() else None for ln in self.lines], pa.string())

    def before_indented(self) -> list[int]:
        """Numbers of the lines followed by a line starting with a space or tab: a plugin may
        join such a line to the one before (syslog continuation lines)."""
        lines = self.lines
        held = [self.first + i for i in range(len(lines) - 1) if lines[i + 1][:1] in (b" ", b"\t")]
        if self.following is not None and self.following[:1] in (b" ", b"\t"):
            held.append(self.first + len(lines) - 1)
        return held


def line_blocks(job: BulkJob) -> Iterator[LineBlock]:
    """The file's lines in blocks of about BLOCK_BYTES, split at b"\\n" as `Source.raw_lines`
    splits them; updates job.consumed/next_line and reports progress as it goes. A block never
    ends before a line starting with a space or tab: the plugin may join that line to the one
    before, and it reads each block's unclaimed lines on their own."""
    number, position = 1, 0
    with open_binary(job.path) as stream:

        def read() -> list[bytes]:
            try:
                return stream.readlines(BLOCK_BYTES)
            except _DECOMPRESS_ERRORS as exc:
                raise SourceError(f"{job.path}: line {_failing_line(job)}: {_reason(exc)}") from exc

        raw = read()
        while raw:
            after = read()
            while after and after[0][:1] in (b" ", b"\t"):
                indented = next(i for i, ln in enumerate([*after, b""]) if ln[:1] not in (b" ", b"\t"))
                raw += after[:indented]
                after = after[indented:] or read()
            end = position + sum(map(len, raw))
            yield LineBlock(number, raw, after[0] if after else None, end)
            number += len(raw)
            job.progress(end - position)
            job.consumed, job.next_line, position = end, number, end
            raw = after


def _failing_line(job: BulkJob) -> int:
    """The line `Source.raw_lines` names when decompression fails: the one it was reading."""
    number = 1
    with open_binary(job.path) as stream:
        try:
            for _ in stream:
                number += 1
        except _DECOMPRESS_ERRORS:
            pass
    return number


def splice(claimed: pa.Table, block: LineBlock, job: BulkJob) -> pa.Table:
    """The block's events in line order: `claimed` (EVENT_SCHEMA rows, `line` ascending, a
    subset of the block's lines) with the plugin's events for every other line in between.

    Each run of consecutive unclaimed lines goes to the plugin on its own; all their events
    become one Arrow table (a conversion per run cost more than the parse), and a stable sort
    on each row's place (a claimed row's line, a plugin event's run's first line) merges them."""
    events: list[Event] = []
    places: list[int] = []
    expected = block.first
    end = block.first + len(block.lines)
    for number in [*claimed.column("line").to_pylist(), end]:
        if number != expected:
            found = job.fallback(expected, block.raw[expected - block.first: number - block.first])
            events.extend(found)
            places.extend([expected] * len(found))
        expected = number + 1
    if not events:
        return claimed
    plugin = events_to_arrow(events)
    table = concat([claimed, plugin])
    place = pa.concat_arrays([claimed.column("line").combine_chunks(), pa.array(places, pa.int64())])
    return table.take(pc.sort_indices(place))  # stable: a run's events keep their order


def concat(pieces: list[pa.Table]) -> pa.Table:
    """One table of the pieces; a `parser` column (records another parser read) in all of
    them when one has it, null where the file's parser read the record."""
    if not pieces:
        return EVENT_SCHEMA.empty_table()
    if any("parser" in p.column_names for p in pieces):
        field = STORE_SCHEMA.field("parser")
        pieces = [p if "parser" in p.column_names else p.append_column(field, pa.nulls(p.num_rows, pa.string()))
                  for p in pieces]
    return pa.concat_tables(pieces)
