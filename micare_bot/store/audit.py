"""Append-only, hash-chained audit log.

Each record's hash is ``sha256(prev_hash + canonical JSON of the record)``.
Appends take the single ``audit_head`` row (row lock on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already serialises writers), so sequence numbers have no
gaps and the chain has no forks, and each record commits in the same
transaction as the action it records. ``verify`` recomputes the chain and names
the first record that does not match: an edited field, a deleted or inserted
row, or a truncated tail (the head no longer matches the last row).

Records hold ids, actions and counts — never message text, names or addresses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import db
from .schema import AuditEntry, AuditHead

GENESIS = "0" * 64


def record_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
                target_type: str | None, target_id: str | None, detail: str) -> str:
    canonical = json.dumps(
        [seq, at.isoformat(timespec="microseconds"), actor, action, target_type, target_id, detail],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256((prev_hash + canonical).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Record:
    """One audit record to append: who did what to which object; detail without PHI."""

    actor: str
    action: str
    target_type: str | None = None
    target_id: str | None = None
    detail: Mapping[str, Any] | None = None


_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_INSERT = insert(AuditEntry)
_MOVE_HEAD = update(AuditHead).where(AuditHead.id == 1)


def append_many_sync(conn: Connection, at: datetime, records: Sequence[Record]) -> int:
    """Append records in order inside the caller's write transaction; returns the last sequence.

    Three statements however many records: read (and lock) the head, insert, move the head
    (on PostgreSQL the last two in one). Call it last in a transaction: on PostgreSQL the
    head stays locked until commit, and every writer in every process waits for it.
    """
    if not records:
        raise ValueError("nothing to append")
    head = conn.execute(db.for_update(conn, _HEAD)).one()
    seq, prev = head.seq, head.hash
    at = at.astimezone(timezone.utc)  # as it reads back from the database
    rows = []
    for rec in records:
        seq += 1
        detail_json = json.dumps(dict(rec.detail or {}), sort_keys=True, separators=(",", ":"))
        digest = record_hash(prev, seq, at, rec.actor, rec.action, rec.target_type, rec.target_id, detail_json)
        rows.append({"seq": seq, "at": at, "actor": rec.actor, "action": rec.action,
                     "target_type": rec.target_type, "target_id": rec.target_id, "detail": detail_json,
                     "prev_hash": prev, "hash": digest})
        prev = digest
    if db.is_sqlite(conn):
        conn.execute(_INSERT, rows)
        conn.execute(_MOVE_HEAD, {"seq": seq, "hash": prev})
    else:
        # one round trip while the head is locked: the move as a data-modifying CTE of the insert
        move = _MOVE_HEAD.values(seq=seq, hash=prev).cte("move_head")
        conn.execute(insert(AuditEntry).values(rows).add_cte(move))
    return seq


async def append_many(conn: AsyncConnection, at: datetime, records: Sequence[Record]) -> int:
    """``append_many_sync`` on an async connection."""
    return await conn.run_sync(append_many_sync, at, records)


async def append(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one record inside the caller's (write) transaction; returns its sequence."""
    return await append_many(conn, at, [Record(actor, action, target_type, target_id, detail)])


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    first_broken: int | None = None
    reason: str | None = None
    head_hash: str | None = None


async def verify(engine: AsyncEngine, *, batch: int = 1000) -> VerifyResult:
    prev = GENESIS
    expected_seq = 1
    count = 0
    async with db.read(engine) as conn:
        head = (await conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1))).one()
        last_seq = 0
        while True:
            rows = (
                await conn.execute(
                    select(AuditEntry).where(AuditEntry.seq > last_seq).order_by(AuditEntry.seq).limit(batch)
                )
            ).all()
            if not rows:
                break
            for row in rows:
                if row.seq != expected_seq:
                    return VerifyResult(False, count, expected_seq, f"record {expected_seq} is missing")
                if row.prev_hash != prev:
                    return VerifyResult(False, count, row.seq, "does not link to the record before it")
                digest = record_hash(prev, row.seq, row.at, row.actor, row.action, row.target_type,
                                     row.target_id, row.detail)
                if digest != row.hash:
                    return VerifyResult(False, count, row.seq, "contents do not match its hash")
                prev = row.hash
                expected_seq += 1
                count += 1
                last_seq = row.seq
        if head.seq != count or head.hash != prev:
            return VerifyResult(False, count, count + 1 if head.seq > count else head.seq,
                                "the chain head does not match the last record (rows removed or added)")
    return VerifyResult(True, count, head_hash=prev)
