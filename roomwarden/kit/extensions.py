"""Extension points: how a lower package asks something of a higher one without importing it.

The domain packages depend on each other in one order (docs/architecture.md). When a lower
package must let a higher one decide or react — access asks "may this role change?" and the
partner rules about Primary admins answer; rooms says "a group's members changed" and the
partner links that name the group record it — the lower package declares the question here,
as a ``Slot`` (one implementation, asked for an answer) or an ``Event`` (any number of
handlers, told what happened), and the higher package fills it at start-up
(``roomwarden.wiring.install``).

Both fail closed. Asking an empty slot, or emitting a required event nobody handles, raises
``MissingExtension`` rather than skipping a rule; ``check_installed`` is called by the
application and the command line at start-up, so a missing registration stops the process
before it serves anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
P = TypeVar("P")


class MissingExtension(RuntimeError):
    """A rule's implementation was never registered: refuse rather than skip it."""


_declared: list[Slot[object] | Event[object]] = []


class Slot(Generic[T]):
    """One implementation of ``T`` that a higher package registers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._impl: T | None = None
        _declared.append(self)  # type: ignore[arg-type]

    def register(self, impl: T) -> None:
        if self._impl is not None and self._impl is not impl:
            raise RuntimeError(f"{self.name} is already registered")
        self._impl = impl

    @property
    def installed(self) -> bool:
        return self._impl is not None

    def __call__(self) -> T:
        if self._impl is None:
            raise MissingExtension(f"{self.name} is not registered (roomwarden.wiring.install)")
        return self._impl


class Event(Generic[P]):
    """A fact a lower package announces inside its transaction; each handler runs at once, in
    the same transaction, in the order it was connected. A ``required`` event must have a
    handler: it carries a rule of a higher package that may not be skipped."""

    def __init__(self, name: str, *, required: bool = True) -> None:
        self.name = name
        self.required = required
        self._handlers: list[Callable[[P], None]] = []
        _declared.append(self)  # type: ignore[arg-type]

    def connect(self, handler: Callable[[P], None]) -> None:
        if handler not in self._handlers:
            self._handlers.append(handler)

    @property
    def installed(self) -> bool:
        return bool(self._handlers) or not self.required

    def emit(self, payload: P) -> None:
        if not self.installed:
            raise MissingExtension(f"{self.name} has no handler (roomwarden.wiring.install)")
        for handler in self._handlers:
            handler(payload)


def check_installed() -> None:
    """Raise ``MissingExtension`` naming every slot or required event left empty."""
    missing = sorted(point.name for point in _declared if not point.installed)
    if missing:
        raise MissingExtension(f"not registered: {', '.join(missing)} (roomwarden.wiring.install)")
