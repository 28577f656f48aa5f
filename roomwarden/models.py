"""Imports every ORM model so that ``Base.metadata`` is complete (migrations, tests)."""

from roomwarden.access.models import (  # noqa: F401
    AssignmentMember,
    Role,
    RoleAssignment,
    RolePermission,
    Scope,
    ScopeEffectiveRoom,
    ScopeGroup,
    ScopeRoom,
)
from roomwarden.approvals.models import ApprovalRequest  # noqa: F401
from roomwarden.audit.models import AuditChainHead, AuditRecord  # noqa: F401
from roomwarden.devices.models import Device, RoomSignal  # noqa: F401
from roomwarden.events.models import EventRecord  # noqa: F401
from roomwarden.identity.models import (  # noqa: F401
    RecoveryCode,
    SecurityGroup,
    SecurityGroupMember,
    SignInThrottle,
    User,
    WebSession,
)
from roomwarden.identity.oidc.models import IdentityProvider  # noqa: F401
from roomwarden.jobs.models import Job  # noqa: F401
from roomwarden.kit.db import Base
from roomwarden.notifications.models import OutgoingMail  # noqa: F401
from roomwarden.partners.models import PartnerInvitation, PartnerLink, TenantManager  # noqa: F401
from roomwarden.reports.models import Meeting, RoomHealthDay, TicketPeriod  # noqa: F401
from roomwarden.rooms.models import (  # noqa: F401
    Room,
    RoomGroup,
    RoomGroupMember,
    Ticket,
    TicketUpdate,
    UpdateRing,
)
from roomwarden.software.models import DeviceSoftware, Release, SoftwareResult  # noqa: F401
from roomwarden.tenants.models import Tenant, TenantDomain, TenantSettings  # noqa: F401
from roomwarden.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: F401

metadata = Base.metadata
