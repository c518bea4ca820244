"""Compiling rules to DuckDB SQL (part of the store layer: `Store.run_query` executes it).

Every value from a rule is a bound parameter. Windows are exact sliding windows
(`RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`), never fixed buckets. Each compiled
query returns one row per finding candidate: `group_key` (JSON), `first_ts`, `last_ts`,
`n` (events involved) and `seqs` (their seq numbers, in time order).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auditctl.detect.changes import CHANGE_GAP, clustered_sql
from auditctl.detect.rules import Rule, Step
from auditctl.schema import COLUMN_NAMES
from auditctl.where import Sql, field_sql, where_sql

EVENTS = "current_events"


def _group(rule: Rule, fields: tuple[str, ...] | None = None) -> str:
    """The JSON group key of an event: {"field": value, ...} over `group_by` (or `fields`)."""
    if fields is None and rule.sql_group:
        return rule.sql_group
    fields = rule.group_by if fields is None else fields
    if not fields:
        return "'{}'"
    return "json_object(" + ", ".join(f"'{f}', {field_sql(f, rule.timezone)}" for f in fields) + ")"


def _where(rule: Rule, q: Sql) -> str:
    """A rule's condition: compiled SQL (Sigma) or its `where` mapping."""
    return f"({rule.sql})" if rule.sql else where_sql(rule.where, q, rule.timezone)


def _step_sql(rule: Rule, step: Step, q: Sql) -> str:
    return f"({step.sql})" if step.sql else where_sql(step.where, q, rule.timezone)


def _interval(td: timedelta) -> str:
    return f"INTERVAL '{int(td.total_seconds())} seconds'"


def compile_rule(rule: Rule, since: datetime | None, until: datetime, *,
                 source: str = EVENTS) -> tuple[str, list[Any]]:
    """The rule's query over the events view, or for a plain match rule (`SharedScope`) over
    `source`, a table of the events it can match."""
    q = Sql()
    if source != EVENTS:
        if not _shareable(rule):
            raise ValueError(f"rule {rule.id}: only a match rule over events reads another source")
        return _match(rule, since, until, q, source), q.params
    compile_fn = {"match": _match, "threshold": _threshold, "distinct": _distinct,
                  "sequence": _sequence, "first_seen": _first_seen, "absence": _absence}[rule.type]
    sql = compile_fn(rule, since, until, q)
    if rule.unit == "change" and rule.type in ("match", "threshold", "sequence"):
        sql = _with_change_lines(rule, sql, since, until, q)
    return sql, q.params


def _events(rule: Rule, where: str, rng: str, q: Sql, source: str = EVENTS) -> str:
    """What a rule reads: matching events, or for `unit: change` the first line of each change."""
    if rule.unit != "change" or rule.type not in ("match", "threshold", "sequence"):
        return f"{source} WHERE {where} AND {rng}"
    gap = q.bind(int(CHANGE_GAP.total_seconds()))
    clustered = clustered_sql(f"(SELECT * FROM current_events WHERE {where} AND {rng})", gap)
    return f"{clustered} WHERE seq = change_id"


def _with_change_lines(rule: Rule, sql: str, since: datetime | None, until: datetime, q: Sql) -> str:
    """A `unit: change` rule found changes by their first lines: its findings' seqs become every
    line of those changes (the evidence), clustered the same way over the same events."""
    wheres = [_step_sql(rule, s, q) for s in rule.steps] or [_where(rule, q)]
    rng = _range(q, since, until, lookback=rule.window)
    gap = q.bind(int(CHANGE_GAP.total_seconds()))
    lines = clustered_sql(f"(SELECT * FROM current_events WHERE ({' OR '.join(wheres)}) AND {rng})", gap)
    return f"""
        WITH found AS (SELECT row_number() OVER () AS rid, * FROM ({sql})),
        firsts AS (SELECT rid, unnest(seqs) AS first_line FROM found),
        lines AS (SELECT change_id, seq, ts FROM {lines})
        SELECT any_value(f.group_key) AS group_key, any_value(f.first_ts) AS first_ts,
               any_value(f.last_ts) AS last_ts, any_value(f.n) AS n, list(l.seq ORDER BY l.ts, l.seq) AS seqs
        FROM found f JOIN firsts x ON x.rid = f.rid JOIN lines l ON l.change_id = x.first_line
        GROUP BY f.rid ORDER BY first_ts, group_key"""


