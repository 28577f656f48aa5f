"""Ids are version-7 UUIDs that increase in creation order, also within one millisecond:
keyset pages, ticket histories and the audit log list rely on that order."""

from __future__ import annotations

import itertools
import threading

from roomwarden.kit.ids import new_id


def test_ids_are_version_7_and_strictly_increasing() -> None:
    ids = [new_id() for _ in range(20_000)]  # many share a millisecond
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)


def test_ids_from_many_threads_are_unique() -> None:
    out: list[list] = [[] for _ in range(4)]  # type: ignore[type-arg]
    barrier = threading.Barrier(4)

    def make(i: int) -> None:
        barrier.wait()
        out[i] = [new_id() for _ in range(5000)]

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    every = [i for chunk in out for i in chunk]
    assert len(set(every)) == 20_000
    assert all(chunk == sorted(chunk) for chunk in out)
