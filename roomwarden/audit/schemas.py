from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

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
    user_id: str | None
    user_tenant_id: str | None
    details: dict[str, Any]


class VerifyRead(BaseModel):
    ok: bool
    records_checked: int
    first_bad_seq: int | None
    problem: str | None
