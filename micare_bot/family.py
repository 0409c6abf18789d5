"""Family members: parents add their children, link each to the child's PCM, the clinic decides.

The clinic's way, kept as it is: the parent enrolls in person; then, in their own
account, adds each child (name and date of birth, nothing else), picks the
child's Primary Care Manager from the clinic's provider directory, and the
PCM's care team accepts or declines the link. Only an accepted link lets the
parent act for the child (``proxy.py``), and only until the child reaches the
clinic's proxy age limit. Staff can end a link (custody changes) with a reason
code that goes into the audit log; their own words are sealed on the link.

Every decision reaches the parent twice: an e-mail without PHI ("there is an
update in your account") and a notice in the inbox, sealed, that names the
child and the doctor.

Link states: ``added`` → ``pending`` → ``accepted`` | ``declined``;
``declined`` → ``pending`` (the parent may ask again); ``accepted`` →
``ended`` (final: re-adding the same child finds the ended link). Every write
is one transaction with its audit record and its outbox row; a repeated
submit returns what the first one did.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import jinja2
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import provider_search, proxy
from .clinic_settings import ClinicSettings
from .config import Settings
from .gateway import GatewayError
from .store import audit, db, outbox
from .store.crypto import Keyring
from .store.schema import Account, AccountNotice, CareTeam, Dependent, DependentLink, Provider, aad

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "family"
MAX_NAME = 100
MAX_NOTE = 1000
OLDEST = 130  # years: a date of birth before this is a typing mistake
# why a link ended: codes, so the audit log can say why without anyone's words
END_REASONS: Mapping[str, str] = {
    "custody_change": "Custody changed",
    "guardian_request": "The parent asked for it",
    "patient_request": "The patient asked for it",
    "entered_in_error": "Entered in error",
    "other": "Other",
}
_NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '.\-])*$")


class FamilyError(GatewayError):
    """A domain error with a stable code and a message safe to show (no PHI)."""


NO_MEMBER = (404, "not_found", "No such family member on your account.")
NO_LINK = (404, "not_found", "No such family link in your care team's list.")


def parse_dob(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FamilyError(422, "invalid_dob", "Enter the date of birth as YYYY-MM-DD.") from None


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise FamilyError(422, "invalid_name", "Enter your family member's name.")
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise FamilyError(422, "invalid_name", f"Enter a name of letters, spaces, ' . or - (up to {MAX_NAME}).")
    return name


class StaffView(Protocol):
    """The signed-in staff member as the staff role guard hands it over."""

    id: str
    clinic_id: str

    @property
    def inbox_teams(self) -> frozenset[str]: ...  # teams whose work they may do (members and cover)

    @property
    def is_admin(self) -> bool: ...  # a clinic administrator: every team of the clinic


class Notices:
    """The inbox texts of link decisions: jinja2 templates a clinic can edit."""

    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(directory)), autoescape=False,
                                      undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        for kind in ("link_accepted", "link_declined", "link_ended"):
            self.env.get_template(f"{kind}.txt")  # fail at start-up

    def render(self, kind: str, **values: Any) -> str:
        return self.env.get_template(f"{kind}.txt").render(**values).strip()


@dataclass
class Family:
    engine: AsyncEngine
    keyring: Keyring
    settings: Settings
    clinics: Mapping[str, ClinicSettings]  # clinic id -> settings
    on_change: Callable[[str], None] = lambda account_id: None  # a guardian's links changed
    notices: Notices = field(default_factory=Notices)

    # --- helpers -------------------------------------------------------------------

    def _seal(self, model: Any, column: str, row_id: str, value: Any) -> str:
        return self.keyring.encrypt_json(value, aad(model, column, row_id))

    def _open(self, model: Any, column: str, row_id: str, token: str | None) -> Any:
        return None if token is None else self.keyring.decrypt_json(token, aad(model, column, row_id))

    def _clinic(self, clinic_id: str) -> ClinicSettings:
        try:
            return self.clinics[clinic_id]
        except KeyError:
            raise FamilyError(503, "clinic_not_configured", "This clinic is not configured on this server.") from None

    async def _account(self, conn: AsyncConnection, account_id: str, role: str, *, lock: bool = False) -> Any:
        stmt = select(Account.id, Account.clinic_id, Account.care_team_id, Account.role).where(Account.id == account_id)
        row = (await conn.execute(db.for_update(conn, stmt) if lock else stmt)).first()
        if row is None or row.role != role:
            raise FamilyError(403, "forbidden", "This is for " + ("patients." if role == "patient" else "care-team staff."))
        return row

    def _member(self, row: Any, clinic: ClinicSettings, now: datetime) -> dict[str, Any]:
        """A family member as the parent sees it, with the link's state in words."""
        today = proxy.local_today(now, clinic)
        name = str(self._open(Dependent, "name_enc", row.dep_id, row.name_enc))
        raw = self._open(Dependent, "dob_enc", row.dep_id, row.dob_enc)
        dob = date.fromisoformat(raw) if raw else None
        limit = proxy.age_limit(clinic)
        status = row.status
        if status == "accepted" and not proxy.under_limit(dob, today, limit):
            status = "aged_out"
        expected = None
        if row.status == "pending" and row.requested_at is not None:
            expected = clinic.calendar.due(row.requested_at, clinic.family.link_acceptance)
        return {
            "id": row.dep_id,
            "name": name,
            "dob": dob.isoformat() if dob else None,
            "age": proxy.age_on(dob, today),
            "link": {
                "id": row.link_id,
                "status": status,
                "source": row.source,
                "can_act": status == "accepted",
                "provider": ({"id": row.provider_id, "name": row.provider_name, "title": row.provider_title}
                             if row.provider_id else None),
                "care_team": row.team_name,
                "requested_at": row.requested_at.isoformat() if row.requested_at else None,
                "answer_expected_by": expected.isoformat() if expected else None,
                "answer_expected_text": clinic.calendar.describe(expected) if expected else None,
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
                "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            },
        }

    @staticmethod
    def _links_query() -> Any:
        return (
            select(Dependent.id.label("dep_id"), Dependent.name_enc, Dependent.dob_enc,
                   DependentLink.id.label("link_id"), DependentLink.account_id, DependentLink.status,
                   DependentLink.source, DependentLink.provider_id, DependentLink.care_team_id,
                   DependentLink.requested_at, DependentLink.decided_at, DependentLink.ended_at,
                   Provider.name.label("provider_name"), Provider.title.label("provider_title"),
                   CareTeam.name.label("team_name"))
            .join(DependentLink, DependentLink.dependent_id == Dependent.id)
            .outerjoin(Provider, Provider.id == DependentLink.provider_id)
            .outerjoin(CareTeam, CareTeam.id == DependentLink.care_team_id)
        )

    async def _members(self, conn: AsyncConnection, account_id: str, clinic: ClinicSettings,
                       now: datetime) -> list[dict[str, Any]]:
        rows = (await conn.execute(self._links_query().add_columns(Dependent.created_at)
                                   .where(DependentLink.account_id == account_id))).all()
        members = [(r.created_at, self._member(r, clinic, now)) for r in rows]
        members.sort(key=lambda cm: (cm[0], cm[1]["name"].casefold()))  # names are sealed: sorted once opened
        return [m for _, m in members]

    def _policy(self, clinic: ClinicSettings) -> dict[str, Any]:
        return {"link_acceptance": str(clinic.family.link_acceptance),
                "proxy_age_limit": clinic.family.proxy_age_limit}

    # --- the parent's side ------------------------------------------------------------

    async def overview(self, account_id: str, *, now: datetime) -> dict[str, Any]:
        """The parent's family members and each link's state (a PHI read: audited)."""
        async with db.read(self.engine) as conn:
            acc = await self._account(conn, account_id, "patient")
            clinic = self._clinic(acc.clinic_id)
            members = await self._members(conn, account_id, clinic, now)
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=f"account:{account_id}", action="phi.read",
                               target_type="family", target_id=account_id, detail={"members": len(members)})
        return {"members": members, **self._policy(clinic)}

    async def add_member(self, account_id: str, *, name: str, dob: str, now: datetime) -> tuple[dict[str, Any], bool]:
        """Add a child by name and date of birth; the same child again returns the first one
        (``created`` False). A second child with the same first name is refused: the chat tells
        children apart by first name."""
        name = check_name(name)
        born = parse_dob(dob)
        async with db.write(self.engine) as conn:
            acc = await self._account(conn, account_id, "patient", lock=True)  # one add at a time per parent
            clinic = self._clinic(acc.clinic_id)
            today = proxy.local_today(now, clinic)
            if born > today:
                raise FamilyError(422, "invalid_dob", "The date of birth is in the future.")
            age = proxy.age_on(born, today) or 0
            if age >= OLDEST:
                raise FamilyError(422, "invalid_dob", "Check the year of birth.")
            limit = proxy.age_limit(clinic)
            if age >= limit:
                raise FamilyError(422, "too_old", f"Family members {limit} and older need an account of their own; "
                                                  "the clinic can enroll them.")
            family = await proxy.linked_dependents(conn, self.keyring, account_id, today=today, limit=limit)
            first = name.split()[0].casefold()
            for d in family:
                if " ".join(d.name.split()).casefold() == name.casefold() and d.dob == born:
                    members = await self._members(conn, account_id, clinic, now)
                    return next(m for m in members if m["id"] == d.id), False
                if d.first_name.casefold() == first:
                    raise FamilyError(409, "same_first_name",
                                      "A family member with that first name is already on your account. "
                                      "Add a nickname so the chat can tell them apart.")
            dep_id, link_id = str(uuid.uuid4()), str(uuid.uuid4())
            await conn.execute(Dependent.__table__.insert().values(
                id=dep_id, clinic_id=acc.clinic_id, created_at=now,
                name_enc=self._seal(Dependent, "name_enc", dep_id, name),
                dob_enc=self._seal(Dependent, "dob_enc", dep_id, born.isoformat())))
            await conn.execute(DependentLink.__table__.insert().values(
                dependent_id=dep_id, account_id=account_id, id=link_id, status="added", source="family",
                created_at=now))
            await audit.append(conn, at=now, actor=f"account:{account_id}", action="family.add",
                               target_type="dependent_link", target_id=link_id, detail={"dependent": dep_id})
            members = await self._members(conn, account_id, clinic, now)
        return next(m for m in members if m["id"] == dep_id), True

    async def search_providers(self, account_id: str, query: str) -> dict[str, Any]:
        """The clinic's active providers whose last name is like the query (rapidfuzz)."""
        if len(query) > provider_search.MAX_QUERY:
            raise FamilyError(422, "invalid_query", "Type part of the doctor's last name.")
        async with db.read(self.engine) as conn:
            acc = await self._account(conn, account_id, "patient")
            rows = (await conn.execute(
                select(Provider.id, Provider.name, Provider.last_name, Provider.title, CareTeam.name.label("team"))
                .join(CareTeam, CareTeam.id == Provider.care_team_id)
                .where(Provider.clinic_id == acc.clinic_id, Provider.active.is_(True)))).all()
        by_id = {r.id: r for r in rows}
        matches = provider_search.search(query, [provider_search.Candidate(r.id, r.name, r.last_name) for r in rows])
        return {"providers": [{"id": m.id, "name": by_id[m.id].name, "title": by_id[m.id].title,
                               "care_team": by_id[m.id].team, "score": m.score} for m in matches]}

    async def request_link(self, account_id: str, dependent_id: str, provider_id: str, *,
                           now: datetime) -> tuple[dict[str, Any], bool]:
        """Ask the provider's care team to accept the link; returns (member, changed)."""
        async with db.write(self.engine) as conn:
            acc = await self._account(conn, account_id, "patient")
            clinic = self._clinic(acc.clinic_id)
            link = (await conn.execute(db.for_update(conn, select(DependentLink).where(
                DependentLink.account_id == account_id, DependentLink.dependent_id == dependent_id)))).first()
            if link is None:
                raise FamilyError(*NO_MEMBER)
            provider = (await conn.execute(select(Provider.id, Provider.care_team_id, Provider.active).where(
                Provider.id == provider_id, Provider.clinic_id == acc.clinic_id))).first()
            if provider is None or not provider.active:
                raise FamilyError(422, "unknown_provider", "Choose a doctor from the clinic's list.")
            dob_enc = (await conn.execute(select(Dependent.dob_enc).where(Dependent.id == dependent_id))).scalar_one()
            raw = self._open(Dependent, "dob_enc", dependent_id, dob_enc)
            today = proxy.local_today(now, clinic)
            if not proxy.under_limit(date.fromisoformat(raw) if raw else None, today, proxy.age_limit(clinic)):
                raise FamilyError(422, "too_old", "This family member has reached the clinic's age limit for "
                                                  "parent access and needs an account of their own.")
            changed = True
            if link.status == "ended":
                raise FamilyError(409, "link_ended", "The clinic ended this link. Contact the clinic to discuss it.")
            if link.status in {"accepted", "pending"} and link.provider_id == provider_id:
                changed = False  # the same request again: nothing to do
            elif link.status == "accepted":
                raise FamilyError(409, "already_linked", "This family member's link is already accepted.")
            else:  # added, declined, or pending with another doctor: a new request
                await conn.execute(update(DependentLink).where(DependentLink.id == link.id).values(
                    status="pending", provider_id=provider_id, care_team_id=provider.care_team_id,
                    requested_at=now, decided_at=None, decided_by=None))
                await audit.append(conn, at=now, actor=f"account:{account_id}", action="family.link_request",
                                   target_type="dependent_link", target_id=link.id,
                                   detail={"provider": provider_id, "care_team": provider.care_team_id,
                                           "previous": link.status})
                team = (await conn.execute(select(CareTeam.notify_email).where(
                    CareTeam.id == provider.care_team_id))).scalar_one()
                if team:
                    await outbox.enqueue(conn, self.keyring, kind="new_request", recipient=team,
                                         payload={"link": f"{self.settings.base_url}/staff/queue"}, now=now)
            members = await self._members(conn, account_id, clinic, now)
        return next(m for m in members if m["id"] == dependent_id), changed

    # --- the care team's side ------------------------------------------------------------

    def _staff_item(self, r: Any, parent_name: str, clinic: ClinicSettings, now: datetime) -> dict[str, Any]:
        today = proxy.local_today(now, clinic)
        child = str(self._open(Dependent, "name_enc", r.dep_id, r.name_enc))
        raw = self._open(Dependent, "dob_enc", r.dep_id, r.dob_enc)
        dob = date.fromisoformat(raw) if raw else None
        due = (clinic.calendar.due(r.requested_at, clinic.family.link_acceptance)
               if r.status == "pending" and r.requested_at else None)
        status = r.status
        if status == "accepted" and not proxy.under_limit(dob, today, proxy.age_limit(clinic)):
            status = "aged_out"
        return {
            "link_id": r.link_id, "status": status, "source": r.source,
            "child": {"id": r.dep_id, "name": child, "dob": dob.isoformat() if dob else None,
                      "age": proxy.age_on(dob, today)},
            "parent": {"id": r.account_id, "name": parent_name},
            "provider": {"id": r.provider_id, "name": r.provider_name, "title": r.provider_title}
            if r.provider_id else None,
            "care_team": r.team_name,
            "requested_at": r.requested_at.isoformat() if r.requested_at else None,
            "answer_due_at": due.isoformat() if due else None,
            "answer_due_text": clinic.calendar.describe(due) if due else None,
            "overdue": bool(due and due <= now),
            "decided_at": r.decided_at.isoformat() if r.decided_at else None,
            "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        }

    async def staff_links(self, staff: StaffView, *, status: str = "pending", now: datetime) -> list[dict[str, Any]]:
        """Links routed to the staff member's care teams (members and cover; an admin: every team of
        the clinic), oldest request first. Staff of other teams never see them."""
        if status not in {"pending", "accepted"}:
            raise FamilyError(422, "invalid_status", "List 'pending' or 'accepted' links.")
        clinic = self._clinic(staff.clinic_id)
        teams = sorted(staff.inbox_teams)
        async with db.read(self.engine) as conn:
            stmt = (self._links_query().add_columns(Account.name_enc.label("parent_enc"))
                    .join(Account, Account.id == DependentLink.account_id)
                    .where(DependentLink.status == status, Account.clinic_id == staff.clinic_id)
                    .order_by(DependentLink.requested_at, Dependent.id))
            if not staff.is_admin:
                stmt = stmt.where(DependentLink.care_team_id.in_(teams or [""]))
            rows = (await conn.execute(stmt)).all()
        items = [self._staff_item(r, str(self._open(Account, "name_enc", r.account_id, r.parent_enc)), clinic, now)
                 for r in rows]
        async with db.write(self.engine) as conn:
            await audit.append(conn, at=now, actor=f"account:{staff.id}", action="phi.read",
                               target_type="family_links", target_id=staff.clinic_id,
                               detail={"status": status, "links": len(items)})
        return items

    async def _staff_link(self, conn: AsyncConnection, staff: StaffView, link_id: str) -> Any:
        row = (await conn.execute(db.for_update(conn, select(DependentLink).where(DependentLink.id == link_id)))).first()
        if row is None or not (staff.is_admin or row.care_team_id in staff.inbox_teams):
            raise FamilyError(*NO_LINK)
        owner = (await conn.execute(select(Account.clinic_id).where(Account.id == row.account_id))).scalar_one()
        if owner != staff.clinic_id:
            raise FamilyError(*NO_LINK)
        return row

    async def _item(self, conn: AsyncConnection, link_id: str, clinic: ClinicSettings, now: datetime) -> dict[str, Any]:
        r = (await conn.execute(self._links_query().add_columns(Account.name_enc.label("parent_enc"))
                                .join(Account, Account.id == DependentLink.account_id)
                                .where(DependentLink.id == link_id))).one()
        return self._staff_item(r, str(self._open(Account, "name_enc", r.account_id, r.parent_enc)), clinic, now)

    async def _tell_parent(self, conn: AsyncConnection, link: Any, kind: str, clinic: ClinicSettings,
                           now: datetime) -> None:
        """The sealed inbox notice (names the child and the doctor) and the e-mail without PHI."""
        child = str(self._open(Dependent, "name_enc", link.dependent_id,
                               (await conn.execute(select(Dependent.name_enc).where(
                                   Dependent.id == link.dependent_id))).scalar_one()))
        provider = None
        if link.provider_id:
            provider = (await conn.execute(select(Provider.name).where(Provider.id == link.provider_id))).scalar_one()
        text = self.notices.render(kind, child=child.split()[0], child_name=child, provider=provider,
                                   clinic=clinic.name, age_limit=clinic.family.proxy_age_limit)
        notice_id = str(uuid.uuid4())
        await conn.execute(AccountNotice.__table__.insert().values(
            id=notice_id, account_id=link.account_id, kind=kind, created_at=now,
            body_enc=self._seal(AccountNotice, "body_enc", notice_id, text)))
        email_enc = (await conn.execute(select(Account.email_enc).where(Account.id == link.account_id))).scalar_one()
        email = str(self._open(Account, "email_enc", link.account_id, email_enc))
        await outbox.enqueue(conn, self.keyring, kind="family_update", recipient=email,
                             payload={"link": f"{self.settings.base_url}/"}, now=now)

    async def decide(self, staff: StaffView, link_id: str, *, accept: bool, now: datetime) -> tuple[dict[str, Any], bool]:
        """Accept or decline a pending link; deciding the same way again changes nothing."""
        wanted = "accepted" if accept else "declined"
        async with db.write(self.engine) as conn:
            clinic = self._clinic(staff.clinic_id)
            link = await self._staff_link(conn, staff, link_id)
            changed = False
            if link.status == wanted:
                pass  # a repeated submit
            elif link.status != "pending":
                raise FamilyError(409, "not_pending", f"This link is {link.status}, not waiting for a decision.")
            else:
                await conn.execute(update(DependentLink).where(DependentLink.id == link.id).values(
                    status=wanted, decided_at=now, decided_by=staff.id))
                await self._tell_parent(conn, link, "link_accepted" if accept else "link_declined", clinic, now)
                await audit.append(conn, at=now, actor=f"account:{staff.id}",
                                   action="family.link_accept" if accept else "family.link_decline",
                                   target_type="dependent_link", target_id=link.id,
                                   detail={"dependent": link.dependent_id, "guardian": link.account_id})
                changed = True
            item = await self._item(conn, link.id, clinic, now)
        if changed:
            self.on_change(link.account_id)
        return item, changed

    async def end(self, staff: StaffView, link_id: str, *, reason: str, note: str | None,
                  now: datetime) -> tuple[dict[str, Any], bool]:
        """End an accepted link (custody changed, entered in error …): final; audited with the
        reason code; the note is sealed on the link."""
        if reason not in END_REASONS:
            raise FamilyError(422, "invalid_reason", "Choose a reason: " + ", ".join(END_REASONS) + ".")
        if note is not None and len(note) > MAX_NOTE:
            raise FamilyError(422, "note_too_long", f"Keep the note under {MAX_NOTE} characters.")
        async with db.write(self.engine) as conn:
            clinic = self._clinic(staff.clinic_id)
            link = await self._staff_link(conn, staff, link_id)
            changed = False
            if link.status == "ended":
                pass  # a repeated submit
            elif link.status != "accepted":
                raise FamilyError(409, "not_accepted", f"Only an accepted link can be ended; this one is {link.status}.")
            else:
                await conn.execute(update(DependentLink).where(DependentLink.id == link.id).values(
                    status="ended", ended_at=now, decided_by=staff.id, end_reason=reason,
                    end_note_enc=self._seal(DependentLink, "end_note_enc", link.id, note.strip())
                    if note and note.strip() else None))
                await self._tell_parent(conn, link, "link_ended", clinic, now)
                await audit.append(conn, at=now, actor=f"account:{staff.id}", action="family.link_end",
                                   target_type="dependent_link", target_id=link.id,
                                   detail={"dependent": link.dependent_id, "guardian": link.account_id,
                                           "reason": reason, "note": bool(note and note.strip())})
                changed = True
            item = await self._item(conn, link.id, clinic, now)
        if changed:
            self.on_change(link.account_id)
        return item, changed
