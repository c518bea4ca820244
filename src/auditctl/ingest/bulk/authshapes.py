"""The auth.log message shapes the syslog bulk path parses in SQL: one row per shape.

Each shape is the set of messages for which `authlog.interpret` (the plugin) is known to pick
one rule, and says how to cut that rule's fields with `split_part`/`substr` (never captures):

- `apps`: the programs whose messages it reads (exact names, as the plugin's handler table
  has them); None: any program (PAM lines, read before any handler); OTHER_APPS: any program
  without a handler in `authlog` (their lines are plain `system`/`log` events).
- `prefix` and `pattern`: a literal start (a cheap test) and an RE2 pattern, anchored and
  match-only, over the message (printable ASCII; tokens `[^ ]+` are Python's `\\S+` on it).
  A pattern is deliberately narrower than the plugin's rule: a message it does not match goes
  to the plugin, so narrower is always safe; wider is a bug the identity test catches.
- the event: SQL expressions over `msg` (the message after the tag, trimmed) for each field,
  and `attrs` as (key, JSON value, condition) in the plugin's key order.

Why each pattern picks the same rule and the same cuts as the plugin's regex (lazy groups,
rule order, RuleSet's 4-character index) is noted on the shape. A new message kind is a new
row here plus its examples in tests/test_bulk_identity.py. The plugin's rules stay in
`authlog.py`: they also serve journald, whose messages are not syslog lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditctl.ingest.authlog import AUTH, PRIV

OTHER_APPS = ("*other*",)
SSHD = ("sshd", "sshd-session", "sshd-auth")
TOK = "[^ ]+"
PORT = "[0-9]{1,9}"  # an int() in the plugin: kept far below 64 bits
IPX = "[0-9a-fA-F:.]*[0-9a-fA-F]"  # the plugin's preauth address class
PREAUTH = r"\[preauth\]"


def w(i: int, of: str = "msg") -> str:
    """The i-th space-separated word (1-based; '' when there are fewer)."""
    return f"split_part({of}, ' ', {i})"


def s(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def js(expr: str) -> str:
    """A text as a JSON string, as orjson writes it for printable ASCII."""
    return f"""('"' || replace(replace({expr}, '\\', '\\\\'), '"', '\\"') || '"')"""


def ji(expr: str) -> str:
    """Digits as a JSON integer (int() in the plugin: leading zeros dropped)."""
    return f"CAST(CAST({expr} AS BIGINT) AS VARCHAR)"


TRUE = "'true'"


@dataclass(frozen=True)
class Shape:
    name: str
    apps: tuple[str, ...] | None
    prefix: str
    pattern: str
    category: str  # SQL expressions from here on
    action: str
    outcome: str
    original: str | None = None
    actor: str | None = None
    target: str | None = None
    resource: str | None = None
    src_ip: str | None = None
    address: str | None = None  # a `from ADDRESS` word: src_ip if an address, else attrs.rhost (see below)
    session: str | None = None
    attrs: tuple[tuple[str, str, str | None], ...] = ()
    guard: str | None = None  # a further SQL condition
    let: tuple[tuple[str, str], ...] = ()  # named values (each may use the ones before) for the fields


# sshd: RuleSet tries the rules keyed by the message's first 4 characters, and the rules with
# a shorter literal prefix (PAM:, maximum, "N more authentication failures", preauth), in list
# order. Those unkeyed rules need `PAM: `/`error: `/`maximum`/digits at the start or
# `[preauth]` at the end, so only the preauth guard matters below.
_NOT_PREAUTH = f"NOT ends_with(msg, {s('[preauth]')})"
_PAM_MODULE = "split_part(msg, '(', 1)"
_PAM_SERVICE = "substr(msg, strpos(msg, '(') + 1, strpos(msg, ':') - strpos(msg, '(') - 1)"
_PAM_LET = (("pam_module", _PAM_MODULE), ("pam_service", _PAM_SERVICE),
            ("pam_words", "string_split(substr(msg, strpos(msg, '): ') + 3), ' ')"))
_PAM_ATTRS = (("pam_module", js("pam_module"), None), ("pam_service", js("pam_service"), None))
# pam_unix session: `for user (\S+?)(?:\(uid=\d+\))?(?: by (\S*?)(?:\(uid=\d+\))?)?$`; with no
# space or parenthesis in the names, each lazy group is the whole name. A `by LOGIN` (getty's
# utmp placeholder) is no by-user, as in the plugin.
_SESSION_LET = (*_PAM_LET, ("session_user", "split_part(pam_words[5], '(', 1)"),
                ("session_by", "nullif(nullif(split_part(coalesce(pam_words[7], ''), '(', 1), ''), 'LOGIN')"),
                ("by_other", "coalesce(session_by <> session_user, false)"))
# An sshd `from ADDRESS` word (`address`): the plugin's `_ev` keeps src_ip for an address
# (addresses.is_ip) and moves anything else (a host name, with UseDNS) to attrs.rhost, after
# the rule's attrs. IPv4 is decided here; a word with a colon (IPv6, or no address at all) is
# left to the plugin, since is_ip asks ipaddress for those.
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = f"{_OCTET}(\\.{_OCTET}){{3}}"


def is_ipv4(expr: str) -> str:
    return f"regexp_full_match({expr}, '{IPV4}')"


# pam_unix auth failure: `_pam_kv` reads `key=value` words; the layout below has each key once.
_KV_LET = (*_PAM_LET, ("logname", "substr(pam_words[3], 9)"), ("tty", "substr(pam_words[6], 5)"),
           ("ruser", "substr(pam_words[7], 7)"), ("rhost", "substr(pam_words[8], 7)"),
           ("kv_user", "coalesce(substr(pam_words[10], 6), '')"),  # absent: no `  user=`
           ("person", "coalesce(nullif(ruser, ''), nullif(logname, ''), nullif(kv_user, ''))"),
           # addresses.is_ip for IPv4 (IPv6 rhosts go to the plugin)
           ("ipv4", is_ipv4("rhost")))
# sudo: `\s*(\S+) : (?:(.*?) ; )?TTY=(.*?) ; PWD=(.*?) ; USER=(.*?) ;(?: GROUP=...)?(?: ENV=...)?
# COMMAND=(.*)`. With no `;` in any field each lazy group ends at the next ` ; `, and the
# problem group can only match when a ` ; ` is followed by `TTY=`.
_SUDO_USER = w(1)
_SUDO_PART = "split_part(msg, ' ; ', {})"
_SUDO_FIELDS = "TTY=[^;]* ; PWD=[^;]* ; USER=[^;]* ; COMMAND=[^;]*$"


def _sudo_fields(first: int) -> dict[str, str]:
    """TTY, PWD, USER, COMMAND of a sudo line whose TTY= is in ` ; `-part `first`."""
    return {"tty": (f"substr({_SUDO_PART.format(1)}, length({_SUDO_USER}) + 8)" if first == 1
                    else f"substr({_SUDO_PART.format(first)}, 5)"),
            "pwd": f"substr({_SUDO_PART.format(first + 1)}, 5)",
            "user": f"substr({_SUDO_PART.format(first + 2)}, 6)",
            "command": f"substr({_SUDO_PART.format(first + 3)}, 9)"}


_SUDO = _sudo_fields(1)
_SUDO_BAD = _sudo_fields(2)
_SUDO_PROBLEM = f"substr({_SUDO_PART.format(1)}, length({_SUDO_USER}) + 4)"
_LOGIND_USER = w(6)
_CRON_CLOSE = "strpos(msg, ')')"


def _preauth(name: str, head: str, words: int, user: bool) -> Shape:
    """`(?:Connection closed by|Disconnected from|Received disconnect from)(?: (authenticating|
    invalid) user (\\S+))? (IPX)(?: port \\d+)?\\b.*\\[preauth\\]$` on `head ...`, whose address is
    word `words` + 1 (+ 3 with a user). The address token is all IPX (the greedy class ends
    at the space), so the rule's group is that token."""
    who = f" (authenticating|invalid) user {TOK}" if user else ""
    tail = "[0-9]+:[0-9]+: .*" if head.startswith("Received") else f"[0-9]+ {PREAUTH}"
    pattern = f"^{head}{who} {IPX} port {tail}" + ("" if not head.startswith("Received") else PREAUTH) + "$"
    ip = w(words + (4 if user else 1))
    attrs: tuple[tuple[str, str, str | None], ...] = (("preauth", TRUE, None),)
    if user:
        attrs += (("invalid_user", TRUE, f"{w(words + 1)} = 'invalid'"),)
    return Shape(name, SSHD, head, pattern, s(AUTH), "'authenticate'", "'unknown'", s("preauth disconnect"),
                 actor=w(words + 3) if user else None, address=ip, attrs=attrs)


