from tests.factories import World, expect


def test_tenant_admin_can_create_and_list_rooms(world: World) -> None:
    t = world.tenant()
    room = world.room(t, city="Seattle")
    page = expect(world.client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)
    assert [r["id"] for r in page["items"]] == [room["id"]]
