"""The service's metrics (Prometheus, ``GET /metrics``): every metric object is defined here,
so that any package counts through the same names and a reader finds them all in one place.

Across worker processes. ``roomwarden serve --workers N`` gives its workers one directory
(``PROMETHEUS_MULTIPROC_DIR``, made per run and removed at exit; docs/operations.md), and
prometheus-client's multiprocess mode keeps each process's values in a file there: any worker
answering ``/metrics`` reports the sum over all of them. The mode is fixed when
prometheus-client is first imported, which is here: :data:`MULTIPROCESS` records it, and
:func:`render` reads the files in that mode and the process's own registry otherwise.

What is only known to the database (queue depths) is read at scrape time through
:data:`queue_depths`, filled by the packages that own the queues.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

#: prometheus-client took its value storage from this variable at its import (just above)
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: request latency buckets, in seconds: keep-alive API answers sit in the low milliseconds
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "roomwarden_http_requests",
    "HTTP requests answered, by method, route template and status",
    ("method", "route", "status"),
)
REQUEST_SECONDS = Histogram(
    "roomwarden_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
#: requests served by each worker process (one series per pid: how evenly the kernel spreads
#: connections over ``--workers N``, bench/balance.py)
WORKER_REQUESTS = Gauge(
    "roomwarden_worker_requests",
    "HTTP requests served by this worker process since it started",
    multiprocess_mode="all",
)
AUTHORIZATION = Counter(
    "roomwarden_authorization_decisions",
    "Access decisions on a tenant path: allowed, not_found (no access in the tenant), "
    "forbidden (a permission or scope missing), mfa_required",
    ("outcome",),
)
MAIL_FAILURES = Counter(
    "roomwarden_mail_failures",
    "Outgoing mail delivery attempts that failed: retry (tried again later) or failed (given up)",
    ("outcome",),
)
JOB_RUNS = Counter(
    "roomwarden_job_runs", "Background job runs, by job and outcome (ok, failed)", ("job", "outcome")
)
JOB_FAILURES = Counter("roomwarden_job_failures", "Background job runs that raised, by job", ("job",))
DEVICE_REPORTS = Counter(
    "roomwarden_device_reports",
    "Device reports, by outcome: accepted, stale (a sequence not newer than the last accepted), "
    "refused (a device token no longer valid)",
    ("outcome",),
)
WEBHOOK_FAILURES = Counter(
    "roomwarden_webhook_failures",
    "Webhook delivery attempts that failed, by reason: refused (the address is not allowed), "
    "unreachable, gone (410), http_4xx, http_5xx, error (an unexpected fault)",
    ("reason",),
)

#: queue name -> a function that counts what waits in it, given a read session (called at
#: each scrape). Filled when the owners of the queues are imported.
queue_depths: dict[str, Callable[[Session], int]] = {}


class _QueueDepths(Collector):
    def __init__(self, depths: Mapping[str, int]) -> None:
        self.depths = depths

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily(
            "roomwarden_job_queue_depth", "Work waiting in each queue, read at scrape time", labels=["queue"]
        )
        for name, depth in sorted(self.depths.items()):
            family.add_metric([name], depth)
        yield family


def render(depths: Mapping[str, int]) -> tuple[bytes, str]:
    """The exposition text of every metric (of all worker processes, in multiprocess mode),
    with the queue depths read for this scrape."""
    registry = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(_QueueDepths(depths))
    return generate_latest(registry), CONTENT_TYPE


class _Forward(Collector):
    """This process's own metrics, beside the scrape-time ones in a registry of the scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        return self.registry.collect()
