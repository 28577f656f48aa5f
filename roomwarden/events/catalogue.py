"""Every event type of SPEC §13, as data: its name, what it says, and which ids it carries.

A payload (``data``) holds ids and states only, never secrets or text people wrote (a
ticket's title, a rejection's reason): receivers fetch what they need through the API, with
their own rights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    #: keys ``data`` carries (besides the room and the link, which every event may name)
    fields: tuple[str, ...] = ()


CATALOGUE: tuple[EventType, ...] = (
    EventType(
        "partner.invitation.created",
        "A customer invited a partner.",
        ("invitation_id", "partner_tenant_id", "expires_at"),
    ),
    EventType(
        "partner.invitation.accepted",
        "The partner accepted the invitation: a link exists.",
        ("invitation_id", "partner_tenant_id", "link_id"),
    ),
    EventType(
        "partner.invitation.denied",
        "The partner denied the invitation.",
        ("invitation_id", "partner_tenant_id"),
    ),
    EventType(
        "partner.invitation.revoked",
        "The customer revoked the invitation.",
        ("invitation_id", "partner_tenant_id"),
    ),
    EventType(
        "partner.invitation.expired",
        "The invitation passed its expiry unanswered.",
        ("invitation_id", "partner_tenant_id"),
    ),
    EventType(
        "partner.link.expiring",
        "A link with an end date ends soon.",
        ("link_id", "partner_tenant_id", "expires_at"),
    ),
    EventType("partner.link.expired", "A link reached its end date.", ("link_id", "partner_tenant_id")),
    EventType(
        "partner.link.renewed", "A link's end date moved.", ("link_id", "partner_tenant_id", "expires_at")
    ),
    EventType(
        "partner.link.removed",
        "A link ended: off-boarded by either side.",
        ("link_id", "partner_tenant_id", "removed_by"),
    ),
    EventType(
        "approval.requested",
        "A partner's change waits for the customer's decision.",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "approval.approved",
        "The customer approved a held change (and it was applied).",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "approval.rejected",
        "The customer rejected a held change.",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "approval.cancelled",
        "The request was withdrawn or its link ended.",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "approval.expired",
        "No decision came before the request's expiry.",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "approval.failed",
        "The approved change could no longer be applied.",
        ("approval_request_id", "link_id", "event", "status"),
    ),
    EventType(
        "elevation.activated",
        "A time-bound assignment was activated.",
        ("assignment_id", "activation_id", "user_id", "ends_at"),
    ),
    EventType(
        "elevation.ended",
        "An activation ended (expired or ended early).",
        ("assignment_id", "activation_id", "user_id"),
    ),
    EventType(
        "ticket.opened",
        "A ticket was opened: a person's incident or monitoring's.",
        ("ticket_id", "source", "status", "severity", "signal"),
    ),
    EventType(
        "ticket.updated",
        "A ticket changed without changing its state.",
        ("ticket_id", "source", "status", "severity"),
    ),
    EventType("ticket.resolved", "A ticket was resolved.", ("ticket_id", "source", "status", "severity")),
    EventType(
        "ticket.reopened",
        "A resolved or closed ticket was opened again.",
        ("ticket_id", "source", "status", "severity"),
    ),
    EventType("ticket.closed", "A ticket was closed.", ("ticket_id", "source", "status", "severity")),
    EventType("room.health_changed", "A room's derived health changed.", ("previous", "health")),
    EventType("room.enrolled", "A device enrolled into the room.", ("device_id",)),
    EventType("room.unenrolled", "The room was unenrolled: its device and key are gone.", ()),
    EventType(
        "software.install_failed",
        "A room's device failed to install a release.",
        ("device_id", "component", "version"),
    ),
    EventType("webhook.test", "A test event sent on request to one endpoint.", ("endpoint_id",)),
)

BY_NAME: dict[str, EventType] = {event.name: event for event in CATALOGUE}
NAMES: tuple[str, ...] = tuple(event.name for event in CATALOGUE)
