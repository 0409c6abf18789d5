"""Family members over HTTP, on SQLite and PostgreSQL: a parent adds children, links each to a PCM
found by a misspelled name, the PCM's team accepts, the parent files for one child and reads the reply;
and every way of acting for a child without a live link is refused."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot import accounts
from micare_bot.app import create_app, gateway_key, keyring_key
from micare_bot.config import DEMO_CLINIC_FILE, Settings
from micare_bot.service_cli import DEMO_PASSWORD, seed_demo
from micare_bot.store import audit, db
from micare_bot.store.clinics import clinic_by_slug
from micare_bot.store.schema import (
    AccountNotice,
    AuditEntry,
    CareRequest,
    Conversation,
    Dependent,
    DependentLink,
    OutboxMessage,
)

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # Monday 9:00 in Chicago
PASSWORD = "correct horse battery staple"
EMMA = {"name": "Emma Reyes", "dob": "2019-04-02"}
LIAM = {"name": "Liam Reyes", "dob": "2021-09-10"}
BLUE_NURSE = "casey.morgan@riverside-clinic.example"
GOLD_NURSE = "gina.okafor@riverside-clinic.example"
ADMIN = "robin.hale@riverside-clinic.example"
APPOINTMENT = {"patient": "Liam", "reason": "ear check after his cold", "preferred_time": "Tuesday morning",
               "visit_type": "in person", "confirm": "yes"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Person:
    email: str
    account_id: str
    csrf: str = ""
    staff: bool = False  # signs in at /api/v1/staff/session (the seeded demo password)

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def two_team_clinic(tmp_path: Path, **family: Any) -> Path:
    """The demo clinic plus a Gold Team with its own provider and nurse."""
    data = yaml.safe_load(DEMO_CLINIC_FILE.read_text(encoding="utf-8"))
    data["care_teams"].append({
        "slug": "gold", "name": "Gold Team", "notify_email": "gold-team@riverside-clinic.example",
        "staff": [{"name": "Gina Okafor", "title": "Nurse", "role": "nurse",
                   "email": "gina.okafor@riverside-clinic.example"}],
        "providers": [{"slug": "okafor", "name": "Dr. Ada Okafor", "last_name": "Okafor", "title": "Pediatrics"}],
    })
    if family:
        data["family"] = {**data.get("family", {}), **family}
    path = tmp_path / "clinic.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


async def seeded_app(settings: Settings, clock: Clock) -> Any:
    """The demo seed (staff with their roles and teams) and the real app, outbox sender off."""
    await seed_demo(settings, now=T0)
    return create_app(settings, clock=clock, send_mail=False)


@pytest.fixture
async def client(engine: AsyncEngine, settings: Settings, clock: Clock, tmp_path: Path, aiohttp_client: Any
                 ) -> TestClient:
    """The real app for the two-team clinic, seeded."""
    return await aiohttp_client(await seeded_app(settings.with_(clinic_file=two_team_clinic(tmp_path)), clock))


class Api:
    """The parent's and the staff's calls, each signed in with its own cookie."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def enroll(self, name: str, email: str, *, role: str = "patient", team: str | None = None,
                     deps: list[tuple[str, date | None]] | None = None) -> str:
        gw = self.app[gateway_key]
        async with db.read(gw.engine) as conn:
            clinic = await clinic_by_slug(conn, "demo")
        assert clinic is not None
        inv = await accounts.enroll(gw.engine, self.app[keyring_key], gw.settings, clinic, name=name, email=email,
                                    now=T0, dob=date(1990, 1, 2), role=role, care_team=team, dependents=deps or [])
        await accounts.accept_invitation(gw.engine, inv.token, PASSWORD, now=T0)
        return inv.account_id

    async def sign_in(self, email: str, account_id: str, *, staff: bool = False) -> Person:
        self.client.session.cookie_jar.clear()
        if staff:
            resp = await self.client.post("/api/v1/staff/session", json={"email": email, "password": DEMO_PASSWORD})
        else:
            resp = await self.client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        return Person(email, account_id, (await resp.json())["csrf_token"], staff)

    async def call(self, who: Person, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Sign in as ``who`` if another person's cookie is in the jar, then call."""
        if getattr(self, "_current", None) != who.email:
            fresh = await self.sign_in(who.email, who.account_id, staff=who.staff)
            who.csrf = fresh.csrf
            self._current = who.email
        kwargs: dict[str, Any] = {"headers": who.headers()}
        if body is not None:
            kwargs["json"] = body
        resp = await self.client.request(method, path, **kwargs)
        return resp.status, await resp.json() if resp.content_type == "application/json" else None

    def forget_session(self) -> None:
        """Sign in again on the next call (the clock jumped past the session's lifetime)."""
        self._current = None

    async def add(self, who: Person, child: dict[str, str]) -> dict[str, Any]:
        status, body = await self.call(who, "POST", "/api/v1/family/members", child)
        assert status == 201, body
        return body

    async def provider(self, who: Person, query: str) -> dict[str, Any]:
        status, body = await self.call(who, "GET", f"/api/v1/family/providers?q={query}")
        assert status == 200, body
        assert body["providers"], f"nothing found for {query!r}"
        return body["providers"][0]

    async def link(self, who: Person, member_id: str, provider_id: str) -> tuple[int, Any]:
        return await self.call(who, "POST", f"/api/v1/family/members/{member_id}/link", {"provider_id": provider_id})

    async def pending(self, staff: Person, status: str = "pending") -> list[dict[str, Any]]:
        code, body = await self.call(staff, "GET", f"/api/v1/staff/family/links?status={status}")
        assert code == 200, body
        return list(body["links"])

    async def decide(self, staff: Person, link_id: str, action: str, body: Any = None) -> tuple[int, Any]:
        return await self.call(staff, "POST", f"/api/v1/staff/family/links/{link_id}/{action}", body or {})

    async def start(self, who: Person, patient: str | None = None) -> tuple[int, Any]:
        return await self.call(who, "POST", "/api/v1/conversations", {"patient": patient} if patient else {})

    async def page(self, who: Person, path: str) -> tuple[int, str]:
        """A staff page's HTML."""
        await self.call(who, "GET", "/api/v1/staff/session" if who.staff else "/api/v1/session")
        resp = await self.client.get(path)
        return resp.status, await resp.text()

    async def converse(self, who: Person, opening: str, answers: dict[str, str], *, stop_before_confirm: bool = False
                       ) -> list[tuple[int, Any]]:
        status, first = await self.start(who)
        assert status == 201, first
        cid = first["conversation_id"]
        out = []
        text = opening
        for _ in range(20):
            result = await self.say(who, cid, text)
            out.append(result)
            code, body = result
            if code != 200 or body["status"] in {"filed", "redirected", "cancelled"}:
                break
            if stop_before_confirm and body["awaiting"] == "confirm":
                break
            text = answers.get(body["awaiting"] or "", "I don't know")
        return out

    async def say(self, who: Person, cid: str, text: str) -> tuple[int, Any]:
        return await self.call(who, "POST", f"/api/v1/conversations/{cid}/turns",
                               {"text": text, "client_turn_id": str(uuid.uuid4())})


@pytest.fixture
async def api(client: TestClient) -> Api:
    return Api(client)


@dataclass
class Family:
    parent: Person
    blue: Person  # a nurse of the Blue Team (Dr. Nakamura's)
    gold: Person  # a nurse of the Gold Team
    emma: dict[str, Any]
    liam: dict[str, Any]


async def linked_family(api: Api, *, accept: bool = True) -> Family:
    """Dana adds Emma and Liam, links both to Dr. Nakamura (found as "nakamora"); Blue accepts."""
    dana = Person("dana@example.com", await api.enroll("Dana Reyes", "dana@example.com"))
    blue = await staff_person(api, BLUE_NURSE)
    gold = await staff_person(api, GOLD_NURSE)
    emma = await api.add(dana, EMMA)
    liam = await api.add(dana, LIAM)
    doctor = await api.provider(dana, "nakamora")
    assert doctor["name"] == "Dr. Emi Nakamura" and doctor["care_team"] == "Blue Team"
    for child in (emma, liam):
        status, body = await api.link(dana, child["id"], doctor["id"])
        assert status == 202 and body["link"]["status"] == "pending", body
    if accept:
        for item in await api.pending(blue):
            status, body = await api.decide(blue, item["link_id"], "accept")
            assert status == 200 and body["status"] == "accepted", body
    return Family(dana, blue, gold, emma, liam)


async def staff_person(api: Api, email: str) -> Person:
    """A seeded staff member."""
    from micare_bot.store.schema import Account

    async with db.read(api.app[gateway_key].engine) as conn:
        account_id = (await conn.execute(select(Account.id).where(
            Account.email_index == api.app[keyring_key].blind_index(email)))).scalar_one()
    return Person(email, str(account_id), staff=True)


async def rows(engine: AsyncEngine, model: Any, *where: Any) -> list[Any]:
    async with db.read(engine) as conn:
        stmt = select(model)
        for cond in where:
            stmt = stmt.where(cond)
        return list((await conn.execute(stmt)).all())


class TestWholePath:
    async def test_two_children_linked_accepted_filed_and_answered(self, api: Api, engine: AsyncEngine) -> None:
        """Add two children, link each to Dr. Nakamura (misspelled), Blue accepts; the chat asks who
        it is for; the request is filed under Liam with Dana as sender; the reply reaches Dana's inbox."""
        fam = await linked_family(api, accept=False)
        status, overview = await api.call(fam.parent, "GET", "/api/v1/family")
        assert status == 200 and overview["link_acceptance"] == "3 business days"
        assert overview["proxy_age_limit"] == 18
        assert [m["name"] for m in overview["members"]] == ["Emma Reyes", "Liam Reyes"]
        for m in overview["members"]:
            assert m["link"]["status"] == "pending" and m["link"]["provider"]["name"] == "Dr. Emi Nakamura"
            # Monday 9:00 + 3 business days: Thursday at closing
            assert m["link"]["answer_expected_text"] == "Thursday, November 19 at 4:30 PM CST"
        pending = await api.pending(fam.blue)
        assert {(i["child"]["name"], i["parent"]["name"], i["child"]["dob"]) for i in pending} == {
            ("Emma Reyes", "Dana Reyes", "2019-04-02"), ("Liam Reyes", "Dana Reyes", "2021-09-10")}
        assert all(i["answer_due_text"] == "Thursday, November 19 at 4:30 PM CST" for i in pending)
        for item in pending:
            assert (await api.decide(fam.blue, item["link_id"], "accept"))[0] == 200

        status, inbox = await api.call(fam.parent, "GET", "/api/v1/messages")
        assert len(inbox["notices"]) == 2 and all("accepted your link" in n["text"] for n in inbox["notices"])
        assert {n["text"].split(" to ")[1].split(" with")[0] for n in inbox["notices"]} == {"Emma Reyes", "Liam Reyes"}

        results = await api.converse(fam.parent, "I need to make an appointment", APPOINTMENT)
        asked = [body for _, body in results if body.get("awaiting") == "patient"]
        assert asked and asked[0]["messages"][-1]["quick_replies"] == ["Me", "Emma", "Liam"]
        code, last = results[-1]
        assert code == 200 and last["status"] == "filed" and last["fields"]["patient"] == "Liam", last
        req = (await rows(engine, CareRequest))[0]
        assert req.dependent_id == fam.liam["id"] and req.account_id == fam.parent.account_id

        status, queue = await api.call(fam.blue, "GET", "/api/v1/staff/requests")
        (item,) = [r for r in queue["requests"] if r["reference"] == last["request_id"]]
        assert item["patient"]["name"] == "Liam Reyes" and item["patient"]["dob"] == "2021-09-10"
        assert item["patient"]["filed_by"]["name"] == "Dana Reyes"
        status, html = await api.page(fam.blue, "/staff/queue")
        assert "Liam Reyes" in html and "filed by Dana Reyes" in html
        status, body = await api.call(fam.blue, "POST", f"/api/v1/staff/requests/{item['id']}/replies",
                                      {"text": "Tuesday at 8:20 works for Liam."})
        assert status == 201, body
        status, inbox = await api.call(fam.parent, "GET", "/api/v1/messages")
        item = inbox["messages"][0]
        assert item["patient"] == "Liam" and item["replies"][0]["text"] == "Tuesday at 8:20 works for Liam."
        status, html = await api.page(fam.blue, "/staff/family")
        assert status == 200 and "Liam Reyes" in html and "Emma Reyes" in html and "Lucas" in html  # + enrolled ones
        assert html.count('class="form inline end-link"') == 7  # Emma, Liam and the seed's five enrolled children
        assert (await audit.verify(engine)).ok

    async def test_naming_the_child_at_the_start(self, api: Api, engine: AsyncEngine) -> None:
        """Starting with {"patient": "Emma"} files under Emma without asking."""
        fam = await linked_family(api)
        status, first = await api.start(fam.parent, "Emma")
        assert status == 201
        cid = first["conversation_id"]
        text = "I need a copy of her immunization record for school, send it by secure message"
        for _ in range(6):
            code, body = await api.say(fam.parent, cid, text)
            assert body["awaiting"] != "patient"
            if body["status"] == "filed":
                break
            text = "yes"
        assert body["status"] == "filed"
        assert (await rows(engine, CareRequest))[0].dependent_id == fam.emma["id"]

    async def test_repeated_submits_act_once(self, api: Api, engine: AsyncEngine) -> None:
        """The same child twice, the same link twice, the same decision twice: one row, one notice."""
        fam = await linked_family(api)
        status, again = await api.call(fam.parent, "POST", "/api/v1/family/members", {**EMMA, "name": " emma  reyes"})
        assert status == 200 and again["id"] == fam.emma["id"]
        doctor = await api.provider(fam.parent, "Nakamura")
        status, body = await api.link(fam.parent, fam.emma["id"], doctor["id"])
        assert status == 200 and body["link"]["status"] == "accepted"
        link_id = body["link"]["id"]
        status, body = await api.decide(fam.blue, link_id, "accept")
        assert status == 200 and body["status"] == "accepted"
        assert len(await rows(engine, DependentLink, DependentLink.source == "family")) == 2
        assert len(await rows(engine, AccountNotice)) == 2
        assert len(await rows(engine, OutboxMessage, OutboxMessage.kind == "family_update")) == 2

    async def test_enrolled_in_person_children_count_as_accepted(self, api: Api) -> None:
        """Children given at in-person enrollment are accepted links from the start."""
        acc = await api.enroll("Maria Santos", "maria@example.com", deps=[("Lucas Santos", date(2021, 6, 1))])
        maria = Person("maria@example.com", acc)
        status, overview = await api.call(maria, "GET", "/api/v1/family")
        link = overview["members"][0]["link"]
        assert link["status"] == "accepted" and link["source"] == "enrollment" and link["can_act"]
        assert (await api.start(maria, "Lucas"))[0] == 201


class TestRefusals:
    async def test_before_acceptance_nothing(self, api: Api, engine: AsyncEngine) -> None:
        """A pending link: no start for the child, the chat never offers the child."""
        fam = await linked_family(api, accept=False)
        status, body = await api.start(fam.parent, "Emma")
        assert status == 403 and body["error"]["code"] == "proxy_not_allowed"
        results = await api.converse(fam.parent, "I need to make an appointment", APPOINTMENT)
        assert all(b.get("awaiting") != "patient" for _, b in results)
        assert results[-1][1]["fields"]["patient"] == "self"
        assert (await rows(engine, CareRequest))[0].dependent_id is None

    async def test_declined_gives_nothing_and_may_be_asked_again(self, api: Api) -> None:
        """A declined link refuses like a pending one; the parent may ask again (pending once more)."""
        fam = await linked_family(api, accept=False)
        item = next(i for i in await api.pending(fam.blue) if i["child"]["name"] == "Liam Reyes")
        status, body = await api.decide(fam.blue, item["link_id"], "decline")
        assert status == 200 and body["status"] == "declined"
        assert (await api.decide(fam.blue, item["link_id"], "accept"))[0] == 409
        assert (await api.start(fam.parent, "Liam"))[0] == 403
        status, inbox = await api.call(fam.parent, "GET", "/api/v1/messages")
        assert "did not accept" in inbox["notices"][0]["text"]
        doctor = await api.provider(fam.parent, "okafr")
        status, body = await api.link(fam.parent, fam.liam["id"], doctor["id"])
        assert status == 202 and body["link"]["status"] == "pending" and body["link"]["care_team"] == "Gold Team"

    async def test_another_familys_child(self, api: Api, engine: AsyncEngine) -> None:
        """Another parent's child cannot be named, linked, read or filed for."""
        fam = await linked_family(api)
        _, first = await api.start(fam.parent, "Emma")
        emma_conv = first["conversation_id"]
        other = Person("frank@example.com", await api.enroll("Frank Delaney", "frank@example.com"))
        status, body = await api.start(other, "Emma")
        assert status == 422 and body["error"]["code"] == "unknown_dependent"
        doctor = await api.provider(other, "nakamura")
        status, body = await api.link(other, fam.emma["id"], doctor["id"])
        assert status == 404
        assert (await api.call(other, "GET", f"/api/v1/conversations/{emma_conv}"))[0] == 404
        assert (await api.say(other, emma_conv, "hello"))[0] == 404
        status, inbox = await api.call(other, "GET", "/api/v1/messages")
        assert inbox == {"messages": [], "notices": []}
        status, overview = await api.call(other, "GET", "/api/v1/family")
        assert overview["members"] == []

    async def test_after_the_link_ends(self, api: Api, engine: AsyncEngine) -> None:
        """Staff end Emma's link (custody): no start, no filing mid-chat, her requests and
        conversations vanish from Dana's view, no new request; the reason code is audited."""
        fam = await linked_family(api)
        filed = await api.converse(fam.parent, "I need to make an appointment", {**APPOINTMENT, "patient": "Emma"})
        assert filed[-1][1]["status"] == "filed"
        open_chat = await api.converse(fam.parent, "I need to make an appointment", {**APPOINTMENT, "patient": "Emma"},
                                       stop_before_confirm=True)
        cid = open_chat[-1][1]["conversation_id"]
        assert open_chat[-1][1]["awaiting"] == "confirm"
        link = next(i for i in await api.pending(fam.blue, "accepted") if i["child"]["name"] == "Emma Reyes")
        status, body = await api.decide(fam.blue, link["link_id"], "end", {"reason": "nonsense"})
        assert status == 422 and body["error"]["code"] == "invalid_reason"
        note = "Court order 2026-114: custody to the other parent"
        status, body = await api.decide(fam.blue, link["link_id"], "end", {"reason": "custody_change", "note": note})
        assert status == 200 and body["status"] == "ended"

        status, body = await api.say(fam.parent, cid, "yes")
        assert status == 403 and body["error"]["code"] == "proxy_not_allowed"
        assert len(await rows(engine, CareRequest)) == 1
        assert (await api.start(fam.parent, "Emma"))[0] == 403
        status, inbox = await api.call(fam.parent, "GET", "/api/v1/messages")
        assert inbox["messages"] == [] and "ended your link" in inbox["notices"][0]["text"]
        assert (await api.call(fam.parent, "GET",
                               f"/api/v1/conversations/{filed[-1][1]['conversation_id']}"))[0] == 404
        doctor = await api.provider(fam.parent, "nakamura")
        status, body = await api.link(fam.parent, fam.emma["id"], doctor["id"])
        assert status == 409 and body["error"]["code"] == "link_ended"
        status, again = await api.call(fam.parent, "POST", "/api/v1/family/members", EMMA)
        assert status == 200 and again["link"]["status"] == "ended"
        # Liam is untouched
        assert (await api.start(fam.parent, "Liam"))[0] == 201

        ends = await rows(engine, AuditEntry, AuditEntry.action == "family.link_end")
        assert len(ends) == 1 and json.loads(ends[0].detail)["reason"] == "custody_change"
        everything = " ".join(r.detail for r in await rows(engine, AuditEntry))
        assert "Court order" not in everything and "Emma" not in everything
        stored = (await rows(engine, DependentLink, DependentLink.id == link["link_id"]))[0]
        assert stored.end_reason == "custody_change" and "Court" not in stored.end_note_enc

    async def test_after_the_age_limit(self, api: Api, engine: AsyncEngine, clock: Clock) -> None:
        """A child turning 18 (clinic time) loses proxy access by itself, also mid-conversation."""
        dana = Person("dana@example.com", await api.enroll("Dana Reyes", "dana@example.com"))
        blue = await staff_person(api, BLUE_NURSE)
        status, body = await api.call(dana, "POST", "/api/v1/family/members",
                                      {"name": "Ava Reyes", "dob": "2008-11-16"})
        assert status == 422 and body["error"]["code"] == "too_old"
        ava = await api.add(dana, {"name": "Ava Reyes", "dob": "2008-11-20"})  # 18 on Friday
        doctor = await api.provider(dana, "Nakamura")
        await api.link(dana, ava["id"], doctor["id"])
        (item,) = await api.pending(blue)
        await api.decide(blue, item["link_id"], "accept")
        chat = await api.converse(dana, "I need to make an appointment", {**APPOINTMENT, "patient": "Ava"},
                                  stop_before_confirm=True)
        cid = chat[-1][1]["conversation_id"]
        clock.now = datetime(2026, 11, 20, 5, 59, tzinfo=timezone.utc)  # Thursday 23:59 in Chicago
        api.forget_session()
        assert (await api.start(dana, "Ava"))[0] == 201
        clock.now = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)  # Friday 00:00 in Chicago: 18
        api.forget_session()
        assert (await api.say(dana, cid, "yes"))[0] == 403
        assert (await api.start(dana, "Ava"))[0] == 403
        status, overview = await api.call(dana, "GET", "/api/v1/family")
        assert overview["members"][0]["link"]["status"] == "aged_out"
        assert await rows(engine, CareRequest) == []

    async def test_age_limit_is_the_clinics(self, engine: AsyncEngine, settings: Settings, tmp_path: Path,
                                            aiohttp_client: Any) -> None:
        """proxy_age_limit: 13 in the clinic file refuses a 13-year-old."""
        app = await seeded_app(settings.with_(clinic_file=two_team_clinic(tmp_path, proxy_age_limit=13)), Clock(T0))
        api = Api(await aiohttp_client(app))
        dana = Person("dana@example.com", await api.enroll("Dana Reyes", "dana@example.com"))
        status, body = await api.call(dana, "POST", "/api/v1/family/members", {"name": "Mia", "dob": "2013-01-01"})
        assert status == 422 and body["error"]["code"] == "too_old" and "13" in body["error"]["message"]
        assert (await api.add(dana, {"name": "Noah", "dob": "2014-01-01"}))["link"]["status"] == "added"

    async def test_staff_of_another_team_cannot_decide(self, api: Api) -> None:
        """Gold staff do not see or decide Blue's link requests; patients cannot use the staff API."""
        fam = await linked_family(api, accept=False)
        assert await api.pending(fam.gold) == []
        link_id = (await api.pending(fam.blue))[0]["link_id"]
        status, body = await api.decide(fam.gold, link_id, "accept")
        assert status == 404
        assert (await api.call(fam.parent, "GET", "/api/v1/staff/family/links"))[0] == 401  # a patient session
        assert (await api.decide(fam.parent, link_id, "accept"))[0] == 401
        assert (await api.call(fam.blue, "GET", "/api/v1/family"))[0] == 401  # a staff session
        admin = await staff_person(api, ADMIN)  # a clinic administrator sees every team's requests
        assert len(await api.pending(admin)) == 2
        status, html = await api.page(fam.blue, "/staff/queue")  # above the queue, for the team
        assert status == 200 and "Family links waiting for a decision" in html and "(2)" in html
        assert "Emma Reyes" in html and "Dana Reyes" in html and "born 2019-04-02, age 7" in html
        assert 'data-decision="accept"' in html
        status, html = await api.page(fam.gold, "/staff/queue")
        assert "Family links waiting for a decision" in html and "Emma Reyes" not in html


