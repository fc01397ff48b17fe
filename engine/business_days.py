"""Business time in Brasília: weekdays that are not national holidays.

SLA budgets count only business time, so a ticket sent on Friday evening is not
late on Monday morning. Whole days count (00:00–24:00 local time); national
holidays include the movable ones derived from Easter (Carnaval, Sexta-feira
Santa, Corpus Christi), which the federal government observes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Sao_Paulo")
DAY = 86400
_FIXED = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25))


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    L = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * L) // 451
    month = (h + L - 7 * m + 114) // 31
    day = (h + L - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    e = easter(year)
    movable = {
        e - timedelta(days=48),
        e - timedelta(days=47),
        e - timedelta(days=2),
        e + timedelta(days=60),
    }
    return frozenset({date(year, m, d) for m, d in _FIXED} | movable)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(TZ)


def _next_midnight(local: datetime) -> datetime:
    return datetime.combine(local.date() + timedelta(days=1), time(), TZ)


def business_days_between(first: date, last: date) -> int:
    """Business days in [first, last): whole weeks by arithmetic, the holidays of each
    year the span touches subtracted — as much work for two years as for two days."""
    if last <= first:
        return 0
    weeks, extra = divmod((last - first).days, 7)
    start = first.weekday()
    count = weeks * 5 + sum(1 for i in range(extra) if (start + i) % 7 < 5)
    for year in range(first.year, last.year + 1):
        count -= sum(1 for h in holidays(year) if first <= h < last and h.weekday() < 5)
    return count


def business_seconds(start: datetime, end: datetime) -> int:
    """Business seconds between two instants (0 when end <= start).

    The first and last local days count their business part; the whole days between
    count a day each (local wall time, as the deadlines are written). Pages call this for
    every open ticket they list, the oldest too: its cost does not grow with the span.
    """
    cursor = _local(start)
    stop = _local(end)
    if stop <= cursor:
        return 0
    first, last = cursor.date(), stop.date()
    if first == last:
        return int((stop - cursor).total_seconds()) if is_business_day(first) else 0
    total = 0.0
    if is_business_day(first):
        total += (_next_midnight(cursor) - cursor).total_seconds()
    total += business_days_between(first + timedelta(days=1), last) * DAY
    if is_business_day(last):
        total += (stop - datetime.combine(last, time(), TZ)).total_seconds()
    return int(total)


def add_business_seconds(start: datetime, seconds: int) -> datetime:
    """The instant at which ``seconds`` of business time have passed since ``start``."""
    cursor = _local(start)
    remaining = float(max(0, seconds))
    while True:
        boundary = _next_midnight(cursor)
        if is_business_day(cursor.date()):
            span = (boundary - cursor).total_seconds()
            if remaining <= span:
                return (cursor + timedelta(seconds=remaining)).astimezone(start.tzinfo)
            remaining -= span
        cursor = boundary


def describe(seconds: int) -> str:
    """ "1 dia útil e 3 h" — how long, in business time, for pages and mail."""
    days, rest = divmod(max(0, seconds), DAY)
    hours = rest // 3600
    minutes = (rest % 3600) // 60
    parts = []
    if days:
        parts.append(f"{days} dia{'s' if days > 1 else ''} út{'eis' if days > 1 else 'il'}")
    if hours:
        parts.append(f"{hours} h")
    if not days and (minutes or not hours):
        parts.append(f"{minutes} min")
    return " e ".join(parts)
