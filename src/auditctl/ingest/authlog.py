"""What auth programs' messages mean, for every parser that reads syslog-style messages.

`interpret(app, msg)` maps a message of sshd, sudo, su, runuser, PAM modules, the shadow-utils
tools, login, ftpd, systemd-logind and cron to an Event (category, action, outcome, actor, target,
...; no time, host or raw), or None for a message it does not know. The syslog parser applies
it to each line's program and message; the journald parser to SYSLOG_IDENTIFIER and MESSAGE,
so the same message maps the same way from auth.log and from the journal.
Authentication messages follow issue 16's contract: `login` is an attempt, `authenticate` a
duplicate report or credential check, and summaries ("PAM 2 more authentication failures",
rsyslog's "message repeated N times: [...]") are `authenticate` with attrs.summary/repeats.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from auditctl.ingest.addresses import is_ip
from auditctl.schema import Event

AUTH = "authentication"
USERS = "user_management"
PERMS = "permission_change"
PRIV = "privileged_action"

_REPEATED = re.compile(r"message repeated (\d+) times: \[ ?(.*)\]$", re.S)


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Event]]


def _ev(category: str, action: str, outcome: str, original: str, actor: str | None = None,
        target: str | None = None, role: str | None = None, resource: str | None = None,
        src_ip: str | None = None, session: str | None = None, attrs: dict | None = None) -> Event:
    if src_ip and not is_ip(src_ip):
        # sshd (UseDNS), login and others may name the client host: src_ip is an address only
        attrs, src_ip = {**(attrs or {}), "rhost": src_ip}, None
    return Event(ts=None, category=category, action=action, outcome=outcome, original_action=original,
                 actor=actor or None, target=target or None, role=role or None,
                 resource=resource or None, src_ip=src_ip or None, session=session, attrs=attrs)


class RuleSet:
    """Rules tried in order; each is only tried on messages starting with its literal prefix."""

    _META = set("\\()[]{}.*+?|^$ ")

    def __init__(self, rules: list[Rule]) -> None:
        keyed: list[tuple[str, Rule]] = []
        for rule in rules:
            prefix = ""
            for ch in rule[0].pattern:
                if ch in self._META:
                    break
                prefix += ch
            keyed.append((prefix[:4] if len(prefix) >= 4 else "", rule))
        keys = {k for k, _ in keyed if k}
        self.always = [r for k, r in keyed if not k]
        self.index = {key: [r for k, r in keyed if k in ("", key)] for key in keys}

    def match(self, msg: str) -> Event | None:
        for pattern, build in self.index.get(msg[:4], self.always):
            m = pattern.match(msg)
            if m:
                return build(m)
        return None


# Context lines (contract of issue 16): they restate attempts logged on their own lines, so
# they are `authenticate` with attrs.summary and never count as attempts themselves.
_SUMMARY = {"summary": True}
_MORE_FAILURES = re.compile(r"(?:PAM )?(\d+) more authentication failures?; (.*)")


def _more_failures(m: re.Match[str], attrs: dict | None = None) -> Event:
    return _pam_kv(m[2], _ev(AUTH, "authenticate", "failure", "PAM more authentication failures",
                             attrs={**(attrs or {}), **_SUMMARY, "repeats": int(m[1])}))


# -- sshd ----------------------------------------------------------------------------------

_SSHD_RULES: list[Rule] = [
    (re.compile(r"Accepted (\S+) for (\S+) from (\S+) port (\d+)(?: \S+)?(?:: (.*))?"),
     lambda m: _ev(AUTH, "login", "success", f"Accepted {m[1]}", actor=m[2], src_ip=m[3],
                   attrs={"method": m[1], "port": int(m[4]), **({"key": m[5]} if m[5] else {})})),
    (re.compile(r"Failed (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)"),
     lambda m: _ev(AUTH, "login", "failure", f"Failed {m[1]}", actor=m[3] or None, src_ip=m[4],
                   attrs={"method": m[1], "port": int(m[5]), **({"invalid_user": True} if m[2] else {})})),
    (re.compile(r"Invalid user (.*?) from (\S+)(?: port (\d+))?"),
     lambda m: _ev(AUTH, "authenticate", "failure", "Invalid user", actor=m[1] or None, src_ip=m[2],
                   attrs={"invalid_user": True, **({"port": int(m[3])} if m[3] else {})})),
    # sshd's own report of the PAM verdict behind a Failed line: a duplicate, not an attempt
    (re.compile(r"(?:error: )?PAM: (Authentication failure|User not known to the underlying authentication module)"
                r" for (illegal user |invalid user )?(\S+) from (\S+)"),
     lambda m: _ev(AUTH, "authenticate", "failure", f"PAM: {m[1]}", actor=m[3], src_ip=m[4],
                   attrs={"invalid_user": True} if m[2] else None)),
    # the name is as the client sent it, spaces included (like `Invalid user (.*?) from`)
    (re.compile(r"input_userauth_request: invalid user (.*?)(?: \[preauth\])?$"),
     lambda m: _ev(AUTH, "authenticate", "failure", "invalid user", actor=m[1] or None,
                   attrs={"invalid_user": True})),
    # sshd goes on to log the attempt itself (`Failed password for U`): this is its duplicate
    (re.compile(r"User (\S+) from (\S+) not allowed because (.*)"),
     lambda m: _ev(AUTH, "authenticate", "failure", "not allowed", actor=m[1], src_ip=m[2],
                   attrs={"reason": m[3]})),
    (re.compile(r"(?:error: )?maximum authentication attempts exceeded for (invalid user )?(\S+) from (\S+) port (\d+)"),
     lambda m: _ev(AUTH, "authenticate", "failure", "maximum authentication attempts exceeded",
                   actor=m[2], src_ip=m[3], attrs={"reason": "too many authentication failures", **_SUMMARY,
                                                    **({"invalid_user": True} if m[1] else {})})),
    (re.compile(r"Disconnecting(?: (?:authenticating|invalid) user (\S+) (\S+) port \d+)?: Too many authentication failures(?: for (\S+))?"),
     lambda m: _ev(AUTH, "authenticate", "failure", "Too many authentication failures",
                   actor=m[1] or m[3], src_ip=m[2],
                   attrs={"reason": "too many authentication failures", **_SUMMARY})),
    (_MORE_FAILURES, lambda m: _more_failures(m)),
    (re.compile(r"Disconnected from user (\S+) (\S+) port (\d+)"),
     lambda m: _ev(AUTH, "logout", "success", "Disconnected from user", actor=m[1], src_ip=m[2])),
    # OpenSSH 6.x-7.x logs a disconnect by an error reason code (3, 14) with an `error: ` prefix
    (re.compile(r"(?:error: )?(?:Connection closed by|Disconnected from|Received disconnect from)"
                r"(?: (authenticating|invalid) user (\S+))? ([0-9a-fA-F:.]*[0-9a-fA-F])(?: port \d+)?\b.*\[preauth\]$"),
     lambda m: _ev(AUTH, "authenticate", "unknown", "preauth disconnect", actor=m[2], src_ip=m[3],
                   attrs={"preauth": True, **({"invalid_user": True} if m[1] == "invalid" else {})})),
    (re.compile(r"Received disconnect from (\S+)(?: port \d+)?:\s*\d+: (.*)"),
     lambda m: _ev(AUTH, "logout", "success", "Received disconnect", src_ip=m[1], attrs={"reason": m[2]})),
    (re.compile(r"Connection closed by (\S+)(?: port \d+)?$"),
     lambda m: _ev(AUTH, "logout", "unknown", "Connection closed", src_ip=m[1])),
    (re.compile(r"Connection from (\S+) port (\d+)"),
     lambda m: _ev("system", "log", "unknown", "Connection from", src_ip=m[1])),
    # UseDNS checks of the client's address: context, with the address the client came from
    (re.compile(r"reverse mapping checking getaddrinfo for (\S+) \[(\S+)\] failed"),
     lambda m: _ev("system", "log", "unknown", "reverse mapping failed", src_ip=m[2] if is_ip(m[2]) else None,
                   attrs={"rhost": m[1]})),
    (re.compile(r"Address (\S+) maps to (\S+), but this does not map back to the address"),
     lambda m: _ev("system", "log", "unknown", "address does not map back", src_ip=m[1] if is_ip(m[1]) else None,
                   attrs={"rhost": m[2]})),
    (re.compile(r"Did not receive identification string from (\S+)"),
     lambda m: _ev("system", "log", "failure", "Did not receive identification string", src_ip=m[1])),
    (re.compile(r"Server listening on (\S+) port (\d+)"),
     lambda m: _ev("system", "service_start", "success", "Server listening")),
    (re.compile(r"Received signal (\d+); terminating"),
     lambda m: _ev("system", "service_stop", "success", "Received signal")),
    (re.compile(r"subsystem request for (\S+) by user (\S+)"),
     lambda m: _ev("system", "log", "success", "subsystem request", actor=m[2], resource=m[1])),
]

# -- sudo ----------------------------------------------------------------------------------

# sudo's log line (eventlog.c): `user : [problem ; ][TTY=t ; ][CHROOT=c ; ]PWD=d ; USER=u ;
# [GROUP=g ;][TSID=id ;][ENV=... ;] COMMAND=cmd`; sudo 1.9 leaves TTY= out when there is no
# terminal (cron, ssh host cmd) and writes TSID= with I/O logging.
_SUDO = re.compile(r"\s*(\S+) : (?:(?!TTY=|PWD=|CHROOT=)(.*?) ; )?(?:TTY=(.*?) ; )?(?:CHROOT=.*? ; )?PWD=(.*?) ; "
                   r"USER=(.*?) ;(?: GROUP=(.*?) ;)?(?: TSID=(\S*) ;)?(?: ENV=.*? ;)? COMMAND=(.*)")


def _sudo(msg: str) -> Event | None:
    m = _SUDO.match(msg)
    if not m:
        return None
    user, problem, tty, pwd, runas, group, tsid, command = m.groups()
    attrs = {**({"tty": tty} if tty is not None else {}), "pwd": pwd, **({"group": group} if group else {}),
             **({"tsid": tsid} if tsid else {})}
    if problem is None:
        return _ev(PRIV, "command_run", "success", "sudo COMMAND", actor=user, target=runas,
                   resource=command, attrs=attrs)
    attrs["reason"] = problem
    if "incorrect password" in problem or "password is required" in problem:
        attempts = re.match(r"(\d+)", problem)
        if attempts:
            attrs["attempts"] = int(attempts[1])
        return _ev(AUTH, "authenticate", "failure", "sudo incorrect password", actor=user, target=runas,
                   resource=command, attrs=attrs)
    return _ev(PRIV, "command_run", "failure", f"sudo {problem}", actor=user, target=runas,
               resource=command, attrs=attrs)


# -- su ------------------------------------------------------------------------------------

_SU_RULES: list[Rule] = [
    (re.compile(r"\(to (\S+)\) (\S+) on (\S+)"),
     lambda m: _ev(PRIV, "privilege_escalation", "success", "su", actor=m[2], target=m[1], attrs={"tty": m[3]})),
    (re.compile(r"Successful su for (\S+) by (\S+)"),
     lambda m: _ev(PRIV, "privilege_escalation", "success", "Successful su", actor=m[2], target=m[1])),
    (re.compile(r"FAILED (?:su|SU|RUNUSER) (?:for|\(to) (\S+?)\)? (?:by )?(\S+)"),
     lambda m: _ev(PRIV, "privilege_escalation", "failure", "FAILED su", actor=m[2], target=m[1])),
    (re.compile(r"([+-]) (\S+) (\S+):(\S+)$"),
     lambda m: _ev(PRIV, "privilege_escalation", "success" if m[1] == "+" else "failure", "su",
                   actor=m[3], target=m[4], attrs={"tty": m[2]})),
]

# -- shadow-utils (src/*.c and lib/cleanup_*.c of shadow-maint/shadow, 4.0 to 4.18) ---------
# Old releases quote as `x', newer ones as 'x'; both are read.

_Q = r"[`']([^']*)'"
_F = r"(/\S+)"  # a database file: /etc/passwd, /etc/shadow, /etc/group, /etc/gshadow


def _file(m: re.Match[str], group: int) -> dict:
    return {"file": m[group]} if m[group] else {}


_SHADOW_RULES: list[Rule] = [
    # useradd, newusers
    (re.compile(r"new user: name=([^,]+), uid=(\d+), gid=(\d+), home=([^,]*), shell=([^,]*)"
                r"(?:, (?:from|auth)=(.*))?", re.I),
     lambda m: _ev(USERS, "user_created", "success", "new user", target=m[1],
                   attrs={"uid": int(m[2]), "gid": int(m[3]), "home": m[4], "shell": m[5],
                          **({"from": m[6]} if m[6] else {})})),
    (re.compile(r"failed adding user [`']?([^',]+)'?(?:, exit code: (\d+))?"),
     lambda m: _ev(USERS, "user_created", "failure", "failed adding user", target=m[1],
                   attrs={"exit_code": int(m[2])} if m[2] else None)),
    (re.compile(r"useradd defaults: (.*)"),
     lambda m: _ev("policy_change", "policy_changed", "success", "useradd defaults",
                   resource="/etc/default/useradd", attrs={"defaults": m[1]})),
    # groupadd, useradd (user's own group)
    (re.compile(r"new group: name=([^,\s]+)(?:, GID=(\d+))?", re.I),
     lambda m: _ev(USERS, "group_created", "success", "new group", role=m[1],
                   attrs={"gid": int(m[2])} if m[2] else None)),
    (re.compile(r"group added to (\S+): name=([^,]+)(?:, GID=(\d+))?"),
     lambda m: _ev(USERS, "group_created", "success", "group added", role=m[2],
                   attrs={"file": m[1], **({"gid": int(m[3])} if m[3] else {})})),
    # useradd -G, usermod -G/-aG, userdel, usermod -l
    (re.compile(rf"add {_Q} to (shadow )?group {_Q}"),
     lambda m: _ev(PERMS, "group_member_added", "success", "add to group", target=m[1], role=m[3],
                   attrs={"shadow": True} if m[2] else None)),
    (re.compile(rf"delete {_Q} from (shadow )?group {_Q}"),
     lambda m: _ev(PERMS, "group_member_removed", "success", "delete from group", target=m[1], role=m[3],
                   attrs={"shadow": True} if m[2] else None)),
    (re.compile(rf"change (admin )?{_Q} to {_Q} in (shadow )?group {_Q}"),
     lambda m: _ev(USERS, "group_modified", "success", "rename group member", target=m[2], role=m[5],
                   attrs={"new_name": m[3], **({"admin": True} if m[1] else {}),
                          **({"shadow": True} if m[4] else {})})),
    (re.compile(rf"delete user {_Q}"),
     lambda m: _ev(USERS, "user_deleted", "success", "delete user", target=m[1])),
    # userdel: the user's own group; "owned by" is missing in some releases
    (re.compile(rf"removed (shadow )?group {_Q}(?: owned by {_Q})?"),
     lambda m: _ev(USERS, "group_deleted", "success", "removed group", role=m[2],
                   attrs={**({"owner": m[3]} if m[3] else {}), **({"shadow": True} if m[1] else {})} or None)),
    (re.compile(r"(\S+) not owned by (\S+), not removed"),
     lambda m: _ev("system", "log", "failure", "not owned, not removed", target=m[2], resource=m[1])),
    # groupdel, groupmod
    (re.compile(rf"group {_Q} removed(?: from (\S+))?"),
     lambda m: _ev(USERS, "group_deleted", "success", "group removed", role=m[1], attrs=_file(m, 2) or None)),
    (re.compile(r"group changed in (\S+) \((?:changing \S+; )?group (\S+?)/(\d+)(?:, (.*))?\)"),
     lambda m: _ev(USERS, "group_modified", "success", "group changed", role=m[2],
                   attrs={"file": m[1], "gid": int(m[3]), **({"change": m[4]} if m[4] else {})})),
    # usermod
    (re.compile(rf"change user name {_Q} to {_Q}"),
     lambda m: _ev(USERS, "user_modified", "success", "change user name", target=m[1],
                   attrs={"field": "name", "new_name": m[2]})),
    (re.compile(rf"(lock|unlock) user {_Q} password"),
     lambda m: _ev(USERS, "user_locked" if m[1] == "lock" else "user_unlocked", "success",
                   f"{m[1]} user password", target=m[2])),
    (re.compile(rf"change user {_Q} password"),
     lambda m: _ev(USERS, "password_changed", "success", "change user password", target=m[1])),
    (re.compile(rf"change user {_Q} (\S+) from {_Q} to {_Q}"),
     lambda m: _ev(USERS, "user_modified", "success", f"change user {m[2]}", target=m[1],
                   attrs={"field": m[2], "old": m[3], "new": m[4]})),
    # gpasswd (the trailing " in /etc/group" names the file written)
    (re.compile(rf"user (\S+) added by (\S+) to group (\S+?)(?: in {_F})?$"),
     lambda m: _ev(PERMS, "group_member_added", "success", "gpasswd add", actor=m[2], target=m[1],
                   role=m[3], attrs=_file(m, 4) or None)),
    (re.compile(rf"user (\S+) removed by (\S+) from group (\S+?)(?: in {_F})?$"),
     lambda m: _ev(PERMS, "group_member_removed", "success", "gpasswd remove", actor=m[2], target=m[1],
                   role=m[3], attrs=_file(m, 4) or None)),
    (re.compile(rf"(members|administrators) of group (\S+) set by (\S+) to (.*?)(?: in {_F})?$"),
     lambda m: _ev(PERMS, "group_modified", "success", f"gpasswd set {m[1]}", actor=m[3], role=m[2],
                   attrs={m[1]: m[4], **_file(m, 5)})),
    (re.compile(rf"password of group (\S+) (changed|removed) by (\S+?)(?: in {_F})?$"),
     lambda m: _ev(USERS, "group_modified", "success", f"gpasswd password {m[2]}", actor=m[3], role=m[1],
                   attrs={"field": "password", **_file(m, 4)})),
    (re.compile(rf"access to group (\S+) restricted by (\S+?)(?: in {_F})?$"),
     lambda m: _ev(USERS, "group_modified", "success", "gpasswd restrict", actor=m[2], role=m[1],
                   attrs={"field": "access", **_file(m, 3)})),
    (re.compile(rf"(\S+) failed to (add|remove) user (\S+) (?:to|from) group (\S+?)(?: in {_F})?$"),
     lambda m: _ev(PERMS, f"group_member_{'added' if m[2] == 'add' else 'removed'}", "failure",
                   f"gpasswd failed to {m[2]} user", actor=m[1], target=m[3], role=m[4],
                   attrs=_file(m, 5) or None)),
    (re.compile(rf"(\S+) failed to (?:change|remove) password of group (\S+?)(?: in {_F})?$"),
     lambda m: _ev(USERS, "group_modified", "failure", "gpasswd failed password", actor=m[1], role=m[2],
                   attrs={"field": "password", **_file(m, 3)})),
    (re.compile(rf"(\S+) failed to (?:set the (members|administrators) of|restrict access to) group (\S+?)"
                rf"(?: to .*?)?(?: in {_F})?$"),
     lambda m: _ev(USERS if m[2] is None else PERMS, "group_modified", "failure", "gpasswd failed",
                   actor=m[1], role=m[3], attrs={"field": m[2] or "access", **_file(m, 4)})),
    # passwd, chage, chfn, chsh
    (re.compile(rf"password for {_Q} changed by {_Q}"),
     lambda m: _ev(USERS, "password_changed", "success", "password changed", actor=m[2], target=m[1])),
    (re.compile(r"incorrect password for (\S+)"),
     lambda m: _ev(AUTH, "authenticate", "failure", "incorrect password", actor=m[1])),
    (re.compile(rf"password locked for {_Q}"),
     lambda m: _ev(USERS, "password_changed", "failure", "password locked", target=m[1],
                   attrs={"reason": "password locked or inactive"})),
    (re.compile(r"can't view or modify password information for (\S+)"),
     lambda m: _ev(USERS, "password_changed", "failure", "can't view or modify password", target=m[1],
                   attrs={"reason": "permission denied"})),
    (re.compile(rf"Failed to crypt password with previous salt of user {_Q}"),
     lambda m: _ev(USERS, "password_changed", "failure", "failed to crypt password", target=m[1])),
    (re.compile(r"root is not authorized by SELinux to change the password of (\S+)"),
     lambda m: _ev(USERS, "password_changed", "failure", "SELinux denied password change", actor="root",
                   target=m[1], attrs={"reason": "SELinux"})),
    (re.compile(r"changed password expiry for (\S+)"),
     lambda m: _ev(USERS, "user_modified", "success", "changed password expiry", target=m[1],
                   attrs={"field": "password expiry"})),
    (re.compile(rf"changed user {_Q} information"),
     lambda m: _ev(USERS, "user_modified", "success", "changed user information", target=m[1],
                   attrs={"field": "information"})),
    (re.compile(rf"changed user {_Q} shell to {_Q}"),
     lambda m: _ev(USERS, "user_modified", "success", "changed user shell", target=m[1],
                   attrs={"field": "shell", "new": m[2]})),
    (re.compile(rf"can't change shell for {_Q}"),
     lambda m: _ev(USERS, "user_modified", "failure", "can't change shell", target=m[1],
                   attrs={"field": "shell"})),
    # shadow-utils 4.0.x/4.1.x wordings of the same changes and refusals (RHEL 4-6, SLES 9/10)
    (re.compile(rf"remove group {_Q}"),
     lambda m: _ev(USERS, "group_deleted", "success", "remove group", role=m[1])),
    (re.compile(rf"change group {_Q} to {_Q}"),
     lambda m: _ev(USERS, "group_modified", "success", "change group", role=m[1],
                   attrs={"field": "name", "new_name": m[2]})),
    (re.compile(rf"change gid for {_Q} to (\d+)", re.I),
     lambda m: _ev(USERS, "group_modified", "success", "change gid", role=m[1],
                   attrs={"field": "gid", "new": m[2]})),
    (re.compile(r"(add|remove) member (\S+) (?:to|from) group (\S+) by (\S+)$"),
     lambda m: _ev(PERMS, f"group_member_{'added' if m[1] == 'add' else 'removed'}", "success",
                   f"gpasswd {m[1]} member", actor=m[4], target=m[2], role=m[3])),
    (re.compile(r"set (members|administrators) of (\S+) to (.*)$"),
     lambda m: _ev(PERMS, "group_modified", "success", f"gpasswd set {m[1]}", role=m[2], attrs={m[1]: m[3]})),
    (re.compile(r"(?:change the password for|remove password from) group (\S+) by (\S+)$"),
     lambda m: _ev(USERS, "group_modified", "success", "gpasswd password", actor=m[2], role=m[1],
                   attrs={"field": "password"})),
    (re.compile(r"restrict access to group (\S+) by (\S+)$"),
     lambda m: _ev(USERS, "group_modified", "success", "gpasswd restrict", actor=m[2], role=m[1],
                   attrs={"field": "access"})),
    (re.compile(rf"now < minimum age for {_Q}"),
     lambda m: _ev(USERS, "password_changed", "failure", "minimum age", target=m[1],
                   attrs={"reason": "minimum password age not reached"})),
    (re.compile(r"(\S+) is not authorized to change the password of (\S+)"),
     lambda m: _ev(USERS, "password_changed", "failure", "not authorized to change password", actor=m[1],
                   target=m[2], attrs={"reason": "permission denied"})),
    (re.compile(r"(\S+): can't view or modify password information for (\S+)"),
     lambda m: _ev(USERS, "password_changed", "failure", "can't view or modify password", actor=m[1],
                   target=m[2], attrs={"reason": "permission denied"})),
    (re.compile(rf"can't change pwd for {_Q}"),
     lambda m: _ev(USERS, "password_changed", "failure", "can't change password", target=m[1])),
    (re.compile(r"defaults: (group=.*)"),
     lambda m: _ev("policy_change", "policy_changed", "success", "useradd defaults",
                   resource="/etc/default/useradd", attrs={"defaults": m[1]})),
    # vipw/vigr, pwck/grpck
    (re.compile(r"file (\S+) edited"),
     lambda m: _ev(USERS, "group_modified" if "group" in m[1] or "gshadow" in m[1] else "user_modified",
                   "success", "file edited", resource=m[1], attrs={"file": m[1]})),
    (re.compile(rf"delete (passwd|shadow|group) line {_Q}"),
     lambda m: _ev(USERS, "group_deleted" if m[1] == "group" else "user_deleted", "success",
                   f"delete {m[1]} line", attrs={"line": m[2]})),
    (re.compile(rf"add group {_Q} to {_Q}"),
     lambda m: _ev(USERS, "group_created", "success", "add group", role=m[1], attrs={"file": m[2]})),
    # lib/cleanup_user.c, lib/cleanup_group.c: a tool rolled back after a failure
    (re.compile(r"failed to (add|remove) (user|group) (\S+?)(?: (?:to|from) (\S+))?$"),
     lambda m: _ev(USERS, f"{m[2]}_{'created' if m[1] == 'add' else 'deleted'}", "failure",
                   f"failed to {m[1]} {m[2]}", **{"target" if m[2] == "user" else "role": m[3]},
                   attrs=_file(m, 4) or None)),
]

# What a tool was doing when it reports a database it could not open or write.
_TOOL_ACTION = {
    "useradd": "user_created", "newusers": "user_created", "adduser": "user_created",
    "userdel": "user_deleted", "deluser": "user_deleted",
    "usermod": "user_modified", "chage": "user_modified", "chfn": "user_modified", "chsh": "user_modified",
    "vipw": "user_modified", "pwck": "user_modified",
    "groupadd": "group_created", "groupdel": "group_deleted", "groupmod": "group_modified",
    "gpasswd": "group_modified", "grpck": "group_modified", "vigr": "group_modified",
    "chgpasswd": "group_modified",
    "passwd": "password_changed", "chpasswd": "password_changed",
}
_TOOL_FAILURE = re.compile(r"(failure while writing changes to|cannot open|failed to change|"
                           r"failed to prepare the new \S+ entry|can't find the shadow password file|"
                           # 4.0.x/4.1.x wordings
                           r"can't open|cannot update|cannot re-write|failed to get lock for|"
                           r"failed (?:opening|locking|updating|rewriting)|"
                           r"error (?:locking|opening|adding|updating|deleting|changing)(?: new| shadow| DBM| dbm)*"
                           r" (?:group file|group entry|passwd entry|password entry|password file|auth for))"
                           r" ?(/\S+)?")  # the file, when the message names one
_TOOL_NOISE = re.compile(r"(failed to unlock|can.t unlock|cannot close|Cannot determine the user name of the caller|can't setuid)")


def _shadow_tool(app: str) -> Callable[[str], Event | None]:
    action = _TOOL_ACTION.get(app, "user_modified")

    def interpret_tool(msg: str) -> Event | None:
        ev = _SHADOW.match(msg)
        if ev is not None:
            return ev
        m = _TOOL_FAILURE.match(msg)
        if m:
            return _ev(USERS, action, "failure", m[1], resource=m[2], attrs={"reason": msg})
        m = _TOOL_NOISE.match(msg)
        return _ev("system", "log", "failure", m[1]) if m else None
    return interpret_tool


_SHADOW_APPS = set(_TOOL_ACTION)

# -- PAM (any program) ---------------------------------------------------------------------

_PAM = re.compile(r"(pam_\w+)\(([^:)]+):(\w+)\): (.*)", re.S)
_PAM_SESSION = re.compile(r"session (opened|closed) for user (\S+?)(?:\(uid=\d+\))?(?: by (\S*?)(?:\(uid=\d+\))?)?$")
_PAM_KV = re.compile(r"(\w+)=(\S*)")


def _pam_kv(text: str, ev: Event) -> Event:
    """Fill actor/target/src_ip from PAM's `logname= uid= ruser= rhost= user=` fields."""
    kv = dict(_PAM_KV.findall(text))
    user = kv.get("user") or None
    person = kv.get("ruser") or kv.get("logname") or user
    ev.actor = ev.actor or person
    if user and user != ev.actor:
        ev.target = ev.target or user
    rhost = kv.get("rhost") or None
    extra = {"tty": kv["tty"]} if kv.get("tty") else {}
    if rhost and is_ip(rhost):
        ev.src_ip = ev.src_ip or rhost
    elif rhost:
        extra["rhost"] = rhost  # a host name (sshd with UseDNS): not an address
    if extra:
        ev.attrs = {**(ev.attrs or {}), **extra}
    return ev


