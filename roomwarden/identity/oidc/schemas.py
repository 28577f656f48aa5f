from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, StringConstraints, model_validator

from roomwarden.kit.schemas import ONE_LINE, Input

Claim = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), ONE_LINE]
ClaimValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ONE_LINE]
Acr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ONE_LINE]
Issuer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), ONE_LINE]
ClientId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), ONE_LINE]


class IdentityProviderUpdate(Input):
    """``type: local`` switches the tenant to local accounts (its users are kept, and so is
    the provider's configuration, for a later switch back). ``type: oidc`` needs ``issuer``
    and ``client_id``, and ``client_secret`` unless one is stored already for that client."""

    type: Literal["local", "oidc"]
    issuer: Issuer | None = None
    client_id: ClientId | None = None
    client_secret: SecretStr | None = Field(default=None, max_length=2000)
    #: a claim of the ID token that makes the user Global admin when it holds ``admin_value``
    #: (or, for a list claim such as ``groups``, when it contains it); off when absent
    admin_claim: Claim | None = None
    admin_value: ClaimValue | None = None
    #: ``acr`` values that count as a multi-factor sign-in, besides ``amr``
    mfa_acr_values: list[Acr] = Field(default_factory=list, max_length=20)
    #: this issuer's ``preferred_username`` names the person (Entra ID's does): accounts may be
    #: linked and provisioned from it, not only from an ``email`` the token marks verified.
    #: Off unless given, so a change of issuer turns it off unless it is said again.
    trust_preferred_username: bool = False

    @model_validator(mode="after")
    def complete(self) -> IdentityProviderUpdate:
        if self.type == "oidc" and (self.issuer is None or self.client_id is None):
            raise ValueError("an OpenID Connect provider needs an issuer and a client_id")
        if (self.admin_claim is None) != (self.admin_value is None):
            raise ValueError("admin_claim and admin_value go together: give both or neither")
        if self.admin_claim in {"sub", "iss", "aud", "nonce", "exp", "iat"}:
            raise ValueError(f"{self.admin_claim!r} cannot make a user Global admin")
        return self


class IdentityProviderRead(BaseModel):
    type: Literal["local", "oidc"]
    issuer: str | None = None
    client_id: str | None = None
    #: whether a client secret is stored (the secret itself is never returned)
    client_secret_set: bool = False
    admin_claim: str | None = None
    admin_value: str | None = None
    mfa_acr_values: list[str] = Field(default_factory=list)
    trust_preferred_username: bool = False
    #: the redirect URI to register at the provider
    redirect_uri: str
    updated_at: datetime | None = None
