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
        if path and (not subs or command_options(cmd)):
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


_ENTRY_HEADER = re.compile(r"^\| option \(((?:`[^`]+`(?:, )?)+)\) \| meaning \|$", re.M)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])")


def readme_entries(text: str) -> dict[str, set[str]]:
    """Command -> the options its own README entry documents: the first cells of every table
    headed `| option (`cmd`, ...) | meaning |` that names the command."""
    entries: dict[str, set[str]] = {}
    for header in _ENTRY_HEADER.finditer(text):
        commands = re.findall(r"`([^`]+)`", header.group(1))
        rows = text[header.end():].split("\n\n", 1)[0].splitlines()[2:]  # after the |---| line
        opts = {o for row in rows for o in _OPTION.findall(row.split(" | ")[0])}
        for command in commands:
            entries.setdefault(command, set()).update(opts)
    return entries


def command_options(cmd) -> set[str]:
    return {o for p in getattr(cmd, "params", []) for o in getattr(p, "opts", []) if o.startswith("-")}


def test_every_command_s_options_match_its_own_readme_entry():
    entries = readme_entries(README)
    problems = []
    for name, cmd in _commands():
        have = command_options(cmd)
        documented = entries.get(name, set())
        if have and name not in entries:
            problems.append(f"{name}: no README entry (a `| option (`{name}`) | meaning |` table)")
        problems += [f"{name}: {o} is not in its README entry" for o in sorted(have - documented)]
        problems += [f"{name}: its README entry documents {o}, which it does not have" for o in sorted(documented - have)]
    assert not problems, "\n".join(problems)


def test_the_entry_check_catches_an_option_documented_only_elsewhere():
    """The weaker old check passed when an option appeared anywhere in the README: stats lacked
    --source and --actor while the search table listed them."""
    text = ("| option (`search`) | meaning |\n|---|---|\n| `--source`, `--actor` | x |\n\n"
            "| option (`stats`) | meaning |\n|---|---|\n| `--by/-b` | x |\n")
    entries = readme_entries(text)
    assert entries == {"search": {"--source", "--actor"}, "stats": {"--by", "-b"}}


def test_search_stats_and_export_share_one_filter_set():
    from auditctl.cli.eventfilter import FILTER_OPTIONS

    commands = dict(_commands())
    filters = {o for o in command_options(commands["search"]) if o not in ("--limit", "-n", "--reverse", "-r",
                                                                          "--finding", "--format", "-f")}
    assert len(filters) >= len(FILTER_OPTIONS) - 1
    for name in ("stats", "export"):
        assert filters <= command_options(commands[name]), name


def test_no_command_gives_one_short_option_two_meanings():
    """`-o` was both --outcome and --output on export; now it is --output everywhere."""
    meaning: dict[str, set[str]] = {}
    for _name, cmd in _commands():
        for p in getattr(cmd, "params", []):
            longs = [o for o in p.opts if o.startswith("--")]
            for short in (o for o in p.opts if len(o) == 2):
                meaning.setdefault(short, set()).add(longs[0])
    assert meaning["-o"] == {"--output"}
    assert meaning["-f"] == {"--format"} and meaning["-n"] == {"--limit"}


def test_every_builtin_parser_has_a_readme_section():
    from support import registry

    for info in registry():
        assert f"`{info.name}`" in README, info.name


def test_exit_codes_table_matches_the_enum():
    from auditctl.errors import ExitCode

    for code in ExitCode:
        assert f"| {code.value} | {code.name} |" in README, code
