"""A fleet to try monitoring with: N simulated room devices speaking the device protocol over
real HTTP, exactly as consoles would (docs/devices.md, "Simulator"). With a person's token it
reads the rooms' enrollment keys (each read is in the tenant's audit log), enrols one device
per room, then reports every interval, failing and recovering signals at random, and installs
the software its report's answer offers (failing some installs at the same rate)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from roomwarden.devices.catalogue import REPORTED

#: A failed signal recovers at a report with this probability (failures last a few reports).
RECOVERY = 0.3
AGENT_VERSION = "1.0.0"
#: A report carries a meeting that just ended with this probability (the usage report).
MEETING = 0.03


@dataclass
class SimulatedDevice:
    room_id: str
    room_name: str
    token: str
    interval: float
    sequence: int = 0
    states: dict[str, str] = field(default_factory=lambda: dict.fromkeys(REPORTED, "ok"))
    software: dict[str, str] = field(default_factory=lambda: {"agent": AGENT_VERSION})
    #: install attempts to report with the next report
    results: list[dict[str, str]] = field(default_factory=list)
    #: Finished meetings not yet accepted by the service (sent again until they are).
    meetings: list[dict[str, object]] = field(default_factory=list)

    def step(self, rng: random.Random, failure_rate: float) -> list[tuple[str, str, str]]:
        """Advance the signals one report; the changes as (signal, from, to)."""
        changes = []
        for signal, state in self.states.items():
            if state == "ok" and rng.random() < failure_rate:
                new = "warning" if rng.random() < 0.3 else "failed"
            elif state != "ok" and rng.random() < RECOVERY:
                new = "ok"
            else:
                continue
            self.states[signal] = new
            changes.append((signal, state, new))
        if rng.random() < MEETING:
            ended = datetime.now(UTC).replace(microsecond=0)
            started = ended - timedelta(minutes=rng.choice((15, 30, 45, 60)))
            participants = rng.randint(1, 12)
            self.meetings.append(
                {
                    "started_at": started.isoformat(),
                    "ended_at": ended.isoformat(),
                    "participants": participants,
                }
            )
        self.sequence += 1
        return changes

    def body(self) -> dict[str, object]:
        signals = [
            {"signal": s, "state": st, "detail": "" if st == "ok" else "simulated"}
            for s, st in self.states.items()
        ]
        body = {
            "sequence": self.sequence,
            "signals": signals,
            "software": dict(self.software),
            "software_results": self.results,
            "meetings": self.meetings[-100:],
        }
        self.results = []
        return body

    def install(self, offers: list[dict[str, str]], rng: random.Random, failure_rate: float) -> list[str]:
        """Try each offered release (reported with the next report); what happened, in words."""
        done = []
        for offer in offers:
            component, version = offer["component"], offer["version"]
            failed = rng.random() < failure_rate
            self.results.append(
                {
                    "component": component,
                    "version": version,
                    "status": "failed" if failed else "installed",
                    "detail": "simulated failure" if failed else "",
                }
            )
            if not failed:
                self.software[component] = version
            done.append(f"{component} {version} {'failed' if failed else 'installed'}")
        return done


@dataclass
class Fleet:
    url: str
    token: str
    tenant: str
    rooms: int = 10
    failure_rate: float = 0.05
    #: seconds between a device's reports; None: what the service asks for at enrolment
    interval: float | None = None
    seed: int | None = None
    log: Callable[[str], None] = print
    devices: list[SimulatedDevice] = field(default_factory=list)

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url.rstrip("/"), timeout=30)

    def _room_ids(self, client: httpx.Client) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        cursor = None
        headers = {"Authorization": f"Bearer {self.token}"}
        while len(found) < self.rooms:
            params: dict[str, str | int] = {"limit": min(200, self.rooms - len(found))}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/api/v1/tenants/{self.tenant}/rooms", params=params, headers=headers)
            page.raise_for_status()
            body = page.json()
            found += [(r["id"], r["name"]) for r in body["items"] if r["enrollment_state"] == "enrolled"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        return found[: self.rooms]

    def enrol(self) -> list[SimulatedDevice]:
        headers = {"Authorization": f"Bearer {self.token}"}
        with self._client() as client:
            for i, (room_id, name) in enumerate(self._room_ids(client)):
                key = client.get(
                    f"/api/v1/tenants/{self.tenant}/rooms/{room_id}/enrollment-key", headers=headers
                )
                key.raise_for_status()
                enrolled = client.post(
                    "/api/v1/devices/enroll",
                    json={
                        "enrollment_key": key.json()["enrollment_key"],
                        "serial_number": f"SIM-{i + 1:05d}",
                        "model": "Roomwarden Simulated Console",
                        "agent_version": AGENT_VERSION,
                    },
                )
                enrolled.raise_for_status()
                body = enrolled.json()
                interval = self.interval or float(body["report_interval_seconds"])
                self.devices.append(SimulatedDevice(room_id, name, body["device_token"], interval))
        self.log(f"enrolled {len(self.devices)} device(s)")
        return self.devices

    def run(self, duration: float | None = None, stop: threading.Event | None = None) -> int:
        """Report until ``duration`` seconds passed (None: until ``stop`` is set); returns how
        many reports were sent. Each device reports at its interval, spread over it."""
        rng = random.Random(self.seed)
        stop = stop or threading.Event()
        end = time.monotonic() + duration if duration is not None else None
        start = time.monotonic()
        due = {
            id(d): start + (i / max(len(self.devices), 1)) * d.interval for i, d in enumerate(self.devices)
        }
        sent = 0
        with self._client() as client:
            while not stop.is_set() and (end is None or time.monotonic() < end):
                now = time.monotonic()
                for device in self.devices:
                    if due[id(device)] > now:
                        continue
                    for signal, before, after in device.step(rng, self.failure_rate):
                        self.log(f"{device.room_name}: {signal} {before} -> {after}")
                    answer = client.post(
                        "/api/v1/device/reports",
                        json=device.body(),
                        headers={"Authorization": f"Bearer {device.token}"},
                    )
                    if answer.status_code != 200:
                        self.log(f"{device.room_name}: report answered {answer.status_code}")
                    else:
                        device.meetings.clear()
                        offers = answer.json().get("desired_software", [])
                        for line in device.install(offers, rng, self.failure_rate):
                            self.log(f"{device.room_name}: {line}")
                    sent += 1
                    due[id(device)] = now + device.interval
                wait = min(due.values(), default=now + 1) - time.monotonic()
                stop.wait(max(0.0, min(wait, 1.0)))
        return sent
