"""The device of a request: ``Authorization: Bearer <device token>`` on ``/api/v1/device/...``
only. A person's token is no device token (401 here), and a device token is no person's
(401 on every other path: it is not a signed access token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from roomwarden.devices.models import Device
from roomwarden.devices.service import BAD_TOKEN, TOKEN_PREFIX, authenticate
from roomwarden.kit.api import SessionDep
from roomwarden.kit.errors import Unauthenticated
from roomwarden.rooms.models import Room

device_bearer = HTTPBearer(auto_error=False, scheme_name="DeviceToken", description="a device token")


@dataclass(frozen=True)
class Caller:
    device: Device
    room: Room


def current_device(
    request: Request,
    session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(device_bearer)],
) -> Caller:
    """The calling device, its room's row locked (a report or a rotation changes both)."""
    if creds is None or not creds.credentials.startswith(TOKEN_PREFIX):
        raise Unauthenticated(BAD_TOKEN)
    device, room = authenticate(session, creds.credentials, lock_room=True)
    return Caller(device, room)


DeviceDep = Annotated[Caller, Depends(current_device)]
