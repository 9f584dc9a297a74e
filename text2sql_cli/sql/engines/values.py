"""Server values -> the plain values the SQLite path produces, so one comparison applies everywhere.

    normalise(value) -> int | float | str | None
    normalise_rows(rows) -> tuple[tuple, ...]

SQLite (and so the synthesized databases) returns int, float, str and None; dates are ISO text.
MariaDB and PostgreSQL drivers return Decimal, datetime, date, time, timedelta (MySQL TIME), bytes,
bool, UUID and others. They become: Decimal -> int when integral else float; bool -> 0/1;
datetime -> 'YYYY-MM-DD HH:MM:SS[.ffffff]' (timezone dropped after conversion to UTC); date ->
'YYYY-MM-DD'; time and timedelta -> 'HH:MM:SS[.ffffff]' (negative and >24 h durations kept, as
MySQL prints them); bytes -> UTF-8 text when it decodes, else '0x' + hex; anything else -> str().
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal


def normalise(value):
    if value is None or isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + data.hex()
    return str(value)


def normalise_rows(rows) -> tuple[tuple, ...]:
    return tuple(tuple(normalise(v) for v in row) for row in rows)


def _duration(value: dt.timedelta) -> str:
    micro = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    sign = "-" if micro < 0 else ""
    micro = abs(micro)
    seconds, fraction = divmod(micro, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{fraction:06d}" if fraction else text
