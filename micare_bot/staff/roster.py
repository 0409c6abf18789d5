"""Staff accounts, roles, care-team membership and cross-coverage.

A staff member is an ``accounts`` row with ``role = 'staff'`` (so the patient API
refuses them) plus a ``staff_members`` row naming their clinic role:

* ``pcm``, ``nurse``, ``med_tech``, ``front_desk`` — care-team staff;
* ``admin`` — a clinic administrator (manages staff and cover, sees every team's queue).

Inbox access is by *team membership*: only a team's designated members
(``team_members``) and whoever the team granted cover to for a period
(``team_coverage``) may work its requests.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..accounts import AccountError, invitation_link, normalize_email, sha256
from ..clinic_settings import ClinicSettings
from ..config import Settings
from ..store import audit, db, outbox
from ..store.clinics import ClinicRow
from ..store.crypto import Keyring
from ..store.schema import Account, CareTeam, Invitation, TeamCoverage, TeamMember, aad
from ..store.schema import StaffMember as StaffRow

STAFF_ROLES = ("pcm", "nurse", "med_tech", "front_desk")
ROLES = (*STAFF_ROLES, "admin")
ROLE_LABELS = {"pcm": "Primary care manager", "nurse": "Nurse", "med_tech": "Medical technician",
               "front_desk": "Front desk", "admin": "Clinic administrator"}
MAX_COVER_DAYS = 90

# how a clinic file's free-text staff titles map to roles (seed-demo and older enrollments)
_TITLE_ROLES = {"nurse": "nurse", "rn": "nurse", "lpn": "nurse", "pcm": "pcm", "primary care manager": "pcm",
                "physician": "pcm", "provider": "pcm", "med tech": "med_tech", "medical technician": "med_tech",
                "front desk": "front_desk", "clerk": "front_desk", "admin": "admin",
                "clinic administrator": "admin", "administrator": "admin"}


def role_for_title(title: str | None) -> str | None:
    return _TITLE_ROLES.get((title or "").strip().casefold())


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError("invalid_role", f"The role must be one of: {', '.join(ROLES)}.", status=422)
    return role


@dataclass(frozen=True)
class StaffMember:
    """The signed-in staff member, as the role guard hands it to handlers."""

    id: str
    clinic_id: str
    role: str
    name: str
    teams: frozenset[str]  # care team ids they are a designated member of
    covering: frozenset[str]  # care team ids they cover for now (granted, not revoked, in its period)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def inbox_teams(self) -> frozenset[str]:
        """Teams whose requests they may work."""
        return self.teams | self.covering

    def actor(self) -> str:
        return f"account:{self.id}"

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "role_label": ROLE_LABELS.get(self.role, self.role),
                "teams": sorted(self.teams), "covering": sorted(self.covering)}


async def load_member(conn: AsyncConnection, keyring: Keyring, account_id: str, now: datetime) -> StaffMember | None:
    """The staff member with their teams and current cover; None if the account is not active staff."""
    row = (
        await conn.execute(
            select(Account.id, Account.status, Account.role.label("account_role"), Account.name_enc,
                   StaffRow.clinic_id, StaffRow.role)
            .join(StaffRow, StaffRow.account_id == Account.id)
            .where(Account.id == account_id)
        )
    ).first()
    if row is None or row.status != "active" or row.account_role != "staff":
        return None
    teams = frozenset((await conn.execute(
        select(TeamMember.care_team_id).where(TeamMember.account_id == account_id))).scalars())
    covering = frozenset((await conn.execute(
        select(TeamCoverage.care_team_id).where(
            TeamCoverage.account_id == account_id, TeamCoverage.revoked_at.is_(None),
            TeamCoverage.starts_at <= now, TeamCoverage.ends_at > now))).scalars())
    name = str(keyring.decrypt_json(row.name_enc, aad(Account, "name_enc", row.id)))
    return StaffMember(row.id, row.clinic_id, row.role, name, teams, covering - teams)


async def team_ids_by_slug(conn: AsyncConnection, clinic_id: str) -> dict[str, str]:
    rows = (await conn.execute(select(CareTeam.slug, CareTeam.id).where(CareTeam.clinic_id == clinic_id))).all()
    return {r.slug: r.id for r in rows}


# --- enrollment --------------------------------------------------------------------


@dataclass(frozen=True)
class StaffEnrollment:
    account_id: str
    token: str
    link: str
    expires_at: datetime


async def add_staff(engine: AsyncEngine, keyring: Keyring, settings: Settings, clinic: ClinicRow, *,
                    name: str, email: str, role: str, teams: Sequence[str], now: datetime,
                    title: str | None = None, actor: str = "cli", notify: bool = True) -> StaffEnrollment:
    """An invited staff account with its role and teams, and its invitation e-mail, in one transaction.

    The invitation is accepted on the same page as a patient's (``/#invitation=…``); after that
    the person signs in on the staff sign-in page.
    """
    check_role(role)
    if not name.strip():
        raise AccountError("invalid_name", "A name is required.", status=422)
    email = normalize_email(email)
    team_ids = []
    for slug in dict.fromkeys(teams):
        if slug not in clinic.team_ids:
            raise AccountError("unknown_team", "The clinic has no such care team.", status=422)
        team_ids.append(clinic.team_ids[slug])
    if role != "admin" and not team_ids:
        raise AccountError("team_required", "Care-team staff belong to at least one team.", status=422)
    account_id = str(uuid.uuid4())
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=settings.invitation_days)
    link = invitation_link(settings, token)

    def seal(column: str, value: Any) -> str:
        return keyring.encrypt_json(value, aad(Account, column, account_id))

    profile = {"medications": [], "title": title or ROLE_LABELS[role]}
    async with db.write(engine) as conn:
        index = keyring.blind_index(email)
        if (await conn.execute(select(Account.id).where(Account.email_index == index))).first():
            raise AccountError("already_enrolled", "An account with that e-mail address exists.", status=409)
        await conn.execute(insert(Account).values(
            id=account_id, clinic_id=clinic.id, care_team_id=team_ids[0] if team_ids else None, role="staff",
            status="invited", email_index=index, email_enc=seal("email_enc", email),
            name_enc=seal("name_enc", name.strip()), dob_enc=None, profile_enc=seal("profile_enc", profile),
            password_hash=None, terms_accepted_at=None, created_at=now))
        await conn.execute(insert(StaffRow).values(account_id=account_id, clinic_id=clinic.id, role=role,
                                                      created_at=now))
        for team_id in team_ids:
            await conn.execute(insert(TeamMember).values(care_team_id=team_id, account_id=account_id, added_at=now))
        await conn.execute(insert(Invitation).values(id=str(uuid.uuid4()), account_id=account_id,
                                                     token_hash=sha256(token), created_at=now, expires_at=expires,
                                                     used_at=None))
        if notify:
            await outbox.enqueue(conn, keyring, kind="invitation", recipient=email, payload={"link": link}, now=now)
        await audit.append(conn, at=now, actor=actor, action="staff.add", target_type="account",
                           target_id=account_id, detail={"role": role, "teams": len(team_ids)})
    return StaffEnrollment(account_id, token, link, expires)


async def set_role_and_teams(conn: AsyncConnection, *, clinic_id: str, account_id: str, role: str,
                             team_ids: Iterable[str], now: datetime) -> None:
    """Make a staff account's role and team list exactly these (seed-demo and the admin page)."""
    check_role(role)
    await db.upsert(conn, StaffRow, {"account_id": account_id, "clinic_id": clinic_id, "role": role,
                                        "created_at": now}, ["account_id"], {"role": role})
    wanted = set(team_ids)
    have = set((await conn.execute(select(TeamMember.care_team_id)
                                   .where(TeamMember.account_id == account_id))).scalars())
    for team_id in wanted - have:
        await conn.execute(insert(TeamMember).values(care_team_id=team_id, account_id=account_id, added_at=now))
    if have - wanted:
        await conn.execute(delete(TeamMember).where(TeamMember.account_id == account_id,
                                                    TeamMember.care_team_id.in_(have - wanted)))


