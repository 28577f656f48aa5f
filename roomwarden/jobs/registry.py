"""What a job is: a name, how often it runs, and the function that does it. Packages above
``jobs`` add their jobs to a ``JobRegistry`` at start-up (``roomwarden.wiring``); ``jobs``
itself knows none of them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, Select
from sqlalchemy.orm import Session

from roomwarden.kit.db import Database, state_tenants
from roomwarden.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What a running job gets: the database, the settings, the monotonic time by which it
    should return (its lease ends later) and the tenant it runs for: under row-level security
    (SPEC §10) the runner runs a job once for each tenant, and each of the job's transactions
    (``transaction()``, each short) states that tenant alone; without it, ``None``: one run
    across every tenant."""

    db: Database
    settings: Settings
    deadline: float
    tenant_id: uuid.UUID | None = None

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.db.transaction() as session:
            if self.tenant_id is not None:
                state_tenants(session, [self.tenant_id])
            yield session


#: A select of the ids of the tenants a job has work for (it may repeat one), read with every
#: tenant stated.
TenantsWithWork = Callable[[], "Select[Any] | CompoundSelect[Any]"]

#: A select of one time, read with every tenant stated after each run: when the job's next
#: piece of work falls due (NULL: none waits).
NextDue = Callable[[], "Select[Any]"]


@dataclass(frozen=True)
class JobSpec:
    name: str
    #: seconds between the end of a claim and the next run; a wake makes it due at once
    interval: Callable[[Settings], float]
    run: Callable[[JobContext], object]
    #: Under row-level security the runner runs a job once for each tenant: with this, only
    #: for the tenants it has work for. A job woken by a commit (mail, webhooks) then serves
    #: that work at once, not after a round of every tenant.
    tenants_with_work: TenantsWithWork | None = None
    #: When work a run leaves waiting (a retry in two seconds) falls due: the job is made due
    #: then at the latest, whichever tenant the work belongs to. Read once per run across the
    #: instance, so ``tenants_with_work`` need name only the tenants with work due now.
    next_due: NextDue | None = None


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
