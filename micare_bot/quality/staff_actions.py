"""The demo script's care-team actions, carried out through the staff queue (``staff/queue.py``).

A reply (with the fields it had to ask the patient again for) comes first, then any
re-label: the queue checks asked-again fields against the intent the request has at
that moment, and a nurse asks about a symptom before filing it as an appointment.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..clinic_settings import ClinicSettings
from ..config import Settings
from ..staff.canned import CannedReplies
from ..staff.queue import StaffQueue
from ..staff.roster import load_member
from ..store import db
from ..store.crypto import Keyring
from ..store.schema import CareRequest
from .demo_week import REPLY, SeedError, StaffAction


def script_staff_action(engine: AsyncEngine, keyring: Keyring, settings: Settings, clinic: ClinicSettings,
                        clinic_id: str) -> StaffAction:
    queue = StaffQueue(engine, keyring, settings, {clinic_id: clinic}, CannedReplies())

    async def act(staff_id: str, reference: str, entry: dict[str, Any], when: datetime) -> None:
        async with db.read(engine) as conn:
            member = await load_member(conn, keyring, staff_id, when)
            request_id = (await conn.execute(select(CareRequest.id)
                                             .where(CareRequest.reference == reference))).scalar()
        if member is None or request_id is None:
            raise SeedError(f"the demo staff member or request {reference} is missing")
        if "reply_after_hours" in entry:
            await queue.reply(member, request_id, now=when, text=REPLY, asked_fields=entry.get("asked") or ())
        if entry.get("relabel"):
            await queue.relabel(member, request_id, str(entry["relabel"]), now=when + timedelta(minutes=1))

    return act
