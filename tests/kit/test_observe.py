"""Operations (SPEC §10): ``GET /metrics`` behind ROOMWARDEN_METRICS_TOKEN, request ids in
``X-Request-ID`` and the log, and one JSON object per log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from roomwarden.app import create_app
from roomwarden.kit import requestid
from roomwarden.kit.db import Database
from roomwarden.kit.logs import JSONFormatter
from roomwarden.settings import Settings
from tests.devices.helpers import DeviceH, enroll, report, send
from tests.factories import World, expect

TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def client(world: World, db: Database) -> Iterator[TestClient]:
    settings = world.settings.model_copy(update={"metrics_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, db)) as c:
        yield c


def scrape(c: TestClient) -> str:
    response = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, value = line.rsplit(" ", 1)
            got = series[len(name) :].strip("{}")
            if ",".join(sorted(got.split(","))) == want or (not want and not got):
                return float(value)
    return 0.0


def test_metrics_need_the_configured_token(client: TestClient, world: World, db: Database) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert wrong.headers["content-type"] == "application/problem+json"
    basic = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert "roomwarden_http_requests_total" in scrape(client)
    # without a configured token the endpoint is not there for anyone, the right bearer included
    with TestClient(create_app(world.settings, db)) as unconfigured:
        assert world.settings.metrics_token is None
        assert unconfigured.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
        assert unconfigured.get("/metrics").status_code == 404
    with pytest.raises(ValidationError):  # a guessable token is refused at start-up
        Settings(metrics_token="short")


def test_requests_are_counted_by_route_template_and_status(client: TestClient, world: World) -> None:
    t = world.tenant()
    route = "/api/v1/tenants/{tenant_id}/rooms"
    before = scrape(client)
    expect(client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)
    expect(client.get(f"/api/v1/tenants/{t.id}/rooms", headers=t.admin.headers), 200)
    assert client.get(f"/api/v1/tenants/{t.id}/rooms").status_code == 401
    assert client.get("/no/such/path/at/all").status_code == 404
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("roomwarden_http_requests_total", method="GET", route=route, status="200") == 2
    assert grew("roomwarden_http_requests_total", method="GET", route=route, status="401") == 1
    assert grew("roomwarden_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert grew("roomwarden_http_request_duration_seconds_count", method="GET", route=route) == 3
    assert grew("roomwarden_authorization_decisions_total", outcome="allowed") >= 2
    # no series is named after a concrete path
    assert str(t.id) not in after
    assert 'roomwarden_job_queue_depth{queue="mail"}' in after


def test_authorization_outcomes_are_counted(client: TestClient, world: World) -> None:
    t, other = world.tenant(), world.tenant()
    before = scrape(client)
    assert client.get(f"/api/v1/tenants/{other.id}/rooms", headers=t.admin.headers).status_code == 404
    after = scrape(client)
    name = "roomwarden_authorization_decisions_total"
    assert sample(after, name, outcome="not_found") - sample(before, name, outcome="not_found") == 1


def test_device_reports_are_counted_by_outcome_and_every_queue_has_a_depth(
    client: TestClient, world: World
) -> None:
    t = world.tenant()
    device = enroll(world, t, world.room(t)["id"])
    before = scrape(client)
    report(world, device, sequence=5)
    report(world, device, sequence=5)  # not newer: stale, answered alike
    forged = DeviceH(device.device_id, device.room_id, device.tenant_id, device.token[:-4] + "AAAA")
    assert send(world, forged).status_code == 401
    after = scrape(client)
    name = "roomwarden_device_reports_total"
    for outcome in ("accepted", "stale", "refused"):
        assert sample(after, name, outcome=outcome) - sample(before, name, outcome=outcome) == 1, outcome
    for queue in ("mail", "jobs", "webhooks"):
        assert f'roomwarden_job_queue_depth{{queue="{queue}"}}' in after


def test_a_well_formed_request_id_is_echoed_and_any_other_replaced(client: TestClient) -> None:
    fresh = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert client.get("/healthz").headers["x-request-id"] != fresh
    for good in ("abc-123_x.y", "a", "A" * 128):
        assert client.get("/healthz", headers={"X-Request-ID": good}).headers["x-request-id"] == good
    for bad in ("", "A" * 129, "two words", 'quote"d', "new\\nline", "ünï"):
        got = client.get("/healthz", headers={"X-Request-ID": bad.encode()}).headers["x-request-id"]
        assert got != bad and re.fullmatch(r"[0-9a-f]{32}", got), bad
    # refusals and errors carry one too
    assert "x-request-id" in client.get("/api/v1/me").headers


def test_a_log_line_is_one_json_object_with_the_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="roomwarden.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    records = [r for r in caplog.records if r.name == "roomwarden.access"]
    assert records, "no access line"
    line = JSONFormatter().format(records[-1])
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == response.headers["x-request-id"] == "trace-42"
    assert entry | {"time": None, "duration_ms": None, "request_id": None} == {
        "request_id": None,
        "time": None,
        "duration_ms": None,
        "level": "info",
        "logger": "roomwarden.access",
        "message": "GET /healthz 200",
        "method": "GET",
        "path": "/healthz",
        "route": "/healthz",
        "status": 200,
        "client": "testclient",
    }


def test_the_request_id_reaches_every_log_line_of_the_request() -> None:
    record = logging.LogRecord("roomwarden", logging.WARNING, __file__, 1, "it %s", ("broke",), None)
    token = requestid.current.set("req-7")
    try:
        entry = json.loads(JSONFormatter().format(record))
    finally:
        requestid.current.reset(token)
    assert (entry["message"], entry["request_id"], entry["level"]) == ("it broke", "req-7", "warning")
    assert "request_id" not in json.loads(JSONFormatter().format(record))
