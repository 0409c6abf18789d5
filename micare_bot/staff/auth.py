"""Staff sign-in: the patients' password and throttling rules, a session of their own.

* The same argon2id passwords and the same per-account / per-address login
  throttle as patients (``accounts``), so a staff address cannot be guessed at
  faster through the staff door.
* Sessions live in ``staff_sessions`` behind their own cookie (``micare_staff``)
  with a shorter idle timeout (``MICARE_STAFF_SESSION_IDLE_SECONDS``, 10 minutes)
  than a patient's; a patient session never opens a staff route and a staff
  session never opens a patient route.
* Only accounts with a ``staff_members`` row (an active staff account) may sign in here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .. import accounts
from ..accounts import AccountError, sha256
from ..config import Settings
from ..store import audit, db
from ..store.crypto import Keyring
from ..store.schema import Account, LoginThrottle, StaffMember, StaffSession

SEEN_UPDATE_SECONDS = 30


@dataclass(frozen=True)
class StaffLogin:
    account_id: str
    token: str
    csrf: str


def csrf_for(keyring: Keyring, token: str) -> str:
    """The CSRF token of a staff session (derived, so nothing extra is stored)."""
    return hmac.new(keyring.index_key, b"staff-csrf:" + token.encode(), hashlib.sha256).hexdigest()[:40]


async def login(engine: AsyncEngine, keyring: Keyring, settings: Settings, *, email: str, password: str,
                address: str, now: datetime) -> StaffLogin:
    email = email.strip()
    acct_key, addr_key = accounts._throttle_keys(keyring, email, address)
    window = timedelta(seconds=settings.login_window_seconds)
    async with db.read(engine) as conn:
        wait = await accounts._locked_for(conn, [acct_key, addr_key], now)
        account = (await conn.execute(
            select(Account.id, Account.status, Account.password_hash, Account.role, StaffMember.role.label("staff_role"))
            .outerjoin(StaffMember, StaffMember.account_id == Account.id)
            .where(Account.email_index == keyring.blind_index(email)))).first()
    if wait is not None:
        raise AccountError("too_many_attempts", "Too many failed logins. Try again later.", status=429,
                           retry_after=wait)
    ok = await accounts.verify_password(account.password_hash if account else None, password)
    is_staff = account is not None and account.role == "staff" and account.staff_role is not None
    if not ok or not is_staff or account.status != "active":
        # a patient's right password here counts as a failure too: this door is for staff only
        async with db.write(engine) as conn:
            await accounts._record_failure(conn, acct_key, settings.login_max_per_account, window, now)
            await accounts._record_failure(conn, addr_key, settings.login_max_per_address, window, now)
            await audit.append(conn, at=now, actor="anonymous", action="staff.login.failed",
                               target_type="account" if account else None, target_id=account.id if account else None)
        raise AccountError("invalid_credentials", "The e-mail address or password is not right.", status=401)
    token = secrets.token_urlsafe(32)
    async with db.write(engine) as conn:
        await conn.execute(update(LoginThrottle).where(LoginThrottle.key == acct_key)
                           .values(failures=0, locked_until=None, window_start=now))
        await conn.execute(insert(StaffSession).values(
            token_hash=sha256(token), account_id=account.id, created_at=now, last_seen_at=now, ended_at=None,
            expires_at=now + timedelta(seconds=settings.staff_session_absolute_seconds)))
        await audit.append(conn, at=now, actor=f"account:{account.id}", action="staff.login.ok",
                           target_type="account", target_id=account.id)
    return StaffLogin(account.id, token, csrf_for(keyring, token))


async def authenticate(engine: AsyncEngine, settings: Settings, token: str | None, *, now: datetime) -> str | None:
    """The account id of a live staff session (refreshing its idle timer), or None."""
    if not token or len(token) > 200:
        return None
    digest = sha256(token)
    async with db.read(engine) as conn:
        row = (await conn.execute(
            select(StaffSession.account_id, StaffSession.last_seen_at, StaffSession.expires_at, StaffSession.ended_at)
            .where(StaffSession.token_hash == digest))).first()
    if row is None or row.ended_at is not None:
        return None
    if now >= row.expires_at or now >= row.last_seen_at + timedelta(seconds=settings.staff_session_idle_seconds):
        return None
    if (now - row.last_seen_at).total_seconds() >= SEEN_UPDATE_SECONDS:
        async with db.write(engine) as conn:
            await conn.execute(update(StaffSession).where(StaffSession.token_hash == digest).values(last_seen_at=now))
    return str(row.account_id)


async def logout(engine: AsyncEngine, token: str, *, now: datetime) -> bool:
    async with db.write(engine) as conn:
        result = await conn.execute(update(StaffSession).where(
            StaffSession.token_hash == sha256(token), StaffSession.ended_at.is_(None)).values(ended_at=now))
        row = (await conn.execute(select(StaffSession.account_id)
                                  .where(StaffSession.token_hash == sha256(token)))).first()
        if row is not None and result.rowcount:
            await audit.append(conn, at=now, actor=f"account:{row.account_id}", action="staff.logout",
                               target_type="account", target_id=row.account_id)
    return bool(result.rowcount)
