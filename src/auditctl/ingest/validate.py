"""Plugin output checked against the schema at ingest, a batch at a time.

A third-party parser is code we did not write: an event whose category, action or outcome is
outside the schema's vocabulary, or whose time has no zone (Arrow would silently take it for
UTC), must not be stored and signed. Ingest fails that file with one line instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from auditctl.errors import AuditctlError
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, Event, Outcome

_VOCABULARIES = {
    "category": pa.array(sorted(CATEGORY_DESCRIPTIONS), pa.string()),
    "action": pa.array(sorted(ACTIONS), pa.string()),
    "outcome": pa.array([o.value for o in Outcome], pa.string()),
}


class InvalidEvent(AuditctlError):
    """A parser emitted an event the schema does not allow. Picklable (it comes back from
    parse workers), so everything is kept in `args`."""

    def __init__(self, field: str, value: Any, reason: str, line: int | None = None,
                 origin: str | None = None) -> None:
        super().__init__(field, value, reason, line, origin)
        self.field, self.value, self.reason, self.line, self.origin = field, value, reason, line, origin

    @property
    def where(self) -> str:
        if self.line is not None:
            return f" at line {self.line}"
        return f" at {self.origin}" if self.origin else ""

    @property
    def problem(self) -> str:
        return f"{self.field} {self.value!r} {self.reason}"

    def __str__(self) -> str:
        return f"invalid event{self.where}: {self.problem}"


def check_zones(stamps: Sequence[datetime | None], events: Sequence[Event]) -> None:
    """Every time must carry its zone; called on a batch's `ts` values before Arrow, which
    would take a naive time for UTC."""
    if any(t.tzinfo is None for t in stamps if t is not None):
        i = next(i for i, t in enumerate(stamps) if t is not None and t.tzinfo is None)
        raise InvalidEvent("ts", str(stamps[i]), "has no time zone", events[i].line, events[i].origin)


def check_vocabulary(table: pa.Table) -> None:
    """category, action and outcome of every row are words of the schema (one vectorized
    membership test per column; a null is not a word)."""
    for field, allowed in _VOCABULARIES.items():
        ok = pc.is_in(table.column(field), value_set=allowed)
        if pc.all(ok).as_py() is not False:
            continue
        i = pc.index(ok, False).as_py()
        line, origin = table.column("line")[i].as_py(), table.column("origin")[i].as_py()
        raise InvalidEvent(field, table.column(field)[i].as_py(), "is not in the schema's vocabulary", line, origin)
