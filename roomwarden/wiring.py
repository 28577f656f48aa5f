"""Start-up assembly of the domain: the higher packages fill the extension points of the lower
ones (``kit.extensions``), then every point is checked, so a missing rule stops the process
before it serves anything. Called by the application, the command line and the demo; calling
it again changes nothing."""

from __future__ import annotations

from roomwarden.approvals import wiring as approvals
from roomwarden.kit.extensions import check_installed
from roomwarden.partners import wiring as partners


def install() -> None:
    partners.install()
    approvals.install()
    check_installed()
