"""Every command that touches stored data runs through `guarded`: role check, then self-audit."""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

import typer

from auditctl import roles
from auditctl.access import selfaudit
from auditctl.access.fileperms import check_files
from auditctl.access.sealing import reveal, tokens_in
from auditctl.access.session import open_reader, open_writer, record_invocation
from auditctl.cli.common import state, warn
from auditctl.config import Config
from auditctl.errors import AuditctlError, ExitCode
from auditctl.roles import AccessDenied, Role
from auditctl.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def guarded(command: str) -> Callable[[F], F]:
    """Refuse the command unless the user's role allows it; record it if it is self-audited.
    Goes under @handles_errors, so it sees the command's own exceptions and exit codes."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            st = state()
            cfg = st.config
            identity = roles.current_identity()
            role = effective_role(roles.role_of(identity, cfg.access), st.role_override)
            st.identity, st.role = identity, role
            inv = selfaudit.Invocation(command, _arguments(command, func, kwargs), identity, role, datetime.now(UTC))
            st.invocation = inv
            audited = cfg.access.auditing and command in selfaudit.AUDITED
            try:
                roles.require(command, identity, role, cfg.source_path)
            except AccessDenied:
                inv.denied, inv.exit_code = True, int(ExitCode.DENIED)
                if cfg.access.auditing:
                    record(cfg, inv)
                raise
            try:
                return func(*args, **kwargs)
            except typer.Exit as exc:
                inv.exit_code = exc.exit_code
                raise
            except AuditctlError as exc:
                inv.exit_code = int(exc.exit_code)
                raise
            except BaseException:
                inv.exit_code = int(ExitCode.ERROR)
                raise
            finally:
                if audited:
                    record(cfg, inv)

        return wrapper  # type: ignore[return-value]

    return decorate


def effective_role(role: Role | None, override: Role | None) -> Role | None:
    """`--role` can only lower the role the config gives (to see what a viewer sees)."""
    if role is None or override is None:
        return role
    return min(role, override)


def record(cfg: Config, inv: selfaudit.Invocation) -> None:
    record_invocation(cfg, inv, warn)


def _arguments(command: str, func: Callable[..., Any], params: dict[str, Any]) -> list[str]:
    """The command line as given (options that differ from their defaults), secrets scrubbed."""
    args = command.split()
    signature = inspect.signature(func)
    flags = _option_flags(func)
    for name, value in params.items():
        param = signature.parameters.get(name)
        if value is None or value is False or value == [] or value == () or (param and value == param.default):
            continue
        flag = flags.get(name)
        for v in value if isinstance(value, list | tuple) else [value]:
            if flag is None:
                args.append(_text(v))
            elif v is True:
                args.append(flag)
            else:
                args.extend([flag, _text(v)])
    return selfaudit.scrub_args(args)


def _option_flags(func: Callable[..., Any]) -> dict[str, str]:
    """Python parameter name -> its long option (`fmt` -> `--format`); arguments are left out."""
    flags = {}
    for name, hint in typing.get_type_hints(func, include_extras=True).items():
        for info in getattr(hint, "__metadata__", ()):
            if isinstance(info, typer.models.OptionInfo):
                decls = [info.default, *(info.param_decls or ())]
                longs = [d for d in decls if isinstance(d, str) and d.startswith("--")]
                flags[name] = longs[0] if longs else "--" + name.replace("_", "-")
    return flags


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


# -- opening the store as the running role ----------------------------------------------

@contextlib.contextmanager
def reader(*, read_only: bool = True) -> Iterator[Store]:
    """The store for a reading command: admins see sealed fields in plaintext."""
    st = state()
    warn_loose_files(st.config)
    store, problem = open_reader(st.config, st.role, read_only=read_only)
    if problem:
        warn(problem)
    with store:
        yield store


@contextlib.contextmanager
def writer() -> Iterator[Store]:
    cfg = state().config
    warn_loose_files(cfg)
    with open_writer(cfg) as store:
        yield store


def warn_loose_files(cfg: Config) -> None:
    if not cfg.access.enabled:
        return  # single-user mode sets no policy on who may read
    for f in check_files(cfg):
        if f.problem:
            warn(f"{f.problem}: {f.path} (`auditctl access check --fix`)")


def shown(store: Store, obj: Any) -> Any:
    """`obj` as the running role may see it: tokens replaced by plaintext for admins."""
    if not store.sealed_fields:
        return obj
    return reveal(obj, store.reveal_tokens(tokens_in(obj)))


def note_results(count: int, *, events: Sequence[int] = (), **more: Any) -> None:
    """What the command showed, for its self-audit record (the first 100 seqs of it)."""
    inv = state().invocation
    if inv is None:
        return
    detail = {"results": count, **more}
    if events:
        detail["seqs"] = list(events[:100])
    inv.detail = {**(inv.detail or {}), **detail}
