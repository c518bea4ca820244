"""Access levels: who is running auditctl, which role that gives them, what the role may do.

Roles come from OS user and group names listed in the config's `access.roles`. The role
decides which commands run and whether sensitive fields are shown; the files' permissions and
the admin-only sealing key (see `sealing`) are what make that hold for someone who bypasses
the command line. Without an `access` section auditctl runs in single-user mode: whoever can
open the files is admin, nothing is sealed and nothing is self-audited.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from auditctl.errors import AuditctlError, ConfigError, ExitCode
from auditctl.schema import SEALABLE_FIELDS
from auditctl.where import check_where


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    AUDITOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ConfigError(f"unknown role {text!r}: choose admin, auditor or viewer") from None


# The least role each guarded command needs. A guarded command missing here is refused (fail
# closed). Commands that touch no stored data (`parsers`, `access whoami|check`) are not guarded.
COMMAND_ROLES: dict[str, Role] = {
    "search": Role.VIEWER, "stats": Role.VIEWER, "rules list": Role.VIEWER, "rules validate": Role.VIEWER,
    "rules coverage": Role.VIEWER,
    "findings": Role.AUDITOR, "report": Role.AUDITOR, "verify": Role.AUDITOR, "export": Role.AUDITOR,
    "retention status": Role.AUDITOR, "keys show": Role.AUDITOR,
    "ingest": Role.ADMIN, "watch": Role.ADMIN, "check": Role.ADMIN, "checkpoint": Role.ADMIN,
    "retention apply": Role.ADMIN,
}

DEFAULT_SENSITIVE: list[dict[str, Any]] = [
    {"name": "authentication-details", "where": {"category": "authentication"},
     "fields": ["raw", "message", "src_ip", "user_agent", "attrs"]},
    {"name": "secret-access", "where": {"category": "data_access",
                                        "any_of": [{"resource": "*secret*"}, {"target": "*secret*"}]},
     "fields": ["raw", "message", "resource", "attrs"]},
]


@dataclass(frozen=True)
class Sensitive:
    """Events matching `where` have `fields` sealed: stored as keyed tokens, plaintext for admins only."""

    name: str
    where: dict[str, Any]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Members:
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


@dataclass
class AccessPolicy:
    enabled: bool = False
    roles: dict[Role, Members] = field(default_factory=dict)
    group: str | None = None  # OS group that may read the database and archive
    sensitive: list[Sensitive] = field(default_factory=list)
    sealing_key: Path | None = None  # default: beside the signing key
    self_audit: bool = True

    @property
    def sealing(self) -> bool:
        return self.enabled and bool(self.sensitive)

    @property
    def auditing(self) -> bool:
        return self.enabled and self.self_audit


@dataclass(frozen=True)
class Identity:
    user: str
    uid: int
    groups: frozenset[str]
    sudo_user: str | None = None  # who ran sudo, when running as root through it

    @property
    def actor(self) -> str:
        return self.sudo_user or self.user


def current_identity() -> Identity:
    """The OS user running this process, with every group it belongs to."""
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    groups = set()
    for gid in {os.getegid(), *os.getgroups()}:
        try:
            groups.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            groups.add(str(gid))
    sudo_user = os.environ.get("SUDO_USER") if uid == 0 else None
    return Identity(user, uid, frozenset(groups), sudo_user or None)


def role_of(identity: Identity, policy: AccessPolicy) -> Role | None:
    """The highest role the identity holds; root is always admin; None = no access."""
    if not policy.enabled or identity.uid == 0:
        return Role.ADMIN
    for role in sorted(policy.roles, reverse=True):
        members = policy.roles[role]
        if identity.user in members.users or identity.groups & members.groups:
            return role
    return None


class AccessDenied(AuditctlError):
    exit_code = ExitCode.DENIED


def require(command: str, identity: Identity, role: Role | None, config_path: Path | None) -> None:
    needed = COMMAND_ROLES.get(command)
    if needed is None:  # fail closed: a guarded command the role table forgot is refused, not open
        raise AccessDenied(f"`{command}` has no entry in auditctl's role table (roles.COMMAND_ROLES): "
                           "refused for everyone until one is added")
    where = f"access.roles in {config_path}" if config_path else "access.roles in the config"
    if role is None:
        raise AccessDenied(f"user {identity.user} has no auditctl role: ask an admin to add the user or one of "
                           f"its groups to {where}")
    if role < needed:
        raise AccessDenied(f"`{command}` needs the {needed.label} role; user {identity.user} is {role.label} "
                           f"({where})")


# -- the config section ------------------------------------------------------------------

def parse_access(data: Any, origin: Path) -> AccessPolicy:
    if data is None:
        return AccessPolicy()
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: access is a mapping (roles, group, sensitive, sealing_key, self_audit)")
    unknown = set(data) - {"roles", "group", "sensitive", "sealing_key", "self_audit"}
    if unknown:
        raise ConfigError(f"{origin}: access: unknown setting(s): {', '.join(sorted(unknown))}")
    policy = AccessPolicy(enabled=True, roles=_roles(data.get("roles") or {}, origin))
    policy.group = str(data["group"]) if data.get("group") else None
    sensitive = data.get("sensitive", DEFAULT_SENSITIVE)
    if not isinstance(sensitive, list):
        raise ConfigError(f"{origin}: access.sensitive is a list of {{name, where, fields}} (or [] for none)")
    policy.sensitive = [_sensitive(item, i, origin) for i, item in enumerate(sensitive)]
    if data.get("sealing_key"):
        policy.sealing_key = Path(str(data["sealing_key"])).expanduser()
    policy.self_audit = bool(data.get("self_audit", True))
    return policy


def _roles(data: Any, origin: Path) -> dict[Role, Members]:
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: access.roles maps admin/auditor/viewer to {{users: [...], groups: [...]}}")
    roles = {}
    for name, members in data.items():
        try:
            role = Role.parse(str(name))
        except ConfigError as exc:
            raise ConfigError(f"{origin}: access.roles: {exc}") from None
        if not isinstance(members, dict) or set(members) - {"users", "groups"}:
            raise ConfigError(f"{origin}: access.roles.{name} takes users and groups (lists of names)")
        roles[role] = Members(frozenset(map(str, members.get("users") or [])),
                              frozenset(map(str, members.get("groups") or [])))
    return roles


def _sensitive(item: Any, index: int, origin: Path) -> Sensitive:
    label = f"{origin}: access.sensitive[{index}]"
    if not isinstance(item, dict) or set(item) - {"name", "where", "fields"}:
        raise ConfigError(f"{label}: each entry takes name, where and fields")
    fields = item.get("fields") or []
    if fields == "all":
        fields = list(SEALABLE_FIELDS)
    if not isinstance(fields, list) or not fields:
        raise ConfigError(f"{label}: fields is a list of columns, or `all`")
    bad = [f for f in fields if f not in SEALABLE_FIELDS]
    if bad:
        raise ConfigError(f"{label}: cannot seal {', '.join(map(str, bad))} (sealable: {', '.join(SEALABLE_FIELDS)})")
    where = item.get("where") or {}

    def fail(field_name: str, why: str) -> ConfigError:
        return ConfigError(f"{label}: where.{field_name}: {why}")

    if not isinstance(where, dict):
        raise ConfigError(f"{label}: where is a mapping like a rule's where")
    check_where(where, fail)
    return Sensitive(str(item.get("name") or f"sensitive-{index + 1}"), where, tuple(dict.fromkeys(fields)))