# pam_faillock.c, when a failure reaches `deny`: the account is locked (until unlock_time)
_FAILLOCK_LOCKED = re.compile(r"Consecutive login failures for user (\S+) account temporarily locked")


def _pam(module: str, service: str, kind: str, text: str) -> Event:
    """`module(service:kind): text`, or the older tag form `service(module)[pid]: text` (kind "")."""
    attrs = {"pam_module": module, "pam_service": service}
    original = f"{module}({service}:{kind})" if kind else f"{service}({module})"
    if kind in ("session", ""):
        m = _PAM_SESSION.match(text)
        if m:
            user, by = m[2], m[3] or None
            if by == "LOGIN":
                # getlogin() before login's own utmp entry: getty's "LOGIN" placeholder, no person
                by = None
            opened = m[1] == "opened"
            actor, target = (by, user) if by and by != user else (user, None)
            return _ev(AUTH, "session_start" if opened else "session_end", "success",
                       f"{original} session {m[1]}", actor=actor, target=target, attrs=attrs)
    if text.startswith("authentication failure"):
        return _pam_kv(text, _ev(AUTH, "authenticate", "failure", f"{original} authentication failure",
                                 attrs=attrs))
    m = _MORE_FAILURES.match(text)
    if m:
        return _more_failures(m, attrs)
    if text.startswith("check pass; user unknown"):
        return _ev(AUTH, "authenticate", "failure", f"{original} user unknown", attrs=attrs)
    m = re.match(r"password changed for (\S+)", text)
    if m:
        return _ev(USERS, "password_changed", "success", f"{original} password changed", target=m[1], attrs=attrs)
    if kind in ("chauthtok", "password", "") and ("error" in text.lower() or text.startswith("new password not acceptable")):
        return _ev(USERS, "password_changed", "failure", f"{original} {text[:60]}", attrs=attrs)
    m = re.match(r'requirement ".*" not met by user "(\S+)"', text)
    if m:
        return _ev(AUTH, "authenticate", "failure", f"{original} requirement not met", actor=m[1], attrs=attrs)
    m = _FAILLOCK_LOCKED.match(text)
    if m:
        return _ev(USERS, "user_locked", "success", f"{original} account locked", target=m[1], attrs=attrs)
    m = re.match(r"account (\S+) has expired", text)
    if m:
        return _ev(AUTH, "authenticate", "failure", f"{original} account expired", actor=m[1], attrs=attrs)
    return _ev("system", "log", "unknown", original, attrs=attrs)


