"""The event filter options, defined once: `search`, `stats` and `export` take exactly these."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from auditctl.cli.common import state
from auditctl.errors import UsageError
from auditctl.schema import ACTIONS, CATEGORY_DESCRIPTIONS, TS_SOURCES
from auditctl.store.filters import EventFilter
from auditctl.timeutil import get_tz, parse_when

F = TypeVar("F", bound=Callable[..., Any])
Multi = list[str] | None


def _opt(*decls: str, help: str) -> Any:
    return typer.Option(*decls, help=help, show_default=False)


# name -> (annotation, default). The order is the order of `--help`.
FILTER_OPTIONS: dict[str, tuple[Any, Any]] = {
    "text": (Annotated[str | None, typer.Argument(help="Case-insensitive text to find in the raw record or message.", show_default=False)], None),
    "category": (Annotated[Multi, _opt("--category", "-c", help="Category (repeatable).")], None),
    "action": (Annotated[Multi, _opt("--action", "-a", help="Action (repeatable).")], None),
    "outcome": (Annotated[Multi, _opt("--outcome", help="success, failure or unknown (repeatable).")], None),
    "user": (Annotated[Multi, _opt("--user", "-u", help="Any field that names a person: actor, target, role (a user's private group), and the account names parsers keep in attrs (see the README). Repeatable; * and ? wildcards.")], None),
    "actor": (Annotated[Multi, _opt("--actor", help="Who did it (repeatable).")], None),
    "target": (Annotated[Multi, _opt("--target", help="The account acted upon (repeatable).")], None),
    "group": (Annotated[Multi, _opt("--group", "-g", help="The group or role granted, revoked or changed (the role field; repeatable).")], None),
    "host": (Annotated[Multi, _opt("--host", help="Host (repeatable; wildcards).")], None),
    "ip": (Annotated[Multi, _opt("--ip", help="Source IP: exact, wildcard (10.0.*) or IPv4 CIDR (10.0.0.0/8).")], None),
    "parser": (Annotated[Multi, _opt("--parser", "-p", help="Parser that produced the event.")], None),
    "source": (Annotated[Multi, _opt("--source", help="Source file path (wildcards).")], None),
    "since": (Annotated[str | None, _opt("--since", help="From this time: 15m, 24h, 7d, today, yesterday, or ISO.")], None),
    "until": (Annotated[str | None, _opt("--until", help="Before this time (same forms as --since).")], None),
    "undecodable": (Annotated[bool, typer.Option("--undecodable", help="Only records whose exact bytes are in raw_b64: bytes that were not valid UTF-8, or a binary record (utmp/wtmp) that raw renders as text.")], False),
    "time_from": (Annotated[Multi, _opt("--time-from", help=f"Only events whose time came from: {', '.join(TS_SOURCES)} (repeatable).")], None),
    "include_superseded": (Annotated[bool, typer.Option("--include-superseded", help="Also events a reparse superseded (hidden by default; search marks them).")], False),
}


def with_event_filter(func: F) -> F:
    """Give a command every filter option; it receives them as one `flt: EventFilter` and
    `include_superseded: bool`. Typer reads the signature, so the options are added to it."""
    own = inspect.signature(func, eval_str=True)
    keep = [p for p in own.parameters.values() if p.name != "flt" and p.name not in FILTER_OPTIONS]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
             for name, (ann, default) in FILTER_OPTIONS.items()]
    text_param = [p for p in added if p.name == "text"]  # the one argument goes first
    params = [*text_param, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in keep),
              *(p for p in added if p.name != "text")]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, default) for name, (_, default) in FILTER_OPTIONS.items()
                 if name != "include_superseded"}
        kwargs["flt"] = build_filter(**given)
        if "include_superseded" not in own.parameters:
            kwargs.pop("include_superseded", None)
        return func(*args, **kwargs)

    wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{p.name: p.annotation for p in params}, "return": own.return_annotation}
    return wrapper  # type: ignore[return-value]


def _when(value: str | None, option: str, tz: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value, tz=get_tz(tz))
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def check_vocab(values: Multi, known: list[str], option: str) -> tuple[str, ...]:
    checked = tuple(values or ())
    for v in checked:
        if "*" not in v and "?" not in v and v not in known:
            raise UsageError(f"{option}: unknown value {v!r} (known: {', '.join(known)})")
    return checked


def build_filter(text: str | None = None, category: Multi = None, action: Multi = None, outcome: Multi = None,
                 user: Multi = None, actor: Multi = None, target: Multi = None, group: Multi = None,
                 host: Multi = None, ip: Multi = None, parser: Multi = None, source: Multi = None,
                 since: str | None = None, until: str | None = None, undecodable: bool = False,
                 time_from: Multi = None) -> EventFilter:
    tz = state().config.timezone
    return EventFilter(
        text=text, categories=check_vocab(category, list(CATEGORY_DESCRIPTIONS), "--category"),
        actions=check_vocab(action, list(ACTIONS), "--action"), users=tuple(user or ()),
        actors=tuple(actor or ()), targets=tuple(target or ()), groups=tuple(group or ()),
        outcomes=check_vocab(outcome, ["success", "failure", "unknown"], "--outcome"),
        hosts=tuple(host or ()), ips=tuple(ip or ()), parsers=tuple(parser or ()),
        sources=tuple(source or ()), since=_when(since, "--since", tz), until=_when(until, "--until", tz),
        undecodable=undecodable, ts_sources=check_vocab(time_from, list(TS_SOURCES), "--time-from"),
    )
