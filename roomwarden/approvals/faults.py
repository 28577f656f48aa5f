"""A test-only fault hook for crash-safety tests: off unless ``ROOMWARDEN_TEST_FAULT`` names a
point, and never in production. At that point the process writes the marker file named by
``ROOMWARDEN_TEST_FAULT_MARKER`` and stops there, so a test can kill it (``kill -9``) in the
middle of a transaction and look at what the database kept."""

from __future__ import annotations

import os
import time

FAULT_ENV = "ROOMWARDEN_TEST_FAULT"
MARKER_ENV = "ROOMWARDEN_TEST_FAULT_MARKER"


def pause_at(point: str) -> None:
    if os.environ.get(FAULT_ENV) != point or os.environ.get("ROOMWARDEN_ENV") == "production":
        return
    marker = os.environ.get(MARKER_ENV)
    if marker:
        with open(marker, "w") as f:
            f.write(point)
    while True:  # until the test kills the process
        time.sleep(1)
