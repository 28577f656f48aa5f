"""Mail that means something, through a real SMTP server (aiosmtpd on loopback): who hears
about incidents and ticket changes, off-boarding on both sides, the message itself (link
under the public URL, Date, Message-ID, plain text), mail whose reason has passed, and one
bad message never holding back the others."""

from __future__ import annotations

import email
import socket
import uuid
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from roomwarden.kit.db import Database
from roomwarden.kit.time import utcnow
from roomwarden.notifications.models import OutgoingMail
from roomwarden.notifications.service import Mailer
from roomwarden.settings import Settings
from tests.factories import TenantH, World, expect
from tests.partners.helpers import in_customer, invite, link

PUBLIC = "http://rooms.example.test:8443"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()  # a temporary failure (451) at DATA, every time
        self.greylist: dict[str, int] = {}  # address -> how many more RCPTs answer 450

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        if self.greylist.get(address, 0) > 0:
            self.greylist[address] -= 1
            return "450 4.2.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.defer & set(envelope.rcpt_tos):
            return "451 4.3.0 try again later"
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mailer(world: World, smtp: tuple[Inbox, int]) -> Iterator[Mailer]:
    settings: Settings = world.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp[1],
            "public_url": PUBLIC,
            "smtp_timeout_seconds": 5,
        }
    )
    db = Database(settings.database_url)
    yield Mailer(db, settings)
    db.dispose()


def deliver(mailer: Mailer, *tenants: TenantH) -> int:
    return mailer.deliver_due(tenant_ids=[uuid.UUID(t.id) for t in tenants])


def text_of(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr]


def test_incidents_and_ticket_changes_reach_who_may_see_the_room(
    world: World, smtp: tuple[Inbox, int], mailer: Mailer
) -> None:
    inbox, _ = smtp
    t = world.tenant()
    us, de = world.room(t, "US"), world.room(t, "DE")
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/settings",
            json={"notification_email": f"desk@{t.domain}"},
            headers=t.admin.headers,
        ),
        200,
    )
    watcher, blind, quiet = world.user(t), world.user(t), world.user(t)
    group_member = world.user(t)
    group = world.security_group(t, [group_member])
    role = t.roles["Site Tech"] if "Site Tech" in t.roles else world.role(t, ["rooms.view", "tickets.view"])
    for members, scope, notify in (
        ({"users": [watcher], "groups": [group]}, {"rooms": [us["id"]]}, True),
        ({"users": [blind]}, {"rooms": [de["id"]]}, True),
        ({"users": [quiet]}, {"rooms": [us["id"]]}, False),
    ):
        a = world.assign(t, role, scope=scope, **members)  # type: ignore[arg-type]
        expect(
            world.client.patch(
                f"/api/v1/tenants/{t.id}/assignments/{a['id']}",
                json={"email_notifications": notify},
                headers=t.admin.headers,
            ),
            200,
        )
    ticket = world.incident(t, us["id"])
    assert deliver(mailer, t) == 3
    told = sorted(r for rcpts, _ in inbox.messages for r in rcpts)
    assert told == sorted([f"desk@{t.domain}", watcher.upn, group_member.upn])
    message = inbox.to(watcher.upn)[0]
    assert message["Subject"] == f"[{t.name}] New incident: {ticket['title']} ({us['name']})"
    assert message["Date"] and message["Message-ID"].endswith("@rooms.example.test>")
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    body = text_of(message)
    assert f"{PUBLIC}/t/{t.id}/tickets/{ticket['id']}" in body and us["name"] in body
    # A change is mailed too, saying what changed.
    expect(
        world.client.patch(
            f"/api/v1/tenants/{t.id}/tickets/{ticket['id']}",
            json={"status": "in_progress", "comment": "on my way"},
            headers=t.admin.headers,
        ),
        200,
    )
    assert deliver(mailer, t) == 3
    update = inbox.to(watcher.upn)[-1]
    assert "Ticket updated" in update["Subject"]
    assert "from open to in_progress" in text_of(update) and "on my way" in text_of(update)
    assert inbox.to(blind.upn) == [] and inbox.to(quiet.upn) == []


