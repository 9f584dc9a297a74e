"""Docs that cannot drift: every t2s command line in README.md and the example configs' headers
parses against the real CLI (command names, option names, option types, required options)."""

import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from text2sql_cli.cli import app

REPO = Path(__file__).resolve().parents[1]


def _command_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s#\s.*$", "", line).strip()
            for part in line.split("|"):
                part = part.strip()
                if part.startswith("t2s "):
                    lines.append(part[len("t2s ") :])
                elif "-m text2sql_cli " in part:
                    lines.append(part.split("-m text2sql_cli ", 1)[1])
    return lines


README_COMMANDS = _command_lines((REPO / "README.md").read_text(encoding="utf-8"))


def _parse(argv: list[str]) -> None:
    if "--help" in argv:
        argv = argv[: argv.index("--help")]  # the command path before --help must still exist
    if not argv:
        return  # plain `t2s --help`
    command = typer.main.get_command(app)
    ctx = command.make_context("t2s", list(argv), resilient_parsing=True)
    while isinstance(command, TyperGroup) and argv:
        name, *argv = argv
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        command = sub
    if not isinstance(command, TyperGroup):
        command.make_context(command.name, list(argv))  # raises on unknown or missing options


def test_readme_has_commands_to_check():
    assert len(README_COMMANDS) >= 15


@pytest.mark.parametrize(
    "line", ["train --base b --data d --out o --no-such-flag", "nosuch x", "infer --batch-size"]
)
def test_the_check_catches_a_wrong_command(line):
    # typer reports an unknown option or a missing value as a usage error (a TyperException); an
    # unknown command fails the check's own assertion
    with pytest.raises((typer.TyperException, AssertionError)):
        _parse(shlex.split(line))


@pytest.mark.parametrize("line", README_COMMANDS)
def test_readme_command_parses(line):
    _parse(shlex.split(line))


@pytest.mark.parametrize("config", sorted((REPO / "examples/configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_config_headers_parse(config):
    commands = [m for m in re.findall(r"^#\s{2,}t2s (.+)$", config.read_text(), flags=re.M)]
    assert commands, f"{config.name} should start with the command that uses it"
    for line in commands:
        _parse(shlex.split(line))


def _demo_command_lines() -> list[str]:
    text = (REPO / "examples/demo.sh").read_text(encoding="utf-8")
    return _command_lines("```bash\n" + re.sub(r"<<'PY'.*?^PY$", "", text, flags=re.S | re.M) + "```")


def test_demo_commands_parse_and_keep_the_held_out_domain_out_of_the_warm_up():
    lines = _demo_command_lines()
    for line in lines:
        _parse(shlex.split(line.replace('"$OUT', '"demo')))
    tiny = next(line for line in lines if line.startswith("model tiny"))
    assert "train.jsonl" in tiny and "sample.jsonl" not in tiny  # the test domain is never seen
    assert any(
        line.startswith("eval") and "--columns sql=answer,gold=answer" in line for line in lines
    )  # gold
    assert lines[-1].startswith("report")
