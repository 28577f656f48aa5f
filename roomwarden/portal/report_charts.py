"""The health and usage reports' charts, laid out on the server for SVG (no script, no inline
style: colours come from the stylesheet): a column per day, and horizontal bars per room."""

from __future__ import annotations

from dataclasses import dataclass

from roomwarden.portal.reports import Chart, bar_chart
from roomwarden.reports.schemas import DayHealth, DayUsage

LEFT = 48
PLOT = 180
TOP = 10
WIDTH = 720
MOST_BARS = 15


@dataclass(frozen=True)
class Part:
    css: str
    y: int
    height: int


@dataclass(frozen=True)
class Column:
    x: int
    width: int
    parts: list[Part]


@dataclass(frozen=True)
class ColumnChart:
    columns: list[Column]
    width: int
    height: int
    left: int
    base: int
    ticks: list[tuple[int, str]]
    labels: list[tuple[int, str]]


def _layout(n: int) -> tuple[int, int]:
    step = max(2, min(24, WIDTH // max(n, 1)))
    return step, max(1, step - (2 if step > 4 else 0))


def _labels(days: list[str], step: int) -> list[tuple[int, str]]:
    """The first and last day, and a few between when there is room."""
    if not days:
        return []
    picks = {0, len(days) - 1}
    every = max(1, len(days) // 4)
    picks |= set(range(0, len(days), every)) if len(days) > 8 else set(range(len(days)))
    keep: list[tuple[int, str]] = []
    for i in sorted(picks):
        x = LEFT + i * step + step // 2
        if keep and x - keep[-1][0] < 80:
            continue
        keep.append((x, days[i]))
    return keep


def _chart(columns: list[Column], days: list[str], step: int, ticks: list[tuple[int, str]]) -> ColumnChart:
    width = LEFT + len(days) * step + 40
    return ColumnChart(columns, width, TOP + PLOT + 30, LEFT, TOP + PLOT, ticks, _labels(days, step))


def health_columns(days: list[DayHealth]) -> ColumnChart:
    """Per day, the healthy share of its room-days (green) under the unhealthy rest (red); a
    day without monitored rooms has no column."""
    step, width = _layout(len(days))
    columns = []
    for i, d in enumerate(days):
        if not d.room_days:
            continue
        healthy = round(PLOT * d.healthy_room_days / d.room_days)
        base = TOP + PLOT
        parts = [Part("bar-healthy", base - healthy, healthy), Part("bar-unhealthy", TOP, PLOT - healthy)]
        columns.append(Column(LEFT + i * step, width, [p for p in parts if p.height > 0]))
    ticks = [(TOP + PLOT - round(PLOT * f), f"{round(f * 100)}%") for f in (0, 0.5, 1)]
    return _chart(columns, [d.day.isoformat() for d in days], step, ticks)


def usage_columns(days: list[DayUsage]) -> ColumnChart:
    """Meetings per day, scaled to the busiest day."""
    step, width = _layout(len(days))
    top = max((d.meetings for d in days), default=0) or 1
    columns = []
    for i, d in enumerate(days):
        h = round(PLOT * d.meetings / top)
        if h:
            columns.append(Column(LEFT + i * step, width, [Part("bar-country", TOP + PLOT - h, h)]))
    ticks = [(TOP + PLOT, "0"), (TOP, str(top))]
    return _chart(columns, [d.day.isoformat() for d in days], step, ticks)


def top_bars(items: list[tuple[str, float]], css: str) -> Chart:
    """Horizontal bars of the largest values (at most 15); the tables list every room."""
    ranked = sorted((i for i in items if i[1] > 0), key=lambda i: (-i[1], i[0]))[:MOST_BARS]
    return bar_chart([(label[:24], value, css) for label, value in ranked])


def health_summary(days: list[DayHealth]) -> str:
    """The chart's description: its lowest day, and where every figure is."""
    monitored = [d for d in days if d.room_days and d.healthy_share is not None]
    if not monitored:
        return "No day had a monitored room. The table beside the chart lists every day."
    worst = min(monitored, key=lambda d: (d.healthy_share, d.day))
    share = f"{(worst.healthy_share or 0) * 100:.1f}%"
    return (
        f"Green: healthy share, red: unhealthy share. The lowest share was {share} on {worst.day}. "
        "The table beside the chart gives every day's figures."
    )


def usage_summary(days: list[DayUsage]) -> str:
    busiest = max(days, key=lambda d: (d.meetings, d.day), default=None)
    if busiest is None or not busiest.meetings:
        return "No meetings on these days. The table beside the chart lists every day."
    return (
        f"The busiest day was {busiest.day} with {busiest.meetings} meetings. "
        "The table beside the chart gives every day's figures."
    )
