"""Which loaded rules can match what the store holds (`auditctl rules coverage`).

For each rule: the stored events of its scope (a Sigma rule's logsource; every event for a
native rule) and the stored events its condition matches now, over all history. A rule whose
scope is empty cannot fire until that source is collected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditctl.detect.rules import Rule
from auditctl.store import Store
from auditctl.where import Sql, where_sql


@dataclass(frozen=True)
class Coverage:
    rule: Rule
    in_scope: int  # stored events of the rule's logsource (all events for a native rule)
    matching: int  # stored events its condition matches (steps: any step)

    def to_json(self) -> dict[str, Any]:
        sig = self.rule.sigma
        return {"id": self.rule.id, "title": self.rule.title, "severity": self.rule.severity,
                "logsource": sig.logsource if sig else "(native)", "events_in_scope": self.in_scope,
                "events_matching": self.matching, "can_match": self.in_scope > 0}


def _condition(rule: Rule, q: Sql) -> str:
    if rule.sql:
        return f"({rule.sql})"
    if rule.steps:
        return "(" + " OR ".join(f"({s.sql})" if s.sql else where_sql(s.where, q, rule.timezone)
                                 for s in rule.steps) + ")"
    return where_sql(rule.where, q, rule.timezone)


def coverage(store: Store, rules: list[Rule]) -> list[Coverage]:
    """One scan per distinct scope, one count per rule; scopes counted once."""
    scopes: dict[str, int] = {}
    out = []
    for rule in rules:
        scope = rule.sigma.scope_sql if rule.sigma and rule.sigma.scope_sql else "TRUE"
        if scope not in scopes:
            scopes[scope] = int(store.run_query(f"SELECT count(*) AS n FROM current_events WHERE {scope}", [])[0]["n"])
        matching = 0
        if scopes[scope]:
            q = Sql()
            cond = _condition(rule, q)
            matching = int(store.run_query(
                f"SELECT count(*) AS n FROM current_events WHERE ({scope}) AND {cond}", q.params)[0]["n"])
        out.append(Coverage(rule, scopes[scope], matching))
    return out
