"""`auditctl watch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditctl.cli.common import SigmaOpt, announce_skipped, err, handles_errors, state, warn
from auditctl.cli.guard import guarded
from auditctl.detect.ruleset import active_rules
from auditctl.errors import UsageError
from auditctl.ingest.discovery import load_registry
from auditctl.integrity import keys
from auditctl.live.alerts import Sink, parse_sink
from auditctl.live.listener import parse_listen
from auditctl.live.watch import Watcher


@handles_errors
@guarded("watch")
def watch(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, directories or globs to follow.", show_default=False)] = None,
    listen: Annotated[list[str] | None, typer.Option("--listen", help="Receive syslog: udp://HOST:PORT or tcp://HOST:PORT (repeatable; the address is explicit).", show_default=False)] = None,
    alert: Annotated[list[str] | None, typer.Option("--alert", help="Alert sink (repeatable): stdout, stdout:json, jsonl:FILE, webhook:URL, slack:URL, syslog:udp://HOST:PORT, exec:COMMAND.", show_default=False)] = None,
    rules: Annotated[list[Path] | None, typer.Option("--rules", "-r", help="Extra rule files or directories.", show_default=False)] = None,
    sigma: SigmaOpt = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between cycles (each cycle stores, signs and checks what is new).")] = 0.5,
    cycles: Annotated[int | None, typer.Option("--cycles", min=1, help="Stop after this many cycles (for tests and one-shot runs).", show_default=False)] = None,
) -> None:
    """Follow logs like tail -F (and/or receive syslog), store and sign new events, and alert on findings."""
    cfg = state().config
    if not paths and not listen:
        raise UsageError("give files or directories to follow, or --listen")
    sink_specs: list = list(cfg.alert_sinks) + list(alert or [])
    sinks = [Sink(parse_sink(s)) for s in sink_specs] or [Sink(parse_sink("stdout"))]
    addresses = [parse_listen(spec) for spec in listen or []]
    active = active_rules(cfg, rules, sigma=sigma or ())
    announce_skipped(active)
    watcher = Watcher(cfg, load_registry(cfg.parsers_dirs), list(paths or []), active.rules, sinks,
                      keys.signing_key(cfg, warn), addresses, interval=interval,
                      log=lambda message: err.print(message, highlight=False, soft_wrap=True))
    watcher.install_signal_handlers()
    err.print(f"watching {len(paths or [])} path(s), {len(addresses)} listener(s); alerts to "
              f"{', '.join(s.config.name for s in sinks)}; Ctrl-C stops", highlight=False)
    watcher.run(max_cycles=cycles)
    s = watcher.stats
    err.print(f"stopped after {s['cycles']} cycles: {s['events']:,} events stored, {s['alerts']} alerts", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
