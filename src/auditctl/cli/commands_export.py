"""`auditctl export`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from auditctl.archive.export import FORMATS, export
from auditctl.cli.common import err, handles_errors
from auditctl.cli.eventfilter import with_event_filter
from auditctl.cli.guard import guarded, note_results, reader
from auditctl.errors import UsageError
from auditctl.store.filters import EventFilter


@handles_errors
@guarded("export")
@with_event_filter
def export_cmd(
    flt: EventFilter,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"{', '.join(FORMATS)}: ECS bulk NDJSON, OCSF JSON lines, plain JSONL/CSV, Parquet.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout; required for parquet.", show_default=False)] = None,
    include_superseded: bool = False,
) -> None:
    """Export the selected events (same filters as search) for a SIEM or a data lake."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: choose one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise UsageError("--format parquet needs --output FILE")
    with reader() as store:
        if include_superseded:
            store.show_superseded()
        if output is None:
            count = export(store, flt, fmt, None, sys.stdout.buffer)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=f".{fmt}", dir=output.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            try:
                if fmt in ("ecs", "ocsf"):
                    with tmp_path.open("wb") as f:
                        count = export(store, flt, fmt, tmp_path, f)
                else:
                    tmp_path.unlink()
                    count = export(store, flt, fmt, tmp_path, sys.stdout.buffer)
                os.replace(tmp_path, output)
            finally:
                tmp_path.unlink(missing_ok=True)
            err.print(f"exported {count:,} events to {output} ({fmt})", highlight=False)
    note_results(count, format=fmt, output=str(output) if output else "stdout")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
