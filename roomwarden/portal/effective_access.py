"""The effective-access panel of the partner's page and the user's page: ``access.explain``
(the service behind ``GET /api/v1/tenants/{t}/access/explain``) for users on a chosen room."""

from __future__ import annotations

import uuid

from roomwarden.access.schemas import Explanation
from roomwarden.kit.errors import NotFound
from roomwarden.portal.deps import Ctx
from roomwarden.portal.web import parse_uuid
from roomwarden.rooms.effective_access import explain

#: users explained at once on one page
LIMIT = 50
NO_ROOM = "Choose a room from the list: there is no room with that id that you can see."


def explanations(
    ctx: Ctx, user_ids: list[uuid.UUID], room: str
) -> tuple[list[Explanation] | None, dict[str, str]]:
    """``explain`` for each user on the chosen room (nothing while no room is chosen). A room
    the user cannot view reads as one that does not exist, next to the Room field."""
    if not room:
        return None, {}
    room_id = parse_uuid(room)
    try:
        if room_id is None:
            raise NotFound("room not found")
        return [explain(ctx.session, ctx.access, uid, room_id) for uid in user_ids[:LIMIT]], {}
    except NotFound:
        return None, {"room": NO_ROOM}
