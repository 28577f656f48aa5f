"""``roomwarden fleet simulate``: a fleet of simulated room devices over HTTP (docs/devices.md)."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from roomwarden.cli.common import err, fail, out
from roomwarden.devices.simulator import Fleet

fleet_app = typer.Typer(help="Simulated room devices, to try monitoring with.", no_args_is_help=True)


@fleet_app.command("simulate")
def simulate(
    url: Annotated[str, typer.Option(help="the service's base URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[
        str, typer.Option(help="a bearer token of someone who may download the rooms' enrollment keys")
    ],
    tenant: Annotated[str, typer.Option(help="the tenant id whose rooms get devices")],
    rooms: Annotated[int, typer.Option(min=1, max=100_000, help="how many rooms")] = 10,
    failure_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="chance that an ok signal fails at a report")
    ] = 0.05,
    duration: Annotated[float, typer.Option(min=0, help="seconds to run; 0 runs until interrupted")] = 60,
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="seconds between reports (default: what the service asks)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed, for a repeatable run")] = None,
) -> None:
    """Enrol one simulated device per room (keys read with the token), then report, failing and
    recovering signals at random."""
    fleet = Fleet(url, token, tenant, rooms, failure_rate, interval, seed, log=err.print)
    try:
        fleet.enrol()
        sent = fleet.run(duration or None)
    except httpx.HTTPStatusError as exc:
        raise fail(
            f"{exc.request.method} {exc.request.url.path} answered {exc.response.status_code}"
        ) from exc
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}") from exc
    except KeyboardInterrupt:
        sent = 0
    out.print(f"{len(fleet.devices)} device(s) sent {sent} report(s)")
