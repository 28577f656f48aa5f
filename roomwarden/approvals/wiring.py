"""Change control's part in a partner link's life (``partners.events``), registered at
start-up by ``roomwarden.wiring.install``: a link's pending requests are never applied later by
surprise."""

from __future__ import annotations

from roomwarden.approvals import partner_groups, policy, service
from roomwarden.identity import extensions as identity_extensions
from roomwarden.partners import events
from roomwarden.partners.events import LinkEnding, PolicyChanged


def install() -> None:
    events.link_ending.connect(end_pending_of_ended_link)
    events.policy_changed.connect(end_pending_made_automatic)
    if not identity_extensions.group_members_change.installed:
        identity_extensions.group_members_change.register(partner_groups.on_members_change)


def end_pending_of_ended_link(ending: LinkEnding) -> None:
    service.end_pending(ending.session, ending.link, ending.actor, ending.reason)


def end_pending_made_automatic(change: PolicyChanged) -> None:
    """Events the customer switched back to ``auto`` end their pending requests."""
    now_auto = policy.switched_to_auto(change.before, change.after)
    if now_auto:
        reason = f"change control for {', '.join(sorted(now_auto))} is now automatic"
        service.end_pending(change.session, change.link, change.actor, reason, events=now_auto)
