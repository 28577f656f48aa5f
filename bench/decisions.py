"""Partner decisions and list pages at any delegation size, against a reference engine.

One customer tenant with ``--rooms`` rooms (default 10,000 and 100,000, one world each) and
two partners: one delegated a group of 125 rooms, the other a group of 12,500 (capped at
the tenant's size), the groups spread over the whole tenant. Per partner it measures, in the
same run:

- ``decision``: resolve the partner technician's access and fetch one in-scope room (the
  work behind ``GET /rooms/{id}``), p50 and p99;
- ``first_page``: the first page (50) of the partner's room list;
- the same two with the definition evaluated at query time (listed rooms ``UNION`` group
  members, the engine before materialisation) — the "before" of the same run;
- pycasbin's ``Enforcer`` and ``FastEnforcer`` on the same policy (RBAC with domains, a
  room-to-scope grouping), for the same queries, counting agreement.

Results go to ``bench/results/decisions[_postgresql].json``.

    .venv/bin/python -m bench.decisions [--rooms 10000,100000] [--database-url URL] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, insert, select, union

from bench._common import machine_facts
from bench.access_scaling import _bulk_rooms, _tenant
from roomwarden.access import resolver
from roomwarden.access.models import ScopeGroup, ScopeRoom
from roomwarden.access.resolver import resolve_access
from roomwarden.access.schemas import ScopeIn
from roomwarden.identity.principal import Principal
from roomwarden.kit.db import Database
from roomwarden.kit.errors import NotFound
from roomwarden.kit.migrate import upgrade
from roomwarden.kit.pagination import PageParams, paginate
from roomwarden.rooms.models import Room, RoomGroup, RoomGroupMember
from roomwarden.rooms.service import list_rooms_query, visible_room

RESULTS = Path(__file__).resolve().parent / "results"
SCOPES = (125, 12_500)

MODEL = """
[request_definition]
r = sub, dom, obj, act
[policy_definition]
p = sub, dom, obj, act
[role_definition]
g = _, _, _
g2 = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && g2(r.obj, p.obj) && r.act == p.act
"""


def _group(db: Database, tenant_id: uuid.UUID, rooms: list[uuid.UUID], size: int) -> tuple[uuid.UUID, list]:
    step = max(1, len(rooms) // size)
    members = rooms[::step][:size]
    with db.transaction() as session:
        group = RoomGroup(tenant_id=tenant_id, name=f"Delegated {size}")
        session.add(group)
        session.flush()
        for i in range(0, len(members), 5000):
            session.execute(
                insert(RoomGroupMember),
                [{"tenant_id": tenant_id, "group_id": group.id, "room_id": r} for r in members[i : i + 5000]],
            )
        return group.id, members


def _partner(db: Database, customer_id: uuid.UUID, customer_admin: Any, group_id: uuid.UUID) -> Principal:
    from roomwarden.partners.links import establish_link

    partner_id, partner_admin = _tenant(db, "partner")
    with db.transaction() as session:
        customer = resolve_access(
            session,
            Principal(customer_admin.id, customer_id, customer_admin.upn, customer_admin.display_name, True),
            customer_id,
        )
        acceptor = Principal(
            partner_admin.id, partner_id, partner_admin.upn, partner_admin.display_name, True
        )
        domain = partner_admin.upn.split("@", 1)[1]
        establish_link(
            session, customer, acceptor, partner_domain=domain, scope=ScopeIn(room_groups=[group_id])
        )
    return Principal(partner_admin.id, partner_id, partner_admin.upn, partner_admin.display_name, True)


def _definition_rooms(scope_ids: frozenset[uuid.UUID]) -> Any:
    """The scopes' rooms by their definition: listed rooms ``UNION`` group members."""
    ids = sorted(scope_ids)
    direct = select(ScopeRoom.room_id).where(ScopeRoom.scope_id.in_(ids))
    via_groups = (
        select(RoomGroupMember.room_id)
        .join(ScopeGroup, ScopeGroup.group_id == RoomGroupMember.group_id)
        .where(ScopeGroup.scope_id.in_(ids))
    )
    return union(direct, via_groups)


