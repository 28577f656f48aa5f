"""The lock (requirements/*.txt, scripts/lock.sh) agrees with pyproject.toml: every direct
dependency is locked at the version pyproject pins, and every locked package carries hashes.
A dependency changed in pyproject without running scripts/lock.sh fails here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: a pin, with the extras it is installed with (``name[extra]==version``), and its hashes
ENTRY = re.compile(
    r"^([A-Za-z0-9_.\-]+)(?:\[[A-Za-z0-9_.,\-]+\])?==(\S+) \\\n"
    r"((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
    re.M,
)


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(name: str) -> dict[str, str]:
    text = (REPO / "requirements" / name).read_text()
    entries = {normal(m.group(1)): m.group(2) for m in ENTRY.finditer(text)}
    pins = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert len(pins) == len(entries), "a locked package without a hash"
    return entries


def pinned(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        name, version = re.split(r"==", req, maxsplit=1)
        out[normal(re.sub(r"\[.*\]", "", name))] = version
    return out


@pytest.mark.parametrize(("lock", "extras"), [("base.txt", ()), ("test.txt", ("test",))])
def test_the_lock_holds_every_pin_of_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = pinned(project["dependencies"])
    for extra in extras:
        wanted |= pinned(project["optional-dependencies"][extra])
    have = locked(lock)
    assert {n: have.get(n) for n in wanted} == wanted
    assert "setuptools" in have  # the build backend, for the project's own install
