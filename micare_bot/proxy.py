"""Who may act for whom: the one rule every proxy check goes through.

A guardian may act for a dependent — start a conversation for them, file a
request under them, read their requests and the care team's replies — only
while the link between them is ``accepted`` and the dependent is younger than
the clinic's proxy age limit (18 unless the clinic file says otherwise). A
link that is ``added``, ``pending``, ``declined`` or ``ended`` gives nothing.
Ages are counted on the clinic's calendar date, so access ends at local
midnight on the birthday, with no job to run.

Everything is read inside the caller's transaction, so a check made while
filing sees a link ended a moment ago by another process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from .clinic_settings import ClinicSettings
from .store.crypto import Keyring
from .store.schema import Dependent, DependentLink, aad

DEFAULT_AGE_LIMIT = 18


def age_on(dob: date | None, today: date) -> int | None:
    if dob is None:
        return None
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))


def local_today(now: datetime | date, clinic: ClinicSettings | None) -> date:
    """The clinic's calendar date at ``now`` (a plain date is taken as it is)."""
    if not isinstance(now, datetime):
        return now
    if clinic is None:
        return now.date()
    return now.astimezone(clinic.calendar.timezone).date()


def age_limit(clinic: ClinicSettings | None) -> int:
    return clinic.family.proxy_age_limit if clinic is not None else DEFAULT_AGE_LIMIT


def under_limit(dob: date | None, today: date, limit: int) -> bool:
    """Unknown birth dates (older in-person enrollments) keep access: staff saw the child."""
    age = age_on(dob, today)
    return age is None or age < limit


@dataclass(frozen=True)
class LinkedDependent:
    """A dependent as one guardian's link sees it (decrypted)."""

    id: str
    link_id: str
    name: str
    dob: date | None
    status: str  # the stored link status
    active: bool  # accepted and under the age limit today

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""


def linked_dependents_sync(conn: Connection, keyring: Keyring, account_id: str, *, today: date,
                           limit: int) -> list[LinkedDependent]:
    """Every dependent linked to the account, whatever the link's status, oldest link first."""
    rows = conn.execute(
        select(Dependent.id, Dependent.name_enc, Dependent.dob_enc, Dependent.created_at,
               DependentLink.id.label("link_id"), DependentLink.status)
        .join(DependentLink, DependentLink.dependent_id == Dependent.id)
        .where(DependentLink.account_id == account_id)
        .order_by(Dependent.created_at, Dependent.id)
    ).all()
    out = []
    for r in rows:
        name = str(keyring.decrypt_json(r.name_enc, aad(Dependent, "name_enc", r.id)))
        raw = keyring.decrypt_json(r.dob_enc, aad(Dependent, "dob_enc", r.id)) if r.dob_enc else None
        dob = date.fromisoformat(raw) if raw else None
        active = r.status == "accepted" and under_limit(dob, today, limit)
        out.append((r.created_at, name.casefold(), LinkedDependent(r.id, r.link_id, name, dob, r.status, active)))
    out.sort(key=lambda t: (t[0], t[1]))  # names are sealed: ties (one enrollment) sort once opened
    return [t[2] for t in out]


def active_dependents_sync(conn: Connection, keyring: Keyring, account_id: str, *, today: date,
                           limit: int) -> list[LinkedDependent]:
    """The dependents the account may act for right now."""
    return [d for d in linked_dependents_sync(conn, keyring, account_id, today=today, limit=limit) if d.active]


def may_act_for_sync(conn: Connection, keyring: Keyring, account_id: str, dependent_id: str, *,
                     today: date, limit: int) -> bool:
    """One dependent: only that link's row is read and opened."""
    row = conn.execute(
        select(Dependent.dob_enc, DependentLink.status)
        .join(DependentLink, DependentLink.dependent_id == Dependent.id)
        .where(DependentLink.account_id == account_id, DependentLink.dependent_id == dependent_id)
    ).first()
    if row is None or row.status != "accepted":
        return False
    raw = keyring.decrypt_json(row.dob_enc, aad(Dependent, "dob_enc", dependent_id)) if row.dob_enc else None
    return under_limit(date.fromisoformat(raw) if raw else None, today, limit)


# The same checks from async code (the gateway's chat path calls the *_sync functions inside
# its synchronous transaction; see db.run_write): one implementation, run through run_sync.

async def linked_dependents(conn: AsyncConnection, keyring: Keyring, account_id: str, *, today: date,
                            limit: int) -> list[LinkedDependent]:
    return await conn.run_sync(lambda sync: linked_dependents_sync(sync, keyring, account_id, today=today,
                                                                   limit=limit))


async def active_dependents(conn: AsyncConnection, keyring: Keyring, account_id: str, *, today: date,
                            limit: int) -> list[LinkedDependent]:
    return await conn.run_sync(lambda sync: active_dependents_sync(sync, keyring, account_id, today=today,
                                                                   limit=limit))


async def may_act_for(conn: AsyncConnection, keyring: Keyring, account_id: str, dependent_id: str, *,
                      today: date, limit: int) -> bool:
    return await conn.run_sync(lambda sync: may_act_for_sync(sync, keyring, account_id, dependent_id,
                                                             today=today, limit=limit))
