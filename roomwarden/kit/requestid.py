"""Request ids: each request gets one, returned in ``X-Request-ID`` and written in every log
line of the request (kit/logs.py).

An incoming ``X-Request-ID`` (set by a proxy or a client to follow a request across
services) is kept only when it is 1–128 characters of ``[A-Za-z0-9._-]``: anything else
(empty, too long, spaces, quotes, control characters) could forge or break log lines, and is
replaced by a fresh id."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = b"x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._-]{1,128}")

#: the id of the request being served (the thread pool copies the context, so synchronous
#: endpoints see it too); empty outside a request
current: ContextVar[str] = ContextVar("roomwarden_request_id", default="")


def new_id() -> str:
    return secrets.token_hex(16)


def accept(incoming: bytes | None) -> str:
    """The request's id: the incoming one when well-formed, else a fresh one."""
    if incoming is not None and _WELL_FORMED.fullmatch(incoming):
        return incoming.decode("ascii")
    return new_id()
