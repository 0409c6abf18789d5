"""Schema, migrations, SQLite durability settings and the audit chain, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.store import audit, db
from micare_bot.store.schema import Base

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)


class TestMigrations:
    async def test_upgrade_matches_the_models(self, engine: AsyncEngine) -> None:
        """After `db upgrade` the schema has no difference from the SQLAlchemy models."""
        async with db.read(engine) as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == []
        assert await db.current_revision(engine) == db.head_revision()

    async def test_upgrade_twice_is_harmless(self, engine: AsyncEngine) -> None:
        """Running the upgrade again on a current schema changes nothing."""
        await db.upgrade(engine)
        assert await db.current_revision(engine) == db.head_revision()


class TestSqliteDurability:
    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    async def test_wal_full_sync_and_busy_timeout(self, engine: AsyncEngine) -> None:
        """Every SQLite connection runs WAL, synchronous=FULL and a busy timeout."""
        async with db.read(engine) as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000

    @pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
    async def test_concurrent_writers_queue_instead_of_failing(self, engine: AsyncEngine) -> None:
        """Forty concurrent read-then-write transactions all commit (BEGIN IMMEDIATE)."""
        import asyncio

        async def bump(i: int) -> None:
            async with db.write(engine) as conn:
                await audit.append(conn, at=T0 + timedelta(seconds=i), actor="test", action="bump")

        await asyncio.gather(*(bump(i) for i in range(40)))
        result = await audit.verify(engine)
        assert result.ok and result.records == 40


class TestAudit:
    async def _fill(self, engine: AsyncEngine, n: int) -> None:
        for i in range(n):
            async with db.write(engine) as conn:
                await audit.append(conn, at=T0 + timedelta(seconds=i), actor=f"account:{i}", action="phi.read",
                                   target_type="conversation", target_id=f"c{i}", detail={"n": i})

    async def test_intact_chain_verifies(self, engine: AsyncEngine) -> None:
        """A chain of appended records verifies and reports its length."""
        await self._fill(engine, 5)
        result = await audit.verify(engine)
        assert result.ok and result.records == 5 and result.head_hash

    async def test_log_is_append_only_in_the_database(self, engine: AsyncEngine) -> None:
        """UPDATE and DELETE on the audit log are refused by a trigger."""
        await self._fill(engine, 1)
        for stmt in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError):
                async with db.write(engine) as conn:
                    await conn.execute(text(stmt))

    async def _tamper(self, engine: AsyncEngine, stmt: str) -> None:
        """What an attacker with table-owner rights would do: drop the guard, edit."""
        async with db.write(engine) as conn:
            if conn.dialect.name == "sqlite":
                await conn.execute(text("DROP TRIGGER audit_log_no_update"))
                await conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            else:
                await conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
            await conn.execute(text(stmt))

    async def test_edited_row_is_named(self, engine: AsyncEngine) -> None:
        """Changing one field of record 3 breaks the chain at record 3."""
        await self._fill(engine, 5)
        await self._tamper(engine, "UPDATE audit_log SET target_id = 'other' WHERE seq = 3")
        result = await audit.verify(engine)
        assert not result.ok and result.first_broken == 3

    async def test_deleted_row_is_named(self, engine: AsyncEngine) -> None:
        """Deleting record 2 is reported as record 2 missing."""
        await self._fill(engine, 4)
        await self._tamper(engine, "DELETE FROM audit_log WHERE seq = 2")
        result = await audit.verify(engine)
        assert not result.ok and result.first_broken == 2

    async def test_truncated_tail_is_detected(self, engine: AsyncEngine) -> None:
        """Deleting the newest record is caught by the chain head."""
        await self._fill(engine, 4)
        await self._tamper(engine, "DELETE FROM audit_log WHERE seq = 4")
        result = await audit.verify(engine)
        assert not result.ok and result.first_broken == 4
