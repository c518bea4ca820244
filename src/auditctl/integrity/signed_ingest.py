"""Ingest, then sign: the unit every command that stores log files runs (`ingest`, `report
--ingest`). A library user gets the same guarantee as the CLI: what was stored is signed, or
the summary says why not (the next ingest signs it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import duckdb

from auditctl.config import Config
from auditctl.ingest.discovery import PluginRegistry
from auditctl.ingest.ingester import Ingester, IngestSummary
from auditctl.integrity.keys import Warn, sign_stored, signing_key
from auditctl.store import Store


def ingest_and_sign(store: Store, registry: PluginRegistry, cfg: Config, files: Sequence[str], *, warn: Warn,
                    parser: str | None = None, year: int | None = None, force: bool = False,
                    reparse: bool = False, progress: Callable[[int], None] | None = None,
                    engine: str = "auto") -> IngestSummary:
    """Store the files' new events, then sign a checkpoint over them (and over any events an
    earlier run stored without signing). `engine`: "auto" (bulk paths where one applies) or
    "python" (the parser plugins only), as `Ingester`."""
    before = store.end_before_own_writes()  # beyond the last checkpoint: a killed run's
    ingester = Ingester(store, registry, cfg, forced_parser=parser, year=year, force=force, reparse=reparse,
                        progress=progress, engine=engine)
    summary = ingester.ingest(list(files))
    started = time.perf_counter()
    try:
        summary.checkpoint = sign_stored(store, signing_key(cfg, warn), cfg, warn, adopted_upto=before)
    except duckdb.Error as exc:  # e.g. the disk that stopped the ingest: the files' errors still show
        summary.checkpoint_error = (f"could not write to the store {cfg.db}: {str(exc).splitlines()[0]}: "
                                    "the new events are not signed yet (the next ingest signs them)")
    summary.checkpoint_seconds = time.perf_counter() - started
    summary.seconds += summary.checkpoint_seconds
    return summary
