"""Pure partner rules, tested without a database, and the invitation inputs that touch other
tenants' data."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError

from roomwarden.kit.time import utcnow
from roomwarden.partners.invitations import effective_status
from roomwarden.partners.models import PartnerInvitation
from roomwarden.partners.schemas import EVENTS, ApprovalPolicy, InvitationCreate
from tests.factories import World, expect
from tests.partners.helpers import invite


def _invitation(status: str, expires_in: timedelta) -> PartnerInvitation:
    return PartnerInvitation(status=status, expires_at=utcnow() + expires_in)


@pytest.mark.parametrize(
    ("status", "expires_in", "effective"),
    [
        ("pending", timedelta(days=1), "pending"),
        ("pending", timedelta(seconds=-1), "expired"),
        ("pending", timedelta(0), "expired"),  # the moment itself is past
        ("accepted", timedelta(seconds=-1), "accepted"),
        ("denied", timedelta(days=1), "denied"),
        ("revoked", timedelta(seconds=-1), "revoked"),
        ("expired", timedelta(days=1), "expired"),
    ],
)
def test_effective_status(status: str, expires_in: timedelta, effective: str) -> None:
    assert effective_status(_invitation(status, expires_in)) == effective


def test_policy_defaults_to_auto_for_every_event_but_activation() -> None:
    assert ApprovalPolicy().as_dict() == {**dict.fromkeys(EVENTS, "auto"), "elevation.activate": "manual"}
    assert (
        ApprovalPolicy.model_validate({"incident.create": "manual"}).as_dict()["incident.create"] == "manual"
    )


@pytest.mark.parametrize(
    "policy",
    [{"room.delete": "auto"}, {"room.update": "Auto"}, {"room_update": "manual"}, {"ticket.update": None}],
)
def test_policy_refuses_unknown_events_and_values(policy: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ApprovalPolicy.model_validate(policy)


@pytest.mark.parametrize("extra", [{"terms_accepted": False}, {"expires_in_days": 31}, {"unknown": 1}])
def test_invitation_input(extra: dict[str, object]) -> None:
    body = {
        "partner_domain": "p.example",
        "expires_in_days": 5,
        "scope": {"all": True},
        "terms_accepted": True,
    }
    InvitationCreate.model_validate(body)
    with pytest.raises(ValidationError):
        InvitationCreate.model_validate({**body, **extra})


def test_invitation_scope_names_only_the_customers_rooms(world: World) -> None:
    c, p, other = world.tenant(), world.tenant(), world.tenant()
    foreign_room, foreign_group = world.room(other), world.room_group(other, [])
    body = {"partner_domain": p.domain, "expires_in_days": 5, "terms_accepted": True}
    for scope in (
        {"rooms": [foreign_room["id"]]},
        {"room_groups": [foreign_group["id"]]},
        {"rooms": [str(uuid.uuid4())]},
        {"all": True, "rooms": [world.room(c)["id"]]},
    ):
        for path in ("/partner-invitations/review", "/partner-invitations"):
            assert world.post(c, path, {**body, "scope": scope}).status_code == 422, (path, scope)
    listed = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partner-invitations", headers=c.admin.headers), 200
    )
    assert listed["items"] == []


def test_the_review_step_stores_nothing_and_reads_like_the_invitation(world: World) -> None:
    c, p = world.tenant(), world.tenant("Reviewed Partner")
    room = world.room(c)
    body = {
        "partner_domain": p.domain,
        "expires_in_days": 9,
        "scope": {"rooms": [room["id"]]},
        "approval_policy": {"room.update": "manual"},
        "terms_accepted": True,
    }
    review = expect(world.post(c, "/partner-invitations/review", body), 200)
    assert (
        expect(world.client.get("/api/v1/partner/invitations", headers=p.admin.headers), 200)["items"] == []
    )
    sent = invite(world, c, p, scope=body["scope"], days=9, approval_policy=body["approval_policy"])
    got = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partner-invitations/{sent['id']}", headers=c.admin.headers),
        200,
    )
    for key in ("scope", "approval_policy", "customer_id"):
        assert review[key] == sent[key] == got[key], key
    # Only the sent invitation names the partner (issue 9, L9).
    assert (review["partner_id"], review["partner_name"]) == (None, None)
    assert (
        (sent["partner_id"], sent["partner_name"])
        == (got["partner_id"], got["partner_name"])
        == (
            p.id,
            "Reviewed Partner",
        )
    )
    assert (review["status"], sent["status"]) == ("draft", "pending")
    assert sent["partner_domain"] == p.domain and review["partner_domain"] == p.domain
    # Another tenant reads no such invitation, nor revokes it.
    other = world.tenant()
    for method in ("GET", "DELETE"):
        url = f"/api/v1/tenants/{other.id}/partner-invitations/{sent['id']}"
        assert world.client.request(method, url, headers=other.admin.headers).status_code == 404
