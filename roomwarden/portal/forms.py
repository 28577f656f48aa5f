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


def _plural(n: Any, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# What a person reads for each kind of refusal of the input models (pydantic's error types):
# written for people, never the validator's own wording ("List should have at least 1 item
# after validation"). The service's own refusals (value errors) keep their sentences.
_WORDS: dict[str, Any] = {
    "missing": lambda c: "This field is required.",
    "string_too_short": lambda c: (
        "This field is required."
        if c.get("min_length", 1) <= 1
        else f"Enter at least {_plural(c['min_length'], 'character', 'characters')}."
    ),
    "string_too_long": lambda c: f"Use at most {_plural(c['max_length'], 'character', 'characters')}.",
    "too_short": lambda c: (
        "Choose at least one." if c.get("min_length", 1) <= 1 else f"Choose at least {c['min_length']}."
    ),
    "too_long": lambda c: f"Choose at most {c['max_length']}.",
    "string_pattern_mismatch": lambda c: "This is not in the expected form.",
    "int_parsing": lambda c: "Enter a whole number.",
    "int_from_float": lambda c: "Enter a whole number.",
    "float_parsing": lambda c: "Enter a number.",
    "greater_than_equal": lambda c: f"Enter {c['ge']} or more.",
    "less_than_equal": lambda c: f"Enter {c['le']} or less.",
    "greater_than": lambda c: f"Enter more than {c['gt']}.",
    "less_than": lambda c: f"Enter less than {c['lt']}.",
    "uuid_parsing": lambda c: "Choose one of the items offered.",
    "uuid_type": lambda c: "Choose one of the items offered.",
    "enum": lambda c: "Choose one of the options offered.",
    "literal_error": lambda c: "Choose one of the options offered.",
    "bool_parsing": lambda c: "Choose yes or no.",
    "date_parsing": lambda c: "Enter a date as YYYY-MM-DD.",
    "date_from_datetime_parsing": lambda c: "Enter a date as YYYY-MM-DD.",
    "datetime_parsing": lambda c: "Enter a date and time as YYYY-MM-DD HH:MM.",
    "datetime_from_date_parsing": lambda c: "Enter a date and time as YYYY-MM-DD HH:MM.",
    "url_parsing": lambda c: "Enter a full address, such as https://example.com/hook.",
    "url_scheme": lambda c: "Enter an address that starts with https://.",
    "value_error": None,  # the model's own sentence
}


def field_message(err: Any) -> str:
    """One validation error (an item of ``ValidationError.errors()``) in words for people."""
    words = _WORDS.get(err.get("type", ""))
    if words is not None:
        try:
            return str(words(err.get("ctx") or {}))
        except KeyError:
            pass
    return _message(err["msg"])


def validate(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from form values, or ``FieldErrors`` naming each field in words."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
            fields.setdefault(loc[0] if loc else FORM, field_message(err))
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
