"""Invitation e-mail through a real SMTP server (aiosmtpd on loopback): sent after commit,
never for a rolled-back change, retried after a failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from roomwarden.notifications.models import OutgoingMail
from tests.factories import World, expect


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def wait_for(predicate, seconds: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_invitation_mail_is_delivered_after_commit(world: World, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings = world.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "jobs_in_serve": True}
    )
    db = Database(settings.database_url)
    try:
        with TestClient(create_app(settings, db)) as client:
            c, p = world.tenant("Mail Customer"), world.tenant("Mail Partner")
            manager = world.user(p)
            expect(
                client.post(
                    "/api/v1/partner/tenant-managers", json={"user_id": manager.id}, headers=p.admin.headers
                ),
                201,
            )
            body = {
                "partner_domain": p.domain,
                "expires_in_days": 3,
                "scope": {"all": True},
                "terms_accepted": True,
            }
            expect(
                client.post(
                    f"/api/v1/tenants/{c.id}/partner-invitations", json=body, headers=c.admin.headers
                ),
                201,
            )
            ours = {p.admin.upn, manager.upn}

            def mine() -> list[tuple[list[str], str]]:
                return [(r, m) for r, m in inbox.messages if set(r) & ours]

            assert wait_for(lambda: len(mine()) == 2)
            assert sorted(r for rcpts, _ in mine() for r in rcpts) == sorted(ours)
            assert "Mail Customer" in mine()[0][1]
            # A refused (rolled-back) invitation sends nothing.
            assert (
                client.post(
                    f"/api/v1/tenants/{c.id}/partner-invitations", json=body, headers=c.admin.headers
                ).status_code
                == 409
            )
            time.sleep(0.3)
            assert len(mine()) == 2
    finally:
        db.dispose()


def test_failed_delivery_is_retried(world: World, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    dead_port = free_port()  # nothing listens here
    c, p = world.tenant(), world.tenant()
    settings = world.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": dead_port,
            "mail_retry_seconds": 1,
            "smtp_timeout_seconds": 2,
            "jobs_in_serve": True,
        }
    )
    db = Database(settings.database_url)
    try:
        with TestClient(create_app(settings, db)) as client:
            body = {
                "partner_domain": p.domain,
                "expires_in_days": 3,
                "scope": {"all": True},
                "terms_accepted": True,
            }
            expect(
                client.post(
                    f"/api/v1/tenants/{c.id}/partner-invitations", json=body, headers=c.admin.headers
                ),
                201,
            )

            def mail_row() -> OutgoingMail:
                with world.transaction(write=False) as session:
                    return session.scalars(
                        select(OutgoingMail).where(OutgoingMail.to_address == p.admin.upn)
                    ).one()

            assert wait_for(lambda: mail_row().attempts >= 1)
            first = mail_row()
            assert first.status == "pending" and first.last_error
        # The server is back: the next delivery round sends it.
        from roomwarden.notifications.service import Mailer

        healed = Mailer(db, settings.model_copy(update={"smtp_port": port}))
        assert wait_for(lambda: healed.deliver_due() >= 0 and mail_row().status == "sent", seconds=15)
        assert [rcpts for rcpts, _ in inbox.messages if p.admin.upn in rcpts] == [[p.admin.upn]]
        assert mail_row().attempts == 2
    finally:
        db.dispose()