class TestBadInput:
    async def test_clean_4xx(self, api: Api, client: TestClient) -> None:
        """Bad dates, names, fields, ids and missing CSRF are JSON 4xx errors, never a 500."""
        dana = Person("dana@example.com", await api.enroll("Dana Reyes", "dana@example.com"))
        cases = [
            ({"name": "Emma", "dob": "04/02/2019"}, 422, "invalid_dob"),
            ({"name": "Emma", "dob": "2030-01-01"}, 422, "invalid_dob"),
            ({"name": "Emma", "dob": "1880-01-01"}, 422, "invalid_dob"),
            ({"name": "  ", "dob": "2019-04-02"}, 422, "invalid_name"),
            ({"name": "<script>", "dob": "2019-04-02"}, 422, "invalid_name"),
            ({"name": "Emma", "dob": "2019-04-02", "insurance": "x"}, 422, "unknown_field"),
            ({"name": 5, "dob": "2019-04-02"}, 422, "invalid_field"),
        ]
        for body, status, code in cases:
            got, answer = await api.call(dana, "POST", "/api/v1/family/members", body)
            assert (got, answer["error"]["code"]) == (status, code), body
        await api.add(dana, EMMA)
        got, answer = await api.call(dana, "POST", "/api/v1/family/members", {"name": "Emma Rose", "dob": "2020-01-01"})
        assert got == 409 and answer["error"]["code"] == "same_first_name"
        got, answer = await api.call(dana, "POST", f"/api/v1/family/members/{uuid.uuid4()}/link",
                                     {"provider_id": str(uuid.uuid4())})
        assert got == 404
        emma = (await api.call(dana, "GET", "/api/v1/family"))[1]["members"][0]
        got, answer = await api.link(dana, emma["id"], str(uuid.uuid4()))
        assert got == 422 and answer["error"]["code"] == "unknown_provider"
        assert (await api.call(dana, "POST", "/api/v1/family/members/not-an-id/link", {"provider_id": "x"}))[0] == 404
        got, answer = await api.call(dana, "GET", "/api/v1/family/providers?q=n")
        assert got == 200 and answer["providers"] == []
        got, answer = await api.call(dana, "GET", "/api/v1/family/providers?q=" + "x" * 200)
        assert got == 422
        resp = await client.post("/api/v1/family/members", json=EMMA)  # no CSRF token
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"


