"""The README stays true: schema tables, every command and every option are documented."""

from __future__ import annotations

import re

import typer

from auditctl.cli.app import app
from auditctl.docs import readme_block, schema_tables
from support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands():
    root = typer.main.get_command(app)
    stack = [([], root)]
    while stack:
        path, cmd = stack.pop()
        subs = getattr(cmd, "commands", {})
        if path:
            yield " ".join(path), cmd
        for name, sub in subs.items():
            stack.append(([*path, name], sub))


def test_schema_tables_match_the_code():
    assert readme_block(README) == schema_tables(), "run: python -m auditctl.docs README.md"


def test_readme_opens_with_exactly_two_setup_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [ln for ln in first_block.splitlines() if ln.strip() and not ln.startswith("#")]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_command_is_in_the_command_table():
    table = README[README.index("## Commands"):README.index("## Exit codes")]
    for name, _ in _commands():
        assert f"`auditctl {name}" in table, name


def test_every_option_is_documented():
    missing = []
    for name, cmd in _commands():
        for param in getattr(cmd, "params", []):
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in README:
                    missing.append(f"{name} {opt}")
    assert not missing, missing


def test_every_builtin_parser_has_a_readme_section():
    from support import registry

    for info in registry():
        assert f"`{info.name}`" in README, info.name


def test_exit_codes_table_matches_the_enum():
    from auditctl.errors import ExitCode

    for code in ExitCode:
        assert f"| {code.value} | {code.name} |" in README, code
