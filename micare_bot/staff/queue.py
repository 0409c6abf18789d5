"""The care-team queue: list, read, claim, reply, re-route, re-label, close.

Rules every use case follows:

* A staff member sees requests of their own clinic only, and of those only the
  teams they are a designated member of or cover for (an admin sees every team
  of the clinic). Anything else is "not found" — a 404, never a hint.
* Acting on a request (claim, reply, close, release) needs membership or cover;
  an admin may re-route and re-label but not claim or answer.
* Two staff never hold the same request: a claim is a guarded update
  (``… WHERE status = 'open'``) and on PostgreSQL the row is first taken with
  ``SELECT … FOR UPDATE SKIP LOCKED``, so a concurrent claimer moves on instead
  of queueing behind the winner.
* Every view and every action appends a ``request_events`` row (who, what,
  when, non-PHI details) and an audit record, in the action's transaction.
* A repeated reply with the same ``client_action_id`` acts once.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..clinic_settings import ClinicSettings
from ..config import Settings
from ..store import audit, db, outbox
from ..store.crypto import Keyring
from ..store.schema import (
    Account,
    CareRequest,
    CareTeam,
    Dependent,
    RequestEvent,
    RequestReply,
    Turn,
    aad,
)
from .canned import CannedError, CannedReplies
from .events import next_event_seq
from .roster import StaffMember

# SPEC §2: the fields each intent collects ("patient" is asked on every intent when there are dependents)
INTENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "appointment": ("reason", "preferred_time", "visit_type"),
    "refill": ("medication", "pharmacy"),
    "results": ("test", "test_date"),
    "immunization_copy": ("purpose", "delivery"),
    "symptom": ("symptom", "onset", "severity", "self_care"),
    "other": ("message",),
}
INTENTS = tuple(INTENT_FIELDS)
STATUSES = ("open", "claimed", "closed")
ACTIONS = ("viewed", "transcript_viewed", "exported", "claimed", "released", "replied", "rerouted", "relabeled",
           "done", "escalated")
MAX_REPLY_CHARS = 5000


class QueueError(Exception):
    """A domain error with a stable code and a message safe to show (no PHI)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


NOT_FOUND = QueueError(404, "not_found", "No such request in your queue.")


def due_state(row: Any, now: datetime, nearly: timedelta) -> str:
    if row.status == "closed":
        return "done"
    if row.due_at <= now:
        return "overdue"
    if row.due_at - now <= nearly:
        return "nearly_due"
    return "on_time"


