"""Shared Pydantic building blocks: strict input models and constrained field types."""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from roomwarden.kit.password_policy import MAX_LENGTH as MAX_PASSWORD_LENGTH
from roomwarden.kit.password_policy import check_password

_LINE_BREAKS = "\u2028\u2029"


class SecretBearing(BaseModel):
    """A response body that carries a secret (a token, a key, a factor's seed, recovery
    codes): the route answering it says ``Cache-Control: no-store`` (kit.api), so no browser
    or proxy cache keeps a copy."""


def _one_line(value: str) -> str:
    """Names end up in mail headers, CSV cells and log lines: no control characters (CR/LF
    could forge a header or a row) and no Unicode line or paragraph separators."""
    if any(unicodedata.category(ch) == "Cc" or ch in _LINE_BREAKS for ch in value):
        raise ValueError("must be one line of text without control characters")
    return value


def _text(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_one_line)
]
ShortName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_one_line)
]
Text = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_text)]


#: Read once: listing the tz database walks its files.
_zones = functools.cache(zoneinfo.available_timezones)


def _time_zone(value: str) -> str:
    name = value.strip()
    if name not in _zones() and name != "UTC":
        raise ValueError("must be an IANA time zone name, e.g. Europe/Berlin, America/New_York, UTC")
    return name


#: An IANA time zone name (validated against the tz database the service ships, tzdata).
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_time_zone)]
#: For constrained strings of other sizes: one line (a place, a label), or free text.
ONE_LINE = AfterValidator(_one_line)
FREE_TEXT = AfterValidator(_text)
#: A new password (roomwarden/kit/password_policy.py). Models that also know whose password
#: it is re-check it with the person's own words (``PasswordOwner``).
Password = Annotated[str, StringConstraints(max_length=MAX_PASSWORD_LENGTH), AfterValidator(check_password)]


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"(?:{_LABEL}\.)+[a-z]{{2,63}}")
_LOCAL_RE = re.compile(r"[a-z0-9._%+\-']{1,64}")


def _domain(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 253 or not _DOMAIN_RE.fullmatch(value):
        raise ValueError("must be a DNS domain name such as contoso.com")
    return value


def _upn(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if len(value) > 320 or not _LOCAL_RE.fullmatch(local) or not _DOMAIN_RE.fullmatch(domain):
        raise ValueError("must be a user principal name such as alice@contoso.com")
    return value


Domain = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]
Upn = Annotated[str, StringConstraints(max_length=320), AfterValidator(_upn)]


def _reject_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_nul(item)


class Input(BaseModel):
    """Request bodies: unknown fields are an error, never silently dropped, and no text may
    carry a NUL character (PostgreSQL cannot store one; SQLite would, and then differ)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    @model_validator(mode="before")
    @classmethod
    def no_nul_characters(cls, data: Any) -> Any:
        _reject_nul(data)
        return data


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Patch(Input):
    """A partial update: every field may be omitted, but not all of them. An empty update
    changes nothing and would still be recorded as a change, so it is invalid input (422);
    a caller allowed none of the fields it names is refused by the service (403).

    An omitted field reads as ``None`` while its type stays non-nullable, so that an explicit
    ``null`` is refused: hence the ``# type: ignore`` on the ``None`` defaults of subclasses."""

    @model_validator(mode="after")
    def names_a_field(self) -> Any:
        if not self.model_fields_set:
            raise ValueError("the update is empty: name at least one field to change")
        return self


class PasswordOwner(Input):
    """Mixin for inputs with ``upn``, ``display_name`` and ``password``: a password built
    from the person's own name, user name or domain is refused."""

    @model_validator(mode="after")
    def _password_not_own_words(self) -> Any:
        password = getattr(self, "password", None)
        if password:
            check_password(password, [getattr(self, "upn", ""), getattr(self, "display_name", "")])
        return self
