"""The guides stay true: every command they name exists, and every setting
the code reads is documented.

People follow the guides word for word, so a renamed make target or a
removed option must fail here, not in front of a member of staff; and a new
environment variable read under bot/ must be documented before it ships,
or nobody deploying the bot will know it is there.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from bot import cli, project

GUIDES = [project.ROOT / "README.md", project.ROOT / "BENCHMARKS.md",
          *sorted((project.ROOT / "docs").glob("*.md"))]
SETTING = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
SETTING_PREFIXES = ("SIGNPOST_", "TELEGRAM_", "WEBHOOK_")


def code_in(text: str) -> list[str]:
    """What a reader would type or copy: fenced blocks' lines and `inline code`."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            found.append(line)
        else:
            found += re.findall(r"`([^`]+)`", line)
    return found


def guide_code() -> list[tuple[str, str]]:
    return [(path.relative_to(project.ROOT).as_posix(), code)
            for path in GUIDES for code in code_in(path.read_text(encoding="utf-8"))]


def make_targets() -> set[str]:
    text = (project.ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.MULTILINE))


def subcommands() -> dict[str, set[str]]:
    """Each ``python -m bot`` subcommand and the options it takes (global ones included)."""
    parser = cli._parser()
    common = {o for a in parser._actions for o in a.option_strings}
    (choices,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: common | {o for a in sub._actions for o in a.option_strings}
            for name, sub in choices.items()}


def settings_read(folder: Path = project.ROOT / "bot") -> dict[str, str]:
    """Environment variables the code under ``folder`` reads, each with where.

    Read means: ``os.environ[...]``, ``getenv(...)`` or ``env.get(...)``, a
    helper given the environment (``_number(env, "WEBHOOK_PORT", ...)``), or
    a constant holding a name with the project's prefixes. Names the code only
    sets for libraries (``os.environ.setdefault("TF_...")``) are not settings.
    """
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(project.ROOT).as_posix()

        def note(node: ast.AST) -> None:
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and SETTING.match(node.value):
                found.setdefault(node.value, f"{where}:{node.lineno}")

        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(SETTING_PREFIXES):
                note(node)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) \
                    and "environ" in ast.unparse(node.value):
                note(node.slice)
            elif isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                reads_env = func.endswith(("getenv", "environ.get", "env.get")) or any(
                    isinstance(a, ast.Name) and a.id in ("env", "environ") for a in node.args)
                if reads_env:
                    for arg in node.args:
                        note(arg)
    return found


def undocumented(settings: dict[str, str], guides: list[str]) -> list[str]:
    documented = {token for text in guides for code in code_in(text)
                  for token in re.findall(r"[A-Z][A-Z0-9_]+", code)}
    return sorted(f"{name} (read at {where})" for name, where in settings.items()
                  if name not in documented)


def test_every_make_target_a_guide_names_exists():
    targets = make_targets()
    missing = sorted({f"{guide}: make {target}" for guide, code in guide_code()
                      for target in re.findall(r"(?:^|[\s;&|(])make ([a-z][\w-]*)", code)
                      if target not in targets})
    assert missing == [], f"guides name make targets the Makefile does not have: {missing}"


def test_every_bot_subcommand_and_option_a_guide_names_exists():
    commands = subcommands()
    wrong = set()
    for guide, code in guide_code():
        for match in re.finditer(r"python -m bot ([a-z][\w-]*)((?: [^|;#]*)?)", code):
            name, rest = match.groups()
            if name not in commands:
                wrong.add(f"{guide}: python -m bot {name} (no such command)")
                continue
            wrong |= {f"{guide}: python -m bot {name} {option} (no such option)"
                      for option in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", rest)
                      if option not in commands[name]}
    assert sorted(wrong) == []


def test_every_tools_module_a_guide_names_exists():
    missing = sorted({f"{guide}: python -m tools.{name}" for guide, code in guide_code()
                      for name in re.findall(r"python -m tools\.(\w+)", code)
                      if not (project.ROOT / "tools" / f"{name}.py").is_file()})
    assert missing == []


def test_the_guides_name_the_commands_they_are_checked_against():
    """Guard the guard: if the patterns above stopped matching, they would pass on anything."""
    code = [c for _, c in guide_code()]
    assert any("make preview ID=" in c for c in code)
    assert any("python -m bot check --today" in c for c in code)
    assert {"install", "run", "test", "test-all"} <= make_targets()


def test_every_setting_the_code_reads_is_documented():
    settings = settings_read()
    assert {"TELEGRAM_BOT_TOKEN", "WEBHOOK_PORT", "SIGNPOST_ID_KEY",
            "SIGNPOST_LOG_MESSAGE_TEXT", "TELEGRAM_MAX_MESSAGES_PER_SECOND"} <= set(settings)
    guides = [path.read_text(encoding="utf-8") for path in GUIDES]
    assert undocumented(settings, guides) == [], "document these in docs/deploying.md"


def test_a_setting_removed_from_the_guides_is_noticed():
    deploying = (project.ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    without = "\n".join(line for line in deploying.splitlines()
                        if "SIGNPOST_RETENTION_DAYS" not in line)
    others = [p.read_text(encoding="utf-8") for p in GUIDES if p.name != "deploying.md"]
    (missing,) = undocumented(settings_read(), [without, *others])
    assert missing.startswith("SIGNPOST_RETENTION_DAYS (read at bot/channels/telegram/settings.py:")


@pytest.mark.parametrize("guide", ["staff.md", "testers.md", "deploying.md", "design.md", "quality.md"])
def test_each_guide_is_linked_from_the_readme(guide):
    assert f"(docs/{guide})" in (project.ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_shows_what_ci_runs():
    readme = "\n".join(code_in((project.ROOT / "README.md").read_text(encoding="utf-8")))
    ci = (project.ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in ("make install", "make test-all"):
        assert command in ci and command in readme
