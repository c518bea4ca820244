"""The permissions auditctl's files should have, checked on every access-controlled run.

Readers (viewers, auditors) need read access to the database, its checkpoints and the archive
through the group named in `access.group`; nobody else needs any. The keys and the sealed
store are for their owner (the admin or service account) only.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from auditctl.config import Config
from auditctl.roles import Role

SHARED_FILE = 0o640  # database, WAL, checkpoints, archive files: owner rw, group r
SHARED_DIR = 0o750
PRIVATE_FILE = 0o600  # keys, the sealed store
SPOOL_DIR = 0o1730  # group members may drop records in, not list or remove others'
POLICY_FILE = 0o644  # config and rule files: anyone may read, only their (admin) owner may write


@dataclass(frozen=True)
class Expected:
    path: Path
    mode: int  # the most that is allowed
    what: str
    shared: bool  # belongs to access.group
    admin_owned: bool = False  # whoever owns it controls access: must be root or an admin


@dataclass(frozen=True)
class FileState:
    path: str
    what: str
    mode: str
    owner: str
    group: str
    expected: str
    problem: str | None


def expected_files(cfg: Config) -> list[Expected]:
    db = cfg.db
    files = [
        Expected(db, SHARED_FILE, "database", True),
        Expected(db.with_name(db.name + ".wal"), SHARED_FILE, "database write-ahead log", True),
        Expected(cfg.checkpoints_path, SHARED_FILE, "checkpoint file", True),
        Expected(cfg.verifier_key_path, SHARED_FILE, "public key", True),
        Expected(cfg.signing_key, PRIVATE_FILE, "signing key", False, admin_owned=True),
        Expected(cfg.sealing_key_path, PRIVATE_FILE, "sealing key", False, admin_owned=True),
        Expected(cfg.sealed_store_path, PRIVATE_FILE, "sealed store (plaintext of sensitive fields)", False),
        Expected(cfg.sealed_store_path.with_name(cfg.sealed_store_path.name + ".wal"), PRIVATE_FILE,
                 "sealed store write-ahead log", False),
        Expected(cfg.self_audit_spool, SPOOL_DIR, "self-audit spool", True),
    ]
    if cfg.source_path is not None:
        files.append(Expected(cfg.source_path, POLICY_FILE, "config file", False, admin_owned=True))
    for rules_dir in cfg.rules_dirs:
        root = Path(rules_dir).expanduser()
        rule_files = sorted(root.rglob("*.y*ml")) if root.is_dir() else [root]
        files.extend(Expected(p, POLICY_FILE, "rule file", False, admin_owned=True) for p in rule_files)
    archive = cfg.archive_dir or db.with_name(db.name + ".archive")
    if archive.exists():
        files.append(Expected(archive, SHARED_DIR, "archive directory", True))
        files.extend(Expected(p, SHARED_DIR if p.is_dir() else SHARED_FILE, "archive", True)
                     for p in sorted(archive.rglob("*")))
    return files


def existing_files(cfg: Config) -> Iterator[tuple[Expected, os.stat_result]]:
    for exp in expected_files(cfg):
        try:
            yield exp, exp.path.stat()
        except FileNotFoundError:
            continue


def check_files(cfg: Config) -> list[FileState]:
    out = []
    for exp, st in existing_files(cfg):
        mode = stat.S_IMODE(st.st_mode)
        out.append(FileState(str(exp.path), exp.what, f"{mode:04o}", _user(st.st_uid), _group(st.st_gid),
                             f"{exp.mode:04o}" + (f" group {cfg.access.group}" if exp.shared and cfg.access.group else ""),
                             _problem(exp, mode, _group(st.st_gid), cfg.access.group)
                             or _owner_problem(exp, st.st_uid, cfg)))
    return out


def _problem(exp: Expected, mode: int, group: str, wanted_group: str | None) -> str | None:
    extra = mode & ~exp.mode & 0o777
    if extra:
        who = []
        if extra & 0o007:
            who.append("others")
        if extra & 0o070:
            who.append("its group")
        return f"{exp.what} is open to {' and '.join(who)} (mode {mode:04o}, at most {exp.mode:04o})"
    if exp.shared and wanted_group and group != wanted_group:
        return f"{exp.what} belongs to group {group}, not {wanted_group}: readers in {wanted_group} cannot open it"
    return None


def _owner_problem(exp: Expected, uid: int, cfg: Config) -> str | None:
    """A config, rule or key file owned by a non-admin lets that user change who sees what."""
    if not exp.admin_owned or not cfg.access.enabled or uid == 0:
        return None
    name = _user(uid)
    admins = cfg.access.roles.get(Role.ADMIN)
    if admins and (name in admins.users or _groups_of(name, uid) & admins.groups):
        return None
    return f"{exp.what} is owned by {name}, who is not an admin: that user could change roles or rules"


def _groups_of(name: str, uid: int) -> set[str]:
    groups = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
    with contextlib.suppress(KeyError):
        groups.add(grp.getgrgid(pwd.getpwuid(uid).pw_gid).gr_name)
    return groups


def fix_files(cfg: Config) -> list[str]:
    """chmod (and chgrp to access.group) what is looser than expected; what was done, per file."""
    done = []
    gid = _gid(cfg.access.group)
    for exp, st in existing_files(cfg):
        mode = stat.S_IMODE(st.st_mode)
        if mode & ~exp.mode & 0o777 or (exp.mode & 0o7000 and mode != exp.mode):
            os.chmod(exp.path, (mode & exp.mode) | (exp.mode & 0o7000))
            done.append(f"chmod {(mode & exp.mode) | (exp.mode & 0o7000):04o} {exp.path}")
        if exp.shared and gid is not None and st.st_gid != gid:
            with contextlib.suppress(PermissionError):
                os.chown(exp.path, -1, gid)
                done.append(f"chgrp {cfg.access.group} {exp.path}")
    return done


def _gid(name: str | None) -> int | None:
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
