"""Differential test of partner decisions under expiry and elevation against casbin.

Hypothesis draws a customer's rooms, a link's scope over them, partner users each holding a
custom partner role (random permissions) over a random scope inside the link's, with
``activation`` permanent or eligible — an eligible one never activated, activated and running,
or activated and ended —
and the link active, expired, or expired then renewed. The reference is casbin: a user inherits
an assignment (role inheritance) only when the assignment holds (permanent, or eligible with a
running activation, on a live link), and each assignment grants its permissions on the rooms of
its scope that the link's scope also names. Expiry ends running activations, so after a
renewal an eligible member holds nothing again until it activates. None of the service's code
states what should happen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import casbin
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from roomwarden.partners.models import PartnerLink
from tests.access.test_reference_model import MODEL
from tests.factories import World, expect
from tests.partners.helpers import accept, in_customer, invite

KINDS = ("permanent", "eligible_idle", "eligible_running", "eligible_ended")
PERMS = ("rooms.view", "tickets.view", "incidents.create")


def _enforcer() -> casbin.Enforcer:
    model = casbin.Model()
    model.load_model_from_text(MODEL)
    return casbin.Enforcer(model)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_partner_decisions_match_the_reference_model(world: World, data: st.DataObject) -> None:
    c, p = world.tenant(), world.tenant()
    rooms = [world.room(c)["id"] for _ in range(4)]
    link_rooms = data.draw(st.sets(st.integers(0, 3), min_size=1), label="link rooms")
    inv = invite(
        world,
        c,
        p,
        scope={"rooms": [rooms[i] for i in sorted(link_rooms)]},
        approval_policy={"elevation.activate": "auto"},
    )
    link = expect(accept(world, p.admin, inv["id"]), 201)
    people = []
    for n in range(3):
        kind = data.draw(st.sampled_from(KINDS), label=f"user {n}")
        perms = data.draw(st.sets(st.sampled_from(PERMS), min_size=1), label=f"perms {n}")
        scope = data.draw(st.sets(st.sampled_from(sorted(link_rooms)), min_size=1), label=f"scope {n}")
        user = world.user(p)
        role = expect(
            in_customer(
                world,
                c,
                p.admin,
                "POST",
                "/roles",
                {"name": f"R{n} {uuid.uuid4().hex[:6]}", "permissions": sorted(perms)},
            ),
            201,
        )
        assignment = expect(
            in_customer(
                world,
                c,
                p.admin,
                "POST",
                f"/roles/{role['id']}/assignments",
                {
                    "name": f"A{n}",
                    "members": [{"type": "user", "id": user.id}],
                    "scope": {"rooms": [rooms[i] for i in sorted(scope)]},
                    "activation": "permanent" if kind == "permanent" else "eligible",
                },
            ),
            201,
        )
        if kind in ("eligible_running", "eligible_ended"):
            run = expect(
                in_customer(
                    world,
                    c,
                    user,
                    "POST",
                    f"/assignments/{assignment['id']}/activate",
                    {"minutes": 30, "justification": "x"},
                ),
                201,
            )
            if kind == "eligible_ended":
                expect(in_customer(world, c, user, "DELETE", f"/activations/{run['id']}"), 204)
        people.append((user, kind, perms, scope, assignment["id"]))

    state = data.draw(st.sampled_from(("active", "expired", "renewed")), label="link")
    if state != "active":
        with world.transaction() as session:
            session.execute(
                update(PartnerLink)
                .where(PartnerLink.id == uuid.UUID(link["id"]))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert in_customer(world, c, p.admin, "GET", "/rooms").status_code == 404  # off-boarded
    if state == "renewed":
        url = f"/api/v1/tenants/{c.id}/partners/{link['id']}/renew"
        expect(world.client.post(url, json={"expires_at": None}, headers=c.admin.headers), 200)

    # The reference.
    e = _enforcer()
    live_link = state != "expired"
    for user, kind, perms, scope, assignment_id in people:
        holds = live_link and (kind == "permanent" or (kind == "eligible_running" and state == "active"))
        if not holds:
            continue
        e.add_grouping_policy(user.id, assignment_id)
        for i in scope & link_rooms:
            for perm in perms:
                e.add_policy(assignment_id, rooms[i], perm)

    for user, kind, _perms, _scope, _aid in people:
        holds = live_link and (kind == "permanent" or (kind == "eligible_running" and state == "active"))
        listed = in_customer(world, c, user, "GET", "/rooms")
        if not holds:
            assert listed.status_code == 404, (kind, state, listed.text)
            for room in rooms:
                assert in_customer(world, c, user, "GET", f"/rooms/{room}").status_code == 404
            continue
        assert listed.status_code == 200, (kind, state, listed.text)
        expected = {r for r in rooms if e.enforce(user.id, r, "rooms.view")}
        assert {x["id"] for x in listed.json()["items"]} == expected, (kind, state)
        for room in rooms:
            got = in_customer(world, c, user, "GET", f"/rooms/{room}").status_code
            assert got == (200 if room in expected else 404), (kind, state, room)
