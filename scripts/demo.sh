#!/usr/bin/env bash
# Run Roomwarden on an embedded SQLite database (./roomwarden.db) with the demo data set.
# Prints the URL and the sign-in details, then serves until Ctrl-C.
set -euo pipefail
# "base" explicitly: the install stamp never depends on the arguments given to the demo.
source "$(dirname "$0")/_venv.sh" base
exec .venv/bin/roomwarden demo "$@"
