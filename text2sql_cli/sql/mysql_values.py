"""How MySQL reads values, and its decimal arithmetic, for the SQLite emulation (`mysql_emulation`).

    to_number(value)    a string's leading number (0 when there is none), as MySQL reads it in arithmetic
    to_text(value)      a value as MySQL prints it in string functions (a whole float without `.0`)
    null_safe(func)     NULL in, NULL out, and NULL where Python raises on a bad value
    format_number, cast_decimal, truncate, mod   FORMAT, CAST AS DECIMAL(p,s), TRUNCATE, MOD / %

Decimals are exact (`decimal.Decimal` from the value's shortest repr) and round half away from
zero, as MySQL's DECIMAL does.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation


def to_number(value):
    """MySQL's numeric reading of a value (a string's leading number; 0 when there is none)."""
    if value is None or isinstance(value, (int, float)):
        return value
    m = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str(value))
    if not m:
        return 0
    text = m.group(0)
    try:
        return int(text)
    except ValueError:
        return float(text)


def to_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def null_safe(func):
    """NULL in, NULL out (MySQL's rule for nearly every function)."""

    def wrapped(*args):
        if any(a is None for a in args):
            return None
        try:
            return func(*args)
        except (ValueError, TypeError, OverflowError, InvalidOperation, ZeroDivisionError):
            return None

    return wrapped


# --- decimals -------------------------------------------------------------------------------------


def _decimal(value) -> Decimal:
    number = to_number(value)
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


@null_safe
def format_number(value, decimals, locale=None):
    places = max(0, min(int(to_number(decimals)), 30))
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}"


def _plain(number: Decimal, places: int):
    return int(number) if places <= 0 else float(number)


@null_safe
def cast_decimal(value, precision=10, scale=0):
    places = int(scale)
    rounded = _decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    limit = Decimal(10) ** (int(precision) - places) - Decimal(1).scaleb(-places)
    rounded = max(min(rounded, limit), -limit)  # MySQL clamps to the column's range
    return _plain(rounded, places)


@null_safe
def truncate(value, places):
    places = int(to_number(places))
    exact = _decimal(value)
    if places >= 0:
        return _plain(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN), places)
    step = Decimal(10) ** (-places)
    return int((exact / step).to_integral_value(rounding=ROUND_DOWN) * step)


@null_safe
def mod(a, b):
    """MySQL's MOD/%: the dividend's sign, exact on decimals (SQLite's % truncates to integers)."""
    a, b = to_number(a), to_number(b)
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        rest = abs(a) % abs(b)
        return rest if a >= 0 else -rest
    return float(_decimal(a) % _decimal(b))
