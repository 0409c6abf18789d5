"""Reading the quality figures' rows from the database: clear columns only.

Conversations, care requests, first replies and staff events are read by
status, intent, triage level, counts and times; no sealed column is opened
here except in ``transcript_sample``, which is for admins and audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..clinic_settings import ClinicSettings
from ..store import audit, db
from ..store.crypto import Keyring
from ..store.schema import CareRequest, CareTeam, Clinic, Conversation, RequestEvent, RequestReply, Turn, aad
from . import metrics
from .metrics import ConversationRow, Period, Report, RequestRow, StaffEventRow


class QualityError(Exception):
    """A bad period, team or sample request; the message is safe to show."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Scope:
    """Whose figures: one clinic, optionally one care team, over a period."""

    clinic_id: str
    team_id: str | None
    team_name: str
    period: Period


def local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def default_period(now: datetime, tz: tzinfo, days: int = 7) -> Period:
    """The last ``days`` clinic-local days up to and including today."""
    today = now.astimezone(tz).date()
    return Period(today - timedelta(days=days - 1), today, tz)


async def teams(engine: AsyncEngine, clinic_id: str) -> list[tuple[str, str, str]]:
    """(id, slug, name) of the clinic's care teams, by slug."""
    async with db.read(engine) as conn:
        rows = (await conn.execute(select(CareTeam.id, CareTeam.slug, CareTeam.name)
                                   .where(CareTeam.clinic_id == clinic_id).order_by(CareTeam.slug))).all()
    return [(r.id, r.slug, r.name) for r in rows]


async def scope_for(engine: AsyncEngine, clinic_id: str, team_slug: str | None, period: Period) -> Scope:
    if not team_slug:
        return Scope(clinic_id, None, "all care teams", period)
    for team_id, slug, name in await teams(engine, clinic_id):
        if slug == team_slug:
            return Scope(clinic_id, team_id, name, period)
    raise QualityError(404, "unknown_team", "No such care team in this clinic.")


async def clinic_id_for(engine: AsyncEngine, slug: str) -> str | None:
    async with db.read(engine) as conn:
        return (await conn.execute(select(Clinic.id).where(Clinic.slug == slug))).scalar()


def _bounds(period: Period) -> tuple[datetime, datetime]:
    return local_midnight(period.load_from, period.tz), local_midnight(period.end + timedelta(days=1), period.tz)


async def conversation_rows(conn: AsyncConnection, scope: Scope) -> list[ConversationRow]:
    lo, hi = _bounds(scope.period)
    stmt = (
        select(Conversation.id, Conversation.created_at, Conversation.updated_at, Conversation.status,
               Conversation.intent, Conversation.triage, Conversation.turns, Conversation.awaiting,
               CareRequest.filed_at)
        .outerjoin(CareRequest, CareRequest.conversation_id == Conversation.id)
        .where(Conversation.clinic_id == scope.clinic_id, Conversation.created_at >= lo,
               Conversation.created_at < hi)
    )
    if scope.team_id is not None:
        stmt = stmt.where(Conversation.care_team_id == scope.team_id)
    return [ConversationRow(r.id, r.created_at, r.updated_at, r.status, r.intent, r.triage, r.turns, r.awaiting,
                            r.filed_at) for r in (await conn.execute(stmt)).all()]


async def request_rows(conn: AsyncConnection, scope: Scope) -> list[RequestRow]:
    """Requests filed in the period's range, under the intent the bot filed them with (the conversation's:
    staff re-labels change ``care_requests.intent``), with the first reply's time."""
    lo, hi = _bounds(scope.period)
    first_reply = (select(RequestReply.request_id, func.min(RequestReply.created_at).label("first_at"))
                   .group_by(RequestReply.request_id).subquery())
    stmt = (
        select(CareRequest.id, CareRequest.intent, Conversation.intent.label("bot_intent"), CareRequest.filed_at,
               CareRequest.due_at, CareRequest.first_reply_at, first_reply.c.first_at)
        .join(Conversation, Conversation.id == CareRequest.conversation_id)
        .outerjoin(first_reply, first_reply.c.request_id == CareRequest.id)
        .where(CareRequest.clinic_id == scope.clinic_id, CareRequest.filed_at >= lo, CareRequest.filed_at < hi)
    )
    if scope.team_id is not None:
        stmt = stmt.where(CareRequest.care_team_id == scope.team_id)
    rows = []
    for r in (await conn.execute(stmt)).all():
        first = r.first_reply_at or r.first_at  # the staff queue keeps it; older replies only have their rows
        if first is not None and first.tzinfo is None:  # an aggregate bypasses the column type
            first = first.replace(tzinfo=timezone.utc)
        rows.append(RequestRow(r.id, r.bot_intent or r.intent, r.filed_at, r.due_at, first))
    return rows


