"""A case set for EX modes: small SQLite databases in the Spider layout and (gold, predicted) pairs
built from the rules of the official evaluators (tests/ex_reference.py) and from the behaviours
their code and tests show: DISTINCT removal, `value` plugging, `> =`, the textual `order by`
heuristic, the quick rejection's sort key, column permutations, bag vs set semantics, test
suites of several database files, sql-eval's subset columns and `{a,b}` / `;` gold alternatives.

`build_databases(root)` writes `<root>/<db_id>/*.sqlite`; `CASES` are dicts with db, gold, pred,
note and `differs`: for the modes where t2s deliberately differs from the official script, why
(the README's mode table says the same).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DATABASES = {
    "concert": [
        "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INT, is_male TEXT,"
        " song_name TEXT, value INT)",
        "CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, stadium_id INT, year TEXT)",
        "CREATE TABLE singer_in_concert (concert_id INT, singer_id INT)",
        "INSERT INTO singer VALUES (1,'Joe Sharp','Netherlands',52,'F','You',10),"
        "(2,'Timbaland','United States',32,'T','Dangerous',20),"
        "(3,'Justin Brown','France',29,'T','Hey Oh',10),"
        "(4,'Rose White','France',41,'F','Sun',30),(5,'John Nizinik','France',43,'T','Gentleman',20),"
        "(6,'Tribal King','France',25,'T','Love',10)",
        "INSERT INTO concert VALUES (1,'Auditions',1,'2014'),(2,'Super bootcamp',2,'2014'),"
        "(3,'Home Visits',2,'2015'),(4,'Week 1',10,'2014'),(5,'Week 1',9,'2015'),(6,'Week 2',7,'2015')",
        "INSERT INTO singer_in_concert VALUES (1,2),(1,3),(1,5),(2,3),(2,6),(3,5),(4,4),(5,6),(5,3),(6,2)",
    ],
    "numbers": [
        "CREATE TABLE m (id INTEGER PRIMARY KEY, x REAL, y INT, label TEXT, big REAL)",
        "INSERT INTO m VALUES (1,0.1,1,'a',1e308),(2,0.2,2,'b',1e308),(3,0.30000000000000004,3,'c',-1e308),"
        "(4,1.0,1,'a',0.0),(5,2.5,2,'B',NULL)",
        "CREATE TABLE wide (a INT, b INT, c INT, d INT, e INT, f INT)",
        "INSERT INTO wide VALUES (1,1,1,1,1,1),(2,2,2,2,2,2),(1,2,1,2,1,2),(3,3,3,3,3,3)",
    ],
    "suite": [
        "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, salary INT, dept TEXT)",
        "INSERT INTO emp VALUES (1,'ann',100,'x'),(2,'bob',200,'y'),(3,'cid',300,'x')",
    ],
}
# A second database file for `suite`: the test suite tells apart queries that agree on the first.
SUITE_B = [
    "CREATE TABLE emp (id INTEGER PRIMARY KEY, name TEXT, salary INT, dept TEXT)",
    "INSERT INTO emp VALUES (1,'ann',100,'x'),(2,'bob',250,'y'),(3,'cid',300,'x'),(4,'dan',250,'z')",
]


def build_databases(root: Path) -> Path:
    for db_id, statements in DATABASES.items():
        _write(root / db_id / f"{db_id}.sqlite", statements)
    _write(root / "suite" / "suite_b.sqlite", SUITE_B)
    return root


def _write(path: Path, statements: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


_BIRD_GOLD_FAILS = "BIRD scores a failing gold as a wrong prediction; t2s excludes it (gold_error)"
_BIRD_WRITE = "BIRD runs a write and compares its empty result; t2s refuses writes (wrong)"
_BIRD_BOTH_FAIL = (
    "BIRD scores gold and prediction failing alike as correct (('error',) == ('error',)); "
    "t2s excludes a failing gold"
)


def _c(db, gold, pred, note, **differs):
    return {"db": db, "gold": gold, "pred": pred, "note": note, "differs": differs}


CASES = [
    # DISTINCT: removed by Spider's evaluator, kept by the others
    _c("concert", "SELECT DISTINCT country FROM singer", "SELECT country FROM singer", "DISTINCT dropped"),
    _c("concert", "SELECT country FROM singer", "SELECT DISTINCT country FROM singer", "DISTINCT added"),
    _c(
        "concert",
        "SELECT COUNT(DISTINCT country) FROM singer",
        "SELECT COUNT(country) FROM singer",
        "COUNT DISTINCT",
    ),
    _c(
        "concert",
        "SELECT DISTINCT T1.name FROM singer T1 JOIN singer_in_concert T2 ON T1.singer_id = T2.singer_id",
        "SELECT name FROM singer WHERE singer_id IN (SELECT singer_id FROM singer_in_concert)",
        "IN-subquery rewrite of a DISTINCT join",
    ),
    # Spider's text rewrites
    _c(
        "concert",
        "SELECT name FROM singer WHERE age > 30",
        "SELECT name FROM singer WHERE age > = 30",
        "'> =' joined",
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE age != 29",
        "SELECT name FROM singer WHERE age ! = 29",
        "'! =' joined",
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE age > 1",
        "SELECT name FROM singer WHERE age > value",
        "value -> 1",
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE value = 10",
        "SELECT name FROM singer WHERE value = 10",
        "a column named value in the prediction (the official script rewrites it too)",
    ),
    _c(
        "concert",
        "SELECT COUNT(*) FROM concert WHERE year = '2014'",
        "SELECT COUNT(*) FROM concert WHERE year < YEAR(CURDATE()) - 5",
        "YEAR(CURDATE()) -> 2020",
    ),
    # row order
    _c(
        "concert",
        "SELECT name FROM singer ORDER BY age",
        "SELECT name FROM singer ORDER BY age DESC",
        "order differs",
    ),
    _c(
        "concert",
        "SELECT name FROM singer",
        "SELECT name FROM singer ORDER BY age DESC",
        "order only in prediction",
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE age > (SELECT age FROM singer ORDER BY age LIMIT 1)",
        "SELECT name FROM singer WHERE age > 25 ORDER BY name",
        "order by in a gold subquery (Spider's text heuristic)",
    ),
    _c(
        "concert",
        "SELECT name, age FROM singer ORDER BY age DESC LIMIT 3",
        "SELECT name, age FROM singer ORDER BY age DESC LIMIT 3",
        "same ordered query",
    ),
    _c(
        "concert",
        "SELECT country, COUNT(*) FROM singer GROUP BY country ORDER BY COUNT(*)",
        "SELECT country, COUNT(*) FROM singer GROUP BY country ORDER BY country",
        "ordered, ties and keys differ",
    ),
    _c(
        "concert",
        "SELECT name FROM singer ORDER BY age LIMIT 1",
        "SELECT name FROM singer WHERE age = (SELECT MIN(age) FROM singer)",
        "argmin written two ways",
    ),
    # columns
    _c("concert", "SELECT name, age FROM singer", "SELECT age, name FROM singer", "columns swapped"),
    _c("concert", "SELECT name, age FROM singer", "SELECT name FROM singer", "a column missing"),
    _c("concert", "SELECT name FROM singer", "SELECT name, age FROM singer", "an extra column"),
    _c(
        "concert",
        "SELECT name, country FROM singer WHERE age > 40",
        "SELECT name, country, age FROM singer WHERE age > 40",
        "an extra column, same rows",
    ),
    _c(
        "concert",
        "SELECT singer_id, name, country, age FROM singer",
        "SELECT age, country, name, singer_id FROM singer",
        "four columns reversed",
    ),
    _c(
        "numbers",
        "SELECT a, b, c, d, e, f FROM wide",
        "SELECT f, e, d, c, b, a FROM wide",
        "six columns with shared values",
    ),
    _c(
        "numbers",
        "SELECT a, b FROM wide",
        "SELECT b, a FROM wide",
        "columns with the same value set, swapped",
    ),
    # duplicates: bag vs set
    _c(
        "concert",
        "SELECT country FROM singer",
        "SELECT country FROM singer GROUP BY country",
        "duplicates dropped",
    ),
    _c(
        "concert",
        "SELECT country FROM singer WHERE age > 40",
        "SELECT country FROM singer WHERE age > 30",
        "one more duplicate",
    ),
    _c(
        "concert",
        "SELECT is_male FROM singer",
        "SELECT is_male FROM singer UNION ALL SELECT 'T'",
        "extra duplicate row",
    ),
    # values
    _c("numbers", "SELECT COUNT(*) FROM m", "SELECT COUNT(*) * 1.0 FROM m", "int equals float"),
    _c("numbers", "SELECT SUM(x) FROM m WHERE id <= 3", "SELECT 0.6", "float sum off in the last bit"),
    _c("numbers", "SELECT x FROM m WHERE id = 3", "SELECT 0.3", "0.30000000000000004 vs 0.3"),
    _c("numbers", "SELECT AVG(y) FROM m", "SELECT SUM(y) * 1.0 / COUNT(*) FROM m", "AVG written two ways"),
    _c("numbers", "SELECT big FROM m WHERE id < 4", "SELECT big FROM m WHERE id < 4", "1e308 values"),
    _c("numbers", "SELECT 1e999", "SELECT 1e999", "inf"),
    _c("numbers", "SELECT -1e999, 1e999", "SELECT 1e999, -1e999", "inf and -inf swapped"),
    _c("numbers", "SELECT big FROM m WHERE id = 5", "SELECT NULL", "NULL equals NULL"),
    _c("numbers", "SELECT label FROM m WHERE id = 5", "SELECT 'b'", "text case matters"),
    _c("numbers", "SELECT 1, '1.5'", "SELECT 1.0, '1.5'", "the quick rejection's str(value) sort key"),
    _c("numbers", "SELECT y FROM m WHERE y > 5", "SELECT y FROM m WHERE y > 6", "both empty"),
    _c("numbers", "SELECT y FROM m WHERE y > 5", "SELECT y FROM m WHERE y > 2", "gold empty, prediction not"),
    _c(
        "numbers",
        "SELECT y, label FROM m WHERE y > 5",
        "SELECT y FROM m WHERE y > 6",
        "both empty, column counts differ",
    ),
    # errors
    _c("concert", "SELECT name FROM singer", "SELECT nam FROM singer", "prediction fails"),
    _c(
        "concert",
        "SELECT nam FROM singer",
        "SELECT nam FROM singer",
        "gold fails",
        bird=_BIRD_BOTH_FAIL,
        sqleval="sql-eval's runner records the failing gold's exception as a wrong row; t2s excludes it",
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE age > 100",
        "DELETE FROM singer WHERE age > 100",
        "a write",
        bird=_BIRD_WRITE,
        spider="Spider's evaluator runs the write on the database itself and compares its empty result; "
        "t2s refuses writes",
    ),
    # a test suite of two database files
    _c(
        "suite",
        "SELECT name FROM emp WHERE salary > 150",
        "SELECT name FROM emp WHERE salary >= 200",
        "agree on one database only",
    ),
    _c(
        "suite",
        "SELECT name FROM emp WHERE salary > 150",
        "SELECT name FROM emp WHERE NOT salary <= 150",
        "agree on both",
    ),
    _c(
        "suite",
        "SELECT dept, COUNT(*) FROM emp GROUP BY dept",
        "SELECT dept, COUNT(id) FROM emp GROUP BY dept",
        "COUNT(*) vs COUNT(id)",
    ),
    # sql-eval gold alternatives
    _c(
        "concert",
        "SELECT {name,singer_id} FROM singer WHERE age > 40",
        "SELECT singer_id FROM singer WHERE age > 40",
        "brace alternative: one of the columns",
        bird=_BIRD_GOLD_FAILS,
    ),
    _c(
        "concert",
        "SELECT {name,singer_id} FROM singer WHERE age > 40",
        "SELECT name, singer_id FROM singer WHERE age > 40",
        "brace alternative: both columns",
        bird=_BIRD_GOLD_FAILS,
    ),
    _c(
        "concert",
        "SELECT name FROM singer WHERE country = 'France';SELECT T1.name FROM singer T1 WHERE T1.age < 30",
        "SELECT name FROM singer WHERE age < 30",
        "semicolon alternatives: the second",
        bird=_BIRD_GOLD_FAILS,
    ),
    _c(
        "concert",
        "SELECT name FROM singer",
        "SELECT name, name FROM singer",
        "the same column twice",
        sqleval="pandas refuses a frame with two columns of one name; sql-eval's runner records an error",
    ),
    _c(
        "concert",
        "SELECT concert_name FROM concert ORDER BY year DESC, concert_id",
        "SELECT concert_name FROM concert ORDER BY year DESC",
        "ordered with ties broken differently",
    ),
    _c(
        "concert",
        "SELECT year, concert_name FROM concert ORDER BY year",
        "SELECT year, concert_name FROM concert ORDER BY year, concert_name",
        "ascending order, tie order differs",
    ),
]
