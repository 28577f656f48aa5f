"""Pure rules of monitoring, tested without a database: a room's health from its signals."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from roomwarden.devices.catalogue import OFFLINE, SIGNALS


def derive_health(
    *, reported: bool, offline: bool, states: Mapping[str, str], suppressed: Collection[str] = ()
) -> str:
    """SPEC §11: ``unknown`` without a device or before its first report; ``unhealthy`` when
    offline or an important signal failed; ``degraded`` when any other signal is not ``ok``;
    else ``healthy``. Suppressed signals do not count."""
    if not reported:
        return "unknown"
    if offline and OFFLINE not in suppressed:
        return "unhealthy"
    counted = {s: st for s, st in states.items() if s not in suppressed and s != OFFLINE}
    if any(st == "failed" and SIGNALS[s].severity == "important" for s, st in counted.items()):
        return "unhealthy"
    if any(st != "ok" for st in counted.values()):
        return "degraded"
    return "healthy"
