"""Issue 18 item 12: every command's `--help` fits 80 columns without cutting a flag name, groups
its options in panels, shows every default (taken from the settings classes, not retyped) and has
no stray markup (`<bool>`, `{data}`, `note: WARNING:`)."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from text2sql_cli.cli import app

BOX = re.compile(r"[│╭╮╰╯─]")


def _commands() -> list[tuple[tuple[str, ...], object]]:
    found = []

    def walk(path, command):
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk((*path, name), sub)

    walk((), typer.main.get_command(app))
    return found


COMMANDS = _commands()
IDS = [" ".join(path) or "t2s" for path, _ in COMMANDS]


def _help(path, width=80) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(width), "TERMINAL_WIDTH": None})
    assert result.exit_code == 0, result.output
    return result.output


def _flat(text: str) -> str:
    """The help without rich's boxes and line wrapping."""
    return " ".join(BOX.sub(" ", text).split())


def _options(command):
    return [p for p in command.params if p.param_type_name == "option" and not p.hidden]


def test_every_command_is_checked():
    names = {" ".join(path) for path, _ in COMMANDS}
    for name in (
        "train",
        "infer",
        "eval",
        "filter",
        "sweep",
        "report",
        "data split",
        "data synth",
        "data import-spider",
        "data import-wikisql",
        "data pass-rate",
        "model tiny",
        "model export",
    ):
        assert name in names, name


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_fits_the_terminal(path, command, width):
    wide = [line for line in _help(path, width).splitlines() if len(line) > width]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_names_every_option_whole(path, command):
    text = _help(path)
    for param in _options(command):
        for name in (*param.opts, *param.secondary_opts):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{name} cut or missing"
    assert "…" not in text


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_has_no_stray_markup(path, command):
    text = _help(path)
    assert not re.search(r"<(bool|int|str|float|path|text)>", text, flags=re.I), "type metavar"
    # a {placeholder} left by typer (`{predictions}`); {db_id} is what the user types in --db-url
    assert not re.search(r"\{[^}]*\}", text.replace("{db_id}", "")), "a {placeholder}"
    assert "WARNING" not in text
    assert not re.search(r"\[/?(bold|dim|yellow|red|green|cyan|blue)[^\]]*\]|\[/\]", text), "rich markup"


def _settings_defaults(path) -> dict[str, object]:
    """flag -> default of the settings field behind it, for the commands whose options default to
    None ("not given") and are filled from settings."""
    from text2sql_cli.evaluation.execution import ExecutionSettings
    from text2sql_cli.evaluation.judge import JudgeSettings
    from text2sql_cli.filtering import FilterSettings
    from text2sql_cli.inference import InferSettings
    from text2sql_cli.llm_client.settings import EndpointSettings, LLMSettings
    from text2sql_cli.training.config import TrainSettings

    classes = {
        ("train",): [TrainSettings],
        ("infer",): [InferSettings],
        ("eval",): [ExecutionSettings, JudgeSettings, EndpointSettings, LLMSettings],
        ("filter",): [FilterSettings, EndpointSettings, LLMSettings],
    }.get(tuple(path), [])
    out: dict[str, object] = {}
    for cls in classes:
        for field, info in cls.model_fields.items():
            flag = cls.flag_of(field)
            if flag and flag not in out:
                out[flag] = info.get_default(call_default_factory=True)
    return out


def _expected_default(param, settings: dict[str, object]) -> str | None:
    value = param.default
    if value is None:
        value = next((settings[o] for o in param.opts if o in settings), None)
    if value is None or param.required or (param.is_flag and not param.secondary_opts):
        return None
    if param.is_flag:
        return (param.opts[0] if value else param.secondary_opts[0]).lstrip("-")
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))  # as the flag is typed or None
    return str(value)


def _segments(text: str, command) -> dict[str, str]:
    """Each option's rows in the panels (its name line and the help lines below it), flattened,
    by the option's first name. A row starts where a line of a panel starts with a flag."""
    names = {o: p.opts[0] for p in _options(command) for o in (*p.opts, *p.secondary_opts)}
    rows: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        content = line[2:] if line.startswith("│ ") else ""
        match = re.match(r"-[\w-]+", content)
        if match:
            current = names.get(match.group())
            rows.setdefault(current, [])
        if not content:
            current = None
        if current is not None:
            rows[current].append(content)
    return {name: _flat(" ".join(lines)) for name, lines in rows.items() if name}


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_shows_every_default(path, command):
    settings = _settings_defaults(path)
    segments = _segments(_help(path, width=200), command)
    checked = 0
    for param in _options(command):
        expected = _expected_default(param, settings)
        if expected is not None:
            assert f"[default: {expected}]" in segments[param.opts[0]], (param.opts[0], expected)
            checked += 1
    if settings or any(p.default not in (None, False) for p in _options(command)):
        assert checked, "no default found to check"


