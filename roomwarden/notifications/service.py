"""Queueing and delivering e-mail.

``queue_mail`` writes to the outbox inside the caller's transaction, so a rolled-back
change never sends anything. Delivery is the background job ``mail.deliver`` (roomwarden/jobs):
it runs every ``mail_retry_seconds``, and after a transaction that queued mail commits,
``Mailer.after_commit`` makes it due at once.

Each message is delivered on its own, in a transaction of its own: it is claimed with a
row lock (other workers skip it), sent, and its outcome committed before the next one is
touched, so one bad message can never hold back or re-send the others. A failure the
server may recover from is retried with exponential back-off until ``mail_max_attempts``;
a message that can never be sent (refused recipients, a malformed message) fails at once.
A message whose reason has passed (an invitation no longer pending) is dropped, not sent.
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
import threading
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.orm import Session

from roomwarden.jobs.registry import JobContext, JobSpec
from roomwarden.kit import metrics
from roomwarden.kit.db import Base, Database, state_tenants, state_tenants_of
from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from roomwarden.settings import Settings
from roomwarden.tenants.models import EVERY_TENANT

log = logging.getLogger("roomwarden.mail")
MAIL_QUEUED = "mail_queued"
MAIL_JOB = "mail.deliver"
# Where a body shows its link; replaced at send time by the link under ROOMWARDEN_PUBLIC_URL.
LINK = "{link}"
STATUSES = ("pending", "sent", "failed", "dropped")


@dataclass(frozen=True, slots=True)
class Reason:
    """Send the mail only while row ``id`` of ``table`` is in ``status`` (and, if given,
    ``until`` has not passed)."""

    table: str
    id: uuid.UUID
    status: str
    until: datetime | None = None


def queue_mail(
    session: Session,
    tenant_id: uuid.UUID,
    to: Iterable[str],
    subject: str,
    body: str,
    *,
    link: str | None = None,
    reason: Reason | None = None,
) -> int:
    """Queue one message per distinct address; returns how many were queued. ``link`` is a
    path under ROOMWARDEN_PUBLIC_URL (or an absolute URL), shown where the body says
    ``LINK`` or else at its end."""
    addresses = sorted({a.strip().lower() for a in to if a and a.strip()})
    for address in addresses:
        session.add(
            OutgoingMail(
                tenant_id=tenant_id,
                to_address=address,
                subject=" ".join(subject.split())[:300],
                body=body,
                link=link,
                reason_table=reason.table if reason else None,
                reason_id=reason.id if reason else None,
                reason_status=reason.status if reason else None,
                reason_until=reason.until if reason else None,
            )
        )
    if addresses:
        session.flush()
        session.info[MAIL_QUEUED] = True
    return len(addresses)


def _due() -> ColumnElement[bool]:
    """Messages due now: pending and not waiting for a retry or a lease."""
    return and_(OutgoingMail.status == "pending", OutgoingMail.next_attempt_at <= utcnow())


def public_link(settings: Settings, path: str) -> str:
    return settings.public_url.rstrip("/") + "/" + path.lstrip("/")


def reason_passed(session: Session, mail: OutgoingMail) -> str | None:
    """Why the mail should no longer be sent, or None while its reason holds."""
    if mail.reason_table is None or mail.reason_id is None:
        return None
    if mail.reason_until is not None and mail.reason_until <= utcnow():
        return f"{mail.reason_table} expired"
    table = Base.metadata.tables.get(mail.reason_table)
    if not isinstance(table, Table):
        return f"unknown reason {mail.reason_table}"
    status = session.scalar(select(table.c.status).where(table.c.id == mail.reason_id))
    if status is None:
        return f"{mail.reason_table} no longer exists"
    if status != mail.reason_status:
        return f"{mail.reason_table} is now {status}"
    return None


class PermanentFailure(Exception):
    """A message that no retry will deliver."""


def build_message(settings: Settings, mail: OutgoingMail) -> EmailMessage:
    """Plain text first, with an HTML alternative; Date and a Message-ID that stays the
    same across retries, so a receiver can drop a duplicate."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow(), usegmt=True)
    host = urlsplit(settings.public_url).hostname or "roomwarden"
    message["Message-ID"] = f"<{mail.id}@{host}>"
    message["Auto-Submitted"] = "auto-generated"
    text = mail.body
    if mail.link:
        url = public_link(settings, mail.link) if mail.link.startswith("/") else mail.link
        text = text.replace(LINK, url) if LINK in text else f"{text.rstrip()}\n\n{url}\n"
    message.set_content(text)
    message.add_alternative(_html(text), subtype="html")
    return message


_URL = re.compile(r"https?://[^\s<>\"]+")


def _html(text: str) -> str:
    paragraphs = []
    for block in text.strip().split("\n\n"):
        escaped = html.escape(block)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "<!doctype html>\n<html><body>\n" + "\n".join(paragraphs) + "\n</body></html>\n"


def mail_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: n for status, n in rows})
    return counts


def pending_mail(session: Session) -> int:
    """Messages waiting to be sent (``roomwarden_job_queue_depth{queue="mail"}``)."""
    return session.scalar(select(func.count()).where(OutgoingMail.status == "pending")) or 0


metrics.queue_depths["mail"] = pending_mail


def retry_failed(session: Session, ids: Iterable[uuid.UUID] | None = None) -> int:
    """Put failed messages (all, or the given ones) back in the queue, due now."""
    stmt = select(OutgoingMail).where(OutgoingMail.status == "failed")
    if ids is not None:
        stmt = stmt.where(OutgoingMail.id.in_(list(ids)))
    rows = session.scalars(stmt.with_for_update()).all()
    for mail in rows:
        mail.status, mail.attempts, mail.next_attempt_at = "pending", 0, utcnow()
    session.flush()
    return len(rows)


