"""The permission catalogue and the built-in roles: the single source for code, docs and
portal (SPEC §2)."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ROOMS_VIEW = "rooms.view"
    ROOMS_MODIFY = "rooms.modify"
    ROOMS_RESET_KEY = "rooms.reset_key"
    ROOMS_DOWNLOAD_KEY = "rooms.download_key"
    ROOMS_UNENROLL = "rooms.unenroll"
    ROOMS_CREATE = "rooms.create"
    GROUPS_VIEW = "groups.view"
    GROUPS_MODIFY = "groups.modify"
    GROUPS_CREATE = "groups.create"
    RINGS_VIEW = "rings.view"
    RINGS_MODIFY = "rings.modify"
    RINGS_CREATE = "rings.create"
    REPORTS_VIEW = "reports.view"
    INCIDENTS_CREATE = "incidents.create"
    TICKETS_VIEW = "tickets.view"
    TICKETS_UPDATE = "tickets.update"
    SETTINGS_VIEW = "settings.view"
    SETTINGS_MODIFY = "settings.modify"
    ROLES_VIEW = "roles.view"
    ROLES_MODIFY = "roles.modify"
    AUDIT_EXPORT = "audit.export"
    PARTNERS_MANAGE = "partners.manage"
    APPROVALS_REVIEW = "approvals.review"


P = Permission
ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)

MSA = "Managed Service Administrator"
SITE_LEAD = "Site Lead"
SITE_TECH = "Site Tech"
PRIMARY_ADMINS = "Primary admins"

#: Permissions a partner principal can ever hold (the Partner admin column).
PARTNER_ADMIN: frozenset[Permission] = frozenset(
    {
        P.ROOMS_VIEW,
        P.ROOMS_MODIFY,
        P.GROUPS_VIEW,
        P.RINGS_VIEW,
        P.RINGS_MODIFY,
        P.REPORTS_VIEW,
        P.INCIDENTS_CREATE,
        P.TICKETS_VIEW,
        P.TICKETS_UPDATE,
        P.ROLES_VIEW,
        P.ROLES_MODIFY,
    }
)

_SITE_TECH = frozenset(
    {
        P.ROOMS_VIEW,
        P.ROOMS_MODIFY,
        P.ROOMS_DOWNLOAD_KEY,
        P.ROOMS_UNENROLL,
        P.INCIDENTS_CREATE,
        P.TICKETS_VIEW,
        P.TICKETS_UPDATE,
    }
)
_SITE_LEAD = _SITE_TECH | {
    P.ROOMS_CREATE,
    P.GROUPS_VIEW,
    P.GROUPS_MODIFY,
    P.GROUPS_CREATE,
    P.RINGS_VIEW,
    P.RINGS_MODIFY,
    P.REPORTS_VIEW,
}

#: Customer built-in roles, created in every tenant and never editable.
BUILTIN_ROLES: dict[str, tuple[str, frozenset[Permission]]] = {
    MSA: ("Full management of the tenant's rooms, settings, roles, partners and audit.", ALL_PERMISSIONS),
    SITE_LEAD: ("Manages rooms, groups and rings in its scope.", frozenset(_SITE_LEAD)),
    SITE_TECH: ("Operates rooms and works tickets in its scope.", _SITE_TECH),
}

#: Permissions that are only meaningful tenant-wide: they need an assignment whose scope is
#: ``all`` (or Global admin). ``rooms.create`` and ``rings.modify`` are tenant-level for
#: some actions only and are checked by their services.
TENANT_LEVEL: frozenset[Permission] = frozenset(
    {
        P.GROUPS_CREATE,
        P.RINGS_CREATE,
        P.SETTINGS_VIEW,
        P.SETTINGS_MODIFY,
        P.ROLES_VIEW,
        P.ROLES_MODIFY,
        P.AUDIT_EXPORT,
        P.PARTNERS_MANAGE,
        P.APPROVALS_REVIEW,
    }
)


#: Each permission's feature and name as the seed's Table 1 says them, in the table's order.
NAMES: dict[Permission, tuple[str, str]] = {
    P.ROOMS_VIEW: ("Rooms", "View rooms"),
    P.ROOMS_MODIFY: ("Rooms", "Modify rooms"),
    P.ROOMS_RESET_KEY: ("Rooms", "Reset enrollment keys"),
    P.ROOMS_DOWNLOAD_KEY: ("Rooms", "Download enrollment keys"),
    P.ROOMS_UNENROLL: ("Rooms", "Unenroll rooms"),
    P.ROOMS_CREATE: ("Rooms", "Create rooms"),
    P.GROUPS_VIEW: ("Group management", "View groups"),
    P.GROUPS_MODIFY: ("Group management", "Modify groups"),
    P.GROUPS_CREATE: ("Group management", "Create groups"),
    P.RINGS_VIEW: ("Update ring management", "View update rings"),
    P.RINGS_MODIFY: ("Update ring management", "Modify update rings"),
    P.RINGS_CREATE: ("Update ring management", "Create update rings"),
    P.REPORTS_VIEW: ("Reports", "View reports"),
    P.INCIDENTS_CREATE: ("Reports", "Create customer incidents"),
    P.TICKETS_VIEW: ("Ticket management", "View tickets"),
    P.TICKETS_UPDATE: ("Ticket management", "Update tickets"),
    P.SETTINGS_VIEW: ("Service settings", "View service settings"),
    P.SETTINGS_MODIFY: ("Service settings", "Modify service settings"),
    P.ROLES_VIEW: ("Role management", "View roles"),
    P.ROLES_MODIFY: ("Role management", "Modify roles"),
    P.AUDIT_EXPORT: ("Audit", "Export the audit log"),
    P.PARTNERS_MANAGE: ("Partners", "Manage partners"),
    P.APPROVALS_REVIEW: ("Approvals", "Review approval requests"),
}


def name_of(permission: str) -> str:
    """A permission's name for people ("View rooms"); an unknown id as itself."""
    try:
        return NAMES[Permission(permission)][1]
    except ValueError:
        return permission


def permission_table() -> list[dict[str, object]]:
    """Rows of SPEC Table 1, for docs and the portal."""
    rows: list[dict[str, object]] = []
    for perm in Permission:
        rows.append(
            {
                "permission": perm.value,
                "feature": NAMES[perm][0],
                "name": NAMES[perm][1],
                "roles": [name for name, (_, perms) in BUILTIN_ROLES.items() if perm in perms],
                "partner_admin": perm in PARTNER_ADMIN,
            }
        )
    return rows
