"""Clinics and care teams in the database, kept in step with the clinic settings file."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..clinic_settings import ClinicSettings
from .schema import CareTeam, Clinic, Provider


@dataclass(frozen=True)
class ClinicRow:
    id: str
    slug: str
    team_ids: dict[str, str]  # team slug -> id


async def sync_clinic(conn: AsyncConnection, clinic: ClinicSettings, now: datetime) -> ClinicRow:
    """Create or update the clinic and its care teams from the settings file."""
    settings_json = json.dumps(clinic.raw, default=str, sort_keys=True)
    row = (await conn.execute(select(Clinic.id).where(Clinic.slug == clinic.slug))).first()
    if row is None:
        clinic_id = str(uuid.uuid4())
        await conn.execute(insert(Clinic).values(id=clinic_id, slug=clinic.slug, name=clinic.name,
                                                 settings_json=settings_json, created_at=now))
    else:
        clinic_id = row.id
        await conn.execute(update(Clinic).where(Clinic.id == clinic_id)
                           .values(name=clinic.name, settings_json=settings_json))
    existing = {
        r.slug: r.id
        for r in (await conn.execute(select(CareTeam.slug, CareTeam.id).where(CareTeam.clinic_id == clinic_id))).all()
    }
    for team in clinic.teams:
        if team.slug in existing:
            await conn.execute(update(CareTeam).where(CareTeam.id == existing[team.slug])
                               .values(name=team.name, notify_email=team.notify_email))
        else:
            existing[team.slug] = str(uuid.uuid4())
            await conn.execute(insert(CareTeam).values(id=existing[team.slug], clinic_id=clinic_id, slug=team.slug,
                                                       name=team.name, notify_email=team.notify_email))
    await _sync_providers(conn, clinic, clinic_id, existing)
    return ClinicRow(clinic_id, clinic.slug, existing)


async def _sync_providers(conn: AsyncConnection, clinic: ClinicSettings, clinic_id: str,
                          team_ids: dict[str, str]) -> None:
    """The provider directory follows the file; a provider dropped from it is kept (links name it)
    but marked inactive, so parents can no longer pick them."""
    known = {r.slug: r.id for r in (await conn.execute(
        select(Provider.slug, Provider.id).where(Provider.clinic_id == clinic_id))).all()}
    listed = set()
    for team in clinic.teams:
        for p in team.providers:
            listed.add(p.slug)
            values = {"care_team_id": team_ids[team.slug], "name": p.name, "last_name": p.last_name,
                      "title": p.title, "active": True}
            if p.slug in known:
                await conn.execute(update(Provider).where(Provider.id == known[p.slug]).values(**values))
            else:
                await conn.execute(insert(Provider).values(id=str(uuid.uuid4()), clinic_id=clinic_id, slug=p.slug,
                                                           **values))
    gone = [pid for slug, pid in known.items() if slug not in listed]
    if gone:
        await conn.execute(update(Provider).where(Provider.id.in_(gone)).values(active=False))


async def clinic_by_slug(conn: AsyncConnection, slug: str) -> ClinicRow | None:
    row = (await conn.execute(select(Clinic.id).where(Clinic.slug == slug))).first()
    if row is None:
        return None
    teams = {r.slug: r.id for r in (await conn.execute(select(CareTeam.slug, CareTeam.id)
                                                        .where(CareTeam.clinic_id == row.id))).all()}
    return ClinicRow(row.id, slug, teams)
