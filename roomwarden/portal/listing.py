"""A list page's columns, count and pages (SPEC §9, issue 22): the list sorts by the column
whose header link was followed (again: the other way), says how many rows it found, and
pages them with **Previous page** / **Next page** (and **First page**) links that keep every
filter and the sort. The state lives in the address only (``sort``, ``page`` and the
filters), so every link is a plain GET and needs no JavaScript.

A page builds a ``Listing`` from its query parameters, orders its statement with ``fetch``
(the count and one page, ordered by an indexed key with a tie-break on the id) and draws
``macros.html``'s ``sort_header``, ``result_count`` and ``pager``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

#: a column or expression a list is ordered by
Key = ColumnElement[Any] | InstrumentedAttribute[Any]
#: a page number beyond this is not a page (it is also the most a query parameter carries)
MAX_PAGE = 10**8


@dataclass(frozen=True)
class Listing:
    """The filters as given, the sort and the page number of one list page."""

    values: Mapping[str, str]
    #: the columns the list sorts by
    columns: Sequence[str]
    #: the column and direction of the list when no ``sort`` is given
    default: str
    default_descending: bool = False
    #: a column of ``columns``, "-" first for descending; empty: the default
    sort: str = ""
    number: int = 1
    #: filters kept in every link but not counted as narrowing the list (e.g. a room)
    hidden: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def read(
        cls,
        values: Mapping[str, str],
        *,
        columns: Sequence[str],
        default: str,
        default_descending: bool = False,
        sort: str = "",
        page: str = "",
    ) -> Listing:
        """A sort that names no column is the default one; a page that is not a number is the
        first."""
        listing = cls(dict(values), tuple(columns), default, default_descending)
        chosen = sort if sort.lstrip("-") in columns else ""
        number = int(page) if page.isdigit() and 0 < int(page) < MAX_PAGE else 1
        return cls(
            dict(values), tuple(columns), default, default_descending, listing._canonical(chosen), number
        )

    def __getattr__(self, name: str) -> str:
        """A filter's value by its name (``listing.q``), as the templates read them."""
        values = object.__getattribute__(self, "values")
        if name in values:
            return str(values[name])
        raise AttributeError(name)

    @property
    def column(self) -> str:
        return self.sort.lstrip("-") or self.default

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-") if self.sort else self.default_descending

    @property
    def any(self) -> bool:
        """Some filter narrows the list."""
        return any(v for k, v in self.values.items() if k not in self.hidden)

    def _canonical(self, sort: str) -> str:
        """``sort`` as written in links: empty for the default order."""
        column = sort.lstrip("-") or self.default
        descending = sort.startswith("-") if sort else self.default_descending
        if column == self.default and descending == self.default_descending:
            return ""
        return f"-{column}" if descending else column

    def query(self, **extra: str) -> str:
        """The query string of this list with ``extra`` changed (empty values left out)."""
        pairs = {**self.values, "sort": self.sort, **extra}
        return urlencode({k: v for k, v in pairs.items() if v})

    def sort_link(self, column: str) -> str:
        """The query that sorts by ``column``: ascending first (a time: newest first), the
        other way when it already sorts so; back on the first page."""
        if self.column == column:
            toggled = column if self.descending else f"-{column}"
        else:
            toggled = f"-{column}" if column == self.default and self.default_descending else column
        return self.query(sort=self._canonical(toggled), page="")

    def aria_sort(self, column: str) -> str:
        if self.column != column:
            return "none"
        return "descending" if self.descending else "ascending"

    def page_query(self, number: int) -> str:
        return self.query(page=str(number) if number > 1 else "")


@dataclass(frozen=True)
class Found:
    """One page of a list, with the number of rows found and of pages."""

    items: list[Any]
    found: int
    number: int
    pages: int


def fetch(
    session: Session,
    stmt: Select[Any],
    listing: Listing,
    keys: Mapping[str, Key | tuple[Key, ...]],
    tiebreak: Key,
    page_size: int,
) -> Found:
    """The count of ``stmt`` and the page ``listing`` asks for, ordered by the key of its
    column and then ``tiebreak`` (both the same way). A key given as a tuple orders by its
    first element that way and then by the others as written (e.g. waiting first, and each
    part newest first). A page past the last is the last."""
    found = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    pages = max(1, -(-found // page_size))
    number = min(listing.number, pages)
    chosen = keys[listing.column]
    key, *then = chosen if isinstance(chosen, tuple) else (chosen,)
    way = "desc" if listing.descending else "asc"
    order = (getattr(key, way)(), *then, getattr(tiebreak, way)())
    rows = session.scalars(stmt.order_by(*order).offset((number - 1) * page_size).limit(page_size))
    return Found(list(rows), found, number, pages)
