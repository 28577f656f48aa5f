"""The browser portal (SPEC §9), served by the same process over the same services and
access rules as the API. ``install`` adds it to the application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from roomwarden.portal import (
    account,
    approvals,
    audit_log,
    directory,
    elevation,
    groups,
    home,
    partner_approvals,
    partner_customers,
    partner_expiry,
    partner_invitations,
    partner_managers,
    partner_views,
    partners,
    report_ranges,
    reports,
    rings,
    roles,
    rooms,
    settings_page,
    sign_in_settings,
    signals,
    signin,
    tickets,
    webhooks,
)
from roomwarden.portal.headers import PortalHeaders
from roomwarden.portal.web import STATIC, status_page

#: page modules, each with a ``pages`` router; more are added here
MODULES = (
    signin,
    account,
    home,
    rooms,
    signals,
    groups,
    rings,
    tickets,
    reports,
    report_ranges,
    roles,
    partners,
    partner_expiry,
    approvals,
    audit_log,
    settings_page,
    sign_in_settings,
    webhooks,
    directory,
    partner_approvals,
    partner_invitations,
    partner_customers,
    partner_managers,
    partner_views,
    elevation,
)


def install(app: FastAPI) -> None:
    for module in MODULES:
        app.include_router(module.pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="portal.static")
    app.state.html_status_page = status_page
    app.add_middleware(PortalHeaders)
