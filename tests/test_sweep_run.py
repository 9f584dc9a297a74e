"""A real tiny sweep: two LoRA points, the untuned base and an API model (a local fake server, which
also judges), each train -> infer -> eval in subprocesses; then reruns, a resume, and `t2s report`
on the run directories it built (table, runs.csv/parquet, PNGs, index.html)."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _tiny import WITH_HEAD, shared_tiny, write_rows
from fake_openai import FakeOpenAI, book_judge_answer
from typer.testing import CliRunner

from text2sql_cli.cli import app

pytestmark = pytest.mark.slow  # trains and generates with the tiny model

runner = CliRunner()
TEST_ROWS = 6


def _answer_with_gold(test_file: Path):
    """The fake API model writes the gold SQL (so the API point scores); as judge, it compares."""
    gold = {}
    for line in test_file.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold[row["question"]] = row["answer"]

    def answer(prompt: str) -> str:
        if "gt_sql:" in prompt:
            return book_judge_answer(prompt)
        return next((sql for q, sql in gold.items() if q in prompt), "SELECT 1;")

    return answer


def write_sweep_config(d: Path, api_url: str) -> Path:
    train = write_rows(d / "train.jsonl", 40)
    test = d / "test.jsonl"
    test.write_text(
        "".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[:TEST_ROWS]), encoding="utf-8"
    )
    cfg = {
        "train": {
            "base": str(shared_tiny()),
            "data": str(train),
            "max_steps": 3,
            "batch_size": 4,
            "lr": 0.01,
            "log_every": 1,
            "save_every": 2,
            "max_len": 512,
            "targets": WITH_HEAD,
        },
        "test": str(test),
        "infer": {"max_new_tokens": 24},
        "eval": {"metric": "ex,em", "workers": 1, "judge": "gpt-4-turbo-preview", "judge_base_url": api_url},
        "axes": {"pairs": {"r": [4, 8], "alpha": [8, 16]}},
        "baselines": [
            {"untuned": True},
            {"name": "gpt-4", "backend": "openai", "model_name": "gpt-4", "base_url": api_url},
        ],
    }
    path = d / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def api():
    with FakeOpenAI(lifetime_s=900, hang_s=5) as server:
        yield server


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, api):
    d = tmp_path_factory.mktemp("sweep")
    config = write_sweep_config(d, api.url)
    api.answer = _answer_with_gold(d / "test.jsonl")
    out = d / "out"
    result = runner.invoke(app, ["sweep", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return config, out, result.output


NAMES = ["r=4_alpha=8", "r=8_alpha=16", "untuned", "gpt-4"]


def test_every_point_ran_train_infer_eval_into_its_directory(sweep):
    _, out, output = sweep
    assert json.loads((out / "sweep.json").read_text())["points"] == NAMES
    for name in NAMES:
        d = out / name
        status = json.loads((d / "status.json").read_text())
        assert status["status"] == "done", (name, status)
        assert json.loads((d / "preds.jsonl.meta.json").read_text())["status"] == "complete"
        summary = json.loads((d / "eval" / "summary.json").read_text())
        assert summary["examples"] == TEST_ROWS and summary["judge"]["judged"] == TEST_ROWS
    for name in NAMES[:2]:
        run = json.loads((out / name / "run" / "run.json").read_text())
        assert run["training"]["global_step"] == 3
    assert run["config"]["r"] == 8 and run["config"]["alpha"] == 16
    assert not (out / "untuned" / "run").exists() and not (out / "gpt-4" / "run").exists()
    gpt = json.loads((out / "gpt-4" / "eval" / "summary.json").read_text())
    assert gpt["metrics"]["ex"]["score"] == 1.0  # the fake API model answers with the gold SQL
    assert "4 run, 0 already done, 0 failed" in output


def test_a_rerun_skips_every_finished_point(sweep):
    config, out, _ = sweep
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "sweep.json"}
    result = runner.invoke(app, ["sweep", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 run, 4 already done, 0 failed" in result.output
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "sweep.json"}
    assert after == before


def test_an_interrupted_point_resumes_from_its_checkpoint(sweep):
    """Undo what training wrote after checkpoint-2 and what the later stages wrote (a crash at step
    3): the rerun resumes training at step 2 and redoes infer and eval for that point only."""
    import shutil

    config, out, _ = sweep
    d = out / "r=8_alpha=16"
    (d / "run" / "run.json").unlink()
    shutil.rmtree(d / "run" / "checkpoints" / "checkpoint-3")
    meta = json.loads((d / "preds.jsonl.meta.json").read_text())
    (d / "preds.jsonl.meta.json").write_text(json.dumps(meta | {"status": "running"}))
    (d / "eval" / "summary.json").unlink()
    status = json.loads((d / "status.json").read_text())
    (d / "status.json").write_text(json.dumps(status | {"status": "interrupted", "stage": "train"}))
    result = runner.invoke(app, ["sweep", "--config", str(config), "--out", str(out), "--only", "r=8"])
    assert result.exit_code == 0, result.output
    assert "1 run, 0 already done, 0 failed" in result.output
    log = (d / "logs" / "train.log").read_text()
    assert re.search(r"^\$ .* train --config .* --resume$", log, re.M)
    run = json.loads((d / "run" / "run.json").read_text())
    assert run["training"]["resumed_from_step"] == 2 and run["training"]["global_step"] == 3
    assert json.loads((d / "status.json").read_text())["status"] == "done"
    assert json.loads((d / "eval" / "summary.json").read_text())["examples"] == TEST_ROWS


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    _, out, _ = sweep
    page_dir = tmp_path_factory.mktemp("report") / "report"
    result = runner.invoke(
        app, ["report", str(out), "--out", str(page_dir), "--diff", "r=4_alpha=8", "gpt-4"]
    )
    assert result.exit_code == 0, result.output
    return page_dir, result.output


def test_report_table_has_one_row_per_run_with_metrics(report, sweep):
    page_dir, output = report
    df = pd.read_csv(page_dir / "runs.csv")
    assert list(df["run"]) == NAMES
    assert list(df["kind"]) == ["train", "train", "untuned", "api"]
    assert df.loc[df["run"] == "gpt-4", "ex"].item() == 1.0
    trained = df[df["kind"] == "train"]
    assert trained["trainable_params"].gt(0).all() and trained["tokens"].gt(0).all()
    assert trained["trainable_params"].iloc[1] == 2 * trained["trainable_params"].iloc[0]  # r 8 vs r 4
    assert df[df["kind"] != "train"]["trainable_params"].isna().all()  # unknown, not 0
    assert pd.read_parquet(page_dir / "runs.parquet")["run"].tolist() == NAMES
    for word in ("EX", "EM", "judge", "κ", "r=4_alpha=8", "gpt-4"):
        assert word in output
    assert "Report page:" in output and str(page_dir / "index.html") in output


def test_report_writes_every_plot_as_a_png_of_the_expected_size(report):
    from PIL import Image

    page_dir, _ = report
    expected = {
        "loss.png": (1200, 450),
        "scores.png": None,  # width grows with the runs
        "heatmap.png": None,
        "per_db.png": None,
        "confusion.png": None,
    }
    for name, size in expected.items():
        path = page_dir / name
        assert path.stat().st_size > 5000, name
        with Image.open(path) as image:
            assert image.format == "PNG"
            if size:
                assert image.size == size
            assert image.size[0] >= 300 and image.size[1] >= 300
    assert not (page_dir / "fraction.png").exists()  # data_fraction did not vary


def test_report_diff_lists_rows_whose_verdicts_differ(report, sweep):
    page_dir, output = report
    diff = pd.read_csv(page_dir / "diff.csv")
    _, out, _ = sweep
    a = pd.read_json(out / "r=4_alpha=8" / "eval" / "results.jsonl", lines=True)
    b = pd.read_json(out / "gpt-4" / "eval" / "results.jsonl", lines=True)
    differ = set(a.loc[a["ex"] != b["ex"], "id"].astype(str)) | set(
        a.loc[a["judge_verdict"] != b["judge_verdict"], "id"].astype(str)
    )
    assert set(diff["id"].astype(str)) == differ and len(differ) > 0
    assert {"question", "sql_a", "sql_b", "verdict_a", "verdict_b"} <= set(diff.columns)
    assert "row(s) differ" in output


PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-images", images.length + "/" + loaded);
  document.body.setAttribute("data-rows", document.querySelectorAll("#runs tbody tr").length);
});
</script></body>"""