def test_off_boarding_mails_both_sides(world: World, smtp: tuple[Inbox, int], mailer: Mailer) -> None:
    inbox, _ = smtp
    c, p = world.tenant(), world.tenant()
    lk = link(world, c, p)
    deliver(mailer, c, p)
    inbox.messages.clear()
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partners/{lk['id']}?confirm=true", headers=c.admin.headers
        ),
        204,
    )
    assert deliver(mailer, c, p) == 2
    customer_side, partner_side = inbox.to(c.admin.upn), inbox.to(p.admin.upn)
    assert len(customer_side) == 1 and len(partner_side) == 1
    assert p.name in customer_side[0]["Subject"] and c.name in partner_side[0]["Subject"]
    assert "ended by the customer" in text_of(partner_side[0])
    assert f"{PUBLIC}/partner/customers" in text_of(partner_side[0])
    assert f"{PUBLIC}/t/{c.id}/partners" in text_of(customer_side[0])


def test_an_invitation_no_longer_pending_sends_nothing(
    world: World, smtp: tuple[Inbox, int], mailer: Mailer
) -> None:
    inbox, _ = smtp
    c, p = world.tenant(), world.tenant()
    inv = invite(world, c, p)
    expect(
        world.client.delete(
            f"/api/v1/tenants/{c.id}/partner-invitations/{inv['id']}", headers=c.admin.headers
        ),
        204,
    )
    assert deliver(mailer, c, p) == 0
    assert inbox.to(p.admin.upn) == []
    with world.transaction(write=False) as session:
        row = session.scalars(select(OutgoingMail).where(OutgoingMail.to_address == p.admin.upn)).one()
    assert row.status == "dropped" and "revoked" in (row.last_error or "")
    # A pending one is sent, with its link.
    other = world.tenant()
    invite(world, c, other)
    assert deliver(mailer, c, other) == 1
    assert f"{PUBLIC}/partner/invitations" in text_of(inbox.to(other.admin.upn)[0])


def test_one_bad_message_never_holds_back_the_others(
    world: World, smtp: tuple[Inbox, int], mailer: Mailer
) -> None:
    inbox, _ = smtp
    t = world.tenant()
    refused = f"gone@{t.domain}"
    inbox.refuse.add(refused)
    with world.transaction() as session:
        for n, (to, subject) in enumerate(
            [
                (f"a@{t.domain}", "first"),
                (f"b@{t.domain}", "poison\r\nBcc: victim@elsewhere.example"),
                (refused, "refused"),
                (f"c@{t.domain}", "last"),
            ]
        ):
            session.add(
                OutgoingMail(tenant_id=uuid.UUID(t.id), to_address=to, subject=subject, body=f"message {n}")
            )
    assert deliver(mailer, t) == 2
    assert deliver(mailer, t) == 0  # nothing is sent twice, nothing is left due
    assert sorted(m["Subject"] for _, m in inbox.messages) == ["first", "last"]
    with world.transaction(write=False) as session:
        rows = {
            m.to_address: m
            for m in session.scalars(select(OutgoingMail).where(OutgoingMail.tenant_id == uuid.UUID(t.id)))
        }
    assert rows[f"b@{t.domain}"].status == "failed" and rows[f"b@{t.domain}"].attempts == 1
    assert rows[refused].status == "failed" and "550" in (rows[refused].last_error or "")
    assert {rows[f"a@{t.domain}"].status, rows[f"c@{t.domain}"].status} == {"sent"}


def test_a_recipient_deferred_at_rcpt_is_tried_again_not_given_up(
    world: World, smtp: tuple[Inbox, int], mailer: Mailer
) -> None:
    """A greylisting server answers the first RCPT with 450: the message waits and goes out
    on a later attempt (a 550 there is given up at once, above)."""
    inbox, _ = smtp
    t = world.tenant()
    to = f"greylisted@{t.domain}"
    inbox.greylist[to] = 1
    with world.transaction() as session:
        session.add(OutgoingMail(tenant_id=uuid.UUID(t.id), to_address=to, subject="later", body="b"))
    assert deliver(mailer, t) == 0
    with world.transaction() as session:
        row = session.scalars(select(OutgoingMail).where(OutgoingMail.tenant_id == uuid.UUID(t.id))).one()
        assert row.status == "pending" and row.attempts == 1 and "450" in (row.last_error or "")
        row.next_attempt_at = row.created_at  # its back-off is over
    assert deliver(mailer, t) == 1
    assert [m["Subject"] for m in inbox.to(to)] == ["later"]