def _range(q: Sql, since: datetime | None, until: datetime, lookback: timedelta | None = None) -> str:
    lo = ""
    if since is not None:
        start = since - lookback if lookback else since
        lo = f"ts >= {q.bind(start)} AND "
    return f"{lo}ts < {q.bind(until)}"


def _match(rule: Rule, since: datetime | None, until: datetime, q: Sql, source: str = EVENTS) -> str:
    key = _group(rule)
    where = _where(rule, q)
    rng = _range(q, since, until)
    gap = q.bind(int(rule.cooldown.total_seconds()))
    # consecutive matches of a group closer than the cooldown are one finding
    return f"""
        WITH m AS (SELECT seq, ts, {key} AS g FROM {_events(rule, where, rng, q, source)}),
        c AS (SELECT *, sum(CASE WHEN prev IS NULL OR epoch(ts) - epoch(prev) > {gap} THEN 1 ELSE 0 END)
                  OVER (PARTITION BY g ORDER BY ts, seq) AS cluster
              FROM (SELECT *, lag(ts) OVER (PARTITION BY g ORDER BY ts, seq) AS prev FROM m))
        SELECT g AS group_key, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n,
               list(seq ORDER BY ts, seq) AS seqs
        FROM c GROUP BY g, cluster ORDER BY first_ts, group_key"""


def _windowed(rule: Rule, since: datetime | None, until: datetime, q: Sql, measure: str) -> str:
    """Shared shape of threshold and distinct: qualifying rows, clustered, with their events."""
    key = _group(rule)
    assert rule.window is not None
    where = _where(rule, q)
    rng = _range(q, since, until, lookback=rule.window)
    window = _interval(rule.window)
    need = q.bind(rule.count)
    gap = q.bind(int((rule.cooldown + rule.window).total_seconds()))
    start = q.bind(since) if since is not None else "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
    value = rule.sql_value or (field_sql(rule.field, rule.timezone) if rule.field else "")
    extra = f", {value} AS v" if value else ""
    # Clusters of qualifying rows are cut where two are more than `gap` apart. They are found
    # from their starts (one lag, then a join with the few starts) rather than numbered by a
    # running sum over every row: the same rows, 0.5-0.9 s less per rule over 2M failed logins.
    # Peers (equal ts) are never cut apart, so ordering by ts alone is enough.
    return f"""
        WITH m AS (SELECT seq, ts, {key} AS g{extra} FROM {_events(rule, where, rng, q)}),
        w AS (SELECT g, ts, {measure} OVER (PARTITION BY g ORDER BY ts
                  RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS k FROM m),
        q AS (SELECT g, ts, k FROM w WHERE k >= {need} AND ts >= {start}),
        starts AS (SELECT g, ts AS first_q, lead(ts) OVER (PARTITION BY g ORDER BY ts) AS next_q
                   FROM (SELECT g, ts, lag(ts) OVER (PARTITION BY g ORDER BY ts) AS prev FROM q)
                   WHERE prev IS NULL OR epoch(ts) - epoch(prev) > {gap}),
        f AS (SELECT s.g, s.first_q, min(q.ts) - {window} AS lo, max(q.ts) AS hi, max(q.k) AS peak
              FROM starts s JOIN q ON q.g = s.g AND q.ts >= s.first_q AND (s.next_q IS NULL OR q.ts < s.next_q)
              GROUP BY s.g, s.first_q)
        SELECT f.g AS group_key, min(m.ts) AS first_ts, max(m.ts) AS last_ts, count(*) AS n,
               list(m.seq ORDER BY m.ts, m.seq) AS seqs, any_value(f.peak) AS peak
        FROM f JOIN m ON m.g = f.g AND m.ts >= f.lo AND m.ts <= f.hi
        GROUP BY f.g, f.first_q ORDER BY first_ts, group_key"""


