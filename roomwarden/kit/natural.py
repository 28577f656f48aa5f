"""Natural sort for names, in the database (issue 22): "Aurora2" before "Aurora10", at any
scale. A name's key is stored beside it, written with the name, and indexed per tenant, so a
list ordered by name is an index walk with a LIMIT — never a sort of every row, nor of rows
loaded into Python.

The key folds letter case and accents ("Émile" sorts with "emile") and writes every run of
digits as its length (two digits) and then the number without leading zeros, so numbers
compare by value: ``aurora2`` → ``aurora012``, ``aurora10`` → ``aurora0210``. Keys compare
by code point (``COLLATE "C"`` on PostgreSQL, SQLite's default), so the order is the same on
both databases and under every locale.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.orm import InstrumentedAttribute, MappedColumn, mapped_column
from sqlalchemy.types import TypeEngine

_DIGITS = re.compile(r"(\d+)")
#: a name of 200 characters gives at most a key of 600 (each lone digit becomes three)
KEY_LENGTH = 600


def natural_key(name: str) -> str:
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    ).casefold()
    parts = _DIGITS.split(folded)
    for i in range(1, len(parts), 2):
        number = str(int(parts[i]))  # without leading zeros; other scripts' digits by value
        parts[i] = f"{min(len(number), 99):02d}{number}"
    return "".join(parts)[:KEY_LENGTH]


def key_type() -> TypeEngine[str]:
    """The key's column type: compared by code point on PostgreSQL as on SQLite."""
    return String(KEY_LENGTH).with_variant(String(KEY_LENGTH, collation="C"), "postgresql")


def sort_key_column(source: str) -> MappedColumn[Any]:
    """The key of the column ``source``, filled on every insert (also bulk ones, from the
    row's own values); ``keep_sort_key`` keeps it on every change through the ORM."""

    def default(context: Any) -> str:
        return natural_key(context.get_current_parameters()[source])

    return mapped_column(key_type(), default=default)


def keep_sort_key(source: InstrumentedAttribute[str], key: str) -> None:
    """Whenever ``source`` is set on an object (created or changed), its key follows."""

    def follow(target: Any, value: str, _old: Any, _initiator: Any) -> None:
        setattr(target, key, natural_key(value))

    event.listen(source, "set", follow)
