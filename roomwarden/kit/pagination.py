"""Keyset pagination: ``?limit=&cursor=`` → ``{"items": [...], "next_cursor": ...}``.

A page costs one index range scan of ``limit + 1`` rows whatever the table's size; the
cursor is the last id of the previous page (ids are time-ordered UUIDs).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from roomwarden.kit.errors import Invalid

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("cursor is not valid", extra={"errors": [{"loc": ["query", "cursor"]}]}) from exc


class PageParams(BaseModel):
    limit: int
    cursor: str | None

    @property
    def after(self) -> uuid.UUID | None:
        return decode_cursor(self.cursor) if self.cursor else None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64, description="from next_cursor")] = None,
) -> PageParams:
    params = PageParams(limit=limit, cursor=cursor)
    _ = params.after  # reject a malformed cursor before any query runs
    return params


def paginate(
    session: Session,
    stmt: Select,
    id_column: InstrumentedAttribute[uuid.UUID],
    params: PageParams,
    render: Callable[[Any], T],
    *,
    scalars: bool = True,
) -> Page[T]:
    if (after := params.after) is not None:
        stmt = stmt.where(id_column > after)
    stmt = stmt.order_by(id_column).limit(params.limit + 1)
    rows: Sequence[Any] = session.scalars(stmt).all() if scalars else session.execute(stmt).all()
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        last_id = last.id if scalars else last[0].id
        next_cursor = encode_cursor(last_id)
    return Page[T](items=[render(r) for r in rows], next_cursor=next_cursor)


PageDep = Annotated[PageParams, Depends(page_params)]
Search = Annotated[
    str | None,
    Query(max_length=200, pattern=r"^[^\x00]*$", description="case-insensitive substring"),
]
