"""Accounts: in-person enrollment, invitations, passwords, sessions, login throttling.

* Passwords: argon2id with the OWASP minimum (m=19 MiB, t=2, p=1), hashed in a
  worker thread so the event loop keeps serving.
* Invitations: a random single-use token; only its SHA-256 is stored; it expires
  after ``settings.invitation_days`` (7).
* Sessions: a random token in an HttpOnly, SameSite=Strict cookie; only its
  SHA-256 is stored. A session ends after 15 minutes idle or 12 hours in all,
  and at logout (server-side: the row is marked ended).
* Throttling: failed logins are counted per account and per client address
  (both kept as keyed hashes); past the limit, logins are refused for the rest
  of the window with 429, even with the right password.
* No social security number is asked for or stored anywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import proxy
from .clinic_settings import ClinicSettings
from .config import Settings
from .models import Dependent as DependentInfo
from .models import PatientContext
from .store import audit, db, outbox
from .store.clinics import ClinicRow
from .store.crypto import Keyring
from .store.schema import Account, Dependent, DependentLink, Invitation, LoginThrottle, Session, aad

HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # argon2id, OWASP
MIN_PASSWORD = 12
MAX_PASSWORD = 256
MAX_EMAIL = 254
_DUMMY_HASH = HASHER.hash("not a real password, only for equal timing")
SEEN_UPDATE_SECONDS = 30


class AccountError(Exception):
    """A domain error with a stable code and a message safe to show (no PHI)."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.retry_after = retry_after


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(HASHER.hash, password)


async def verify_password(stored: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("weak_password", f"Choose a password of at least {MIN_PASSWORD} characters.",
                           status=422)
    if len(password) > MAX_PASSWORD:
        raise AccountError("weak_password", f"Choose a password of at most {MAX_PASSWORD} characters.",
                           status=422)


def normalize_email(email: str) -> str:
    email = email.strip()
    if len(email) > MAX_EMAIL or "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise AccountError("invalid_email", "That is not an e-mail address.", status=422)
    return email


age_on = proxy.age_on


# --- enrollment ----------------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    account_id: str
    token: str
    link: str
    expires_at: datetime


def invitation_link(settings: Settings, token: str) -> str:
    # the token rides in the fragment: browsers never send it to a server or a log
    return f"{settings.base_url}/#invitation={token}"


async def enroll(
    engine: AsyncEngine,
    keyring: Keyring,
    settings: Settings,
    clinic: ClinicRow,
    *,
    name: str,
    email: str,
    now: datetime,
    dob: date | None = None,
    medications: Sequence[str] = (),
    dependents: Sequence[tuple[str, date | None]] = (),
    role: str = "patient",
    title: str | None = None,
    care_team: str | None = None,
    actor: str = "cli",
    notify: bool = True,
) -> Enrollment:
    """Create an invited account and, in the same transaction, its invitation e-mail
    (``notify=False``: no e-mail, for the demo seed which accepts the invitation itself)."""
    if not name.strip():
        raise AccountError("invalid_name", "A name is required.", status=422)
    email = normalize_email(email)
    if role not in {"patient", "staff"}:
        raise ValueError(role)
    team_id = clinic.team_ids.get(care_team) if care_team else next(iter(clinic.team_ids.values()), None)
    if care_team and team_id is None:
        raise AccountError("unknown_team", f"The clinic has no care team {care_team!r}.", status=422)
    account_id = str(uuid.uuid4())
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=settings.invitation_days)
    link = invitation_link(settings, token)

    def seal(column: str, value: Any, model: Any = Account, row: str = account_id) -> str:
        return keyring.encrypt_json(value, aad(model, column, row))

    profile = {"medications": [m.strip() for m in medications if m.strip()]}
    if title:
        profile["title"] = title
    async with db.write(engine) as conn:
        index = keyring.blind_index(email)
        if (await conn.execute(select(Account.id).where(Account.email_index == index))).first():
            raise AccountError("already_enrolled", "An account with that e-mail address exists.", status=409)
        await conn.execute(
            insert(Account).values(
                id=account_id, clinic_id=clinic.id, care_team_id=team_id, role=role, status="invited",
                email_index=index, email_enc=seal("email_enc", email), name_enc=seal("name_enc", name.strip()),
                dob_enc=seal("dob_enc", dob.isoformat() if dob else None), profile_enc=seal("profile_enc", profile),
                password_hash=None, terms_accepted_at=None, created_at=now,
            )
        )
        for dep_name, dep_dob in dependents:
            dep_id = str(uuid.uuid4())
            await conn.execute(
                insert(Dependent).values(
                    id=dep_id, clinic_id=clinic.id, created_at=now,
                    name_enc=seal("name_enc", dep_name.strip(), Dependent, dep_id),
                    dob_enc=seal("dob_enc", dep_dob.isoformat() if dep_dob else None, Dependent, dep_id),
                )
            )
            # enrolled in person: staff saw the parent and the child, so the link starts accepted
            await conn.execute(insert(DependentLink).values(
                dependent_id=dep_id, account_id=account_id, id=str(uuid.uuid4()), status="accepted",
                source="enrollment", care_team_id=team_id, created_at=now, decided_at=now))
        await conn.execute(
            insert(Invitation).values(id=str(uuid.uuid4()), account_id=account_id, token_hash=sha256(token),
                                      created_at=now, expires_at=expires, used_at=None)
        )
        if notify:
            await outbox.enqueue(conn, keyring, kind="invitation", recipient=email, payload={"link": link},
                                 now=now)
        await audit.append(conn, at=now, actor=actor, action="account.enroll", target_type="account",
                           target_id=account_id, detail={"role": role, "dependents": len(dependents)})
    return Enrollment(account_id, token, link, expires)


