"""scripts/demo.sh installs the environment once, whatever arguments it is given later: the
install stamp of scripts/_venv.sh depends on pyproject.toml, the lock and the extra, never on
the demo's arguments; it installs from the lock with hashes, then the project without its
dependencies. Run on a copy of the scripts whose .venv/bin/python only records its calls."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("sha256sum") is None, reason="needs bash and sha256sum"
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    for name in ("_venv.sh", "demo.sh"):
        shutil.copy2(REPO / "scripts" / name, tmp_path / "scripts" / name)
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "roomwarden"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "$(dirname "$0")/../calls.log"\n')
        script.chmod(0o755)
    return tmp_path


def installs(checkout: Path) -> list[str]:
    log = checkout / ".venv" / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith("python -m pip install")]


PIP = "python -m pip install --quiet --disable-pip-version-check"
PROJECT = f"{PIP} --no-deps --no-build-isolation -e ."


def demo(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "scripts/demo.sh", *args], cwd=checkout, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_demo_installs_once_whatever_its_arguments(checkout: Path) -> None:
    first = demo(checkout)
    assert "installing dependencies" in first.stderr
    assert installs(checkout) == [f"{PIP} --require-hashes -r requirements/base.txt", PROJECT]
    for args in (["--reset"], ["--port", "8123", "--host", "0.0.0.0"], ["test"], ["--no-serve"]):
        again = demo(checkout, *args)
        assert "installing" not in again.stderr, args
    assert len(installs(checkout)) == 2
    calls = (checkout / ".venv" / "calls.log").read_text().splitlines()
    assert "roomwarden demo --port 8123 --host 0.0.0.0" in calls  # the arguments reach the demo


def test_a_test_install_serves_the_demo_and_a_changed_pyproject_installs_again(checkout: Path) -> None:
    subprocess.run(
        ["bash", "-c", "source scripts/_venv.sh test"], cwd=checkout, check=True, capture_output=True
    )
    assert installs(checkout) == [f"{PIP} --require-hashes -r requirements/test.txt", PROJECT]
    demo(checkout, "--reset")
    assert len(installs(checkout)) == 2
    with (checkout / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    assert "installing dependencies" in demo(checkout, "--reset").stderr
    assert len(installs(checkout)) == 4
    with (checkout / "requirements" / "base.txt").open("a") as f:  # a new lock installs again
        f.write("\n# changed\n")
    assert "installing dependencies" in demo(checkout, "--reset").stderr
    assert len(installs(checkout)) == 6