# -- login, systemd-logind -----------------------------------------------------------------

# shadow-utils login (`on 'tty' from 'host'`, quoted) and util-linux login (`ON tty FROM host`).
_ON = r"(?: on '?([^'\s]+)'?)?(?: from '?([^'\s]+)'?)?"
_LOGIN_RULES: list[Rule] = [
    (re.compile(r"FAILED LOGIN(?: \(?(\d+)\)?)?(?: SESSION)?" + _ON + r" FOR '?(\S+?)'?, (.*)", re.I),
     lambda m: _ev(AUTH, "login", "failure", "FAILED LOGIN", actor=m[4], src_ip=m[3],
                   attrs={**({"tty": m[2]} if m[2] else {}), "reason": m[5]})),
    (re.compile(r"TOO MANY LOGIN TRIES \((\d+)\)" + _ON + r" FOR '?(\S+?)'?(?:, (.*))?$", re.I),
     lambda m: _ev(AUTH, "authenticate", "failure", "TOO MANY LOGIN TRIES", actor=m[4], src_ip=m[3],
                   attrs={**_SUMMARY, "attempts": int(m[1]), **({"tty": m[2]} if m[2] else {})})),
    (re.compile(r"(?:REPEATED login failures|exceeded failure limit for '(\S+?)')" + _ON + "$", re.I),
     lambda m: _ev(AUTH, "authenticate", "failure", "repeated login failures", actor=m[1], src_ip=m[3],
                   attrs={**_SUMMARY, **({"tty": m[2]} if m[2] else {})})),
    (re.compile(r"(ILLEGAL )?ROOT LOGIN\s*" + _ON + "$", re.I),
     lambda m: _ev(AUTH, "login", "failure" if m[1] else "success", f"{m[1] or ''}ROOT LOGIN", actor="root",
                   src_ip=m[3], attrs={"tty": m[2]} if m[2] else None)),
    (re.compile(r"(?:LOGIN ON|DIALUP AT) (\S+) BY (\S+)(?: FROM (\S+))?"),
     lambda m: _ev(AUTH, "login", "success", "LOGIN", actor=m[2], src_ip=m[3], attrs={"tty": m[1]})),
    (re.compile(r"'(\S+)' logged in" + _ON + "$"),
     lambda m: _ev(AUTH, "login", "success", "logged in", actor=m[1], src_ip=m[3],
                   attrs={"tty": m[2]} if m[2] else None)),
    (re.compile(r"(?:LOGIN '(\S+)' REFUSED|invalid (password|login time) for '(\S+)')" + _ON + "$"),
     lambda m: _ev(AUTH, "login", "failure", "LOGIN REFUSED" if m[1] else f"invalid {m[2]}",
                   actor=m[1] or m[3], src_ip=m[5], attrs={"tty": m[4]} if m[4] else None)),
    (re.compile(r"user (\S+) logged out\.?"),
     lambda m: _ev(AUTH, "logout", "success", "logged out", actor=m[1])),
]

