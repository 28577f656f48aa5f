"""Versions are dotted numbers (``1``, ``4.2``, ``2026.12.1``) and compare as numbers with
``packaging.version`` — ``1.10`` is newer than ``1.9``, and ``1.4`` is ``1.4.0``.

A release's version must be dotted numbers (at most ``MAX_PARTS`` parts of at most
``MAX_DIGITS`` digits). A device may report anything; a version that is not dotted numbers is
older than every release (its device is offered the newest and counts as ``outdated``).

``key`` renders a version as a fixed-width string that sorts like the version, so the
database orders versions and holds "one release per component and version" itself.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

MAX_PARTS = 6
MAX_DIGITS = 9
DOTTED = re.compile(rf"\d{{1,{MAX_DIGITS}}}(?:\.\d{{1,{MAX_DIGITS}}}){{0,{MAX_PARTS - 1}}}")
#: What a component's name may be: letters, digits, ``.``, ``_`` and ``-``, starting with a
#: letter or digit, at most 64 characters (``agent``, ``room-os``, ``camera.firmware``).
COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DOTTED_HINT = "must be dotted numbers such as 1.4.2 (at most 6 parts of at most 9 digits)"


def parse(text: str) -> Version | None:
    """The version of dotted numbers ``text``, or None when it is not one."""
    text = text.strip()
    if not DOTTED.fullmatch(text):
        return None
    try:
        return Version(text)
    except InvalidVersion:  # pragma: no cover - DOTTED is a subset of what Version accepts
        return None


def key_of(version: Version) -> str:
    parts = list(version.release) + [0] * (MAX_PARTS - len(version.release))
    return "".join(f"{p:0{MAX_DIGITS}d}" for p in parts)


def key(text: str | None) -> str | None:
    """``key_of`` a version's text, or None when it is not dotted numbers."""
    version = parse(text) if text is not None else None
    return None if version is None else key_of(version)


def newer(candidate: str, than: str | None) -> bool:
    """Whether the version key ``candidate`` is newer than ``than`` (None: a version that is
    not dotted numbers, older than every release)."""
    return than is None or candidate > than
