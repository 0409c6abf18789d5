"""Escalation: requests nearing or past their due time are highlighted and their team is e-mailed.

A background task (``run``) looks every ``MICARE_ESCALATION_POLL_SECONDS``
(60 s). A request still open or claimed whose due time is within
``MICARE_NEARLY_DUE_MINUTES`` (120) is marked ``nearly_due``; one past its due
time is marked ``overdue``. Each step happens once per request (a guarded
update, safe with several server processes) and is recorded as an
``escalated`` request event and an audit record by ``system``. The team's
mailbox (``notify_email`` in the clinic file) gets one e-mail per pass and
level — "2 requests in your care team's queue are overdue" and a link — with
no patient, no words and no reference in it. A re-routed request starts over
for its new team.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ..background import stop_if_cancelled
from ..config import Settings
from ..store import audit, db, outbox
from ..store.crypto import Keyring
from ..store.schema import CareRequest, CareTeam, RequestEvent
from .events import next_event_seq

log = logging.getLogger(__name__)

LEVELS = ("nearly_due", "overdue")
KIND = {"nearly_due": "queue_nearly_due", "overdue": "queue_overdue"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Escalator:
    def __init__(self, engine: AsyncEngine, keyring: Keyring, settings: Settings, *,
                 clock: Callable[[], datetime] = utcnow, on_mail: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.keyring = keyring
        self.settings = settings
        self.clock = clock
        self.on_mail = on_mail  # wakes the outbox sender

    async def run(self) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception as exc:  # the database may be briefly unreachable
                log.warning("escalation pass failed: %s", type(exc).__name__)
            stop_if_cancelled()
            await asyncio.sleep(self.settings.escalation_poll_seconds)

    async def pass_once(self) -> dict[str, int]:
        """Escalate what is due now; returns how many requests moved to each level."""
        now = self.clock()
        soon = now + timedelta(minutes=self.settings.nearly_due_minutes)
        async with db.read(self.engine) as conn:
            rows = (await conn.execute(
                select(CareRequest.id, CareRequest.care_team_id, CareRequest.due_at, CareRequest.escalation)
                .where(CareRequest.status.in_(("open", "claimed")), CareRequest.due_at <= soon,
                       or_(CareRequest.escalation.is_(None), CareRequest.escalation != "overdue"))
                .order_by(CareRequest.care_team_id, CareRequest.due_at))).all()
        by_team: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            level = "overdue" if r.due_at <= now else "nearly_due"
            if r.escalation == level:
                continue
            by_team.setdefault((r.care_team_id, level), []).append(r.id)
        moved = {level: 0 for level in LEVELS}
        for (team_id, level), ids in by_team.items():
            moved[level] += await self._escalate(team_id, level, ids, now)
        if any(moved.values()) and self.on_mail is not None:
            self.on_mail()
        return moved

    async def _escalate(self, team_id: str, level: str, ids: list[str], now: datetime) -> int:
        # each level is reached once: nearly due only from nothing, overdue from nothing or nearly due
        guard = (CareRequest.escalation.is_(None) if level == "nearly_due"
                 else or_(CareRequest.escalation.is_(None), CareRequest.escalation == "nearly_due"))
        done = 0
        async with db.write(self.engine) as conn:
            for rid in ids:
                result = await conn.execute(
                    update(CareRequest).where(CareRequest.id == rid, CareRequest.care_team_id == team_id,
                                              CareRequest.status.in_(("open", "claimed")), guard)
                    .values(escalation=level))
                if result.rowcount != 1:
                    continue  # another process got there first, or it was answered meanwhile
                done += 1
                row = (await conn.execute(select(CareRequest.clinic_id).where(CareRequest.id == rid))).one()
                await conn.execute(RequestEvent.__table__.insert().values(
                    id=str(uuid.uuid4()), request_id=rid, seq=await next_event_seq(conn, rid),
                    clinic_id=row.clinic_id, staff_id=None, action="escalated", at=now,
                    detail=json.dumps({"level": level})))
                await audit.append(conn, at=now, actor="system", action="staff.escalated",
                                   target_type="care_request", target_id=rid, detail={"level": level})
            if done:
                team = (await conn.execute(select(CareTeam.notify_email).where(CareTeam.id == team_id))).one()
                if team.notify_email:
                    await outbox.enqueue(conn, self.keyring, kind=KIND[level], recipient=team.notify_email,
                                         payload={"link": f"{self.settings.base_url}/staff/queue", "count": done},
                                         now=now)
        if done:
            log.info("escalated %d request(s) to %s", done, level)
        return done
