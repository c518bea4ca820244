"""Finding events, and counting them by a dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditctl.filters import EventFilter
from auditctl.store import Store


@dataclass(frozen=True)
class SearchResult:
    rows: list[dict[str, Any]]
    total: int  # matching events, before --limit


def search_events(db: Path, flt: EventFilter, *, limit: int | None = 100, newest_first: bool = False,
                  wait: float = 5.0) -> SearchResult:
    with Store.open(db, read_only=True, wait=wait) as store:
        rows = store.search(flt, limit=limit, newest_first=newest_first)
        total = len(rows) if limit is None or len(rows) < limit else store.count(flt)
    return SearchResult(rows, total)


def event_stats(db: Path, by: Sequence[str], flt: EventFilter, *, limit: int | None = None,
                wait: float = 5.0) -> list[dict[str, Any]]:
    with Store.open(db, read_only=True, wait=wait) as store:
        return store.stats(by, flt, limit)
