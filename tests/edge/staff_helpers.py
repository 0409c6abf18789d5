"""Shared set-up for the staff tests: a seeded two-team clinic, actors with their own cookie jars,
patients filing real requests through the patient API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp.test_utils import TestClient

from micare_bot.config import DEMO_CLINIC_FILE, Settings
from micare_bot.service_cli import DEMO_PASSWORD

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # Monday 9:00 in Chicago
NURSE = "casey.morgan@riverside-clinic.example"  # blue team, nurse
PCM = "sam.whitfield@riverside-clinic.example"  # blue team, pcm
GOLD = "gale.ortiz@riverside-clinic.example"  # gold team only, med tech
ADMIN = "robin.hale@riverside-clinic.example"  # clinic admin, no team
JORDAN = "jordan.avery@example.com"
MARIA = "maria.santos@example.com"  # has children Lucas and Sophie
FRANK = "frank.delaney@example.com"
REFILL = ("I need my blood pressure pill refilled", {"pharmacy": "mail order", "patient": "me"})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def two_team_clinic_file(tmp_path: Path) -> Path:
    """The demo clinic plus a Gold Team with a medical technician."""
    data = yaml.safe_load(DEMO_CLINIC_FILE.read_text(encoding="utf-8"))
    data["care_teams"].append({
        "slug": "gold", "name": "Gold Team", "notify_email": "gold-team@riverside-clinic.example",
        "staff": [{"name": "Gale Ortiz", "title": "Medical technician", "role": "med_tech", "email": GOLD}],
    })
    path = tmp_path / "clinic.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@dataclass
class Actor:
    """A browser-like client with its own cookie jar (a patient or a staff member)."""

    http: aiohttp.ClientSession
    base: str
    csrf: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    async def get(self, path: str, **kw: Any) -> aiohttp.ClientResponse:
        return await self.http.get(self.url(path), **kw)

    async def post(self, path: str, body: Any = None, *, csrf: bool = True, **kw: Any) -> aiohttp.ClientResponse:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        headers.update(kw.pop("headers", {}))
        return await self.http.post(self.url(path), json=body if body is not None else {}, headers=headers, **kw)

    async def delete(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.delete(self.url(path), headers={"X-CSRF-Token": self.csrf})

    async def json(self, path: str, status: int = 200) -> Any:
        resp = await self.get(path)
        assert resp.status == status, await resp.text()
        return await resp.json()


class Actors:
    """Creates actors on one test server and closes their sessions at the end."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.base = str(client.make_url("")).rstrip("/")
        self.sessions: list[aiohttp.ClientSession] = []

    def new(self) -> Actor:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sessions.append(http)
        return Actor(http, self.base)

    async def staff(self, email: str, password: str = DEMO_PASSWORD) -> Actor:
        actor = self.new()
        resp = await actor.post("/api/v1/staff/session", {"email": email, "password": password}, csrf=False)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        actor.csrf, actor.info = body["csrf_token"], body["staff"]
        assert "micare_staff" in resp.cookies
        return actor

    async def patient(self, email: str) -> Actor:
        actor = self.new()
        resp = await actor.post("/api/v1/session", {"email": email, "password": DEMO_PASSWORD}, csrf=False)
        assert resp.status == 200, await resp.text()
        actor.csrf = (await resp.json())["csrf_token"]
        return actor

    async def close(self) -> None:
        for s in self.sessions:
            await s.close()


async def file_request(patient: Actor, opening: str = REFILL[0], answers: dict[str, str] | None = None,
                       dependent: str | None = None) -> dict[str, Any]:
    """Chat through the real patient API until the request is filed; returns the last turn result."""
    answers = dict(REFILL[1] if answers is None else answers)
    resp = await patient.post("/api/v1/conversations", {"patient": dependent} if dependent else {})
    assert resp.status == 201, await resp.text()
    cid = (await resp.json())["conversation_id"]
    text = opening
    for _ in range(20):
        resp = await patient.post(f"/api/v1/conversations/{cid}/turns",
                                  {"text": text, "client_turn_id": str(uuid.uuid4())})
        assert resp.status == 200, await resp.text()
        result = await resp.json()
        if result["status"] in {"filed", "redirected", "cancelled"}:
            assert result["status"] == "filed", result
            return dict(result)
        awaiting = result["awaiting"]
        text = answers.get(awaiting or "", "yes" if awaiting == "confirm" else "I don't know")
    raise AssertionError("the conversation did not file")


def settings_for(base: Settings, clinic_file: Path) -> Settings:
    return base.with_(clinic_file=clinic_file)
