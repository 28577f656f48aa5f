"""Time-ordered UUIDs (RFC 9562 version 7).

Ordering ids by creation time keeps B-tree inserts local and gives keyset pagination a
stable, meaningful order without a second sort column.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

# The 12-bit ``rand_a`` field counts up within one millisecond (RFC 9562 §6.2, method 1),
# so ids made by one process are strictly increasing even when made in the same millisecond.
_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)


def _clock_and_counter() -> tuple[int, int]:
    global _last
    unix_ms = time.time_ns() // 1_000_000
    with _lock:
        last_ms, last_counter = _last
        if unix_ms > last_ms:
            counter = int.from_bytes(os.urandom(2), "big") & 0x07FF  # seeded low: room to count
        elif last_counter < 0x0FFF:
            unix_ms, counter = last_ms, last_counter + 1
        else:
            unix_ms, counter = last_ms + 1, 0
        _last = (unix_ms, counter)
    return unix_ms, counter


def new_id() -> uuid.UUID:
    unix_ms, rand_a = _clock_and_counter()
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)