def test_a_transient_failure_backs_off_and_lets_the_rest_through(
    world: World, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    t = world.tenant()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = world.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": dead, "mail_retry_seconds": 60}
    )
    db = Database(settings.database_url)
    try:
        with world.transaction() as session:
            session.add(
                OutgoingMail(tenant_id=uuid.UUID(t.id), to_address=f"x@{t.domain}", subject="s", body="b")
            )
        down = Mailer(db, settings)
        assert down.deliver_due(tenant_ids=[uuid.UUID(t.id)]) == 0
        with world.transaction(write=False) as session:
            row = session.scalars(select(OutgoingMail).where(OutgoingMail.tenant_id == uuid.UUID(t.id))).one()
        assert row.status == "pending" and row.attempts == 1 and row.last_error
        assert (row.next_attempt_at - row.created_at).total_seconds() >= 55
        # Not due yet: a healed server does not see it before its time.
        healed = Mailer(db, settings.model_copy(update={"smtp_port": port}))
        assert healed.deliver_due(tenant_ids=[uuid.UUID(t.id)]) == 0 and inbox.messages == []
    finally:
        db.dispose()


def test_a_message_that_keeps_failing_transiently_ends_failed_and_the_rest_go_out(
    world: World, smtp: tuple[Inbox, int]
) -> None:
    """Issue 9, L4: a message the server keeps deferring (451) is tried
    ``ROOMWARDEN_MAIL_MAX_ATTEMPTS`` times, then ends ``failed`` and is never tried again;
    messages queued after it are sent meanwhile and afterwards."""
    inbox, port = smtp
    t = world.tenant()
    tid = uuid.UUID(t.id)
    stuck, after, last = (f"{who}@{t.domain}" for who in ("stuck", "after", "last"))
    inbox.defer.add(stuck)
    settings = world.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_timeout_seconds": 5,
            "mail_max_attempts": 3,
        }
    )
    db = Database(settings.database_url)

    def queue(to: str) -> None:
        with world.transaction() as session:
            session.add(OutgoingMail(tenant_id=tid, to_address=to, subject="s", body="b"))

    def row(to: str) -> OutgoingMail:
        with world.transaction(write=False) as session:
            return session.scalars(
                select(OutgoingMail).where(OutgoingMail.tenant_id == tid, OutgoingMail.to_address == to)
            ).one()

    def due_now() -> None:  # the back-off has passed
        with world.transaction() as session:
            session.execute(
                update(OutgoingMail)
                .where(OutgoingMail.tenant_id == tid, OutgoingMail.status == "pending")
                .values(next_attempt_at=utcnow())
            )

    mailer = Mailer(db, settings)
    try:
        queue(stuck)
        queue(after)
        for attempt in range(1, 4):
            mailer.deliver_due(tenant_ids=[tid])
            r = row(stuck)
            assert (r.attempts, r.status) == (attempt, "failed" if attempt == 3 else "pending")
            assert "451" in (r.last_error or "")
            due_now()
        assert row(after).status == "sent" and len(inbox.to(after)) == 1
        queue(last)
        mailer.deliver_due(tenant_ids=[tid])
        assert row(last).status == "sent" and len(inbox.to(last)) == 1
        assert row(stuck).attempts == 3 and inbox.to(stuck) == []
    finally:
        db.dispose()


def test_readable_names_on_tickets_members_partner_roles_and_invitations(world: World) -> None:
    c, p = world.tenant(), world.tenant()
    room = world.room(c)
    ticket = world.incident(c, room["id"])
    assert ticket["room_name"] == room["name"]
    listed = expect(world.client.get(f"/api/v1/tenants/{c.id}/tickets", headers=c.admin.headers), 200)
    assert listed["items"][0]["room_name"] == room["name"]
    user = world.user(c, name="reader")
    group = world.security_group(c, [user])
    a = world.assign(c, world.role(c, ["rooms.view"]), users=[user], groups=[group])
    members = {m["type"]: m for m in a["members"]}
    assert members["user"]["upn"] == user.upn and members["user"]["display_name"] == "reader"
    assert members["group"]["name"].startswith("SG ")
    inv = invite(world, c, p)
    assert inv["partner_domain"] == p.domain
    listed_inv = expect(
        world.client.get(f"/api/v1/tenants/{c.id}/partner-invitations", headers=c.admin.headers), 200
    )
    assert listed_inv["items"][0]["partner_domain"] == p.domain
    expect(
        world.client.post(
            f"/api/v1/partner/invitations/{inv['id']}/accept", json=None, headers=p.admin.headers
        ),
        201,
    )
    roles = expect(world.client.get(f"/api/v1/tenants/{c.id}/roles?limit=200", headers=c.admin.headers), 200)
    partner_roles = [r for r in roles["items"] if r["partner_link_id"]]
    assert partner_roles and {r["partner_name"] for r in partner_roles} == {p.name}
    assert {r["partner_name"] for r in roles["items"] if not r["partner_link_id"]} == {None}
    assert (
        in_customer(world, c, p.admin, "GET", f"/tickets/{ticket['id']}").json()["room_name"] == room["name"]
    )
