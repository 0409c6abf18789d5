"""Provider-initiated messages and appointment reminders to a patient.

Staff write to a patient (or to a parent about a linked child) without a filed
request. The message is sealed in ``patient_messages`` and shows in the
patient's inbox (``Gateway.inbox`` → ``notices``) from ``deliver_at`` on; the
patient gets the same no-PHI "You have a new secure message" e-mail through the
outbox, scheduled for the same moment. A reminder's text comes from
``templates/messages/appointment_reminder.txt`` (a clinic edits it) unless the
staff member writes their own. A repeated submit with the same
``client_action_id`` acts once.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping

import jinja2
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..clinic_settings import ClinicSettings
from ..config import Settings
from ..store import audit, db, outbox
from ..store.crypto import Keyring
from ..store.schema import Account, CareTeam, Dependent, DependentLink, OutboxMessage, PatientMessage, aad
from .queue import MAX_REPLY_CHARS, QueueError
from .roster import StaffMember

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "messages"
KINDS = ("message", "reminder")
MAX_AHEAD = timedelta(days=366)


def _env(directory: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), autoescape=False,
                             undefined=jinja2.StrictUndefined)
    env.get_template("appointment_reminder.txt")  # fail at start-up, not when a clerk presses Send
    return env


@dataclasses.dataclass
class PatientMessages:
    engine: AsyncEngine
    keyring: Keyring
    settings: Settings
    clinics: Mapping[str, ClinicSettings]
    templates: jinja2.Environment = dataclasses.field(default_factory=_env)

    def _open(self, model: Any, column: str, row_id: str, token: str | None) -> Any:
        return None if token is None else self.keyring.decrypt_json(token, aad(model, column, row_id))

    # --- finding the patient -------------------------------------------------------------

    async def search(self, member: StaffMember, query: str, *, now: datetime, limit: int = 25) -> list[dict[str, Any]]:
        """Patients of the member's clinic whose name contains ``query`` (names are sealed, so they are
        opened and compared here; a clinic's roster is small). An audited read."""
        needle = query.strip().casefold()
        if len(needle) < 2:
            raise QueueError(422, "query_too_short", "Type at least two letters of the name.")
        async with db.read(self.engine) as conn:
            rows = (await conn.execute(select(Account.id, Account.name_enc, Account.dob_enc).where(
                Account.clinic_id == member.clinic_id, Account.role == "patient",
                Account.status.in_(("active", "invited"))))).all()
            found = []
            for r in rows:
                name = str(self._open(Account, "name_enc", r.id, r.name_enc))
                deps = await self._dependents(conn, r.id)
                if needle in name.casefold() or any(needle in d["name"].casefold() for d in deps):
                    found.append({"id": r.id, "name": name, "dob": self._open(Account, "dob_enc", r.id, r.dob_enc),
                                  "dependents": deps})
        found.sort(key=lambda p: p["name"])
        found = found[:limit]
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=member.actor(), action="phi.read", target_type="patients",
                               target_id=member.clinic_id,
                               detail={"event": "staff.patient_search", "results": [p["id"] for p in found]})
        return found

    async def _dependents(self, conn: AsyncConnection, account_id: str) -> list[dict[str, Any]]:
        deps = (await conn.execute(select(Dependent.id, Dependent.name_enc, Dependent.dob_enc)
                                   .join(DependentLink, DependentLink.dependent_id == Dependent.id)
                                   .where(DependentLink.account_id == account_id)
                                   .order_by(Dependent.created_at, Dependent.id))).all()
        return [{"id": d.id, "name": str(self._open(Dependent, "name_enc", d.id, d.name_enc)),
                 "dob": self._open(Dependent, "dob_enc", d.id, d.dob_enc)} for d in deps]

    async def patient(self, member: StaffMember, account_id: str, *, now: datetime) -> dict[str, Any]:
        """One patient with the messages staff sent them (an audited read)."""
        async with db.write(self.engine) as conn:
            acc = await self._patient_row(conn, member, account_id)
            deps = await self._dependents(conn, acc.id)
            sent = (await conn.execute(select(PatientMessage).where(PatientMessage.account_id == acc.id)
                                       .order_by(PatientMessage.deliver_at.desc()))).all()
            authors = {a.id: str(self._open(Account, "name_enc", a.id, a.name_enc)) for a in (await conn.execute(
                select(Account.id, Account.name_enc).where(Account.id.in_({m.author_id for m in sent} or {""}))
            )).all()}
            await audit.append(conn, at=now, actor=member.actor(), action="phi.read", target_type="account",
                               target_id=acc.id, detail={"event": "staff.patient_view"})
        return {
            "id": acc.id, "name": str(self._open(Account, "name_enc", acc.id, acc.name_enc)),
            "dob": self._open(Account, "dob_enc", acc.id, acc.dob_enc), "dependents": deps,
            "messages": [{"id": m.id, "kind": m.kind, "dependent_id": m.dependent_id,
                          "author": authors.get(m.author_id), "deliver_at": m.deliver_at.isoformat(),
                          "delivered": m.deliver_at <= now,
                          "text": self._open(PatientMessage, "body_enc", m.id, m.body_enc)} for m in sent],
        }

    async def _patient_row(self, conn: AsyncConnection, member: StaffMember, account_id: str) -> Any:
        acc = (await conn.execute(select(Account).where(Account.id == account_id))).first()
        if acc is None or acc.clinic_id != member.clinic_id or acc.role != "patient":
            raise QueueError(404, "not_found", "No such patient in your clinic.")
        return acc

    # --- sending ---------------------------------------------------------------------------

    def reminder_text(self, member: StaffMember, *, first_name: str, for_self: bool, appointment: datetime,
                      team: str) -> str:
        clinic = self.clinics.get(member.clinic_id)
        zone = clinic.calendar.timezone if clinic else None
        local = appointment.astimezone(zone) if zone else appointment
        when = local.strftime("%A, %B %d at %I:%M %p %Z").replace(" 0", " ")
        numbers = dataclasses.asdict(clinic.context) if clinic else {"name": "the clinic",
                                                                      "appointment_line": "the clinic"}
        return self.templates.get_template("appointment_reminder.txt").render(
            patient=first_name, for_self=for_self, appointment=when, clinic=numbers, team=team,
            staff=member.name).strip()

    async def send(self, member: StaffMember, account_id: str, *, now: datetime, kind: str, text: str | None = None,
                   dependent_id: str | None = None, appointment_at: datetime | None = None,
                   deliver_at: datetime | None = None, client_action_id: str | None = None) -> dict[str, Any]:
        if kind not in KINDS:
            raise QueueError(422, "invalid_kind", "kind is message or reminder.")
        deliver = deliver_at or now
        if deliver < now - timedelta(minutes=5) or deliver > now + MAX_AHEAD:
            raise QueueError(422, "invalid_deliver_at", "deliver_at must be now or within the next year.")
        if kind == "reminder":
            if appointment_at is None:
                raise QueueError(422, "missing_field", "A reminder needs appointment_at.")
            if appointment_at <= now or deliver > appointment_at:
                raise QueueError(422, "invalid_appointment_at",
                                 "The appointment must be in the future and after the reminder goes out.")
        elif text is None:
            raise QueueError(422, "missing_field", "Write the message.")
        async with db.write(self.engine) as conn:
            if client_action_id:
                seen = (await conn.execute(select(PatientMessage.id, PatientMessage.account_id).where(
                    PatientMessage.author_id == member.id,
                    PatientMessage.client_action_id == client_action_id))).first()
                if seen is not None:
                    return {"id": seen.id, "repeated": True}
            acc = await self._patient_row(conn, member, account_id)
            deps = await self._dependents(conn, acc.id)
            dep = None
            if dependent_id is not None:
                dep = next((d for d in deps if d["id"] == dependent_id), None)
                if dep is None:
                    raise QueueError(404, "not_found", "No such child linked to this patient.")
            team_id = sorted(member.teams)[0] if member.teams else None
            team_name = ((await conn.execute(select(CareTeam.name).where(CareTeam.id == team_id))).scalar_one()
                         if team_id else "Your care team")
            if text is None:
                assert appointment_at is not None
                holder = str(self._open(Account, "name_enc", acc.id, acc.name_enc))
                first = (dep["name"] if dep else holder).split()[0]
                text = self.reminder_text(member, first_name=first, for_self=dep is None, appointment=appointment_at,
                                          team=team_name)
            body = text.strip()
            if not body:
                raise QueueError(422, "empty_text", "The message is empty.")
            if len(body) > MAX_REPLY_CHARS:
                raise QueueError(422, "text_too_long", f"Keep messages under {MAX_REPLY_CHARS} characters.")
            mid = str(uuid.uuid4())
            await conn.execute(PatientMessage.__table__.insert().values(
                id=mid, clinic_id=member.clinic_id, account_id=acc.id, dependent_id=dep["id"] if dep else None,
                author_id=member.id, care_team_id=team_id, kind=kind, created_at=now, deliver_at=deliver,
                body_enc=self.keyring.encrypt_json(body, aad(PatientMessage, "body_enc", mid)),
                client_action_id=client_action_id))
            email = str(self._open(Account, "email_enc", acc.id, acc.email_enc))
            oid = await outbox.enqueue(conn, self.keyring, kind="new_message", recipient=email,
                                       payload={"link": f"{self.settings.base_url}/"}, now=now)
            if deliver > now:  # a reminder for later: its e-mail waits with it
                await conn.execute(update(OutboxMessage).where(OutboxMessage.id == oid)
                                   .values(next_attempt_at=deliver))
            await audit.append(conn, at=now, actor=member.actor(), action="phi.write", target_type="account",
                               target_id=acc.id, detail={"event": f"staff.{kind}", "message": mid,
                                                         "deliver_at": deliver.isoformat()})
        return {"id": mid, "repeated": False, "kind": kind, "deliver_at": deliver.isoformat(), "text": body}


async def inbox_notices(conn: AsyncConnection, keyring: Keyring, account_id: str, now: datetime
                        ) -> list[dict[str, Any]]:
    """Delivered provider messages and reminders for the patient's inbox (newest first)."""
    rows = (await conn.execute(
        select(PatientMessage, CareTeam.name.label("team"))
        .outerjoin(CareTeam, CareTeam.id == PatientMessage.care_team_id)
        .where(PatientMessage.account_id == account_id, PatientMessage.deliver_at <= now)
        .order_by(PatientMessage.deliver_at.desc()))).all()
    return [{"id": r.id, "kind": r.kind, "care_team": r.team, "at": r.deliver_at.isoformat(),
             "text": keyring.decrypt_json(r.body_enc, aad(PatientMessage, "body_enc", r.id))} for r in rows]
