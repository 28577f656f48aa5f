"""``roomwarden room`` and ``roomwarden ring``: the operator's room operations from a shell,
their --json output, their confirmation, their audit records and their one-line refusals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import select

from roomwarden.access.operator import operator_access
from roomwarden.audit.models import AuditRecord
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.rooms import service, tickets
from roomwarden.rooms.schemas import IncidentCreate, RoomCreate
from roomwarden.settings import get_settings
from tests.cli.test_ops_cli import cli_env, create, ok, refused, run  # noqa: F401


def _seed(path: Path, tenant_id: str) -> tuple[str, str]:
    """A room with one ticket, and a second room, made through the service functions."""
    db = Database(f"sqlite:///{path}")
    box = SecretBox(get_settings().encryption_key.get_secret_value())
    with db.transaction() as session:
        access = operator_access(uuid.UUID(tenant_id))
        a = service.create_room(
            session,
            access,
            box,
            RoomCreate(name="Aurora", resource_account="aurora@alpha.example", country="US"),
        )
        b = service.create_room(
            session,
            access,
            box,
            RoomCreate(name="Borealis", resource_account="borealis@alpha.example", country="DE"),
        )
        tickets.create_incident(
            session, access, IncidentCreate(room_id=a.id, title="Display is blank", severity="warning")
        )
        ids = str(a.id), str(b.id)
    db.dispose()
    return ids


def _records(path: Path, tenant_id: str, category: str) -> list[AuditRecord]:
    db = Database(f"sqlite:///{path}")
    with db.transaction(write=False) as session:
        rows = list(
            session.scalars(
                select(AuditRecord)
                .where(AuditRecord.tenant_id == uuid.UUID(tenant_id), AuditRecord.category == category)
                .order_by(AuditRecord.seq)
            )
        )
        session.expunge_all()
    db.dispose()
    return rows


def test_room_list_enroll_and_delete(cli_env: Path) -> None:  # noqa: F811
    tenant = create("Alpha", "alpha.example")
    aurora, borealis = _seed(cli_env, tenant["id"])
    listed = json.loads(ok("room", "list", "alpha.example", "--json"))
    assert [r["name"] for r in listed] == ["Aurora", "Borealis"]
    assert [r["id"] for r in json.loads(ok("room", "list", tenant["id"], "--q", "bore", "--json"))] == [
        borealis
    ]
    assert "2 room(s)" in ok("room", "list", "alpha.example")

    assert "already enrolled" in refused("room", "enroll", "alpha.example", aurora)
    db = Database(f"sqlite:///{cli_env}")
    with db.transaction() as session:
        service.unenroll_room(session, operator_access(uuid.UUID(tenant["id"])), uuid.UUID(aurora))
    db.dispose()
    enrolled = json.loads(ok("room", "enroll", "alpha.example", "aurora@alpha.example", "--json"))
    assert (enrolled["id"], enrolled["enrollment_state"]) == (aurora, "enrolled")

    # Not confirmed: nothing happens.
    assert "not confirmed" in refused("room", "delete", "alpha.example", aurora, input="n\n")
    assert len(json.loads(ok("room", "list", "alpha.example", "--json"))) == 2
    done = json.loads(ok("room", "delete", "alpha.example", aurora, "--json", "--yes"))
    assert done == {"deleted": aurora, "name": "Aurora", "tickets_deleted": 1}
    assert "deleted room" in ok("room", "delete", "alpha.example", "borealis@alpha.example", input="y\n")
    assert json.loads(ok("room", "list", "alpha.example", "--json")) == []
    assert "no room with id or resource account" in refused(
        "room", "delete", "alpha.example", aurora, "--yes"
    )
    assert "no tenant" in refused("room", "delete", "nowhere.example", aurora, "--yes")

    rooms = [r for r in _records(cli_env, tenant["id"], "Room") if r.operation == "Delete"]
    assert [r.object_name for r in rooms] == ["Aurora", "Borealis"]
    assert all(r.user_id == "operator" and r.allowed_by == "Service operator" for r in rooms)
    [ticket] = [r for r in _records(cli_env, tenant["id"], "Ticket") if r.operation == "Delete"]
    assert ticket.details["ticket"]["title"] == "Display is blank"
    assert json.loads(ok("audit", "verify", "--tenant", tenant["id"], "--json"))["ok"] is True


def test_ring_list_and_delete(cli_env: Path) -> None:  # noqa: F811
    tenant = create("Alpha", "alpha.example")
    rings = {r["name"]: r for r in json.loads(ok("ring", "list", "alpha.example", "--json"))}
    assert rings["General"]["is_default"] and rings["General"]["room_count"] == 0
    aurora, _ = _seed(cli_env, tenant["id"])
    after = {r["name"]: r for r in json.loads(ok("ring", "list", "alpha.example", "--json"))}
    assert after["General"]["room_count"] == 2
    assert "default update ring" in refused("ring", "delete", "alpha.example", "General")
    done = json.loads(ok("ring", "delete", "alpha.example", "Validation", "--json"))
    assert done == {"deleted": rings["Validation"]["id"], "name": "Validation"}
    assert "no update ring" in refused("ring", "delete", "alpha.example", rings["Validation"]["id"])
    assert "1 update ring(s)" in ok("ring", "list", "alpha.example")
    result = run("ring", "delete", "alpha.example")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert aurora
