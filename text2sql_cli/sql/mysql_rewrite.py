"""MySQL constructs -> calls of the functions `mysql_emulation` registers on SQLite connections.

    rewrite(tree) -> tree      a sqlglot tree read as MySQL, before it is written as SQLite

Each rule replaces a node that sqlglot would write as SQLite text with other semantics (or none):
date arithmetic, DATEDIFF, TIMESTAMPDIFF/TIMESTAMPADD, DATE_FORMAT/MONTHNAME, STR_TO_DATE, WEEK,
DAYOFWEEK, DAYOFYEAR, EXTRACT, FORMAT, MOD, LENGTH (bytes), CAST AS DECIMAL, TRUNCATE, COUNT(DISTINCT
a, b), ordered or separated DISTINCT GROUP_CONCAT, and the clock functions (pinned `now()`).
"""

from __future__ import annotations

_NOW_NAMES = {"NOW", "SYSDATE", "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_TIMESTAMP"}


def _call(name: str, *args):
    """name(args), each argument rewritten too (a replaced node's children are not visited again)."""
    from sqlglot import exp

    return exp.Anonymous(this=name, expressions=[rewrite(a.copy()) for a in args])


def _unit(unit) -> object:
    from sqlglot import exp

    name = (unit.name if unit is not None else "DAY").upper()
    return exp.Literal.string(name)


def _signed(amount, sign: int):
    from sqlglot import exp

    if sign > 0:
        return amount
    return exp.Neg(this=exp.Paren(this=amount.copy()))


def _date_add(base, amount, unit, sign: int):
    from sqlglot import exp

    if isinstance(amount, exp.Interval):
        unit = unit or amount.args.get("unit")
        amount = amount.this
    if isinstance(amount, exp.Literal) and amount.is_string and len(amount.this.split()) == 2:
        number, unit_name = amount.this.split()  # INTERVAL '7 days'
        amount, unit = exp.Literal.number(number), exp.Var(this=unit_name)
    if isinstance(amount, exp.Literal) and amount.is_string:  # INTERVAL 7 DAY reads 7 as '7'
        try:
            float(amount.this)
            amount = exp.Literal.number(amount.this.strip())
        except ValueError:
            pass
    return _call("T2S_DATE_ADD", base, _signed(amount, sign), _unit(unit))


def _mysql_format(node) -> object:
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect

    text = Dialect.get_or_raise("mysql").generator().format_time(node)
    if text is None:
        return node.args["format"].copy()
    if len(text) >= 2 and text[0] == text[-1] == "'":  # format_time returns it quoted
        text = text[1:-1].replace("''", "'")
    return exp.Literal.string(text)


def _group_concat(node):
    """GROUP_CONCAT with ORDER BY, or DISTINCT with a SEPARATOR: SQLite 3.40 has neither."""
    from sqlglot import exp

    inner = node.this
    order = None
    if isinstance(inner, exp.Order):
        order, inner = inner, inner.this
    distinct = isinstance(inner, exp.Distinct)
    separator = node.args.get("separator")
    if order is None and not (distinct and separator is not None):
        return None
    values = inner.expressions if distinct else [inner]
    if len(values) != 1:
        return None
    args = [exp.Literal.number(int(distinct)), separator or exp.Literal.string(","), values[0]]
    for item in order.expressions if order is not None else []:
        args += [item.this, exp.Literal.number(int(bool(item.args.get("desc"))))]
    return _call("T2S_GROUP_CONCAT", *args)


