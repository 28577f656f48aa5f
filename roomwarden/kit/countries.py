"""ISO 3166-1 countries, from the maintained ISO data of ``pycountry``: the alpha-2 codes the
service stores and validates, and the names people read ("Germany (DE)")."""

from __future__ import annotations

from collections.abc import Iterable

import pycountry

#: alpha-2 code → the common English name (``common_name`` where ISO's name is formal)
NAMES: dict[str, str] = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
ISO_3166_ALPHA2 = frozenset(NAMES)


def label(code: str) -> str:
    """How a country reads for people: its name and its code, "Germany (DE)"."""
    name = NAMES.get(code)
    return f"{name} ({code})" if name else code


def options(codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(code, label)`` pairs by name, of ``codes`` (every country when not given)."""
    chosen = NAMES if codes is None else codes
    return sorted(((c, label(c)) for c in chosen), key=lambda pair: pair[1].lower())
