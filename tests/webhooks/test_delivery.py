"""Delivering events to real receivers on this machine: every delivery verified with the
official ``standardwebhooks`` library, retries on the schedule of
ROOMWARDEN_WEBHOOK_RETRY_SCHEDULE, at least once across a process that died, 410 and the
failure window disabling an endpoint (and mailing its admins), redirects not followed, the
old secret signing for a day after a rotation, and a slow endpoint holding back no other."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from standardwebhooks import Webhook, WebhookVerificationError

from roomwarden.events.models import EventRecord
from roomwarden.jobs import service as jobs
from roomwarden.jobs.models import Job
from roomwarden.jobs.registry import JobContext, JobRegistry
from roomwarden.jobs.runner import Runner
from roomwarden.kit.db import Database
from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from roomwarden.settings import Settings
from roomwarden.webhooks import targets
from roomwarden.webhooks.delivery import WEBHOOK_JOB, next_wait, prune
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.factories import TenantH, World, expect
from tests.webhooks.helpers import deliver, deliverer, endpoint, receiver, wait_until

TICKETS = ["ticket.opened", "ticket.updated", "ticket.resolved", "ticket.reopened", "ticket.closed"]


def _deliveries(world: World, tenant: TenantH, endpoint_id: str) -> list[dict]:
    url = f"/api/v1/tenants/{tenant.id}/webhooks/{endpoint_id}/deliveries"
    return expect(world.client.get(url, headers=tenant.admin.headers), 200)["items"]


def test_a_change_reaches_the_receiver_signed_and_verifiable(
    world: World, db: Database, settings: Settings
) -> None:
    t = world.tenant()
    with receiver() as r:
        hook = endpoint(world, t, r.url, TICKETS)
        assert hook["secret"].startswith("whsec_")
        room = world.room(t)
        ticket = world.incident(t, room["id"])
        sent = deliver(deliverer(db, settings), t)
        assert sent == 1
        [body] = r.bodies(hook["secret"])  # verified by the official library
        assert body["type"] == "ticket.opened"
        assert body["data"]["ticket_id"] == ticket["id"]
        assert body["data"]["room_id"] == room["id"]
        assert body["data"]["tenant_id"] == t.id
        assert "title" not in body["data"] and "description" not in body["data"]  # no free text
        request = r.requests[0]
        assert request.headers["webhook-id"] and request.headers["webhook-signature"].startswith("v1,")
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
        # Signed by hand, as docs/webhooks.md shows: HMAC-SHA256 over "{id}.{timestamp}.{body}"
        key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
        signed = (
            f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
        )
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        assert f"v1,{expected}" in request.headers["webhook-signature"].split(" ")
        # an event nobody subscribed to is not sent
        expect(
            world.post(
                t,
                "/rooms",
                {"name": "x", "resource_account": f"x{uuid.uuid4().hex[:6]}@{t.domain}", "country": "US"},
            ),
            201,
        )
        assert deliver(deliverer(db, settings), t) == 0
        [delivery] = _deliveries(world, t, hook["id"])
        assert delivery["status"] == "succeeded" and delivery["response_code"] == 204
        assert delivery["attempts"] == 1 and delivery["event_type"] == "ticket.opened"


def test_the_test_event_and_the_secret_shown_once(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    with receiver() as r:
        created = world.post(t, "/webhooks", {"url": r.url, "events": ["webhook.test"]})
        assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
        hook = created.json()
        read = expect(
            world.client.get(f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}", headers=t.admin.headers), 200
        )
        assert "secret" not in read and "secret_sealed" not in read
        test = expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        assert test["status"] == "pending" and test["event_type"] == "webhook.test"
        deliver(deliverer(db, settings), t)
        [body] = r.bodies(hook["secret"])
        assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == hook["id"]


def test_retries_follow_the_schedule_override(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    d = deliverer(db, settings, webhook_retry_schedule=[0.3, 0.6])
    with receiver() as r:
        r.answers = [500, 503]
        hook = endpoint(world, t, r.url)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(d, t)
        [first] = _deliveries(world, t, hook["id"])
        assert first["status"] == "pending" and first["attempts"] == 1 and first["response_code"] == 500
        assert first["next_attempt_at"] is not None
        deliver(d, t)  # not due yet: nothing sent
        assert len(r.requests) == 1
        time.sleep(0.4)
        deliver(d, t)
        assert len(r.requests) == 2
        time.sleep(0.7)
        deliver(d, t)
        assert len(r.requests) == 3
        [done] = _deliveries(world, t, hook["id"])
        assert done["status"] == "succeeded" and done["attempts"] == 3
        # the same message each time: one webhook-id, each attempt verifiable
        assert len({req.headers["webhook-id"] for req in r.requests}) == 1
        assert len(r.bodies(hook["secret"])) == 3
    # the schedule, spent, ends the delivery as failed; the waits carry ±10 % jitter
    s = settings.model_copy(update={"webhook_retry_schedule": [100.0, 200.0]})
    waits = [next_wait(s, 1) for _ in range(200)]
    assert all(90 <= w <= 110 for w in waits if w is not None) and len(set(waits)) > 1
    assert next_wait(s, 3) is None


def test_a_failed_delivery_is_retried_by_hand(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    d = deliverer(db, settings, webhook_retry_schedule=[])
    with receiver(status=500) as r:
        hook = endpoint(world, t, r.url)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        before = _failures("http_5xx")
        deliver(d, t)
        [failed] = _deliveries(world, t, hook["id"])
        assert failed["status"] == "failed" and failed["next_attempt_at"] is None
        assert _failures("http_5xx") == before + 1  # roomwarden_webhook_failures_total (GET /metrics)
        r.status = 200
        again = expect(world.post(t, f"/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", None), 200)
        assert again["status"] == "pending"
        deliver(d, t)
        [done] = _deliveries(world, t, hook["id"])
        assert done["status"] == "succeeded" and len(r.requests) == 2


def test_a_process_that_died_after_commit_still_delivers(
    world: World, db: Database, settings: Settings
) -> None:
    """The event row commits with the change; no process sent it (it died). A runner started
    later delivers it — and one that died mid-send leaves its delivery due again."""
    t = world.tenant()
    with receiver() as r:
        hook = endpoint(world, t, r.url, TICKETS)
        room = world.room(t)
        world.incident(t, room["id"])  # committed; nothing was sent
        with world.transaction() as s:
            pending = s.scalars(select(EventRecord).where(EventRecord.tenant_id == uuid.UUID(t.id))).all()
            assert [e.type for e in pending] == ["ticket.opened"] and pending[0].dispatched_at is None
        assert r.requests == []
        # "a later process": a new deliverer, as `roomwarden worker` would build
        assert deliver(deliverer(db, settings), t) == 1
        assert r.types() == ["ticket.opened"]
        # dying mid-send: the claim leased the delivery, the outcome was never written
        world.incident(t, room["id"])
        d = deliverer(db, settings)
        with world.transaction() as s:
            targets.dispatch(s, tenant_ids=[uuid.UUID(t.id)])
        [claimed] = d._claim(1, set(), [uuid.UUID(t.id)])  # and then the process died
        assert deliver(deliverer(db, settings), t) == 0  # leased: not sent twice meanwhile
        with world.transaction() as s:  # the lease passes
            s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == claimed.delivery_id)
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
        assert deliver(deliverer(db, settings), t) == 1
        assert r.types() == ["ticket.opened", "ticket.opened"]
        r.bodies(hook["secret"])


def test_410_disables_the_endpoint_and_mails_its_admins(
    world: World, db: Database, settings: Settings
) -> None:
    t = world.tenant()
    with receiver(status=410) as r:
        hook = endpoint(world, t, r.url)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        gone = _failures("gone")
        deliver(deliverer(db, settings), t)
        assert len(r.requests) == 1  # disabled at the first 410: the second waits
        assert _failures("gone") == gone + 1
        read = expect(
            world.client.get(f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}", headers=t.admin.headers), 200
        )
        assert read["enabled"] is False and "410" in read["disabled_reason"]
        assert world.post(t, f"/webhooks/{hook['id']}/test", None).status_code == 409
        _mailed(db, t.id, t.admin.upn)
        # enabled again, the waiting delivery goes
        r.status = 200
        expect(
            world.client.patch(
                f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}",
                json={"enabled": True},
                headers=t.admin.headers,
            ),
            200,
        )
        deliver(deliverer(db, settings), t)
        assert len(r.requests) == 2
        statuses = sorted(d["status"] for d in _deliveries(world, t, hook["id"]))
        assert statuses == ["failed", "succeeded"]  # the one answered 410 waits for a retry by hand


def _failures(reason: str) -> float:
    return REGISTRY.get_sample_value("roomwarden_webhook_failures_total", {"reason": reason}) or 0.0


def _mailed(db: Database, tenant_id: str, upn: str) -> None:
    with db.transaction(tenants=[uuid.UUID(tenant_id)]) as s:
        subjects = s.scalars(
            select(OutgoingMail.subject).where(
                OutgoingMail.tenant_id == uuid.UUID(tenant_id), OutgoingMail.to_address == upn.lower()
            )
        ).all()
    assert any("Webhook endpoint disabled" in subject for subject in subjects), subjects


def test_failing_for_the_window_disables_the_endpoint(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    d = deliverer(db, settings, webhook_retry_schedule=[0.2] * 10, webhook_disable_after_seconds=1)
    with receiver(status=302) as r:  # a redirect is a failure, and is not followed
        hook = endpoint(world, t, r.url)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(d, t)
        read = expect(
            world.client.get(f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}", headers=t.admin.headers), 200
        )
        assert read["enabled"] is True and read["failing_since"] is not None
        deadline = time.monotonic() + 5
        while read["enabled"] and time.monotonic() < deadline:
            time.sleep(0.25)
            deliver(d, t)
            read = expect(
                world.client.get(f"/api/v1/tenants/{t.id}/webhooks/{hook['id']}", headers=t.admin.headers),
                200,
            )
        assert read["enabled"] is False and "failing since" in read["disabled_reason"]
        assert all(req.path == "/hook" for req in r.requests)  # never the redirect's target
        _mailed(db, t.id, t.admin.upn)
        [delivery] = _deliveries(world, t, hook["id"])
        assert delivery["response_code"] == 302


def test_the_old_secret_signs_for_a_day_after_a_rotation(
    world: World, db: Database, settings: Settings
) -> None:
    t = world.tenant()
    with receiver() as r:
        hook = endpoint(world, t, r.url)
        rotated = world.post(t, f"/webhooks/{hook['id']}/rotate-secret", None)
        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        new = rotated.json()["secret"]
        assert new != hook["secret"] and new.startswith("whsec_")
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(deliverer(db, settings), t)
        r.bodies(new)
        r.bodies(hook["secret"])  # both verify
        with world.transaction() as s:
            s.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == uuid.UUID(hook["id"]))
                .values(previous_secret_until=utcnow() - timedelta(seconds=1))
            )
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(deliverer(db, settings), t)
        r.requests[-1].verified(new)
        with pytest.raises(WebhookVerificationError):
            r.requests[-1].verified(hook["secret"])


def test_a_slow_endpoint_holds_back_no_other(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    with receiver() as slow, receiver() as fast:
        slow.delay = 2.0
        hooks = [endpoint(world, t, slow.url), endpoint(world, t, fast.url)]
        for _ in range(3):
            for hook in hooks:
                expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        d = deliverer(db, settings)
        runner = threading.Thread(target=deliver, args=(d, t))
        runner.start()
        wait_until(lambda: len(fast.requests) == 3, seconds=1.8)  # before the slow one's first answer
        assert len(slow.requests) == 1
        runner.join()
        assert len(slow.requests) == 3
        assert json.loads(fast.requests[0].body)["type"] == "webhook.test"


def test_the_schedule_and_the_window_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().webhook_retry_schedule == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert Settings().webhook_disable_after_seconds == 5 * 86400
    assert Settings().webhook_timeout_seconds == 15
    monkeypatch.setenv("ROOMWARDEN_WEBHOOK_RETRY_SCHEDULE", "1, 2.5,3")
    monkeypatch.setenv("ROOMWARDEN_WEBHOOK_DISABLE_AFTER_SECONDS", "60")
    monkeypatch.setenv("ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE", "true")
    s = Settings()
    assert s.webhook_retry_schedule == [1, 2.5, 3] and s.webhook_disable_after_seconds == 60
    assert s.webhook_allow_private is True
    monkeypatch.setenv("ROOMWARDEN_WEBHOOK_RETRY_SCHEDULE", "5,-1")
    with pytest.raises(ValueError):
        Settings()


def _webhook_runner(db: Database, settings: Settings, retry: list[float]) -> Runner:
    """A job runner of the delivery job alone, as `roomwarden serve` runs it, polling jobs
    every 0.2 s, the deliveries' own poll an hour away, retries after ``retry``."""
    fast = settings.model_copy(
        update={"webhook_poll_seconds": 3600, "jobs_poll_seconds": 0.2, "webhook_retry_schedule": retry}
    )
    registry = JobRegistry()
    registry.add(deliverer(db, fast).job())
    runner = Runner(db, fast, registry)
    runner.prepare()
    return runner


