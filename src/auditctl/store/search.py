"""Finding events, and counting them by a dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditctl.errors import AuditctlError
from auditctl.store import Store
from auditctl.store.filters import EventFilter


@dataclass(frozen=True)
class SearchResult:
    rows: list[dict[str, Any]]
    total: int  # matching events, before --limit


def search_events(store: Store, flt: EventFilter, *, limit: int | None = 100,
                  newest_first: bool = False) -> SearchResult:
    rows = store.search(flt, limit=limit, newest_first=newest_first)
    total = len(rows) if limit is None or len(rows) < limit else store.count(flt)
    return SearchResult(rows, total)


def event_stats(store: Store, by: Sequence[str], flt: EventFilter, *, limit: int | None = None,
                records: bool = False) -> list[dict[str, Any]]:
    return store.stats(by, flt, limit, records=records)


def finding_seqs(store: Store, finding_id: int) -> tuple[int, ...]:
    """The seqs of the events behind a stored finding."""
    rows = store.list_findings(ids=[finding_id])
    if not rows:
        raise AuditctlError(f"no finding with id {finding_id} (see `auditctl findings`)")
    return tuple(int(s) for s in rows[0]["seqs"] or ())
