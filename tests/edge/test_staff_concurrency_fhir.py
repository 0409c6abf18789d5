"""Many staff claiming at once (each request claimed exactly once), and the FHIR R4 export
validated with the fhir.resources models."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.task import Task

from micare_bot.app import keyring_key
from micare_bot.staff.roster import add_staff
from micare_bot.store import db
from micare_bot.store.clinics import clinic_by_slug
from micare_bot.store.schema import AuditEntry, RequestEvent

from .staff_helpers import FRANK, JORDAN, MARIA, NURSE, T0, Actor, file_request
from .test_staff_api import World, only_request, queue, world  # noqa: F401  (the fixture)

CLAIMERS = 8
REQUESTS = 5


async def team_of_claimers(world: World, n: int) -> list[Actor]:
    """n blue-team nurses, each enrolled, invited and signed in with a session of their own."""
    app = world.client.server.app
    async with db.read(world.engine) as conn:
        clinic = await clinic_by_slug(conn, "demo")
    assert clinic is not None
    actors = []
    for i in range(n):
        email = f"nurse{i}@riverside-clinic.example"
        inv = await add_staff(world.engine, app[keyring_key], world.settings, clinic, name=f"Nurse Number{i}",
                              email=email, role="nurse", teams=["blue"], now=T0, notify=False)
        anon = world.actors.new()
        resp = await anon.post(f"/api/v1/invitations/{inv.token}/accept",
                               {"password": "a long enough password", "accept_terms": True}, csrf=False)
        assert resp.status == 200
        actors.append(await world.actors.staff(email, "a long enough password"))
    return actors


class TestConcurrentClaims:
    async def test_many_claimers_each_request_claimed_exactly_once(self, world: World) -> None:
        """8 staff race claim-next until the queue is empty, then all 8 race for one request."""
        jordan, frank = await world.actors.patient(JORDAN), await world.actors.patient(FRANK)
        for i in range(REQUESTS):
            await file_request(jordan if i % 2 else frank)
        claimers = await team_of_claimers(world, CLAIMERS)

        async def drain(actor: Actor) -> list[str]:
            got = []
            while True:
                resp = await actor.post("/api/v1/staff/requests/claim-next")
                if resp.status == 404:
                    assert (await resp.json())["error"]["code"] == "queue_empty"
                    return got
                assert resp.status == 200, await resp.text()
                got.append((await resp.json())["id"])

        results = await asyncio.gather(*(drain(a) for a in claimers))
        claimed = [rid for r in results for rid in r]
        assert len(claimed) == REQUESTS and len(set(claimed)) == REQUESTS
        async with db.read(world.engine) as conn:
            from sqlalchemy import select

            events = (await conn.execute(select(RequestEvent.request_id)
                                         .where(RequestEvent.action == "claimed"))).scalars().all()
        assert Counter(events) == Counter({rid: 1 for rid in claimed})

        # everyone releases nothing; a new request and all 8 claim it by id at the same instant
        await file_request(await world.actors.patient(MARIA), "I need my escitalopram refilled",
                           {"pharmacy": "base pharmacy", "patient": "me"})
        body = await queue(claimers[0], "?status=open")
        [fresh] = body["requests"]
        responses = await asyncio.gather(*(a.post(f"/api/v1/staff/requests/{fresh['id']}/claim") for a in claimers))
        statuses = Counter(r.status for r in responses)
        assert statuses == Counter({200: 1, 409: CLAIMERS - 1}), statuses
        for r in responses:
            if r.status == 409:
                assert (await r.json())["error"]["code"] == "claimed_by_other"
        winner = next(i for i, r in enumerate(responses) if r.status == 200)
        detail = await claimers[0].json(f"/api/v1/staff/requests/{fresh['id']}")
        assert detail["assignee"]["id"] == claimers[winner].info["id"]


class TestFhirExport:
    async def test_task_validates_as_fhir_r4(self, world: World) -> None:
        filed = await file_request(await world.actors.patient(JORDAN))
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        resp = await nurse.get(f"/api/v1/staff/requests/{item['id']}/fhir")
        assert resp.status == 200 and resp.content_type == "application/fhir+json"
        body = await resp.json()
        task = Task.model_validate(body)  # raises on anything FHIR R4 does not allow
        assert task.status == "requested" and task.intent == "order"
        assert task.identifier[0].value == filed["request_id"]
        assert task.for_fhir.display == "Jordan Avery" and task.for_fhir.reference.startswith("Patient/")
        assert task.owner.display == "Blue Team" and task.owner.reference == f"CareTeam/{item['team']['id']}"
        assert task.code.coding[0].code == "refill"
        inputs = {i.type.coding[0].code: i.valueString for i in task.input if i.type.coding[0].code != "patient_words"}
        assert "losartan" in inputs["medication"].lower() and inputs["triage"] == "routine"
        assert "pharmacy" in inputs
        assert any(i.valueString == "I need my blood pressure pill refilled" for i in task.input)
        assert task.restriction.period.end.isoformat().startswith("2026-11-17T22:30")

        await nurse.post(f"/api/v1/staff/requests/{item['id']}/claim")
        claimed = Task.model_validate(await nurse.json(f"/api/v1/staff/requests/{item['id']}/fhir"))
        assert claimed.status == "in-progress"

        comm = Communication.model_validate(
            await nurse.json(f"/api/v1/staff/requests/{item['id']}/fhir?as=communication"))
        assert comm.subject.display == "Jordan Avery" and comm.recipient[0].display == "Blue Team"
        assert (await nurse.get(f"/api/v1/staff/requests/{item['id']}/fhir?as=pdf")).status == 422
        reads = [r for r in await world.rows(AuditEntry, AuditEntry.target_id == item["id"])
                 if r.action == "phi.read" and "exported" in r.detail]
        assert len(reads) == 3  # each export is an audited read

    async def test_proxy_task_names_the_child_for_and_the_parent_requester(self, world: World) -> None:
        await file_request(await world.actors.patient(MARIA), "Lucas needs a copy of his shot record for school",
                           {"purpose": "school", "delivery": "mail"}, dependent="Lucas")
        nurse = await world.actors.staff(NURSE)
        item = await only_request(nurse)
        task = Task.model_validate(await nurse.json(f"/api/v1/staff/requests/{item['id']}/fhir"))
        assert task.for_fhir.display == "Lucas" and task.requester.reference.startswith("RelatedPerson/")
        assert task.requester.display == "Maria Santos"
        done = await nurse.post(f"/api/v1/staff/requests/{item['id']}/done")
        assert done.status == 200
        closed = Task.model_validate(await nurse.json(f"/api/v1/staff/requests/{item['id']}/fhir"))
        assert closed.status == "completed" and closed.executionPeriod.end is not None

    async def test_not_for_other_teams(self, world: World) -> None:
        from .staff_helpers import GOLD

        await file_request(await world.actors.patient(JORDAN))
        nurse, gold = await world.actors.staff(NURSE), await world.actors.staff(GOLD)
        rid = (await only_request(nurse))["id"]
        assert (await gold.get(f"/api/v1/staff/requests/{rid}/fhir")).status == 404
        jordan = await world.actors.patient(JORDAN)
        assert (await jordan.get(f"/api/v1/staff/requests/{rid}/fhir")).status == 401


__all__ = ["Any", "pytest"]
