"""One trip through the thread pool per request.

FastAPI runs each synchronous dependency in a trip of its own through the thread pool, then
the synchronous endpoint in another, and ``TransactionalRoute`` committed in a third. A trip
is a hand-over to a worker thread and back to the event loop: measured at ~0.3 ms each on
the path of an authorised ``GET`` (docs/performance.md), more than the statements it runs.

Here a route's synchronous dependencies are *put off* (``_Deferred``): FastAPI awaits a
stand-in on the event loop that only records the call and its arguments, and the endpoint's
trip calls them first, in the order FastAPI would have, then the endpoint, checks its answer
against the response model, and commits: one trip where there were three or more.

What stays as it was:

- a dependency is put off only when everything that uses its value is the endpoint or
  another put-off dependency (an ``async`` dependency would be handed a stand-in);
- when the request fails before its endpoint runs (a malformed parameter, an ``async``
  dependency refusing), the put-off dependencies run first in the trip that rolls back: a
  refusal of the caller (401, 403, 404) is still what the caller hears, before anything is
  said about its input;
- the answer is checked against the response model before the commit, while the session is
  still open (an attribute loaded lazily still loads), and a wrong answer rolls back.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute, _effective_route_context_var
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

Hooks = list[Callable[[dict[Any, Any]], None]]


class _Deferred:
    """A synchronous dependency's call with its arguments, made in the endpoint's trip."""

    __slots__ = ("call", "done", "value", "values")

    def __init__(self, call: Callable[..., Any], values: dict[str, Any]) -> None:
        self.call, self.values, self.done, self.value = call, values, False, None

    def resolve(self) -> Any:
        if not self.done:
            self.value = self.call(**_resolved(self.values))
            self.done = True
        return self.value


def _resolved(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.resolve() if isinstance(v, _Deferred) else v for k, v in values.items()}


class Serving:
    """One request's transaction as ``TransactionalRoute`` serves it: the session, what to
    run after its commit, and the dependencies put off so far (in the order FastAPI asked
    for them, which is the order it would have called them in)."""

    __slots__ = ("deferred", "finished", "hooks", "session")

    def __init__(self, session: Session, hooks: Hooks) -> None:
        self.session, self.hooks = session, hooks
        self.deferred: list[_Deferred] = []
        self.finished = False  # committed or rolled back, and closed

    def serve(self, call: Callable[..., Any], values: dict[str, Any], field: Any) -> Any:
        """In the pool: the put-off dependencies, the endpoint, the check of its answer,
        the commit and the after-commit hooks."""
        try:
            for deferred in self.deferred:
                deferred.resolve()
            raw = call(**_resolved(values))
            answer = raw
            if field is not None and not isinstance(raw, Response):  # FastAPI sends a Response as is
                answer, errors = field.validate(raw, {}, loc=("response",))
                if errors:
                    raise ResponseValidationError(errors=errors, body=raw)
        except BaseException:
            self.finish(commit=False)
            raise
        self.finish(commit=True)
        return answer

    def settle(self) -> None:
        """In the pool, when the request failed before its endpoint ran: the put-off
        dependencies not yet called (their refusal comes first, as it would have), then the
        rollback."""
        try:
            for deferred in self.deferred:
                deferred.resolve()
        finally:
            self.finish(commit=False)

    def rollback(self) -> None:
        self.finish(commit=False)

    def finish(self, *, commit: bool) -> None:
        self.finished = True
        if commit:
            _commit_close_and_notify(self.session, self.hooks)
        else:
            rollback_and_close(self.session)


#: the request ``TransactionalRoute.run`` is serving in this task
serving: ContextVar[Serving | None] = ContextVar("roomwarden_serving", default=None)


def one_trip(route: APIRoute) -> None:
    """Serve ``route`` in one trip through the pool (see the module's text). An included
    route is built from its inclusion's own copy (FastAPI's effective route context): that
    copy is the one changed. An ``async`` endpoint is left as it is."""
    effective = _effective_route_context_var.get()
    target: Any = effective if effective is not None and effective.original_route is route else route
    dependant: Dependant = target.dependant
    call = dependant.call
    if not _plain_sync(call):
        return
    assert call is not None
    stand_ins = {c: _putting_off(c) for c in _deferrable(dependant)}
    _replace_calls(dependant, stand_ins)
    field = target.response_field

    @functools.wraps(call)
    async def in_pool(**values: Any) -> Any:
        current = serving.get()
        if current is None:  # not served by TransactionalRoute.run
            return await run_in_threadpool(call, **_resolved(values))
        return await run_in_threadpool(current.serve, call, values, field)

    dependant.call = in_pool


def _plain_sync(call: Any) -> bool:
    return (
        inspect.isfunction(call)
        and not inspect.iscoroutinefunction(call)
        and not inspect.isgeneratorfunction(call)
        and not inspect.isasyncgenfunction(call)
    )


_ENDPOINT = object()


def _deferrable(root: Dependant) -> set[Callable[..., Any]]:
    """The synchronous dependencies whose every user is the endpoint or another of them.
    FastAPI hands every user of a dependency the one value it cached for its call, so a
    call is put off everywhere in the route or nowhere."""
    users: dict[Any, list[Any]] = {}
    pending = [(root, _ENDPOINT)]
    while pending:
        node, user = pending.pop()
        for sub in node.dependencies:
            users.setdefault(sub.call, []).append(user)
            pending.append((sub, sub.call))
    chosen = {c for c in users if _plain_sync(c)}
    changed = True
    while changed:
        changed = False
        for c in list(chosen):
            if any(u is not _ENDPOINT and u not in chosen for u in users[c]):
                chosen.discard(c)
                changed = True
    return chosen


def _replace_calls(root: Dependant, stand_ins: dict[Callable[..., Any], Callable[..., Any]]) -> None:
    pending = list(root.dependencies)
    while pending:
        node = pending.pop()
        if node.call in stand_ins:
            node.call = stand_ins[node.call]
        pending.extend(node.dependencies)


def _putting_off(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    async def put_off(**values: Any) -> Any:
        current = serving.get()
        if current is None:  # not served by TransactionalRoute.run: call it as FastAPI would
            return await run_in_threadpool(call, **_resolved(values))
        deferred = _Deferred(call, values)
        current.deferred.append(deferred)
        return deferred

    return put_off


def _commit_and_close(session: Session) -> dict[Any, Any]:
    """Commit, then close (whether or not the commit went through); the session's ``info``
    as it was after the commit, for the after-commit hooks."""
    try:
        session.commit()
        return dict(session.info)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _commit_close_and_notify(session: Session, hooks: Hooks) -> None:
    """``_commit_and_close``, then each after-commit hook with the session's ``info``."""
    info = _commit_and_close(session)
    for hook in hooks:
        hook(info)


def rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()