# --- cross-coverage ----------------------------------------------------------------


async def grant_cover(conn: AsyncConnection, granter: StaffMember, *, team_id: str, account_id: str,
                      starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    """A team member (or an admin) lets another staff member of the clinic work the team's inbox."""
    if not (granter.is_admin or team_id in granter.teams):
        raise AccountError("not_a_member", "Only the team's members or an administrator can grant cover.",
                           status=403)
    if ends_at <= starts_at or ends_at <= now:
        raise AccountError("invalid_period", "The cover must end after it starts and in the future.", status=422)
    if ends_at - starts_at > timedelta(days=MAX_COVER_DAYS):
        raise AccountError("invalid_period", f"Cover lasts at most {MAX_COVER_DAYS} days.", status=422)
    target = (await conn.execute(select(StaffRow.clinic_id).where(StaffRow.account_id == account_id))).first()
    if target is None or target.clinic_id != granter.clinic_id:
        raise AccountError("unknown_staff", "No such staff member in your clinic.", status=404)
    cover_id = str(uuid.uuid4())
    await conn.execute(insert(TeamCoverage).values(
        id=cover_id, care_team_id=team_id, account_id=account_id, granted_by=granter.id, starts_at=starts_at,
        ends_at=ends_at, revoked_at=None, created_at=now))
    await audit.append(conn, at=now, actor=granter.actor(), action="staff.cover.grant", target_type="care_team",
                       target_id=team_id, detail={"cover": cover_id, "staff": account_id,
                                                  "ends_at": ends_at.isoformat()})
    return cover_id


async def revoke_cover(conn: AsyncConnection, granter: StaffMember, cover_id: str, *, now: datetime) -> None:
    row = (await conn.execute(
        select(TeamCoverage.care_team_id, CareTeam.clinic_id).join(CareTeam, CareTeam.id == TeamCoverage.care_team_id)
        .where(TeamCoverage.id == cover_id))).first()
    if row is None or row.clinic_id != granter.clinic_id:
        raise AccountError("not_found", "No such cover in your clinic.", status=404)
    if not (granter.is_admin or row.care_team_id in granter.teams):
        raise AccountError("not_a_member", "Only the team's members or an administrator can end cover.",
                           status=403)
    await conn.execute(update(TeamCoverage).where(TeamCoverage.id == cover_id, TeamCoverage.revoked_at.is_(None))
                       .values(revoked_at=now))
    await audit.append(conn, at=now, actor=granter.actor(), action="staff.cover.revoke", target_type="care_team",
                       target_id=row.care_team_id, detail={"cover": cover_id})


async def teams_overview(conn: AsyncConnection, keyring: Keyring, member: StaffMember,
                         now: datetime) -> list[dict[str, Any]]:
    """The clinic's teams with their members and current cover (staff names only, no patient data)."""
    teams = (await conn.execute(select(CareTeam.id, CareTeam.slug, CareTeam.name)
                                .where(CareTeam.clinic_id == member.clinic_id).order_by(CareTeam.slug))).all()
    staff = (await conn.execute(
        select(Account.id, Account.name_enc, StaffRow.role).join(StaffRow, StaffRow.account_id == Account.id)
        .where(StaffRow.clinic_id == member.clinic_id, Account.status == "active"))).all()
    names = {s.id: (str(keyring.decrypt_json(s.name_enc, aad(Account, "name_enc", s.id))), s.role) for s in staff}
    members = (await conn.execute(select(TeamMember.care_team_id, TeamMember.account_id)
                                  .where(TeamMember.care_team_id.in_([t.id for t in teams])))).all()
    covers = (await conn.execute(
        select(TeamCoverage).where(TeamCoverage.care_team_id.in_([t.id for t in teams]),
                                   TeamCoverage.revoked_at.is_(None), TeamCoverage.ends_at > now)
        .order_by(TeamCoverage.starts_at))).all()
    out = []
    for t in teams:
        out.append({
            "id": t.id, "slug": t.slug, "name": t.name,
            "member": t.id in member.teams, "covering": t.id in member.covering,
            "members": sorted(({"id": m.account_id, "name": names[m.account_id][0], "role": names[m.account_id][1]}
                               for m in members if m.care_team_id == t.id and m.account_id in names),
                              key=lambda x: x["name"]),
            "cover": [{"id": c.id, "staff_id": c.account_id, "name": names.get(c.account_id, ("?", ""))[0],
                       "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()}
                      for c in covers if c.care_team_id == t.id],
        })
    return out


async def clinic_staff(conn: AsyncConnection, keyring: Keyring, clinic_id: str) -> list[dict[str, Any]]:
    rows = (await conn.execute(
        select(Account.id, Account.name_enc, Account.status, StaffRow.role)
        .join(StaffRow, StaffRow.account_id == Account.id).where(StaffRow.clinic_id == clinic_id))).all()
    out = [{"id": r.id, "name": str(keyring.decrypt_json(r.name_enc, aad(Account, "name_enc", r.id))),
            "role": r.role, "status": r.status} for r in rows]
    return sorted(out, key=lambda x: x["name"])


# --- seed-demo ------------------------------------------------------------------------


async def seed_roles(conn: AsyncConnection, keyring: Keyring, clinic: ClinicSettings, row: ClinicRow,
                     now: datetime) -> None:
    """Give the clinic file's staff their roles and teams (seed-demo; idempotent).

    A staff entry may say ``role:``; otherwise its title decides (unknown titles: nurse). A member
    listed under several teams belongs to all of them.
    """
    by_email: dict[str, tuple[str, list[str]]] = {}
    for team_raw, team in zip(clinic.raw.get("care_teams") or [], clinic.teams):
        for member_raw, member in zip(team_raw.get("staff") or [], team.staff):
            role = str(member_raw.get("role") or role_for_title(member.title) or "nurse")
            entry = by_email.setdefault(member.email, (role, []))
            entry[1].append(row.team_ids[team.slug])
    for admin in clinic.raw.get("admins") or []:
        by_email.setdefault(str(admin["email"]), ("admin", []))
    for email, (role, team_ids) in by_email.items():
        account = (await conn.execute(select(Account.id).where(
            Account.email_index == keyring.blind_index(email.strip())))).first()
        if account is not None:
            await set_role_and_teams(conn, clinic_id=row.id, account_id=account.id, role=role, team_ids=team_ids,
                                     now=now)


def covering_clause(model: Any, member: StaffMember) -> Any:
    """SQL: the request's team is one of the member's inbox teams."""
    return model.care_team_id.in_(sorted(member.inbox_teams)) if member.inbox_teams else and_(False)


__all__ = ["ROLES", "STAFF_ROLES", "StaffMember", "StaffEnrollment", "add_staff", "grant_cover", "load_member",
           "revoke_cover", "role_for_title", "seed_roles", "set_role_and_teams", "teams_overview"]
