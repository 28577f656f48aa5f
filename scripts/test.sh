#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, then every test on SQLite, then
# again on PostgreSQL. Outside CI the PostgreSQL run is skipped, with a message, when no
# server answers on 127.0.0.1:5432; under CI=true it is mandatory.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" test

echo "== lint (ruff)"
.venv/bin/ruff check roomwarden tests bench

echo "== tests on SQLite"
ROOMWARDEN_TEST_DB=sqlite .venv/bin/python -m pytest -p no:cacheprovider "$@"

echo "== tests on PostgreSQL"
ROOMWARDEN_TEST_DB=postgresql .venv/bin/python -m pytest -p no:cacheprovider "$@"
