#!/usr/bin/env bash
# Run Roomwarden on an embedded SQLite database (./roomwarden.db) with the demo data set.
# Prints the URL and the sign-in details, then serves until Ctrl-C.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
exec .venv/bin/roomwarden demo "$@"
