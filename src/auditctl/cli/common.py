"""What every command shares: global state, one-line errors with exit codes, warnings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
import typer
from rich.console import Console
from rich.markup import escape

from auditctl.config import Config, load_config
from auditctl.detect.ruleset import ActiveRules
from auditctl.errors import AuditctlError, ExitCode
from auditctl.roles import Identity, Role

err = Console(stderr=True, soft_wrap=True)  # an error is one line, however long: never wrapped


@dataclass
class State:
    db: str | None = None
    config_path: Path | None = None
    debug: bool = False
    role_override: Role | None = None  # --role: see what a lower role sees
    identity: Identity | None = None  # set by cli.guard for guarded commands
    role: Role | None = Role.ADMIN
    invocation: Any = None  # selfaudit.Invocation of the running command
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, db_override=self.db)
        return self._config


F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(func: F) -> F:
    """Turn AuditctlError (and bad values) into one red line on stderr and the error's exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _state()
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except AuditctlError as exc:
            if state.debug:
                raise
            fail(str(exc), exc.exit_code)
        except duckdb.Error as exc:  # e.g. an archive file that cannot be read any more
            if state.debug:
                raise
            fail(f"database error: {str(exc).splitlines()[0]} (run `auditctl verify`)", ExitCode.ERROR)
        except OSError as exc:  # a file or folder auditctl needs (key, spool, database folder)
            if state.debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}", ExitCode.ERROR)
        except KeyboardInterrupt:
            fail("interrupted", ExitCode.ERROR)

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: ExitCode = ExitCode.ERROR) -> None:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(int(code))


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


_current = State()


def set_state(new: State) -> None:
    """Called by the top-level callback before every command."""
    global _current
    _current = new


def _state() -> State:
    return _current


def state() -> State:
    return _state()


SigmaOpt = Annotated[list[str] | None, typer.Option("--sigma", help="Sigma rule file or folder (repeatable); `bundled` is the shipped SigmaHQ set. Adds to the config's `sigma:` list.", show_default=False)]


def announce_skipped(active: ActiveRules, *, every: bool = False) -> None:
    """One line on stderr per Sigma rule that cannot run for a reason a user can act on (invalid,
    unsupported construct); rules for logsources no parser here reads are counted in one line
    (`every` lists them too)."""
    uncollected = [s for s in active.skipped if s.reason.startswith("no parser here reads")]
    for s in active.skipped:
        if every or s not in uncollected:
            typer.echo(s.line, err=True)
    if uncollected and not every:
        kinds = len({s.logsource for s in uncollected})
        typer.echo(f"sigma: {len(uncollected)} rule(s) for {kinds} logsource(s) no parser here reads were not loaded "
                   "(`auditctl rules validate PATH` lists them)", err=True)