async def staff_event_rows(conn: AsyncConnection, request_ids: Sequence[str]) -> list[StaffEventRow]:
    """Re-labels and the fields staff asked again for, from the staff queue's request events."""
    out: list[StaffEventRow] = []
    ids = list(request_ids)
    for i in range(0, len(ids), 500):  # keep IN lists short
        rows = (await conn.execute(
            select(RequestEvent.request_id, RequestEvent.action, RequestEvent.from_intent, RequestEvent.to_intent,
                   RequestEvent.asked_fields, RequestEvent.at)
            .where(RequestEvent.request_id.in_(ids[i:i + 500]), RequestEvent.action.in_(["relabeled", "replied"]))
            .order_by(RequestEvent.at, RequestEvent.seq))).all()
        for r in rows:
            asked = tuple(str(f) for f in json.loads(r.asked_fields)) if r.asked_fields else ()
            out.append(StaffEventRow(r.request_id, r.action, r.from_intent, r.to_intent, asked))
    return out


async def compute_report(engine: AsyncEngine, scope: Scope, clinic: ClinicSettings, *, now: datetime,
                         idle: timedelta) -> Report:
    async with db.read(engine) as conn:
        convs = await conversation_rows(conn, scope)
        reqs = await request_rows(conn, scope)
        events = await staff_event_rows(conn, [r.id for r in reqs])
    return metrics.compute(convs, reqs, events, period=scope.period, now=now, idle=idle, target=str(clinic.target))


# --- samples behind a figure (admins only) -------------------------------------------------------

SAMPLE_LIMIT = 20


@dataclass(frozen=True)
class SampleFilter:
    intent: str | None = None  # an intent or metrics.UNCLEAR
    outcome: str | None = None  # one of metrics.OUTCOMES
    field: str | None = None  # the awaiting field (abandoned ones)
    level: str | None = None  # a triage level (redirected ones)

    def matches(self, c: ConversationRow, now: datetime, idle: timedelta) -> bool:
        if self.intent is not None and (c.intent or metrics.UNCLEAR) != self.intent:
            return False
        if self.outcome is not None and metrics.outcome(c, now, idle) != self.outcome:
            return False
        if self.field is not None and (c.awaiting or metrics.UNCLEAR) != self.field:
            return False
        if self.level is not None and (c.status != "redirected" or c.triage != self.level):
            return False
        return True


async def sample(engine: AsyncEngine, scope: Scope, flt: SampleFilter, *, now: datetime, idle: timedelta,
                 limit: int = SAMPLE_LIMIT) -> tuple[int, list[ConversationRow]]:
    """How many started conversations in the period match, and the latest ``limit`` of them."""
    async with db.read(engine) as conn:
        rows = await conversation_rows(conn, scope)
    hits = [c for c in rows if c.turns >= 1 and scope.period.contains(c.created_at) and flt.matches(c, now, idle)]
    hits.sort(key=lambda c: c.created_at, reverse=True)
    return len(hits), hits[:limit]


async def transcript_sample(engine: AsyncEngine, keyring: Keyring, clinic_id: str, conv_id: str, *,
                            actor: str, now: datetime) -> dict[str, Any]:
    """One conversation's transcript for an admin of its clinic; the read is audited first."""
    async with db.write(engine) as conn:
        conv = (await conn.execute(select(Conversation).where(Conversation.id == conv_id,
                                                               Conversation.clinic_id == clinic_id))).first()
        if conv is None:
            raise QualityError(404, "not_found", "No such conversation in this clinic.")
        await audit.append(conn, at=now, actor=actor, action="phi.read", target_type="conversation",
                           target_id=conv_id, detail={"view": "quality.sample"})
        turns = (await conn.execute(select(Turn.id, Turn.seq, Turn.text_enc, Turn.result_enc, Turn.created_at)
                                    .where(Turn.conversation_id == conv_id).order_by(Turn.seq))).all()
    entries: list[dict[str, Any]] = []
    for t in turns:
        if t.text_enc is not None:
            entries.append({"from": "patient", "text": keyring.decrypt_json(t.text_enc, aad(Turn, "text_enc", t.id)),
                            "at": t.created_at})
        result = keyring.decrypt_json(t.result_enc, aad(Turn, "result_enc", t.id))
        for message in result.get("messages", []):
            entries.append({"from": "bot", "text": message.get("text", ""), "at": t.created_at})
    return {"id": conv.id, "created_at": conv.created_at, "status": conv.status, "intent": conv.intent,
            "triage": conv.triage, "awaiting": conv.awaiting, "turns": conv.turns, "entries": entries}