def _definition_in_scopes(
    scope_ids: frozenset[uuid.UUID], room_id: resolver.RoomIdColumn
) -> ColumnElement[bool]:
    """The check before materialisation: the scope's definition evaluated in the query."""
    return room_id.in_(_definition_rooms(scope_ids))


def _definition_first_ids(
    self: Any, room_id: resolver.RoomIdColumn, after: Any, count: int
) -> ColumnElement[bool]:
    limits = self._limits()
    if not limits:
        return resolver.true()
    eff = _definition_rooms(limits[0]).subquery("eff")
    page = select(eff.c.room_id)
    for ids in limits[1:]:
        page = page.where(_definition_in_scopes(ids, eff.c.room_id))
    if after is not None:
        page = page.where(eff.c.room_id > after)
    return room_id.in_(page.order_by(eff.c.room_id).limit(count))


@contextmanager
def definition_engine() -> Iterator[None]:
    saved = resolver._in_scopes, resolver.RoomSet.first_ids
    resolver._in_scopes = _definition_in_scopes
    resolver.RoomSet.first_ids = _definition_first_ids  # type: ignore[method-assign]
    try:
        yield
    finally:
        resolver._in_scopes, resolver.RoomSet.first_ids = saved  # type: ignore[method-assign]


def _casbin(kind: str, principal: Principal, customer_id: uuid.UUID, members: list[uuid.UUID]) -> Any:
    import casbin
    from casbin.model import Model

    model = Model()
    model.load_model_from_text(MODEL)
    enforcer = (casbin.FastEnforcer if kind == "fast" else casbin.Enforcer)(model)
    dom, sub, scope = str(customer_id), str(principal.user_id), "scope"
    enforcer.add_policy("primary-admins", dom, scope, "rooms.view")
    enforcer.add_grouping_policy(sub, "primary-admins", dom)
    enforcer.add_named_grouping_policies("g2", [[str(r), scope] for r in members])
    return lambda room: enforcer.enforce(sub, dom, str(room), "rooms.view")


def _interleaved(variants: dict[str, Callable[[], Any]], repeat: int) -> dict[str, dict[str, float]]:
    """Run the variants round-robin, so that whatever else the machine is doing weighs on
    each of them alike; the ratios of their medians are the figures to read."""
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        for _ in range(3):
            fn()
    for _ in range(repeat):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - t0) * 1000)
    out = {}
    for name, xs in samples.items():
        xs.sort()
        out[name] = {
            "p50_ms": round(statistics.median(xs), 4),
            "p99_ms": round(xs[int(len(xs) * 0.99) - 1], 4),
        }
    return out


