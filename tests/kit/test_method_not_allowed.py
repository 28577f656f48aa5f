"""A 405 names, in ``Allow``, every method the addressed resource answers (RFC 9110 §15.5.6),
on the API and on the portal's pages alike."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import World


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/tenants/{t}/rooms/{id}", "DELETE, GET, PATCH"),
        ("OPTIONS", "/api/v1/tenants/{t}/rooms", "GET, POST"),
        ("GET", "/api/v1/tenants/{t}/partner-invitations/review", None),  # routed to {invitation_id}
        ("PUT", "/api/v1/tenants/{t}/partner-invitations/review", "POST"),
        ("DELETE", "/healthz", "GET"),
        ("TRACE", "/login", "GET, POST"),
    ],
)
def test_a_405_lists_every_allowed_method(world: World, method: str, path: str, allow: str | None) -> None:
    t = world.tenant()
    url = path.format(t=t.id, id=uuid.uuid4())
    response = world.client.request(method, url, headers=t.admin.headers)
    if allow is None:
        assert response.status_code == 422  # a path parameter that is not an id
        return
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
