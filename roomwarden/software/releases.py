"""The release catalogue: the operator publishes, everyone signed in reads.

A release is the operator's, outside every tenant, so no tenant's audit log records it; the
release row itself is the record (``published_at``, the notes), and publishing is logged on
``roomwarden.operator`` like the operator's other changes. "One release per component and
version" is the database's unique constraint on the version's key, so two publishers racing
get one 201 and one 409, and ``1.4`` after ``1.4.0`` is the same version (409).
"""

from __future__ import annotations

import logging

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from roomwarden.kit.errors import Conflict
from roomwarden.software import versions
from roomwarden.software.models import Release
from roomwarden.software.schemas import ReleaseCreate

log = logging.getLogger("roomwarden.operator")


def _exists(component: str, key: str) -> Select[str]:
    return select(Release.version).where(Release.component == component, Release.version_key == key)


def publish(session: Session, data: ReleaseCreate) -> Release:
    key = versions.key(data.version)
    assert key is not None  # the schema accepts dotted numbers only
    if (same := session.scalar(_exists(data.component, key))) is not None:
        raise Conflict(f"{data.component} {same} is already published")
    release = Release(component=data.component, version=data.version, version_key=key, notes=data.notes)
    try:
        with session.begin_nested():
            session.add(release)
            session.flush()
    except IntegrityError:  # published by a concurrent request since the check above
        raise Conflict(f"{data.component} {data.version} is already published") from None
    log.info("release published: %s %s (%s)", release.component, release.version, release.id)
    return release


def releases_query(component: str | None = None) -> Select[Release]:
    stmt = select(Release)
    if component is not None:
        stmt = stmt.where(Release.component == component)
    return stmt


def catalogue(session: Session) -> list[Release]:
    """Every release, by component and newest version first (for pages and the CLI)."""
    return list(session.scalars(select(Release).order_by(Release.component, Release.version_key.desc())))