async def accept_invitation(engine: AsyncEngine, token: str, password: str, *, now: datetime,
                            address: str = "") -> str:
    """Set the password and accept the terms; the token works once, within its lifetime."""
    check_password_policy(password)
    password_hash = await hash_password(password)
    async with db.write(engine) as conn:
        row = (
            await conn.execute(
                db.for_update(conn, select(Invitation).where(Invitation.token_hash == sha256(token)))
            )
        ).first()
        if row is None:
            raise AccountError("invitation_invalid", "This invitation link is not valid.", status=404)
        if row.used_at is not None or row.expires_at <= now:
            raise AccountError("invitation_expired",
                               "This invitation link was used or has expired; ask the clinic for a new one.",
                               status=410)
        await conn.execute(update(Invitation).where(Invitation.id == row.id).values(used_at=now))
        await conn.execute(
            update(Account).where(Account.id == row.account_id)
            .values(status="active", password_hash=password_hash, terms_accepted_at=now)
        )
        await audit.append(conn, at=now, actor=f"account:{row.account_id}", action="account.accept_invitation",
                           target_type="account", target_id=row.account_id)
    return row.account_id


# --- login, throttling, sessions ---------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    account_id: str
    token: str
    csrf: str


def csrf_for(keyring: Keyring, session_token: str) -> str:
    """The CSRF token of a session: derived, so nothing extra is stored."""
    return hmac.new(keyring.index_key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:40]


def _throttle_keys(keyring: Keyring, email: str, address: str) -> tuple[str, str]:
    return "acct:" + keyring.blind_index(email)[:64], "addr:" + keyring.blind_index("addr:" + address)[:64]


async def _locked_for(conn: AsyncConnection, keys: Sequence[str], now: datetime) -> int | None:
    rows = (await conn.execute(select(LoginThrottle.locked_until).where(LoginThrottle.key.in_(keys)))).all()
    waits = [int((r.locked_until - now).total_seconds()) + 1 for r in rows if r.locked_until and r.locked_until > now]
    return max(waits) if waits else None


async def _record_failure(conn: AsyncConnection, key: str, limit: int, window: timedelta, now: datetime) -> None:
    row = (await conn.execute(db.for_update(conn, select(LoginThrottle).where(LoginThrottle.key == key)))).first()
    if row is None or row.window_start + window <= now:
        failures, start = 1, now
    else:
        failures, start = row.failures + 1, row.window_start
    locked = now + window if failures >= limit else None
    await db.upsert(conn, LoginThrottle, {"key": key, "failures": failures, "window_start": start,
                                          "locked_until": locked},
                    ["key"], {"failures": failures, "window_start": start, "locked_until": locked})


async def login(engine: AsyncEngine, keyring: Keyring, settings: Settings, *, email: str, password: str,
                address: str, now: datetime) -> LoginResult:
    email = email.strip()
    acct_key, addr_key = _throttle_keys(keyring, email, address)
    window = timedelta(seconds=settings.login_window_seconds)
    async with db.read(engine) as conn:
        wait = await _locked_for(conn, [acct_key, addr_key], now)
        account = (
            await conn.execute(
                select(Account.id, Account.status, Account.password_hash, Account.role)
                .where(Account.email_index == keyring.blind_index(email))
            )
        ).first()
    if wait is not None:
        raise AccountError("too_many_attempts", "Too many failed logins. Try again later.", status=429,
                           retry_after=wait)
    ok = await verify_password(account.password_hash if account else None, password)
    if not ok or account is None or account.status != "active":
        async with db.write(engine) as conn:
            await _record_failure(conn, acct_key, settings.login_max_per_account, window, now)
            await _record_failure(conn, addr_key, settings.login_max_per_address, window, now)
            await audit.append(conn, at=now, actor="anonymous", action="login.failed",
                               target_type="account" if account else None,
                               target_id=account.id if account else None)
        raise AccountError("invalid_credentials", "The e-mail address or password is not right.", status=401)
    token = secrets.token_urlsafe(32)
    rehash = HASHER.check_needs_rehash(account.password_hash)
    new_hash = await hash_password(password) if rehash else None
    async with db.write(engine) as conn:
        await conn.execute(update(LoginThrottle).where(LoginThrottle.key == acct_key)
                           .values(failures=0, locked_until=None, window_start=now))
        await conn.execute(
            insert(Session).values(token_hash=sha256(token), account_id=account.id, created_at=now,
                                   last_seen_at=now, ended_at=None,
                                   expires_at=now + timedelta(seconds=settings.session_absolute_seconds))
        )
        if new_hash:
            await conn.execute(update(Account).where(Account.id == account.id).values(password_hash=new_hash))
        await audit.append(conn, at=now, actor=f"account:{account.id}", action="login.ok",
                           target_type="account", target_id=account.id)
    return LoginResult(account.id, token, csrf_for(keyring, token))


