"""Sending: the background job ``webhooks.deliver`` (every ``ROOMWARDEN_WEBHOOK_POLL_SECONDS``,
and at once after a commit that recorded events).

A round first turns recorded events into deliveries (``targets.dispatch``), then sends due
deliveries on a pool of ``ROOMWARDEN_WEBHOOK_CONCURRENCY`` threads, at most one at a time per
endpoint, so a slow or dead receiver holds one thread for at most its time limit and never
the others. Each attempt is claimed in a short transaction (a lease: its ``next_attempt_at``
moves past the time limit), sent with no transaction open, and its outcome written in a
transaction of its own; a process that dies between the two leaves the delivery due again
when the lease passes. Delivery is therefore at least once: receivers drop duplicates by
``webhook-id``, the event's id.

An attempt re-checks who may hear it (``targets.may_send``) and the target's address
(``kit.egress``: resolved now, connected to by number). A 2xx answer is success; anything
else, a redirect included, a failure retried after the next wait of
``ROOMWARDEN_WEBHOOK_RETRY_SCHEDULE`` (±10 %). ``410 Gone`` disables the endpoint at once,
and so does failing for ``ROOMWARDEN_WEBHOOK_DISABLE_AFTER_SECONDS``; the tenant's Global
admins are mailed.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import CompoundSelect, Select, delete, func, select, union_all
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from roomwarden.audit.service import SYSTEM_ACTOR, Category, Operation, record
from roomwarden.events.models import EventRecord
from roomwarden.identity.models import User
from roomwarden.identity.tenancy import state_linked
from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.kit import metrics
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.time import utcnow
from roomwarden.notifications.service import LINK, queue_mail
from roomwarden.settings import Settings
from roomwarden.webhooks import guard, targets
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("roomwarden.webhooks")
WEBHOOK_JOB = "webhooks.deliver"
#: how long finished deliveries and dispatched events are kept
KEEP = timedelta(days=30)
USER_AGENT = "Roomwarden-Webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """What one send needs, read in the claim's transaction."""

    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    message_id: str
    body: bytes
    tenant_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def reason(self) -> str:
        """What kind of failure this is, for ``roomwarden_webhook_failures_total``: a few fixed
        values, never the address or the error's text."""
        if self.status is None:
            return "refused" if (self.error or "").startswith("refused") else "unreachable"
        return "gone" if self.status == 410 else f"http_{self.status // 100}xx"


def signed_headers(attempt: Attempt, now: datetime) -> dict[str, str]:
    """Standard Webhooks v1: one ``v1,<signature>`` per secret that signs now."""
    signatures = [Webhook(secret).sign(attempt.message_id, now, attempt.body) for secret in attempt.secrets]
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": attempt.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def pending_deliveries(session: Session) -> int:
    """Deliveries waiting for a (next) attempt (``roomwarden_job_queue_depth{queue="webhooks"}``)."""
    return session.scalar(select(func.count()).where(WebhookDelivery.status == "pending")) or 0


metrics.queue_depths["webhooks"] = pending_deliveries


def prune(session: Session, before: datetime, limit: int = 1000) -> int:
    """Forget finished deliveries and dispatched events older than ``before`` (``KEEP``): the
    audit log keeps what people did; these are the service's own work, kept a while to be
    read and retried."""
    done = select(WebhookDelivery.id).where(
        WebhookDelivery.status != "pending", WebhookDelivery.created_at < before
    )
    ids = session.scalars(done.limit(limit)).all()
    if ids:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    old = select(EventRecord.id).where(EventRecord.dispatched_at < before)
    event_ids = session.scalars(old.limit(limit)).all()
    if event_ids:
        session.execute(delete(EventRecord).where(EventRecord.id.in_(event_ids)))
    return len(ids) + len(event_ids)


def _with_work() -> CompoundSelect[Any]:
    """The tenants a delivery round has work for now: events not yet dispatched, deliveries
    due, and what ``prune`` forgets. Deliveries waiting for a later retry are not work yet:
    ``_next_due`` wakes the job for them."""
    now = utcnow()
    before = now - KEEP
    return union_all(
        select(EventRecord.tenant_id).where(EventRecord.dispatched_at.is_(None)),
        select(WebhookDelivery.tenant_id).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
        ),
        select(WebhookDelivery.tenant_id).where(WebhookDelivery.created_at < before),
        select(EventRecord.tenant_id).where(EventRecord.dispatched_at < before),
    )


#: a delivery's endpoint, and a delivery that waits for an attempt on an enabled one
_ITS_ENDPOINT = (WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id) & (
    WebhookEndpoint.id == WebhookDelivery.endpoint_id
)
_WAITING = (WebhookDelivery.status == "pending") & WebhookEndpoint.enabled.is_(True)


