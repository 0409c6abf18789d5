"""Engine set-up, transactions and migrations for SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing with
"database is locked" when a read transaction tries to upgrade. Read
transactions use a plain deferred ``BEGIN`` and never block writers (WAL).

The hot path (``run_write`` / ``run_read``: a chat turn, a conversation start,
the session check) takes a function of a *synchronous* connection. On SQLite it
runs on the event loop's own thread through the standard ``sqlite3`` driver,
behind the in-process writer lock: a turn's dozen statements cost microseconds
each, while through aiosqlite each statement was a round trip to a worker
thread and back through the busy event loop, stretching the time the one
SQLite write lock is held from ~0.5 ms to 10 ms and more under load. Those
connections commit with ``synchronous=NORMAL`` (WAL: durable against an
application crash, and a power cut can lose only the last commits), and a
transaction that files a request (``require_full_sync``) is committed with
``synchronous=FULL`` so a filed request survives a power cut. On PostgreSQL the
same function runs through ``AsyncConnection.run_sync`` on asyncpg.
Everything else (logins, enrollment, staff actions) keeps the aiosqlite
connections, which stay at ``synchronous=FULL``.

On PostgreSQL, write transactions lock the rows they change with
``SELECT … FOR UPDATE`` (see the repositories), so several processes can serve
the same conversations.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import weakref
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, TypeVar

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
WRITE = "micare_write"
SYNC_LEVEL = "micare_synchronous"  # key in a SQLite connection's .info: its PRAGMA synchronous
T = TypeVar("T")

CHECKPOINT_SECONDS = 1.0


class _Checkpointer:
    """Copies the WAL back into the database file from a thread of its own, every second.

    The event-loop connections commit at ``synchronous=NORMAL`` with SQLite's
    automatic checkpoint turned off: otherwise every thousandth page a patient's
    turn would pay for copying the log and two fsyncs (~10 ms) on the loop's
    thread. A PASSIVE checkpoint never waits for readers or writers; the next
    writer after a complete one starts the WAL file over, so it stays small.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="sqlite-checkpoint",
                                            daemon=True)
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            while not stop.wait(CHECKPOINT_SECONDS):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # retried in a second; the WAL only grows meanwhile
                    log.warning("WAL checkpoint failed (%s)", type(exc).__name__)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


@dataclass
class _SyncSQLite:
    engine: Engine
    checkpointer: _Checkpointer | None


# SQLite only: the synchronous engine beside each async engine, used on the event loop's thread
_sync_engines: "weakref.WeakKeyDictionary[AsyncEngine, _SyncSQLite]" = weakref.WeakKeyDictionary()


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10)
        _configure_sqlite(engine.sync_engine, "FULL")
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # one connection is enough: run_write/run_read never yield while they hold it
        sync = create_engine(sync_url, pool_size=1, max_overflow=4,
                             connect_args={"check_same_thread": False})
        path = sync_url.database
        checkpointer = _Checkpointer(path) if path and path != ":memory:" else None
        _configure_sqlite(sync, "NORMAL", autocheckpoint=checkpointer is None)
        _sync_engines[engine] = _SyncSQLite(sync, checkpointer)

        @event.listens_for(engine.sync_engine, "engine_disposed")
        def on_dispose(_: Any) -> None:
            if checkpointer is not None:
                checkpointer.stop()
            sync.dispose()

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)


def _configure_sqlite(engine: Engine, synchronous: str, *, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # take over transaction control from the sqlite3 module (SQLAlchemy docs recipe)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        record.info[SYNC_LEVEL] = synchronous

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def is_sqlite(conn: AsyncConnection | Connection) -> bool:
    return conn.dialect.name == "sqlite"


_sqlite_writers: "weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _writer_lock(engine: AsyncEngine) -> asyncio.Lock:
    lock = _sqlite_writers.get(engine)
    if lock is None:
        lock = _sqlite_writers[engine] = asyncio.Lock()
    return lock


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
    async with _writer_lock(engine):
        async with engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE: True})
            async with conn.begin():
                yield conn


@asynccontextmanager
async def read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        async with conn.begin():
            yield conn


class _FullSyncNeeded(Exception):
    """Raised inside a SQLite transaction committed at synchronous=NORMAL that must be FULL."""