# shadow-utils newgrp
_NEWGRP_RULES: list[Rule] = [
    (re.compile(rf"user {_Q} \(login {_Q} on (\S+)\) switched to group {_Q}"),
     lambda m: _ev(PRIV, "privilege_escalation", "success", "newgrp", actor=m[1], role=m[4],
                   attrs={"login": m[2], "tty": m[3]})),
    (re.compile(rf"Invalid password for group {_Q} from {_Q}"),
     lambda m: _ev(AUTH, "authenticate", "failure", "newgrp invalid password", actor=m[2], role=m[1])),
]

_LOGIND_RULES: list[Rule] = [
    (re.compile(r"New session (\S+) of user (\S+?)\.?$"),
     lambda m: _ev(AUTH, "session_start", "success", "New session", actor=m[2], session=m[1])),
    (re.compile(r"Session (\S+) logged out\."),
     lambda m: _ev(AUTH, "session_end", "success", "Session logged out", session=m[1])),
]

# Kerberized and classic r-services (klogind, kshd, rlogind, rshd): a refused remote login.
_RSERVICE_RULES: list[Rule] = [
    (re.compile(r"Authentication failed from (\S+?)(?: \((\S+)\))?: (.*)"),
     lambda m: _ev(AUTH, "authenticate", "failure", "Authentication failed",
                   src_ip=m[1] if is_ip(m[1]) else None,
                   attrs={"reason": m[3].strip(), **({} if is_ip(m[1]) else {"rhost": m[1]})})),
    (re.compile(r"Kerberos authentication failed"),
     lambda m: _ev(AUTH, "authenticate", "failure", "Kerberos authentication failed")),
]

