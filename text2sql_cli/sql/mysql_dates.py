"""MySQL's date and time functions on SQLite text values (registered by `mysql_emulation`).

DATE_ADD keeps its operand's type (a DATE stays 'YYYY-MM-DD', a DATETIME 'YYYY-MM-DD HH:MM:SS');
month, quarter and year steps clamp to the month's last day; DATEDIFF compares dates;
TIMESTAMPDIFF counts whole units as MySQL does; WEEK and YEARWEEK follow MySQL's calc_week for
modes 0-7; DATE_FORMAT knows every MySQL specifier and STR_TO_DATE reads them back. A value that
is not a date gives NULL (MySQL may give a zero date with a warning).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from text2sql_cli.sql.mysql_values import null_safe, to_number

_DATE_RE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*$"
)
_TIME_RE = re.compile(r"^\s*(-?\d{1,3}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?\s*$")


def _temporal(value) -> tuple[dt.datetime, bool] | None:
    """(value as datetime, whether it carries a time part), or None when it is not a date."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        digits = str(int(value))
        if len(digits) == 8:
            value = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
        elif len(digits) == 14:
            value = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]} {digits[8:10]}:{digits[10:12]}:{digits[12:]}"
        else:
            return None
    m = _DATE_RE.match(str(value))
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    try:
        out = dt.datetime(
            int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int((frac or "0").ljust(6, "0"))
        )
    except ValueError:
        return None
    return out, h is not None


def _fmt(value: dt.datetime, with_time: bool) -> str:
    if not with_time:
        return value.date().isoformat()
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