def _threshold(rule: Rule, since: datetime | None, until: datetime, q: Sql) -> str:
    return _windowed(rule, since, until, q, "count(*)")


def _distinct(rule: Rule, since: datetime | None, until: datetime, q: Sql) -> str:
    return _windowed(rule, since, until, q, "count(DISTINCT v)")


def _sequence(rule: Rule, since: datetime | None, until: datetime, q: Sql) -> str:
    """Steps in order, each `count` times, all within `window` of the last step's event.

    For every event of step i (i > 1), take the `count` most recent events of step i-1 that
    qualified before it (greedy: latest first is optimal) and carry the earliest start of that
    chain; the last step's event is a match when its chain started within the window.
    """
    key = _group(rule)
    assert rule.window is not None
    window = _interval(rule.window)
    rng = _range(q, since, until, lookback=rule.window)
    ctes = []
    for i, step in enumerate(rule.steps):
        ctes.append(f"s{i} AS (SELECT seq, ts, {key} AS g FROM {_events(rule, _step_sql(rule, step, q), rng, q)})")
    # chain 0: every step-0 event starts a chain of itself
    ctes.append("c0 AS (SELECT seq, ts, g, ts AS start, [seq] AS chain FROM s0)")
    for i in range(1, len(rule.steps)):
        need = q.bind(rule.steps[i - 1].count)
        ctes.append(f"""c{i} AS (
            SELECT seq, ts, g, min(p_start) AS start, list_distinct(flatten(list(p_chain))) || [seq] AS chain FROM (
                SELECT b.seq, b.ts, b.g, p.start AS p_start, p.chain AS p_chain,
                       row_number() OVER (PARTITION BY b.seq ORDER BY p.ts DESC, p.seq DESC) AS r,
                       count(*) OVER (PARTITION BY b.seq) AS available
                FROM s{i} b JOIN c{i - 1} p ON p.g = b.g AND p.ts <= b.ts AND p.seq <> b.seq
                     AND p.ts >= b.ts - {window})
            WHERE r <= {need} AND available >= {need}
            GROUP BY seq, ts, g)""")
    last = len(rule.steps) - 1
    need_last = q.bind(rule.steps[last].count)
    start = q.bind(since) if since is not None else "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
    gap = q.bind(int(rule.cooldown.total_seconds()))
    ctes.append(f"""hits AS (SELECT * FROM c{last} WHERE ts - start <= {window} AND ts >= {start})""")
    # the last step may need several events too: count hits per group in the window
    ctes.append(f"""enough AS (SELECT *, count(*) OVER (PARTITION BY g ORDER BY ts
                    RANGE BETWEEN {window} PRECEDING AND CURRENT ROW) AS k FROM hits)""")
    ctes.append(f"""cl AS (SELECT *, sum(CASE WHEN prev IS NULL OR epoch(ts) - epoch(prev) > {gap} THEN 1 ELSE 0 END)
                    OVER (PARTITION BY g ORDER BY ts, seq) AS cluster
                    FROM (SELECT *, lag(ts) OVER (PARTITION BY g ORDER BY ts, seq) AS prev FROM enough WHERE k >= {need_last}))""")
    return ("WITH " + ",\n".join(ctes) + """
        SELECT g AS group_key, min(start) AS first_ts, max(ts) AS last_ts,
               len(list_distinct(flatten(list(chain)))) AS n,
               list_sort(list_distinct(flatten(list(chain)))) AS seqs
        FROM cl GROUP BY g, cluster ORDER BY first_ts, group_key""")


