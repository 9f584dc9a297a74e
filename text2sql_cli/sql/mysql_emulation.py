"""MySQL semantics on SQLite, as close as SQLite allows (the embedded default engine).

    register(conn)                 the T2S_* and MySQL-named functions, on every sandbox connection
    pin_now(instant) / now()       one clock for gold and prediction (NOW, CURDATE, ...); unpin()

`mysql_rewrite.rewrite` runs on MySQL SQL before sqlglot writes SQLite (dialect.py calls it),
replacing what SQLite lacks or does differently with calls of Python functions that return what
MySQL 8 / MariaDB return. They live by kind: `mysql_dates` (dates and times), `mysql_strings`
(text and aggregates), `mysql_values` (how a value reads as a number or text; decimals); this
module registers them under their SQL names and owns the clock. What they emulate:

- date arithmetic keeps its operand's type (DATE stays 'YYYY-MM-DD', DATETIME stays
  'YYYY-MM-DD HH:MM:SS'); month/quarter/year steps clamp to the month's last day; DATEDIFF compares
  dates; TIMESTAMPDIFF counts whole units as MySQL does;
- STR_TO_DATE, DATE_FORMAT (every MySQL specifier), WEEK (modes 0-7), YEARWEEK, DAYOFWEEK,
  WEEKDAY, DAYOFYEAR, QUARTER, HOUR/MINUTE/SECOND, EXTRACT, LAST_DAY, DAYNAME, MONTHNAME;
- REGEXP (case-insensitive, as on a _ci column), FIND_IN_SET, SUBSTRING_INDEX, LPAD/RPAD, FIELD,
  FORMAT, MOD on decimals, REVERSE, INSTR/LOCATE without case, LENGTH in bytes (CHAR_LENGTH stays
  characters), CAST AS DECIMAL(p,s) rounds half away from zero, TRUNCATE(x, d) truncates to d
  digits, COUNT(DISTINCT a, b), GROUP_CONCAT with ORDER BY and SEPARATOR (SQLite 3.40 has no
  ordered aggregates);
- NOW(), CURDATE(), CURRENT_DATE, CURRENT_TIMESTAMP, CURTIME() read `now()`, which `pin_now` fixes
  for a run so that gold and prediction see the same instant.

Text columns of MySQL DDL get `COLLATE NOCASE` (schema.py), so `=`, GROUP BY, DISTINCT and ORDER
BY ignore ASCII case as MySQL's default collations do; accents and non-ASCII case are not folded
(MySQL's utf8mb4_0900_ai_ci folds them). Limits: DECIMAL columns are REAL in SQLite, so
GROUP_CONCAT/CONCAT print 12.5 where MySQL prints 12.50; invalid dates give NULL (MySQL may give a
zero date with a warning).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3

from text2sql_cli.sql import mysql_dates as dates
from text2sql_cli.sql import mysql_strings as strings
from text2sql_cli.sql import mysql_values as values

_pinned: dt.datetime | None = None


def pin_now(instant: dt.datetime | str | None = None) -> str:
    """Fix the clock of NOW()/CURDATE() at `instant` (a datetime or 'YYYY-MM-DD[ HH:MM:SS]'; None:
    this second) and return it as text. Forked workers inherit it; the environment carries it to
    spawned ones. `unpin()` returns to the real clock."""
    global _pinned
    if instant is None:
        instant = dt.datetime.now()
    elif isinstance(instant, str):
        instant = dt.datetime.fromisoformat(instant.strip())
    _pinned = instant.replace(microsecond=0, tzinfo=None)
    text = _pinned.isoformat(sep=" ")
    os.environ["T2S_PINNED_NOW"] = text
    return text


def unpin() -> None:
    global _pinned
    _pinned = None
    os.environ.pop("T2S_PINNED_NOW", None)


def pinned() -> dt.datetime | None:
    """The pinned instant, if any (server engines pin their session clock to it too)."""
    if _pinned is not None:
        return _pinned
    text = os.environ.get("T2S_PINNED_NOW")
    return dt.datetime.fromisoformat(text) if text else None


def now() -> dt.datetime:
    return pinned() or dt.datetime.now().replace(microsecond=0)


_FUNCTIONS = (
    ("T2S_DATE_ADD", 3, dates.date_add),
    ("T2S_DATEDIFF", 2, dates.datediff),
    ("T2S_TIMESTAMPDIFF", 3, dates.timestampdiff),
    ("T2S_NOW", 0, lambda: now().strftime("%Y-%m-%d %H:%M:%S")),
    ("T2S_CURDATE", 0, lambda: now().date().isoformat()),
    ("T2S_CURTIME", 0, lambda: now().strftime("%H:%M:%S")),
    ("T2S_DATE_FORMAT", 2, dates.date_format),
    ("T2S_EXTRACT", 2, dates.extract),
    ("T2S_FORMAT", 2, values.format_number),
    ("T2S_FORMAT", 3, values.format_number),
    ("T2S_DECIMAL", 3, values.cast_decimal),
    ("T2S_TRUNCATE", 2, values.truncate),
    ("T2S_OCTET_LENGTH", 1, strings.octet_length),
    ("T2S_ROW_KEY", -1, strings.row_key),
    ("T2S_MOD", 2, values.mod),
    ("REVERSE", 1, strings.reverse),
    ("T2S_INSTR", 2, strings.instr),
    ("STR_TO_DATE", 2, dates.str_to_date),
    ("WEEK", 1, dates.week),
    ("WEEK", 2, dates.week),
    ("YEARWEEK", 1, dates.yearweek),
    ("YEARWEEK", 2, dates.yearweek),
    ("DAYOFWEEK", 1, dates.dayofweek),
    ("WEEKDAY", 1, dates.weekday),
    ("DAYOFYEAR", 1, dates.dayofyear),
    ("QUARTER", 1, dates.quarter),
    ("DAYNAME", 1, dates.dayname),
    ("MONTHNAME", 1, dates.monthname),
    ("TO_DAYS", 1, dates.to_days),
    ("HOUR", 1, dates.hour),
    ("MINUTE", 1, dates.minute),
    ("SECOND", 1, dates.second),
    ("LAST_DAY", 1, dates.last_day),
    ("REGEXP", 2, strings.regexp),
    ("FIND_IN_SET", 2, strings.find_in_set),
    ("SUBSTRING_INDEX", 3, strings.substring_index),
    ("LPAD", 3, strings.lpad),
    ("RPAD", 3, strings.rpad),
    ("FIELD", -1, strings.field),
    ("OCTET_LENGTH", 1, strings.octet_length),
)


def register(conn: sqlite3.Connection) -> None:
    """Every emulated function on `conn` (sandbox connections call this)."""
    for name, arity, func in _FUNCTIONS:
        deterministic = not name.startswith(("T2S_NOW", "T2S_CURDATE", "T2S_CURTIME"))
        conn.create_function(name, arity, func, deterministic=deterministic)
    conn.create_aggregate("T2S_GROUP_CONCAT", -1, strings.GroupConcat)