_UNITS = {"MICROSECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


@null_safe
def date_add(base, amount, unit):
    """DATE_ADD(base, INTERVAL amount unit): a DATE stays a DATE for day-or-longer units."""
    parsed = _temporal(base)
    if parsed is None:
        return None
    value, with_time = parsed
    unit = str(unit).upper().rstrip("S") if str(unit).upper() != "MONTHS" else "MONTH"
    number = to_number(amount)
    if unit not in _UNITS:
        return None
    if unit in ("MONTH", "QUARTER", "YEAR"):
        months = int(round(number)) * {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit]
        return _fmt(_add_months(value, months), with_time)
    if unit in ("DAY", "WEEK"):
        days = int(round(number)) * (7 if unit == "WEEK" else 1)
        return _fmt(value + dt.timedelta(days=days), with_time)
    seconds = {"MICROSECOND": 1e-6, "SECOND": 1, "MINUTE": 60, "HOUR": 3600}[unit] * number
    return _fmt(value + dt.timedelta(seconds=seconds), True)


@null_safe
def datediff(a, b):
    x, y = _temporal(a), _temporal(b)
    if x is None or y is None:
        return None
    return (x[0].date() - y[0].date()).days


@null_safe
def timestampdiff(unit, a, b):
    """TIMESTAMPDIFF(unit, a, b): whole units from a to b, truncated toward zero."""
    x, y = _temporal(a), _temporal(b)
    if x is None or y is None:
        return None
    start, end = x[0], y[0]
    unit = str(unit).upper()
    if unit in ("MONTH", "QUARTER", "YEAR"):
        months = (end.year - start.year) * 12 + end.month - start.month
        rest_end = (end.day, end.time())
        rest_start = (start.day, start.time())
        if months > 0 and rest_end < rest_start:
            months -= 1
        elif months < 0 and rest_end > rest_start:
            months += 1
        return int(months / {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit])
    micro = (end - start) // dt.timedelta(microseconds=1)
    per = {"MICROSECOND": 1, "SECOND": 10**6, "MINUTE": 60 * 10**6, "HOUR": 3600 * 10**6}
    per.update(DAY=86400 * 10**6, WEEK=7 * 86400 * 10**6)
    if unit not in per:
        return None
    return (
        int(micro / per[unit]) if abs(micro) < 2**52 else (abs(micro) // per[unit]) * (1 if micro > 0 else -1)
    )


def _daynr(day: dt.date) -> int:
    return day.toordinal() + 365  # MySQL's TO_DAYS


def _calc_week(day: dt.date, behaviour: int) -> tuple[int, int]:
    """MySQL's calc_week (sql/sql_time.cc): (year, week) for the week_behaviour flags."""
    monday_first, week_year, first_weekday = behaviour & 1, behaviour & 2, behaviour & 4
    daynr = _daynr(day)
    first_daynr = _daynr(dt.date(day.year, 1, 1))
    weekday = (first_daynr + 5 + (0 if monday_first else 1)) % 7
    year = day.year
    if day.month == 1 and day.day <= 7 - weekday:
        if not week_year and ((first_weekday and weekday != 0) or (not first_weekday and weekday >= 4)):
            return year, 0
        week_year = 1
        year -= 1
        days = 366 if calendar.isleap(year) else 365
        first_daynr -= days
        weekday = (weekday + 53 * 7 - days) % 7
    if (first_weekday and weekday != 0) or (not first_weekday and weekday >= 4):
        days = daynr - (first_daynr + (7 - weekday))
    else:
        days = daynr - (first_daynr - weekday)
    if week_year and days >= 52 * 7:
        weekday = (weekday + (366 if calendar.isleap(year) else 365)) % 7
        if (not first_weekday and weekday < 4) or (first_weekday and weekday == 0):
            return year + 1, 1
    return year, days // 7 + 1


def _week_mode(mode: int) -> int:
    flags = int(mode) & 7
    if not flags & 1:
        flags ^= 4
    return flags


def _date_of(value) -> dt.datetime | None:
    parsed = _temporal(value)
    return parsed[0] if parsed else None


@null_safe
def week(value, mode=0):
    day = _date_of(value)
    return None if day is None else _calc_week(day.date(), _week_mode(mode))[1]


@null_safe
def yearweek(value, mode=0):
    day = _date_of(value)
    if day is None:
        return None
    year, wk = _calc_week(day.date(), _week_mode(mode) | 2)
    return year * 100 + wk


def _part(getter):
    @null_safe
    def part(value):
        day = _date_of(value)
        return None if day is None else getter(day)

    return part


def _time_part(index: int):
    @null_safe
    def part(value):
        parsed = _temporal(value)
        if parsed is not None:
            return (parsed[0].hour, parsed[0].minute, parsed[0].second)[index]
        m = _TIME_RE.match(str(value))
        if not m:
            return None
        return abs(int(m.group(index + 1) or 0))

    return part


@null_safe
def last_day(value):
    day = _date_of(value)
    if day is None:
        return None
    return day.date().replace(day=calendar.monthrange(day.year, day.month)[1]).isoformat()


_EXTRACT = {
    "YEAR": lambda d: d.year,
    "QUARTER": lambda d: (d.month - 1) // 3 + 1,
    "MONTH": lambda d: d.month,
    "WEEK": lambda d: _calc_week(d.date(), _week_mode(0))[1],
    "DAY": lambda d: d.day,
    "HOUR": lambda d: d.hour,
    "MINUTE": lambda d: d.minute,
    "SECOND": lambda d: d.second,
    "MICROSECOND": lambda d: d.microsecond,
    "YEAR_MONTH": lambda d: d.year * 100 + d.month,
    "DAY_HOUR": lambda d: d.day * 100 + d.hour,
    "DAY_MINUTE": lambda d: (d.day * 100 + d.hour) * 100 + d.minute,
    "DAY_SECOND": lambda d: ((d.day * 100 + d.hour) * 100 + d.minute) * 100 + d.second,
    "HOUR_MINUTE": lambda d: d.hour * 100 + d.minute,
    "HOUR_SECOND": lambda d: (d.hour * 100 + d.minute) * 100 + d.second,
    "MINUTE_SECOND": lambda d: d.minute * 100 + d.second,
}


@null_safe
def extract(unit, value):
    day = _date_of(value)
    getter = _EXTRACT.get(str(unit).upper())
    return None if day is None or getter is None else getter(day)


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = tuple(calendar.month_name)


def _suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def _specifier(ch: str, d: dt.datetime) -> str:
    hour12 = d.hour % 12 or 12
    table = {
        "a": lambda: _DAYS[d.weekday()][:3],
        "b": lambda: _MONTHS[d.month][:3],
        "c": lambda: str(d.month),
        "D": lambda: _suffix(d.day),
        "d": lambda: f"{d.day:02d}",
        "e": lambda: str(d.day),
        "f": lambda: f"{d.microsecond:06d}",
        "H": lambda: f"{d.hour:02d}",
        "h": lambda: f"{hour12:02d}",
        "I": lambda: f"{hour12:02d}",
        "i": lambda: f"{d.minute:02d}",
        "j": lambda: f"{d.timetuple().tm_yday:03d}",
        "k": lambda: str(d.hour),
        "l": lambda: str(hour12),
        "M": lambda: _MONTHS[d.month],
        "m": lambda: f"{d.month:02d}",
        "p": lambda: "AM" if d.hour < 12 else "PM",
        "r": lambda: f"{hour12:02d}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}",
        "S": lambda: f"{d.second:02d}",
        "s": lambda: f"{d.second:02d}",
        "T": lambda: f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}",
        "U": lambda: f"{_calc_week(d.date(), 4)[1]:02d}",
        "u": lambda: f"{_calc_week(d.date(), 1)[1]:02d}",
        "V": lambda: f"{_calc_week(d.date(), 6)[1]:02d}",
        "v": lambda: f"{_calc_week(d.date(), 3)[1]:02d}",
        "W": lambda: _DAYS[d.weekday()],
        "w": lambda: str((d.weekday() + 1) % 7),
        "X": lambda: f"{_calc_week(d.date(), 6)[0]:04d}",
        "x": lambda: f"{_calc_week(d.date(), 3)[0]:04d}",
        "Y": lambda: f"{d.year:04d}",
        "y": lambda: f"{d.year % 100:02d}",
    }
    return table[ch]() if ch in table else ch


@null_safe
def date_format(value, fmt):
    parsed = _temporal(value)
    if parsed is None:
        m = _TIME_RE.match(str(value))  # a TIME value formats its time part
        if not m:
            return None
        parsed = (dt.datetime(2000, 1, 1, int(m.group(1)) % 24, int(m.group(2)), int(m.group(3) or 0)), True)
    day = parsed[0]
    out, fmt, i = [], str(fmt), 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_specifier(fmt[i + 1], day))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def _month_number(text: str, i: int, full: bool) -> tuple[int, int] | None:
    for number in range(1, 13):
        name = _MONTHS[number] if full else _MONTHS[number][:3]
        if text[i : i + len(name)].lower() == name.lower():
            return number, i + len(name)
    return None


