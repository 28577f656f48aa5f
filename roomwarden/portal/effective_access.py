"""The effective-access panel of the partner's page and the user's page: ``access.explain``
(the service behind ``GET /api/v1/tenants/{t}/access/explain``) for users on a chosen room."""

from __future__ import annotations

import uuid

from roomwarden.access.schemas import Explanation
from roomwarden.kit.errors import NotFound
from roomwarden.portal import pickers
from roomwarden.portal.deps import Ctx
from roomwarden.portal.web import parse_uuid
from roomwarden.rooms.effective_access import explain

#: users explained at once on one page
LIMIT = 50
NO_ROOM = "Choose a room from the list: there is no room with that id that you can see."
NO_ROOM_NAMED = (
    "There is no room with that name that you can see: type a room's name as the Rooms list shows it."
)
SEVERAL_NAMED = "Several rooms you can see have that name: open the room from the Rooms list instead."


def explanations(
    ctx: Ctx, user_ids: list[uuid.UUID], room: str
) -> tuple[list[Explanation] | None, dict[str, str]]:
    """``explain`` for each user on the chosen room (nothing while no room is chosen). A room
    the user cannot view reads as one that does not exist, next to the Room field."""
    if not room:
        return None, {}
    room_id = parse_uuid(room)
    if room_id is None:  # a name, as typed in the partner page's Room field
        matches = pickers.named(ctx.session, ctx.access, room)
        if len(matches) != 1:
            return None, {"room": NO_ROOM_NAMED if not matches else SEVERAL_NAMED}
        room_id = matches[0]
    try:
        return [explain(ctx.session, ctx.access, uid, room_id) for uid in user_ids[:LIMIT]], {}
    except NotFound:
        return None, {"room": NO_ROOM}
