"""The escalation task in the running app: requests nearing or past due are highlighted and the
team's mailbox gets a no-PHI e-mail through the outbox and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any, AsyncIterator, Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.app import create_app
from micare_bot.config import Settings
from micare_bot.service_cli import seed_demo
from micare_bot.staff.escalation import Escalator
from micare_bot.store import audit
from micare_bot.store.schema import AuditEntry, RequestEvent

from .conftest import CancelEatingPass, SmtpSink, free_port, stops
from .staff_helpers import JORDAN, NURSE, T0, Actors, Clock, file_request, two_team_clinic_file
from .test_staff_api import World, only_request

DUE = T0 + timedelta(hours=31, minutes=30)  # the refill filed Monday 9:00 is due Tuesday 16:30 Chicago


@pytest.fixture
def sink() -> SmtpSink:
    return SmtpSink()


@pytest.fixture
def smtp(sink: SmtpSink) -> Iterator[int]:
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
async def mail_world(engine: AsyncEngine, settings: Settings, tmp_path: Any, aiohttp_client: Any, smtp: int
                     ) -> AsyncIterator[World]:
    """The app with its background tasks on (outbox sender, escalation) and real SMTP."""
    s = settings.with_(clinic_file=two_team_clinic_file(tmp_path), smtp_host="127.0.0.1", smtp_port=smtp,
                       smtp_starttls=False, smtp_timeout=2.0, mail_from="clinic@example.org",
                       escalation_poll_seconds=0.05)
    await seed_demo(s, now=T0)
    clock = Clock(T0)
    client = await aiohttp_client(create_app(s, clock=clock, send_mail=True))
    actors = Actors(client)
    try:
        yield World(client, actors, clock, engine, s)
    finally:
        await actors.close()


async def wait_for(check: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


def messages_to(sink: SmtpSink, address: str) -> list[Any]:
    return [message_from_bytes(e.original_content, policy=policy.default) for e in sink.messages if address in e.rcpt_tos]  # type: ignore[attr-defined]


TEAM = "blue-team@riverside-clinic.example"


async def test_nearly_due_then_overdue_each_once_without_phi(mail_world: World, sink: SmtpSink) -> None:
    world = mail_world
    filed = await file_request(await world.actors.patient(JORDAN))
    async def one() -> bool:
        return len(messages_to(sink, TEAM)) == 1
    await wait_for(one)  # the new-request notice
    world.clock.now = DUE - timedelta(minutes=90)  # inside the 2-hour "nearly due" window

    async def two() -> bool:
        return len(messages_to(sink, TEAM)) == 2
    await wait_for(two)
    nearly = messages_to(sink, TEAM)[1]
    assert nearly["Subject"] == "Requests in your care team's queue are nearly due"
    body = nearly.get_body(("plain",)).get_content()
    assert "1 request in your care team's queue will soon be due" in body and "/staff/queue" in body
    for phi in ("Jordan", "Avery", "osartan", "blood pressure", filed["request_id"], JORDAN):
        assert phi not in nearly.as_string()

    nurse = await world.actors.staff(NURSE)
    item = await only_request(nurse)
    assert item["due_state"] == "nearly_due" and item["escalation"] == "nearly_due"
    await asyncio.sleep(0.3)  # several more passes: nothing new
    assert len(messages_to(sink, TEAM)) == 2

    await nurse.post(f"/api/v1/staff/requests/{item['id']}/claim")  # claimed but unanswered still escalates
    world.clock.now = DUE + timedelta(minutes=1)

    async def three() -> bool:
        return len(messages_to(sink, TEAM)) == 3
    await wait_for(three)
    overdue = messages_to(sink, TEAM)[2]
    assert overdue["Subject"] == "Requests in your care team's queue are overdue"
    assert "Jordan" not in overdue.as_string()
    nurse = await world.actors.staff(NURSE)
    assert (await only_request(nurse))["due_state"] == "overdue"
    events = [json.loads(e.detail) for e in await world.rows(RequestEvent, RequestEvent.action == "escalated")]
    assert events == [{"level": "nearly_due"}, {"level": "overdue"}]
    system = [r for r in await world.rows(AuditEntry, AuditEntry.action == "staff.escalated")]
    assert [r.actor for r in system] == ["system", "system"]
    assert (await audit.verify(world.engine)).ok
    await asyncio.sleep(0.3)
    assert len(messages_to(sink, TEAM)) == 3


async def test_done_requests_do_not_escalate(mail_world: World, sink: SmtpSink) -> None:
    world = mail_world
    await file_request(await world.actors.patient(JORDAN))
    nurse = await world.actors.staff(NURSE)
    item = await only_request(nurse)
    resp = await nurse.post(f"/api/v1/staff/requests/{item['id']}/replies", {"text": "Done today.", "close": True})
    assert resp.status == 201

    async def patient_mailed() -> bool:
        return len(messages_to(sink, JORDAN)) == 1
    await wait_for(patient_mailed)  # the patient's "new secure message" notice, sent by the outbox
    mail = messages_to(sink, JORDAN)[0]
    assert mail["Subject"] == "You have a new secure message" and "Done today." not in mail.as_string()
    world.clock.now = DUE + timedelta(days=1)
    await asyncio.sleep(0.4)
    assert await world.rows(RequestEvent, RequestEvent.action == "escalated") == []
    assert len(messages_to(sink, TEAM)) == 1  # only the new-request notice


async def test_escalation_stops_when_a_library_swallows_the_cancel(engine: AsyncEngine, settings: Settings,
                                                                  keyring: Any, monkeypatch: Any) -> None:
    """A shutdown that lands as a database reply arrives still stops the escalation loop (Python 3.11's
    wait_for can return the reply and drop the cancel; the app's shutdown then never finished)."""
    escalator = Escalator(engine, keyring, settings.with_(escalation_poll_seconds=30.0))
    eating = CancelEatingPass({})
    monkeypatch.setattr(escalator, "pass_once", eating)
    task = asyncio.create_task(escalator.run())
    await eating.started.wait()
    assert await stops(task, seconds=2)