def test_the_job_runner_delivers_on_its_own(world: World, db: Database, settings: Settings) -> None:
    """As `roomwarden serve` or `roomwarden worker` run it: a committed change reaches the
    receiver without anyone asking, woken by the commit (not the poll)."""
    t = world.tenant()
    runner = _webhook_runner(db, settings, retry=[0.5])
    with receiver() as r:
        r.answers = [503]  # the first attempt fails: the retry comes on the schedule, not the poll
        hook = endpoint(world, t, r.url, TICKETS)
        runner.start()
        try:
            world.incident(t, world.room(t)["id"])
            wait_until(lambda: len(r.requests) == 2, seconds=20)  # far within the hour-long poll
        finally:
            runner.stop()
        bodies = r.bodies(hook["secret"])
        assert [b["type"] for b in bodies] == ["ticket.opened", "ticket.opened"]
        [done] = _deliveries(world, t, hook["id"])
        assert done["status"] == "succeeded" and done["attempts"] == 2


def test_old_deliveries_and_events_are_forgotten(world: World, db: Database, settings: Settings) -> None:
    t = world.tenant()
    with receiver() as r:
        hook = endpoint(world, t, r.url)
        for _ in range(2):
            expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        deliver(deliverer(db, settings), t)
    expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)  # still pending
    tid = uuid.UUID(t.id)
    with world.transaction() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tid)
            .values(created_at=utcnow() - timedelta(days=40))
        )
        s.execute(
            update(EventRecord)
            .where(EventRecord.tenant_id == tid)
            .values(dispatched_at=utcnow() - timedelta(days=40))
        )
    with world.transaction() as s:
        prune(s, utcnow() - timedelta(days=30))
    statuses = [d["status"] for d in _deliveries(world, t, hook["id"])]
    assert statuses == ["pending"]


