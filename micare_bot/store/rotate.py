"""Key rotation: re-seal every stored value under the active key, in small batches.

Each batch is its own short write transaction that locks the rows it rewrites
(``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so the service
keeps running: a turn either sees the old ciphertext (still readable: the old
key stays in the keyring) or the new one. Values already under the active key
are left alone, so an interrupted rotation is simply run again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from . import audit, db
from .crypto import Keyring
from .schema import ENCRYPTED_COLUMNS, aad


async def rotate(engine: AsyncEngine, keyring: Keyring, *, now: datetime, batch: int = 200,
                 actor: str = "cli") -> dict[str, int]:
    """Re-seal values not under the active key; returns how many per table.column."""
    counts: dict[str, int] = {}
    for model, column in ENCRYPTED_COLUMNS:
        col = getattr(model, column)
        pk = model.id  # type: ignore[attr-defined]
        last = ""
        done = 0
        while True:
            async with db.write(engine) as conn:
                rows = (
                    await conn.execute(
                        db.for_update(conn, select(pk, col).where(pk > last, col.is_not(None))
                                      .order_by(pk).limit(batch))
                    )
                ).all()
                for row_id, token in rows:
                    if keyring.needs_rotation(token):
                        context = aad(model, column, row_id)
                        fresh = keyring.encrypt(keyring.decrypt(token, context), context)
                        await conn.execute(update(model).where(pk == row_id).values({column: fresh}))
                        done += 1
            if len(rows) < batch:
                break
            last = rows[-1][0]
        counts[f"{model.__tablename__}.{column}"] = done
    async with db.write(engine) as conn:
        await audit.append(conn, at=now, actor=actor, action="keys.rotate", detail={
            "active_key": keyring.active, "resealed": sum(counts.values())})
    return counts


async def count_stale(engine: AsyncEngine, keyring: Keyring) -> int:
    """How many stored values are sealed under a key other than the active one."""
    stale = 0
    async with db.read(engine) as conn:
        for model, column in ENCRYPTED_COLUMNS:
            col = getattr(model, column)
            for (token,) in (await conn.execute(select(col).where(col.is_not(None)))).all():
                stale += keyring.needs_rotation(token)
    return stale
