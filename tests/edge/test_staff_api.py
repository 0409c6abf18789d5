"""The care-team queue over HTTP (`/api/v1/staff/`), on SQLite and PostgreSQL, with the real app,
real patients filing real requests through the patient API, and every access rule."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.app import create_app, keyring_key
from micare_bot.clinic_settings import parse_clinic
from micare_bot.config import Settings
from micare_bot.service_cli import seed_demo
from micare_bot.staff.roster import add_staff
from micare_bot.store import audit, db
from micare_bot.store.clinics import sync_clinic
from micare_bot.store.schema import AuditEntry, OutboxMessage, RequestEvent, RequestReply, aad

from .staff_helpers import (
    ADMIN,
    FRANK,
    GOLD,
    JORDAN,
    MARIA,
    NURSE,
    PCM,
    T0,
    Actor,
    Actors,
    Clock,
    file_request,
    two_team_clinic_file,
)


@dataclass
class World:
    client: TestClient
    actors: Actors
    clock: Clock
    engine: AsyncEngine
    settings: Settings

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        order = (RequestEvent.at, RequestEvent.seq) if model is RequestEvent else ()
        async with db.read(self.engine) as conn:
            return list((await conn.execute(select(model).where(*where).order_by(*order))).all())

    async def outbox(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        ring = self.client.server.app[keyring_key]
        out = []
        for r in await self.rows(OutboxMessage, OutboxMessage.kind == kind):
            out.append((ring.decrypt_text(r.recipient_enc, aad(OutboxMessage, "recipient_enc", r.id)),
                        dict(ring.decrypt_json(r.payload_enc, aad(OutboxMessage, "payload_enc", r.id)))))
        return out


@pytest.fixture
async def world(engine: AsyncEngine, settings: Settings, tmp_path: Any, aiohttp_client: Any) -> AsyncIterator[World]:
    """The real app (outbox sender off) on a migrated database seeded with a two-team demo clinic."""
    s = settings.with_(clinic_file=two_team_clinic_file(tmp_path))
    await seed_demo(s, now=T0)
    clock = Clock(T0)
    client = await aiohttp_client(create_app(s, clock=clock, send_mail=False))
    actors = Actors(client)
    try:
        yield World(client, actors, clock, engine, s)
    finally:
        await actors.close()


async def queue(actor: Actor, query: str = "") -> dict[str, Any]:
    return dict(await actor.json("/api/v1/staff/requests" + query))


async def only_request(actor: Actor) -> dict[str, Any]:
    body = await queue(actor)
    assert len(body["requests"]) == 1, body
    return dict(body["requests"][0])


class TestTheNurseAnswersAPatient:
    async def test_login_queue_claim_answer_and_the_patient_sees_it(self, world: World) -> None:
        """The issue's 'done when': a nurse signs in, sees the filed request structured, claims it,
        answers with a canned reply; the patient reads the answer in the inbox and gets the e-mail."""
        jordan = await world.actors.patient(JORDAN)
        filed = await file_request(jordan)
        nurse = await world.actors.staff(NURSE)
        assert nurse.info["role"] == "nurse" and nurse.info["name"] == "Casey Morgan"

        item = await only_request(nurse)
        assert item["reference"] == filed["request_id"] and item["intent"] == "refill"
        assert item["status"] == "open" and item["triage"] == "routine" and item["assignee"] is None
        assert item["patient"]["name"] == "Jordan Avery" and item["patient"]["filed_by"] is None
        assert "losartan" in item["fields"]["medication"].lower() and item["fields"]["pharmacy"]
        assert item["patient_words"][0] == "I need my blood pressure pill refilled"
        assert item["team"]["slug"] == "blue" and item["due_at"] == "2026-11-17T22:30:00+00:00"
        assert item["due_state"] == "on_time"

        detail = await nurse.json(f"/api/v1/staff/requests/{item['id']}")
        assert detail["can_work"] and detail["askable_fields"] == ["patient", "medication", "pharmacy"]
        resp = await nurse.post(f"/api/v1/staff/requests/{item['id']}/claim")
        assert resp.status == 200, await resp.text()
        claimed = await resp.json()
        assert claimed["status"] == "claimed" and claimed["assignee"]["name"] == "Casey Morgan"
        assert any(c["id"] == "refill/sent_to_pharmacy" for c in claimed["canned"])

        preview = await nurse.json(f"/api/v1/staff/requests/{item['id']}/canned?id=refill/sent_to_pharmacy")
        assert "Hello Jordan" in preview["text"] and "Losartan" in preview["text"]

        body = {"canned": "refill/sent_to_pharmacy", "asked_fields": ["pharmacy"], "client_action_id": "r-1"}
        resp = await nurse.post(f"/api/v1/staff/requests/{item['id']}/replies", body)
        assert resp.status == 201, await resp.text()
        answered = await resp.json()
        assert answered["first_reply_at"] == T0.isoformat() and answered["replies"][0]["text"] == preview["text"]
        again = await nurse.post(f"/api/v1/staff/requests/{item['id']}/replies", body)
        assert again.status == 200 and (await again.json())["repeated"] is True
        assert len(await world.rows(RequestReply)) == 1

        inbox = await jordan.json("/api/v1/messages")
        [message] = inbox["messages"]
        assert message["request_id"] == filed["request_id"]
        assert [r["text"] for r in message["replies"]] == [preview["text"]]
        mails = await world.outbox("new_message")
        assert [m[0] for m in mails] == [JORDAN]  # once, to the patient, with only a link
        assert set(mails[0][1]) == {"link"}

        events = await world.rows(RequestEvent, RequestEvent.request_id == item["id"])
        replied = [e for e in events if e.action == "replied"]
        assert [e.action for e in events if e.action not in ("viewed",)] == ["claimed", "replied"]
        assert json.loads(replied[0].asked_fields) == ["pharmacy"]
        assert replied[0].staff_id == nurse.info["id"] and json.loads(replied[0].detail) == {
            "canned": "refill/sent_to_pharmacy"}

        resp = await nurse.post(f"/api/v1/staff/requests/{item['id']}/done")
        assert resp.status == 200 and (await resp.json())["status"] == "closed"
        body2 = await queue(nurse)
        assert body2["requests"] == [] and body2["counts"] == {"open": 0, "claimed": 0, "closed": 1}
        closed = await queue(nurse, "?status=closed")
        assert [r["id"] for r in closed["requests"]] == [item["id"]]

        assert (await audit.verify(world.engine)).ok
        actions = [r.action for r in await world.rows(AuditEntry, AuditEntry.target_id == item["id"])]
        for expected in ("staff.claimed", "phi.write", "staff.done", "phi.read"):
            assert expected in actions
        queue_reads = [json.loads(r.detail) for r in await world.rows(AuditEntry, AuditEntry.target_type == "queue")]
        assert any(item["id"] in d["requests"] for d in queue_reads)  # the list view is audited too

    async def test_a_safety_question_answered_no_is_shown_to_staff(self, world: World, alarmed_engine: Any,
                                                                  monkeypatch: Any) -> None:
        """Only the word model found the opening urgent; the patient said no to the safety
        question, so it is filed, and the nurse sees that the screen asked."""
        from micare_bot import conversation

        monkeypatch.setattr(conversation, "load_engine", lambda *a, **k: alarmed_engine)
        jordan = await world.actors.patient(JORDAN)
        await file_request(jordan, "my knee has a zorblax feeling again today",
                           {"safety": "no", "severity": "mild", "self_care": "ice"})
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        assert item["safety_checked"] == "emergency" and item["triage"] == "routine"
        assert item["patient_words"][:2] == ["my knee has a zorblax feeling again today", "no"]
        page = await (await nurse.get(f"/staff/requests/{item['id']}")).text()
        assert "Screen asked: possibly emergency; patient said no" in page

    async def test_a_same_day_screen_answered_not_sure_is_filed_and_flagged(self, world: World,
                                                                           alarmed_engine: Any,
                                                                           monkeypatch: Any) -> None:
        """A same-day screen answered "not sure": the patient was given the nurse line, the
        request is filed, and the nurse sees they were not sure (so calls first)."""
        from micare_bot import conversation

        monkeypatch.setattr(conversation, "load_engine", lambda *a, **k: alarmed_engine)
        jordan = await world.actors.patient(JORDAN)
        await file_request(jordan, "my ankles have a zindrox look since last week",
                           {"safety": "not sure", "severity": "mild", "self_care": "nothing yet"})
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        assert item["safety_checked"] == "same_day" and item["safety_unsure"] is True
        page = await (await nurse.get(f"/staff/requests/{item['id']}")).text()
        assert "Screen asked: possibly same day; patient was not sure and was given the nurse line" in page

    async def test_free_text_reply_and_close_in_one(self, world: World) -> None:
        """A free-text reply to an open request claims it, answers and (close=true) closes it."""
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        resp = await nurse.post(f"/api/v1/staff/requests/{item['id']}/replies",
                                {"text": "  Sent to mail order today.  ", "close": True})
        assert resp.status == 201
        body = await resp.json()
        assert body["status"] == "closed" and body["assignee"]["id"] == nurse.info["id"]
        assert body["replies"][0]["text"] == "Sent to mail order today."
        actions = [e.action for e in await world.rows(RequestEvent)]
        assert actions.count("claimed") == 1 and actions.count("replied") == 1 and actions.count("done") == 1

    async def test_a_proxy_request_names_child_and_parent(self, world: World) -> None:
        """Filed by a parent for a child: the queue shows the child as patient and the parent as filer."""
        maria = await world.actors.patient(MARIA)
        await file_request(maria, "Lucas needs a copy of his shot record for school",
                           {"purpose": "school", "delivery": "mail"}, dependent="Lucas")
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        assert item["intent"] == "immunization_copy"
        assert item["patient"]["name"] == "Lucas" and item["patient"]["filed_by"]["name"] == "Maria Santos"
        assert item["fields"]["purpose"] == "school"


class TestQueueOrderAndFilters:
    async def test_sorted_by_due_time_with_counts_highlights_and_filters(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))  # Monday 9:00 -> due Tuesday 16:30
        world.clock.now = T0 + timedelta(days=1)
        await file_request(await world.actors.patient(FRANK), "I need my lab results from last week",
                           {"test": "blood work", "test_date": "last week"})
        world.clock.now = T0 - timedelta(days=3)  # the Friday before: due Monday 16:30
        await file_request(await world.actors.patient(JORDAN), "I'd like an appointment for my knee",
                           {"preferred_time": "mornings", "visit_type": "in person"})
        world.clock.now = T0 + timedelta(hours=6)  # Monday 15:00 Chicago, 90 min before the first due time
        nurse = await world.actors.staff(NURSE)
        body = await queue(nurse)
        items = body["requests"]
        assert [i["intent"] for i in items] == ["appointment", "refill", "results"]
        assert [i["due_at"] for i in items] == sorted(i["due_at"] for i in items)
        assert [i["due_state"] for i in items] == ["nearly_due", "on_time", "on_time"]
        assert body["counts"] == {"open": 3, "claimed": 0, "closed": 0}
        assert body["due"] == {"overdue": 0, "nearly_due": 1}

        world.clock.now = T0 + timedelta(hours=8)
        nurse = await world.actors.staff(NURSE)  # the first session went idle meanwhile
        assert [i["due_state"] for i in (await queue(nurse))["requests"]][0] == "overdue"

        assert [i["intent"] for i in (await queue(nurse, "?intent=results"))["requests"]] == ["results"]
        await nurse.post(f"/api/v1/staff/requests/{items[1]['id']}/claim")
        mine = await queue(nurse, "?assignee=me")
        assert [i["id"] for i in mine["requests"]] == [items[1]["id"]]
        assert mine["counts"] == {"open": 0, "claimed": 1, "closed": 0}
        unassigned = await queue(nurse, "?assignee=none&status=open")
        assert [i["intent"] for i in unassigned["requests"]] == ["appointment", "results"]
        assert (await queue(nurse, "?team=blue"))["counts"]["open"] == 2
        assert (await queue(nurse, "?team=gold"))["requests"] == []
        for bad in ("?intent=pizza", "?status=lost", "?team=nope", "?colour=red"):
            resp = await nurse.get("/api/v1/staff/requests" + bad)
            assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_filter"

    async def test_claim_next_takes_the_soonest_due(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        world.clock.now = T0 - timedelta(days=3)
        await file_request(await world.actors.patient(JORDAN), "I'd like an appointment for my knee", {"preferred_time": "mornings",
                                                                            "visit_type": "in person"})
        world.clock.now = T0
        nurse, pcm = await world.actors.staff(NURSE), await world.actors.staff(PCM)
        first = await (await nurse.post("/api/v1/staff/requests/claim-next")).json()
        second = await (await pcm.post("/api/v1/staff/requests/claim-next")).json()
        assert first["intent"] == "appointment" and second["intent"] == "refill"
        empty = await nurse.post("/api/v1/staff/requests/claim-next")
        assert empty.status == 404 and (await empty.json())["error"]["code"] == "queue_empty"


class TestOneHolderAtATime:
    async def test_a_claimed_request_is_not_taken_answered_or_closed_by_another(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse, pcm = await world.actors.staff(NURSE), await world.actors.staff(PCM)
        rid = (await only_request(nurse))["id"]
        assert (await nurse.post(f"/api/v1/staff/requests/{rid}/claim")).status == 200
        assert (await nurse.post(f"/api/v1/staff/requests/{rid}/claim")).status == 200  # a repeat is harmless
        for path, body in (("claim", {}), ("replies", {"text": "hi"}), ("done", {}), ("release", {}),
                           ("reroute", {"team": "gold"}), ("relabel", {"intent": "appointment"})):
            resp = await pcm.post(f"/api/v1/staff/requests/{rid}/{path}", body)
            assert resp.status == 409, (path, await resp.text())
        assert (await nurse.post(f"/api/v1/staff/requests/{rid}/release")).status == 200
        resp = await pcm.post(f"/api/v1/staff/requests/{rid}/claim")
        assert resp.status == 200 and (await resp.json())["assignee"]["name"] == "Sam Whitfield"
        actions = [e.action for e in await world.rows(RequestEvent) if e.action != "viewed"]
        assert actions == ["claimed", "released", "claimed"]


class TestAccessRules:
    async def test_a_non_member_cannot_see_or_claim_until_given_cover(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse, gold = await world.actors.staff(NURSE), await world.actors.staff(GOLD)
        rid = (await only_request(nurse))["id"]
        assert (await queue(gold))["requests"] == []
        for path in ("", "/transcript", "/canned?id=any/need_more_information"):
            assert (await gold.get(f"/api/v1/staff/requests/{rid}{path}")).status == 404
        resp = await gold.post(f"/api/v1/staff/requests/{rid}/claim")
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"

        # gold cannot grant itself cover on blue; a blue member grants it for one hour
        body = {"staff_id": gold.info["id"], "ends_at": (T0 + timedelta(hours=1)).isoformat()}
        assert (await gold.post("/api/v1/staff/teams/blue/cover", body)).status == 403
        resp = await nurse.post("/api/v1/staff/teams/blue/cover", body)
        assert resp.status == 201, await resp.text()
        cover_id = (await resp.json())["id"]
        assert [r["id"] for r in (await queue(gold))["requests"]] == [rid]
        assert (await gold.post(f"/api/v1/staff/requests/{rid}/claim")).status == 200
        assert (await gold.post(f"/api/v1/staff/requests/{rid}/release")).status == 200

        world.clock.now = T0 + timedelta(hours=1, seconds=1)  # the cover has ended
        gold = await world.actors.staff(GOLD)
        nurse = await world.actors.staff(NURSE)
        assert (await gold.post(f"/api/v1/staff/requests/{rid}/claim")).status == 404
        teams = await nurse.json("/api/v1/staff/teams")
        blue = next(t for t in teams["teams"] if t["slug"] == "blue")
        assert blue["member"] and [m["name"] for m in blue["members"]] == ["Casey Morgan", "Sam Whitfield"]
        assert blue["cover"] == []
        assert (await nurse.delete(f"/api/v1/staff/cover/{cover_id}")).status == 204

    async def test_revoked_cover_ends_access(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse, gold = await world.actors.staff(NURSE), await world.actors.staff(GOLD)
        resp = await nurse.post("/api/v1/staff/teams/blue/cover", {
            "staff_id": gold.info["id"], "ends_at": (T0 + timedelta(days=1)).isoformat()})
        cover_id = (await resp.json())["id"]
        assert len((await queue(gold))["requests"]) == 1
        assert (await nurse.delete(f"/api/v1/staff/cover/{cover_id}")).status == 204
        assert (await queue(gold))["requests"] == []

    async def test_admin_sees_every_team_but_does_not_claim(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        admin = await world.actors.staff(ADMIN)
        assert admin.info["role"] == "admin"
        rid = (await only_request(admin))["id"]
        resp = await admin.post(f"/api/v1/staff/requests/{rid}/claim")
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "not_a_member"
        assert (await admin.post(f"/api/v1/staff/requests/{rid}/replies", {"text": "x"})).status == 403
        resp = await admin.post(f"/api/v1/staff/requests/{rid}/reroute", {"team": "gold"})
        assert resp.status == 200 and (await resp.json())["team"]["slug"] == "gold"

    async def test_staff_of_another_clinic_see_and_do_nothing(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        other = parse_clinic({
            "slug": "other", "name": "Other Clinic", "timezone": "America/New_York",
            "hours": {"mon": "08:00-17:00"}, "response_target": "72 hours",
            "care_teams": [{"slug": "blue", "name": "Blue Team (other)", "staff": []}]})
        app = world.client.server.app
        async with db.write(world.engine) as conn:
            row = await sync_clinic(conn, other, T0)
        inv = await add_staff(world.engine, app[keyring_key], world.settings, row, name="Olive Other",
                              email="olive@other.example", role="nurse", teams=["blue"], now=T0)
        outsider = world.actors.new()
        resp = await outsider.post(f"/api/v1/invitations/{inv.token}/accept",
                                   {"password": "another clinic password", "accept_terms": True}, csrf=False)
        assert resp.status == 200
        outsider = await world.actors.staff("olive@other.example", "another clinic password")
        assert (await queue(outsider))["requests"] == []
        assert (await queue(outsider))["counts"] == {"open": 0, "claimed": 0, "closed": 0}
        for path in ("", "/transcript"):
            assert (await outsider.get(f"/api/v1/staff/requests/{rid}{path}")).status == 404
        for path, body in (("claim", {}), ("replies", {"text": "hi"}), ("done", {}),
                           ("reroute", {"team": "blue"}), ("relabel", {"intent": "other"})):
            assert (await outsider.post(f"/api/v1/staff/requests/{rid}/{path}", body)).status == 404, path
        assert (await outsider.post("/api/v1/staff/teams/blue/cover", {
            "staff_id": outsider.info["id"], "ends_at": (T0 + timedelta(hours=1)).isoformat()})).status == 201
        assert (await queue(outsider))["requests"] == []  # cover on their own clinic's "blue", not ours
        assert (await only_request(nurse))["status"] == "open"

    async def test_a_patient_reaches_no_staff_route(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        jordan = await world.actors.patient(JORDAN)
        gets = ["/api/v1/staff/session", "/api/v1/staff/requests", f"/api/v1/staff/requests/{rid}",
                f"/api/v1/staff/requests/{rid}/transcript", "/api/v1/staff/teams"]
        for path in gets:
            resp = await jordan.get(path)
            assert resp.status == 401, path
            assert (await resp.json())["error"]["code"] == "unauthenticated"
        for path in ("claim", "replies", "done", "release", "reroute", "relabel"):
            assert (await jordan.post(f"/api/v1/staff/requests/{rid}/{path}", {"text": "x"})).status == 401
        assert (await jordan.post("/api/v1/staff/requests/claim-next")).status == 401
        # the patient's right password does not open the staff door
        resp = await jordan.post("/api/v1/staff/session", {"email": JORDAN, "password": "demo-password-2026"},
                                 csrf=False)
        assert resp.status == 401
        # and a staff session opens no patient route
        assert (await nurse.get("/api/v1/messages")).status == 401
        assert (await nurse.post("/api/v1/conversations", {})).status == 401
        # a nurse's credentials on the patient login give a session the patient API refuses
        resp = await nurse.post("/api/v1/session", {"email": NURSE, "password": "demo-password-2026"}, csrf=False)
        assert resp.status == 200
        assert (await nurse.get("/api/v1/messages")).status == 403


class TestRerouteAndRelabel:
    async def test_reroute_moves_the_request_and_tells_the_new_team(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse, gold = await world.actors.staff(NURSE), await world.actors.staff(GOLD)
        rid = (await only_request(nurse))["id"]
        await nurse.post(f"/api/v1/staff/requests/{rid}/claim")
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/reroute", {"team": "gold"})
        assert resp.status == 200
        moved = await resp.json()
        assert moved["team"]["slug"] == "gold" and moved["status"] == "open" and moved["assignee"] is None
        assert (await nurse.get(f"/api/v1/staff/requests/{rid}")).status == 404
        assert [r["id"] for r in (await queue(gold))["requests"]] == [rid]
        notices = [m for m in await world.outbox("new_request") if m[0] == "gold-team@riverside-clinic.example"]
        assert len(notices) == 1 and set(notices[0][1]) == {"link"}
        resp = await gold.post(f"/api/v1/staff/requests/{rid}/reroute", {"team": "gold"})
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "same_team"
        [event] = [e for e in await world.rows(RequestEvent) if e.action == "rerouted"]
        assert event.staff_id == nurse.info["id"] and event.from_team_id != event.to_team_id

    async def test_relabel_keeps_both_intents_for_the_quality_report(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/relabel", {"intent": "appointment"})
        assert resp.status == 200 and (await resp.json())["intent"] == "appointment"
        [event] = [e for e in await world.rows(RequestEvent) if e.action == "relabeled"]
        assert (event.from_intent, event.to_intent) == ("refill", "appointment")
        assert (await queue(nurse, "?intent=appointment"))["requests"][0]["id"] == rid
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/relabel", {"intent": "pizza"})
        assert resp.status == 422
        # asked_fields are checked against the request's (new) intent
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/replies", {"text": "When?", "asked_fields": ["pharmacy"]})
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_asked_fields"
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/replies",
                                {"text": "When suits you?", "asked_fields": ["preferred_time"]})
        assert resp.status == 201


class TestTranscriptAndAudit:
    async def test_transcript_on_demand_is_audited(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        body = await nurse.json(f"/api/v1/staff/requests/{rid}/transcript")
        texts = [(e["from"], e["text"]) for e in body["transcript"]]
        assert ("patient", "I need my blood pressure pill refilled") in texts
        assert texts[0][0] == "bot"
        reads = [r for r in await world.rows(AuditEntry, AuditEntry.target_id == rid) if r.action == "phi.read"]
        assert any(json.loads(r.detail)["event"] == "transcript_viewed" for r in reads)
        assert all(r.actor == f"account:{nurse.info['id']}" for r in reads)
        events = [e.action for e in await world.rows(RequestEvent, RequestEvent.request_id == rid)]
        assert "transcript_viewed" in events
        # the audit trail holds ids and names of actions, never the patient's words or name
        for r in await world.rows(AuditEntry):
            assert "blood pressure" not in r.detail and "Jordan" not in r.detail
        assert (await audit.verify(world.engine)).ok


class TestStaffSessions:
    async def test_shorter_idle_timeout_than_patients_and_logout(self, world: World) -> None:
        jordan = await world.actors.patient(JORDAN)
        nurse = await world.actors.staff(NURSE)
        assert world.settings.staff_session_idle_seconds < world.settings.session_idle_seconds
        world.clock.now = T0 + timedelta(seconds=world.settings.staff_session_idle_seconds + 1)
        assert (await nurse.get("/api/v1/staff/requests")).status == 401
        assert (await jordan.get("/api/v1/messages")).status == 200  # the patient's session lives on
        nurse = await world.actors.staff(NURSE)
        assert (await nurse.get("/api/v1/staff/session")).status == 200
        assert (await nurse.delete("/api/v1/staff/session")).status == 204
        assert (await nurse.get("/api/v1/staff/session")).status == 401

    async def test_throttled_like_patients(self, world: World) -> None:
        actor = world.actors.new()
        for _ in range(world.settings.login_max_per_account):
            resp = await actor.post("/api/v1/staff/session", {"email": NURSE, "password": "wrong password!"},
                                    csrf=False)
            assert resp.status == 401
        resp = await actor.post("/api/v1/staff/session", {"email": NURSE, "password": "demo-password-2026"},
                                csrf=False)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        assert (await resp.json())["error"]["code"] == "too_many_attempts"

    async def test_writes_need_the_csrf_token_and_our_origin(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/claim", csrf=False)
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "csrf_failed"
        resp = await nurse.post(f"/api/v1/staff/requests/{rid}/claim", headers={"Origin": "https://evil.example"})
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "bad_origin"
        assert (await only_request(nurse))["status"] == "open"


class TestBadInput:
    async def test_clean_4xx_for_bad_requests(self, world: World) -> None:
        await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        rid = (await only_request(nurse))["id"]
        url = f"/api/v1/staff/requests/{rid}/replies"
        cases = [
            ({"text": "x", "colour": "red"}, 422, "unknown_field"),
            ({"text": 5}, 422, "invalid_field"),
            ({}, 422, "missing_field"),
            ({"text": "   "}, 422, "empty_text"),
            ({"text": "x" * 5001}, 422, "text_too_long"),
            ({"canned": "refill/nope"}, 422, "unknown_canned_reply"),
            ({"canned": "results/not_back_yet"}, 422, "unknown_canned_reply"),  # another intent's reply
            ({"text": "x", "asked_fields": ["ssn"]}, 422, "invalid_asked_fields"),
            ({"text": "x", "asked_fields": [3]}, 422, "invalid_field"),
            ({"text": "x", "client_action_id": "no spaces allowed"}, 422, "invalid_field"),
        ]
        for body, status, code in cases:
            resp = await nurse.post(url, body)
            assert resp.status == status, (body, await resp.text())
            assert (await resp.json())["error"]["code"] == code, body
        resp = await nurse.http.post(nurse.url(url), data=b"{not json", headers={"X-CSRF-Token": nurse.csrf})
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
        for path in ("/api/v1/staff/requests/not-an-id", "/api/v1/staff/requests/00000000-0000-0000-0000-000000000000"):
            resp = await nurse.get(path)
            assert resp.status == 404 and set(await resp.json()) == {"error"}
        assert await world.rows(RequestReply) == []


class TestStaffAccounts:
    async def test_admin_adds_staff_and_a_nurse_cannot(self, world: World) -> None:
        admin, nurse = await world.actors.staff(ADMIN), await world.actors.staff(NURSE)
        body = {"name": "Pat Quinn", "email": "pat.quinn@riverside-clinic.example", "role": "front_desk",
                "teams": ["blue"]}
        resp = await nurse.post("/api/v1/staff/members", body)
        assert resp.status == 403
        resp = await admin.post("/api/v1/staff/members", body)
        assert resp.status == 201, await resp.text()
        assert "link" not in await resp.json()
        assert [m[0] for m in await world.outbox("invitation")] == ["pat.quinn@riverside-clinic.example"]
        assert (await admin.post("/api/v1/staff/members", body)).status == 409
        bad = await admin.post("/api/v1/staff/members", {**body, "email": "x@y.example", "role": "surgeon"})
        assert bad.status == 422
        teams = await admin.json("/api/v1/staff/teams")
        assert any(s["name"] == "Pat Quinn" and s["status"] == "invited" for s in teams["staff"])
