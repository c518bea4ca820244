"""The docs stay true: generated pages are current, every command and every option is documented
in its guide, and the README opens with the two set-up commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import typer

from auditctl import docs
from auditctl.cli.app import app
from auditctl.docs import readme_block, schema_tables
from support import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
GENERATED_DIRS = ("reference/cli.md", "reference/rules.md", "parsers/")


def hand_written() -> str:
    """Every hand-written page of docs/, concatenated (generated pages would document themselves)."""
    pages = sorted(p for p in DOCS.rglob("*.md")
                   if not any(p.relative_to(DOCS).as_posix().startswith(g) for g in GENERATED_DIRS))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in pages)


GUIDES = hand_written()
COMMANDS_PAGE = (DOCS / "commands.md").read_text(encoding="utf-8")


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
    page = (ROOT / docs.SCHEMA_PAGE).read_text(encoding="utf-8")
    assert readme_block(page) == schema_tables(), "run: python -m auditctl.docs"


def test_every_generated_page_is_current():
    assert docs.stale(ROOT) == [], "stale generated pages: run `python -m auditctl.docs` (or `make docs`)"
    assert docs.orphans(ROOT) == [], "pages of parsers that no longer exist: run `python -m auditctl.docs`"


def test_the_staleness_check_catches_an_edited_page_and_the_command_rewrites_it(tmp_path):
    """A copy of the docs with one generated page edited by hand and one deleted is stale; the
    generator's command puts both back."""
    root = tmp_path / "checkout"
    shutil.copytree(DOCS, root / "docs")
    cli = root / "docs" / "reference" / "cli.md"
    cli.write_text(cli.read_text(encoding="utf-8").replace("--parser", "--parserr"), encoding="utf-8")
    (root / "docs" / "parsers" / "syslog.md").unlink()
    (root / "docs" / "parsers" / "gone.md").write_text("# a parser that was removed\n")
    assert docs.stale(root) == ["docs/parsers/syslog.md", "docs/reference/cli.md"]
    assert docs.orphans(root) == ["docs/parsers/gone.md"]
    assert docs.main([str(root)]) == 0
    assert docs.stale(root) == [] and docs.orphans(root) == []


def test_the_cli_reference_lists_every_command_and_option():
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    for name, cmd in _commands():
        assert f"## `auditctl {name}`" in page, name
        for option in command_options(cmd):
            assert f"`{option}`" in page, (name, option)


def test_readme_opens_with_exactly_two_setup_commands():
    first_block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [ln for ln in first_block.splitlines() if ln.strip() and not ln.startswith("#")]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_links_only_to_pages_that_exist():
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)", README):
        assert (ROOT / target).exists(), target


def test_user_docs_hold_no_project_history():
    """History (issue numbers, what a session changed) belongs in CHANGELOG.md, not in the
    README or the hand-written pages, which say what is true now."""
    history = re.compile(r"\bissue \d+|\bsessions? \d+|\bwas fixed\b|\bpreviously\b|\bthe old runner\b", re.I)
    assert history.findall(README + GUIDES) == []


def test_the_library_example_runs_without_typer(tmp_path):
    """The Python example of docs/guides/library.md, run as written in a process where typer
    cannot be imported: ingest, sign, search, check and verify need no CLI."""
    page = (DOCS / "guides" / "library.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    (tmp_path / "sample_logs").symlink_to(ROOT / "sample_logs")
    script = tmp_path / "example.py"
    script.write_text('import sys\nsys.modules["typer"] = None  # any import of typer fails\n' + example)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    stored = re.search(r"^(\d+) events stored, checkpoint over (\d+)$", done.stdout, re.M)
    assert stored and int(stored[1]) > 0 and stored[1] == stored[2], done.stdout
    assert re.search(r"^\d+ failed logins, e\.g\. ", done.stdout, re.M), done.stdout
    assert re.search(r"^(critical|high|medium|low|info) \S+ ", done.stdout, re.M), done.stdout  # a finding
    assert done.stdout.rstrip().endswith("intact"), done.stdout


def test_every_command_is_in_the_command_table():
    table = COMMANDS_PAGE[COMMANDS_PAGE.index("# Commands"):COMMANDS_PAGE.index("## Exit codes")]
    for name, _ in _commands():
        assert f"`auditctl {name}" in table, name


_ENTRY_HEADER = re.compile(r"^\| option \(((?:`[^`]+`(?:, )?)+)\) \| meaning \|$", re.M)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])")


def readme_entries(text: str) -> dict[str, set[str]]:
    """Command -> the options its own guide entry documents: the first cells of every table
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


def test_every_command_s_options_match_its_own_guide_entry():
    entries = readme_entries(GUIDES)
    problems = []
    for name, cmd in _commands():
        have = command_options(cmd)
        documented = entries.get(name, set())
        if have and name not in entries:
            problems.append(f"{name}: no entry in docs/ (a `| option (`{name}`) | meaning |` table)")
        problems += [f"{name}: {o} is not in its docs entry" for o in sorted(have - documented)]
        problems += [f"{name}: its docs entry documents {o}, which it does not have" for o in sorted(documented - have)]
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


def test_every_builtin_parser_has_a_page_and_a_mapping_section():
    from support import registry

    mappings = (DOCS / "guides" / "mappings.md").read_text(encoding="utf-8")
    for info in registry():
        if info.origin != "builtin":
            continue
        assert (DOCS / "parsers" / f"{info.name}.md").exists(), info.name
        assert f"## {info.name}\n" in mappings or f'<a id="{info.name}">' in mappings, info.name


def test_exit_codes_table_matches_the_enum():
    from auditctl.errors import ExitCode

    for code in ExitCode:
        assert f"| {code.value} | {code.name} |" in COMMANDS_PAGE, code


def test_the_person_fields_listed_in_the_search_guide_are_the_code_s():
    """The attrs keys `--user` matches are listed in prose in the search guide: every key of the
    code's list is there, and the guide names the list it copies."""
    from auditctl.store.filters import PERSON_ATTRS

    guide = (DOCS / "guides" / "search.md").read_text(encoding="utf-8")
    section = guide[guide.index("**Who `--user` matches.**"):guide.index("**Terminal tables**")]
    assert "PERSON_ATTRS" in section
    for key in PERSON_ATTRS:
        assert f"`{key}`" in section, key


def test_every_test_the_guarantees_page_names_exists():
    """docs/guarantees.md cites the tests that check each promise: each one must exist."""
    page = (DOCS / "guarantees.md").read_text()
    files = set(re.findall(r"tests/\w+\.py", page))
    names = set(re.findall(r"::(test_\w+)", page))
    assert files and names
    assert [f for f in files if not (ROOT / f).is_file()] == []
    defined = "".join((ROOT / f).read_text() for f in sorted(files))
    assert sorted(n for n in names if f"def {n}(" not in defined) == []
