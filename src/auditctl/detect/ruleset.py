"""The rules a command runs: native YAML rules and Sigma rules, with config applied.

Native rules come from the built-in pack, `rules.dirs` and `--rules`; Sigma rules from the
config's `sigma:` list and `--sigma` (`bundled` names the shipped SigmaHQ set). `rules.disabled`
and `rules.overrides` (severity, title, cooldown, enabled) apply to both by rule id. Sigma rules
that cannot run here are kept in `skipped`, each with its one-line reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from auditctl.config import Config
from auditctl.detect.rules import SEVERITIES, Rule, RuleError, load_rules
from auditctl.detect.sigma.load import SigmaSet, Skipped, load_sigma
from auditctl.timeutil import parse_duration

BUNDLED = "bundled"
SIGMA_OVERRIDES = {"severity", "title", "cooldown", "enabled"}


def bundled_sigma_dir() -> Path:
    return Path(__file__).parent / "sigma" / "pack"


def sigma_paths(names: Sequence[str | Path]) -> list[Path]:
    """Config or option values as paths; `bundled` is the shipped SigmaHQ set."""
    return [bundled_sigma_dir() if str(n) == BUNDLED else Path(n).expanduser() for n in names]


@dataclass
class ActiveRules:
    rules: list[Rule]
    sigma: SigmaSet = field(default_factory=SigmaSet)

    @property
    def skipped(self) -> list[Skipped]:
        return self.sigma.skipped


def active_rules(cfg: Config, extra: Sequence[Path] | None = None, *, builtin: bool = True,
                 sigma: Sequence[str | Path] = ()) -> ActiveRules:
    """Native rules (built-in pack unless `builtin` is off, config dirs, `extra`) and the Sigma
    rules of config `sigma:` and `sigma`, less what config disables, with its overrides."""
    native_paths = [Path(p).expanduser() for p in cfg.rules_dirs] + list(extra or [])
    sigma_set = load_sigma(sigma_paths([*cfg.sigma, *sigma])) if (cfg.sigma or sigma) else SigmaSet()
    sigma_ids = {r.id for r in sigma_set.rules + sigma_set.bases}
    native = load_rules(native_paths, builtin=builtin,
                        disabled=[d for d in cfg.disabled_rules if d not in sigma_ids],
                        overrides={k: v for k, v in cfg.rule_overrides.items() if k not in sigma_ids})
    clash = sigma_ids & {r.id for r in native}
    if clash:
        raise RuleError(f"rule id(s) used by a native and a Sigma rule: {', '.join(sorted(clash))}")
    runnable = [_overridden(r, cfg.rule_overrides.get(r.id)) for r in sigma_set.rules]
    off = set(cfg.disabled_rules)
    runnable = [r for r in runnable if r.enabled and r.id not in off]
    return ActiveRules(native + runnable, sigma_set)


def _overridden(rule: Rule, changes: dict | None) -> Rule:
    if not changes:
        return rule
    unknown = set(changes) - SIGMA_OVERRIDES
    if unknown:
        raise RuleError(f"config: rules.overrides: {rule.id}: a Sigma rule takes only "
                        f"{', '.join(sorted(SIGMA_OVERRIDES))} (not {', '.join(sorted(unknown))})")
    new = dict(changes)
    if "severity" in new and new["severity"] not in SEVERITIES:
        raise RuleError(f"config: rules.overrides: {rule.id}: severity is one of {', '.join(SEVERITIES)}")
    if "cooldown" in new:
        new["cooldown"] = parse_duration(str(new["cooldown"]))
    return dataclasses.replace(rule, **new, origin=f"{rule.origin} (overridden in config)")


def is_sigma_file(path: Path) -> bool:
    """A YAML file whose documents look like Sigma (detection or correlation), not native rules."""
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return any(isinstance(d, dict) and ("detection" in d or "correlation" in d or "logsource" in d) for d in docs)
