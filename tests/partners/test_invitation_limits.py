"""Issue 9, L9: the review step names no tenant, and invitations (with the mail each one
causes) are rate-limited per customer and per customer-partner pair."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from roomwarden.access.resolver import resolve_access
from roomwarden.access.schemas import ScopeIn
from roomwarden.identity.principal import Principal
from roomwarden.kit.errors import TooManyRequests
from roomwarden.notifications.models import OutgoingMail
from roomwarden.partners.invitations import create_invitation
from roomwarden.partners.schemas import InvitationCreate
from roomwarden.settings import Settings
from tests.factories import TenantH, World, expect
from tests.partners.helpers import invite


def _body(domain: str) -> dict[str, object]:
    return {"partner_domain": domain, "expires_in_days": 3, "scope": {"all": True}, "terms_accepted": True}


def test_the_review_step_names_no_tenant(world: World) -> None:
    c, p = world.tenant(), world.tenant("Secret Partner Ltd")
    for domain in (p.domain, f"nobody-{world.tag}.example.org"):
        review = expect(world.post(c, "/partner-invitations/review", _body(domain)), 200)
        assert (review["partner_id"], review["partner_name"], review["status"]) == (None, None, "draft")
        assert "Secret Partner" not in str(review) and p.id not in str(review)
    assert world.post(c, "/partner-invitations/review", _body(c.domain)).status_code == 422
    sent = expect(world.post(c, "/partner-invitations", _body(p.domain)), 201)
    assert (sent["partner_id"], sent["partner_name"]) == (p.id, "Secret Partner Ltd")


def _mails_to(world: World, p: TenantH) -> int:
    with world.transaction(write=False) as session:
        return session.scalar(select(func.count()).where(OutgoingMail.to_address == p.admin.upn)) or 0


def test_an_invite_and_revoke_loop_is_bounded(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    limit = world.settings.invitations_per_partner
    for _ in range(limit):
        inv = invite(world, c, p)
        url = f"/api/v1/tenants/{c.id}/partner-invitations/{inv['id']}"
        expect(world.client.delete(url, headers=c.admin.headers), 204)
    refused = world.post(c, "/partner-invitations", _body(p.domain))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "one partner" in refused.json()["detail"]
    assert _mails_to(world, p) == limit
    # Another partner is still reachable: the limit is per pair, and per customer in all.
    expect(world.post(c, "/partner-invitations", _body(world.tenant().domain)), 201)


def test_a_customer_sends_a_bounded_number_in_all(world: World) -> None:
    c = world.tenant()
    partners = [world.tenant() for _ in range(3)]
    settings = Settings(database_url=world.settings.database_url, invitations_per_customer=2)
    principal = Principal(uuid.UUID(c.admin.id), uuid.UUID(c.id), c.admin.upn, "Admin", True)

    def send(domain: str) -> None:
        with world.transaction() as session:
            access = resolve_access(session, principal, uuid.UUID(c.id))
            data = InvitationCreate(
                partner_domain=domain, expires_in_days=2, scope=ScopeIn(all=True), terms_accepted=True
            )
            create_invitation(session, access, data, settings)

    send(partners[0].domain)
    send(partners[1].domain)
    with pytest.raises(TooManyRequests, match="at most 2 partner invitations"):
        send(partners[2].domain)
