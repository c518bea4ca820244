"""One change, one row: the lines a tool writes for one change, clustered.

`groupadd` writes three lines per group (/etc/group, /etc/gshadow, "new group"), `usermod -aG`
writes a group and a shadow-group line, `userdel` a user line and group lines. Every line stays
an event; the report's change tables and the rules that count changes (`unit: change`) see a
cluster of events with the same (host, app, pid or session, action, target, role), each within
CHANGE_GAP of the previous one, as one change whose lines are its evidence.

This module is the one definition of that clustering (SQL over `current_events`); the report
(`report.sql.changes`) and the rule compiler (`rulesql`, `unit: change`) both use it.
"""

from __future__ import annotations

from datetime import timedelta

CHANGE_GAP = timedelta(seconds=5)
# what makes two lines the same change; pid or, for sources without one, the session
CHANGE_KEY = ("host", "app", "coalesce(CAST(pid AS VARCHAR), session)", "action", "target", "role")


def clustered_sql(source: str, gap_param: str) -> str:
    """Rows of `source` (a subquery or table with current_events' columns) with `change_id`:
    the seq of the first line (in time) of the change the row belongs to. `gap_param` is the
    bound placeholder for CHANGE_GAP in seconds."""
    key = ", ".join(CHANGE_KEY)
    return f"""(SELECT * EXCLUDE (starts, cluster_no), first_value(seq) OVER (PARTITION BY {key}, cluster_no
                       ORDER BY ts, seq) AS change_id
                FROM (SELECT *, sum(CASE WHEN starts THEN 1 ELSE 0 END) OVER (PARTITION BY {key}
                                    ORDER BY ts, seq ROWS UNBOUNDED PRECEDING) AS cluster_no
                      FROM (SELECT *, coalesce(epoch(ts) - epoch(lag(ts) OVER (PARTITION BY {key}
                                    ORDER BY ts, seq)) > {gap_param}, TRUE) AS starts
                            FROM {source})))"""


def changes_sql(source: str, gap_param: str, columns: tuple[str, ...]) -> str:
    """One row per change of `source`: `columns` of its first line, `lines` and `seqs` (all
    its lines, in time order)."""
    first = ", ".join(f"arg_min({c}, (ts, seq)) AS {c}" for c in columns)
    return f"""(SELECT {first}, count(*) AS lines, list(seq ORDER BY ts, seq) AS seqs
                FROM {clustered_sql(source, gap_param)} GROUP BY change_id)"""
