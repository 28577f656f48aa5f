"""One error hierarchy, rendered as RFC 9457 problem details by the API and as a message
by the portal and the CLI."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        #: the input the refusal is about, when it is one (a form shows it next to that field)
        self.field = field

    def problem(self) -> dict[str, Any]:
        slug = self.title.lower().replace(" ", "-")
        return {
            "type": f"https://roomwarden.dev/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class Unauthenticated(AppError):
    status = 401
    title = "Not authenticated"


class Forbidden(AppError):
    status = 403
    title = "Forbidden"


class NotFound(AppError):
    status = 404
    title = "Not found"


class Conflict(AppError):
    status = 409
    title = "Conflict"


class PreconditionFailed(AppError):
    status = 412
    title = "Precondition failed"


class Invalid(AppError):
    status = 422
    title = "Invalid input"


class TooManyRequests(AppError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
