"""Software releases (SPEC §12): the operator publishes, everyone signed in lists the catalogue.
Delivery itself is the device report's answer (``api.devices``); compliance is in the room and
ring representations (``api.rooms``)."""

from __future__ import annotations

from fastapi import Depends

from roomwarden.identity.deps import PrincipalDep, operator_token
from roomwarden.kit.api import SessionDep, not_audited
from roomwarden.kit.pagination import Page, PageDep, paginate
from roomwarden.kit.routing import router
from roomwarden.software import releases
from roomwarden.software.models import Release
from roomwarden.software.schemas import Component, ReleaseCreate, ReleaseRead

operator = router(prefix="/api/v1/operator", tags=["operator"])
api = router(prefix="/api/v1", tags=["software"])


@operator.post(
    "/releases",
    response_model=ReleaseRead,
    status_code=201,
    dependencies=[Depends(operator_token)],
    responses={409: {"description": "This version of the component is already published"}},
)
@not_audited("operator API: outside every tenant; the release row records the publication")
def publish_release(session: SessionDep, body: ReleaseCreate) -> ReleaseRead:
    """Publish ``version`` (dotted numbers; ``1.4`` and ``1.4.0`` are one version) of
    ``component``. Rings offer it to their rooms once their deferral has passed."""
    return ReleaseRead.model_validate(releases.publish(session, body))


@api.get("/releases", response_model=Page[ReleaseRead])
def list_releases(
    session: SessionDep, principal: PrincipalDep, pages: PageDep, component: Component | None = None
) -> Page[ReleaseRead]:
    """The release catalogue, in the order of publication (for everyone signed in)."""
    return paginate(
        session, releases.releases_query(component), Release.id, pages, ReleaseRead.model_validate
    )
