"""Issue 10 §4: `t2s eval` and `t2s filter` settings are named like their flags (`--mode` <->
`mode` <-> `T2S_EVAL_MODE`), and what earlier versions wrote (summary.json with `eval_mode`,
`eval_seed`, ... and sweep points) still reads: `t2s report` and a resumed `t2s sweep` treat it as
before. The fixture tests/fixtures/old_settings_keys was written by the version before the rename
(`t2s eval preds.jsonl --out eval --workers 1 --k 2 --seed 1 --now '2024-01-02 03:04:05'`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.config import env_names_of_field
from text2sql_cli.errors import ConfigError
from text2sql_cli.evaluation.execution import ExecutionSettings
from text2sql_cli.evaluation.judge import JudgeSettings
from text2sql_cli.filtering import FilterSettings
from text2sql_cli.inference import InferSettings

OLD = Path(__file__).parent / "fixtures" / "old_settings_keys"
runner = CliRunner()


def _options(command: str) -> set[str]:
    click_app = typer.main.get_command(app)
    return {name for p in click_app.commands[command].params for name in p.opts + p.secondary_opts}


@pytest.mark.parametrize(
    "command, cls",
    [
        ("eval", ExecutionSettings),
        ("filter", FilterSettings),
        ("eval", JudgeSettings),
        ("infer", InferSettings),
    ],
)
def test_every_setting_is_named_like_a_flag_of_its_command(command, cls):
    options = _options(command)
    assert set(cls.FLAGS.values()) <= {None}  # FLAGS only says "no flag", never renames one
    for name in cls.model_fields:
        flag = "--" + name.replace("_", "-")
        if name in cls.FLAGS:
            assert flag not in options, (command, name)  # set through the environment only
            continue
        assert flag in options or "--no-" + flag[2:] in options, (command, name)
        assert cls.flag_of(name) == flag
        assert cls.model_fields[name].validation_alias is None  # the class's env_prefix names it
        assert env_names_of_field(cls, name) == [f"T2S_{command.upper()}_{name.upper()}"]


def test_variables_keep_their_names(monkeypatch):
    for name, value in {
        "T2S_EVAL_MODE": "bird",
        "T2S_EVAL_INSTANCES": "3",
        "T2S_EVAL_NOW": "2024-01-02 03:04:05",
        "T2S_EVAL_FLOAT_TOL": "0.5",
        "T2S_FILTER_INSTANCES": "7",
        "T2S_FILTER_ON_LLM_FAILURE": "keep",
    }.items():
        monkeypatch.setenv(name, value)
    ex, flt = ExecutionSettings.from_flags(), FilterSettings.from_flags()
    assert (ex.mode, ex.instances, ex.now, ex.float_tol, ex.timeout) == (
        "bird",
        3,
        "2024-01-02 03:04:05",
        0.5,
        30.0,
    )
    assert (flt.instances, flt.on_llm_failure) == (7, "keep")


def test_the_checks_variable_is_a_comma_list_like_the_flag(monkeypatch):
    monkeypatch.setenv("T2S_FILTER_CHECKS", "parse, missing")
    assert FilterSettings.from_flags().checks == ("missing", "parse")  # canonical order
    assert FilterSettings.from_flags(checks="all").checks == (
        "missing",
        "duplicate",
        "parse",
        "schema",
        "execute",
        "empty",
    )
    monkeypatch.setenv("T2S_FILTER_CHECKS", "parse,bogus")
    with pytest.raises(ConfigError, match=r"--checks \(T2S_FILTER_CHECKS\): unknown check\(s\) bogus"):
        FilterSettings.from_flags()


def test_a_bad_k_is_one_line_naming_its_flag_and_variable(tmp_path):
    result = runner.invoke(app, ["eval", str(OLD / "preds.jsonl"), "--out", str(tmp_path / "e"), "--k", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--instances (T2S_EVAL_INSTANCES): Input should be greater than or equal to 1" in result.output


def test_a_new_summary_names_settings_like_the_flags(tmp_path):
    args = ["eval", str(OLD / "preds.jsonl"), "--out", str(tmp_path / "e"), "--workers", "1", "--k", "2"]
    result = runner.invoke(app, [*args, "--seed", "1", "--now", "2024-01-02 03:04:05"])
    assert result.exit_code == 0, result.output
    new = json.loads((tmp_path / "e" / "summary.json").read_text(encoding="utf-8"))
    old = json.loads((OLD / "eval" / "summary.json").read_text(encoding="utf-8"))
    renamed = {k.removeprefix("eval_"): v for k, v in old["settings"].items()}
    assert new["settings"] == renamed | {"workers": 1}  # the same values under the flags' names
    assert set(new["settings_sources"]) == set(new["settings"])
    assert (new["metrics"], new["per_db"]) == (old["metrics"], old["per_db"])
    assert "mode strict, K=2 synthesized databases, seed 1" in " ".join(result.output.split())


def test_report_reads_an_eval_written_before_the_rename(tmp_path):
    import pandas as pd

    shutil.copytree(OLD, tmp_path / "old")
    result = runner.invoke(app, ["report", str(tmp_path / "old" / "eval"), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(tmp_path / "rep" / "runs.csv")
    assert runs["ex"].round(3).tolist() == [0.667] and runs["em"].round(3).tolist() == [0.667]


def _sweep(d: Path, mode: str) -> Path:
    shutil.copy(OLD / "test.jsonl", d / "test.jsonl")
    cfg = {
        "test": "test.jsonl",
        "eval": {"metric": "ex,em", "mode": mode, "k": 2, "seed": 1, "workers": 1},
        # nothing listens there: a stage that ran would fail
        "baselines": [
            {"name": "api", "backend": "openai", "model_name": "m", "base_url": "http://127.0.0.1:9/v1"}
        ],
    }
    (d / "sweep.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return d / "sweep.yaml"


def test_a_sweep_point_of_the_old_version_keeps_its_digest(tmp_path):
    from text2sql_cli.sweep.config import expand, load_sweep, spec_digest

    (point,) = [p for p in expand(load_sweep(_sweep(tmp_path, "strict"))) if p.name == "api"]
    # recorded with the version before the rename, the test file's path left out
    assert spec_digest(point.spec | {"test": "<test>"}) == "6b0932ae9631899a"


def test_a_sweep_over_old_results_skips_them_and_refuses_a_changed_config(tmp_path, monkeypatch):
    from text2sql_cli.sweep.config import expand, load_sweep

    monkeypatch.chdir(tmp_path)
    config = _sweep(tmp_path, "strict")
    (point,) = [p for p in expand(load_sweep(config)) if p.name == "api"]
    d = tmp_path / "out" / "api"
    shutil.copytree(OLD / "eval", d / "eval")
    shutil.copy(OLD / "preds.jsonl", d / "preds.jsonl")
    (d / "preds.jsonl.meta.json").write_text(json.dumps({"status": "complete"}), encoding="utf-8")
    (d / "point.json").write_text(json.dumps({"name": "api", "digest": point.digest, **point.spec}))
    (d / "status.json").write_text(json.dumps({"name": "api", "status": "done", "stages": {}}))
    os.utime(d / "eval" / "summary.json")  # written after the predictions, as the eval stage does
    args = ["sweep", "--config", str(config), "--out", str(tmp_path / "out"), "--only", "name=api"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert not (d / "logs").exists()  # no stage ran again
    assert json.loads((d / "status.json").read_text())["status"] == "done"
    changed = _sweep(tmp_path, "bird")
    result = runner.invoke(app, ["sweep", "--config", str(changed), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "were run with another config: api" in result.output


def test_a_bad_env_only_setting_hints_at_the_variable_not_a_flag(monkeypatch):
    from text2sql_cli.errors import ConfigError
    from text2sql_cli.inference import InferSettings

    monkeypatch.setenv("T2S_INFER_DIALECT", "bogus")  # t2s infer has no --dialect
    with pytest.raises(ConfigError) as err:
        InferSettings.from_flags()
    assert "dialect (T2S_INFER_DIALECT)" in str(err.value)
    assert err.value.hint == "fix the T2S_* variable or the .env line"
    monkeypatch.delenv("T2S_INFER_DIALECT")
    monkeypatch.setenv("T2S_INFER_MAX_NEW_TOKENS", "0")  # this one has a flag
    with pytest.raises(ConfigError) as err:
        InferSettings.from_flags()
    assert err.value.hint == "fix the flag, the T2S_* variable or the .env line"
