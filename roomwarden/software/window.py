"""The maintenance window: a room installs software only while its local wall-clock time is
in [00:00, 05:00), local time being the room's IANA ``time_zone`` through ``zoneinfo``.

``window_end`` is the instant the current window ends (the ``install_before`` a device is
told): the first instant after ``now`` whose local time is no longer inside the window. On
a day whose clocks skip an hour across 05:00 that is the instant of the change; on a day that
repeats an hour, the window lasts until 05:00 comes once (a window that runs 6 hours of
absolute time). Offsets changing between ``now`` and 05:00 are found by bisecting the
offset to the second (the tz database changes offsets on whole seconds), so no zone's rule
— half-hour shifts (Australia/Lord_Howe), a day left out (Pacific/Apia, 2011) — is assumed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOW_START = time(0, 0)
WINDOW_END = time(5, 0)
#: More offset changes than this between now and a window's end is no real zone's rule.
_MAX_CHANGES = 8


@cache
def zone(name: str) -> tzinfo:
    """The room's zone; an unknown name (never stored by the API) falls back to UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def in_window(now: datetime, tz: tzinfo) -> bool:
    return now.astimezone(tz).time() < WINDOW_END


def _offset(instant: datetime, tz: tzinfo) -> timedelta | None:
    return instant.astimezone(tz).utcoffset()


def window_end(now: datetime, tz: tzinfo) -> datetime | None:
    """The end of the window ``now`` is in (aware, UTC), or None when it is outside one."""
    if not in_window(now, tz):
        return None
    at = now.astimezone(UTC)
    for _ in range(_MAX_CHANGES):
        local = at.astimezone(tz)
        left = datetime.combine(local.date(), WINDOW_END) - local.replace(tzinfo=None)
        end = at + left  # 05:00 local, if the offset holds until then
        offset = _offset(at, tz)
        if _offset(end, tz) == offset:
            return end
        # The offset changes before then: find the first second it does.
        lo, hi = math.floor(at.timestamp()), math.ceil(end.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset(datetime.fromtimestamp(mid, UTC), tz) == offset:
                lo = mid
            else:
                hi = mid
        change = datetime.fromtimestamp(hi, UTC)
        if not in_window(change, tz):
            return change
        at = change  # still inside the window after the change: go on from there
    raise RuntimeError(f"the time zone {tz} changes its offset too often to find the window's end")


def offer_before(now: datetime, time_zone: str) -> datetime | None:
    """The ``install_before`` of an offer made ``now`` to a room in ``time_zone``."""
    return window_end(now, zone(time_zone))
