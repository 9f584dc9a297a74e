import csv
import json

import pytest

from text2sql_cli.data import load_examples, parse_columns, split_by_db
from text2sql_cli.errors import InputError, UsageError


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"db_id": db, "context": f"CREATE TABLE t{db} (a INT);", "question": f"질문 {i}", "answer": "SELECT 1;"}
    for i, db in enumerate([1, 1, 2, 2, 3, 3, 4, 4])
]


def test_jsonl_rows_get_positional_ids_and_string_db_ids(tmp_path):
    examples, report = load_examples(_jsonl(tmp_path / "d.jsonl", ROWS))
    assert [e.id for e in examples] == [str(i) for i in range(8)]
    assert examples[0].db_id == "1" and report.read == 8


def test_empty_field_error_names_file_and_line(tmp_path):
    rows = ROWS[:3] + [dict(ROWS[3], question="  ")] + ROWS[4:]
    with pytest.raises(InputError) as err:
        load_examples(_jsonl(tmp_path / "d.jsonl", rows))
    assert "d.jsonl:4" in str(err.value) and "question" in str(err.value) and "--drop-na" in str(err.value)


def test_drop_na_drops_nan_and_counts_it(tmp_path):
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["db_id", "context", "question", "answer"])
        w.writeheader()
        w.writerow(ROWS[0])
        w.writerow(dict(ROWS[1], answer=""))
        w.writerow(dict(ROWS[2], context="CREATE TABLE x (\n a INT\n);"))
    examples, report = load_examples(path, drop_na=True)
    assert len(examples) == 2 and report.dropped["missing_field"] == 1
    assert examples[1].context == "CREATE TABLE x (\n a INT\n);"


def test_csv_error_line_counts_multiline_fields(tmp_path):
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["db_id", "context", "question", "answer"])
        w.writeheader()
        w.writerow(dict(ROWS[0], context="CREATE TABLE x (\n a INT\n);"))
        w.writerow(dict(ROWS[1], answer=""))
    with pytest.raises(InputError, match=r"d\.csv:5"):
        load_examples(path)


def test_missing_column_suggests_mapping(tmp_path):
    rows = [{"db_id": 1, "context": "c", "question": "q", "query": "SELECT 1"}]
    with pytest.raises(InputError, match="--columns"):
        load_examples(_jsonl(tmp_path / "spider.jsonl", rows))
    examples, _ = load_examples(tmp_path / "spider.jsonl", columns=parse_columns("answer=query"))
    assert examples[0].answer == "SELECT 1"


def test_bad_columns_spec_is_a_usage_error():
    with pytest.raises(UsageError, match="FIELD=COLUMN"):
        parse_columns("answer")


def test_parquet_rows_load(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    examples, _ = load_examples(tmp_path / "d.parquet")
    assert len(examples) == 8 and examples[-1].db_id == "4"


def test_split_holds_out_whole_domains(tmp_path):
    examples, _ = load_examples(_jsonl(tmp_path / "d.jsonl", ROWS))
    split = split_by_db(examples, test_dbs=["1"])
    assert {e.db_id for e in split.test} == {"1"} and "1" not in {e.db_id for e in split.train}
    assert len(split.train) + len(split.test) == 8


def test_split_fraction_is_seeded_and_reproducible(tmp_path):
    examples, _ = load_examples(_jsonl(tmp_path / "d.jsonl", ROWS))
    a = split_by_db(examples, test_frac=0.5, seed=7)
    b = split_by_db(examples, test_frac=0.5, seed=7)
    assert a.test_dbs == b.test_dbs and [e.id for e in a.train] == [e.id for e in b.train]
    assert len(a.test_dbs) == 2


def test_unknown_test_db_lists_present_ones(tmp_path):
    examples, _ = load_examples(_jsonl(tmp_path / "d.jsonl", ROWS))
    with pytest.raises(UsageError, match="present: 1, 2, 3, 4"):
        split_by_db(examples, test_dbs=["9"])


def test_real_test_split_loads_clean(ko_test_split):
    examples, report = load_examples(ko_test_split)
    assert len(examples) == 112 and {e.db_id for e in examples} == {"1"} and not report.dropped


def test_empty_file_says_it_has_no_rows(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="has no rows"):
        load_examples(tmp_path / "empty.jsonl")


def test_directory_is_not_a_data_file(tmp_path):
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        load_examples(tmp_path / "d.jsonl")


def test_non_utf8_file_is_an_input_error(tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b'{"db_id": "\xff\xfe"}\n')
    with pytest.raises(InputError, match="UTF-8"):
        load_examples(tmp_path / "bin.jsonl")


def test_broken_parquet_is_an_input_error(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1xx")
    with pytest.raises(InputError, match="Parquet"):
        load_examples(tmp_path / "bad.parquet")


def test_json_array_of_non_objects_names_the_row(tmp_path):
    (tmp_path / "arr.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="row 0: expected a row object"):
        load_examples(tmp_path / "arr.json")


def test_duplicate_id_names_both_lines(tmp_path):
    rows = [dict(ROWS[0], id="a"), dict(ROWS[1], id="b"), dict(ROWS[2], id="a")]
    with pytest.raises(InputError, match=r"d\.jsonl:3: duplicate id 'a' \(first at line 1\)"):
        load_examples(_jsonl(tmp_path / "d.jsonl", rows))


def test_hub_dataset_rows_load_through_datasets_with_config_and_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_list(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    examples, report = load_examples("shangrilar/ko_text2sql", config="origin", split="test")
    assert calls == [("shangrilar/ko_text2sql", "origin", "test")]
    assert len(examples) == 8 and examples[2].db_id == "2" and report.read == 8


def test_unreachable_hub_dataset_is_a_one_line_input_error():
    with pytest.raises(InputError, match="cannot load dataset.*pass a local file"):
        load_examples("shangrilar/ko_text2sql", config="origin", split="train")


def test_hub_config_is_hub_config_and_the_old_spelling_warns(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    sample = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "sample.jsonl"
    runner = CliRunner()
    old = runner.invoke(
        app, ["data", "split", str(sample), "--config", "x", "--test-db", "1", "--out", str(tmp_path / "a")]
    )
    assert old.exit_code == 0, old.output
    assert "--config for a hub dataset config is now --hub-config" in old.output
    new = runner.invoke(
        app,
        ["data", "split", str(sample), "--hub-config", "x", "--test-db", "1", "--out", str(tmp_path / "b")],
    )
    assert new.exit_code == 0, new.output and "now --hub-config" not in new.output
    help_text = runner.invoke(app, ["data", "split", "--help"]).output
    assert "--hub-config" in help_text