class TestMigration:
    async def test_links_from_before_become_accepted_enrollment_links(self, database_url: str, keyring: Any) -> None:
        """A link written under revision 0001 is an accepted enrollment link after the upgrade."""
        from sqlalchemy import text

        engine = db.make_engine(database_url)
        try:
            await db.upgrade(engine, "0001")
            async with db.write(engine) as conn:
                for statement, values in (
                    ("INSERT INTO clinics (id, slug, name, settings_json, created_at) VALUES "
                     "('c1', 'demo', 'Demo', '{}', :t)", {}),
                    ("INSERT INTO care_teams (id, clinic_id, slug, name) VALUES ('t1', 'c1', 'blue', 'Blue')", {}),
                    ("INSERT INTO accounts (id, clinic_id, care_team_id, role, status, email_index, email_enc, "
                     "name_enc, created_at) VALUES ('a1', 'c1', 't1', 'patient', 'active', 'x', 'e', 'n', :t)", {}),
                    ("INSERT INTO dependents (id, clinic_id, name_enc, created_at) VALUES ('d1', 'c1', 'n', :t)", {}),
                    ("INSERT INTO dependent_links (dependent_id, account_id) VALUES ('d1', 'a1')", {}),
                ):
                    params = {"t": T0.replace(tzinfo=None)} if ":t" in statement else {}
                    await conn.execute(text(statement), {**params, **values})
            await db.upgrade(engine)
            (link,) = await rows(engine, DependentLink)
            assert (link.status, link.source, link.care_team_id) == ("accepted", "enrollment", "t1")
            assert len(link.id) == 36
        finally:
            await engine.dispose()


