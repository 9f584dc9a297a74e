"""WikiSQL import: both layouts -> t2s rows whose answer is the SQL of sel/agg/conds, and the
tables' rows -> SQLite databases that `t2s eval --db-dir` runs on."""

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import InputError
from text2sql_cli.wikisql import import_wikisql, write_databases

TABLES = [
    {
        "id": "1-10007452-3",
        "header": ["Order Year", "Manufacturer", "Model", 'Fleet "Series"', "Quantity"],
        "types": ["real", "text", "text", "text", "real"],
        "rows": [
            [1992, "Gillig", "Phantom (High Floor)", "444-464", 21],
            [1998, "Gillig", "Phantom (Low Floor)", "2001-2010", 10],
            [1998, "New Flyer", "D40LF", "2011-2025", 15],
            [2001, "Orion", "O'Neill", "3001-3030", 30],
        ],
    },
    {
        "id": "2-1234-1",
        "header": ["Player", "player", ""],
        "types": ["text", "text", "real"],
        "rows": [["Kim", "K", "1,204"], ["Lee", "L", "n/a"]],
    },
]

QUESTIONS = [
    {
        "phase": 1,
        "question": "who is the manufacturer for the order year 1998?",
        "table_id": "1-10007452-3",
        "sql": {"sel": 1, "agg": 0, "conds": [[0, 0, "1998"]]},
    },
    {
        "phase": 1,
        "question": "How many buses did gillig build after 1995? ",
        "table_id": "1-10007452-3",
        "sql": {"sel": 4, "agg": 4, "conds": [[1, 0, "gillig"], [0, 1, 1995.0]]},
    },
    {
        "phase": 2,
        "question": "Which fleet series is the o'neill?",
        "table_id": "1-10007452-3",
        "sql": {"sel": 3, "agg": 0, "conds": [[2, 0, "O'Neill"]]},
    },
    {
        "phase": 2,
        "question": "Count players scoring under 1,300",
        "table_id": "2-1234-1",
        "sql": {"sel": 0, "agg": 3, "conds": [[2, 2, "1,300"]]},
    },
]

ANSWERS = [
    "SELECT `Manufacturer` FROM `table_1_10007452_3` WHERE `Order Year` = 1998",
    "SELECT SUM(`Quantity`) FROM `table_1_10007452_3` WHERE `Manufacturer` = 'gillig' "
    "AND `Order Year` > 1995",
    "SELECT `Fleet \"Series\"` FROM `table_1_10007452_3` WHERE `Model` = 'O''Neill'",
    "SELECT COUNT(`Player`) FROM `table_2_1234_1` WHERE `col2` < 1300",
]


def _jsonl(path, items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.fixture
def official(tmp_path):
    _jsonl(tmp_path / "dev.tables.jsonl", TABLES)
    return _jsonl(tmp_path / "dev.jsonl", QUESTIONS)


def _hub_row(question):
    """The hub's parquet: table nested, cells and conditions as strings, conds as columns."""
    table = next(t for t in TABLES if t["id"] == question["table_id"])
    conds = question["sql"]["conds"]
    return {
        "phase": question["phase"],
        "question": question["question"],
        "table": {
            "header": table["header"],
            "page_title": "",
            "page_id": "",
            "types": table["types"],
            "id": table["id"],
            "section_title": "",
            "caption": "",
            "rows": [[str(c) for c in r] for r in table["rows"]],
            "name": "",
        },
        "sql": {
            "human_readable": "",
            "sel": question["sql"]["sel"],
            "agg": question["sql"]["agg"],
            "conds": {
                "column_index": [c[0] for c in conds],
                "operator_index": [c[1] for c in conds],
                "condition": [str(c[2]) for c in conds],
            },
        },
    }


@pytest.fixture
def hub(tmp_path):
    path = tmp_path / "validation-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist([_hub_row(q) for q in QUESTIONS]), path)
    return path


def test_official_layout_reads_tables_beside_the_file(official):
    rows = import_wikisql(official).rows
    assert [r["db_id"] for r in rows] == ["1-10007452-3"] * 3 + ["2-1234-1"]
    assert set(rows[0]) == {"id", "db_id", "context", "question", "answer"} and rows[0]["id"] == "dev-0"


def test_answers_are_the_sql_of_sel_agg_conds(official):
    assert [r["answer"] for r in import_wikisql(official).rows] == ANSWERS


def test_hub_parquet_layout_gives_the_same_answers(hub):
    assert pq.read_schema(hub).field("sql").type.field("conds").type == pa.struct(
        [
            ("column_index", pa.list_(pa.int64())),
            ("operator_index", pa.list_(pa.int64())),
            ("condition", pa.list_(pa.string())),
        ]
    )
    assert [r["answer"] for r in import_wikisql(hub).rows] == ANSWERS


def test_context_is_create_table_with_quoted_identifiers(official):
    context = import_wikisql(official).rows[0]["context"]
    assert context.startswith(
        "CREATE TABLE `table_1_10007452_3` (\n  `Order Year` REAL,\n  `Manufacturer` TEXT,"
    )
    assert '`Fleet "Series"` TEXT' in context
    sqlite3.connect(":memory:").executescript(context)  # valid SQLite


def test_repeated_and_empty_headers_get_unique_names(official):
    context = import_wikisql(official).rows[3]["context"]
    assert "`Player` TEXT,\n  `player_1` TEXT,\n  `col2` REAL" in context


def test_placeholder_operator_is_a_file_line_error(tmp_path, official):
    bad = dict(QUESTIONS[0], sql={"sel": 1, "agg": 0, "conds": [[0, 3, "1998"]]})
    _jsonl(official, [QUESTIONS[0], bad, dict(bad)])
    with pytest.raises(InputError, match=r"dev\.jsonl:2: .*'OP'.*\(and 1 more bad rows\)"):
        import_wikisql(official)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"table_id": "9-9-9"}, "table_id .9-9-9. is not in the tables file"),
        ({"sql": {"sel": 7, "agg": 0, "conds": []}}, "sql.sel 7 is not an index below 5"),
        ({"sql": {"sel": 0, "agg": 6, "conds": []}}, "sql.agg 6 is not an index below 6"),
        (
            {"sql": {"sel": 0, "agg": 0, "conds": [[0, 0, "soon"]]}},
            "condition value 'soon' on a real column is not a number",
        ),
        ({"question": " "}, "missing .question."),
    ],
)
def test_bad_rows_name_the_line(official, change, message):
    _jsonl(official, [QUESTIONS[0], dict(QUESTIONS[0], **change)])
    with pytest.raises(InputError, match=r"dev\.jsonl:2: " + message):
        import_wikisql(official)


