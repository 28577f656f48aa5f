#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, then every test on SQLite, then
# again on PostgreSQL, two test processes each (ROOMWARDEN_TEST_PROCESSES). Outside CI the PostgreSQL run is skipped, with a message, when no
# server answers on 127.0.0.1:5432; under CI=true it is mandatory.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" test

# The browser tests (tests/portal) drive Debian's Chromium through Playwright, which cannot
# download browsers of its own here, and the quickstart test (tests/docs) runs the guide's
# curl and jq commands. Install what is missing; under CI=true a failed install is an error,
# elsewhere those tests skip with a message.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]} for the browser and quickstart tests"
  as_root=()
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then as_root=(sudo -n); fi
  if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
           "${missing[@]}" >/dev/null; }; then
    if [ "${CI:-}" = "true" ]; then
      echo "could not install ${missing[*]}: the browser or quickstart tests cannot run" >&2
      exit 1
    fi
    echo "could not install ${missing[*]}: the tests that need them will be skipped" >&2
  fi
fi

echo "== lint (ruff)"
.venv/bin/ruff check roomwarden tests bench
echo "== layering (import-linter)"
.venv/bin/lint-imports

echo "== types (mypy)"
.venv/bin/mypy

# Known vulnerabilities in any locked dependency (PyPI's advisory data) fail the run. The
# audit reads https://pypi.org/pypi/NAME/VERSION/json for each locked package; one it cannot
# read is skipped, and the run says plainly how many were not audited (all of them on a
# network that reaches PyPI's package index but not that API). ROOMWARDEN_REQUIRE_AUDIT=true
# makes any package left unaudited fail the run.
echo "== dependency audit (pip-audit of requirements/test.txt)"
locked="$(grep -cE '^[A-Za-z0-9._-]+(\[[^]]*\])?==' requirements/test.txt)"
if ! audit_out="$(.venv/bin/pip-audit --disable-pip --require-hashes --progress-spinner off \
                   -r requirements/test.txt 2>&1)"; then
  echo "$audit_out"
  exit 1
fi
unaudited="$(grep -c 'could not be audited' <<<"$audit_out" || true)"
grep -v 'could not be audited' <<<"$audit_out" | grep -v '^Name  *Skip Reason$' | grep -v '^-* -*$' || true
if [ "$unaudited" -gt 0 ]; then
  echo "WARNING: $unaudited of $locked locked packages were NOT audited: PyPI's advisory data" \
       "(https://pypi.org/pypi/NAME/VERSION/json) did not answer for them, e.g.:"
  grep 'could not be audited' <<<"$audit_out" | head -n 3 | sed 's/^/  /'
  if [ "${ROOMWARDEN_REQUIRE_AUDIT:-}" = "true" ]; then
    echo "ROOMWARDEN_REQUIRE_AUDIT=true: every locked package must be audited" >&2
    exit 1
  fi
else
  echo "all $locked locked packages audited"
fi

echo "== tests on SQLite"
ROOMWARDEN_TEST_DB=sqlite .venv/bin/python -m pytest -p no:cacheprovider -n "${ROOMWARDEN_TEST_PROCESSES:-2}" "$@"

echo "== tests on PostgreSQL"
ROOMWARDEN_TEST_DB=postgresql .venv/bin/python -m pytest -p no:cacheprovider -n "${ROOMWARDEN_TEST_PROCESSES:-2}" "$@"

# The distribution check (docs/operations.md, "Towards Citus") on a database migrated from
# empty, through the command an operator runs: every tenant-owned table's keys include
# tenant_id, or the run fails naming the tables.
echo "== distribution check (roomwarden db check) on a freshly migrated SQLite database"
check_dir="$(mktemp -d)"
ROOMWARDEN_DATABASE_URL="sqlite:///$check_dir/check.db" .venv/bin/roomwarden migrate
ROOMWARDEN_DATABASE_URL="sqlite:///$check_dir/check.db" .venv/bin/roomwarden db check
rm -rf "$check_dir"

echo "== distribution check (roomwarden db check) on a freshly migrated PostgreSQL database"
pg_admin="${ROOMWARDEN_TEST_PG_ADMIN_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
pg_check="roomwarden_check_$$"
if psql "${pg_admin/+psycopg/}" -qc "CREATE DATABASE $pg_check" >/dev/null; then
  trap 'psql "${pg_admin/+psycopg/}" -qc "DROP DATABASE IF EXISTS $pg_check" >/dev/null' EXIT
  ROOMWARDEN_DATABASE_URL="${pg_admin%/*}/$pg_check" .venv/bin/roomwarden migrate
  ROOMWARDEN_DATABASE_URL="${pg_admin%/*}/$pg_check" .venv/bin/roomwarden db check
  psql "${pg_admin/+psycopg/}" -qc "DROP DATABASE $pg_check" >/dev/null
  trap - EXIT
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable at $pg_admin (required under CI=true)" >&2
  exit 1
else
  echo "PostgreSQL is not reachable at $pg_admin: its distribution check is skipped" >&2
fi

# The API tests that matter most across processes — revocation on the next request, races and
# the access matrices — once more through a real `roomwarden serve --workers 2` on PostgreSQL
# (tests/conftest.py: ROOMWARDEN_TEST_SERVER_WORKERS), bounded in time.
echo "== revocation, races and access matrices through roomwarden serve --workers 2 (PostgreSQL)"
ROOMWARDEN_TEST_DB=postgresql ROOMWARDEN_TEST_SERVER_WORKERS=2 timeout 1800 \
  .venv/bin/python -m pytest -p no:cacheprovider -n 2 \
  tests/access/test_matrix.py tests/partners/test_partner_matrix.py \
  tests/concurrency tests/partners/test_races.py \
  "tests/access/test_resolver.py::test_revocations_apply_on_the_next_request_of_every_worker" \
  "tests/identity/test_auth.py::test_deactivated_user_cannot_sign_in_and_its_token_stops_working" \
  "tests/identity/test_auth.py::test_deleted_user_token_stops_working" \
  "tests/identity/test_auth.py::test_a_changed_password_replaces_the_old_one"