@dataclass
class StaffQueue:
    engine: AsyncEngine
    keyring: Keyring
    settings: Settings
    clinics: Mapping[str, ClinicSettings]  # clinic id -> settings
    canned: CannedReplies

    # --- sealing -----------------------------------------------------------------

    def _open(self, model: Any, column: str, row_id: str, token: str | None) -> Any:
        return None if token is None else self.keyring.decrypt_json(token, aad(model, column, row_id))

    def _seal(self, model: Any, column: str, row_id: str, value: Any) -> str:
        return self.keyring.encrypt_json(value, aad(model, column, row_id))

    @property
    def nearly(self) -> timedelta:
        return timedelta(minutes=self.settings.nearly_due_minutes)

    # --- access --------------------------------------------------------------------

    def _visible(self, member: StaffMember, row: Any) -> bool:
        return row.clinic_id == member.clinic_id and (member.is_admin or row.care_team_id in member.inbox_teams)

    def _visible_clause(self, member: StaffMember) -> Any:
        clause = CareRequest.clinic_id == member.clinic_id
        if not member.is_admin:
            clause = clause & CareRequest.care_team_id.in_(sorted(member.inbox_teams) or [""])
        return clause

    async def _load(self, conn: AsyncConnection, member: StaffMember, request_id: str, *, lock: bool = False,
                    skip_locked: bool = False) -> Any:
        stmt = select(CareRequest).where(CareRequest.id == request_id)
        if lock and not db.is_sqlite(conn):
            stmt = stmt.with_for_update(skip_locked=skip_locked)
        row = (await conn.execute(stmt)).first()
        if row is None:
            if skip_locked:
                # on PostgreSQL a row locked by another claimer is skipped: say so only if it is visible
                seen = (await conn.execute(select(CareRequest).where(CareRequest.id == request_id))).first()
                if seen is not None and self._visible(member, seen):
                    raise QueueError(409, "claimed_by_other", "Someone else is taking this request right now.")
            raise NOT_FOUND
        if not self._visible(member, row):
            raise NOT_FOUND
        return row

    @staticmethod
    def _must_work(member: StaffMember, row: Any) -> None:
        if row.care_team_id not in member.inbox_teams:
            raise QueueError(403, "not_a_member", "Only the team's members (or their cover) can work this request.")

    @staticmethod
    def _not_held_by_other(member: StaffMember, row: Any) -> None:
        if row.status == "claimed" and row.assignee_id != member.id:
            raise QueueError(409, "claimed_by_other", "Another staff member is working this request.")

    @staticmethod
    def _not_closed(row: Any) -> None:
        if row.status == "closed":
            raise QueueError(409, "request_closed", "This request is already done.")

    async def _record(self, conn: AsyncConnection, member: StaffMember | None, row: Any, action: str, now: datetime,
                      *, audit_action: str | None = None, client_action_id: str | None = None,
                      reply_id: str | None = None, asked_fields: Sequence[str] | None = None,
                      from_team: str | None = None, to_team: str | None = None, from_intent: str | None = None,
                      to_intent: str | None = None, detail: Mapping[str, Any] | None = None) -> str:
        """One request event and its audit record (no PHI in either)."""
        event_id = str(uuid.uuid4())
        seq = await next_event_seq(conn, row.id)
        await conn.execute(RequestEvent.__table__.insert().values(
            id=event_id, request_id=row.id, seq=seq, clinic_id=row.clinic_id, staff_id=member.id if member else None,
            action=action, at=now, from_team_id=from_team, to_team_id=to_team, from_intent=from_intent,
            to_intent=to_intent, asked_fields=json.dumps(list(asked_fields)) if asked_fields is not None else None,
            reply_id=reply_id, detail=json.dumps(dict(detail), sort_keys=True) if detail else None,
            client_action_id=client_action_id))
        audit_detail: dict[str, Any] = {"event": action, **(detail or {})}
        for key, value in (("from_team", from_team), ("to_team", to_team), ("from_intent", from_intent),
                           ("to_intent", to_intent), ("reply", reply_id)):
            if value is not None:
                audit_detail[key] = value
        if asked_fields:
            audit_detail["asked_fields"] = list(asked_fields)
        await audit.append(conn, at=now, actor=member.actor() if member else "system",
                           action=audit_action or f"staff.{action}", target_type="care_request", target_id=row.id,
                           detail=audit_detail)
        return event_id

    # --- what a request looks like to staff -------------------------------------------

    async def _people(self, conn: AsyncConnection, rows: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        account_ids = {r.account_id for r in rows} | {r.assignee_id for r in rows if r.assignee_id}
        dependent_ids = {r.dependent_id for r in rows if r.dependent_id}
        accounts: dict[str, Any] = {}
        if account_ids:
            for a in (await conn.execute(select(Account.id, Account.name_enc, Account.dob_enc)
                                         .where(Account.id.in_(account_ids)))).all():
                accounts[a.id] = {"name": self._open(Account, "name_enc", a.id, a.name_enc),
                                  "dob": self._open(Account, "dob_enc", a.id, a.dob_enc)}
        dependents: dict[str, Any] = {}
        if dependent_ids:
            for d in (await conn.execute(select(Dependent.id, Dependent.name_enc, Dependent.dob_enc)
                                         .where(Dependent.id.in_(dependent_ids)))).all():
                dependents[d.id] = {"name": self._open(Dependent, "name_enc", d.id, d.name_enc),
                                    "dob": self._open(Dependent, "dob_enc", d.id, d.dob_enc)}
        return accounts, dependents

    async def _teams(self, conn: AsyncConnection, clinic_id: str) -> dict[str, Any]:
        rows = (await conn.execute(select(CareTeam.id, CareTeam.slug, CareTeam.name)
                                   .where(CareTeam.clinic_id == clinic_id))).all()
        return {r.id: {"id": r.id, "slug": r.slug, "name": r.name} for r in rows}

    def _item(self, row: Any, accounts: Mapping[str, Any], dependents: Mapping[str, Any], teams: Mapping[str, Any],
              now: datetime) -> dict[str, Any]:
        content = self._open(CareRequest, "content_enc", row.id, row.content_enc)
        holder = accounts.get(row.account_id, {"name": None, "dob": None})
        if row.dependent_id:
            dep = dependents.get(row.dependent_id, {"name": None, "dob": None})
            patient = {"name": dep["name"], "dob": dep["dob"], "label": content["patient"],
                       "account_id": row.account_id, "dependent_id": row.dependent_id,
                       "filed_by": {"name": holder["name"], "relation": "parent or guardian"}}
        else:
            patient = {"name": holder["name"], "dob": holder["dob"], "label": content["patient"],
                       "account_id": row.account_id, "dependent_id": None, "filed_by": None}
        fields = {k: v for k, v in content["fields"].items() if k != "patient"}
        assignee = ({"id": row.assignee_id, "name": accounts.get(row.assignee_id, {}).get("name")}
                    if row.assignee_id else None)
        return {
            "id": row.id, "reference": row.reference, "intent": row.intent, "triage": row.triage,
            "status": row.status, "team": teams.get(row.care_team_id), "assignee": assignee, "patient": patient,
            "fields": fields, "parsed": content.get("parsed", {}), "patient_words": content["patient_words"],
            "safety_checked": content.get("safety_checked"),
            "safety_unsure": bool(content.get("safety_unsure")),
            "field_order": [f for f in INTENT_FIELDS.get(row.intent, ()) if f in fields]
            + [f for f in fields if f not in INTENT_FIELDS.get(row.intent, ())],
            "filed_at": row.filed_at.isoformat(), "due_at": row.due_at.isoformat(),
            "due_state": due_state(row, now, self.nearly),
            "claimed_at": row.claimed_at.isoformat() if row.claimed_at else None,
            "first_reply_at": row.first_reply_at.isoformat() if row.first_reply_at else None,
            "closed_at": row.closed_at.isoformat() if row.closed_at else None,
            "escalation": row.escalation,
        }

    # --- the list -------------------------------------------------------------------------

    async def list(self, member: StaffMember, *, now: datetime, intent: str | None = None, team: str | None = None,
                   status: str | None = None, assignee: str | None = None, limit: int = 200) -> dict[str, Any]:
        """Requests sorted by due time, with counts per status under the same non-status filters.

        ``status``: open, claimed, closed, or None for open and claimed; ``assignee``: ``me``,
        ``none`` or a staff id; ``team``: a team slug.
        """
        if intent is not None and intent not in INTENTS:
            raise QueueError(422, "invalid_filter", "Unknown intent filter.")
        if status is not None and status not in STATUSES:
            raise QueueError(422, "invalid_filter", "The status filter is open, claimed or closed.")
        async with db.read(self.engine) as conn:
            teams = await self._teams(conn, member.clinic_id)
            where = [self._visible_clause(member)]
            if intent:
                where.append(CareRequest.intent == intent)
            if team:
                team_id = next((t["id"] for t in teams.values() if t["slug"] == team), None)
                if team_id is None:
                    raise QueueError(422, "invalid_filter", "Unknown team filter.")
                where.append(CareRequest.care_team_id == team_id)
            if assignee == "me":
                where.append(CareRequest.assignee_id == member.id)
            elif assignee == "none":
                where.append(CareRequest.assignee_id.is_(None))
            elif assignee:
                where.append(CareRequest.assignee_id == assignee)
            counts = {s: 0 for s in STATUSES}
            for s, n in (await conn.execute(select(CareRequest.status, func.count()).where(*where)
                                            .group_by(CareRequest.status))).all():
                counts[s] = int(n)
            wanted = [status] if status else ["open", "claimed"]
            order = (CareRequest.closed_at.desc(),) if status == "closed" else (CareRequest.due_at,
                                                                                 CareRequest.filed_at)
            rows = (await conn.execute(select(CareRequest).where(*where, CareRequest.status.in_(wanted))
                                       .order_by(*order).limit(limit))).all()
            accounts, dependents = await self._people(conn, rows)
        items = [self._item(r, accounts, dependents, teams, now) for r in rows]
        if items:
            async with db.write(self.engine) as conn:
                await audit.append(conn, at=now, actor=member.actor(), action="phi.read", target_type="queue",
                                   target_id=member.clinic_id,
                                   detail={"event": "staff.queue", "requests": [i["id"] for i in items]})
        due = {"overdue": sum(1 for i in items if i["due_state"] == "overdue"),
               "nearly_due": sum(1 for i in items if i["due_state"] == "nearly_due")}
        return {"requests": items, "counts": counts, "due": due, "now": now.isoformat(),
                "filters": {"intent": intent, "team": team, "status": status, "assignee": assignee}}

    # --- one request ------------------------------------------------------------------------

    async def detail(self, member: StaffMember, request_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id)
            item = await self._detail(conn, member, row, now)
            await self._record(conn, member, row, "viewed", now, audit_action="phi.read")
        return item

    async def _detail(self, conn: AsyncConnection, member: StaffMember, row: Any, now: datetime) -> dict[str, Any]:
        teams = await self._teams(conn, row.clinic_id)
        events = (await conn.execute(select(RequestEvent).where(RequestEvent.request_id == row.id)
                                     .order_by(RequestEvent.seq))).all()
        replies = (await conn.execute(select(RequestReply).where(RequestReply.request_id == row.id)
                                      .order_by(RequestReply.created_at))).all()
        staff_ids = {e.staff_id for e in events if e.staff_id} | {r.author_id for r in replies}
        accounts, dependents = await self._people(conn, [row])
        names = {a.id: self._open(Account, "name_enc", a.id, a.name_enc) for a in (await conn.execute(
            select(Account.id, Account.name_enc).where(Account.id.in_(staff_ids or {""})))).all()}
        item = self._item(row, accounts, dependents, teams, now)
        item["replies"] = [{"id": r.id, "author": {"id": r.author_id, "name": names.get(r.author_id)},
                            "text": self._open(RequestReply, "body_enc", r.id, r.body_enc),
                            "at": r.created_at.isoformat()} for r in replies]
        item["events"] = [{
            "action": e.action, "at": e.at.isoformat(),
            "staff": {"id": e.staff_id, "name": names.get(e.staff_id)} if e.staff_id else None,
            "from_team": teams.get(e.from_team_id or ""), "to_team": teams.get(e.to_team_id or ""),
            "from_intent": e.from_intent, "to_intent": e.to_intent,
            "asked_fields": json.loads(e.asked_fields) if e.asked_fields else [],
            "detail": json.loads(e.detail) if e.detail else {},
        } for e in events if e.action not in ("viewed", "transcript_viewed", "exported")]
        item["canned"] = [{"id": c.id, "title": c.title} for c in self.canned.for_intent(row.intent)]
        item["askable_fields"] = ["patient", *INTENT_FIELDS.get(row.intent, ())]
        item["can_work"] = row.care_team_id in member.inbox_teams
        return item

    async def transcript(self, member: StaffMember, request_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id)
            turns = (await conn.execute(select(Turn).where(Turn.conversation_id == row.conversation_id)
                                        .order_by(Turn.seq))).all()
            await self._record(conn, member, row, "transcript_viewed", now, audit_action="phi.read")
        entries: list[dict[str, Any]] = []
        for t in turns:
            at = t.created_at.isoformat()
            if t.text_enc is not None:
                entries.append({"from": "patient", "text": self._open(Turn, "text_enc", t.id, t.text_enc), "at": at})
            result = self._open(Turn, "result_enc", t.id, t.result_enc)
            for message in result.get("messages", []):
                entries.append({"from": "bot", "text": message.get("text", ""), "at": at})
        return {"id": row.id, "reference": row.reference, "transcript": entries}

    async def fhir(self, member: StaffMember, request_id: str, *, now: datetime, kind: str = "task"
                   ) -> dict[str, Any]:
        """The request as a FHIR R4 Task (default) or Communication; an audited read."""
        from . import fhir

        if kind not in ("task", "communication"):
            raise QueueError(422, "invalid_filter", "as= must be task or communication.")
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id)
            item = await self._detail(conn, member, row, now)
            await self._record(conn, member, row, "exported", now, audit_action="phi.read",
                               detail={"format": f"fhir-r4-{kind}"})
        patient_id = row.dependent_id or row.account_id
        filer_id = row.account_id if row.dependent_id else None
        build = fhir.task if kind == "task" else fhir.communication
        return build(item, base_url=self.settings.base_url, patient_id=patient_id, filer_id=filer_id)

    # --- claim, release ---------------------------------------------------------------------

    async def claim(self, member: StaffMember, request_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True, skip_locked=True)
            self._must_work(member, row)
            if row.status == "claimed" and row.assignee_id == member.id:
                return await self._detail(conn, member, row, now)  # a repeated claim changes nothing
            self._not_closed(row)
            self._not_held_by_other(member, row)
            row = await self._take(conn, member, row, now)
            return await self._detail(conn, member, row, now)

    async def _take(self, conn: AsyncConnection, member: StaffMember, row: Any, now: datetime) -> Any:
        # the guard: only an open request can be taken, whatever anyone read before
        result = await conn.execute(
            update(CareRequest).where(CareRequest.id == row.id, CareRequest.status == "open")
            .values(status="claimed", assignee_id=member.id, claimed_at=now))
        if result.rowcount != 1:
            raise QueueError(409, "claimed_by_other", "Another staff member is working this request.")
        await self._record(conn, member, row, "claimed", now)
        return (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()

    async def claim_next(self, member: StaffMember, *, now: datetime, team: str | None = None,
                         intent: str | None = None) -> dict[str, Any] | None:
        """Take the soonest-due open request of the member's teams; None when there is none."""
        if not member.inbox_teams:
            raise QueueError(403, "not_a_member", "You are not a member of any care team.")
        async with db.write(self.engine) as conn:
            teams = await self._teams(conn, member.clinic_id)
            team_ids = sorted(member.inbox_teams)
            if team:
                team_ids = [t for t in team_ids if teams.get(t, {}).get("slug") == team]
            stmt = (select(CareRequest).where(CareRequest.clinic_id == member.clinic_id,
                                              CareRequest.care_team_id.in_(team_ids or [""]),
                                              CareRequest.status == "open")
                    .order_by(CareRequest.due_at, CareRequest.filed_at).limit(1))
            if intent:
                stmt = stmt.where(CareRequest.intent == intent)
            if not db.is_sqlite(conn):
                stmt = stmt.with_for_update(skip_locked=True)
            row = (await conn.execute(stmt)).first()
            if row is None:
                return None
            row = await self._take(conn, member, row, now)
            return await self._detail(conn, member, row, now)

    async def release(self, member: StaffMember, request_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True)
            self._must_work(member, row)
            if row.status != "claimed" or row.assignee_id != member.id:
                raise QueueError(409, "not_yours", "You are not holding this request.")
            await conn.execute(update(CareRequest).where(CareRequest.id == row.id)
                               .values(status="open", assignee_id=None, claimed_at=None))
            await self._record(conn, member, row, "released", now)
            row = (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()
            return await self._detail(conn, member, row, now)

    # --- reply ------------------------------------------------------------------------------

    def canned_context(self, row: Any, content: Mapping[str, Any], patient_name: str | None, member: StaffMember,
                       team_name: str) -> dict[str, Any]:
        first = (patient_name or "").split()[0] if patient_name else "there"
        clinic = self.clinics.get(row.clinic_id)
        numbers = dataclasses.asdict(clinic.context) if clinic is not None else {}
        fields = {k: v for k, v in content["fields"].items() if k != "patient"}
        return {"patient": first, "for_self": row.dependent_id is None, "patient_possessive": f"{first}'s",
                "fields": fields, "reference": row.reference, "team": team_name, "staff": member.name,
                "clinic": dict(numbers)}

    async def render_canned(self, member: StaffMember, request_id: str, canned_id: str, *,
                            now: datetime) -> str:
        async with db.read(self.engine) as conn:
            row = await self._load(conn, member, request_id)
            return await self._render_canned(conn, member, row, canned_id)

    async def _render_canned(self, conn: AsyncConnection, member: StaffMember, row: Any, canned_id: str) -> str:
        content = self._open(CareRequest, "content_enc", row.id, row.content_enc)
        accounts, dependents = await self._people(conn, [row])
        name = (dependents.get(row.dependent_id or "") or accounts.get(row.account_id) or {}).get("name")
        team = (await conn.execute(select(CareTeam.name).where(CareTeam.id == row.care_team_id))).scalar_one()
        try:
            return self.canned.render(canned_id, row.intent,
                                      self.canned_context(row, content, name, member, team))
        except CannedError:
            raise QueueError(422, "unknown_canned_reply", "No such canned reply for this request.") from None

    async def reply(self, member: StaffMember, request_id: str, *, now: datetime, text: str | None = None,
                    canned: str | None = None, asked_fields: Iterable[str] = (), close: bool = False,
                    client_action_id: str | None = None) -> dict[str, Any]:
        """Answer the patient: the reply goes to their inbox, the no-PHI e-mail through the outbox.

        ``asked_fields``: SPEC §2 field names the reply had to ask the patient for again (the quality
        report counts them). Replying to an open request claims it.
        """
        asked = list(dict.fromkeys(asked_fields))
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True)
            self._must_work(member, row)
            if client_action_id:
                seen = (await conn.execute(select(RequestEvent.staff_id, RequestEvent.reply_id).where(
                    RequestEvent.request_id == row.id, RequestEvent.client_action_id == client_action_id))).first()
                if seen is not None:
                    if seen.staff_id != member.id:
                        raise QueueError(409, "duplicate_action_id", "That client_action_id was used already.")
                    result = await self._detail(conn, member, row, now)
                    return {**result, "reply_id": seen.reply_id, "repeated": True}
            self._not_closed(row)
            self._not_held_by_other(member, row)
            allowed = {"patient", *INTENT_FIELDS.get(row.intent, ())}
            bad = [f for f in asked if f not in allowed]
            if bad:
                raise QueueError(422, "invalid_asked_fields",
                                 f"asked_fields must be among: {', '.join(sorted(allowed))}.")
            if canned is not None:
                rendered = await self._render_canned(conn, member, row, canned)
                body = text if text is not None else rendered
            elif text is not None:
                body = text
            else:
                raise QueueError(422, "missing_field", "Write a reply or choose a canned reply.")
            body = body.strip()
            if not body:
                raise QueueError(422, "empty_text", "The reply is empty.")
            if len(body) > MAX_REPLY_CHARS:
                raise QueueError(422, "text_too_long", f"Keep replies under {MAX_REPLY_CHARS} characters.")
            if row.status == "open":
                row = await self._take(conn, member, row, now)
            reply_id = str(uuid.uuid4())
            await conn.execute(RequestReply.__table__.insert().values(
                id=reply_id, request_id=row.id, author_id=member.id, created_at=now,
                body_enc=self._seal(RequestReply, "body_enc", reply_id, body)))
            values: dict[str, Any] = {}
            if row.first_reply_at is None:
                values["first_reply_at"] = now
            if values:
                await conn.execute(update(CareRequest).where(CareRequest.id == row.id).values(**values))
            await self._notify_patient(conn, row.account_id, now)
            await self._record(conn, member, row, "replied", now, audit_action="phi.write",
                               client_action_id=client_action_id, reply_id=reply_id, asked_fields=asked,
                               detail={"canned": canned} if canned else None)
            if close:
                await conn.execute(update(CareRequest).where(CareRequest.id == row.id)
                                   .values(status="closed", closed_at=now))
                await self._record(conn, member, row, "done", now)
            row = (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()
            result = await self._detail(conn, member, row, now)
        return {**result, "reply_id": reply_id, "repeated": False}

    async def _notify_patient(self, conn: AsyncConnection, account_id: str, now: datetime) -> None:
        acc = (await conn.execute(select(Account.email_enc).where(Account.id == account_id))).one()
        email = self._open(Account, "email_enc", account_id, acc.email_enc)
        await outbox.enqueue(conn, self.keyring, kind="new_message", recipient=str(email),
                             payload={"link": f"{self.settings.base_url}/"}, now=now)

    # --- re-route, re-label, done ----------------------------------------------------------

    async def reroute(self, member: StaffMember, request_id: str, team_slug: str, *, now: datetime
                      ) -> dict[str, Any]:
        """Send the request to another team of the clinic: it is open again there and that team is told."""
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True)
            if not member.is_admin:
                self._must_work(member, row)
            self._not_closed(row)
            self._not_held_by_other(member, row)
            target = (await conn.execute(select(CareTeam.id, CareTeam.notify_email).where(
                CareTeam.clinic_id == member.clinic_id, CareTeam.slug == team_slug))).first()
            if target is None:
                raise QueueError(422, "unknown_team", "The clinic has no such care team.")
            if target.id == row.care_team_id:
                raise QueueError(422, "same_team", "The request is already with that team.")
            await conn.execute(update(CareRequest).where(CareRequest.id == row.id).values(
                care_team_id=target.id, status="open", assignee_id=None, claimed_at=None, escalation=None))
            await self._record(conn, member, row, "rerouted", now, from_team=row.care_team_id, to_team=target.id)
            if target.notify_email:
                await outbox.enqueue(conn, self.keyring, kind="new_request", recipient=target.notify_email,
                                     payload={"link": f"{self.settings.base_url}/staff/queue"}, now=now)
            row = (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()
            return await self._detail(conn, member, row, now)

    async def relabel(self, member: StaffMember, request_id: str, intent: str, *, now: datetime) -> dict[str, Any]:
        """Correct a wrong intent; the event keeps both for the quality report."""
        if intent not in INTENTS:
            raise QueueError(422, "unknown_intent", f"The intent must be one of: {', '.join(INTENTS)}.")
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True)
            if not member.is_admin:
                self._must_work(member, row)
            self._not_held_by_other(member, row)
            if row.intent == intent:
                raise QueueError(422, "same_intent", "The request already has that intent.")
            await conn.execute(update(CareRequest).where(CareRequest.id == row.id).values(intent=intent))
            await self._record(conn, member, row, "relabeled", now, from_intent=row.intent, to_intent=intent)
            row = (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()
            return await self._detail(conn, member, row, now)

    async def done(self, member: StaffMember, request_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.write(self.engine) as conn:
            row = await self._load(conn, member, request_id, lock=True)
            self._must_work(member, row)
            if row.status != "closed":
                self._not_held_by_other(member, row)
                await conn.execute(update(CareRequest).where(CareRequest.id == row.id).values(
                    status="closed", closed_at=now, assignee_id=row.assignee_id or member.id))
                await self._record(conn, member, row, "done", now)
                row = (await conn.execute(select(CareRequest).where(CareRequest.id == row.id))).one()
            return await self._detail(conn, member, row, now)
