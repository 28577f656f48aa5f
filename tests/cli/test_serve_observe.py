"""Metrics, logs and balance through ``roomwarden serve --workers 2``: whichever worker answers
``/metrics`` reports the requests of both (prometheus-client's multiprocess mode, in a
directory the run makes and removes), and the log is one JSON object a line with request ids."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2

from roomwarden.settings import Settings
from tests.kit.test_observe import sample
from tests.live import roomwarden_serve

TOKEN = "metrics-token-for-the-served-tests-0123"
REQUESTS = 40


def healthz_count(text: str) -> float:
    return sample(text, "roomwarden_http_requests_total", method="GET", route="/healthz", status="200")


def test_serve_with_two_workers_counts_every_request_and_logs_json(
    settings: Settings, db: object, tmp_path: Path
) -> None:
    log_path = tmp_path / "serve.log"
    scratch = tmp_path / "tmp"  # the server's temporary files: its metrics directory
    scratch.mkdir()
    env = {"ROOMWARDEN_METRICS_TOKEN": TOKEN, "ROOMWARDEN_WORKER_THREADS": "4", "TMPDIR": str(scratch)}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with roomwarden_serve(settings.database_url, 2, env, log_path=log_path) as url:
        first = httpx2.get(f"{url}/metrics", headers=auth, timeout=30).text
        base = healthz_count(first)
        for i in range(REQUESTS):  # a new connection each: the kernel picks a worker per connection
            response = httpx2.get(f"{url}/healthz", headers={"X-Request-ID": f"served-{i}"}, timeout=30)
            assert response.headers["x-request-id"] == f"served-{i}"
        assert httpx2.get(f"{url}/metrics", timeout=30).status_code == 401
        for _ in range(6):  # any worker may answer the scrape: each must see all the requests
            text = httpx2.get(f"{url}/metrics", headers=auth, timeout=30).text
            assert healthz_count(text) - base == REQUESTS
        # each worker listens on a socket of its own, and the kernel spread the 40 connections
        # over both (all on one has a chance of 2^-39)
        workers = [line for line in text.splitlines() if line.startswith("roomwarden_worker_requests{")]
        assert len(workers) == 2 and all('pid="' in line for line in workers)
        assert all(float(line.rsplit(" ", 1)[1]) > 0 for line in workers)
        directories = list(scratch.glob("roomwarden-metrics-*"))
        assert len(directories) == 1 and any(directories[0].iterdir())
    lines = log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    served = [e for e in entries if e.get("logger") == "roomwarden.access" and e["path"] == "/healthz"]
    assert {e["request_id"] for e in served} >= {f"served-{i}" for i in range(REQUESTS)}
    assert all(e["status"] == 200 and e["route"] == "/healthz" for e in served)
    # the run's metrics directory is gone with it
    assert not directories[0].exists()
