"""Provider-initiated messages and appointment reminders, over HTTP on SQLite and PostgreSQL:
they reach the patient's inbox (from their delivery time on) with the no-PHI e-mail."""

from __future__ import annotations

from datetime import timedelta

from micare_bot.store.schema import AuditEntry, OutboxMessage, PatientMessage

from .staff_helpers import ADMIN, GOLD, JORDAN, MARIA, NURSE, T0
from .test_staff_api import World, world  # noqa: F401  (the fixture)


async def find(actor, name: str) -> dict:  # type: ignore[no-untyped-def]
    body = await actor.json(f"/api/v1/staff/patients?q={name}")
    [patient] = body["patients"]
    return dict(patient)


async def test_a_message_reaches_the_inbox_once_with_the_email(world: World) -> None:
    nurse = await world.actors.staff(NURSE)
    jordan = await find(nurse, "jord")
    assert jordan["name"] == "Jordan Avery" and jordan["dependents"] == []
    body = {"kind": "message", "text": "Your lab work is normal. See you at your next visit.",
            "client_action_id": "m-1"}
    resp = await nurse.post(f"/api/v1/staff/patients/{jordan['id']}/messages", body)
    assert resp.status == 201, await resp.text()
    again = await nurse.post(f"/api/v1/staff/patients/{jordan['id']}/messages", body)
    assert again.status == 200 and (await again.json())["repeated"] is True
    assert len(await world.rows(PatientMessage)) == 1

    patient = await world.actors.patient(JORDAN)
    inbox = await patient.json("/api/v1/messages")
    assert [(n["kind"], n["text"], n["care_team"]) for n in inbox["notices"]] == [
        ("message", body["text"], "Blue Team")]
    mails = await world.outbox("new_message")
    assert [m[0] for m in mails] == [JORDAN] and set(mails[0][1]) == {"link"}
    view = await nurse.json(f"/api/v1/staff/patients/{jordan['id']}")
    assert [m["text"] for m in view["messages"]] == [body["text"]]
    writes = [r for r in await world.rows(AuditEntry, AuditEntry.target_id == jordan["id"]) if r.action == "phi.write"]
    assert len(writes) == 1 and "lab work" not in writes[0].detail


async def test_a_reminder_for_a_child_waits_for_its_time(world: World) -> None:
    nurse = await world.actors.staff(NURSE)
    maria = await find(nurse, "lucas")  # found by the child's name
    lucas = next(d for d in maria["dependents"] if d["name"] == "Lucas")
    appointment = T0 + timedelta(days=3, hours=1)  # Thursday 10:00 Chicago
    deliver = appointment - timedelta(days=1)
    resp = await nurse.post(f"/api/v1/staff/patients/{maria['id']}/messages", {
        "kind": "reminder", "dependent_id": lucas["id"], "appointment_at": appointment.isoformat(),
        "deliver_at": deliver.isoformat()})
    assert resp.status == 201, await resp.text()
    text = (await resp.json())["text"]
    assert "Lucas's appointment" in text and "Thursday, November 19 at 10:00 AM CST" in text
    patient = await world.actors.patient(MARIA)
    assert (await patient.json("/api/v1/messages"))["notices"] == []  # not yet
    [mail] = [r for r in await world.rows(OutboxMessage) if r.kind == "new_message"]
    assert mail.next_attempt_at == deliver  # the e-mail waits with it

    world.clock.now = deliver + timedelta(minutes=1)
    patient = await world.actors.patient(MARIA)
    [notice] = (await patient.json("/api/v1/messages"))["notices"]
    assert notice["kind"] == "reminder" and notice["text"] == text


async def test_who_may_send_and_bad_input(world: World) -> None:
    nurse, gold, admin = (await world.actors.staff(NURSE), await world.actors.staff(GOLD),
                          await world.actors.staff(ADMIN))
    jordan = await find(nurse, "avery")
    url = f"/api/v1/staff/patients/{jordan['id']}/messages"
    assert (await gold.post(url, {"kind": "message", "text": "hi"})).status == 201  # any care-team member
    assert (await admin.post(url, {"kind": "message", "text": "hi"})).status == 403  # admins do not
    assert (await admin.get("/api/v1/staff/patients?q=avery")).status == 403
    patient = await world.actors.patient(JORDAN)
    assert (await patient.post(url, {"kind": "message", "text": "hi"})).status == 401
    cases = [
        ({"kind": "fax", "text": "x"}, "invalid_kind"),
        ({"kind": "message"}, "missing_field"),
        ({"kind": "message", "text": "  "}, "empty_text"),
        ({"kind": "reminder"}, "missing_field"),
        ({"kind": "reminder", "appointment_at": (T0 - timedelta(days=1)).isoformat()}, "invalid_appointment_at"),
        ({"kind": "reminder", "appointment_at": "tomorrow"}, "invalid_field"),
        ({"kind": "reminder", "appointment_at": "2026-11-20T10:00"}, "invalid_field"),  # no offset
        ({"kind": "message", "text": "x", "deliver_at": (T0 + timedelta(days=400)).isoformat()}, "invalid_deliver_at"),
        ({"kind": "message", "text": "x", "dependent_id": "00000000-0000-0000-0000-000000000000"}, "not_found"),
    ]
    for body, code in cases:
        resp = await nurse.post(url, body)
        assert resp.status in (404, 422), (body, resp.status)
        assert (await resp.json())["error"]["code"] == code, body
    resp = await nurse.get("/api/v1/staff/patients?q=a")
    assert resp.status == 422
    assert (await nurse.get("/api/v1/staff/patients/00000000-0000-0000-0000-000000000000")).status == 404
    assert (await nurse.get(f"/api/v1/staff/patients/{nurse.info['id']}")).status == 404  # staff are not patients
