"""The service's ASGI app plus one benchmark-only route: the unauthenticated baseline of
``GET /api/v1/tenants/{t}/rooms/{id}``.

The issue compares an authorised ``GET room`` with "the same fetch without authentication".
The service has no such route (an anonymous ``GET room`` answers 401 before it reads
anything, which is not the same work), so the baseline is served here, next to the real
routes and in the same process:

- the same app (``roomwarden.app.create_app``: middleware, admission, error handling, pool);
- the same route class (one transaction per request, unknown query parameters refused);
- the same room row read by tenant and id, and the same ``RoomRead`` response;
- without what authorisation adds: no token, no user re-read, no access decision, no scope
  check.

It is started exactly as ``roomwarden serve`` starts uvicorn (same protocol class keeping
``TCP_NODELAY``, same worker health-check time, proxy headers off, same log level, the
service's own access line instead of uvicorn's), and only on a loopback address.

With ``--bare`` it serves instead :data:`bare`: a FastAPI application with nothing but one
synchronous ``GET /healthz`` route, the floor ``bench.fixed_cost`` compares the service's fixed
cost per request with (same server and arguments, with uvicorn's own logging: its access line on,
as such an application is run).

With ``--plain-routing`` the service's application dispatches as FastAPI does, every route
tried in turn (without kit/routeindex.py): the "before" of the route index, served alike.

    python -m bench.http_app --port 8123 [--workers 1] [--bare | --plain-routing]
"""

from __future__ import annotations

import argparse
import ipaddress
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from roomwarden.app import create_app
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import NotFound
from roomwarden.kit.routeindex import RouteIndex
from roomwarden.kit.routing import router
from roomwarden.rooms.models import Room
from roomwarden.rooms.schemas import RoomRead

UNAUTHENTICATED_ROOM = "/bench/unauthenticated/tenants/{tenant_id}/rooms/{room_id}"

baseline = router()


@baseline.get(UNAUTHENTICATED_ROOM, response_model=RoomRead, include_in_schema=False)
def unauthenticated_room(session: SessionDep, tenant_id: uuid.UUID, room_id: uuid.UUID) -> RoomRead:
    room = session.scalar(select(Room).where(Room.tenant_id == tenant_id, Room.id == room_id))
    if room is None:
        raise NotFound("room not found")
    return RoomRead.model_validate(room)


#: the bare application: FastAPI and one synchronous route, nothing of the service
bare = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@bare.get("/healthz")
def bare_healthz() -> dict[str, str]:
    return {"status": "ok"}


def build() -> FastAPI:
    app = create_app()
    app.include_router(baseline)
    return app


def build_plain_routing() -> FastAPI:
    app = build()
    index = app.router.middleware_stack
    if not isinstance(index, RouteIndex):
        raise RuntimeError("create_app no longer dispatches through kit.routeindex")
    app.router.middleware_stack = index.walk
    return app


def __getattr__(name: str) -> FastAPI:
    # ``bench.http_app:app`` is built when uvicorn (in the worker) asks for it, not when the
    # supervisor runs this module
    builders = {"app": build, "plain_routing": build_plain_routing}
    if name in builders:
        globals()[name] = built = builders[name]()
        return built
    raise AttributeError(name)


def main() -> None:
    import uvicorn

    from roomwarden.kit import logs
    from roomwarden.kit.server import HTTP_PROTOCOL, WORKER_HEALTHCHECK_SECONDS
    from roomwarden.settings import get_settings

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    served = parser.add_mutually_exclusive_group()
    served.add_argument("--bare", action="store_true", help="serve the bare one-route application")
    served.add_argument("--plain-routing", action="store_true", help="without the route index")
    args = parser.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("the benchmark app serves an unauthenticated route: loopback addresses only")
    # the same arguments as ``roomwarden serve`` (roomwarden/cli/__init__.py): the service
    # writes its own access line (kit/observe.py), in the configured log format, and uvicorn's
    # is off; the bare application keeps uvicorn's defaults, as it would be run
    logging: dict[str, Any] = {}
    if not args.bare:
        logging = {"log_config": logs.config(get_settings().log_format), "access_log": False}
    uvicorn.run(
        "bench.http_app:" + ("bare" if args.bare else "plain_routing" if args.plain_routing else "app"),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
        proxy_headers=False,
        http=HTTP_PROTOCOL,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        **logging,
    )


if __name__ == "__main__":
    main()
