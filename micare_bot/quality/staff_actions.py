"""The demo script's care-team actions, carried out through the staff use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..clinic_settings import ClinicSettings
from ..config import Settings
from ..gateway import Gateway
from ..store.crypto import Keyring
from .demo_week import REPLY, StaffAction


def script_staff_action(engine: AsyncEngine, keyring: Keyring, settings: Settings, clinic: ClinicSettings,
                        clinic_id: str) -> StaffAction:
    gateway = Gateway(engine, keyring, settings, {clinic_id: clinic})

    async def act(staff_id: str, reference: str, entry: dict[str, Any], when: datetime) -> None:
        if "reply_after_hours" in entry:
            await gateway.reply(staff_id, reference, REPLY, now=when)

    return act
