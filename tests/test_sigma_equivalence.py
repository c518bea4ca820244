"""Our SQL gives the same matches as evaluating the Sigma rule directly.

For real SigmaHQ rules (a vendored sample, the shipped pack when present) and for rules made up
by hypothesis, every event is judged twice: by the DuckDB SQL the backend compiles, and by the
plain-Python reference evaluator in `sigma_reference` walking pySigma's condition tree. The
events: for each rule, events built from its own values to hit it (random choices among its
alternatives, wildcards filled in, case changed) and to just miss it (one character changed, a
`not` part made true); the other rules' events of the same source; and real events (the
corpus's attack recordings, the sample logs). Every difference is a bug in one of the two.

`AUDITCTL_TEST_SIGMA=/path/to/sigma/rules` runs the slow variant over a whole SigmaHQ tree.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import string
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from auditctl.detect.sigma.load import check_sql, condition_sql
from auditctl.detect.sigma.logsources import Logsource, find_logsource
from auditctl.ingest.parsing import choose_parser, read_events, read_head
from auditctl.schema import COLUMNS, EVENT_FIELDS
from sigma_reference import Ev, Reference, condition_trees, make_events
from support import CORPUS, ROOT, SAMPLES, registry

SAMPLE = Path(__file__).parent / "sigma" / "sigmahq_sample.yml"
PACK = ROOT / "src" / "auditctl" / "detect" / "sigma" / "pack"
OTHERS = 120  # events of the same source from other rules each rule is also judged on


@dataclass
class Case:
    """One compiled rule: where it came from, its SQL, its condition trees, its events."""

    label: str
    entry: Logsource
    sql: str
    trees: list[Any]
    own: list[Ev]


def sigma_rules(texts: Iterable[tuple[str, str]]) -> list[tuple[str, SigmaRule]]:
    out = []
    for label, text in texts:
        try:
            collection = SigmaCollection.from_yaml(text, collect_errors=True)
        except Exception:  # a broken file is the loader's business, not this test's
            continue
        for rule in collection.rules:
            if isinstance(rule, SigmaRule) and not rule.errors:
                out.append((f"{label}: {rule.title}", rule))
    return out


def sample_texts() -> list[tuple[str, str]]:
    docs = SAMPLE.read_text().split("\n---\n")
    return [(doc.splitlines()[0 if i else 4].lstrip("# "), doc) for i, doc in enumerate(docs)]


def tree_texts(root: Path) -> list[tuple[str, str]]:
    return [(str(p.relative_to(root)), p.read_text()) for p in sorted(root.rglob("*.yml"))]


def compile_cases(rules: list[tuple[str, SigmaRule]], seq: Iterable[int], tries: int) -> list[Case]:
    cases = []
    counter = iter(seq)
    for label, rule in rules:
        entry = find_logsource(rule.logsource)
        if entry is None:
            continue
        try:
            sql = condition_sql(copy.deepcopy(rule), entry)
        except (SigmaError, NotImplementedError):
            continue  # skipped with its reason by the loader (tests/test_sigma_backend.py)
        if check_sql(sql):
            continue
        trees = condition_trees(rule, entry)
        own = make_events(trees, entry.family, str(entry.select["@parser"][0]), random.Random(label), counter, tries)
        cases.append(Case(label, entry, sql, trees, own))
    return cases


def corpus_events(seq: Iterable[int]) -> list[Ev]:
    """Real events: every sample log, and the corpus's Windows recordings and audit logs."""
    paths = [p for p in sorted(SAMPLES.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    if CORPUS.is_dir():
        paths += sorted(CORPUS.glob("yamato-hayabusa-sample-evtx/**/*.evtx"))
        paths += sorted(CORPUS.glob("omerbenamram-evtx/samples/*.evtx"))
        paths += [CORPUS / "elastic-beats-2019/filebeat/module/auditd/log/test/audit-rhel7.log"]
        paths += sorted(CORPUS.glob("falcosecurity-falco/test/trace_files/k8s_audit/*.json"))
    counter = iter(seq)
    out = []
    for path in paths:
        try:
            parser = choose_parser(read_head(path), registry()).parser.name
            events = read_events(path, registry())
        except Exception:  # a file no parser reads is not this test's subject
            continue
        for e in events:
            columns = {f: getattr(e, f) for f in EVENT_FIELDS if f not in ("raw", "attrs", "ts", "line", "origin")}
            out.append(Ev(next(counter), e.parser or parser, e.raw, e.attrs, columns))
    return out


def events_table(events: list[Ev]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE current_events (" + ", ".join(f"{c.name} {c.sql_type}" for c in COLUMNS) + ")")
    rows = [e.row() for e in events]
    names = ["seq", "ts", "parser", "raw", "attrs", *sorted({k for r in rows for k in r} - {"seq", "ts", "parser",
                                                                                                  "raw", "attrs"})]
    names = [n for n in names if n in {c.name for c in COLUMNS}]
    data = pa.table({n: [r.get(n) for r in rows] for n in names})  # noqa: F841 - DuckDB reads it by name
    con.execute(f"INSERT INTO current_events ({', '.join(names)}) SELECT {', '.join(names)} FROM data")
    return con


@dataclass
class Difference:
    case: Case
    ev: Ev
    sql_says: bool

    def __str__(self) -> str:
        attrs = json.dumps(self.ev.attrs, ensure_ascii=False)[:400] if self.ev.attrs else ""
        return (f"{self.case.label}: event {self.ev.seq} ({self.ev.parser}) matched by "
                f"{'SQL only' if self.sql_says else 'the reference only'}\n  raw: {self.ev.raw[:300]!r}\n"
                f"  attrs: {attrs}\n  columns: { {k: v for k, v in self.ev.columns.items() if v is not None} }\n"
                f"  sql: {self.case.sql[:600]}")


@dataclass
class Outcome:
    differences: list[Difference]
    rules: int
    rules_hit: int  # rules some of whose own events match
    rules_missed: int  # rules some of whose own events do not match
    real_hits: int  # (rule, real event) matches


def compare(cases: list[Case], real: list[Ev], others: int = OTHERS, real_sample: int | None = None) -> Outcome:
    """Judge each rule on its own events, `others` events made for other rules of its source, and
    the real events of its source (`real_sample` of them at random, and every one the SQL
    matches; all when None)."""
    events = [e for c in cases for e in c.own] + real
    con = events_table(events)
    by_seq = {e.seq: e for e in events}
    real_by_parser: dict[str, list[Ev]] = defaultdict(list)
    own_by_parser: dict[str, list[Ev]] = defaultdict(list)
    for e in real:
        real_by_parser[e.parser].append(e)
    for c in cases:
        for e in c.own:
            own_by_parser[e.parser].append(e)
    rng = random.Random(18)
    out = Outcome([], len(cases), 0, 0, 0)
    real_seqs = {e.seq for e in real}
    for case in cases:
        # an event of another parser never matches: the logsource adds `@parser` to the condition
        parsers = [str(p) for p in case.entry.select["@parser"]]
        pool = sample([e for p in parsers for e in own_by_parser[p]], others, rng)
        mine = [e for p in parsers for e in real_by_parser[p]]
        candidates = {e.seq for e in [*case.own, *pool, *mine]}
        got = {s for (s,) in con.execute(
            f"SELECT seq FROM current_events WHERE list_contains(?, seq) AND ({case.sql})",
            [sorted(candidates)]).fetchall()}
        judged = {e.seq: e for e in [*case.own, *pool, *sample(mine, real_sample, rng)]}
        judged |= {s: by_seq[s] for s in got}
        got &= judged.keys()
        ref = Reference(case.entry.family)
        tests = [ref.compile(t) for t in case.trees]
        want = {s for s, e in judged.items() if any(t(e) for t in tests)}
        for s in sorted(got ^ want):
            out.differences.append(Difference(case, by_seq[s], s in got))
        own = {e.seq for e in case.own}
        out.rules_hit += bool(want & own)
        out.rules_missed += bool(own - want)
        out.real_hits += len(want & real_seqs)
    return out


def sample(events: list[Ev], n: int | None, rng: random.Random) -> list[Ev]:
    return events if n is None or n >= len(events) else rng.sample(events, n)


def report(outcome: Outcome) -> str:
    head = f"{len(outcome.differences)} differences over {outcome.rules} rules"
    return head + "\n" + "\n".join(str(d) for d in outcome.differences[:12])


@pytest.fixture(scope="module")
def real_events() -> list[Ev]:
    return corpus_events(itertools.count(1_000_000))


@pytest.mark.slow  # ~14 s, most of it the Python reference evaluator (CI runs it); the pack's variant stays fast
def test_sigmahq_sample_sql_equals_the_reference(real_events: list[Ev]):
    cases = compile_cases(sigma_rules(sample_texts()), itertools.count(1), tries=4)
    assert len(cases) >= 400  # the sample is 430 rules, all compiling when it was taken
    outcome = compare(cases, real_events, others=40, real_sample=150)
    assert not outcome.differences, report(outcome)
    # not vacuous: most rules are hit by events made from their values, and missed by near misses
    assert outcome.rules_hit >= 0.8 * len(cases), (outcome.rules_hit, len(cases))
    assert outcome.rules_missed >= 0.8 * len(cases), (outcome.rules_missed, len(cases))


def test_the_shipped_pack_sql_equals_the_reference(real_events: list[Ev]):
    if not PACK.is_dir():
        pytest.skip(f"no shipped Sigma pack at {PACK}")
    cases = compile_cases(sigma_rules(tree_texts(PACK)), itertools.count(1), tries=4)
    assert cases
    outcome = compare(cases, real_events, others=40, real_sample=150)
    assert not outcome.differences, report(outcome)


@pytest.mark.slow
def test_a_whole_sigmahq_tree_sql_equals_the_reference(real_events: list[Ev]):
    root = os.environ.get("AUDITCTL_TEST_SIGMA")
    if not root or not Path(root).is_dir():
        pytest.skip("set AUDITCTL_TEST_SIGMA to a SigmaHQ rules/ folder to compare every rule in it")
    cases = compile_cases(sigma_rules(tree_texts(Path(root))), itertools.count(1), tries=6)
    outcome = compare(cases, real_events, others=400)
    assert not outcome.differences, report(outcome)


# -- made-up rules: every modifier, odd characters, nested conditions ---------------------------

CHARS = "aAbB\\*?%_'\" \n-/.:é"
FIELDS = ["CommandLine", "Image", "ParentImage", "User"]


def texts() -> st.SearchStrategy[str]:
    return st.text(alphabet=CHARS, min_size=0, max_size=6)


def regexes() -> st.SearchStrategy[str]:
    """Expressions both Python and RE2 read the same way (no `$`: Python's also matches before a
    final newline, RE2's does not; no \\d or \\w: Unicode in Python, ASCII in RE2)."""
    atom = st.one_of(st.sampled_from(["a", "B", "\\\\", "\\.", ".", "[a-c]", "[^b]", "\\n", " ", "é", "\\*", "%"]),
                     st.just("(?:a|b)"))
    piece = st.tuples(atom, st.sampled_from(["", "*", "+", "?", "{1,2}"])).map("".join)
    return st.tuples(st.sampled_from(["", "^"]), st.lists(piece, min_size=1, max_size=4).map("".join)).map("".join)


@st.composite
def items(draw: st.DrawFn) -> tuple[str, Any]:
    """One detection item: `field|modifiers` and its value(s)."""
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.sampled_from(["str", "str", "str", "re", "num", "cidr", "exists", "fieldref", "null", "b64"]))
    if kind == "str":
        mods = draw(st.sampled_from(["", "|contains", "|startswith", "|endswith", "|contains|all", "|cased",
                                     "|contains|cased", "|windash|contains", "|endswith|cased"]))
        values = draw(st.lists(texts(), min_size=1, max_size=3))
        return field + mods, values if len(values) > 1 else values[0]
    if kind == "re":
        mods = draw(st.sampled_from(["|re", "|re|i", "|re|m", "|re|s", "|re|contains", "|re|startswith",
                                     "|re|endswith"]))
        return field + mods, draw(regexes())
    if kind == "num":
        mods = draw(st.sampled_from(["", "|gt", "|gte", "|lt", "|lte"]))
        return field + mods, draw(st.integers(-3, 12))
    if kind == "cidr":
        return field + "|cidr", draw(st.sampled_from(["10.0.0.0/8", "192.168.1.0/24", "fe80::/10", "::1/128"]))
    if kind == "exists":
        return field + "|exists", draw(st.booleans())
    if kind == "fieldref":
        mods = draw(st.sampled_from(["", "|startswith", "|endswith", "|contains"]))
        return field + "|fieldref" + mods, draw(st.sampled_from([f for f in FIELDS if f != field]))
    if kind == "b64":
        return field + "|base64offset|contains", draw(st.text(alphabet="abc/:", min_size=1, max_size=5))
    return field, None


@st.composite
def made_up_rules(draw: st.DrawFn) -> str:
    names = [f"sel{i}" for i in range(draw(st.integers(1, 3)))]
    detection: dict[str, Any] = {}
    for name in names:
        if draw(st.booleans()):
            detection[name] = dict(draw(st.lists(items(), min_size=1, max_size=3, unique_by=lambda i: i[0])))
        else:  # a list of maps: any of them
            detection[name] = [dict(draw(st.lists(items(), min_size=1, max_size=2, unique_by=lambda i: i[0])))
                               for _ in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        detection["keywords"] = draw(st.lists(st.text(alphabet="abAB\\'\" *?%", min_size=1, max_size=4),
                                              min_size=1, max_size=2))
        names.append("keywords")
    terms = [("not " if draw(st.booleans()) else "") + n for n in names]
    ops = [draw(st.sampled_from([" and ", " or "])) for _ in terms[1:]]
    condition = terms[0] + "".join(op + t for op, t in zip(ops, terms[1:], strict=True))
    detection["condition"] = draw(st.sampled_from([condition, f"1 of sel* and not ({condition})",
                                                   "all of them", "1 of them", f"not ({condition})"]))
    rule = {"title": "made up", "logsource": {"product": "windows", "category": "process_creation"},
            "detection": detection}
    return json.dumps(rule)  # JSON is YAML: no quoting surprises


def field_values(draw: st.DrawFn, rule: dict[str, Any]) -> list[Any]:
    """Texts for an event's fields: the rule's own values, mutated or not, and random ones."""
    seen: list[Any] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif x is not None:
            seen.append(x)
    walk({k: v for k, v in rule["detection"].items() if k != "condition"})
    pool = [*seen, "10.1.2.3", "fe80::1", "::1", "192.168.1.7", "8.8.8.8", "5", "-1", " 7 ", "1e1", "true"]
    return [draw(st.one_of(st.sampled_from(pool), texts(),
                           st.sampled_from(pool).map(lambda v: str(v).upper()),
                           st.tuples(texts(), st.sampled_from(pool), texts()).map(lambda t: f"{t[0]}{t[1]}{t[2]}"))
                 ) for _ in range(3)]


@st.composite
def rules_and_events(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    text = draw(made_up_rules())
    rule = json.loads(text)
    events = []
    for _ in range(draw(st.integers(4, 10))):
        attrs: dict[str, Any] = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"}
        values = field_values(draw, rule)
        for field in FIELDS:
            choice = draw(st.integers(0, 4))
            if choice < 3:
                attrs[field] = values[choice]
            elif choice == 3:
                attrs[field] = draw(texts())
        events.append(attrs)
    return text, events


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(rules_and_events())
def test_made_up_rules_sql_equals_the_reference(case: tuple[str, list[dict[str, Any]]]):
    text, attrs_list = case
    try:
        rule = SigmaCollection.from_yaml(text).rules[0]
    except SigmaError:
        return  # a value pySigma refuses (an empty regex, a bad CIDR...)
    assert isinstance(rule, SigmaRule)
    entry = find_logsource(rule.logsource)
    assert entry is not None
    try:
        sql = condition_sql(copy.deepcopy(rule), entry)
    except (SigmaError, NotImplementedError):
        return
    assert check_sql(sql) is None, sql
    events = [Ev(i, "windows_security", json.dumps(a), a) for i, a in enumerate(attrs_list, 1)]
    con = events_table(events)
    got = {s for (s,) in con.execute(f"SELECT seq FROM current_events WHERE {sql}").fetchall()}
    ref = Reference(entry.family)
    tests = [ref.compile(t) for t in condition_trees(rule, entry)]
    want = {e.seq for e in events if any(t(e) for t in tests)}
    assert got == want, textwrap.shorten(f"rule {text} events {attrs_list} sql {sql}", 3000)


def test_made_up_values_cover_the_odd_characters():
    """The alphabet of the made-up rules holds what LIKE, regexes and SQL quoting treat specially."""
    assert set("%_\\'\"*?\n") <= set(CHARS) and not set(CHARS) & set(string.digits)
