"""`t2s report` pieces without a model: Korean labels, the plots that need varied settings, the
book's reference numbers, the trainable-parameter count, bad inputs, and no torch."""

import json
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.report import plots
from text2sql_cli.report.book import book_result
from text2sql_cli.report.collect import Run, safetensors_params

runner = CliRunner()


def _summary(ex, per_db=None):
    return {"examples": 10, "metrics": {"ex": {"score": ex}}, "per_db": per_db or {"1": {"ex": ex}}}


def test_a_hangul_font_is_found_and_korean_labels_draw_without_missing_glyphs(tmp_path):
    """Debian's fonts-nanum (installed by .ci/run) gives matplotlib a font with Hangul glyphs."""
    import os

    import matplotlib.pyplot as plt

    font = plots.setup_fonts()
    if font is None:
        if os.environ.get("CI"):
            pytest.fail("no Hangul font: .ci/run must apt-get install fonts-nanum")
        pytest.skip("no Hangul font installed (apt-get install fonts-nanum)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title("정제 데이터 (clean) 대 원본")
        fig.savefig(tmp_path / "ko.png")
        plt.close(fig)
    assert not [w for w in caught if "missing from" in str(w.message)]
    assert plots.label("정제 데이터") == "정제 데이터"


def test_without_a_hangul_font_labels_fall_back_to_ascii_with_a_warning(monkeypatch):
    monkeypatch.setattr(plots, "find_cjk_font", lambda: None)
    monkeypatch.setitem(plots._state, "cjk", None)
    with pytest.warns(UserWarning, match="fonts-nanum"):
        assert plots.setup_fonts() is None
    assert plots.label("clean 정제") == "clean"
    assert plots.label("정제") == "?"
    monkeypatch.setitem(plots._state, "cjk", None)  # the next test finds the real font again


def test_fraction_lines_draw_one_line_per_data_file(tmp_path):
    runs = [
        Run(
            f"{data}-{f}",
            tmp_path,
            "train",
            settings={"data": f"{data}.jsonl", "data_fraction": f},
            summary=_summary(ex),
        )
        for data, f, ex in [
            ("origin", 0.2, 0.3),
            ("origin", 1.0, 0.6),
            ("clean", 0.2, 0.35),
            ("clean", 1.0, 0.62),
        ]
    ]
    plots.setup_fonts()
    path = plots.fraction_lines(runs, tmp_path / "fraction.png")
    assert path is not None and path.stat().st_size > 5000
    assert plots.fraction_lines(runs[:1], tmp_path / "none.png") is None  # one fraction: no plot


def test_heatmap_needs_r_or_alpha_to_vary(tmp_path):
    plots.setup_fonts()
    same = [
        Run(f"a{i}", tmp_path, "train", settings={"r": 16, "alpha": 32}, summary=_summary(0.5))
        for i in range(2)
    ]
    assert plots.heatmap(same, tmp_path / "h.png") is None
    varied = [
        Run(f"r{r}a{a}", tmp_path, "train", settings={"r": r, "alpha": a}, summary=_summary(0.1 * r / 8))
        for r, a in [(8, 16), (16, 32), (64, 128)]
    ]
    assert plots.heatmap(varied, tmp_path / "h.png").stat().st_size > 5000


@pytest.mark.parametrize(
    "kind, model, settings, score",
    [
        ("untuned", "beomi/Yi-Ko-6B", {}, 21 / 112),
        ("train", "beomi/Yi-Ko-6B", {"r": 16, "alpha": 32}, 0.70),
        ("train", "beomi/OPEN-SOLAR-KO-10.7B", {"r": 64, "alpha": 128}, 0.821),
        ("untuned", "beomi/OPEN-SOLAR-KO-10.7B", {}, 0.384),
        ("api", "gpt-4", {}, 97 / 112),
        ("train", "beomi/OPEN-SOLAR-KO-10.7B", {"r": 16, "alpha": 32}, None),  # no book number
        ("api", "gpt-4o-mini", {}, None),
    ],
)
def test_runs_match_the_books_reported_numbers_only_on_its_settings(kind, model, settings, score):
    ref = book_result(Run("x", Path("."), kind, settings=settings, model=model))
    assert (ref.score if ref else None) == score


def test_trainable_params_come_from_the_adapters_lora_tensors(tmp_path):
    header = {
        "__metadata__": {"format": "pt"},
        "base_model.model.layers.0.q_proj.lora_A.weight": {
            "dtype": "F32",
            "shape": [8, 64],
            "data_offsets": [0, 0],
        },
        "base_model.model.layers.0.q_proj.lora_B.weight": {
            "dtype": "F32",
            "shape": [64, 8],
            "data_offsets": [0, 0],
        },
        "base_model.model.embed_tokens.weight": {"dtype": "F32", "shape": [1000, 64], "data_offsets": [0, 0]},
    }
    raw = json.dumps(header).encode()
    (tmp_path / "a.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert safetensors_params(tmp_path / "a.safetensors") == 2 * 8 * 64


def test_report_on_a_directory_without_runs_is_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", "empty", "--out", "rep"])
    assert result.exit_code == 2 and "holds no sweep points" in result.output
    result = runner.invoke(app, ["report", "missing", "--out", "rep"])
    assert result.exit_code == 2 and "no such file or directory" in result.output


def _eval_dir(d: Path, ex: list[bool]) -> Path:
    d.mkdir(parents=True)
    rows = [
        {"id": str(i), "db_id": "1", "question": f"질문 {i}", "sql": "SELECT 1", "ex": v}
        for i, v in enumerate(ex)
    ]
    (d / "results.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    score = sum(ex) / len(ex)
    (d / "summary.json").write_text(
        json.dumps(
            {
                "examples": len(ex),
                "metrics": {"ex": {"score": score}},
                "per_db": {"1": {"examples": len(ex), "ex": score}},
            }
        )
    )
    return d


def test_report_on_eval_dirs_writes_table_page_and_diff_without_torch(tmp_path):
    _eval_dir(tmp_path / "a" / "eval", [True, False, True])
    _eval_dir(tmp_path / "b" / "eval", [True, True, False])
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom text2sql_cli.cli import app\n"
        "r = CliRunner().invoke(app, ['report', 'a/eval', 'b/eval', '--out', 'rep', '--diff', 'a', 'b'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print([m for m in ('torch', 'transformers', 'peft', 'trl', 'accelerate') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    import pandas as pd

    assert pd.read_csv(tmp_path / "rep" / "runs.csv")["ex"].round(3).tolist() == [0.667, 0.667]
    diff = pd.read_csv(tmp_path / "rep" / "diff.csv")
    assert diff["id"].tolist() == [1, 2] and diff["verdict_a"].tolist() == ["EX wrong", "EX correct"]
    page = (tmp_path / "rep" / "index.html").read_text(encoding="utf-8")
    assert '<table id="runs">' in page and 'src="scores.png"' in page and "질문 1" in page


@pytest.mark.parametrize("adapter, has_ex", [("run", True), ("other-run", False)])
def test_a_run_dir_takes_the_eval_beside_it_only_when_made_from_its_adapter(tmp_path, adapter, has_ex):
    from text2sql_cli.report.collect import gather

    (tmp_path / "run").mkdir()
    record = {"kind": "lora-adapter", "created_at": "2026-12-07T00:00:00+00:00", "base_model": "tiny"}
    (tmp_path / "run" / "run.json").write_text(json.dumps(record | {"config": {"r": 8, "alpha": 16}}))
    meta = {"status": "complete", "provenance": {"adapter": str(tmp_path / adapter)}}
    (tmp_path / "preds.jsonl.meta.json").write_text(json.dumps(meta))
    _eval_dir(tmp_path / "eval", [True, False])
    (run,) = gather([tmp_path / "run"])
    assert run.settings["r"] == 8 and (run.metric("ex") == 0.5) == has_ex
    assert has_ex or run.summary is None
