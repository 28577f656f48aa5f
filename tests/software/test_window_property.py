"""The maintenance window against a reference written here (SPEC §12): a release is due and
offered exactly when its deferral has passed, its ring is not paused and the room's local
time is in [00:00, 05:00); ``install_before`` is the first instant the local time leaves the
window. The reference walks the timeline minute by minute and reads each minute's local wall
time; instants are drawn at random and around the daylight-saving changes of zones that skip
or repeat an hour, shift by half an hour or left out a whole day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from roomwarden.software.delivery import is_due
from roomwarden.software.window import in_window, offer_before, window_end

ZONES = (
    "UTC",
    "America/New_York",  # skips 02:00-03:00, repeats 01:00-02:00
    "Europe/London",  # skips 01:00-02:00, repeats 01:00-02:00
    "Australia/Lord_Howe",  # half-hour shifts at 02:00
    "Pacific/Apia",  # left out 30 December 2011; had daylight saving until 2021
    "America/Havana",  # changes at midnight
    "America/Santiago",  # changes at midnight (24:00 -> 23:00)
    "Asia/Kolkata",  # +05:30, no changes
    "Pacific/Chatham",  # +12:45 / +13:45
    "Antarctica/Troll",  # shifts by two hours
    "America/St_Johns",  # -03:30 / -02:30
)


def _transitions(name: str, years: range) -> list[datetime]:
    """Every offset change of ``name`` in ``years``, to the second (hourly walk, then bisect)."""
    tz = ZoneInfo(name)
    found = []
    at = datetime(years.start, 1, 1, tzinfo=UTC)
    stop = datetime(years.stop, 1, 1, tzinfo=UTC)
    while at < stop:
        nxt = at + timedelta(hours=1)
        if at.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = at, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        at = nxt
    return found


TRANSITIONS = [
    (name, moment)
    for name in ZONES
    for moment in _transitions(name, range(2011, 2013) if name == "Pacific/Apia" else range(2024, 2026))
]
assert any(z == "Pacific/Apia" and m.year == 2011 and m.month == 12 for z, m in TRANSITIONS)


def reference_in_window(instant: datetime, name: str) -> bool:
    return instant.astimezone(ZoneInfo(name)).hour < 5


def reference_end(instant: datetime, name: str) -> datetime | None:
    """Minute by minute (every zone here changes on whole minutes): the first minute whose
    local wall time is 05:00 or later."""
    if not reference_in_window(instant, name):
        return None
    at = instant.replace(second=0, microsecond=0)
    if at < instant:
        at += timedelta(minutes=1)
    while reference_in_window(at, name):
        at += timedelta(minutes=1)
    return at


random_instants = st.tuples(
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)),
)
near_changes = st.builds(
    lambda pick, seconds: (pick[0], pick[1] + timedelta(seconds=seconds)),
    st.sampled_from(TRANSITIONS),
    st.integers(min_value=-30 * 3600, max_value=30 * 3600),
)


@settings(max_examples=400, deadline=None)
@given(case=st.one_of(random_instants, near_changes))
def test_the_window_and_its_end_match_the_reference(case: tuple[str, datetime]) -> None:
    name, instant = case
    tz = ZoneInfo(name)
    assert in_window(instant, tz) == reference_in_window(instant, name)
    end = window_end(instant, tz)
    assert end == reference_end(instant, name)
    assert offer_before(instant, name) == end
    if end is not None:
        assert end.tzinfo is not None and end.utcoffset() == timedelta(0)
        assert end > instant and end - instant <= timedelta(hours=30)


@settings(max_examples=300, deadline=None)
@given(
    case=st.one_of(random_instants, near_changes),
    published_hours_ago=st.integers(min_value=-48, max_value=24 * 70),
    deferral_days=st.integers(min_value=0, max_value=60),
    paused=st.booleans(),
)
def test_due_and_inside_the_window(
    case: tuple[str, datetime], published_hours_ago: int, deferral_days: int, paused: bool
) -> None:
    """What a room is offered: a release due (deferral passed, ring not paused) inside the
    window, until the window's end; nothing otherwise."""
    name, now = case
    published_at = now - timedelta(hours=published_hours_ago)
    offer = offer_before(now, name) if is_due(published_at, deferral_days, paused, now) else None
    expected_due = not paused and published_hours_ago >= deferral_days * 24
    expected = reference_end(now, name) if expected_due else None
    assert offer == expected


def test_examples_of_days_that_skip_or_repeat_an_hour() -> None:
    def end(name: str, utc: str) -> str | None:
        found = window_end(datetime.fromisoformat(utc).replace(tzinfo=UTC), ZoneInfo(name))
        return None if found is None else found.isoformat()

    # New York skips 02:00-03:00 on 10 March 2024: 05:00 EDT is 09:00Z, the window is 4 hours
    assert end("America/New_York", "2024-03-10T05:30:00") == "2024-03-10T09:00:00+00:00"
    # ... and repeats 01:00-02:00 on 3 November: 05:00 EST is 10:00Z, 6 hours after midnight EDT
    assert end("America/New_York", "2024-11-03T04:30:00") == "2024-11-03T10:00:00+00:00"
    assert end("Europe/London", "2024-10-27T00:30:00") == "2024-10-27T05:00:00+00:00"
    # Lord Howe goes from +11 to +10:30 at 02:00 on 7 April 2024
    assert end("Australia/Lord_Howe", "2024-04-06T13:30:00") == "2024-04-06T18:30:00+00:00"
    # Apia: 29 December 2011 at 23:00 (-10) is outside; 31 December at 01:00 (+14) is inside
    assert end("Pacific/Apia", "2011-12-30T09:00:00") is None
    assert end("Pacific/Apia", "2011-12-30T11:00:00") == "2011-12-30T15:00:00+00:00"
