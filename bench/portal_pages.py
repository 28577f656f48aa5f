"""The portal's choosers at MSP scale (issue 22, part 2): the add-partner wizard and a
partner's page of a ``--rooms``-room customer against the same pages of a ``--small``-room one
(each delegating one room group of three rooms), in one process through the whole
application, interleaved over ``--rounds`` rounds. Page bytes and time, as ratios large /
small (target ≤ 1.2 for both): the pages grow with what is chosen, never with the tenant.

    .venv/bin/python -m bench.portal_pages [--database sqlite|postgresql] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench._common import DEFAULT_PG, finish, machine_facts, median, postgres_database, ratio
from bench.device_reports import _fleet
from roomwarden.app import create_app
from roomwarden.identity import sessions
from roomwarden.identity.models import User
from roomwarden.identity.tokens import issue_token
from roomwarden.kit.crypto import SecretBox
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from roomwarden.settings import DEMO_ENCRYPTION_KEY, Settings
from roomwarden.tenants.schemas import AdminCreate, TenantCreate
from roomwarden.tenants.service import create_tenant
from roomwarden.wiring import install


def _bearer(settings: Settings, user_id: uuid.UUID, tenant_id: uuid.UUID) -> dict[str, str]:
    token = issue_token(settings, user_id=user_id, tenant_id=tenant_id, mfa=False, version=0)
    return {"Authorization": f"Bearer {token}"}


def _expect(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"answered {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def _customer(db: Database, settings: Settings, client: TestClient, name: str, rooms: int) -> dict[str, Any]:
    """A customer of ``rooms`` rooms with a partner linked on one room group of three rooms,
    and a portal session of its Global admin."""
    fleet = _fleet(db, SecretBox(DEMO_ENCRYPTION_KEY), name, rooms, name[0])
    tid, admin_id = fleet["tenant_id"], fleet["admin_id"]
    with db.transaction() as session:
        domain = f"partner-{uuid.uuid4().hex[:8]}.example.com"
        partner, partner_admin = create_tenant(
            session,
            TenantCreate(
                name=f"Partner of {name}",
                domains=[domain],
                admin=AdminCreate(
                    upn=f"admin@{domain}", display_name="Admin", password="Bench-password-2026"
                ),
            ),
        )
        partner_ids = (partner_admin.id, partner.id)
    admin = _bearer(settings, admin_id, tid)
    base = f"/api/v1/tenants/{tid}"
    chosen = [str(r) for r in fleet["room_ids"][:3]]
    group = _expect(
        client.post(f"{base}/room-groups", json={"name": "Delegated", "room_ids": chosen}, headers=admin), 201
    )
    invitation = _expect(
        client.post(
            f"{base}/partner-invitations",
            json={
                "partner_domain": domain,
                "expires_in_days": 7,
                "approval_policy": {},
                "scope": {"room_groups": [group["id"]]},
                "terms_accepted": True,
            },
            headers=admin,
        ),
        201,
    )
    link = _expect(
        client.post(
            f"/api/v1/partner/invitations/{invitation['id']}/accept",
            json={},
            headers=_bearer(settings, *partner_ids),
        ),
        201,
    )
    with db.transaction() as session:
        cookie = sessions.start_session(
            session, settings, session.get_one(User, admin_id), mfa=False, method="password"
        )
    return {"tenant_id": tid, "link_id": link["id"], "cookie": cookie}


def in_process(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(env="development", database_url=database_url, jobs_in_serve=False)
    db = Database(database_url)
    upgrade(db)
    install()
    app = create_app(settings, db)
    with TestClient(app) as client:
        print(f"building a {args.rooms}-room and a {args.small}-room customer ...", flush=True)
        customers = {
            "large": _customer(db, settings, client, "Large", args.rooms),
            "small": _customer(db, settings, client, "Small", args.small),
        }
        pages = {"wizard": "/t/{t}/partners/new", "partner": "/t/{t}/partners/{link}"}
        times: dict[str, list[float]] = {f"{p}_{c}": [] for p in pages for c in customers}
        sizes: dict[str, int] = {}
        for _ in range(args.rounds):
            for page, path in pages.items():
                for size, customer in customers.items():
                    url = path.format(t=customer["tenant_id"], link=customer["link_id"])
                    client.cookies.set("roomwarden_session", customer["cookie"])
                    for _ in range(args.per_round):
                        started = time.perf_counter()
                        response = client.get(url)
                        times[f"{page}_{size}"].append((time.perf_counter() - started) * 1000)
                        if response.status_code != 200:
                            raise RuntimeError(f"{url} answered {response.status_code}")
                        sizes[f"{page}_{size}"] = len(response.content)
    db.dispose()
    medians = {k: round(median(v), 2) for k, v in times.items()}
    return {
        "median_ms": medians,
        "bytes": sizes,
        "ratios": {
            f"{page}_{what}_large_vs_small": ratio(
                (medians if what == "time" else sizes)[f"{page}_large"],
                (medians if what == "time" else sizes)[f"{page}_small"],
            )
            for page in pages
            for what in ("bytes", "time")
        },
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.portal_pages", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server (a database is created and dropped)")
    p.add_argument("--rooms", type=int, default=10_000)
    p.add_argument("--small", type=int, default=100)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    p.add_argument("--output", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.quick:
        args.rooms, args.small, args.rounds, args.per_round = 600, 30, 2, 2
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.database == "postgresql":
            url = stack.enter_context(postgres_database(args.pg))
        else:
            url = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        facts = machine_facts(url)
        result: dict[str, Any] = {"in_process": in_process(url, args)}
    result["summary"] = {**result["in_process"]["ratios"], "bytes": result["in_process"]["bytes"]}
    parameters = {k: getattr(args, k) for k in ("rooms", "small", "rounds", "per_round")}
    return finish("portal_pages", args, facts, parameters, started, result)


if __name__ == "__main__":
    raise SystemExit(main())
