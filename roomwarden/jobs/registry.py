"""What a job is: a name, how often it runs, and the function that does it. Packages above
``jobs`` add their jobs to a ``JobRegistry`` at start-up (``roomwarden.wiring``); ``jobs``
itself knows none of them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from roomwarden.kit.db import Database
from roomwarden.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What a running job gets: the database (a job opens its own transactions, each short),
    the settings, and the monotonic time by which it should return (its lease ends later)."""

    db: Database
    settings: Settings
    deadline: float

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline


@dataclass(frozen=True)
class JobSpec:
    name: str
    #: seconds between the end of a claim and the next run; a wake makes it due at once
    interval: Callable[[Settings], float]
    run: Callable[[JobContext], object]


@dataclass
class JobRegistry:
    specs: dict[str, JobSpec] = field(default_factory=dict)

    def add(self, spec: JobSpec) -> None:
        if spec.name in self.specs:
            raise ValueError(f"job {spec.name} is registered twice")
        self.specs[spec.name] = spec

    def __getitem__(self, name: str) -> JobSpec:
        return self.specs[name]

    def __iter__(self) -> Iterator[JobSpec]:
        return iter(self.specs.values())

    def names(self) -> list[str]:
        return sorted(self.specs)