def _chromium() -> str:
    """Debian's chromium; CI installs it (.ci/run), so there its absence fails the test."""
    import os
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def _headless(exe: str, tmp_path: Path, *args: str) -> str:
    import subprocess

    command = [
        exe,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout


def test_report_page_renders_in_chromium_with_every_image_loaded(report, tmp_path):
    from PIL import Image

    exe = _chromium()
    page_dir, _ = report
    page = (page_dir / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    probe = page_dir / "_probe.html"  # beside the page, so its relative image paths resolve alike
    probe.write_text(page.replace("</body>", PROBE), encoding="utf-8")
    try:
        dom = _headless(exe, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    body = re.search(r"<body[^>]*>", dom).group(0)
    images = re.search(r'data-images="(\d+)/(\d+)"', body)
    assert images, body
    total, loaded = int(images.group(1)), int(images.group(2))
    assert total == 5 and loaded == total
    assert re.search(r'data-rows="(\d+)"', body).group(1) == str(len(NAMES))

    shot = tmp_path / "page.png"
    _headless(
        exe,
        tmp_path,
        "--hide-scrollbars",
        "--window-size=1280,2400",
        f"--screenshot={shot}",
        (page_dir / "index.html").as_uri(),
    )
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        assert len(image.convert("L").getcolors(1 << 16) or []) > 20  # drawn, not a blank page


def test_ray_backend_gives_the_same_results_directory(sweep, tmp_path):
    """The same sweep as Ray tasks on a local cluster of 2 CPUs (no GPU: 0 GPUs per point)."""
    import os

    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not installed: the dev extra includes it (pip install -e '.[dev]')")
        pytest.skip("ray is not installed (pip install 't2s[ray]')")
    config, local_out, _ = sweep
    out = tmp_path / "ray-out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = runner.invoke(
            app,
            [
                "sweep",
                "--config",
                str(config),
                "--out",
                str(out),
                "--backend",
                "ray",
                "--gpus-per-point",
                "0",
            ],
        )
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    assert "4 run, 0 already done, 0 failed" in result.output

    def layout(root: Path) -> set[str]:
        """Result files by relative path; logs and checkpoints differ in name only by timing."""
        files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
        return {
            str(f) for f in files if not {"logs", "checkpoints"} & set(f.parts) and f.name != "sweep.json"
        }

    assert layout(out) == layout(local_out)
    for name in NAMES:
        assert json.loads((out / name / "status.json").read_text())["status"] == "done"
        ray_summary = json.loads((out / name / "eval" / "summary.json").read_text())
        local_summary = json.loads((local_out / name / "eval" / "summary.json").read_text())
        assert ray_summary["examples"] == local_summary["examples"] == TEST_ROWS
    gpt = json.loads((out / "gpt-4" / "eval" / "summary.json").read_text())
    assert (
        gpt["metrics"] == json.loads((local_out / "gpt-4" / "eval" / "summary.json").read_text())["metrics"]
    )
    rerun = runner.invoke(
        app,
        ["sweep", "--config", str(config), "--out", str(out), "--backend", "ray", "--gpus-per-point", "0"],
    )
    assert rerun.exit_code == 0 and "0 run, 4 already done" in rerun.output  # resumable: nothing resubmitted


@pytest.mark.timeout(900)
def test_ctrl_c_stops_the_sweep_at_a_checkpoint_and_a_rerun_resumes_it(tmp_path):
    """Ctrl-C (SIGINT to the sweep's process group, as a terminal sends it) while a point trains:
    the trainer saves a checkpoint, the point is marked interrupted, the sweep exits 130; the same
    command then resumes that training instead of starting it again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    train = write_rows(tmp_path / "train.jsonl", 40)
    (tmp_path / "test.jsonl").write_text(
        "".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8"
    )
    cfg = {
        "train": {"base": str(shared_tiny()), "data": str(train), "max_steps": 30, "batch_size": 1},
        "test": str(tmp_path / "test.jsonl"),
        "infer": {"max_new_tokens": 8},
        "axes": {"r": [4]},
    }
    cfg["train"] |= {"save_every": 2, "log_every": 1, "max_len": 512}
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    command = [sys.executable, "-m", "text2sql_cli", "sweep", "--config", str(config), "--out", "out"]
    proc = subprocess.Popen(
        command, cwd=tmp_path, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    checkpoints = tmp_path / "out" / "r=4" / "run" / "checkpoints"
    deadline = time.time() + 240
    while not list(checkpoints.glob("checkpoint-*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, proc.stdout.read().decode()
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=180)[0].decode()
    assert proc.returncode == 130, output
    assert "rerun the same command to resume" in output
    status = json.loads((tmp_path / "out" / "r=4" / "status.json").read_text())
    assert status["status"] == "interrupted" and status["stage"] == "train"
    assert not (tmp_path / "out" / "r=4" / "run" / "run.json").exists()
    stopped_at = max(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))

    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((tmp_path / "out" / "r=4" / "run" / "run.json").read_text())
    assert run["training"]["resumed_from_step"] == stopped_at > 0
    assert json.loads((tmp_path / "out" / "r=4" / "status.json").read_text())["status"] == "done"