@null_safe
def str_to_date(text, fmt):
    """STR_TO_DATE: DATE, DATETIME or TIME text by the format's parts; NULL when it does not fit."""
    text, fmt = str(text), str(fmt)
    parts = {"Y": 0, "m": 0, "d": 0, "H": 0, "i": 0, "s": 0, "f": 0}
    pm = None
    has_date = has_time = False
    i = j = 0
    while j < len(fmt):
        if fmt[j] != "%" or j + 1 == len(fmt):
            if i >= len(text) or (text[i] != fmt[j] and not (fmt[j].isspace() and text[i].isspace())):
                return None
            i, j = i + 1, j + 1
            continue
        spec = fmt[j + 1]
        j += 2
        if spec in "bM":
            found = _month_number(text, i, spec == "M")
            if found is None:
                return None
            parts["m"], i = found
            has_date = True
            continue
        if spec in "aW":
            for name in _DAYS:
                name = name if spec == "W" else name[:3]
                if text[i : i + len(name)].lower() == name.lower():
                    i += len(name)
                    break
            else:
                return None
            continue
        if spec == "p":
            word = text[i : i + 2].upper()
            if word not in ("AM", "PM"):
                return None
            pm, i = word == "PM", i + 2
            continue
        if spec == "%":
            if text[i : i + 1] != "%":
                return None
            i += 1
            continue
        width = {"Y": 4, "y": 2, "f": 6, "j": 3}.get(spec, 2)
        m = re.match(rf"\d{{1,{width}}}", text[i:])
        if not m:
            return None
        number, i = int(m.group(0)), i + len(m.group(0))
        key = {"Y": "Y", "y": "Y", "m": "m", "c": "m", "d": "d", "e": "d", "H": "H", "k": "H", "h": "H"}
        key.update({"I": "H", "l": "H", "i": "i", "s": "s", "S": "s", "f": "f"})
        if spec == "y":
            number += 2000 if number < 70 else 1900
        if spec not in key:
            return None
        parts[key[spec]] = number
        has_date |= key[spec] in "Ymd"
        has_time |= key[spec] in "Hisf"
    if pm is not None:
        parts["H"] = parts["H"] % 12 + (12 if pm else 0)
    date_text = f"{parts['Y']:04d}-{parts['m']:02d}-{parts['d']:02d}"
    if parts["m"] and parts["d"]:
        try:
            dt.date(parts["Y"], parts["m"], parts["d"])
        except ValueError:
            return None
    time_text = f"{parts['H']:02d}:{parts['i']:02d}:{parts['s']:02d}"
    if parts["f"]:
        time_text += f".{parts['f']:06d}"
    if has_date and has_time:
        return f"{date_text} {time_text}"
    return date_text if has_date or not has_time else time_text


dayofweek = _part(lambda d: d.isoweekday() % 7 + 1)
weekday = _part(lambda d: d.weekday())
dayofyear = _part(lambda d: d.timetuple().tm_yday)
quarter = _part(lambda d: (d.month - 1) // 3 + 1)
dayname = _part(lambda d: _DAYS[d.weekday()])
monthname = _part(lambda d: _MONTHS[d.month])
to_days = _part(lambda d: _daynr(d.date()))
hour, minute, second = _time_part(0), _time_part(1), _time_part(2)