# BSD-derived ftpd (netkit, Red Hat's ftpd) and wu-ftpd: the remote host is written as
# `addr`, `addr (name)` or `name [addr]`.
_FTP_FROM = r"(\S+?)(?: \((\S*)\)| \[(\S+)\])?"
_FTP_RULES: list[Rule] = [
    (re.compile(r"ANONYMOUS FTP LOGIN FROM " + _FTP_FROM + r",\s*(.*)$"),
     lambda m: _ftp(m, "login", "success", "ANONYMOUS FTP LOGIN", "anonymous")),
    (re.compile(r"FTP LOGIN FROM " + _FTP_FROM + r"(?:, | as )(\S+)$"),
     lambda m: _ftp(m, "login", "success", "FTP LOGIN", m[4])),
    (re.compile(r"FTP LOGIN (FAILED|REFUSED) FROM " + _FTP_FROM + r", (\S+)$"),
     lambda m: _ftp(m, "login", "failure", f"FTP LOGIN {m[1]}", m[5], first=2)),
    (re.compile(r"failed login from " + _FTP_FROM + r"$"),
     lambda m: _ftp(m, "login", "failure", "failed login", None)),
    (re.compile(r"repeated login failures from " + _FTP_FROM + r"$"),
     lambda m: _ftp(m, "authenticate", "failure", "repeated login failures", None, summary=True)),
    (re.compile(r"connection from " + _FTP_FROM + r"(?: at .*)?$"),
     lambda m: _ftp(m, "log", "unknown", "connection from", None, category="system")),
]


