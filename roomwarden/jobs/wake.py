"""Waking a job after commits, coalesced: a burst of commits that each ask for the job (device
reports recording events, say) costs one small write per ``every`` seconds instead of one per
commit, and no commit waits longer than ``every`` for the job to be due."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from roomwarden.jobs import service
from roomwarden.kit.db import Database

log = logging.getLogger("roomwarden.jobs")


class CoalescedWake:
    def __init__(self, db: Database, name: str, poke: Callable[[], None], every: float = 0.25) -> None:
        self.db, self.name, self.poke, self.every = db, name, poke, every
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None

    def __call__(self) -> None:
        """Wake now, or once the current window has passed (a wake already planned serves
        this call too)."""
        with self._lock:
            if self._timer is not None:
                return
            delay = self._last + self.every - time.monotonic()
            if delay > 0:
                self._timer = threading.Timer(delay, self._fire)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._wake()

    def _fire(self) -> None:
        with self._lock:
            self._timer, self._last = None, time.monotonic()
        self._wake()

    def _wake(self) -> None:
        try:
            with self.db.transaction() as session:
                service.wake(session, self.name)
            self.poke()
        except Exception:  # the change is committed; the job's next round serves it
            log.exception("could not wake the job %s", self.name)
