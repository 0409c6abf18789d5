"""Enrollment, invitations, passwords, sessions and login throttling against a real database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot import accounts
from micare_bot.accounts import AccountError
from micare_bot.config import Settings
from micare_bot.store import audit, db
from micare_bot.store.crypto import Keyring
from micare_bot.store.schema import Account, Invitation, OutboxMessage

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def ring(settings: Settings) -> Keyring:
    from micare_bot.store.crypto import keyring_from_settings

    return keyring_from_settings(settings)


async def enroll(engine: AsyncEngine, ring: Keyring, settings: Settings, clinic_row, email: str = "dana@example.com",
                 **kw: object) -> accounts.Enrollment:  # type: ignore[no-untyped-def]
    return await accounts.enroll(engine, ring, settings, clinic_row, name="Dana Reyes", email=email, now=T0,
                                 dob=date(1992, 3, 4), medications=["Lisinopril 10 mg tablet"],
                                 dependents=[("Emma", date(2022, 5, 1))], **kw)  # type: ignore[arg-type]


class TestEnrollment:
    async def test_enroll_stores_no_plain_identifiers(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Name, e-mail, birth date and medications are sealed; the token is stored only as a hash."""
        result = await enroll(engine, ring, settings, clinic_row)
        async with db.read(engine) as conn:
            acc = (await conn.execute(select(Account))).one()
            inv = (await conn.execute(select(Invitation))).one()
            mail = (await conn.execute(select(OutboxMessage))).one()
        dump = repr(tuple(acc)) + repr(tuple(inv)) + repr(tuple(mail))
        for secret in ("Dana", "dana@example.com", "1992", "Lisinopril", result.token):
            assert secret not in dump
        assert inv.token_hash == accounts.sha256(result.token)
        assert inv.expires_at == T0 + timedelta(days=7)
        assert mail.kind == "invitation" and mail.status == "pending"
        assert result.link.endswith("#invitation=" + result.token)

    async def test_same_email_twice_is_refused(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """An e-mail address enrolls once, whatever its case."""
        await enroll(engine, ring, settings, clinic_row)
        with pytest.raises(AccountError) as err:
            await enroll(engine, ring, settings, clinic_row, email="DANA@example.com")
        assert err.value.code == "already_enrolled"

    async def test_patient_context_round_trips(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """The core sees the name, age, medications and dependents (with ages)."""
        result = await enroll(engine, ring, settings, clinic_row)
        async with db.read(engine) as conn:
            rec = await accounts.load_patient(conn, ring, result.account_id, date(2026, 11, 16))
        assert rec.context.name == "Dana Reyes" and rec.context.age == 34
        assert rec.context.medications == ("Lisinopril 10 mg tablet",)
        assert [(d.name, d.age) for d in rec.context.dependents] == [("Emma", 4)]
        assert set(rec.dependent_ids) == {"emma"}


class TestInvitation:
    async def test_accept_once_then_login(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """An invitation sets the password once; a second use is refused."""
        inv = await enroll(engine, ring, settings, clinic_row)
        await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0)
        with pytest.raises(AccountError) as err:
            await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0)
        assert err.value.status == 410
        res = await accounts.login(engine, ring, settings, email="Dana@Example.com", password=PASSWORD,
                                   address="10.0.0.1", now=T0)
        assert res.account_id == inv.account_id
        async with db.read(engine) as conn:
            stored = (await conn.execute(select(Account.password_hash))).scalar_one()
        assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored

    async def test_expired_invitation_is_refused(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """After 7 days the link no longer works."""
        inv = await enroll(engine, ring, settings, clinic_row)
        with pytest.raises(AccountError) as err:
            await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0 + timedelta(days=7, seconds=1))
        assert err.value.code == "invitation_expired"

    async def test_unknown_token_and_weak_password(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """A made-up token is 404; a short password is 422 before any lookup."""
        inv = await enroll(engine, ring, settings, clinic_row)
        with pytest.raises(AccountError) as err:
            await accounts.accept_invitation(engine, "made-up", PASSWORD, now=T0)
        assert err.value.status == 404
        with pytest.raises(AccountError) as err:
            await accounts.accept_invitation(engine, inv.token, "short", now=T0)
        assert err.value.code == "weak_password"


class TestSessions:
    async def _login(self, engine, ring, settings, clinic_row, now=T0):  # type: ignore[no-untyped-def]
        inv = await enroll(engine, ring, settings, clinic_row)
        await accounts.accept_invitation(engine, inv.token, PASSWORD, now=now)
        return await accounts.login(engine, ring, settings, email="dana@example.com", password=PASSWORD,
                                    address="10.0.0.1", now=now)

    async def test_idle_timeout(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Activity keeps a session alive; 15 minutes without any ends it."""
        res = await self._login(engine, ring, settings, clinic_row)
        t = T0
        for _ in range(3):
            t += timedelta(minutes=14)
            assert await accounts.authenticate(engine, settings, res.token, now=t) is not None
        assert await accounts.authenticate(engine, settings, res.token, now=t + timedelta(minutes=15)) is None

    async def test_absolute_timeout(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Even an active session ends 12 hours after login."""
        res = await self._login(engine, ring, settings, clinic_row)
        t = T0
        while t < T0 + timedelta(hours=11, minutes=50):
            t += timedelta(minutes=10)
            assert await accounts.authenticate(engine, settings, res.token, now=t) is not None
        assert await accounts.authenticate(engine, settings, res.token, now=T0 + timedelta(hours=12)) is None

    async def test_logout_ends_the_session_server_side(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """After logout the same cookie value no longer authenticates."""
        res = await self._login(engine, ring, settings, clinic_row)
        assert await accounts.logout(engine, res.token, now=T0)
        assert await accounts.authenticate(engine, settings, res.token, now=T0) is None

    async def test_throttle_per_account(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Five wrong passwords lock the account for the window, even for the right one, from any address."""
        await self._login(engine, ring, settings, clinic_row)
        for i in range(5):
            with pytest.raises(AccountError) as err:
                await accounts.login(engine, ring, settings, email="dana@example.com", password="wrong password!",
                                     address=f"10.0.1.{i}", now=T0)
            assert err.value.status == 401
        with pytest.raises(AccountError) as err:
            await accounts.login(engine, ring, settings, email="dana@example.com", password=PASSWORD,
                                 address="10.0.2.1", now=T0 + timedelta(minutes=1))
        assert err.value.status == 429 and err.value.retry_after
        ok = await accounts.login(engine, ring, settings, email="dana@example.com", password=PASSWORD,
                                  address="10.0.2.1", now=T0 + timedelta(minutes=16))
        assert ok.token

    async def test_throttle_per_address(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Twenty failures from one address over many accounts lock that address only."""
        await self._login(engine, ring, settings, clinic_row)
        for i in range(20):
            with pytest.raises(AccountError):
                await accounts.login(engine, ring, settings, email=f"nobody{i}@example.com", password="x" * 12,
                                     address="192.0.2.9", now=T0)
        with pytest.raises(AccountError) as err:
            await accounts.login(engine, ring, settings, email="dana@example.com", password=PASSWORD,
                                 address="192.0.2.9", now=T0)
        assert err.value.status == 429
        assert await accounts.login(engine, ring, settings, email="dana@example.com", password=PASSWORD,
                                    address="192.0.2.10", now=T0)

    async def test_logins_and_enrollment_are_audited(self, engine, ring, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """Enrollment, acceptance, a failed and a good login each leave an audit record; the chain holds."""
        await self._login(engine, ring, settings, clinic_row)
        with pytest.raises(AccountError):
            await accounts.login(engine, ring, settings, email="dana@example.com", password="wrong password!",
                                 address="10.0.0.1", now=T0)
        from micare_bot.store.schema import AuditEntry

        async with db.read(engine) as conn:
            actions = (await conn.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars().all()
        assert actions == ["account.enroll", "account.accept_invitation", "login.ok", "login.failed"]
        assert (await audit.verify(engine)).ok


class TestKeyRotation:
    async def test_rotation_reseals_everything_under_the_new_key(self, engine, settings, clinic_row) -> None:  # type: ignore[no-untyped-def]
        """After rotate(), every value opens with the new key alone, and logins still work."""
        import secrets

        from micare_bot.store import rotate

        old_key, new_key, index_key = (secrets.token_bytes(32) for _ in range(3))
        old = Keyring({"old": old_key}, "old", index_key)
        inv = await enroll(engine, old, settings, clinic_row)
        await accounts.accept_invitation(engine, inv.token, PASSWORD, now=T0)
        both = Keyring({"old": old_key, "new": new_key}, "new", index_key)
        assert await rotate.count_stale(engine, both) > 5
        counts = await rotate.rotate(engine, both, now=T0, batch=2)
        assert counts["accounts.name_enc"] == 1 and counts["outbox.recipient_enc"] == 1
        assert await rotate.count_stale(engine, both) == 0
        only_new = Keyring({"new": new_key}, "new", index_key)
        async with db.read(engine) as conn:
            rec = await accounts.load_patient(conn, only_new, inv.account_id, date(2026, 11, 16))
        assert rec.context.name == "Dana Reyes" and rec.context.dependents[0].name == "Emma"
        assert await accounts.login(engine, only_new, settings, email="dana@example.com", password=PASSWORD,
                                    address="10.0.0.1", now=T0)
        assert (await audit.verify(engine)).ok