def _ftp(m: re.Match[str], action: str, outcome: str, original: str, actor: str | None, first: int = 1,
         summary: bool = False, category: str = AUTH) -> Event:
    """An ftpd line: the address is src_ip, a host name attrs.rhost."""
    host, name, bracketed = m[first], m[first + 1], m[first + 2]
    addr = bracketed or host
    rhost = name if bracketed is None else host
    attrs = {**({"rhost": rhost} if rhost and rhost != addr else {}), **(_SUMMARY if summary else {})}
    if not is_ip(addr):
        addr, attrs = None, {"rhost": host, **attrs}
    return _ev(category, action, outcome, original, actor=actor, src_ip=addr, attrs=attrs or None)


_CRON = re.compile(r"\((\S+)\) CMD \((.*)\)$")


_SSHD = RuleSet(_SSHD_RULES)
_SU = RuleSet(_SU_RULES)
_SHADOW = RuleSet(_SHADOW_RULES)
_LOGIN = RuleSet(_LOGIN_RULES)
# login's placeholders: util-linux's "(unknown)" for a user name it chose not to log and
# "<unknown>" for no host and no tty
_LOGIN_UNKNOWN = {"(unknown)", "<unknown>"}


def _login(msg: str) -> Event | None:
    """login's FROM is the remote host as given (a name, when not an address), else the tty:
    only an address is src_ip; any other value is attrs.from."""
    ev = _LOGIN.match(msg)
    if ev is None:
        return None
    if ev.actor in _LOGIN_UNKNOWN:
        ev.actor = None
    where, ev.src_ip = ev.src_ip, None
    if where is None and ev.attrs and "rhost" in ev.attrs:  # _ev's name for a non-address
        where = ev.attrs.pop("rhost")
        ev.attrs = ev.attrs or None
    if where and is_ip(where):
        ev.src_ip = where
    elif where and where not in _LOGIN_UNKNOWN:
        ev.attrs = {**(ev.attrs or {}), "from": where}
    return ev