def test_waiting_deliveries_of_a_disabled_endpoint_do_not_keep_the_job_running(
    world: World, db: Database, settings: Settings
) -> None:
    t = world.tenant()
    with receiver(status=410) as r:
        hook = endpoint(world, t, r.url)
        for _ in range(2):
            expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        d = deliverer(db, settings)
        jobs.ensure_jobs(db, [WEBHOOK_JOB])
        time.sleep(0.5)  # the wakes of those commits (coalesced, a quarter second apart) are done
        with world.transaction() as s:  # as a claim leaves it: due at the next poll
            s.execute(update(Job).where(Job.name == WEBHOOK_JOB).values(due_at=utcnow() + timedelta(hours=1)))
        d._run_job(JobContext(db, settings, time.monotonic() + 30))
        assert len(r.requests) == 1  # disabled by the 410; the other delivery waits, due
        spec = d.job()
        assert spec.next_due is not None
        jobs.due_by_next(db, WEBHOOK_JOB, spec.next_due)  # as the runner does after each run
    with world.transaction() as s:
        due = s.scalar(select(Job.due_at).where(Job.name == WEBHOOK_JOB))
        # the waiting delivery does not wake the job (other tests' retries may)
        mine = spec.next_due().where(WebhookDelivery.tenant_id == uuid.UUID(t.id))
        assert s.scalar(mine) is None
    assert due is not None and due > utcnow()  # not due again at once: no busy loop


