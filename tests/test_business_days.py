"""Business time in Brasília: the closed form against a day-by-day walk."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from engine import business_days
from engine.business_days import DAY, TZ, business_seconds, is_business_day


def walked(start: datetime, end: datetime) -> int:
    """The definition, one local day at a time (what business_seconds did until the
    queue page called it for tickets opened months ago: one step per day)."""
    total = 0.0
    cursor, stop = start.astimezone(TZ), end.astimezone(TZ)
    while cursor < stop:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), datetime.min.time(), TZ)
        boundary = min(midnight, stop)
        if is_business_day(cursor.date()):
            total += (boundary - cursor).total_seconds()
        cursor = boundary
    return int(total)


def at(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ)


def test_a_week_with_carnaval_and_a_weekend() -> None:
    # Carnaval 2026: Monday 16 and Tuesday 17 February; Wednesday counts whole.
    assert business_seconds(at(2026, 2, 13, 12), at(2026, 2, 19, 12)) == DAY // 2 + DAY + DAY // 2
    assert business_seconds(at(2026, 2, 14), at(2026, 2, 18)) == 0  # weekend + Carnaval
    assert business_seconds(at(2026, 2, 18, 9), at(2026, 2, 18, 10)) == 3600
    assert business_seconds(at(2026, 2, 18, 10), at(2026, 2, 18, 9)) == 0
    # 2026: 261 weekdays, 12 holidays on one of them (15 November is a Sunday).
    assert business_days.business_days_between(date(2026, 1, 1), date(2027, 1, 1)) == 249


def test_the_closed_form_matches_the_walk_over_years_and_holidays() -> None:
    rng = random.Random(16)
    # Spans of minutes to three years, across year ends, holidays and the years when
    # Brasília still had daylight saving time (until 2019).
    base = datetime(2016, 1, 1, tzinfo=UTC)
    for _ in range(3000):
        start = base + timedelta(seconds=rng.randrange(0, 11 * 365 * DAY))
        span = rng.choice((60, 3600, DAY, 7 * DAY, 90 * DAY, 3 * 365 * DAY))
        end = start + timedelta(seconds=rng.randrange(-DAY, span))
        assert business_seconds(start, end) == walked(start, end), (start, end)


def test_the_cost_does_not_grow_with_the_span() -> None:
    # Counted, not timed: the walk took one step per day; now the holidays of each year
    # touched are the only loop.
    calls = 0
    original = business_days.holidays

    def counting(year: int) -> frozenset[date]:
        nonlocal calls
        calls += 1
        return original(year)

    business_days.holidays = counting  # type: ignore[assignment]
    try:
        business_seconds(at(2024, 3, 4, 10), at(2026, 3, 4, 10))
    finally:
        business_days.holidays = original
    assert calls <= 8  # first and last day, plus three years' lists
