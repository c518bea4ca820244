"""What a search asks for: a plain value object the store compiles to bound SQL."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from auditctl.errors import UsageError


@dataclass(frozen=True)
class EventFilter:
    """Conditions on events; every list means "any of". Values may use * and ? wildcards."""

    text: str | None = None  # case-insensitive substring of the raw record or the message
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    users: tuple[str, ...] = ()  # actor OR target
    actors: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()  # exact, wildcard, or IPv4 CIDR
    parsers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    seqs: tuple[int, ...] = field(default=())
    undecodable: bool = False  # only records whose bytes were not valid UTF-8 (raw_b64 set)
    ts_sources: tuple[str, ...] = ()  # where ts came from: record, previous, next, file, ingest

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise UsageError("--since is after --until")
        for ip in self.ips:
            if "/" in ip:
                ipv4_range(ip)


def ipv4_range(cidr: str) -> tuple[int, int]:
    """First and last address of an IPv4 network, as integers."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise UsageError(f"--ip {cidr}: {exc}") from None
    if net.version != 4:
        raise UsageError(f"--ip {cidr}: only IPv4 networks are supported; use a wildcard for IPv6")
    return int(net.network_address), int(net.broadcast_address)
