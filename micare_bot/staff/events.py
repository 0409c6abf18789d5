"""Helpers for ``request_events`` shared by the queue and the escalation task."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.schema import RequestEvent


async def next_event_seq(conn: AsyncConnection, request_id: str) -> int:
    """The next per-request event number (orders the events of one instant)."""
    current = (await conn.execute(select(func.coalesce(func.max(RequestEvent.seq), 0))
                                  .where(RequestEvent.request_id == request_id))).scalar_one()
    return int(current) + 1
