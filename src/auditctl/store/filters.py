"""What a search asks for: a plain value object the store compiles to bound SQL."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from auditctl.errors import UsageError

# Where parsers put a person's account name. `--user` matches all of them. `role` is in the
# list because on Unix a user's private group has the user's name (useradd writes `new group:
# name=tsg` for user tsg), so "everything about tsg" includes its group; `--group` is role alone.
PERSON_COLUMNS = ("actor", "target", "role")
PERSON_ATTRS = (
    "subject_user", "SubjectUserName",  # Windows: who acted, when actor is the account logged on
    "TargetUserName", "OldTargetUserName", "NewTargetUserName", "MemberName",  # Windows EventData
    "old_name", "new_name",  # renames (usermod -l, Windows 4781, ALTER ROLE ... RENAME)
    "owner",  # userdel: the user a removed group belonged to
    "member",  # GCP IAM binding member
    "acct",  # auditd account field
    "user_principal_name",  # Windows 4720 UPN
)


@dataclass(frozen=True)
class EventFilter:
    """Conditions on events; every list means "any of". Values may use * and ? wildcards."""

    text: str | None = None  # case-insensitive substring of the raw record or the message
    categories: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    users: tuple[str, ...] = ()  # any field that names a person: PERSON_COLUMNS, PERSON_ATTRS
    actors: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # role: the group or role granted, revoked, changed
    outcomes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()  # exact, wildcard, or IPv4 CIDR
    parsers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    seqs: tuple[int, ...] = field(default=())
    undecodable: bool = False  # only records with raw_b64 set (bytes not valid UTF-8, or a binary record)
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