def _first_seen(rule: Rule, since: datetime | None, until: datetime, q: Sql) -> str:
    """A value new for its group, once the group's baseline is learned: nothing is new in the
    first `learning` of the group's history (over all stored events, not only the range)."""
    key = _group(rule)
    vkey = _group(rule, rule.group_by + rule.value)
    assert rule.baseline is not None
    baseline = q.bind(int(rule.baseline.total_seconds()))
    where = _where(rule, q)
    rng = _range(q, since, until, lookback=rule.baseline)
    start = q.bind(since) if since is not None else "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
    known = f"prev_g IS NOT NULL AND epoch(ts) - epoch(prev_g) <= {baseline}" if rule.group_by else "TRUE"
    learning = q.bind(int(rule.learning.total_seconds()))
    where_all = _where(rule, q)
    return f"""
        WITH m AS (SELECT seq, ts, {key} AS g, {vkey} AS gv FROM current_events WHERE {where} AND {rng}),
        born AS (SELECT {key} AS g, min(ts) AS born FROM current_events WHERE {where_all} GROUP BY 1),
        x AS (SELECT *, lag(ts) OVER (PARTITION BY gv ORDER BY ts, seq) AS prev_v,
                        lag(ts) OVER (PARTITION BY g ORDER BY ts, seq) AS prev_g FROM m)
        SELECT gv AS group_key, ts AS first_ts, ts AS last_ts, 1 AS n, [seq] AS seqs
        FROM x JOIN born USING (g)
        WHERE ts >= {start} AND (prev_v IS NULL OR epoch(ts) - epoch(prev_v) > {baseline})
              AND {known} AND epoch(ts) - epoch(born) >= {learning}
        ORDER BY ts, seq"""


def learning_sql(rule: Rule, until: datetime) -> tuple[str, list[Any]]:
    """For a first_seen rule: its groups, how many are still learning at `until`, and when the
    last of them stops learning."""
    q = Sql()
    where = _where(rule, q)
    learning = q.bind(int(rule.learning.total_seconds()))
    end = q.bind(until)
    sql = f"""SELECT count(*) AS groups, count(*) FILTER (WHERE epoch({end}) - epoch(born) < {learning}) AS learning,
                     min(born) AS first_born, max(born) + to_seconds({learning}) AS learning_until
              FROM (SELECT {_group(rule)} AS g, min(ts) AS born FROM current_events
                    WHERE {where} AND ts < {end} GROUP BY 1)"""
    return sql, q.params