SHAPES: tuple[Shape, ...] = (
    # -- sshd: `Failed (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)`. With one-word
    # names the lazy user is the word before ` from `, and the optional group is taken exactly
    # when the words are `invalid user NAME from` (the word counts tell the two apart).
    Shape("sshd failed, invalid user", SSHD, "Failed ",
          f"^Failed {TOK} for invalid user {TOK} from {TOK} port {PORT}( ssh2)?$",
          s(AUTH), "'login'", "'failure'", f"'Failed ' || {w(2)}", actor=w(6), address=w(8),
          attrs=(("method", js(w(2)), None), ("port", ji(w(10)), None), ("invalid_user", TRUE, None))),
    Shape("sshd failed", SSHD, "Failed ", f"^Failed {TOK} for {TOK} from {TOK} port {PORT}( ssh2)?$",
          s(AUTH), "'login'", "'failure'", f"'Failed ' || {w(2)}", actor=w(4), address=w(6),
          attrs=(("method", js(w(2)), None), ("port", ji(w(8)), None))),
    # `Accepted (\S+) for (\S+) from (\S+) port (\d+)(?: \S+)?(?:: (.*))?`: after ` ssh2` the
    # optional word takes `ssh2:` greedily, so the `key` group never matches these lines.
    Shape("sshd accepted", SSHD, "Accepted ", f"^Accepted {TOK} for {TOK} from {TOK} port {PORT}( ssh2(: .*)?)?$",
          s(AUTH), "'login'", "'success'", f"'Accepted ' || {w(2)}", actor=w(4), address=w(6),
          attrs=(("method", js(w(2)), None), ("port", ji(w(8)), None))),
    # `Invalid user (.*?) from (\S+)(?: port (\d+))?`
    Shape("sshd invalid user", SSHD, "Invalid user ", f"^Invalid user {TOK} from {TOK}( port {PORT})?$",
          s(AUTH), "'authenticate'", "'failure'", s("Invalid user"), actor=w(3), address=w(5),
          attrs=(("invalid_user", TRUE, None), ("port", ji(w(7)), f"{w(7)} <> ''"))),
    _preauth("sshd preauth closed, user", "Connection closed by", 3, True),
    _preauth("sshd preauth closed", "Connection closed by", 3, False),
    _preauth("sshd preauth disconnected, user", "Disconnected from", 2, True),
    _preauth("sshd preauth disconnected", "Disconnected from", 2, False),
    _preauth("sshd preauth received disconnect", "Received disconnect from", 3, False),
    # `Received disconnect from (\S+)(?: port \d+)?:\s*\d+: (.*)`, after the preauth rule; the
    # address word ends in no colon, so the first `: ` is the one before the reason.
    Shape("sshd received disconnect", SSHD, "Received disconnect from ",
          "^Received disconnect from [^ ]*[^ :] port [0-9]+:[0-9]+: .*$",
          s(AUTH), "'logout'", "'success'", s("Received disconnect"), address=w(4),
          attrs=(("reason", js("substr(msg, strpos(msg, ': ') + 2)"), None),), guard=_NOT_PREAUTH),
    # `Disconnected from user (\S+) (\S+) port (\d+)` comes before the preauth rule
    Shape("sshd disconnected", SSHD, "Disconnected from user ", f"^Disconnected from user {TOK} {TOK} port [0-9]+$",
          s(AUTH), "'logout'", "'success'", s("Disconnected from user"), actor=w(4), address=w(5)),
    # `Connection closed by (\S+)(?: port \d+)?$`, after the preauth rule
    Shape("sshd connection closed", SSHD, "Connection closed by ", f"^Connection closed by {TOK}( port [0-9]+)?$",
          s(AUTH), "'logout'", "'unknown'", s("Connection closed"), address=w(4), guard=_NOT_PREAUTH),
    # `Connection from (\S+) port (\d+)` (a prefix match: the rest is free)
    Shape("sshd connection from", SSHD, "Connection from ", f"^Connection from {TOK} port [0-9]",
          "'system'", "'log'", "'unknown'", s("Connection from"), address=w(3)),
    # -- PAM, any program: `(pam_\w+)\(([^:)]+):(\w+)\): (.*)` is tried before the handler.
    Shape("pam session", None, "pam_",
          r"^pam_[A-Za-z0-9_]+\([^:)]+:session\): session (opened|closed) for user [^ ()]+(\(uid=[0-9]+\))?"
          r"( by [^ ()]*(\(uid=[0-9]+\))?)?$",
          s(AUTH), "CASE WHEN pam_words[2] = 'opened' THEN 'session_start' ELSE 'session_end' END", "'success'",
          "pam_module || '(' || pam_service || ':session) session ' || pam_words[2]",
          actor="CASE WHEN by_other THEN session_by ELSE session_user END",
          target="CASE WHEN by_other THEN session_user END",
          attrs=_PAM_ATTRS, let=_SESSION_LET),
    # kind `auth`: not a session, so `authentication failure` decides
    Shape("pam auth failure", None, "pam_",
          r"^pam_[A-Za-z0-9_]+\([^:)]+:auth\): authentication failure; logname=[^ ]* uid=[^ ]* euid=[^ ]* "
          r"tty=[^ ]* ruser=[^ ]* rhost=[^ :]*(  user=[^ ]+)?$",
          s(AUTH), "'authenticate'", "'failure'", "pam_module || '(' || pam_service || ':auth) authentication failure'",
          actor="person", target="CASE WHEN kv_user <> '' AND kv_user IS DISTINCT FROM person THEN kv_user END",
          src_ip="CASE WHEN ipv4 THEN rhost END",
          attrs=(*_PAM_ATTRS, ("tty", js("tty"), "tty <> ''"), ("rhost", js("rhost"), "rhost <> '' AND NOT ipv4")),
          let=_KV_LET),
    # -- sudo (no pid in its tag); GROUP=, ENV= and `;` inside a field go to the plugin
    Shape("sudo command", ("sudo",), "", f"^[^ ]+ : {_SUDO_FIELDS}",
          s(PRIV), "'command_run'", "'success'", s("sudo COMMAND"), actor=_SUDO_USER,
          target=f"nullif({_SUDO['user']}, '')", resource=f"nullif({_SUDO['command']}, '')",
          attrs=(("tty", js(_SUDO["tty"]), None), ("pwd", js(_SUDO["pwd"]), None))),
    Shape("sudo incorrect password", ("sudo",), "",
          f"^[^ ]+ : [0-9]{{1,9}} incorrect password attempts? ; {_SUDO_FIELDS}",
          s(AUTH), "'authenticate'", "'failure'", s("sudo incorrect password"), actor=_SUDO_USER,
          target=f"nullif({_SUDO_BAD['user']}, '')", resource=f"nullif({_SUDO_BAD['command']}, '')",
          attrs=(("tty", js(_SUDO_BAD["tty"]), None), ("pwd", js(_SUDO_BAD["pwd"]), None),
                 ("reason", js(_SUDO_PROBLEM), None), ("attempts", ji(w(1, _SUDO_PROBLEM)), None))),
    # -- cron: `\((\S+)\) CMD \((.*)\)$` (an Event of its own: resource '' stays '')
    Shape("cron command", ("CRON", "cron"), "(", r"^\([^ ()]+\) CMD \(.*\)$",
          "'system'", "'log'", "'unknown'", s("CRON CMD"), actor=f"substr(msg, 2, {_CRON_CLOSE} - 2)",
          resource=f"substr(msg, {_CRON_CLOSE} + 7, length(msg) - {_CRON_CLOSE} - 7)"),
    # -- systemd-logind: `New session (\S+) of user (\S+?)\.?$` (the lazy name leaves one
    # final dot out), `Session (\S+) logged out\.`; other messages match no rule (RuleSet
    # keys `New ` and `Sess`) and are plain log lines.
    Shape("logind new session", ("systemd-logind",), "New session ", f"^New session {TOK} of user {TOK}$",
          s(AUTH), "'session_start'", "'success'", s("New session"),
          actor=(f"CASE WHEN length({_LOGIND_USER}) > 1 AND ends_with({_LOGIND_USER}, '.') "
                 f"THEN left({_LOGIND_USER}, length({_LOGIND_USER}) - 1) ELSE {_LOGIND_USER} END"),
          session=w(3)),
    Shape("logind logged out", ("systemd-logind",), "Session ", rf"^Session {TOK} logged out\.",
          s(AUTH), "'session_end'", "'success'", s("Session logged out"), session=w(2)),
    Shape("logind other", ("systemd-logind",), "", "",
          "'system'", "'log'", "'unknown'", guard="NOT starts_with(msg, 'New ') AND NOT starts_with(msg, 'Sess')"),
    # -- su: `\(to (\S+)\) (\S+) on (\S+)`, the first rule tried
    Shape("su", ("su", "su-l", "runuser"), "(to ", r"^\(to [^ ()]+\) [^ ]+ on [^ ]+$",
          s(PRIV), "'privilege_escalation'", "'success'", s("su"), actor=w(3),
          target="substr(msg, 5, strpos(msg, ')') - 5)", attrs=(("tty", js(w(5)), None),)),
    # -- programs without a handler: plain log lines (not `last message repeated N times`)
    Shape("other program", OTHER_APPS, "", "",
          "'system'", "'log'", "'unknown'", guard="NOT starts_with(msg, 'last message repeated')"),
)
