#!/usr/bin/env bash
# Lock every dependency, transitive ones included, with the hashes of every file PyPI serves
# for it: requirements/base.txt (the service) and requirements/test.txt (the service, the
# tests and the tools), both resolved from pyproject.toml, plus the build backend that
# installs the project itself. scripts/_venv.sh installs from them with --require-hashes.
# Run it after changing a dependency in pyproject.toml (one command, about a minute):
#   scripts/lock.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/pip-compile ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "pip-tools==7.6.2"
fi
# PyPI only: the lock must not depend on this machine's pip configuration (local mirrors,
# find-links, constraints).
export PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_CONSTRAINT=
compile() {
  .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --no-strip-extras --all-build-deps \
    --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple "$@" pyproject.toml
}
compile --output-file requirements/base.txt
compile --extra test --output-file requirements/test.txt
echo "locked: requirements/base.txt ($(grep -c '==' requirements/base.txt) packages)," \
  "requirements/test.txt ($(grep -c '==' requirements/test.txt) packages)"
