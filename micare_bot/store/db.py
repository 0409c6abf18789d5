"""Engine set-up, transactions and migrations for SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed filing survives a
power cut) and a busy timeout; write transactions start with ``BEGIN
IMMEDIATE`` so two writers queue on the lock instead of failing with "database
is locked" when a read transaction tries to upgrade. Read transactions use a
plain deferred ``BEGIN`` and never block writers (WAL).

On PostgreSQL, write transactions lock the rows they change with
``SELECT … FOR UPDATE`` (see the repositories), so several processes can serve
the same conversations.
"""

from __future__ import annotations

import asyncio
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
WRITE = "micare_write"


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # take over transaction control from the sqlite3 module (SQLAlchemy docs recipe)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def is_sqlite(conn: AsyncConnection | Connection) -> bool:
    return conn.dialect.name == "sqlite"


_sqlite_writers: "weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock]" = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction: committed on success, rolled back on any exception.

    On SQLite, writers of one process first queue on an asyncio lock: SQLite's
    busy handler sleeps in growing steps while another connection holds the
    write lock, which under load turns milliseconds into seconds of latency.
    Writers in other processes still wait through ``busy_timeout``.
    """
    if engine.dialect.name != "sqlite":
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE: True})
            async with conn.begin():
                yield conn
        return
    lock = _sqlite_writers.get(engine)
    if lock is None:
        lock = _sqlite_writers[engine] = asyncio.Lock()
    async with lock:
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE: True})
            async with conn.begin():
                yield conn


@asynccontextmanager
async def read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        async with conn.begin():
            yield conn


def for_update(conn: AsyncConnection, stmt: Any) -> Any:
    """Row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock."""
    return stmt if is_sqlite(conn) else stmt.with_for_update()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    from alembic import command

    async with write(engine) as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with read(engine) as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def ping(engine: AsyncEngine) -> None:
    async with read(engine) as conn:
        await conn.execute(text("SELECT 1"))


async def upsert(conn: AsyncConnection, model: Any, values: dict[str, Any], keys: list[str],
                 update: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update, on either backend."""
    if is_sqlite(conn):
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    stmt = dialect_insert(model).values(**values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update))


def head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()
