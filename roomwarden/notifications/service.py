"""Queueing and delivering e-mail.

``queue_mail`` writes to the outbox inside the caller's transaction, so a rolled-back
change never sends anything. After a request commits, ``Mailer.after_commit`` wakes a
delivery in a background thread; a retry loop delivers what failed, with exponential
back-off, until ``mail_max_attempts``.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import uuid
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from roomwarden.kit.db import Database
from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from roomwarden.settings import Settings

log = logging.getLogger("roomwarden.mail")
MAIL_QUEUED = "mail_queued"


def queue_mail(session: Session, tenant_id: uuid.UUID, to: list[str], subject: str, body: str) -> None:
    for address in sorted(set(to)):
        session.add(OutgoingMail(tenant_id=tenant_id, to_address=address, subject=subject[:300], body=body))
    session.flush()
    session.info[MAIL_QUEUED] = True


class Mailer:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def after_commit(self, info: dict[str, Any]) -> None:
        """Post-commit hook: deliver in the background what the transaction queued."""
        if self.enabled and info.get(MAIL_QUEUED):
            threading.Thread(target=self.deliver_due, name="roomwarden-mail", daemon=True).start()

    def deliver_due(self, batch: int = 50, max_batches: int = 100) -> int:
        """Send every due message once, in batches; return how many were sent. One delivery
        at a time per process; across processes, rows are locked and skipped."""
        sent = 0
        for _ in range(max_batches):
            done, tried = self._deliver_batch(batch)
            sent += done
            if tried < batch:
                break
        return sent

    def _deliver_batch(self, batch: int) -> tuple[int, int]:
        if not self.enabled:
            return 0, 0
        sent = 0
        with self._lock, self.db.transaction() as session:
            due = session.scalars(
                select(OutgoingMail)
                .where(OutgoingMail.status == "pending", OutgoingMail.next_attempt_at <= utcnow())
                .order_by(OutgoingMail.next_attempt_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for mail in due:
                sent += self._attempt(mail)
        return sent, len(due)

    def _attempt(self, mail: OutgoingMail) -> int:
        mail.attempts += 1
        try:
            self._send(mail)
        except (OSError, smtplib.SMTPException) as exc:
            mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if mail.attempts >= self.settings.mail_max_attempts:
                mail.status = "failed"
                log.error("giving up on mail %s to %s: %s", mail.id, mail.to_address, exc)
            else:
                delay = self.settings.mail_retry_seconds * 2 ** (mail.attempts - 1)
                mail.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.warning("mail %s to %s failed, retry in %ss: %s", mail.id, mail.to_address, delay, exc)
            return 0
        mail.status = "sent"
        mail.sent_at = utcnow()
        mail.last_error = None
        return 1

    def _send(self, mail: OutgoingMail) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message["Message-ID"] = f"<{mail.id}@roomwarden>"
        message.set_content(mail.body)
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(message)

    def start_retry_loop(self) -> None:
        if not self.enabled or self._loop is not None:
            return
        self._stop.clear()
        self._loop = threading.Thread(target=self._run_loop, name="roomwarden-mail-retry", daemon=True)
        self._loop.start()

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout=5)
            self._loop = None

    def _run_loop(self) -> None:
        while not self._stop.wait(self.settings.mail_retry_seconds):
            try:
                self.deliver_due()
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("mail delivery loop failed")
