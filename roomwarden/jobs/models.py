from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roomwarden.kit.db import Base
from roomwarden.kit.time import utcnow


class Job(Base):
    """One periodic job. ``due_at`` says when it should run next; ``lease_owner`` and
    ``lease_until`` say which process runs it now and until when that claim holds. Not owned
    by a tenant: a job works across tenants (each of its changes names its own tenant)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "due_at"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_started_at: Mapped[datetime | None] = mapped_column()
    last_finished_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(default=0)
    failures: Mapped[int] = mapped_column(default=0)