def _definition(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with definition_engine():
            return fn()

    return run


def measure(db: Database, rooms: int, repeat: int, queries: int) -> dict[str, Any]:
    customer_id, admin = _tenant(db, "customer")
    room_ids = _bulk_rooms(db, customer_id, rooms, "sealed-bench-key")
    result: dict[str, Any] = {"rooms": rooms}
    rng = random.Random(rooms)
    variants: dict[str, Callable[[], Any]] = {}
    agreement: dict[str, dict[str, str]] = {}
    for size in SCOPES:
        group_id, members = _group(db, customer_id, room_ids, min(size, rooms))
        partner = _partner(db, customer_id, admin, group_id)
        target = members[len(members) // 2]

        def decision(room: uuid.UUID = target, who: Principal = partner) -> bool:
            with db.transaction(write=False) as session:
                access = resolve_access(session, who, customer_id)
                try:
                    visible_room(session, access, room)
                    return True
                except NotFound:
                    return False

        def first_page(who: Principal = partner) -> None:
            with db.transaction(write=False) as session:
                access = resolve_access(session, who, customer_id)
                params = PageParams(limit=50, cursor=None)
                stmt = list_rooms_query(access, page=params)
                page = paginate(session, stmt, Room.id, params, lambda r: r.id)
                assert len(page.items) == 50

        variants[f"scope_{size}.decision"] = decision
        variants[f"scope_{size}.first_page"] = first_page
        variants[f"scope_{size}.decision_definition"] = _definition(decision)
        variants[f"scope_{size}.first_page_definition"] = _definition(first_page)
        asked = [rng.choice(members) if i % 2 else rng.choice(room_ids) for i in range(queries)]
        ours = [decision(room) for room in asked]
        agreement[f"scope_{size}"] = {"scope_rooms": str(len(members))}
        for kind in ("enforcer", "fast"):
            enforce = _casbin(kind, partner, customer_id, members)

            def run(e: Any = enforce, t: uuid.UUID = target) -> Any:
                return e(t)

            variants[f"scope_{size}.casbin_{kind}"] = run
            theirs = [enforce(room) for room in asked]
            agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
            agreement[f"scope_{size}"][f"casbin_{kind}_agreement"] = f"{agree}/{queries}"
    for name, figures in _interleaved(variants, repeat).items():
        scope, what = name.split(".")
        result.setdefault(scope, dict(agreement[scope]))[what] = figures
    return result


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rooms", default="10000,100000", help="tenant sizes, one world each")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--queries", type=int, default=500, help="random decisions compared with casbin")
    parser.add_argument(
        "--database-url", default=None, help="an empty database; default a SQLite file per world"
    )
    parser.add_argument("--output", default=None, help="default bench/results/decisions[_postgresql].json")
    args = parser.parse_args()
    facts = machine_facts(args.database_url)
    worlds = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, rooms in enumerate(int(x) for x in args.rooms.split(",")):
            url = args.database_url or f"sqlite:///{tmp}/decisions{n}.db"
            db = Database(url)
            upgrade(db)
            print(f"building and measuring a {rooms}-room tenant ...", flush=True)
            worlds.append(measure(db, rooms, args.repeat, args.queries))
            db.dispose()
    small, large = SCOPES
    summary = {}
    for w in worlds:
        a, b = w[f"scope_{small}"], w[f"scope_{large}"]
        summary[str(w["rooms"])] = {
            "decision_large_over_small_scope": _ratio(b["decision"]["p50_ms"], a["decision"]["p50_ms"]),
            "first_page_large_over_small_scope": _ratio(b["first_page"]["p50_ms"], a["first_page"]["p50_ms"]),
            "definition_decision_large_over_small_scope": _ratio(
                b["decision_definition"]["p50_ms"], a["decision_definition"]["p50_ms"]
            ),
            "decision_speedup_over_definition_large_scope": _ratio(
                b["decision_definition"]["p50_ms"], b["decision"]["p50_ms"]
            ),
            "page_p99_over_p50_large_scope": _ratio(b["first_page"]["p99_ms"], b["first_page"]["p50_ms"]),
            "casbin_enforcer_over_ours_large_scope": _ratio(
                b["casbin_enforcer"]["p50_ms"], b["decision"]["p50_ms"]
            ),
        }
    if len(worlds) == 2:
        s, l_ = worlds
        summary["tenant_growth"] = {
            f"{k}_scope_{small}_large_over_small_tenant": _ratio(
                l_[f"scope_{small}"][k]["p50_ms"], s[f"scope_{small}"][k]["p50_ms"]
            )
            for k in ("decision", "first_page")
        }
    database = "sqlite" if not args.database_url else "postgresql"
    report = {
        "benchmark": "decisions",
        "database": database,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": facts,
        "parameters": {"rooms": args.rooms, "repeat": args.repeat, "queries": args.queries},
        "worlds": worlds,
        "summary": summary,
    }
    name = "decisions.json" if database == "sqlite" else "decisions_postgresql.json"
    path = Path(args.output) if args.output else RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
