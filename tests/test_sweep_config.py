"""`t2s sweep` without a model: the YAML, its points and names, selection, nested data subsets,
the changed-config guard, --dry-run, --emit-commands, and no torch on the way."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import UsageError
from text2sql_cli.sweep.config import expand, load_sweep
from text2sql_cli.sweep.driver import parse_only, select
from text2sql_cli.sweep.point import check_points, flags, state, write_subset

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"
runner = CliRunner()


def _config(tmp_path, **extra):
    (tmp_path / "test.jsonl").write_text(
        SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    cfg = {
        "train": {"base": "org/model-a", "data": str(SAMPLE), "max_steps": 5},
        "test": "test.jsonl",
    } | extra
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_grid_pairs_and_fractions_multiply_into_named_points(tmp_path):
    path = _config(
        tmp_path,
        axes={"pairs": {"r": [16, 64], "alpha": [32, 128]}, "lr": [1e-4, 2e-4], "data_fraction": [0.2, 1.0]},
    )
    points = expand(load_sweep(path))
    assert len(points) == 2 * 2 * 2
    names = [p.name for p in points]
    assert "lr=0.0001_r=16_alpha=32_frac=0.2" in names and len(set(names)) == len(names)
    r64 = [p for p in points if p.settings["r"] == 64]
    assert all(
        p.settings["alpha"] == 128 and p.spec["train"]["alpha"] == 128 for p in r64
    )  # zipped, not crossed


def test_baselines_untuned_per_base_model_and_an_api_model(tmp_path):
    path = _config(
        tmp_path,
        axes={"base": ["org/model-a", "org/model-b"]},
        baselines=[{"untuned": True}, {"name": "gpt-4", "backend": "openai", "model_name": "gpt-4"}],
    )
    points = expand(load_sweep(path))
    kinds = [(p.kind, p.name) for p in points]
    assert kinds == [
        ("train", "base=model-a"),
        ("train", "base=model-b"),
        ("untuned", "untuned_base=model-a"),
        ("untuned", "untuned_base=model-b"),
        ("api", "gpt-4"),
    ]
    assert points[2].spec["model"] == "org/model-a" and "train" not in points[2].spec
    assert points[4].spec["api"] == {"backend": "openai", "model_name": "gpt-4", "base_url": None}


def test_point_digest_follows_the_config(tmp_path):
    a = expand(load_sweep(_config(tmp_path, axes={"r": [8]})))[0]
    b = expand(load_sweep(_config(tmp_path, axes={"r": [8]}, infer={"max_new_tokens": 32})))[0]
    assert a.name == b.name and a.digest != b.digest


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"axes": {"rank": [8]}}, "axes.rank is not a train option"),
        ({"trian": {}}, "unknown key 'trian'"),
        ({"axes": {"data_fraction": [0, 0.5]}}, "data_fraction: 0"),
        ({"axes": {"pairs": {"r": [8, 16], "alpha": [16]}}}, "one length"),
        ({"baselines": [{"backend": "openai"}]}, "needs model_name"),
        ({"eval": {"out": "x"}}, "eval.out is not a sweep-settable option"),
    ],
)
def test_bad_sweep_file_is_one_line_exit_2_naming_it(tmp_path, bad, words):
    path = _config(tmp_path, **bad)
    result = runner.invoke(app, ["sweep", "--config", str(path), "--out", "out", "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "sweep.yaml" in lines[0] and words in lines[0]


def test_only_selects_by_settings_and_max_points_caps(tmp_path):
    path = _config(tmp_path, axes={"r": [8, 16], "data_fraction": [0.5, 1.0]})
    _, chosen = select(path, only=["r=16"])
    assert [p.name for p in chosen] == ["r=16_frac=0.5", "r=16_frac=1.0"]
    _, chosen = select(path, only=["r=16,frac=0.5"])
    assert [p.name for p in chosen] == ["r=16_frac=0.5"]
    _, chosen = select(path, max_points=3)
    assert len(chosen) == 3
    with pytest.raises(UsageError, match="matches no point"):
        select(path, only=["r=32"])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_only(["r16"])


def test_data_fractions_are_nested_seeded_subsets(tmp_path):
    def ids(fraction, seed=42):
        out = write_subset(SAMPLE, fraction, seed, tmp_path / f"{fraction}-{seed}.jsonl")
        return [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]

    small, large, whole = ids(0.2), ids(0.4), ids(1.0)
    assert len(small) == 30 and len(large) == 60 and len(whole) == 150
    assert set(small) < set(large) < set(whole)
    assert ids(0.2) == small  # the same seed gives the same subset
    assert ids(0.2, seed=7) != small


def test_a_changed_config_is_refused_unless_overwrite(tmp_path):
    path = _config(tmp_path, axes={"r": [8]})
    point = expand(load_sweep(path))[0]
    d = tmp_path / "out" / point.name
    d.mkdir(parents=True)
    (d / "point.json").write_text(json.dumps({"digest": "something-else"}))
    assert state(point, d) == "changed"
    result = runner.invoke(app, ["sweep", "--config", str(path), "--out", "out"])
    assert result.exit_code == 2 and "another config" in result.output and "--overwrite" in result.output
    assert d.exists()
    check_points([point], tmp_path / "out", overwrite=True)
    assert not d.exists()


def test_emit_commands_prints_one_runnable_command_per_point(tmp_path):
    path = _config(tmp_path, axes={"r": [8, 16]}, baselines=[{"untuned": True}])
    result = runner.invoke(app, ["sweep", "--config", str(path), "--out", "out", "--emit-commands"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3
    for line, name in zip(lines, ("r=8", "r=16", "untuned")):
        cd, sep, command = line.partition(" && ")
        assert sep and shlex.split(cd) == ["cd", str(tmp_path)]
        args = shlex.split(command)
        assert args[:2] == ["t2s", "sweep"] and args[-2:] == ["--point", name]
        assert Path(args[args.index("--out") + 1]).is_absolute()
        check = runner.invoke(app, [*args[1:], "--dry-run"])  # the command parses and names a real point
        assert check.exit_code == 0 and name in check.output


def test_dry_run_lists_points_and_estimates_the_judge_cost(tmp_path):
    path = _config(tmp_path, axes={"r": [8, 16]}, eval={"judge": "gpt-4-turbo-preview"})
    result = runner.invoke(app, ["sweep", "--config", str(path), "--out", "out", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "r=8" in result.output and "r=16" in result.output and "Dry run" in result.output
    assert "Judge gpt-4-turbo-preview: 1 requests per point x 2 point(s)" in result.output
    assert "cost about $" in result.output
    assert not (tmp_path / "out").exists()


def test_stage_options_become_flags():
    assert flags({"max_new_tokens": 64, "judge": None, "metric": ["ex", "em"], "packing": False}) == [
        "--max-new-tokens",
        "64",
        "--metric",
        "ex,em",
        "--no-packing",
    ]


def test_sweep_help_and_dry_run_load_no_torch(tmp_path):
    path = _config(tmp_path, axes={"r": [8]})
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom text2sql_cli.cli import app\n"
        f"dry = ['sweep', '--config', {str(path)!r}, '--out', 'o', '--dry-run']\n"
        "for args in (['sweep', '--help'], ['report', '--help'], dry):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "print([m for m in ('torch', 'transformers', 'peft', 'trl', 'accelerate') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["tiny.yaml", "book-ch6.yaml"])
def test_example_sweep_headers_are_real_commands(name):
    text = (REPO / "examples" / "sweeps" / name).read_text(encoding="utf-8")
    commands = re.findall(r"^#\s{2,}(t2s .+)$", text, flags=re.M)
    assert any("t2s sweep --config examples/sweeps/" + name in c for c in commands)
    for line in commands:
        args = shlex.split(line)[1:]
        result = runner.invoke(
            app, [*args[: args.index("--out") if "--out" in args else len(args)], "--help"]
        )
        assert result.exit_code == 0, line


def test_book_sweep_runs_each_comparison_and_shares_the_default_point(tmp_path):
    """examples/sweeps/book-ch6.yaml: r/alpha pairs, origin vs clean, fractions of both, the base
    swap at r 64/alpha 128, the untuned bases and GPT-4; the book's default run appears once."""
    for path in ("data/ko/train.jsonl", "data/ko/test.jsonl", "data/ko-clean/train.jsonl"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(
            SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
        )
    points = expand(load_sweep(REPO / "examples" / "sweeps" / "book-ch6.yaml"))
    names = [p.name for p in points]
    assert len(names) == 17 and len(set(names)) == 17
    default = points[names.index("r=16_alpha=32")]
    assert default.settings["data_fraction"] == 1.0 and default.settings["data"].endswith("ko/train.jsonl")
    for name in (
        "r=64_alpha=128",
        "data=ko-clean",
        "data=ko-clean_frac=0.2",
        "base=OPEN-SOLAR-KO-10.7B_r=64_alpha=128",
    ):
        assert name in names
    assert [p.kind for p in points[-3:]] == ["untuned", "untuned", "api"]
    assert points[-2].spec["model"] == "beomi/OPEN-SOLAR-KO-10.7B"


def test_accelerate_launcher_wraps_train_and_infer_not_eval(tmp_path):
    from text2sql_cli.sweep.point import Launch, _stage_args

    path = _config(tmp_path, axes={"r": [8]})
    point = expand(load_sweep(path))[0]
    launch = Launch(launcher="accelerate", num_processes=4, python="py")
    train = launch.command(_stage_args("train", point, tmp_path / "p"))
    assert train[:8] == [
        "py",
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "4",
        "-m",
        "text2sql_cli",
        "train",
    ]
    assert Launch(python="py").command(["eval", "x"]) == ["py", "-m", "text2sql_cli", "eval", "x"]
    result = runner.invoke(app, ["sweep", "--config", str(path), "--out", "o", "--launcher", "mpi"])
    assert result.exit_code == 2 and "python or accelerate" in result.output