def _next_due() -> Select[Any]:
    """When the next waiting delivery of an enabled endpoint falls due (a retry, or a lease
    that may pass: its sender died); deliveries of a disabled endpoint wait for it, and those
    due now are the current round's."""
    return (
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(WebhookEndpoint, _ITS_ENDPOINT)
        .where(_WAITING, WebhookDelivery.next_attempt_at > utcnow())
    )


def next_wait(settings: Settings, attempts: int) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones (±10 %), or None when the
    schedule is spent."""
    schedule = settings.webhook_retry_schedule
    if attempts > len(schedule):
        return None
    return schedule[attempts - 1] * random.uniform(0.9, 1.1)


def _due(
    now: datetime, count: int, busy: Collection[uuid.UUID], tenant_ids: Collection[uuid.UUID] | None
) -> Select[WebhookDelivery, WebhookEndpoint]:
    """Due deliveries of enabled endpoints not ``busy``, oldest due first, locked (rows other
    runners hold are skipped)."""
    stmt = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, _ITS_ENDPOINT)
        .where(_WAITING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(count * 4)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    if busy:
        stmt = stmt.where(WebhookDelivery.endpoint_id.not_in(list(busy)))
    if tenant_ids is not None:
        stmt = stmt.where(WebhookDelivery.tenant_id.in_(list(tenant_ids)))
    return stmt


class Deliverer:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.box = SecretBox(settings.encryption_key.get_secret_value())
        self._lock = threading.Lock()

    def job(self) -> JobSpec:
        return JobSpec(
            WEBHOOK_JOB,
            lambda s: float(s.webhook_poll_seconds),
            self._run_job,
            tenants_with_work=_with_work,
            next_due=_next_due,
        )

    @contextmanager
    def _transaction(self, tenant_ids: Collection[uuid.UUID] | None) -> Iterator[Session]:
        """A transaction of a delivery round: it states the round's tenants and those linked
        to them (a customer's events go to its partners' endpoints; row-level security)."""
        with self.db.transaction() as session:
            state_linked(session, tenant_ids)
            yield session

    def _run_job(self, context: JobContext) -> int:
        tenants = None if context.tenant_id is None else [context.tenant_id]
        sent = self.run(context.time_left, tenants)
        with self._transaction(tenants) as session:
            prune(session, utcnow() - KEEP)
        return sent

    def run(
        self, time_left: Callable[[], bool] = lambda: True, tenant_ids: Collection[uuid.UUID] | None = None
    ) -> int:
        """Dispatch recorded events, then send due deliveries until none is due (and every
        send has finished) or ``time_left()`` turns false; returns how many were sent.
        ``tenant_ids``: only events of these tenants and deliveries to their endpoints."""
        with self._lock:
            return self._round(time_left, tenant_ids)

    def _round(self, time_left: Callable[[], bool], tenant_ids: Collection[uuid.UUID] | None) -> int:
        sent = 0
        in_flight: dict[Future[bool], uuid.UUID] = {}
        size = self.settings.webhook_concurrency
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="roomwarden-webhook") as pool:
            while True:
                if time_left():
                    self._dispatch_all(time_left, tenant_ids)
                    free = size - len(in_flight)
                    busy = set(in_flight.values())
                    for attempt in self._claim(free, busy, tenant_ids) if free else []:
                        in_flight[pool.submit(self._attempt, attempt)] = attempt.endpoint_id
                if not in_flight:
                    return sent
                done, _ = wait(list(in_flight), timeout=1, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
                    try:
                        sent += future.result()
                    except Exception:  # one bad delivery must not stop the others
                        metrics.WEBHOOK_FAILURES.labels("error").inc()
                        log.exception("a webhook delivery failed unexpectedly")

    def _dispatch_all(self, time_left: Callable[[], bool], tenant_ids: Collection[uuid.UUID] | None) -> None:
        while time_left():
            with self._transaction(tenant_ids) as session:
                if targets.dispatch(session, tenant_ids=tenant_ids) < 200:
                    return

    # -- one attempt ---------------------------------------------------------------------------

    def _claim(
        self, count: int, busy: set[uuid.UUID], tenant_ids: Collection[uuid.UUID] | None = None
    ) -> list[Attempt]:
        """Up to ``count`` due deliveries, one per endpoint and none of the ``busy`` ones',
        each leased for the length of a send. Deliveries a partner may no longer hear end
        ``skipped`` on the way (and others are looked for in their place)."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout_seconds + 30)
        attempts: list[Attempt] = []
        with self._transaction(tenant_ids) as session:
            while len(attempts) < count:
                skipped = 0
                rows = session.execute(_due(now, count, busy, tenant_ids)).all()
                for delivery, endpoint in rows:
                    if endpoint.id in busy or len(attempts) >= count:
                        continue
                    if not targets.may_send(session, delivery):
                        delivery.status, delivery.next_attempt_at = "skipped", None
                        delivery.last_error = "the partner may no longer hear about this room"
                        skipped += 1
                        continue
                    busy.add(endpoint.id)
                    delivery.next_attempt_at = lease
                    attempts.append(self._attempt_of(delivery, endpoint, now))
                if not skipped:
                    break
        return attempts

    def _attempt_of(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime) -> Attempt:
        secrets = [self.box.open(endpoint.secret_sealed)]
        until = endpoint.previous_secret_until
        if endpoint.previous_secret_sealed and until is not None and until > now:
            secrets.append(self.box.open(endpoint.previous_secret_sealed))
        return Attempt(
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            secrets=tuple(secrets),
            message_id=f"msg_{delivery.event_id.hex}",
            body=delivery.payload.encode(),
            tenant_id=delivery.tenant_id,
        )

    def _attempt(self, attempt: Attempt) -> bool:
        answer = self.send(attempt)
        if not answer.ok:
            metrics.WEBHOOK_FAILURES.labels(answer.reason).inc()
        with self._transaction(None if attempt.tenant_id is None else [attempt.tenant_id]) as session:
            return self._record(session, attempt, answer)

    def send(self, attempt: Attempt) -> Answer:
        """One POST, outside any transaction: the address checked again, no redirects."""
        egress = guard.rules(self.settings)
        if problem := egress.url_problem(attempt.url):
            return Answer(None, f"refused: {problem}")
        headers = signed_headers(attempt, utcnow())
        try:
            with egress.client(self.settings.webhook_timeout_seconds) as http:
                response = http.post(attempt.url, content=attempt.body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Answer(response.status_code, error)

    def _record(self, session: Session, attempt: Attempt, answer: Answer) -> bool:
        now = utcnow()
        delivery = session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id).with_for_update()
        )
        endpoint = session.scalar(
            select(WebhookEndpoint).where(WebhookEndpoint.id == attempt.endpoint_id).with_for_update()
        )
        if delivery is None or endpoint is None or delivery.status != "pending":
            return False  # deleted meanwhile, or retried and sent by another round
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.response_status = now, answer.status
        if answer.ok:
            delivery.status, delivery.delivered_at = "succeeded", now
            delivery.next_attempt_at, delivery.last_error = None, None
            endpoint.failing_since = None
            return True
        delivery.last_error = answer.error
        endpoint.failing_since = endpoint.failing_since or now
        wait_for = next_wait(self.settings, delivery.attempts)
        if answer.status == 410:
            self._disable(session, endpoint, "the endpoint answered 410 Gone")
        elif now - endpoint.failing_since >= timedelta(seconds=self.settings.webhook_disable_after_seconds):
            self._disable(session, endpoint, f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC")
        if endpoint.enabled and wait_for is not None:
            delivery.next_attempt_at = now + timedelta(seconds=wait_for)
        else:  # the schedule is spent, or the endpoint was disabled: a person may retry it
            delivery.status, delivery.next_attempt_at = "failed", None
        log.warning(
            "webhook delivery %s to %s failed: %s", delivery.id, guard.redacted(endpoint.url), answer.error
        )
        return False

    def _disable(self, session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
        """The endpoint stops receiving (its pending deliveries wait until it is enabled again),
        the tenant's log says so, and its Global admins are mailed."""
        endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, reason, utcnow()
        session.flush()
        name = guard.redacted(endpoint.url)
        record(
            session,
            tenant_id=endpoint.tenant_id,
            actor=SYSTEM_ACTOR,
            category=Category.WEBHOOK,
            operation=Operation.UPDATE,
            object_name=name,
            object_id=endpoint.id,
            details={"enabled": {"from": True, "to": False}, "reason": reason},
        )
        admins = session.scalars(
            select(User.upn).where(User.tenant_id == endpoint.tenant_id, User.is_active, User.is_global_admin)
        ).all()
        queue_mail(
            session,
            endpoint.tenant_id,
            admins,
            f"Webhook endpoint disabled: {name}",
            f"Roomwarden stopped sending events to the webhook endpoint {name}: {reason}.\n\n"
            "Deliveries wait until the endpoint is enabled again (Settings > Webhooks: "
            f"{LINK}).\n",
            link=f"/t/{endpoint.tenant_id}/settings/webhooks",
        )