def test_bad_table_names_the_tables_file_line(official):
    _jsonl(
        official.with_name("dev.tables.jsonl"), [TABLES[0], dict(TABLES[1], types=["text", "date", "real"])]
    )
    with pytest.raises(InputError, match=r"dev\.tables\.jsonl:2: .*unknown column type 'date'"):
        import_wikisql(official)


def test_bad_parquet_row_names_the_row(hub, tmp_path):
    rows = [_hub_row(q) for q in QUESTIONS]
    rows[2]["sql"]["conds"]["operator_index"] = [3]
    pq.write_table(pa.Table.from_pylist(rows), hub)
    with pytest.raises(InputError, match=r"validation-00000-of-00001\.parquet: row 2: .*'OP'"):
        import_wikisql(hub)


def test_databases_hold_the_rows_and_gold_runs_on_them(official, tmp_path):
    result = import_wikisql(official)
    assert write_databases(result.tables, tmp_path / "db") == 0
    got = []
    for row in result.rows:
        conn = sqlite3.connect(tmp_path / "db" / row["db_id"] / f"{row['db_id']}.sqlite")
        got.append(conn.execute(row["answer"]).fetchall())
        conn.close()
    # 'gillig' matches 'Gillig' (NOCASE, as the official evaluator lowercases); "1,204" is a number
    assert got == [[("Gillig",), ("New Flyer",)], [(10.0,)], [("3001-3030",)], [(1,)]]


def test_cli_writes_rows_and_databases_that_eval_scores(official, tmp_path):
    out, db = tmp_path / "w.jsonl", tmp_path / "db"
    result = CliRunner().invoke(
        app, ["data", "import-wikisql", str(official), "--out", str(out), "--db-out", str(db)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    preds = [
        {**r, "gold": r["answer"], "sql": sql, "raw": sql}
        for r, sql in [(rows[0], rows[0]["answer"]), (rows[1], rows[1]["answer"].replace("> 1995", "> 1998"))]
    ]
    _jsonl(tmp_path / "preds.jsonl", preds)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(tmp_path / "preds.jsonl"),
            "--metric",
            "ex",
            "--db-dir",
            str(db),
            "--out",
            str(tmp_path / "ev"),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in (tmp_path / "ev" / "results.jsonl").read_text().splitlines()]
    assert [(r["ex"], r["gold_empty"]) for r in results] == [(True, False), (False, False)]


def test_cli_bad_row_is_one_line_exit_2(official, tmp_path):
    _jsonl(official, [QUESTIONS[0], dict(QUESTIONS[0], table_id="nope")])
    result = CliRunner().invoke(
        app, ["data", "import-wikisql", str(official), "--out", str(tmp_path / "w.jsonl")]
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "dev.jsonl:2:" in result.output and not (tmp_path / "w.jsonl").exists()


def test_missing_tables_file_says_how_to_pass_it(official):
    official.with_name("dev.tables.jsonl").unlink()
    with pytest.raises(InputError, match="dev.tables.jsonl: tables file not found; pass --tables"):
        import_wikisql(official)


def test_quoting_survives_the_mysql_reading_eval_uses(tmp_path):
    from text2sql_cli.sql.dialect import to_sqlite

    table = {"id": "3-1-1", "header": ["Path`s"], "types": ["text"], "rows": [["C:\\new 'x'"]]}
    question = {
        "question": "which?",
        "table": table,
        "sql": {"sel": 0, "agg": 0, "conds": [[0, 0, "c:\\NEW 'x'"]]},
    }
    result = import_wikisql(_jsonl(tmp_path / "inline.jsonl", [question]))
    write_databases(result.tables, tmp_path / "db")
    conn = sqlite3.connect(tmp_path / "db" / "3-1-1" / "3-1-1.sqlite")
    assert conn.execute(to_sqlite(result.rows[0]["answer"]).sql).fetchall() == [("C:\\new 'x'",)]