_LOGIND = RuleSet(_LOGIND_RULES)
_NEWGRP = RuleSet(_NEWGRP_RULES)
_BY_APP: dict[str, Callable[[str], Event | None]] = {
    "sshd": _SSHD.match, "sshd-session": _SSHD.match, "sshd-auth": _SSHD.match,
    "sudo": _sudo, "su": _SU.match, "su-l": _SU.match, "runuser": _SU.match, "sg": _NEWGRP.match,
    "newgrp": _NEWGRP.match,
    "login": _login, "pam": _login, "gdm-password": _login,
    "systemd-logind": _LOGIND.match,
    **{daemon: RuleSet(_RSERVICE_RULES).match for daemon in ("klogind", "kshd", "krshd", "eklogind", "rlogind",
                                                              "rshd")},
    **{tool: _shadow_tool(tool) for tool in _SHADOW_APPS},
    **{daemon: RuleSet(_FTP_RULES).match for daemon in ("ftpd", "in.ftpd", "wu-ftpd", "wu.ftpd")},
}


# pam_unix's helper (passverify.c), which checks a password for a caller that cannot read
# /etc/shadow (a screen locker, or pam_unix itself when not root)
_CHKPWD_RULES: list[Rule] = [
    (re.compile(r"password check failed for user \((\S+)\)"),
     lambda m: _ev(AUTH, "authenticate", "failure", "password check failed", actor=m[1])),
]
_BY_APP["unix_chkpwd"] = RuleSet(_CHKPWD_RULES).match


