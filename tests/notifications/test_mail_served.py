"""Outgoing mail end to end through `roomwarden serve` and a real SMTP server (aiosmtpd on
loopback): a server that refuses a recipient at RCPT for a while (450) and then recovers gets
the message from the service's own retry loop, once; and a burst of partner invitations —
withdrawn and sent again to flood one partner, then spread over others — mails no more than
the invitation limits allow (ROOMWARDEN_INVITATIONS_PER_PARTNER / _PER_CUSTOMER)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest
from sqlalchemy import select

from roomwarden.notifications.models import OutgoingMail
from roomwarden.settings import Settings
from tests.factories import World
from tests.live import roomwarden_serve
from tests.notifications.test_notifications import Inbox, smtp  # noqa: F401 -- the fixture

PER_PARTNER, PER_CUSTOMER = 2, 3


@pytest.fixture
def served(smtp: tuple[Inbox, int], settings: Settings) -> Iterator[str]:  # noqa: F811
    env = {
        "ROOMWARDEN_SMTP_HOST": "127.0.0.1",
        "ROOMWARDEN_SMTP_PORT": str(smtp[1]),
        "ROOMWARDEN_MAIL_RETRY_SECONDS": "1",
        "ROOMWARDEN_INVITATIONS_PER_PARTNER": str(PER_PARTNER),
        "ROOMWARDEN_INVITATIONS_PER_CUSTOMER": str(PER_CUSTOMER),
    }
    with roomwarden_serve(settings.database_url, 1, env) as url:
        yield url


def _invite(c: httpx2.Client, customer, partner, withdraw: bool = False) -> httpx2.Response:  # type: ignore[no-untyped-def]
    """Invite ``partner`` (and withdraw it at once, as a flooder would, to invite again)."""
    base = f"/api/v1/tenants/{customer.id}/partner-invitations"
    body = {"partner_domain": partner.domain, "expires_in_days": 7, "scope": {"all": True}}
    answer = c.post(base, json={**body, "terms_accepted": True}, headers=customer.admin.headers)
    if withdraw and answer.status_code == 201:
        withdrawn = c.delete(f"{base}/{answer.json()['id']}", headers=customer.admin.headers)
        assert withdrawn.status_code == 204, withdrawn.text
    return answer


def _rows(world: World, to: str) -> list[OutgoingMail]:
    with world.transaction(write=False) as s:
        return list(s.scalars(select(OutgoingMail).where(OutgoingMail.to_address == to)))


def _wait_for(predicate, seconds: float = 60) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_a_server_failing_at_rcpt_then_recovering_gets_the_mail_once(
    world: World, smtp: tuple[Inbox, int], served: str  # noqa: F811
) -> None:
    inbox, _ = smtp
    customer, partner = world.tenant(), world.tenant()
    inbox.greylist[partner.admin.upn] = 2  # the first two attempts answer 450 at RCPT
    with httpx2.Client(base_url=served, timeout=30) as c:
        body = {"partner_domain": partner.domain, "expires_in_days": 7, "scope": {"all": True}}
        invited = c.post(
            f"/api/v1/tenants/{customer.id}/partner-invitations",
            json={**body, "terms_accepted": True},
            headers=customer.admin.headers,
        )
        assert invited.status_code == 201, invited.text
    assert _wait_for(lambda: inbox.to(partner.admin.upn)), _rows(world, partner.admin.upn)
    time.sleep(2.5)  # a further turn of the retry loop sends nothing more
    assert len(inbox.to(partner.admin.upn)) == 1
    mail = _rows(world, partner.admin.upn)
    assert len(mail) == 1 and mail[0].status == "sent" and mail[0].attempts == 3, [
        (m.status, m.attempts, m.last_error) for m in mail
    ]
    assert inbox.greylist[partner.admin.upn] == 0


def test_a_burst_of_invitations_mails_no_more_than_the_limits(
    world: World, smtp: tuple[Inbox, int], served: str  # noqa: F811
) -> None:
    inbox, _ = smtp
    customer = world.tenant()
    partners = [world.tenant() for _ in range(PER_CUSTOMER + 1)]
    with httpx2.Client(base_url=served, timeout=30) as c:
        # one partner, flooded: PER_PARTNER invitations, then 429 with Retry-After
        first = [_invite(c, customer, partners[0], withdraw=True) for _ in range(PER_PARTNER + 3)]
        # then other partners, up to the customer's own limit
        rest = [_invite(c, customer, p) for p in partners[1:]]
    statuses = [r.status_code for r in first]
    assert statuses == [201] * PER_PARTNER + [429] * 3, statuses
    assert all(r.headers.get("retry-after") for r in first if r.status_code == 429)
    allowed = PER_CUSTOMER - PER_PARTNER
    assert [r.status_code for r in rest] == [201] * allowed + [429] * (len(partners) - 1 - allowed)
    # one message queued per accepted invitation, none for a refused one
    assert len(_rows(world, partners[0].admin.upn)) == PER_PARTNER
    assert [len(_rows(world, p.admin.upn)) for p in partners[1:]] == [1] * allowed + [0] * (
        len(partners) - 1 - allowed
    )
    # what reaches the server: at most one message per accepted invitation (the flooded
    # partner's went out before each withdrawal), never one for a refused invitation
    assert _wait_for(lambda: all(inbox.to(p.admin.upn) for p in partners[1 : 1 + allowed]))
    time.sleep(2.5)
    assert len(inbox.to(partners[0].admin.upn)) <= PER_PARTNER
    assert sum(len(inbox.to(p.admin.upn)) for p in partners) <= PER_CUSTOMER
    refused = partners[1 + allowed :]
    assert [len(inbox.to(p.admin.upn)) for p in refused] == [0] * len(refused)
