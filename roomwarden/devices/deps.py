"""The device of a request: ``Authorization: Bearer <device token>`` on ``/api/v1/device/...``
only. A person's token is no device token (401 here), and a device token is no person's
(401 on every other path: it is not a signed access token).

The bearer is read by an async dependency (no thread), and the device is looked up in the
endpoint's own thread and transaction (``Caller.of``): a report is the hot path of a fleet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from roomwarden.devices.models import Device
from roomwarden.devices.service import authenticate
from roomwarden.devices.tokens import BAD_TOKEN, TOKEN_PREFIX
from roomwarden.kit.errors import Unauthenticated
from roomwarden.rooms.models import Room

device_bearer = HTTPBearer(auto_error=False, scheme_name="DeviceToken", description="a device token")


@dataclass(frozen=True)
class DeviceToken:
    token: str

    def caller(self, session: Session) -> Caller:
        """The calling device, its room's row locked (a report or a rotation changes both)."""
        device, room = authenticate(session, self.token, lock_room=True)
        return Caller(device, room)


@dataclass(frozen=True)
class Caller:
    device: Device
    room: Room


async def device_token(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(device_bearer)],
) -> DeviceToken:
    if creds is None or not creds.credentials.startswith(TOKEN_PREFIX):
        raise Unauthenticated(BAD_TOKEN)
    return DeviceToken(creds.credentials)


DeviceDep = Annotated[DeviceToken, Depends(device_token)]
