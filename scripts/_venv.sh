# Shared by the scripts: create .venv with Python 3.11 and install the project into it.
# Usage: source scripts/_venv.sh [test]   ("test" installs the test dependencies too; any other
# argument, such as the caller's own arguments when it is sourced without any, means "base")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON_BIN="$candidate"; break
    fi
  done
fi
if [ -z "$PYTHON_BIN" ]; then
  echo "Roomwarden needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
venv_extra=base
if [ "${1:-}" = "test" ]; then venv_extra=test; fi
if [ ! -x .venv/bin/python ]; then
  echo "roomwarden: creating the virtual environment in .venv ..." >&2
  "$PYTHON_BIN" -m venv .venv
fi
# Every dependency, transitive ones and the build backend included, comes from the lock with
# its hash (requirements/*.txt, made by scripts/lock.sh from pyproject.toml); then the project
# itself, built with the locked setuptools.
lock="requirements/$venv_extra.txt"
hash="$(cat pyproject.toml "$lock" | sha256sum | cut -c1-16)"
stamp=".venv/.installed-$hash-$venv_extra"
# A test install also serves the base install.
if [ ! -f "$stamp" ] && ! { [ "$venv_extra" = base ] && [ -f ".venv/.installed-$(cat pyproject.toml requirements/test.txt | sha256sum | cut -c1-16)-test" ]; }; then
  echo "roomwarden: installing dependencies into .venv from $lock (first run or the lock changed; about a minute) ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  rm -f .venv/.installed-*
  touch "$stamp"
  echo "roomwarden: installed." >&2
fi
