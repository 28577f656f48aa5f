"""Forms: reading submitted values, validating them with the API's own input models, and
the errors a refused form shows next to its fields."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from roomwarden.kit.errors import AppError, Invalid
from roomwarden.portal.web import sentence

M = TypeVar("M", bound=BaseModel)
FORM = "_form"  # errors that belong to no single field


class FieldErrors(Invalid):
    """Invalid input, with a message per field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()) or "the input is not valid")
        self.fields = fields


def _message(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    msg = msg.strip()
    msg = msg[:1].upper() + msg[1:]
    return msg if msg.endswith(".") else msg + "."


def validate(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from form values, or ``FieldErrors`` naming each field in words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
            fields.setdefault(loc[0] if loc else FORM, _message(err["msg"]))
        raise FieldErrors(fields) from exc


def errors_of(error: AppError, field: str | None = None) -> dict[str, str]:
    """Field messages of a refusal: those of a validation, or the service's sentence on the
    field it names (``AppError.field``), else on ``field`` (or on the form as a whole)."""
    if isinstance(error, FieldErrors):
        return error.fields
    return {error.field or field or FORM: sentence(error.detail)}


def text(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def ids(form: FormData, name: str) -> list[uuid.UUID]:
    """Checked ids of a group of checkboxes (or a multiple select); anything that is not an
    id is ignored, as no choice offered could have sent it."""
    out = []
    for value in form.getlist(name):
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def values(form: FormData, *names: str) -> dict[str, str]:
    return {n: text(form, n) for n in names}