def _cron(msg: str) -> Event | None:
    m = _CRON.match(msg)
    if m:
        return Event(ts=None, category="system", action="log", actor=m[1], resource=m[2],
                     original_action="CRON CMD")
    return None


_BY_APP["cron"] = _BY_APP["CRON"] = _cron


def interpret(app: str | None, msg: str, module: str | None = None) -> Event | None:
    """An Event (without time, host, raw) for a message from `app`, or None for a plain message.

    `module` is the `(pam_unix)` of an older tag `sshd(pam_unix)[pid]:`: the message is then
    that PAM module's text without the `pam_unix(sshd:auth): ` prefix of newer releases.
    """
    if app is None:
        return None
    if msg.startswith("message repeated "):
        # rsyslog: one line, one event; the repeats are context on it, not attempts of their own
        m = _REPEATED.match(msg)
        if m:
            ev = interpret(app, m[2], module)
            return as_summary(ev, int(m[1])) if ev is not None else None
    if module is not None and module.startswith("pam_"):
        ev = _pam(module, app, "", msg)
        if ev.action != "log":
            return ev
    if msg.startswith("pam_"):
        m = _PAM.match(msg)
        if m:
            return _pam(*m.groups())
    handler = _BY_APP.get(app) or _BY_APP.get(app.lower())
    return handler(msg) if handler else None



def as_summary(ev: Event, repeats: int) -> Event:
    """The event of a `message repeated N times: [msg]` line: msg's meaning, marked as context.

    Unlike PAM's "N more authentication failures", the N are occurrences syslog did not write
    out: attrs.collapsed says so, and attrs.repeated_action keeps a login's own action."""
    extra: dict = {"collapsed": True}
    if ev.category == AUTH and ev.action == "login":
        ev.action = "authenticate"
        extra["repeated_action"] = "login"
    ev.attrs = {**(ev.attrs or {}), **_SUMMARY, "repeats": repeats, **extra}
    return ev
