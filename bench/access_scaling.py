"""Access decisions and list pages must not get slower as a tenant grows.

Builds two worlds in one run — a small tenant and a large one (default 1,000 and 100,000
rooms, each next to a number of other tenants) — and measures, per world:

- ``decision``: resolve a scoped user's access and fetch one in-scope room (the work behind
  ``GET /rooms/{id}``);
- ``list_all``: the first and a later page (limit 50) of rooms for an all-rooms user;
- ``list_scoped``: the first page of rooms for a user scoped to a 200-room group.

Reports the median of repeated runs and the large/small ratio; a ratio near 1 means the cost
depends on the page size and the principal's grants, not on the number of rooms. Results go
to ``bench/results/access_scaling.json``.

    .venv/bin/python -m bench.access_scaling [--sizes 1000,100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench._common import machine_facts
from roomwarden.access.models import AssignmentMember, Role, RoleAssignment, Scope, ScopeGroup
from roomwarden.access.resolver import resolve_access
from roomwarden.identity.models import User
from roomwarden.identity.principal import Principal
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.ids import new_id
from roomwarden.kit.migrate import upgrade
from roomwarden.kit.pagination import PageParams, encode_cursor, paginate
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember, UpdateRing
from roomwarden.rooms.service import list_rooms_query, visible_room
from roomwarden.settings import DEMO_ENCRYPTION_KEY
from roomwarden.tenants.schemas import AdminCreate, TenantCreate
from roomwarden.tenants.service import create_tenant

RESULTS = Path(__file__).resolve().parent / "results" / "access_scaling.json"
COUNTRIES = ["US", "DE", "GB", "KR", "JP", "FR", "IN", "BR"]


def _tenant(db: Database, name: str) -> tuple[uuid.UUID, User]:
    with db.transaction() as session:
        domain = f"{name}-{uuid.uuid4().hex[:8]}.example.com"
        tenant, admin = create_tenant(
            session,
            TenantCreate(
                name=name,
                domains=[domain],
                admin=AdminCreate(upn=f"admin@{domain}", display_name="Admin", password="bench-password"),
            ),
        )
        return tenant.id, admin


def _bulk_rooms(db: Database, tenant_id: uuid.UUID, count: int, sealed: str) -> list[uuid.UUID]:
    with db.transaction() as session:
        ring = session.query(UpdateRing).filter_by(tenant_id=tenant_id, is_default=True).one()
        ids: list[uuid.UUID] = []
        batch: list[dict[str, Any]] = []
        for i in range(count):
            rid = new_id()
            ids.append(rid)
            batch.append(
                {
                    "id": rid,
                    "tenant_id": tenant_id,
                    "name": f"Room {i}",
                    "resource_account": f"r{i}@x.example.com",
                    "country": COUNTRIES[i % len(COUNTRIES)],
                    "city": "",
                    "building": "",
                    "update_ring_id": ring.id,
                    "enrollment_state": "enrolled",
                    "reported_health": "healthy",
                    "enrollment_key_sealed": sealed,
                    "created_at": _now(),
                    "updated_at": _now(),
                }
            )
            if len(batch) == 5000:
                session.execute(insert(Room), batch)
                batch = []
        if batch:
            session.execute(insert(Room), batch)
    return ids


def _now() -> datetime:
    from roomwarden.kit.time import utcnow

    return utcnow()


def _scoped_user(
    db: Database, tenant_id: uuid.UUID, room_ids: list[uuid.UUID]
) -> tuple[Principal, uuid.UUID]:
    """A Site Tech scoped to a group of 200 rooms spread across the tenant, and one of its rooms."""
    with db.transaction() as session:
        user = User(
            tenant_id=tenant_id, upn=f"tech-{uuid.uuid4().hex[:8]}@x.example.com", display_name="Tech"
        )
        group = RoomGroup(tenant_id=tenant_id, name=f"Bench group {uuid.uuid4().hex[:6]}")
        session.add_all([user, group])
        session.flush()
        step = max(1, len(room_ids) // 200)
        members = room_ids[::step][:200]
        session.execute(
            insert(RoomGroupMember),
            [{"tenant_id": tenant_id, "group_id": group.id, "room_id": r} for r in members],
        )
        role = session.query(Role).filter_by(tenant_id=tenant_id, name="Site Tech").one()
        scope = Scope(tenant_id=tenant_id, all_rooms=False)
        session.add(scope)
        session.flush()
        session.add(ScopeGroup(tenant_id=tenant_id, scope_id=scope.id, group_id=group.id))
        assignment = RoleAssignment(tenant_id=tenant_id, role_id=role.id, scope_id=scope.id, name="bench")
        session.add(assignment)
        session.flush()
        session.add(
            AssignmentMember(
                tenant_id=tenant_id, assignment_id=assignment.id, member_tenant_id=tenant_id, user_id=user.id
            )
        )
        return Principal(user.id, tenant_id, user.upn, user.display_name, False), members[len(members) // 2]


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm up caches and statement compilation
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def measure(db: Database, rooms: int, other_tenants: int, repeat: int) -> dict[str, Any]:
    box = SecretBox(DEMO_ENCRYPTION_KEY)
    sealed = box.seal("bench-key")
    for i in range(other_tenants):
        tid, _ = _tenant(db, f"other{i}")
        _bulk_rooms(db, tid, max(1, rooms // max(1, other_tenants)), sealed)
    tenant_id, admin = _tenant(db, "bench")
    room_ids = _bulk_rooms(db, tenant_id, rooms, sealed)
    scoped, in_scope_room = _scoped_user(db, tenant_id, room_ids)
    ga = Principal(admin.id, tenant_id, admin.upn, admin.display_name, True)
    later_cursor = encode_cursor(room_ids[len(room_ids) // 2])

    def decision() -> None:
        with db.transaction(write=False) as session:
            access = resolve_access(session, scoped, tenant_id)
            visible_room(session, access, in_scope_room)

    def page(principal: Principal, cursor: str | None) -> Callable[[], None]:
        def run() -> None:
            with db.transaction(write=False) as session:
                access = resolve_access(session, principal, tenant_id)
                params = PageParams(limit=50, cursor=cursor)
                stmt = list_rooms_query(access, page=params)
                result = paginate(session, stmt, Room.id, params, lambda r: r.id)
                assert len(result.items) == 50

        return run

    return {
        "rooms": rooms,
        "other_tenants": other_tenants,
        "decision_ms": _median_ms(decision, repeat),
        "list_all_first_page_ms": _median_ms(page(ga, None), repeat),
        "list_all_later_page_ms": _median_ms(page(ga, later_cursor), repeat),
        "list_scoped_first_page_ms": _median_ms(page(scoped, None), repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,100000", help="small,large room counts")
    parser.add_argument("--other-tenants", default="2,20", help="other tenants beside the small,large tenant")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per world")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    facts = machine_facts(args.database_url)
    small, large = (int(x) for x in args.sizes.split(","))
    others_small, others_large = (int(x) for x in args.other_tenants.split(","))
    worlds = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (rooms, others) in enumerate(((small, others_small), (large, others_large))):
            url = args.database_url or f"sqlite:///{tmp}/bench{n}.db"
            db = Database(url)
            upgrade(db)
            print(f"building and measuring {rooms} rooms beside {others} other tenants ...", flush=True)
            worlds.append(measure(db, rooms, others, args.repeat))
            db.dispose()
    keys = [k for k in worlds[0] if k.endswith("_ms")]
    ratios = {k: round(worlds[1][k] / worlds[0][k], 2) for k in keys}
    report = {
        "benchmark": "access_scaling",
        "database": "sqlite" if not args.database_url else args.database_url.split(":", 1)[0],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": facts,
        "parameters": {"sizes": args.sizes, "other_tenants": args.other_tenants, "repeat": args.repeat},
        "small": worlds[0],
        "large": worlds[1],
        "ratio_large_over_small": ratios,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'measure':32} {'small ms':>10} {'large ms':>10} {'ratio':>7}")
    for k in keys:
        print(f"{k:32} {worlds[0][k]:10.2f} {worlds[1][k]:10.2f} {ratios[k]:7.2f}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
