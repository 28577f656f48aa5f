"""Room-local days: a day's bounds and its 05:00–21:00 window as UTC instants, from
``zoneinfo`` with the room's time zone, right on days that skip or repeat an hour; and the
union of open periods inside a window.

Overlapping tickets count once: a day's unhealthy time is the union of its important tickets'
open periods, the time during which at least one was open, never their sum."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

#: The part of the day the health report judges, room local time.
DAY_STARTS = time(5)
DAY_ENDS = time(21)
#: A day is unhealthy when important tickets were open longer than this inside the window.
UNHEALTHY_AFTER_SECONDS = 20 * 60


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0: a repeated local time is its first occurrence; a skipped one maps forward.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the day's local midnight and the next one."""
    return _instant(day, time(0), tz), _instant(day + timedelta(days=1), time(0), tz)


def window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the day's 05:00 and 21:00, room local time."""
    return _instant(day, DAY_STARTS, tz), _instant(day, DAY_ENDS, tz)


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def days_touched(start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[date]:
    """The local days that the period ``[start, end]`` touches."""
    return days_between(local_day(start, tz), local_day(end, tz))


def union_seconds(periods: Iterable[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> int:
    """Whole seconds of ``[lo, hi)`` covered by at least one of ``periods``."""
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in periods if s < hi and e > lo)
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for s, e in clipped:
        if current is not None and s <= current[1]:
            current = (current[0], max(current[1], e))
            continue
        if current is not None:
            total += current[1] - current[0]
        current = (s, e)
    if current is not None:
        total += current[1] - current[0]
    return int(total.total_seconds())


def unhealthy(seconds: int) -> bool:
    return seconds > UNHEALTHY_AFTER_SECONDS
