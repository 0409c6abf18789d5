"""The gateway's use cases: start a conversation, take a turn, read a transcript, the inbox.

HTTP and WebSocket handlers (``channels/web.py``) call these; nothing here knows
about aiohttp. A turn is one write transaction that

1. locks the conversation row (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE``
   on SQLite), so two processes never interleave turns of one conversation;
2. returns the stored result if the ``client_turn_id`` was seen before (a retry
   changes nothing);
3. runs the pure core (``conversation.handle``) on the decrypted state;
4. carries out the core's effects — a ``FileRequest`` becomes the care-team
   queue row, the conversation's status and the notification outbox row; a
   ``Redirect`` closes the conversation and bumps the clinic's counter (no
   words anywhere) — and saves the encrypted state and the turn;
5. appends to the audit chain.

Either all of it commits or none of it does. The transaction is one synchronous
function (``_turn_tx``) handed to ``db.run_write``: on SQLite it runs on the event
loop's thread without yielding, so the database's one write lock is held for well
under a millisecond; a filing commits at ``synchronous=FULL`` (``db.require_full_sync``).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from . import conversation as core
from . import proxy
from .accounts import PatientRecord, load_patient, load_patient_sync
from .clinic_settings import ClinicSettings
from .config import Settings
from .models import ConversationState, FileRequest, Redirect, Reply, TurnResult
from .store import audit, db, outbox
from .store.crypto import Keyring
from .store.schema import (
    Account,
    AccountNotice,
    CareRequest,
    CareTeam,
    Conversation,
    RequestReply,
    TriageCounter,
    Turn,
    aad,
)

_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


class GatewayError(Exception):
    """A domain error with a stable code and a message safe to show (no PHI)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


NOT_FOUND = ("not_found", "No such conversation.")
PROXY_REFUSED = ("proxy_not_allowed",
                 "You can send messages for a family member only while the clinic has accepted your link to them "
                 "and they are under the clinic's age limit. See Family in your account.")

# hot-path statements, built once
_INSERT_TURN = insert(Turn)
_INSERT_CONVERSATION = insert(Conversation)
_INSERT_REQUEST = insert(CareRequest)
_SAVE_CONVERSATION = update(Conversation).where(Conversation.id == bindparam("b_id"))
_SAVED = ("status", "intent", "triage", "state_enc", "turns", "updated_at", "closed_at",
          "awaiting")  # in clear for the quality figures (0004)
_TURN_COLUMNS = ("id", "conversation_id", "seq", "client_turn_id", "text_enc", "result_enc", "created_at")
_SAVE_AND_INSERT_TURN = (  # PostgreSQL only (SQLite has no data-modifying CTEs)
    insert(Turn)
    .values({c: bindparam(f"t_{c}", type_=Turn.__table__.c[c].type) for c in _TURN_COLUMNS})
    .add_cte(update(Conversation).where(Conversation.id == bindparam("b_id"))
             .values({c: bindparam(f"b_{c}", type_=Conversation.__table__.c[c].type) for c in _SAVED})
             .cte("save_conversation"))
)
_CONV_AND_SEEN = (
    select(Conversation, Turn.id.label("seen_id"), Turn.result_enc.label("seen_result"))
    .outerjoin(Turn, and_(Turn.conversation_id == Conversation.id, Turn.client_turn_id == bindparam("tid")))
    .where(Conversation.id == bindparam("cid"))
)
_CONV_LOCKED = select(Conversation).where(Conversation.id == bindparam("cid")).with_for_update()
_SEEN_TURN = select(Turn.id, Turn.result_enc).where(
    Turn.conversation_id == bindparam("cid"), Turn.client_turn_id == bindparam("tid"))


def new_reference() -> str:
    return "R-" + "".join(secrets.choice(_REF_ALPHABET) for _ in range(7))


