"""The date range of a report: room-local days from ``start`` to ``end``, both included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from roomwarden.kit.errors import Invalid

#: A report covers at most this many days; without dates, the last 30 days up to today.
MAX_DAYS = 366
DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Span:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def span(start: date | None, end: date | None, now: datetime) -> Span:
    """Today is the UTC date of ``now``; a missing end is today, a missing start the 30th
    day before the end (or the end's 30th day after the start)."""
    if end is None:
        end = start + timedelta(days=DEFAULT_DAYS - 1) if start is not None else now.date()
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise Invalid("start must not be after end", field="start")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"a report covers at most {MAX_DAYS} days", field="end")
    return Span(start, end)
