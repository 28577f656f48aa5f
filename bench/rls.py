"""What row-level security costs a partner's request (issue 23; SPEC §10), on PostgreSQL.

A partner's authorised ``GET /api/v1/tenants/{customer}/rooms/{id}`` through the whole
application in one process, on one database, by two applications interleaved over ``--rounds``
rounds so that machine load weighs on both alike:

- ``rls``: the service with ``ROOMWARDEN_DATABASE_ROW_SECURITY=true``: its connections run as
  ``roomwarden_service``, and the request states the caller's tenant and those live-linked to
  it before its decision (one more statement, ``roomwarden_state_linked``);
- ``plain``: the same application with row-level security off: the connections run as the
  login (a superuser, to which no policy applies) and state nothing.

The customer has ``--rooms`` rooms and ``--other-customers`` other tenants' rooms fill the table
too, each a live customer of the same partner; the room asked for is a different one each time.
The ratio of medians, rls / plain, has a target of at most 1.1.

    .venv/bin/python -m bench.rls [--quick] [--pg postgresql+psycopg://postgres@127.0.0.1:5432]

Results: ``bench/results/rls_postgresql.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from bench._common import DEFAULT_PG, finish, machine_facts, median, postgres_database, ratio
from roomwarden.app import create_app
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from roomwarden.settings import Settings
from roomwarden.wiring import install

PASSWORD = "correct horse battery"


def _expect(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def _tenant(client: TestClient, operator: dict[str, str], name: str) -> dict[str, Any]:
    domain = f"{name.lower()}-{uuid.uuid4().hex[:6]}.example.com"
    body = {
        "name": name,
        "domains": [domain],
        "admin": {"upn": f"admin@{domain}", "display_name": "Admin", "password": PASSWORD},
    }
    created = _expect(client.post("/api/v1/operator/tenants", json=body, headers=operator), 201)
    return {**created, "domain": domain}


def _headers(settings: Settings, tenant: dict[str, Any]) -> dict[str, str]:
    user, tenant_id = uuid.UUID(tenant["admin_user_id"]), uuid.UUID(tenant["id"])
    token = issue_token(settings, user_id=user, tenant_id=tenant_id, mfa=True, version=0)
    return {"Authorization": f"Bearer {token}"}


def _world(client: TestClient, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """A partner with ``1 + other_customers`` live customers, each with ``rooms`` rooms."""
    operator = {"Authorization": f"Bearer {settings.operator_token.get_secret_value()}"}
    partner = _tenant(client, operator, "Partner")
    partner_headers = _headers(settings, partner)
    customers = [_tenant(client, operator, f"Customer{i}") for i in range(1 + args.other_customers)]
    room_ids: list[str] = []
    for n, customer in enumerate(customers):
        headers = _headers(settings, customer)
        base = f"/api/v1/tenants/{customer['id']}"
        for i in range(args.rooms):
            body = {"name": f"Room {i}", "resource_account": f"room{i}@{customer['domain']}", "country": "US"}
            room = _expect(client.post(f"{base}/rooms", json=body, headers=headers), 201)
            if n == 0:
                room_ids.append(room["id"])
        invitation = {
            "partner_domain": partner["domain"],
            "expires_in_days": 30,
            "scope": {"all": True},
            "terms_accepted": True,
        }
        sent = _expect(client.post(f"{base}/partner-invitations", json=invitation, headers=headers), 201)
        accepted = f"/api/v1/partner/invitations/{sent['id']}/accept"
        _expect(client.post(accepted, headers=partner_headers), 201)
    return {"customer_id": customers[0]["id"], "room_ids": room_ids, "partner_headers": partner_headers}


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"answered {response.status_code}: {response.text[:300]}")
    return elapsed * 1000


def measure(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    install()
    settings = Settings(
        env="development", database_url=database_url, jobs_in_serve=False, database_row_security=True
    )
    plain_settings = settings.model_copy(update={"database_row_security": False})
    secured = Database(database_url, row_security=True)
    plain = Database(database_url, row_security=False)
    upgrade(secured)
    apps = {"rls": create_app(settings, secured), "plain": create_app(plain_settings, plain)}
    samples: dict[str, list[float]] = {k: [] for k in apps}
    with contextlib.ExitStack() as stack:
        clients = {k: stack.enter_context(TestClient(app)) for k, app in apps.items()}
        print(f"building a partner with {1 + args.other_customers} customers of {args.rooms} rooms ...")
        world = _world(clients["rls"], settings, args)
        base = f"/api/v1/tenants/{world['customer_id']}/rooms"
        headers = world["partner_headers"]
        rooms = itertools.cycle(world["room_ids"])

        def call(name: str) -> Callable[[], Any]:
            return lambda: clients[name].get(f"{base}/{next(rooms)}", headers=headers)

        calls = {k: call(k) for k in apps}
        for c in calls.values():  # warm up both paths
            for _ in range(args.per_round):
                _timed(c)
        for n in range(args.rounds):
            order = list(calls.items()) if n % 2 == 0 else list(reversed(calls.items()))
            for name, c in order:
                samples[name] += [_timed(c) for _ in range(args.per_round)]
        with secured.engine.connect() as conn:  # the measured path ran under the policies
            role = conn.exec_driver_sql("SELECT current_user").scalar()
    secured.dispose()
    plain.dispose()
    medians = {k: round(median(v), 3) for k, v in samples.items()}
    return {
        "role": role,
        "median_ms": medians,
        "p90_ms": {k: round(sorted(v)[int(len(v) * 0.9)], 3) for k, v in samples.items()},
        "requests": {k: len(v) for k, v in samples.items()},
        "ratio_rls_vs_plain": ratio(medians["rls"], medians["plain"]),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.rls", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("postgresql",), default="postgresql")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a database is created and dropped)")
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--other-customers", type=int, default=4)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--per-round", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--output", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.other_customers, args.rounds, args.per_round = 20, 1, 3, 10
    started = time.monotonic()
    with postgres_database(args.pg) as url:
        facts = machine_facts(url)
        result: dict[str, Any] = {"in_process": measure(url, args)}
    in_process = result["in_process"]
    result["summary"] = {
        "ratio_rls_vs_plain": in_process["ratio_rls_vs_plain"],
        "target": 1.1,
        "median_ms": in_process["median_ms"],
    }
    parameters = {k: getattr(args, k) for k in ("rooms", "other_customers", "rounds", "per_round")}
    return finish("rls", args, facts, parameters, started, result)


if __name__ == "__main__":
    raise SystemExit(main())