def rewrite(tree):
    """`tree` (read as MySQL) with the emulated constructs replaced."""
    from sqlglot import exp

    def fix(node):
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            sign = -1 if isinstance(node, exp.DateSub) else 1
            return _date_add(node.this, node.expression, node.args.get("unit"), sign)
        if isinstance(node, (exp.Add, exp.Sub)) and isinstance(node.expression, exp.Interval):
            sign = -1 if isinstance(node, exp.Sub) else 1
            return _date_add(node.this, node.expression, None, sign)
        if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):  # INTERVAL 1 DAY + d
            return _date_add(node.expression, node.this, None, 1)
        if isinstance(node, exp.TimestampAdd):
            return _date_add(node.this, node.expression, node.args.get("unit"), 1)
        if (
            isinstance(node, exp.Anonymous)
            and node.name.upper() in ("ADDDATE", "SUBDATE")
            and len(node.expressions) == 2
        ):
            sign = -1 if node.name.upper() == "SUBDATE" else 1
            return _date_add(node.expressions[0], node.expressions[1], None, sign)
        if isinstance(node, exp.DateDiff):
            return _call("T2S_DATEDIFF", node.this, node.expression)
        if isinstance(node, exp.TimestampDiff):  # TIMESTAMPDIFF(unit, a, b): this=b, expression=a
            return _call("T2S_TIMESTAMPDIFF", _unit(node.args.get("unit")), node.expression, node.this)
        if isinstance(node, (exp.CurrentDate, exp.UtcDate)):
            return _call("T2S_CURDATE")
        if isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in _NOW_NAMES
        ):
            return _call("T2S_NOW")
        if isinstance(node, exp.CurrentTime) or (
            isinstance(node, exp.Anonymous) and node.name.upper() == "CURTIME"
        ):
            return _call("T2S_CURTIME")
        if isinstance(node, exp.TimeToStr) and node.args.get("format") is not None:
            return _call("T2S_DATE_FORMAT", _unwrap(node.this), _mysql_format(node))
        if isinstance(node, (exp.StrToDate, exp.StrToTime)) and node.args.get("format") is not None:
            return _call("STR_TO_DATE", node.this, _mysql_format(node))
        if isinstance(node, exp.Week):
            mode = node.args.get("mode")
            return _call("WEEK", _unwrap(node.this), *([mode] if mode is not None else []))
        if isinstance(node, exp.DayOfWeek):
            return _call("DAYOFWEEK", _unwrap(node.this))
        if isinstance(node, exp.DayOfYear):
            return _call("DAYOFYEAR", _unwrap(node.this))
        if isinstance(node, exp.Extract):
            return _call("T2S_EXTRACT", exp.Literal.string(node.this.name.upper()), node.expression)
        if isinstance(node, exp.NumberToStr):
            return _call("T2S_FORMAT", node.this, node.args.get("format") or exp.Literal.number(0))
        if isinstance(node, exp.Length) and node.args.get("binary"):
            return _call("T2S_OCTET_LENGTH", node.this)
        if isinstance(node, exp.Cast) and node.to.this in (
            exp.DataType.Type.DECIMAL,
            exp.DataType.Type.BIGDECIMAL,
        ):
            params = [p.this for p in node.to.expressions]
            precision = params[0] if params else exp.Literal.number(10)
            scale = params[1] if len(params) > 1 else exp.Literal.number(0)
            return _call("T2S_DECIMAL", node.this, precision, scale)
        if isinstance(node, exp.Trunc):
            return _call("T2S_TRUNCATE", node.this, node.args.get("decimals") or exp.Literal.number(0))
        if (
            isinstance(node, exp.Count)
            and isinstance(node.this, exp.Distinct)
            and len(node.this.expressions) > 1
        ):
            return exp.Count(this=exp.Distinct(expressions=[_call("T2S_ROW_KEY", *node.this.expressions)]))
        if isinstance(node, exp.StrPosition) and node.args.get("position") is None:
            return _call("T2S_INSTR", node.this, node.args["substr"])
        if isinstance(node, exp.Mod):
            return _call("T2S_MOD", node.this, node.expression)
        if isinstance(node, exp.GroupConcat):
            return _group_concat(node) or node
        return node

    return tree.transform(fix)


def _unwrap(node):
    """sqlglot wraps MySQL date arguments in TsOrDsToDate/...; the emulation reads any value itself."""
    from sqlglot import exp

    wrappers = tuple(
        getattr(exp, name)
        for name in ("TsOrDsToDate", "TsOrDsToTimestamp", "TsOrDsToDatetime")
        if hasattr(exp, name)
    )
    while isinstance(node, wrappers):
        node = node.this
    return node