def test_train_defaults_are_read_from_the_settings_class(monkeypatch):
    from text2sql_cli.training.config import TrainSettings

    monkeypatch.setattr(TrainSettings.model_fields["r"], "default", 99)
    assert (
        "[default: 99]"
        in _segments(_help(("train",), width=200), typer.main.get_command(app).commands["train"])["--r"]
    )


def test_none_means_not_given_options_show_the_effective_default():
    segments = _segments(_help(("infer",), width=200), typer.main.get_command(app).commands["infer"])
    assert "[default: 256]" in segments["--max-new-tokens"]
    assert "[default: vote]" in segments["--select"]
    assert "[default: keep-empty]" in segments["--drop-empty"]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_big_commands_group_options_in_panels(path, command):
    if len(_options(command)) < 10:
        return
    titles = re.findall(r"╭─ ([^─]+?) ─", _help(path))
    assert len(titles) >= 3, titles  # at least two panels besides Options
    assert len(titles) == len(set(titles)), "a panel shown twice"


def test_a_long_flag_gets_its_own_line_and_help_below():
    lines = _help(("train",)).splitlines()
    row = next(i for i, line in enumerate(lines) if "--report-to [none|tensorboard|wandb]" in line)
    assert "Experiment tracker." in lines[row + 1]


def test_usage_names_arguments_in_capitals():
    assert "Usage:" in _help(("eval",)) and "[OPTIONS] PREDICTIONS" in _help(("eval",))


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["eval", "p.jsonl", "--bogus"], "Usage: t2s eval [OPTIONS] PREDICTIONS"),
        (["data", "split", "d.jsonl"], "Usage: t2s data split [OPTIONS] DATA"),
        (["report", "--out", "r"], "Usage: t2s report [OPTIONS] PATHS..."),
        (["data", "bogus"], "Usage: t2s data [OPTIONS] COMMAND [ARGS]..."),
    ],
)
def test_a_usage_error_names_arguments_as_the_help_does(args, usage):
    result = CliRunner().invoke(app, args, prog_name="t2s", env={"COLUMNS": "80"})
    assert result.exit_code == 2 and usage in result.output, result.output
    assert not re.search(r"\{[^}]*\}", result.output), "a {placeholder} in the usage line"


def test_template_override_is_one_note_without_a_second_label(tmp_path):
    """The note is printed as `note: ...`: its text must not carry its own `WARNING:` label."""
    from text2sql_cli.inference.backend import resolve_template
    from text2sql_cli.prompts import get_template, save_template

    save_template(tmp_path, get_template("ko-sql-bot"))
    notes: list[str] = []
    assert resolve_template(tmp_path, "en-sql-bot", notes).name == "en-sql-bot"
    assert notes and notes[0].startswith("--template en-sql-bot overrides the template 'ko-sql-bot'")
    assert "WARNING" not in notes[0]


@pytest.mark.parametrize(
    ("args", "shown"), [([], "Commands"), (["eval"], "PREDICTIONS"), (["data"], "split")]
)
def test_a_bare_command_prints_its_help_and_exits_2(args, shown):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 2 and "Usage:" in result.output and shown in result.output


def test_defaults_that_depend_on_the_mode_are_read_from_the_code(monkeypatch):
    from text2sql_cli.evaluation import execution

    monkeypatch.setattr(execution, "MODE_TIMEOUT", {"bird": 31.0})
    segments = _segments(_help(("eval",), width=200), typer.main.get_command(app).commands["eval"])
    assert "[default: 5; bird 31]" in segments["--timeout"]
    assert "[default: 1e-06 in strict mode, 0 (exact) in the others]" in segments["--float-tol"]
    assert "[default: the server's announced limit, else 500]" in segments["--rpm"]


@pytest.mark.parametrize(
    "path,flag",
    [(["infer"], "--base-url"), (["eval"], "--judge-base-url"), (["data", "synth"], "--teacher-base-url")],
)
def test_every_base_url_says_where_requests_go_without_one(path, flag):
    text = " ".join(_help(path, width=200).split())
    assert f"{flag} TEXT" in text
    after = text.split(f"{flag} TEXT", 1)[1]
    assert after.split("[default:", 1)[1].startswith(" OpenAI]"), after[:300]  # the first default after it
