"""SQL for the review report's sections (part of the store layer: `Store.run_query` runs it).

Every function returns (sql, params) over the period [since, until). Values are bound.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auditctl.detect.changes import changes_sql

Query = tuple[str, list[Any]]

_PERIOD = "ts >= $1 AND ts < $2"


HOST = "nullif(trim(host), '')"  # a blank host is no host: never a row (or a count) of its own
NO_HOST = "(no host)"
SUMMARY = "coalesce(TRY_CAST(json_extract(attrs, '$.summary') AS BOOLEAN), FALSE)"
# the three kinds of authentication event (see README, "Authentication events")
LOGIN_SUCCESS = "action = 'login' AND outcome = 'success'"
FAILED_LOGIN = "action = 'login' AND outcome = 'failure'"
OTHER_AUTH_FAILURE = f"action = 'authenticate' AND outcome = 'failure' AND NOT {SUMMARY}"
AUTH_SUMMARY_LINE = f"action = 'authenticate' AND {SUMMARY}"
# rsyslog's "message repeated N times: [ <login line> ]": N attempts written on no other line
COLLAPSED_LOGINS = f"{AUTH_SUMMARY_LINE} AND json_extract_string(attrs, '$.repeated_action') = 'login'"
FAILURE_KINDS = {"login": FAILED_LOGIN, "other": OTHER_AUTH_FAILURE}


def overview(since: datetime, until: datetime) -> Query:
    return (f"""SELECT count(*) AS events, count(DISTINCT source) AS sources, count(DISTINCT {HOST}) AS hosts,
                count(*) FILTER (WHERE {HOST} IS NULL) AS no_host,
                count(*) FILTER (WHERE action = 'unparsed') AS unparsed, min(ts) AS first, max(ts) AS last
                FROM current_events WHERE {_PERIOD}""", [since, until])


def by_column(column: str, since: datetime, until: datetime, limit: int = 20) -> Query:
    """Events per value, the `limit` largest; a blank or missing host is one "(no host)" row."""
    # `column` is one of a fixed set chosen by the caller, never user input
    assert column in ("category", "host", "parser", "source")
    value = f"coalesce({HOST}, '{NO_HOST}')" if column == "host" else f"coalesce({column}, '(none)')"
    return (f"""SELECT {value} AS {column}, count(*) AS events FROM current_events
                WHERE {_PERIOD} GROUP BY 1 ORDER BY events DESC, 1 LIMIT {int(limit)}""", [since, until])


def distinct_values(column: str, since: datetime, until: datetime) -> Query:
    """How many values `by_column` groups into (a blank or missing host counts as one)."""
    assert column in ("category", "host", "parser", "source")
    value = f"coalesce({HOST}, '{NO_HOST}')" if column == "host" else f"coalesce({column}, '(none)')"
    return f"SELECT count(DISTINCT {value}) AS n FROM current_events WHERE {_PERIOD}", [since, until]


def per_day_by_category(since: datetime, until: datetime) -> Query:
    return (f"""SELECT strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%d') AS day, category, count(*) AS events
                FROM current_events WHERE {_PERIOD} GROUP BY 1, 2 ORDER BY 1, 2""", [since, until])


def changes(admin_role_sql: str, params: list[Any], limit: int = 500) -> Query:
    """One row per change (see `auditctl.detect.changes`), `lines` and `seqs` its events.

    `params` = [since, until, category, change gap in seconds, *the admin condition's params ($5...)]."""
    return (f"""SELECT *, coalesce({admin_role_sql}, FALSE) AS admin FROM {_changes()}
                ORDER BY ts, seq LIMIT {int(limit)}""", params)


def changes_by_action(admin_role_sql: str, params: list[Any]) -> Query:
    """Per action: changes, their lines, and admin grants among them (same params as `changes`)."""
    return (f"""SELECT action, count(*) AS changes, sum(lines) AS lines,
                       count(*) FILTER (WHERE coalesce({admin_role_sql}, FALSE)
                                        AND action IN ('role_granted', 'group_member_added')) AS admin_grants
                FROM {_changes()} GROUP BY 1 ORDER BY changes DESC, 1""", params)


def _changes() -> str:
    source = f"(SELECT * FROM current_events WHERE {_PERIOD} AND category = $3)"
    return changes_sql(source, "$4", ("seq", "ts", "host", "app", "action", "outcome", "actor", "target", "role",
                                      "message"))


def auth_summary(since: datetime, until: datetime) -> Query:
    return (f"""SELECT count(*) FILTER (WHERE {LOGIN_SUCCESS}) AS logins,
                       count(*) FILTER (WHERE {FAILED_LOGIN}) AS failed_logins,
                       count(*) FILTER (WHERE {OTHER_AUTH_FAILURE}) AS other_failures,
                       count(*) FILTER (WHERE {AUTH_SUMMARY_LINE}) AS summary_lines,
                       sum(TRY_CAST(json_extract(attrs, '$.repeats') AS BIGINT))
                           FILTER (WHERE {AUTH_SUMMARY_LINE}) AS summary_repeats,
                       count(*) FILTER (WHERE {COLLAPSED_LOGINS}) AS collapsed_lines,
                       sum(TRY_CAST(json_extract(attrs, '$.repeats') AS BIGINT))
                           FILTER (WHERE {COLLAPSED_LOGINS} AND outcome = 'failure') AS collapsed_failed_logins,
                       sum(TRY_CAST(json_extract(attrs, '$.repeats') AS BIGINT))
                           FILTER (WHERE {COLLAPSED_LOGINS} AND outcome = 'success') AS collapsed_logins,
                       count(DISTINCT actor) FILTER (WHERE {LOGIN_SUCCESS}) AS users,
                       count(DISTINCT src_ip) FILTER (WHERE {FAILED_LOGIN}) AS failing_sources,
                       count(DISTINCT actor) FILTER (WHERE {FAILED_LOGIN}) AS failing_users
                FROM current_events WHERE {_PERIOD} AND action IN ('login', 'authenticate')""", [since, until])


def top_failing(column: str, since: datetime, until: datetime, kind: str = "login", limit: int = 10) -> Query:
    """Failures per value of `column` (a NULL value is a row too), most first."""
    assert column in ("src_ip", "actor", "original_action")
    return (f"""SELECT {column} AS value, count(*) AS failures, min(ts) AS first, max(ts) AS last
                FROM current_events WHERE {_PERIOD} AND {FAILURE_KINDS[kind]}
                GROUP BY 1 ORDER BY value IS NULL, failures DESC, 1 LIMIT {int(limit)}""", [since, until])


def failing_totals(column: str, since: datetime, until: datetime, kind: str = "login") -> Query:
    assert column in ("src_ip", "actor", "original_action")
    return (f"""SELECT count(*) AS failures, count(DISTINCT {column}) AS distinct_values,
                       count(*) FILTER (WHERE {column} IS NULL) AS without
                FROM current_events WHERE {_PERIOD} AND {FAILURE_KINDS[kind]}""", [since, until])


def failures_over_time(since: datetime, until: datetime, bucket: str) -> Query:
    assert bucket in ("hour", "day")
    fmt = "%Y-%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d"
    return (f"""SELECT strftime(date_trunc('{bucket}', ts AT TIME ZONE 'UTC'), '{fmt}') AS bucket,
                       count(*) FILTER (WHERE outcome = 'failure') AS failures,
                       count(*) FILTER (WHERE outcome = 'success') AS successes
                FROM current_events WHERE {_PERIOD} AND action = 'login' GROUP BY 1 ORDER BY 1""",
            [since, until])


def privileged(since: datetime, until: datetime, limit: int = 200) -> Query:
    return (f"""SELECT seq, ts, host, action, outcome, actor, target, resource, message FROM current_events
                WHERE {_PERIOD} AND category = 'privileged_action' ORDER BY ts, seq LIMIT {int(limit)}""",
            [since, until])


def privileged_by_actor(since: datetime, until: datetime) -> Query:
    return (f"""SELECT coalesce(actor, '(unknown)') AS actor, count(*) AS actions,
                       count(*) FILTER (WHERE outcome = 'failure') AS failures
                FROM current_events WHERE {_PERIOD} AND category = 'privileged_action'
                GROUP BY 1 ORDER BY actions DESC, 1 LIMIT 20""", [since, until])


def unparsed_by_source(since: datetime, until: datetime) -> Query:
    """Unparsed records dated in the period, and undated ones from sources with events in it."""
    return ("""SELECT source, parser, count(*) AS unparsed FROM current_events
               WHERE action = 'unparsed' AND ((ts >= $1 AND ts < $2) OR (ts IS NULL AND source IN
                     (SELECT DISTINCT source FROM current_events WHERE ts >= $1 AND ts < $2)))
               GROUP BY 1, 2 ORDER BY unparsed DESC, 1""", [since, until])


EVIDENCE_TABLE = "_evidence_wanted"  # (finding BIGINT, seq BIGINT), registered by the caller


def evidence(limit: int = 5) -> Query:
    """The first `limit` events (in time) of every finding in EVIDENCE_TABLE, in one pass: the
    top seqs per finding by an aggregate (no sort of every joined row), then their details."""
    return (f"""WITH top AS (
                  SELECT w.finding, unnest(arg_min(e.seq, (e.ts, e.seq), {int(limit)})) AS seq
                  FROM {EVIDENCE_TABLE} w JOIN current_events e ON e.seq = w.seq GROUP BY w.finding)
                SELECT top.finding, e.seq, e.ts, e.host, e.action, e.outcome, e.actor, e.target, e.src_ip, e.message
                FROM top JOIN current_events e ON e.seq = top.seq ORDER BY top.finding, e.ts, e.seq""", [])


def accounts_as_of(until: datetime) -> Query:
    """Accounts whose latest create/delete event before `until` is a creation."""
    return ("""SELECT target FROM (
                  SELECT target, arg_max(action, ts) AS last FROM current_events
                  WHERE ts < $1 AND target IS NOT NULL AND outcome <> 'failure'
                        AND action IN ('user_created', 'user_deleted')
                  GROUP BY target) WHERE last = 'user_created' ORDER BY target""", [until])


def admins_as_of(admin_role_sql: str, params: list[Any]) -> Query:
    """(account, role) pairs whose latest grant/revoke of an admin role before `until` is a grant.

    `params` = [until, *the admin condition's params ($2...)]."""
    return (f"""SELECT target, role FROM (
                   SELECT target, role, arg_max(action, ts) AS last FROM current_events
                   WHERE ts < $1 AND target IS NOT NULL AND outcome <> 'failure'
                         AND action IN ('role_granted', 'group_member_added', 'role_revoked', 'group_member_removed')
                         AND ({admin_role_sql})
                   GROUP BY target, role)
                WHERE last IN ('role_granted', 'group_member_added') ORDER BY target, role""", params)


def admin_sources(since: datetime, until: datetime, admins: list[str]) -> Query:
    return (f"""SELECT DISTINCT actor, src_ip FROM current_events
                WHERE {_PERIOD} AND action = 'login' AND outcome = 'success' AND src_ip IS NOT NULL
                      AND actor IN (SELECT unnest(CAST($3 AS VARCHAR[])))
                ORDER BY 1, 2""", [since, until, admins])


def access_log(since: datetime, until: datetime) -> tuple[str, list[Any]]:
    return (f"""SELECT seq, ts, actor, role, original_action AS command, outcome, action,
                       coalesce(json_extract(attrs, '$.denied')::BOOLEAN, false) AS denied,
                       json_extract_string(attrs, '$.args') AS args, message
                FROM current_events WHERE {_PERIOD} AND parser = 'auditctl' AND action <> 'log_collected'
                ORDER BY ts, seq""", [since, until])


# -- collection: what the syslog receiver took in, by the time it was stored ----------------

_STORED = "ingested_at >= $1 AND ingested_at < $2"
RECEIVED_LISTENER = "json_extract_string(received, '$.listener')"
LISTENER_COUNTS = ("refused", "refused_busy", "tls_failures", "dropped", "dropped_rate", "dropped_full",
                   "dropped_kernel", "empty", "throttled", "paused")


def _received(where: str) -> str:
    return f"""SELECT {RECEIVED_LISTENER} AS listener, count(*) AS messages,
                      sum(TRY_CAST(json_extract(received, '$.length') AS BIGINT)) AS bytes,
                      count(DISTINCT json_extract_string(received, '$.peer')) AS senders,
                      count(*) FILTER (WHERE json_extract_string(received, '$.host_check') = 'mismatch')
                          AS host_mismatches,
                      count(*) FILTER (WHERE json_extract_string(received, '$.truncated') = 'true') AS truncated
               FROM current_events WHERE received IS NOT NULL AND {where}
               GROUP BY GROUPING SETS ((1), ()) ORDER BY 1 NULLS LAST"""


def received_in_period(since: datetime, until: datetime) -> Query:
    """Per listener (and a last row, listener NULL, over all): the received messages stored in
    the period, their bytes, senders (peer addresses), host-name mismatches and truncated ones."""
    return _received(_STORED), [since, until]


def received_after(seq: int) -> Query:
    """The same counts over the events after `seq` (what one watch cycle stored)."""
    return _received("seq > $1"), [seq]


def listener_counts(since: datetime, until: datetime) -> Query:
    """Per listener: what never became an event (refusals, TLS handshake failures, drops, empty
    messages, throttling), summed over the `log_collected` records watch stored in the period."""
    sums = ", ".join(f"sum(coalesce(TRY_CAST(json_extract(attrs, '$.{k}') AS BIGINT), 0)) AS {k}"
                     for k in LISTENER_COUNTS)
    return (f"""SELECT json_extract_string(attrs, '$.listener') AS listener, count(*) AS records, {sums}
                FROM current_events WHERE parser = 'auditctl' AND action = 'log_collected' AND {_STORED}
                GROUP BY 1 ORDER BY 1""", [since, until])