def _absence(rule: Rule, since: datetime | None, until: datetime, q: Sql) -> str:
    """Silences longer than `window` inside the range, and a silence still running at `until`,
    of groups that had a regular rhythm (`Rule.rhythm`) in the `baseline` (default 7 days)
    before the silence began. `first_ts` is the group's last event before the silence,
    `next_ts` its first event after it (NULL: still silent at `until`)."""
    key = _group(rule)
    assert rule.window is not None
    silent = q.bind(int(rule.window.total_seconds()))
    where = _where(rule, q)
    lookback = rule.baseline or timedelta(days=7)
    lo = q.bind((since or until - lookback) - lookback)
    hi = q.bind(until)
    end = q.bind(until)
    start = q.bind(since) if since is not None else "TIMESTAMPTZ '0001-01-01 00:00:00+00'"
    recent = q.bind(until - lookback)
    base = q.bind(int(lookback.total_seconds()))
    min_events, min_days = q.bind(rule.rhythm.min_events), q.bind(rule.rhythm.min_days)
    factor = q.bind(float(rule.rhythm.factor))
    # Two events in one bucket of `window` seconds are less than `window` apart, so a silence
    # can only lie between the last event of a non-empty bucket and the first of the next: one
    # row a bucket instead of a window over every event (10M events: 1.4 s -> 0.3 s). The
    # rhythm is measured on active hours (one row per group and hour), for the same reason.
    return f"""
        WITH m AS (SELECT seq, ts, {key} AS g FROM current_events WHERE {where} AND ts >= {lo} AND ts < {hi}),
        b AS (SELECT g, min(ts) AS first_in, max({{'ts': ts, 'seq': seq}}) AS last_in
              FROM m GROUP BY g, floor(epoch(ts) / {silent})),
        x AS (SELECT g, last_in.ts AS ts, last_in.seq AS seq,
                     lead(first_in) OVER (PARTITION BY g ORDER BY first_in) AS nxt FROM b),
        gaps AS (SELECT g, ts AS first_ts, nxt AS next_ts, coalesce(nxt, {end}) AS last_ts, seq
                 FROM x WHERE (nxt IS NOT NULL AND epoch(nxt) - epoch(ts) > {silent} AND nxt >= {start})
                    OR (nxt IS NULL AND epoch({end}) - epoch(ts) > {silent} AND ts >= {recent})),
        h AS (SELECT g, hr, c, epoch(hr) - epoch(lag(hr) OVER (PARTITION BY g ORDER BY hr)) AS gap_before
              FROM (SELECT g, date_trunc('hour', ts) AS hr, count(*) AS c FROM m
                    WHERE g IN (SELECT g FROM gaps) GROUP BY 1, 2)),
        rhythm AS (SELECT gp.g, gp.first_ts, sum(h.c) AS events_before,
                          count(DISTINCT date_trunc('day', h.hr)) AS days_before,
                          quantile_cont(h.gap_before, 0.9) AS usual_gap
                   FROM gaps gp JOIN h ON h.g = gp.g AND h.hr <= gp.first_ts
                        AND epoch(gp.first_ts) - epoch(h.hr) < {base}
                   GROUP BY gp.g, gp.first_ts)
        SELECT gp.g AS group_key, gp.first_ts, gp.last_ts, gp.next_ts, 1 AS n, [gp.seq] AS seqs,
               r.events_before, r.days_before, r.usual_gap,
               epoch(gp.last_ts) - epoch(gp.first_ts) AS silent_seconds
        FROM gaps gp JOIN rhythm r ON r.g = gp.g AND r.first_ts = gp.first_ts
        WHERE r.events_before >= {min_events} AND r.days_before >= {min_days}
              AND epoch(gp.last_ts) - epoch(gp.first_ts) > {factor} * coalesce(r.usual_gap, 0)
        ORDER BY gp.first_ts, group_key"""


# -- shared scopes: a logsource's events read once for all of its Sigma rules -------------------

# Leftmost first: a string literal is consumed whole, so text inside one is never taken for a
# field (DuckDB literals have no backslash escapes; a quote inside is doubled).
_FIELD_OR_TEXT = re.compile(r"json_extract_string\((attrs|raw), '((?:[^']|'')*)'\)|'(?:[^']|'')*'")
_LOWER_OR_TEXT = re.compile(r"lower\((coalesce\([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*\)|[A-Za-z_]\w*)\)|'(?:[^']|'')*'")
_TEXT = re.compile(r"'(?:[^']|'')*'")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYS = "_sigma_keys"
MATCHES = "_sigma_matches"
# A scope's table is made in chunks (ranges of seq) of about this many bytes: DuckDB holds it
# under the command's memory limit (1 GB by default) however many events the store has.
CHUNK_BYTES = 256 << 20
_BYTES_PER_VALUE = 24  # a short string or NULL in a DuckDB table, measured: ~11-23 bytes


@dataclass(frozen=True)
class SharedScope:
    """The events of one Sigma logsource in the checked range, read once into a temp table with
    every field its rules test extracted into a column, lower-cased too where they compare
    so (one JSON parse per event, not one per condition and rule). Its rules run over the
    table: the same rows, as a rule's condition holds only inside its logsource (its pySigma
    pipeline ANDs the logsource's selection into it; `scope_sql` is made from the same).
    Which events are in the scope is read from the key table (`SharedScopes.keys_sql`) when
    its selection can be. A large scope is read in chunks of seq: each chunk's matching events
    are gathered, then each rule's findings are made from them as from the whole table."""

    table: str
    create_sql: str  # for one chunk: its last two parameters are the chunk's seq bounds
    params: list[Any]
    width: int  # columns of the table
    flag: str  # its column in the key table ("" when selected directly)
    rules: dict[int, Rule]  # position in the rule list -> the rule over the table's columns

    def chunk(self, lo: int, hi: int) -> tuple[str, list[Any]]:
        return self.create_sql, [*self.params[:-2], lo, hi]

    def matches_sql(self, i: int, since: datetime | None, until: datetime) -> tuple[str, list[Any]]:
        """Rule i's events in the current chunk, added to the matches table."""
        rule, q = self.rules[i], Sql()
        rng = _range(q, since, until)
        return (f"INSERT INTO {MATCHES} SELECT {q.bind(i)}, seq, ts, CAST({_group(rule)} AS VARCHAR) "
                f"FROM {self.table} WHERE {_where(rule, q)} AND {rng}", q.params)

    def gathered(self, i: int) -> Rule:
        """Rule i over the matches table: its events, already grouped."""
        return dataclasses.replace(self.rules[i], sql=f"_rule = {int(i)}", sql_group="g")


