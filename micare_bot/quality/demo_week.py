"""A scripted fortnight of demo traffic through the real gateway, so the demo dashboard is not empty.

The script is data (``micare_bot/data/demo_week.yaml``): who writes what, when, and
what the care team then does. Every conversation runs through ``Gateway.start`` /
``Gateway.turn`` at its scripted time (the clock is an argument), so the rows, the
sealed state, the audit chain and the counters are exactly what real traffic leaves;
staff actions go through the staff functions. The tests seed the same script at a
fixed time and check every figure against numbers counted by hand.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..clinic_settings import ClinicSettings
from ..config import PACKAGE_DIR, Settings
from ..gateway import Gateway
from ..store import db
from ..store.crypto import Keyring
from ..store.schema import Account, Conversation
from ..yamlfile import load_yaml
from .queries import local_midnight

SCRIPT = PACKAGE_DIR / "data" / "demo_week.yaml"
STAFF_EMAIL = "casey.morgan@riverside-clinic.example"
REPLY = "Thank you for your message. Your care team has taken care of this request."


class SeedError(Exception):
    """The script does not play as written (the bot answered differently)."""


@dataclass
class SeedResult:
    conversations: int = 0
    filed: int = 0
    staff_actions: int = 0
    skipped: bool = False
    first_day: date | None = None
    notes: list[str] = field(default_factory=list)


# a staff action: (staff account id, request reference, the script's staff entry, when) -> None
StaffAction = Callable[[str, str, dict[str, Any], datetime], Awaitable[None]]


def load_script(path: Path = SCRIPT) -> list[dict[str, Any]]:
    data = load_yaml(path.read_text(encoding="utf-8"))
    items = data["conversations"]
    for i, item in enumerate(items):
        if item.get("week") not in ("this", "previous") or not isinstance(item.get("say"), list):
            raise SeedError(f"{path.name}: conversation {i + 1}: needs week (this|previous) and say (a list)")
    return items


def scripted_time(item: dict[str, Any], today: date, clinic: ClinicSettings) -> datetime:
    first = today - timedelta(days=6 if item["week"] == "this" else 13)
    day = first + timedelta(days=int(item["day"]))
    hh, mm = (int(x) for x in str(item["at"]).split(":"))
    return local_midnight(day, clinic.calendar.timezone) + timedelta(hours=hh, minutes=mm)


async def _account(engine: AsyncEngine, keyring: Keyring, email: str) -> str:
    async with db.read(engine) as conn:
        found = (await conn.execute(select(Account.id).where(
            Account.email_index == keyring.blind_index(email)))).scalar()
    if found is None:
        raise SeedError(f"demo account {email} is missing: run `micare-bot seed-demo` first")
    return str(found)


async def seed_week(engine: AsyncEngine, keyring: Keyring, settings: Settings, clinic: ClinicSettings,
                    clinic_id: str, *, now: datetime, staff_action: StaffAction | None = None,
                    script: list[dict[str, Any]] | None = None) -> SeedResult:
    """Play the script ending yesterday (clinic time); does nothing if that fortnight already has traffic."""
    items = script if script is not None else load_script()
    tz = clinic.calendar.timezone
    today = now.astimezone(tz).date()
    result = SeedResult(first_day=today - timedelta(days=13))
    async with db.read(engine) as conn:
        existing = (await conn.execute(select(func.count()).select_from(Conversation).where(
            Conversation.clinic_id == clinic_id,
            Conversation.created_at >= local_midnight(today - timedelta(days=13), tz)))).scalar_one()
    if existing:
        result.skipped = True
        return result
    gateway = Gateway(engine, keyring, settings, {clinic_id: clinic})
    staff_id = await _account(engine, keyring, STAFF_EMAIL)
    pending: list[tuple[datetime, int, str, dict[str, Any]]] = []  # (when, order, reference, staff entry)

    async def run_staff(until: datetime) -> None:
        while pending and pending[0][0] <= until:
            when, _, reference, entry = heapq.heappop(pending)
            if staff_action is not None:
                await staff_action(staff_id, reference, entry, when)
            elif "reply_after_hours" in entry:
                await gateway.reply(staff_id, reference, REPLY, now=when)
            result.staff_actions += 1

    ordered = sorted(items, key=lambda it: scripted_time(it, today, clinic))
    for n, item in enumerate(ordered):
        at = scripted_time(item, today, clinic)
        if at >= now:
            result.notes.append(f"conversation {n + 1} would be in the future; skipped")
            continue
        await run_staff(at)
        account_id = await _account(engine, keyring, item["patient"])
        body = await gateway.start(account_id, dependent=None, now=at)
        cid = body["conversation_id"]
        pace = timedelta(minutes=float(item.get("pace_minutes", 2)))
        for k, text in enumerate(item["say"], 1):
            body = await gateway.turn(account_id, cid, text=text, client_turn_id=f"demo-{n}-{k}", now=at + k * pace)
        result.conversations += 1
        for key, want in (item.get("expect") or {}).items():
            if body.get(key) != want:
                raise SeedError(f"demo conversation {n + 1} ({item['week']} week, day {item['day']}): "
                                f"{key} is {body.get(key)!r}, the script expects {want!r}")
        if body.get("request_id"):
            result.filed += 1
            staff = item.get("staff")
            if staff:
                hours = float(staff.get("reply_after_hours", 1))
                filed_at = at + len(item["say"]) * pace
                heapq.heappush(pending, (filed_at + timedelta(hours=hours), n, body["request_id"], dict(staff)))
    await run_staff(now)
    if pending:
        result.notes.append(f"{len(pending)} staff actions are still in the future; not done")
    return result