def _permanent(exc: BaseException) -> bool:
    """Failures no retry will cure: a recipient or message refused with a 5xx answer, a
    malformed message. A 4xx — also at RCPT, as greylisting servers answer a first attempt
    — asks to try again later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, PermanentFailure | ValueError | UnicodeError):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


class Mailer:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        #: Called after a commit that queued mail: makes the delivery job due now.
        self.on_queued: Callable[[], None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def after_commit(self, info: dict[str, Any]) -> None:
        """Post-commit hook: have the delivery job send what the transaction queued."""
        if self.enabled and info.get(MAIL_QUEUED) and self.on_queued is not None:
            try:
                self.on_queued()
            except Exception:  # the change is committed; the job's next round sends it
                log.exception("could not wake the mail job")

    def job(self) -> JobSpec:
        return JobSpec(
            MAIL_JOB,
            lambda s: float(s.mail_retry_seconds),
            self._run_job,
            # the tenants with a message due (the others have nothing to send)
            tenants_with_work=lambda: select(OutgoingMail.tenant_id).where(_due()),
        )

    def _run_job(self, context: JobContext) -> int:
        sent = 0
        if not self.enabled:
            return 0
        tenants = None if context.tenant_id is None else [context.tenant_id]
        with self._lock:
            while context.time_left():
                outcome = self._deliver_one(tenants)
                if outcome is None:
                    break
                sent += outcome == "sent"
        return sent

    def deliver_due(self, limit: int = 5000, tenant_ids: Collection[uuid.UUID] | None = None) -> int:
        """Deliver due messages one at a time, each in its own transaction, until none is
        due (or ``limit`` were tried); return how many were sent. One delivery at a time per
        process; across processes, claimed rows are locked and skipped."""
        if not self.enabled:
            return 0
        sent = 0
        with self._lock:
            for _ in range(limit):
                outcome = self._deliver_one(tenant_ids)
                if outcome is None:
                    break
                sent += outcome == "sent"
        return sent

    def deliver_next(self, tenant_ids: Collection[uuid.UUID] | None = None) -> str | None:
        """Deliver the next due message (of these tenants): "sent", "retry", "failed",
        "dropped", or None when nothing is due."""
        with self._lock:
            return self._deliver_one(tenant_ids)

    def _deliver_one(self, tenant_ids: Collection[uuid.UUID] | None = None) -> str | None:
        """Claim one due message (a short transaction that moves it out of the queue for a
        lease), send it outside any transaction, then record the outcome. A process that
        dies mid-send leaves the message due again when the lease ends."""
        lease = timedelta(seconds=self.settings.smtp_timeout_seconds * 3 + 5)
        due = select(OutgoingMail).where(_due())
        if tenant_ids is not None:
            due = due.where(OutgoingMail.tenant_id.in_(list(tenant_ids)))
        with self.db.transaction() as session:
            if tenant_ids is None:  # the whole instance's queue (``roomwarden mail send``)
                state_tenants_of(session, EVERY_TENANT)
            else:
                state_tenants(session, tenant_ids)
            mail = session.scalars(
                due.order_by(OutgoingMail.next_attempt_at, OutgoingMail.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if mail is None:
                return None
            if why := reason_passed(session, mail):
                mail.status, mail.last_error = "dropped", why
                log.info("dropped mail %s to %s: %s", mail.id, mail.to_address, why)
                return "dropped"
            mail.next_attempt_at = utcnow() + lease
            try:
                message = build_message(self.settings, mail)
            except (ValueError, TypeError, UnicodeError) as exc:
                mail.attempts += 1
                return self._give_up(mail, exc)
            mail_id, tenant_id = mail.id, mail.tenant_id
        error = self._try_send(message)
        with self.db.transaction() as session:
            state_tenants(session, [tenant_id])
            claimed = session.get(OutgoingMail, mail_id, with_for_update=True)
            if claimed is None:  # its tenant was deleted meanwhile
                return "dropped"
            claimed.attempts += 1
            if error is None:
                claimed.status, claimed.sent_at, claimed.last_error = "sent", utcnow(), None
                return "sent"
            if _permanent(error):
                return self._give_up(claimed, error)
            return self._later(claimed, error)

    def _try_send(self, message: EmailMessage) -> BaseException | None:
        try:
            self._send(message)
        except (PermanentFailure, OSError, smtplib.SMTPException, ValueError, UnicodeError) as exc:
            return exc
        return None

    def _give_up(self, mail: OutgoingMail, exc: BaseException) -> str:
        mail.status = "failed"
        mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        metrics.MAIL_FAILURES.labels("failed").inc()
        log.error("giving up on mail %s to %s: %s", mail.id, mail.to_address, exc)
        return "failed"

    def _later(self, mail: OutgoingMail, exc: BaseException) -> str:
        if mail.attempts >= self.settings.mail_max_attempts:
            return self._give_up(mail, exc)
        mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        delay = min(self.settings.mail_retry_seconds * 2 ** (mail.attempts - 1), 6 * 3600)
        mail.next_attempt_at = utcnow() + timedelta(seconds=delay)
        metrics.MAIL_FAILURES.labels("retry").inc()
        log.warning("mail %s to %s failed, retry in %ss: %s", mail.id, mail.to_address, delay, exc)
        return "retry"

    def _send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.secret("smtp_password"))
            refused = smtp.send_message(message)
            if refused:  # some recipients of several: judged by their codes, as all of them
                raise smtplib.SMTPRecipientsRefused(refused)
