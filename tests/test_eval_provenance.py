"""Issue 18: what `t2s eval` records and refuses. Provenance in summary.json and the default --out
beside the predictions (3), every row without a generation (6), other tools' files (7), the fields
results.jsonl and summary.json keep (8)."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.artifacts import sha256_file, write_predictions_meta
from text2sql_cli.cli import app

pytestmark = pytest.mark.timeout(120)

DDL = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, level INT NOT NULL);"
GOLD = "SELECT name FROM t WHERE level >= 5"
TEMPLATE = {"name": "ko-sql-bot", "prompt": "### Q: {question}\n### SQL:", "stop": ["###"]}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(i, sql=GOLD, db_id="1", **extra):
    row = {
        "id": str(i),
        "db_id": db_id,
        "question": "q",
        "context": DDL,
        "gold": GOLD,
        "raw": sql,
        "sql": sql,
    }
    row.update(extra)
    return row


def _failed(i):
    return _row(i, sql=None, error="ApiError: 500 after 5 attempts")


def _eval(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args), "--workers", "1", "--k", "2"])


def _one_line_exit_2(result):
    return (
        result.exit_code == 2
        and "Traceback" not in result.output
        and len(result.output.strip().splitlines()) == 1
    )


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _results(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _with_sidecar(preds):
    write_predictions_meta(
        preds,
        fingerprint="abc123",
        status="complete",
        stop=("###",),
        data=preds,
        provenance={
            "backend": "hf",
            "model": "runs/r1",
            "weights": "tiny-base",
            "adapter": "runs/r1",
            "adapter_sha256": "f" * 64,
            "template": TEMPLATE,
        },
        batch_size=1,
        world_size=1,
        counts={"rows": 2},
    )
    return preds


# 3. provenance and the default --out


def test_summary_records_the_predictions_and_their_fingerprints(tmp_path):
    preds = _with_sidecar(_write(tmp_path / "preds.jsonl", [_row(1), _row(2, "SELECT 1")]))
    result = _eval(preds, "--out", tmp_path / "ev", "--seed", "7", "--now", "2024-03-15 12:00:00")
    assert result.exit_code == 0, result.output
    summary = _summary(tmp_path / "ev")
    p = summary["predictions"]
    template_sha = hashlib.sha256(json.dumps(TEMPLATE, sort_keys=True).encode()).hexdigest()
    assert (p["path"], p["sha256"]) == (str(preds.resolve()), sha256_file(preds))
    assert (p["fingerprint"], p["model"], p["adapter_sha256"]) == ("abc123", "runs/r1", "f" * 64)
    assert (p["template"], p["template_sha256"]) == ("ko-sql-bot", template_sha)
    s = summary["settings"]
    assert (s["engine"], s["mode"], s["instances"], s["seed"], s["now"]) == (
        "sqlite",
        "strict",
        2,
        7,
        "2024-03-15 12:00:00",
    )
    assert s["dialect"]


def test_without_sidecar_the_fingerprints_are_none_not_guessed(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_row(1)])
    assert _eval(preds, "--out", tmp_path / "ev").exit_code == 0
    p = _summary(tmp_path / "ev")["predictions"]
    assert p["sha256"] == sha256_file(preds) and p["fingerprint"] is None and p["model"] is None


def test_default_out_is_beside_the_predictions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    preds = _write(tmp_path / "sub" / "preds.jsonl", [_row(1)])
    result = _eval(preds, "--metric", "em")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sub" / "preds.jsonl.eval" / "summary.json").is_file()
    assert not (tmp_path / "eval").exists()


def test_an_eval_of_other_predictions_is_refused_unless_overwrite(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_row(1)])
    b = _write(tmp_path / "b.jsonl", [_row(1, "SELECT 1")])
    out = tmp_path / "ev"
    assert _eval(a, "--out", out, "--metric", "em").exit_code == 0
    assert _eval(a, "--out", out, "--metric", "em").exit_code == 0  # the same file: updated
    refused = _eval(b, "--out", out, "--metric", "em")
    assert _one_line_exit_2(refused) and "--overwrite" in refused.output, refused.output
    assert _summary(out)["predictions"]["path"] == str(a.resolve())
    assert _eval(b, "--out", out, "--metric", "em", "--overwrite").exit_code == 0
    assert _summary(out)["predictions"]["path"] == str(b.resolve())


# 6. no generation at all


def test_every_row_without_a_generation_exits_2_with_one_line(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_failed(1), _failed(2)])
    result = _eval(preds, "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "no row has a generation" in result.output, result.output
    assert "--count-missing-as-wrong" in result.output
    assert not (tmp_path / "ev" / "summary.json").exists()


def test_count_missing_as_wrong_puts_them_in_the_denominator(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_row(1), _failed(2)])
    result = _eval(preds, "--out", tmp_path / "ev", "--count-missing-as-wrong")
    assert result.exit_code == 0, result.output
    summary = _summary(tmp_path / "ev")
    for m in ("ex", "em"):
        assert (summary["metrics"][m]["correct"], summary["metrics"][m]["scored"]) == (1, 2)
    assert summary["no_generation"]["counted_as_wrong"] is True
    rows = _results(tmp_path / "ev")
    assert rows[1]["status"] == "generation_error" and rows[1]["ex"] is False
    alone = _eval(
        _write(tmp_path / "f.jsonl", [_failed(1)]), "--out", tmp_path / "f", "--count-missing-as-wrong"
    )
    assert alone.exit_code == 0 and _summary(tmp_path / "f")["metrics"]["ex"]["score"] == 0.0


# 7. other tools' files


def test_columns_maps_another_tools_prediction_file(tmp_path):
    rows = [
        {"qid": 5, "db": "1", "schema": DDL, "query": GOLD, "pred": GOLD},
        {"qid": 6, "db": "1", "schema": DDL, "query": GOLD, "pred": "SELECT 1"},
    ]
    preds = _write(tmp_path / "other.jsonl", rows)
    result = _eval(
        preds, "--out", tmp_path / "ev", "--columns", "id=qid,db_id=db,context=schema,gold=query,sql=pred"
    )
    assert result.exit_code == 0, result.output
    out = _results(tmp_path / "ev")
    assert [(r["id"], r["ex"], r["em"]) for r in out] == [("5", True, True), ("6", False, False)]


def test_columns_naming_an_absent_column_is_one_line(tmp_path):
    preds = _write(tmp_path / "other.jsonl", [{"db_id": "1", "context": DDL, "gold": GOLD, "pred": GOLD}])
    result = _eval(preds, "--out", tmp_path / "ev", "--columns", "sql=prediction")
    assert _one_line_exit_2(result) and "'prediction'" in result.output and ":1:" in result.output
    bad = _eval(preds, "--out", tmp_path / "ev", "--columns", "answer=query")
    assert _one_line_exit_2(bad) and "bad --columns" in bad.output


def test_one_column_read_as_prediction_and_gold_scores_the_gold_against_itself(tmp_path):
    data = _write(tmp_path / "test.jsonl", [{"db_id": "1", "context": DDL, "question": "q", "answer": GOLD}])
    result = _eval(data, "--out", tmp_path / "ev", "--columns", "sql=answer,gold=answer")
    assert result.exit_code == 0, result.output
    assert [(r["sql"], r["gold"], r["ex"], r["status"]) for r in _results(tmp_path / "ev")] == [
        (GOLD, GOLD, True, "correct")
    ]
    assert _summary(tmp_path / "ev")["metrics"]["ex"]["score"] == 1.0


def test_the_gold_column_read_as_the_prediction_alone_is_not_also_the_gold(tmp_path):
    data = _write(tmp_path / "test.jsonl", [{"db_id": "1", "context": DDL, "question": "q", "answer": GOLD}])
    result = _eval(data, "--out", tmp_path / "ev", "--columns", "sql=answer")
    assert _one_line_exit_2(result) and "no 'gold' in any row" in result.output
    assert "--columns sql=answer,gold=answer" in " ".join(result.output.split())


def test_columns_read_the_row_as_given_whatever_the_order_of_the_pairs(tmp_path):
    rows = [{"db_id": "1", "context": DDL, "sql": GOLD, "pred": GOLD, "raw": "SELECT 1"}]
    rows.append({**rows[0], "pred": "SELECT 1"})
    preds = _write(tmp_path / "other.jsonl", rows)
    result = _eval(preds, "--out", tmp_path / "a", "--columns", "sql=pred,gold=sql")
    assert result.exit_code == 0, result.output
    assert [(r["gold"], r["sql"], r["ex"]) for r in _results(tmp_path / "a")] == [
        (GOLD, GOLD, True),
        (GOLD, "SELECT 1", False),
    ]
    # `sql` mapped to the gold only: the prediction comes from `raw`, never from the gold's column
    result = _eval(preds, "--out", tmp_path / "b", "--columns", "gold=sql")
    assert result.exit_code == 0, result.output
    assert [(r["sql"], r["ex"]) for r in _results(tmp_path / "b")] == [("SELECT 1", False)] * 2


def test_a_data_file_is_told_to_run_infer_first(tmp_path):
    data = _write(tmp_path / "test.jsonl", [{"db_id": "1", "context": DDL, "question": "q", "answer": GOLD}])
    result = _eval(data, "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "this is a data file" in result.output
    assert "run t2s infer first" in " ".join(result.output.split())


# 8. what results.jsonl and summary.json keep


def test_results_keep_raw_context_and_db_id_type_and_per_db_counts(tmp_path):
    rows = [_row(1, db_id=3, raw="SQL: " + GOLD), _row(2, "SELECT 1", db_id=3), _row(3, db_id="x")]
    preds = _write(tmp_path / "preds.jsonl", rows)
    assert _eval(preds, "--out", tmp_path / "ev").exit_code == 0
    out = _results(tmp_path / "ev")
    assert [r["db_id"] for r in out] == [3, 3, "x"]
    assert out[0]["raw"] == "SQL: " + GOLD and out[0]["context"] == DDL
    per_db = _summary(tmp_path / "ev")["per_db"]
    assert per_db["3"]["ex"] == 0.5
    assert per_db["3"]["counts"]["ex"] == {"correct": 1, "scored": 2, "excluded": 0}
    assert per_db["x"]["counts"]["em"]["correct"] == 1


# 5. a wrong verdict explained


def _wrong_preds(tmp_path):
    return _write(
        tmp_path / "preds.jsonl",
        [_row("a"), _row("b/2", "SELECT name FROM t WHERE level > 5"), _row("c", "SELECT id FROM t")],
    )


def test_wrong_result_keeps_a_short_diff_of_the_first_differing_database(tmp_path):
    preds = _wrong_preds(tmp_path)
    assert _eval(preds, "--out", tmp_path / "ev", "--metric", "ex").exit_code == 0
    rows = {r["id"]: r for r in _results(tmp_path / "ev")}
    assert rows["a"]["status"] == "correct" and rows["a"]["diff"] is None
    for wrong in ("b/2", "c"):
        diff = rows[wrong]["diff"]
        assert rows[wrong]["status"] == "wrong_result"
        assert (
            1 <= diff["instance"] <= rows[wrong]["databases"] and "synthesized database" in diff["database"]
        )
        assert diff["gold_only_rows"] or diff["pred_only_rows"]
        assert len(diff["gold_only_rows"]) <= 3 and len(diff["pred_only_rows"]) <= 3
    c = rows["c"]["diff"]
    assert (c["gold_columns"], c["pred_columns"]) == (["name"], ["id"])
    # b keeps only the rows with level > 5: what gold has beyond it are the rows with level 5
    assert rows["b/2"]["diff"]["pred_only_rows"] == [] and rows["b/2"]["diff"]["gold_only_rows"]


def test_save_dbs_writes_the_synthesized_databases_that_reproduce_the_verdict(tmp_path):
    import sqlite3

    preds = _wrong_preds(tmp_path)
    result = _eval(preds, "--only", "b/2", "--save-dbs", tmp_path / "dbs", "--now", "2024-01-01 00:00:00")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "preds.jsonl.eval").exists()  # --only inspects, writes no results
    files = sorted((tmp_path / "dbs" / "b_2").glob("instance-*.sqlite"))
    assert len(files) >= 2 and not (tmp_path / "dbs" / "a").exists()
    differs = []
    for f in files:
        conn = sqlite3.connect(f)
        gold = sorted(conn.execute(GOLD).fetchall())
        pred = sorted(conn.execute("SELECT name FROM t WHERE level > 5").fetchall())
        conn.close()
        differs.append(gold != pred)
    assert any(differs)  # a user opening the files sees the difference the verdict names


def test_explain_prints_one_examples_verdict_and_diff(tmp_path):
    preds = _wrong_preds(tmp_path)
    result = _eval(preds, "--explain", "c")
    text = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "c (db_id 1): wrong_result" in text and "first differs on synthesized database" in text
    assert "predicted: SELECT id FROM t" in text and "only in gold:" in text
    assert "b/2" not in text and not (tmp_path / "preds.jsonl.eval").exists()
    missing = _eval(preds, "--explain", "zz")
    assert _one_line_exit_2(missing) and "no row with id zz" in missing.output
    refused = _eval(preds, "--save-dbs", tmp_path / "d", "--db-dir", tmp_path)
    assert _one_line_exit_2(refused) and "--save-dbs" in refused.output
