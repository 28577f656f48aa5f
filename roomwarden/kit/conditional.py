"""Conditional updates (RFC 9110 §13): a resource's ``version`` is its strong ``ETag``; a
change sent with ``If-Match`` is refused with 412 when no listed tag is the current one, so
two people editing the same object cannot silently overwrite each other.

A route declares ``IfMatchDep``; the service calls ``check`` for the object the request
addresses *after* its own visibility and permission checks (an object the caller may not see
answers 404, one it may not change 403, whatever the header says) and under the row lock it
takes for the change, then ``bump``s the version in the same transaction. Two requests that
read the same ETag therefore serialise on the lock, and the second finds a newer version.
Without ``If-Match`` a change is unconditional, as before. The expectation belongs to the
request: a held change approved later is not compared again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from sqlalchemy.orm import Session

from roomwarden.kit.errors import Invalid, PreconditionFailed

_KEY = "if_match"


def etag(version: int) -> str:
    return f'"v{version}"'


def _parse(raw: str) -> list[str]:
    tags = [t.strip() for t in raw.split(",") if t.strip()]
    if not tags:
        raise Invalid('If-Match: expected an entity tag such as "v3" (from the ETag header) or *')
    return tags


def _if_match(
    request: Request,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description='the ETag last read (e.g. `"v3"`): the change is refused with 412 if the '
            "object changed since",
        ),
    ] = None,
) -> None:
    # Kept as sent, and read by ``check`` after the caller was authenticated and the object
    # found visible and changeable: a malformed header must not answer before those do.
    session: Session | None = getattr(request.state, "session", None)
    if if_match is not None and session is not None:
        session.info[_KEY] = if_match


IfMatchDep = Depends(_if_match)


def expect_version(session: Session, version: int | None) -> None:
    """A form's hidden ``version`` field (the portal's forms), taken as ``If-Match`` would be:
    the change that follows in this session is refused with 412 unless the object is still at
    ``version``. ``None`` (no field sent) leaves the change unconditional."""
    if version is not None:
        session.info[_KEY] = etag(version)


def check(session: Session, obj: Any, what: str) -> None:
    """Refuse (412) when the request's If-Match names no current tag of ``obj``. Checked once
    per request: the addressed object only, not objects a change touches along the way."""
    raw: str | None = session.info.pop(_KEY, None)
    if raw is None:
        return
    tags = _parse(raw)
    if "*" in tags:
        return
    current = etag(obj.version)
    if current not in tags:
        raise PreconditionFailed(
            f"the {what} has changed since it was read (its ETag is now {current}, If-Match gave "
            f"{', '.join(tags)}): read it again and reapply the change"
        )


def bump(obj: Any) -> None:
    obj.version = (obj.version or 1) + 1


def tag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)