def test_a_round_serves_only_tenants_with_work_due(world: World, db: Database, settings: Settings) -> None:
    """A tenant whose one delivery waits for its retry is not served by a round (under
    row-level security each tenant served is a transaction of its own, at every wake); it is
    served once the retry falls due."""
    t = world.tenant()
    d = deliverer(db, settings, webhook_retry_schedule=[600])
    spec = d.job()
    assert spec.tenants_with_work is not None
    tid = uuid.UUID(t.id)
    with receiver(status=503) as r:
        hook = endpoint(world, t, r.url)
        expect(world.post(t, f"/webhooks/{hook['id']}/test", None), 201)
        assert tid in jobs.tenant_ids(db, spec.tenants_with_work)  # an event to dispatch
        deliver(d, t)
        assert len(r.requests) == 1
    assert tid not in jobs.tenant_ids(db, spec.tenants_with_work)  # the retry waits ten minutes
    with world.transaction() as s:
        s.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == tid)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    assert tid in jobs.tenant_ids(db, spec.tenants_with_work)


def test_a_retry_wakes_the_job_whichever_tenant_ran_last(
    world: World, db: Database, settings: Settings
) -> None:
    """A run for one tenant's new event must not push back another tenant's retry to the
    hour-long poll: after every run the job is made due by the next waiting delivery of any
    tenant."""
    waiting, busy = world.tenant(), world.tenant()
    runner = _webhook_runner(db, settings, retry=[4])
    with receiver() as first, receiver() as second:
        first.answers = [503]  # retried about 4 s later
        hook = endpoint(world, waiting, first.url, TICKETS)
        endpoint(world, busy, second.url, TICKETS)
        runner.start()
        try:
            world.incident(waiting, world.room(waiting)["id"])
            wait_until(lambda: len(first.requests) == 1, seconds=20)
            # the other tenant's change wakes the job, whose claim moves it to the next poll
            world.incident(busy, world.room(busy)["id"])
            wait_until(lambda: len(second.requests) == 1, seconds=20)
            wait_until(lambda: len(first.requests) == 2, seconds=30)
        finally:
            runner.stop()
        [done] = _deliveries(world, waiting, hook["id"])
        assert done["status"] == "succeeded" and done["attempts"] == 2
