"""The one condition language (auditctl.where) and its case rule, as rules, retention, sealing
and search filters apply it: plain values match exactly, wildcards ignore case."""

from __future__ import annotations

import duckdb
import pytest

from auditctl.store.filters import EventFilter
from auditctl.store.query import compile_filter
from auditctl.where import Sql, check_where, like_pattern, where_sql

ACTORS = ["root", "Admin", "admin", "ad_min", "adXmin", "50%off", "back\\slash"]


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute("CREATE TABLE events (actor VARCHAR, ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO events VALUES (?, now())", [[a] for a in ACTORS])
    yield con
    con.close()


def _rule_match(con, where):
    q = Sql()
    sql = where_sql(where, q)
    return sorted(r[0] for r in con.execute(f"SELECT actor FROM events WHERE {sql}", q.params).fetchall())


def _search_match(con, actors):
    clause, params = compile_filter(EventFilter(actors=tuple(actors)))
    return sorted(r[0] for r in con.execute(f"SELECT actor FROM events{clause}", params).fetchall())


@pytest.mark.parametrize("value, expected", [
    ("admin", ["admin"]),                      # exact: case-sensitive
    ("adm*", ["Admin", "admin"]),              # wildcard: ignores case
    ("ad_min", ["ad_min"]),                    # _ is literal, not LIKE's any-character
    ("ad?min", ["adXmin", "ad_min"]),
    ("50%*", ["50%off"]),                      # % is literal
    ("back\\*", ["back\\slash"]),              # so is the escape character
])
def test_rules_and_search_filters_apply_one_case_rule(con, value, expected):
    assert _rule_match(con, {"actor": value}) == expected
    assert _search_match(con, [value]) == expected


def test_like_pattern_escapes_like_specials_then_maps_wildcards():
    assert like_pattern("a_b%c\\d*e?") == "a\\_b\\%c\\\\d%e_"


def test_check_where_names_the_path_of_the_bad_condition():
    def fail(path, why):
        return ValueError(f"{path}: {why}")

    with pytest.raises(ValueError, match=r"any_of\[1\]\.colour: unknown field"):
        check_where({"any_of": [{"actor": "x"}, {"colour": "red"}]}, fail)
