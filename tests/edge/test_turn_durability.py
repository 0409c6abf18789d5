"""The fast turn path keeps its promises: a filing commits at synchronous=FULL on SQLite,
other turns at NORMAL, and a transaction run again at FULL writes everything once."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot.app import gateway_key
from micare_bot.store import audit, db
from micare_bot.store.schema import AuditEntry, CareRequest, OutboxMessage, Turn

from .test_web import REFILL, Patient, answer_for, client, clock, count, new_patient, say, start  # noqa: F401

AT = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)
FULL, NORMAL = 2, 1  # PRAGMA synchronous values


def _level(conn: Connection) -> int:
    return int(conn.execute(text("PRAGMA synchronous")).scalar_one())


async def test_sqlite_commits_chat_at_normal_and_filings_at_full(tmp_path: Any) -> None:
    engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'speed.db'}")
    await db.upgrade(engine)
    runs: list[int] = []

    def plain(conn: Connection) -> int:
        runs.append(_level(conn))
        audit.append_many_sync(conn, AT, [audit.Record("test", "chat")])
        return runs[-1]

    def filing(conn: Connection) -> int:
        runs.append(_level(conn))
        db.require_full_sync(conn)  # a filed request must survive a power cut
        audit.append_many_sync(conn, AT, [audit.Record("test", "file")])
        return runs[-1]

    try:
        assert await db.run_write(engine, plain) == NORMAL
        runs.clear()
        # not announced: run once at NORMAL, abandoned, run again at FULL
        assert await db.run_write(engine, filing) == FULL
        assert runs == [NORMAL, FULL]
        runs.clear()
        # announced: straight at FULL
        assert await db.run_write(engine, filing, durable=True) == FULL
        assert runs == [FULL]
        # and the connection is back at NORMAL afterwards
        assert await db.run_write(engine, plain) == NORMAL
        # the abandoned first run left nothing behind: four records, a sound chain
        async with db.read(engine) as conn:
            actions = (await conn.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars().all()
        assert actions == ["chat", "file", "file", "chat"]
        assert (await audit.verify(engine)).ok
    finally:
        await engine.dispose()


async def test_a_failed_write_rolls_back_and_the_next_one_works(tmp_path: Any) -> None:
    engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'speed.db'}")
    await db.upgrade(engine)

    def boom(conn: Connection) -> None:
        audit.append_many_sync(conn, AT, [audit.Record("test", "lost")])
        raise RuntimeError("after the write")

    def boom_at_full(conn: Connection) -> None:
        db.require_full_sync(conn)
        audit.append_many_sync(conn, AT, [audit.Record("test", "lost")])
        raise RuntimeError("after the write")

    try:
        for fn in (boom, boom_at_full):
            with pytest.raises(RuntimeError):
                await db.run_write(engine, fn)
        await db.run_write(engine, lambda conn: audit.append_many_sync(conn, AT, [audit.Record("test", "kept")]))
        async with db.read(engine) as conn:
            actions = (await conn.execute(select(AuditEntry.action))).scalars().all()
        assert actions == ["kept"]
        assert (await audit.verify(engine)).ok
    finally:
        await engine.dispose()


async def test_filing_a_process_did_not_see_coming_is_written_once(client: TestClient, engine: AsyncEngine) -> None:
    """The read-back answered in a process that did not serve the turn before it (no FULL hint):
    one request, one notice to the care team, one turn each, a sound audit chain."""
    p: Patient = await new_patient(client)
    cid = (await start(client, p))["conversation_id"]
    result = await (await say(client, p, cid, "I need my losartan refilled")).json()
    for _ in range(10):
        if result["awaiting"] == "confirm":
            break
        result = await (await say(client, p, cid, answer_for(result, REFILL))).json()
    assert result["awaiting"] == "confirm"
    client.server.app[gateway_key]._awaiting.clear()  # as if another process had served the turns so far
    resp = await say(client, p, cid, "yes")
    assert resp.status == 200, await resp.text()
    filed = await resp.json()
    assert filed["status"] == "filed" and filed["request_id"]
    assert await count(engine, CareRequest) == 1
    async with db.read(engine) as conn:
        notices = (await conn.execute(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.kind == "new_request"))).scalar_one()
        seqs = (await conn.execute(select(Turn.seq).where(Turn.conversation_id == cid)
                                   .order_by(Turn.seq))).scalars().all()
    assert notices == 1
    assert seqs == list(range(len(seqs)))
    assert (await audit.verify(engine)).ok