@dataclass(frozen=True)
class SharedScopes:
    scopes: list[SharedScope]
    keys_sql: str  # the key table: every event in range, with a flag per scope selected there
    keys_params: list[Any]

    def stats_sql(self) -> str:
        """Per scope its events and their seq range (direct ones: those of every event)."""
        cols = ["count(*) AS n", "min(seq) AS lo", "max(seq) AS hi"]
        for scope in self.scopes:
            if scope.flag:
                cols += [f"count(*) FILTER (WHERE {scope.flag}) AS {scope.flag}_n",
                         f"min(seq) FILTER (WHERE {scope.flag}) AS {scope.flag}_lo",
                         f"max(seq) FILTER (WHERE {scope.flag}) AS {scope.flag}_hi"]
        return f"SELECT {', '.join(cols)} FROM {KEYS}"

    @staticmethod
    def chunks(scope: SharedScope, stats: dict[str, Any]) -> list[tuple[int, int]]:
        """Seq ranges [lo, hi) that split the scope's events into tables of about CHUNK_BYTES."""
        prefix = f"{scope.flag}_" if scope.flag else ""
        n, lo, hi = stats[prefix + "n"], stats[prefix + "lo"], stats[prefix + "hi"]
        if not n:
            return []
        parts = max(1, -(-n * scope.width * _BYTES_PER_VALUE // CHUNK_BYTES))
        step = -(-(hi + 1 - lo) // parts)
        return [(start, min(start + step, hi + 1)) for start in range(lo, hi + 1, step)]


class _Columns:
    """Rewrites SQL over the events view into SQL over a table of extracted columns."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.paths: dict[str, dict[str, str]] = {"attrs": {}, "raw": {}}  # column -> path literal -> name
        self.lowered: dict[str, str] = {}  # expression -> name of its lower()
        self.width = 0  # columns of the last select

    def fields(self, sql: str) -> str:
        def field(m: re.Match[str]) -> str:
            if m.group(1) is None or "*" in m.group(2):  # a literal; a wildcard path (a list) stays
                return m.group(0)
            names = self.paths[m.group(1)]
            return names.setdefault(m.group(2), f"{self.prefix}{m.group(1)}_{len(names)}")
        return _FIELD_OR_TEXT.sub(field, sql)

    def lowers(self, sql: str) -> str:
        known = set(COLUMN_NAMES) | {n for names in self.paths.values() for n in names.values()}

        def lower(m: re.Match[str]) -> str:
            # lambda variables (`v`) are not columns: their lower() stays
            if m.group(1) is None or not set(_WORD.findall(m.group(1))) - {"coalesce"} <= known:
                return m.group(0)
            return self.lowered.setdefault(m.group(1), f"{self.prefix}lower_{len(self.lowered)}")
        return _LOWER_OR_TEXT.sub(lower, sql)

    def select(self, sqls: Sequence[str], source: str, where: str, always: Sequence[str] = ("seq", "ts")) -> str:
        """SELECT the base columns `sqls` name, the extracted fields and the lowered ones."""
        words = set(always)
        for sql in [*sqls, *self.lowered]:
            words.update(_WORD.findall(_TEXT.sub("''", sql)))
        columns = [c for c in COLUMN_NAMES if c in words]
        inner, outer = list(columns), list(columns)
        for col, names in self.paths.items():
            if names:
                literals = ", ".join(f"'{path}'" for path in names)  # a literal's inside: quotes already doubled
                inner.append(f"json_extract_string({col}, [{literals}]) AS {self.prefix}{col}")
                outer += [f"{self.prefix}{col}[{k + 1}] AS {name}" for k, name in enumerate(names.values())]
        self.width = len(outer) + len(self.lowered)
        select = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source} WHERE {where})"
        if self.lowered:
            select = f"SELECT *, {', '.join(f'lower({e}) AS {n}' for e, n in self.lowered.items())} FROM ({select})"
        return select

    def reads_documents(self, sql: str) -> bool:
        return bool({"attrs", "raw"} & set(_WORD.findall(_TEXT.sub("''", sql))))


def _shareable(rule: Rule) -> bool:
    return (rule.sigma is not None and bool(rule.sigma.scope_sql) and bool(rule.sql)
            and rule.type == "match" and rule.unit == "event")


def shared_scopes(rules: Sequence[Rule], since: datetime | None, until: datetime) -> SharedScopes:
    """The plain Sigma match rules of `rules`, grouped by logsource (`SigmaInfo.scope_sql`).

    Which events each logsource selects is found in one pass (the key table: the selections'
    fields extracted once per event, one flag per scope), then each scope's events are read
    by seq: the selections test JSON fields (Channel, EventID) of every event, and that is
    most of the work when each scope tests them over every event again."""
    groups: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        if _shareable(rule):
            assert rule.sigma is not None
            groups.setdefault(rule.sigma.scope_sql, []).append(i)
    keys = _Columns("_sigma_k_")
    keyed: dict[str, str] = {}  # scope -> its selection over the key table's columns
    for scope in groups:
        over = keys.fields(scope)
        if not keys.reads_documents(over):  # a wildcard path or the raw record: selected directly
            keyed[scope] = keys.lowers(over)
    q = Sql()
    rng = _range(q, since, until)
    flags = {scope: f"_sigma_s{n}" for n, scope in enumerate(keyed)}
    tests = "".join(f", {sql} AS {flags[scope]}" for scope, sql in keyed.items())
    # every event in range, no WHERE: DuckDB would push one down into the projections,
    # extracting the fields once for each test of the filter
    keys_sql = (f"CREATE OR REPLACE TEMP TABLE {KEYS} AS SELECT seq{tests} FROM "
                f"({keys.select(list(keyed.values()), EVENTS, rng, always=('seq',))})")
    out = [_scope(f"_sigma_scope_{n}", scope, flags.get(scope, ""), {i: rules[i] for i in members}, since, until)
           for n, (scope, members) in enumerate(groups.items())]
    return SharedScopes(out, keys_sql if out else "", q.params)


def _scope(table: str, scope: str, flag: str, members: dict[int, Rule], since: datetime | None,
           until: datetime) -> SharedScope:
    cols = _Columns("_sigma_")
    rewritten = {i: dataclasses.replace(r, sql=cols.fields(r.sql), sql_group=cols.fields(r.sql_group))
                 for i, r in members.items()}
    rewritten = {i: dataclasses.replace(r, sql=cols.lowers(r.sql)) for i, r in rewritten.items()}
    q = Sql()
    rng = _range(q, since, until)
    lo, hi = q.bind(0), q.bind(0)  # the chunk's seq bounds, given at each chunk
    bounds = f"seq >= {lo} AND seq < {hi}"  # also lets DuckDB skip row groups outside the chunk
    where = (f"{bounds} AND seq IN (SELECT seq FROM {KEYS} WHERE {flag} AND {bounds})" if flag
             else f"{bounds} AND ({scope})")
    select = cols.select([f"{r.sql} {r.sql_group}" for r in rewritten.values()], EVENTS, f"{where} AND {rng}")
    return SharedScope(table, f"CREATE OR REPLACE TEMP TABLE {table} AS {select}", q.params, cols.width, flag,
                       rewritten)
