"""Fixtures for the edge tests: real databases (SQLite always, PostgreSQL when
MICARE_TEST_DATABASE_URL is set), real keys, a real app."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.config import Settings
from micare_bot.store import db
from micare_bot.store.crypto import Keyring

PG_URL = os.environ.get("MICARE_TEST_DATABASE_URL")
PG_SKIP = "PostgreSQL tests need MICARE_TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(not PG_URL, reason=PG_SKIP)),
]


def b64key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def keyring() -> Keyring:
    """A fresh two-key keyring (k2 active) with its own index key."""
    return Keyring({"k1": secrets.token_bytes(32), "k2": secrets.token_bytes(32)}, "k2", secrets.token_bytes(32))


async def reset_postgres(url: str) -> None:
    """Drop everything in the test database's public schema."""
    engine = db.make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _admin(url: str, *statements: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = await asyncpg.connect(user=u.username, password=u.password, host=u.host, port=u.port or 5432,
                                 database=u.database)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of this test run's own next to MICARE_TEST_DATABASE_URL, dropped at the end,
    so two test runs on one PostgreSQL server never wipe each other's tables."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    base = make_url(PG_URL)
    name = f"{base.database}_edge_{os.getpid()}"
    def admin(*statements: str) -> None:  # in a thread: the fixture may be set up inside a running loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _admin(PG_URL, *statements)).result()

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'micare.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        await reset_postgres(url)
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database."""
    eng = db.make_engine(database_url)
    await db.upgrade(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an app under test: real keys, no SMTP, a fast outbox."""
    return Settings.from_env(
        {
            "MICARE_DATABASE_URL": database_url,
            "MICARE_KEYS": f"k1:{b64key()}",
            "MICARE_INDEX_KEY": b64key(),
            "MICARE_OUTBOX_POLL_SECONDS": "0.05",
            "MICARE_OUTBOX_BACKOFF_SECONDS": "0.05",
        }
    )


@pytest.fixture
def clinic_settings():  # type: ignore[no-untyped-def]
    """The packaged demo clinic's settings."""
    from micare_bot.clinic_settings import load_clinic_file
    from micare_bot.config import DEMO_CLINIC_FILE

    return load_clinic_file(DEMO_CLINIC_FILE)


@pytest.fixture
async def clinic_row(engine: AsyncEngine, clinic_settings):  # type: ignore[no-untyped-def]
    """The demo clinic and its care team, written to the database."""
    from datetime import datetime, timezone

    from micare_bot.store.clinics import sync_clinic

    async with db.write(engine) as conn:
        return await sync_clinic(conn, clinic_settings, datetime(2026, 11, 16, 15, tzinfo=timezone.utc))


class SmtpSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[object] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def stops(task: asyncio.Task[None], seconds: float = 5.0) -> bool:
    """Cancel ``task``; whether it ended cancelled within ``seconds`` (a hung sender fails the
    test instead of hanging the run: ``wait_for`` would wait for it forever on Python 3.11)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return task in done and task.cancelled()


class CancelEatingPass:
    """One pass of a background loop that drops a cancel and returns ``result``, as Python 3.11's
    ``wait_for`` (inside aiosmtplib and the database drivers) does when a cancel and the reply meet."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.started = asyncio.Event()

    async def __call__(self) -> object:
        self.started.set()
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            pass
        return self.result
