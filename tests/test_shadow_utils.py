"""shadow-utils and util-linux syslog messages: one real message per kind, and what it means.

The message strings are those of shadow-maint/shadow (src/*.c, lib/cleanup_*.c, SYSLOG calls;
checked at 816e02a, 2026, and at tags 4.0.3-4.1.5.1 for the backtick quoting, the forms without
"owned by" and the older wordings in OLDER) and util-linux (login-utils/login.c, su-common.c). Every SYSLOG message of useradd,
usermod, userdel, groupadd, groupmod, groupdel, gpasswd, passwd, chage, chfn, chsh, newusers,
chpasswd, vipw/vigr, pwck/grpck, newgrp and login that records a change, a refusal or a failure
is here; the only ones left as system/log are housekeeping (failed to unlock, can't setuid(0),
caller's name unknown, faillog/lastlog resets, a home not removed) and 4.0.3's TCFS/auth= lines;
"useradd defaults" is a policy change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditctl.ingest.parsing import read_events
from support import REFERENCE_TIME, registry

U, P, A, X = "user_management", "permission_change", "authentication", "privileged_action"

# (tool[pid]: message, (category, action, outcome, actor, target, role))
TABLE = [
    # useradd
    ("useradd[2310]: new user: name=tsg, UID=1001, GID=1001, home=/home/tsg, shell=/bin/bash, from=/dev/pts/0",
     (U, "user_created", "success", None, "tsg", None)),
    ("useradd[1022]: new user: name=oracle, uid=501, gid=501, home=/home/oracle, shell=/bin/bash",
     (U, "user_created", "success", None, "oracle", None)),
    ("useradd[2310]: new group: name=tsg, GID=1001", (U, "group_created", "success", None, None, "tsg")),
    ("useradd[2310]: add 'tsg' to group 'wheel'", (P, "group_member_added", "success", None, "tsg", "wheel")),
    ("useradd[2310]: add 'tsg' to shadow group 'wheel'", (P, "group_member_added", "success", None, "tsg", "wheel")),
    ("useradd[2399]: failed adding user 'tsg', exit code: 9", (U, "user_created", "failure", None, "tsg", None)),
    ("useradd[2399]: failed to add user tsg", (U, "user_created", "failure", None, "tsg", None)),
    ("useradd[2399]: failed to add user tsg to /etc/shadow", (U, "user_created", "failure", None, "tsg", None)),
    ("useradd[2399]: failure while writing changes to /etc/passwd", (U, "user_created", "failure", None, None, None)),
    ("useradd[2399]: failed to prepare the new /etc/passwd entry 'tsg'", (U, "user_created", "failure", None, None, None)),
    ("useradd[2400]: useradd defaults: GROUP=100, HOME=/home, SHELL=/bin/sh, INACTIVE=-1, EXPIRE=, "
     "SKEL=/etc/skel, CREATE_MAIL_SPOOL=yes, LOG_INIT=yes",
     ("policy_change", "policy_changed", "success", None, None, None)),
    # usermod
    ("usermod[2412]: add 'tsg' to group 'docker'", (P, "group_member_added", "success", None, "tsg", "docker")),
    ("usermod[2412]: delete 'tsg' from shadow group 'audio'", (P, "group_member_removed", "success", None, "tsg", "audio")),
    ("usermod[2413]: change user 'tsg' shell from '/bin/bash' to '/bin/zsh'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2413]: change user 'tsg' home from '/home/tsg' to '/srv/tsg'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2413]: change user 'tsg' UID from '1001' to '2001'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2413]: change user 'tsg' GID from '1001' to '100'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2413]: change user 'tsg' expiration from 'never' to '2027-01-31'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2413]: change user 'tsg' inactive from '-1' to '30'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2414]: change user name 'tsg' to 'tgs'", (U, "user_modified", "success", None, "tsg", None)),
    ("usermod[2414]: change 'tsg' to 'tgs' in group 'wheel'", (U, "group_modified", "success", None, "tsg", "wheel")),
    ("usermod[2414]: change admin 'tsg' to 'tgs' in shadow group 'ops'", (U, "group_modified", "success", None, "tsg", "ops")),
    ("usermod[2415]: change user 'tsg' password", (U, "password_changed", "success", None, "tsg", None)),
    ("usermod[2416]: lock user 'tsg' password", (U, "user_locked", "success", None, "tsg", None)),
    ("usermod[2417]: unlock user 'tsg' password", (U, "user_unlocked", "success", None, "tsg", None)),
    ("usermod[2418]: cannot open /etc/shadow", (U, "user_modified", "failure", None, None, None)),
    ("usermod[2418]: failed to change /etc/passwd (tsg)", (U, "user_modified", "failure", None, None, None)),
    # userdel (4.0 wrote `x' quotes)
    ("userdel[2420]: delete user 'tsg'", (U, "user_deleted", "success", None, "tsg", None)),
    ("userdel[1290]: delete user `oracle'", (U, "user_deleted", "success", None, "oracle", None)),
    ("userdel[2420]: delete 'tsg' from group 'wheel'", (P, "group_member_removed", "success", None, "tsg", "wheel")),
    ("userdel[2420]: removed group 'tsg' owned by 'tsg'", (U, "group_deleted", "success", None, None, "tsg")),
    ("userdel[2420]: removed shadow group 'tsg' owned by 'tsg'", (U, "group_deleted", "success", None, None, "tsg")),
    ("userdel[2421]: removed group 'devs'", (U, "group_deleted", "success", None, None, "devs")),
    ("userdel[2421]: removed shadow group 'devs'", (U, "group_deleted", "success", None, None, "devs")),
    ("userdel[1290]: removed group `oracle' owned by `oracle'", (U, "group_deleted", "success", None, None, "oracle")),
    ("userdel[2422]: /var/mail/tsg not owned by tsg, not removed", ("system", "log", "failure", None, "tsg", None)),
    ("userdel[2422]: failure while writing changes to /etc/group", (U, "user_deleted", "failure", None, None, None)),
    # groupadd, groupmod, groupdel
    ("groupadd[2430]: group added to /etc/group: name=ops, GID=1010", (U, "group_created", "success", None, None, "ops")),
    ("groupadd[2430]: group added to /etc/gshadow: name=ops", (U, "group_created", "success", None, None, "ops")),
    ("groupadd[2430]: new group: name=ops, GID=1010", (U, "group_created", "success", None, None, "ops")),
    ("groupadd[2431]: failed to add group ops to /etc/gshadow", (U, "group_created", "failure", None, None, "ops")),
    ("groupmod[2440]: group changed in /etc/group (group ops/1010, new name: operators)",
     (U, "group_modified", "success", None, None, "ops")),
    ("groupmod[2440]: group changed in /etc/gshadow (group ops/1010, new gid: 1020)",
     (U, "group_modified", "success", None, None, "ops")),
    ("groupmod[2441]: cannot open /etc/group", (U, "group_modified", "failure", None, None, None)),
    ("groupdel[2450]: group 'ops' removed", (U, "group_deleted", "success", None, None, "ops")),
    ("groupdel[2450]: group 'ops' removed from /etc/group", (U, "group_deleted", "success", None, None, "ops")),
    ("groupdel[2451]: failed to remove group ops from /etc/gshadow", (U, "group_deleted", "failure", None, None, "ops")),
    # gpasswd (the actor is the caller)
    ("gpasswd[2460]: user tsg added by root to group docker", (P, "group_member_added", "success", "root", "tsg", "docker")),
    ("gpasswd[2460]: user tsg removed by root from group docker in /etc/gshadow",
     (P, "group_member_removed", "success", "root", "tsg", "docker")),
    ("gpasswd[2461]: members of group docker set by root to tsg,alice", (P, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[2461]: administrators of group docker set by root to alice", (P, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[2462]: password of group docker changed by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[2462]: password of group docker removed by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[2462]: access to group docker restricted by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[2463]: alice failed to add user bob to group docker in /etc/group",
     (P, "group_member_added", "failure", "alice", "bob", "docker")),
    ("gpasswd[2463]: alice failed to remove user bob from group docker",
     (P, "group_member_removed", "failure", "alice", "bob", "docker")),
    ("gpasswd[2463]: alice failed to change password of group docker", (U, "group_modified", "failure", "alice", None, "docker")),
    ("gpasswd[2463]: alice failed to set the members of group docker to bob", (P, "group_modified", "failure", "alice", None, "docker")),
    # passwd, chpasswd, newusers
    ("passwd[2470]: password for 'tsg' changed by 'root'", (U, "password_changed", "success", "root", "tsg", None)),
    ("passwd[2470]: pam_unix(passwd:chauthtok): password changed for tsg", (U, "password_changed", "success", None, "tsg", None)),
    ("passwd[2471]: incorrect password for tsg", (A, "authenticate", "failure", "tsg", None, None)),
    ("passwd[2472]: password locked for 'tsg'", (U, "password_changed", "failure", None, "tsg", None)),
    ("passwd[2473]: can't view or modify password information for root", (U, "password_changed", "failure", None, "root", None)),
    ("passwd[2474]: root is not authorized by SELinux to change the password of tsg",
     (U, "password_changed", "failure", "root", "tsg", None)),
    ("chpasswd[2475]: pam_unix(chpasswd:chauthtok): password changed for tsg",
     (U, "password_changed", "success", None, "tsg", None)),
    ("chpasswd[2476]: failure while writing changes to /etc/shadow", (U, "password_changed", "failure", None, None, None)),
    ("newusers[2477]: failure while writing changes to /etc/passwd", (U, "user_created", "failure", None, None, None)),
    # chage, chfn, chsh
    ("chage[2480]: changed password expiry for tsg", (U, "user_modified", "success", None, "tsg", None)),
    ("chage[2481]: can't find the shadow password file", (U, "user_modified", "failure", None, None, None)),
    ("chfn[2490]: changed user 'tsg' information", (U, "user_modified", "success", None, "tsg", None)),
    ("chsh[2491]: changed user 'tsg' shell to '/bin/zsh'", (U, "user_modified", "success", None, "tsg", None)),
    ("chsh[2492]: can't change shell for 'tsg'", (U, "user_modified", "failure", None, "tsg", None)),
    # vipw/vigr, pwck/grpck
    ("vipw[2500]: file /etc/passwd edited", (U, "user_modified", "success", None, None, None)),
    ("vigr[2501]: file /etc/gshadow edited", (U, "group_modified", "success", None, None, None)),
    ("pwck[2502]: delete passwd line 'tsg:x:1001:1001::/home/tsg'", (U, "user_deleted", "success", None, None, None)),
    ("grpck[2503]: delete group line 'ops:x:1010:'", (U, "group_deleted", "success", None, None, None)),
    ("grpck[2503]: add group 'ops' to '/etc/gshadow'", (U, "group_created", "success", None, None, "ops")),
    # newgrp
    ("newgrp[2510]: user 'tsg' (login 'tsg' on pts/0) switched to group 'docker'",
     (X, "privilege_escalation", "success", "tsg", None, "docker")),
    ("newgrp[2511]: Invalid password for group 'docker' from 'tsg'", (A, "authenticate", "failure", "tsg", None, "docker")),
    # login (shadow-utils, then util-linux)
    ("login[2520]: FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure",
     (A, "login", "failure", "root", None, None)),
    ("login[2520]: FAILED LOGIN (2) on '/dev/pts/3' from '10.0.0.9' FOR 'tsg', Authentication failure",
     (A, "login", "failure", "tsg", None, None)),
    ("login[2521]: TOO MANY LOGIN TRIES (5) on '/dev/tty1' FOR 'root'", (A, "authenticate", "failure", "root", None, None)),
    ("login[2522]: ROOT LOGIN  on '/dev/tty1'", (A, "login", "success", "root", None, None)),
    ("login[2523]: 'tsg' logged in on '/dev/tty2'", (A, "login", "success", "tsg", None, None)),
    ("login[2524]: LOGIN 'tsg' REFUSED on '/dev/tty2'", (A, "login", "failure", "tsg", None, None)),
    ("login[2525]: invalid password for 'tsg' on '/dev/tty2'", (A, "login", "failure", "tsg", None, None)),
    ("login[2526]: exceeded failure limit for 'tsg' on '/dev/tty2'", (A, "authenticate", "failure", "tsg", None, None)),
    ("login[2527]: FAILED LOGIN 1 FROM 10.0.0.9 FOR tsg, Authentication failure", (A, "login", "failure", "tsg", None, None)),
    ("login[2528]: FAILED LOGIN SESSION FROM 10.0.0.9 FOR tsg, Authentication failure",
     (A, "login", "failure", "tsg", None, None)),
    ("login[2529]: TOO MANY LOGIN TRIES (3) FROM 10.0.0.9 FOR tsg, Authentication failure",
     (A, "authenticate", "failure", "tsg", None, None)),
    ("login[2530]: ROOT LOGIN ON tty1", (A, "login", "success", "root", None, None)),
    ("login[2531]: LOGIN ON tty2 BY tsg FROM 10.0.0.9", (A, "login", "success", "tsg", None, None)),
    ("login[2532]: DIALUP AT ttyS0 BY tsg", (A, "login", "success", "tsg", None, None)),
    # su, runuser (util-linux)
    ("su[2540]: (to root) tsg on pts/0", (X, "privilege_escalation", "success", "tsg", "root", None)),
    ("su[2541]: FAILED SU (to root) tsg on pts/0", (X, "privilege_escalation", "failure", "tsg", "root", None)),
    ("runuser[2542]: FAILED RUNUSER (to postgres) root on none", (X, "privilege_escalation", "failure", "root", "postgres", None)),
]


# The same tools' messages in shadow-utils 4.0.x (RHEL 4/5, SLES 9/10: the "older Red Hat hosts"
# of issue 16 item 1) and 4.1.x (RHEL 6, Debian 7/8), whose wording later releases changed
# (checked at tags 4.0.3, 4.0.13, 4.0.18.2, 4.1.0 and 4.1.5.1 of shadow-maint/shadow).
OLDER = [
    ("groupdel[3001]: remove group `ops'", (U, "group_deleted", "success", None, None, "ops")),
    ("groupmod[3002]: change group `ops' to `operators'", (U, "group_modified", "success", None, None, "ops")),
    ("groupmod[3002]: change gid for `ops' to 1020", (U, "group_modified", "success", None, None, "ops")),
    ("groupmod[3002]: change GID for `ops' to 1020", (U, "group_modified", "success", None, None, "ops")),
    ("gpasswd[3003]: add member tsg to group docker by root", (P, "group_member_added", "success", "root", "tsg", "docker")),
    ("gpasswd[3003]: remove member tsg from group docker by root",
     (P, "group_member_removed", "success", "root", "tsg", "docker")),
    ("gpasswd[3003]: set members of docker to tsg,alice", (P, "group_modified", "success", None, None, "docker")),
    ("gpasswd[3003]: set administrators of docker to alice", (P, "group_modified", "success", None, None, "docker")),
    ("gpasswd[3003]: change the password for group docker by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[3003]: remove password from group docker by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[3003]: restrict access to group docker by root", (U, "group_modified", "success", "root", None, "docker")),
    ("gpasswd[3004]: cannot update /etc/gshadow", (U, "group_modified", "failure", None, None, None)),
    ("gpasswd[3004]: cannot re-write /etc/group", (U, "group_modified", "failure", None, None, None)),
    ("gpasswd[3004]: failed to get lock for /etc/group", (U, "group_modified", "failure", None, None, None)),
    ("passwd[3005]: now < minimum age for `tsg'", (U, "password_changed", "failure", None, "tsg", None)),
    ("passwd[3005]: now < minimum age for 'tsg'", (U, "password_changed", "failure", None, "tsg", None)),
    ("passwd[3006]: alice is not authorized to change the password of tsg",
     (U, "password_changed", "failure", "alice", "tsg", None)),
    ("passwd[3007]: alice: can't view or modify password information for tsg",
     (U, "password_changed", "failure", "alice", "tsg", None)),
    ("passwd[3008]: can't change pwd for `tsg'", (U, "password_changed", "failure", None, "tsg", None)),
    ("passwd[3009]: can't open password file", (U, "password_changed", "failure", None, None, None)),
    ("passwd[3009]: error updating password entry", (U, "password_changed", "failure", None, None, None)),
    ("chfn[3010]: can't open /etc/passwd", (U, "user_modified", "failure", None, None, None)),
    ("chsh[3010]: error updating passwd entry", (U, "user_modified", "failure", None, None, None)),
    ("chage[3011]: failed updating /etc/shadow", (U, "user_modified", "failure", None, None, None)),
    ("chage[3011]: failed rewriting /etc/shadow", (U, "user_modified", "failure", None, None, None)),
    ("usermod[3012]: error adding shadow group entry", (U, "user_modified", "failure", None, None, None)),
    ("usermod[3012]: error opening group file", (U, "user_modified", "failure", None, None, None)),
    ("useradd[3013]: defaults: group=100, home=/home, inactive=-1, expire=",
     ("policy_change", "policy_changed", "success", None, None, None)),
]


def _parse(tmp_path: Path, lines: list[str]) -> list:
    path = tmp_path / "secure"
    path.write_text("".join(f"Mar  3 09:{i // 60:02d}:{i % 60:02d} db01 {ln}\n" for i, ln in enumerate(lines)),
                    encoding="utf-8")
    return read_events(path, registry(), "syslog", reference_time=REFERENCE_TIME)


@pytest.mark.parametrize("table", [TABLE, OLDER], ids=["current", "older"])
def test_every_kind_maps(tmp_path, table):
    events = _parse(tmp_path, [line for line, _ in table])
    assert len(events) == len(table)
    wrong = []
    for (line, want), ev in zip(table, events, strict=True):
        got = (ev.category, ev.action, ev.outcome, ev.actor, ev.target, ev.role)
        if got != want:
            wrong.append(f"{line}\n   want {want}\n   got  {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("line", "attrs"), [
    ("useradd[1]: failed adding user 'tsg', exit code: 9", {"exit_code": 9}),
    ("usermod[1]: change user 'tsg' shell from '/bin/bash' to '/bin/zsh'", {"field": "shell", "old": "/bin/bash", "new": "/bin/zsh"}),
    ("userdel[1]: removed group 'tsg' owned by 'tsg'", {"owner": "tsg"}),
    ("userdel[1]: removed shadow group 'devs'", {"shadow": True}),
    ("chfn[1]: changed user 'tsg' information", {"field": "information"}),
    ("groupadd[1]: group added to /etc/group: name=ops, GID=1010", {"file": "/etc/group", "gid": 1010}),
    ("login[1]: TOO MANY LOGIN TRIES (5) on '/dev/tty1' FOR 'root'", {"summary": True, "attempts": 5}),
    ("gpasswd[1]: user tsg removed by root from group docker in /etc/gshadow", {"file": "/etc/gshadow"}),
])
def test_details_are_kept(tmp_path, line, attrs):
    ev = _parse(tmp_path, [line])[0]
    assert attrs.items() <= (ev.attrs or {}).items()


def test_housekeeping_is_plain_log(tmp_path):
    events = _parse(tmp_path, ["usermod[1]: failed to unlock /etc/passwd",
                               "chsh[1]: Cannot determine the user name of the caller (UID 1001)",
                               "chfn[1]: can't unlock /etc/passwd", "gpasswd[1]: cannot close /etc/group"])
    assert [(e.category, e.action, e.outcome) for e in events] == [("system", "log", "failure")] * 4


@pytest.mark.parametrize(("line", "want"), [
    ("klogind[19272]: Authentication failed from 163.27.187.39 (163.27.187.39): "
     "Permission denied in replay cache code ", ("authenticate", "failure", "163.27.187.39")),
    ("klogind[19272]: Kerberos authentication failed ", ("authenticate", "failure", None)),
    ("rshd[1234]: Authentication failed from host.example.org: Permission denied",
     ("authenticate", "failure", None)),
])
def test_remote_shell_daemons_report_refused_logins(tmp_path, line, want):
    """klogind/kshd/rlogind lines (Loghub's Linux log) are credential checks, not system noise."""
    [ev] = _parse(tmp_path, [line])
    assert (ev.action, ev.outcome, ev.src_ip) == want and ev.category == "authentication"


@pytest.mark.parametrize(("line", "want"), [
    # util-linux login writes the remote host as given (a name without reverse-DNS checks), else
    # the tty name, else "<unknown>"; shadow's login the same in quotes. Only an address is src_ip.
    ("login[1]: LOGIN ON pts/1 BY tsg FROM host.example.org", ("tsg", None, "host.example.org")),
    ("login[1]: LOGIN ON pts/1 BY tsg FROM 10.0.0.9", ("tsg", "10.0.0.9", None)),
    ("login[1]: ROOT LOGIN ON pts/0 FROM gw.example.org", ("root", None, "gw.example.org")),
    ("login[1]: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure", ("root", None, "tty1")),
    ("login[1]: FAILED LOGIN 2 FROM <unknown> FOR root, Authentication failure", ("root", None, None)),
    ("login[1]: FAILED LOGIN (1) on '/dev/pts/3' from 'ws7.example.org' FOR 'tsg', Authentication failure",
     ("tsg", None, "ws7.example.org")),
    ("login[1]: TOO MANY LOGIN TRIES (3) FROM bastion.example.org FOR tsg, Authentication failure",
     ("tsg", None, "bastion.example.org")),
    # util-linux writes "(unknown)" for a user name it chose not to log (PAM_USER_UNKNOWN)
    ("login[1]: FAILED LOGIN 1 FROM 10.0.0.9 FOR (unknown), User not known to the underlying authentication "
     "module", (None, "10.0.0.9", None)),
])
def test_login_from_a_host_name_is_not_a_source_ip(tmp_path, line, want):
    [ev] = _parse(tmp_path, [line])
    assert (ev.actor, ev.src_ip, (ev.attrs or {}).get("from")) == want