class TestEmail:
    async def test_decision_mail_reaches_the_parent_without_phi(self, engine: AsyncEngine, settings: Settings,
                                                                tmp_path: Path, aiohttp_client: Any) -> None:
        """Accepting a link e-mails the parent through real SMTP (aiosmtpd): a link, no names, no doctor."""
        from aiosmtpd.controller import Controller

        from micare_bot.channels.email import OutboxSender

        from .conftest import SmtpSink, free_port

        port = free_port()
        mail = settings.with_(clinic_file=two_team_clinic(tmp_path), smtp_host="127.0.0.1", smtp_port=port,
                              smtp_starttls=False, smtp_timeout=2.0, mail_from="clinic@example.org")
        api = Api(await aiohttp_client(await seeded_app(mail, Clock(T0))))
        fam = await linked_family(api)
        sink = SmtpSink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            await OutboxSender(engine, api.app[keyring_key], mail).send_due()
        finally:
            controller.stop()
        to_parent = [e for e in sink.messages if e.rcpt_tos == ["dana@example.com"]  # type: ignore[attr-defined]
                     and b"Subject: An update about your family members" in e.original_content]  # type: ignore[attr-defined]
        assert len(to_parent) == 2  # one per accepted child (the third e-mail is her invitation)
        raw = to_parent[0].original_content.decode()  # type: ignore[attr-defined]
        assert "There is an update about the family members" in raw and mail.base_url in raw
        for phi in ("Emma", "Liam", "Reyes", "Dana", "Nakamura", "2019", "2021"):
            assert phi not in raw, phi
        to_team = [e for e in sink.messages if e.rcpt_tos == ["blue-team@riverside-clinic.example"]]  # type: ignore[attr-defined]
        assert len(to_team) == 2  # "a new request is in your care team's queue", one per link request
        assert fam.parent.email == "dana@example.com"