def require_full_sync(conn: Connection) -> None:
    """Call inside a ``run_write`` function before a write that must survive a power cut.

    SQLite cannot change ``synchronous`` inside a transaction, so on a NORMAL
    connection this abandons the transaction; ``run_write`` rolls it back and
    runs the function again at FULL (the function must be free of side effects
    outside the database). A no-op on PostgreSQL and on FULL connections.
    """
    if conn.info.get(SYNC_LEVEL, "FULL") != "FULL":
        raise _FullSyncNeeded()


def _set_synchronous(conn: Connection, level: str) -> None:
    # on the DBAPI connection: through SQLAlchemy the PRAGMA would open a transaction first
    conn.connection.dbapi_connection.execute(f"PRAGMA synchronous={level}")  # type: ignore[union-attr]
    conn.info[SYNC_LEVEL] = level


async def _sqlite_write(sync: Engine, fn: Callable[..., T], args: tuple[Any, ...], durable: bool) -> T:
    with sync.connect() as conn:
        conn.execution_options(**{WRITE: True})
        if not durable:
            try:
                with conn.begin():
                    return fn(conn, *args)
            except _FullSyncNeeded:
                pass
        _set_synchronous(conn, "FULL")
        try:
            trans = conn.begin()
            try:
                result = fn(conn, *args)
            except BaseException:
                trans.rollback()
                raise
            await _commit_off_loop(trans)
            return result
        finally:
            _set_synchronous(conn, "NORMAL")


async def _commit_off_loop(trans: Any) -> None:
    """COMMIT in a worker thread: at FULL it waits for an fsync (milliseconds on many disks),
    during which the event loop keeps serving; the sqlite3 module releases the GIL meanwhile.
    The caller still holds the writer lock, as SQLite holds its write lock until the commit ends."""
    future = _committer.submit(trans.commit)
    try:
        await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        future.result()  # never give back the lock or the connection in the middle of a commit
        raise


_committer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")


async def run_write(engine: AsyncEngine, fn: Callable[..., T], *args: Any, durable: bool = False) -> T:
    """``fn(conn, *args)`` in one write transaction on a synchronous connection; its result.

    ``durable=True`` says the transaction will probably call ``require_full_sync``
    (SQLite: start at FULL instead of finding out and running it again).

    SQLite: after the in-process writer lock, on this thread, without yielding
    to the event loop until it commits (``BEGIN IMMEDIATE`` holds the database's
    write lock, so hold it for as little as possible); only a FULL commit, which
    waits for the disk, is handed to a thread. PostgreSQL: through
    ``run_sync`` on an asyncpg connection. Committed on success, rolled back on
    any exception.
    """
    sync = _sync_engines.get(engine)
    if sync is not None:
        if sync.checkpointer is not None:
            sync.checkpointer.ensure_running()
        async with _writer_lock(engine):
            return await _sqlite_write(sync.engine, fn, args, durable)
    async with engine.connect() as conn:
        async with conn.begin():
            return await conn.run_sync(fn, *args)


async def run_read(engine: AsyncEngine, fn: Callable[..., T], *args: Any) -> T:
    """``fn(conn, *args)`` on a synchronous connection, for short lookups (see ``run_write``).

    SQLite: one read transaction on this thread. PostgreSQL: each statement on its
    own (autocommit), which spares the BEGIN and COMMIT round trips; a function
    needing one snapshot across several statements should use ``read``.
    """
    sync = _sync_engines.get(engine)
    if sync is not None:
        with sync.engine.connect() as conn:
            with conn.begin():
                return fn(conn, *args)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await conn.run_sync(fn, *args)


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
    await conn.execute(_upsert_stmt(conn, model, values, keys, update))


def upsert_sync(conn: Connection, model: Any, values: dict[str, Any], keys: list[str],
                update: dict[str, Any]) -> None:
    """``upsert`` on a synchronous connection."""
    conn.execute(_upsert_stmt(conn, model, values, keys, update))


def _upsert_stmt(conn: AsyncConnection | Connection, model: Any, values: dict[str, Any], keys: list[str],
                 update: dict[str, Any]) -> Any:
    if is_sqlite(conn):
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    stmt = dialect_insert(model).values(**values)
    return stmt.on_conflict_do_update(index_elements=keys, set_=update)


def head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()