@dataclass
class Gateway:
    engine: AsyncEngine
    keyring: Keyring
    settings: Settings
    clinics: Mapping[str, ClinicSettings]  # clinic id -> settings
    patient_ttl: float = 60.0  # seconds a decrypted patient context is reused by this process
    _patients: dict[str, tuple[float, PatientRecord]] = field(default_factory=dict, repr=False)
    _awaiting: dict[str, str | None] = field(default_factory=dict, repr=False)  # conversation -> what it asks
    _teams: dict[tuple[str, str | None], tuple[float, tuple[str, str, str | None] | None]] = field(
        default_factory=dict, repr=False)

    def _patient(self, conn: Connection, account_id: str, now: datetime, *, fresh: bool = False) -> PatientRecord:
        """The patient's context, cached briefly: turns come seconds apart, profiles change rarely.
        (The dependents in it only shape the questions; filing re-checks each proxy link.)"""
        hit = self._patients.get(account_id)
        clock = time.monotonic()
        if not fresh and hit is not None and clock - hit[0] < self.patient_ttl:
            return hit[1]
        record = load_patient_sync(conn, self.keyring, account_id, now, self.clinics)
        if len(self._patients) > 10_000:
            self._patients.clear()
        self._patients[account_id] = (clock, record)
        return record

    def forget(self, account_id: str) -> None:
        """Drop a cached context (the account's family links changed in this process)."""
        self._patients.pop(account_id, None)

    def clinic(self, clinic_id: str) -> ClinicSettings:
        try:
            return self.clinics[clinic_id]
        except KeyError:
            raise GatewayError(503, "clinic_not_configured", "This clinic is not configured on this server.") from None

    # --- sealing helpers -------------------------------------------------------

    def _seal(self, model: Any, column: str, row_id: str, value: Any) -> str:
        return self.keyring.encrypt_json(value, aad(model, column, row_id))

    def _open(self, model: Any, column: str, row_id: str, token: str) -> Any:
        return self.keyring.decrypt_json(token, aad(model, column, row_id))

    # --- start -----------------------------------------------------------------

    async def start(self, account_id: str, *, dependent: str | None, now: datetime) -> dict[str, Any]:
        return await db.run_write(self.engine, self._start_tx, account_id, dependent, now)

    def _start_tx(self, conn: Connection, account_id: str, dependent: str | None, now: datetime) -> dict[str, Any]:
        # a new conversation always sees the links as they are now (not a cached copy)
        patient = self._patient(conn, account_id, now, fresh=True)
        clinic = self.clinic(patient.clinic_id)
        dependent_id = None
        dependent_name = None
        if dependent is not None:
            key = dependent.strip().split()[0].casefold() if dependent.strip() else ""
            if key in {"self", "me", "myself"}:
                dependent = None
            elif key not in patient.dependent_ids:
                family = proxy.linked_dependents_sync(conn, self.keyring, account_id,
                                                      today=proxy.local_today(now, clinic),
                                                      limit=proxy.age_limit(clinic))
                if any(d.first_name.casefold() == key for d in family):  # theirs, but the link is not live
                    raise GatewayError(403, *PROXY_REFUSED)
                raise GatewayError(422, "unknown_dependent", "No dependent of that name is linked to your account.")
            else:
                dependent_id = patient.dependent_ids[key]
                dependent_name = next(d.name for d in patient.context.dependents
                                      if d.name.split()[0].casefold() == key)
        result = core.greeting(patient.context, clinic.context, dependent=dependent_name)
        conv_id = str(uuid.uuid4())
        body = self._result_dict(result, conv_id, None)
        conn.execute(_INSERT_CONVERSATION, {
            "id": conv_id, "clinic_id": patient.clinic_id, "account_id": account_id, "dependent_id": dependent_id,
            "status": result.state.status, "intent": result.state.intent, "triage": result.state.triage,
            "state_enc": self._seal(Conversation, "state_enc", conv_id, result.state.to_dict()),
            "turns": 0, "created_at": now, "updated_at": now, "closed_at": None,
            "awaiting": result.state.awaiting, "care_team_id": self._team_of(conn, patient),
        })
        self._insert_turn(conn, conv_id, 0, None, None, body, now)
        audit.append_many_sync(conn, now, [audit.Record(f"account:{account_id}", "phi.write", "conversation",
                                                        conv_id, {"event": "start"})])
        return body

    # --- one turn ----------------------------------------------------------------

    async def turn(self, account_id: str, conv_id: str, *, text: str, client_turn_id: str,
                   now: datetime) -> dict[str, Any]:
        # a turn answering the read-back usually files: on SQLite, begin it at synchronous=FULL
        durable = self._awaiting.get(conv_id) == "confirm"
        body = await db.run_write(self.engine, self._turn_tx, account_id, conv_id, text, client_turn_id, now,
                                  durable=durable)
        if len(self._awaiting) > 10_000:
            self._awaiting.clear()
        if body.get("status") in ("filed", "redirected", "cancelled") or body.get("awaiting") is None:
            self._awaiting.pop(conv_id, None)
        else:
            self._awaiting[conv_id] = body.get("awaiting")
        return body

    def _turn_tx(self, conn: Connection, account_id: str, conv_id: str, text: str, client_turn_id: str,
                 now: datetime) -> dict[str, Any]:
        if db.is_sqlite(conn):
            # BEGIN IMMEDIATE holds the write lock: the conversation and an earlier turn with this
            # client_turn_id in one statement
            conv = conn.execute(_CONV_AND_SEEN, {"cid": conv_id, "tid": client_turn_id}).first()
            seen = (conv.seen_id, conv.seen_result) if conv is not None and conv.seen_id is not None else None
        else:
            # lock the row first, then look for the turn: a snapshot taken before the lock was granted
            # would miss a turn that the lock's previous holder committed (READ COMMITTED)
            conv = conn.execute(_CONV_LOCKED, {"cid": conv_id}).first()
            row = conn.execute(_SEEN_TURN, {"cid": conv_id, "tid": client_turn_id}).first() if conv else None
            seen = (row.id, row.result_enc) if row is not None else None
        if conv is None or not self._visible(conn, conv, account_id, now):
            raise GatewayError(404, *NOT_FOUND)
        if conv.account_id != account_id:
            raise GatewayError(403, "not_your_conversation",
                               "Only the person who started this conversation can continue it.")
        if seen is not None:
            return dict(self._open(Turn, "result_enc", *seen))
        if conv.closed_at is not None:
            raise GatewayError(409, "conversation_closed",
                               "This conversation has ended. Start a new one to ask something else.")
        patient = self._patient(conn, account_id, now)
        clinic = self.clinic(conv.clinic_id)
        state = ConversationState.from_dict(self._open(Conversation, "state_enc", conv_id, conv.state_enc))
        result = core.handle(state, patient.context, text, clinic=clinic.context, now=now)
        request_ref: str | None = None
        extra: list[Reply] = []
        actor = f"account:{account_id}"
        records: list[audit.Record] = []
        for effect in result.effects:
            if isinstance(effect, FileRequest):
                # a filed request must survive a power cut (SQLite: commit at synchronous=FULL)
                db.require_full_sync(conn)
                request_ref, request_id, line = self._file(conn, conv, patient, clinic, effect, result, now)
                extra.append(Reply(line))
                records.append(audit.Record(actor, "request.file", "care_request", request_id,
                                            {"intent": effect.intent, "conversation": conv_id}))
            elif isinstance(effect, Redirect):
                self._count_redirect(conn, conv.clinic_id, effect.level, clinic, now)
                records.append(audit.Record(actor, "triage.redirect", "conversation", conv_id,
                                            {"level": effect.level, "rule": effect.rule}))
        if extra:
            result = TurnResult(result.state, result.replies + tuple(extra), result.effects)
        closed = result.state.closed
        seq = conv.turns + 1
        save = {
            "status": result.state.status, "intent": result.state.intent, "triage": result.state.triage,
            "state_enc": self._seal(Conversation, "state_enc", conv_id, result.state.to_dict()),
            "turns": seq, "updated_at": now, "closed_at": now if closed else None,
            "awaiting": result.state.awaiting,
        }
        body = self._result_dict(result, conv_id, request_ref)
        turn = self._turn_row(conv_id, seq, client_turn_id, text, body, now)
        if db.is_sqlite(conn):
            conn.execute(_SAVE_CONVERSATION, {"b_id": conv_id, **save})
            conn.execute(_INSERT_TURN, turn)
        else:
            # one round trip instead of two: the update as a data-modifying CTE of the insert
            conn.execute(_SAVE_AND_INSERT_TURN, {"b_id": conv_id, **{f"b_{k}": v for k, v in save.items()},
                                                 **{f"t_{k}": v for k, v in turn.items()}})
        records.append(audit.Record(actor, "phi.write", "conversation", conv_id,
                                    {"event": "turn", "seq": seq, "status": result.state.status}))
        # last: on PostgreSQL the audit head stays locked from here to the commit
        audit.append_many_sync(conn, now, records)
        return body

    def _team_of(self, conn: Connection, patient: PatientRecord) -> str | None:
        """The patient's care team, else the clinic's first (the team a filing would go to)."""
        if patient.care_team_id:
            return patient.care_team_id
        team = self._team(conn, patient.clinic_id, None)
        return team[0] if team is not None else None

    def _team(self, conn: Connection, clinic_id: str, team_id: str | None) -> tuple[str, str, str | None] | None:
        """(id, name, notify e-mail) of the patient's care team, else the clinic's first; cached briefly."""
        key = (clinic_id, team_id)
        hit = self._teams.get(key)
        clock = time.monotonic()
        if hit is not None and clock - hit[0] < self.patient_ttl:
            return hit[1]
        stmt = select(CareTeam.id, CareTeam.name, CareTeam.notify_email)
        stmt = (stmt.where(CareTeam.id == team_id) if team_id is not None
                else stmt.where(CareTeam.clinic_id == clinic_id).order_by(CareTeam.slug).limit(1))
        row = conn.execute(stmt).first()
        if row is None:
            return None  # not cached: a team added a moment ago must be found
        team = (row.id, row.name, row.notify_email)
        self._teams[key] = (clock, team)
        return team

    def _file(self, conn: Connection, conv: Any, patient: PatientRecord, clinic: ClinicSettings,
              effect: FileRequest, result: TurnResult, now: datetime) -> tuple[str, str, str]:
        """The queue row and the care team's notice; returns (reference, id, the line for the patient)."""
        team = self._team(conn, conv.clinic_id, patient.care_team_id)
        if team is None:
            raise GatewayError(503, "no_care_team", "The clinic has no care team to receive requests.")
        team_id, team_name, notify_email = team
        dependent_id = self._filed_for(conn, conv, clinic, effect.patient, now)
        due = clinic.calendar.due(now, clinic.target)
        request_id = str(uuid.uuid4())
        reference = new_reference()
        content = {
            "patient": effect.patient,
            "fields": dict(effect.fields),
            "parsed": dict(effect.parsed),
            "patient_words": list(effect.patient_words),
        }
        if effect.safety_checked:
            content["safety_checked"] = effect.safety_checked
        if effect.safety_unsure:
            content["safety_unsure"] = True
        conn.execute(_INSERT_REQUEST, {
            "id": request_id, "reference": reference, "clinic_id": conv.clinic_id, "care_team_id": team_id,
            "conversation_id": conv.id, "account_id": conv.account_id, "dependent_id": dependent_id,
            "intent": effect.intent, "triage": result.state.triage,
            "content_enc": self._seal(CareRequest, "content_enc", request_id, content),
            "status": "open", "filed_at": now, "due_at": due,
        })
        if notify_email:
            outbox.enqueue_sync(conn, self.keyring, kind="new_request", recipient=notify_email,
                                payload={"link": f"{self.settings.base_url}/staff/queue"}, now=now)
        line = (f"Your request {reference} is with the {team_name}. "
                f"Expect a reply by {clinic.calendar.describe(due)}.")
        return reference, request_id, line

    def _filed_for(self, conn: Connection, conv: Any, clinic: ClinicSettings, patient: str,
                   now: datetime) -> str | None:
        """The dependent a request is filed under, checked against the links as they are in this
        transaction (a link ended a second ago, or a birthday today, refuses the filing). The
        sender is always the account (``care_requests.account_id``)."""
        key = patient.strip().split()[0].casefold() if patient.strip() else "self"
        if key in {"self", "me", "myself"}:
            if conv.dependent_id is not None:  # started for a child, then changed to "me" at the read-back
                conn.execute(update(Conversation).where(Conversation.id == conv.id).values(dependent_id=None))
            return None
        family = proxy.active_dependents_sync(conn, self.keyring, conv.account_id,
                                              today=proxy.local_today(now, clinic), limit=proxy.age_limit(clinic))
        match = next((d for d in family if d.first_name.casefold() == key), None)
        if match is None:
            raise GatewayError(403, *PROXY_REFUSED)
        if conv.dependent_id != match.id:  # chosen in the chat: the conversation belongs to the child too
            conn.execute(update(Conversation).where(Conversation.id == conv.id).values(dependent_id=match.id))
        return match.id

    def _may_act_for(self, conn: Connection, clinic_id: str, account_id: str, dependent_id: str,
                     now: datetime) -> bool:
        clinic = self.clinics.get(clinic_id)
        return proxy.may_act_for_sync(conn, self.keyring, account_id, dependent_id,
                                      today=proxy.local_today(now, clinic), limit=proxy.age_limit(clinic))

    def _count_redirect(self, conn: Connection, clinic_id: str, level: str, clinic: ClinicSettings,
                        now: datetime) -> None:
        day = now.astimezone(clinic.calendar.timezone).date()
        db.upsert_sync(conn, TriageCounter, {"clinic_id": clinic_id, "day": day, "level": level, "count": 1},
                       ["clinic_id", "day", "level"], {"count": TriageCounter.count + 1})

    def _insert_turn(self, conn: Connection, conv_id: str, seq: int, client_turn_id: str | None,
                     text: str | None, body: dict[str, Any], now: datetime) -> None:
        conn.execute(_INSERT_TURN, self._turn_row(conv_id, seq, client_turn_id, text, body, now))

    def _turn_row(self, conv_id: str, seq: int, client_turn_id: str | None, text: str | None,
                  body: dict[str, Any], now: datetime) -> dict[str, Any]:
        turn_id = str(uuid.uuid4())
        return {
            "id": turn_id, "conversation_id": conv_id, "seq": seq, "client_turn_id": client_turn_id,
            "text_enc": None if text is None else self._seal(Turn, "text_enc", turn_id, text),
            "result_enc": self._seal(Turn, "result_enc", turn_id, body), "created_at": now,
        }

    @staticmethod
    def _result_dict(result: TurnResult, conv_id: str, request_id: str | None) -> dict[str, Any]:
        return {"conversation_id": conv_id, **result.to_dict(), "request_id": request_id}

    def _visible(self, conn: Connection, conv: Any, account_id: str, now: datetime) -> bool:
        """Own conversations; a dependent's only while the proxy link is live (accepted, under
        the age limit) — also for the guardian who wrote it, so an ended link hides it."""
        if conv.dependent_id is None:
            return bool(conv.account_id == account_id)
        return self._may_act_for(conn, conv.clinic_id, account_id, conv.dependent_id, now)

    async def check_owner(self, account_id: str, conv_id: str, *, now: datetime) -> None:
        """404 unless visible to the account, 403 unless the account started it."""
        def owner(conn: Connection) -> Any:
            conv = conn.execute(select(Conversation.account_id, Conversation.dependent_id, Conversation.clinic_id)
                                .where(Conversation.id == conv_id)).first()
            if conv is None or not self._visible(conn, conv, account_id, now):
                raise GatewayError(404, *NOT_FOUND)
            return conv

        conv = await db.run_read(self.engine, owner)
        if conv.account_id != account_id:
            raise GatewayError(403, "not_your_conversation",
                               "Only the person who started this conversation can continue it.")

    # --- reading ---------------------------------------------------------------

    async def transcript(self, account_id: str, conv_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.read(self.engine) as conn:
            conv = (await conn.execute(select(Conversation).where(Conversation.id == conv_id))).first()
            if conv is None or not await conn.run_sync(self._visible, conv, account_id, now):
                raise GatewayError(404, *NOT_FOUND)
            turns = (await conn.execute(select(Turn).where(Turn.conversation_id == conv_id)
                                        .order_by(Turn.seq))).all()
        entries: list[dict[str, Any]] = []
        last: dict[str, Any] = {}
        for t in turns:
            at = t.created_at.isoformat()
            if t.text_enc is not None:
                entries.append({"from": "patient", "text": self._open(Turn, "text_enc", t.id, t.text_enc), "at": at})
            last = self._open(Turn, "result_enc", t.id, t.result_enc)
            for message in last.get("messages", []):
                entries.append({"from": "bot", **message, "at": at})
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=f"account:{account_id}", action="phi.read",
                               target_type="conversation", target_id=conv_id)
        state = {k: last.get(k) for k in ("status", "intent", "triage", "awaiting", "fields", "request_id")}
        return {"conversation_id": conv_id, "created_at": conv.created_at.isoformat(),
                **state, "transcript": entries}

    async def inbox(self, account_id: str, *, now: datetime) -> dict[str, Any]:
        async with db.read(self.engine) as conn:
            clinic_id = (await conn.execute(select(Account.clinic_id).where(Account.id == account_id))).scalar_one()
            clinic = self.clinics.get(clinic_id)
            # a child's requests only while the link is live (accepted, under the age limit)
            mine = [d.id for d in await proxy.active_dependents(
                conn, self.keyring, account_id, today=proxy.local_today(now, clinic), limit=proxy.age_limit(clinic))]
            requests = (
                await conn.execute(
                    select(CareRequest, CareTeam.name.label("team"))
                    .join(CareTeam, CareTeam.id == CareRequest.care_team_id)
                    .where(or_(and_(CareRequest.account_id == account_id, CareRequest.dependent_id.is_(None)),
                               CareRequest.dependent_id.in_(mine)))
                    .order_by(CareRequest.filed_at.desc())
                )
            ).all()
            family_notes = (await conn.execute(select(AccountNotice).where(AccountNotice.account_id == account_id)
                                               .order_by(AccountNotice.created_at.desc()))).all()
            ids = [r.id for r in requests]
            replies = (
                await conn.execute(select(RequestReply).where(RequestReply.request_id.in_(ids))
                                   .order_by(RequestReply.created_at))
            ).all() if ids else []
            # provider-initiated messages and appointment reminders (staff/messages.py)
            from .staff.messages import inbox_notices

            notices = await inbox_notices(conn, self.keyring, account_id, now)
        # and the clinic's notes on family links (family.py): one list, newest first
        notices += [{"id": n.id, "kind": n.kind, "care_team": None, "at": n.created_at.isoformat(),
                     "text": self._open(AccountNotice, "body_enc", n.id, n.body_enc)} for n in family_notes]
        notices.sort(key=lambda n: n["at"], reverse=True)
        by_request: dict[str, list[dict[str, Any]]] = {}
        for rep in replies:
            by_request.setdefault(rep.request_id, []).append(
                {"from": "care_team", "text": self._open(RequestReply, "body_enc", rep.id, rep.body_enc),
                 "at": rep.created_at.isoformat()})
        items = []
        for r in requests:
            content = self._open(CareRequest, "content_enc", r.id, r.content_enc)
            items.append({
                "request_id": r.reference, "conversation_id": r.conversation_id, "intent": r.intent,
                "patient": content["patient"], "fields": content["fields"], "status": r.status,
                "care_team": r.team, "filed_at": r.filed_at.isoformat(), "due_at": r.due_at.isoformat(),
                "replies": by_request.get(r.id, []),
            })
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=f"account:{account_id}", action="phi.read",
                               target_type="inbox", target_id=account_id,
                               detail={"requests": len(items), "notices": len(notices)})
        return {"messages": items, "notices": notices}

    async def queue(self, staff_id: str, *, now: datetime, status: str = "open") -> list[dict[str, Any]]:
        """The staff member's clinic queue, soonest due first (staff see only their own clinic)."""
        async with db.read(self.engine) as conn:
            staff = (await conn.execute(select(Account.clinic_id, Account.role).where(Account.id == staff_id))).first()
            if staff is None or staff.role != "staff":
                raise GatewayError(403, "forbidden", "Only care-team staff see the queue.")
            rows = (
                await conn.execute(
                    select(CareRequest, CareTeam.name.label("team"))
                    .join(CareTeam, CareTeam.id == CareRequest.care_team_id)
                    .where(CareRequest.clinic_id == staff.clinic_id, CareRequest.status == status)
                    .order_by(CareRequest.due_at, CareRequest.filed_at)
                )
            ).all()
        items = []
        for r in rows:
            content = self._open(CareRequest, "content_enc", r.id, r.content_enc)
            items.append({
                "request_id": r.reference, "intent": r.intent, "triage": r.triage, "care_team": r.team,
                "patient": content["patient"], "fields": content["fields"], "parsed": content["parsed"],
                "patient_words": content["patient_words"], "filed_at": r.filed_at.isoformat(),
                "due_at": r.due_at.isoformat(), "overdue": r.due_at <= now,
            })
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=f"account:{staff_id}", action="phi.read",
                               target_type="queue", target_id=staff.clinic_id, detail={"requests": len(items)})
        return items

    async def reply(self, staff_id: str, reference: str, text: str, *, now: datetime) -> str:
        """A care-team reply: stored sealed; the patient gets a 'new secure message' e-mail."""
        async with db.write(self.engine) as conn:
            staff = (await conn.execute(select(Account.clinic_id, Account.role).where(Account.id == staff_id))).one()
            req = (await conn.execute(select(CareRequest.id, CareRequest.clinic_id, CareRequest.account_id)
                                      .where(CareRequest.reference == reference))).first()
            if staff.role != "staff" or req is None or req.clinic_id != staff.clinic_id:
                raise GatewayError(404, "not_found", "No such request in your clinic's queue.")
            reply_id = str(uuid.uuid4())
            await conn.execute(insert(RequestReply).values(
                id=reply_id, request_id=req.id, author_id=staff_id, created_at=now,
                body_enc=self._seal(RequestReply, "body_enc", reply_id, text)))
            # response time vs due time (the staff API, staff/queue.py, is the full version: claims, events)
            await conn.execute(update(CareRequest).where(CareRequest.id == req.id, CareRequest.first_reply_at.is_(None))
                               .values(first_reply_at=now))
            patient = await load_patient(conn, self.keyring, req.account_id, now.date())
            await outbox.enqueue(conn, self.keyring, kind="new_message", recipient=patient.email,
                                 payload={"link": f"{self.settings.base_url}/"}, now=now)
            await audit.append(conn, at=now, actor=f"account:{staff_id}", action="phi.write",
                               target_type="care_request", target_id=req.id, detail={"event": "reply"})
        return reply_id


async def redirect_counts(engine: AsyncEngine, clinic_id: str) -> dict[str, int]:
    async with db.read(engine) as conn:
        rows = (await conn.execute(select(TriageCounter.level, func.sum(TriageCounter.count))
                                   .where(TriageCounter.clinic_id == clinic_id)
                                   .group_by(TriageCounter.level))).all()
    return {level: int(n) for level, n in rows}