@dataclass(frozen=True)
class SessionInfo:
    account_id: str
    role: str
    clinic_id: str
    token: str
    expires_at: datetime


async def authenticate(engine: AsyncEngine, settings: Settings, token: str | None, *,
                       now: datetime) -> SessionInfo | None:
    """The live session for a cookie value, refreshing its idle timer; None if none."""
    if not token or len(token) > 200:
        return None
    digest = sha256(token)
    row = await db.run_read(engine, _session_row, digest)
    if row is None or row.ended_at is not None or row.status != "active":
        return None
    idle = timedelta(seconds=settings.session_idle_seconds)
    if now >= row.expires_at or now >= row.last_seen_at + idle:
        return None
    if (now - row.last_seen_at).total_seconds() >= SEEN_UPDATE_SECONDS:
        await db.run_write(engine, _touch_session, digest, now)
    return SessionInfo(row.account_id, row.role, row.clinic_id, token, row.expires_at)


_SESSION_ROW = (
    select(Session.account_id, Session.last_seen_at, Session.expires_at, Session.ended_at,
           Account.role, Account.clinic_id, Account.status)
    .join(Account, Account.id == Session.account_id)
    .where(Session.token_hash == bindparam("digest"))
)
_TOUCH_SESSION = update(Session).where(Session.token_hash == bindparam("digest"))


def _session_row(conn: Connection, digest: str) -> Any:
    return conn.execute(_SESSION_ROW, {"digest": digest}).first()


def _touch_session(conn: Connection, digest: str, now: datetime) -> None:
    conn.execute(_TOUCH_SESSION, {"digest": digest, "last_seen_at": now})


async def logout(engine: AsyncEngine, token: str, *, now: datetime) -> bool:
    async with db.write(engine) as conn:
        result = await conn.execute(
            update(Session).where(Session.token_hash == sha256(token), Session.ended_at.is_(None)).values(ended_at=now)
        )
        row = (await conn.execute(select(Session.account_id).where(Session.token_hash == sha256(token)))).first()
        if row is not None and result.rowcount:
            await audit.append(conn, at=now, actor=f"account:{row.account_id}", action="logout",
                               target_type="account", target_id=row.account_id)
    return bool(result.rowcount)


# --- what the conversation core may know about the patient ----------------------


@dataclass(frozen=True)
class PatientRecord:
    account_id: str
    clinic_id: str
    care_team_id: str | None
    email: str
    context: PatientContext
    dependent_ids: dict[str, str]  # casefolded first name -> dependent id


async def load_patient(conn: AsyncConnection, keyring: Keyring, account_id: str, today: date | datetime,
                       clinics: Mapping[str, ClinicSettings] | None = None) -> PatientRecord:
    return await conn.run_sync(load_patient_sync, keyring, account_id, today, clinics)


def load_patient_sync(conn: Connection, keyring: Keyring, account_id: str, today: date | datetime,
                      clinics: Mapping[str, ClinicSettings] | None = None) -> PatientRecord:
    """The account and the dependents it may act for *now* (``proxy.active_dependents``):
    only accepted links to children under the clinic's age limit reach the conversation core."""
    acc = conn.execute(select(Account).where(Account.id == account_id)).one()
    name = keyring.decrypt_json(acc.name_enc, aad(Account, "name_enc", acc.id))
    dob_raw = keyring.decrypt_json(acc.dob_enc, aad(Account, "dob_enc", acc.id)) if acc.dob_enc else None
    profile = keyring.decrypt_json(acc.profile_enc, aad(Account, "profile_enc", acc.id)) if acc.profile_enc else {}
    email = keyring.decrypt_json(acc.email_enc, aad(Account, "email_enc", acc.id))
    clinic = (clinics or {}).get(acc.clinic_id)
    day = proxy.local_today(today, clinic)
    deps = proxy.active_dependents_sync(conn, keyring, account_id, today=day, limit=proxy.age_limit(clinic))
    dependents = [DependentInfo(d.name, age_on(d.dob, day)) for d in deps]
    ids = {d.first_name.casefold(): d.id for d in deps}
    context = PatientContext(
        name=str(name),
        age=age_on(date.fromisoformat(dob_raw) if dob_raw else None, day),
        medications=tuple(str(m) for m in (profile or {}).get("medications", [])),
        dependents=tuple(dependents),
    )
    return PatientRecord(acc.id, acc.clinic_id, acc.care_team_id, str(email), context, ids)
