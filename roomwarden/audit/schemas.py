from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from roomwarden.kit.schemas import Output


class AuditRead(Output):
    id: uuid.UUID
    seq: int
    category: str
    object_name: str
    object_id: str | None
    operation: str
    result_status: str
    tenant_id: uuid.UUID
    creation_time: datetime
    user_id: str | None = Field(description="the actor's user id, or `operator`/`system`")
    user_tenant_id: str | None
    user_upn: str | None = Field(description="the actor's UPN when the record was written")
    user_display_name: str | None = Field(description="the actor's display name when the record was written")
    partner_tenant_name: str | None = Field(
        description="for a partner user's action: the partner tenant's name"
    )
    allowed_by: str | None = Field(description="the role(s) that allowed the action, or `Global admin`")
    details: dict[str, Any]


class VerifyRead(BaseModel):
    ok: bool
    records_checked: int
    first_bad_seq: int | None
    problem: str | None
