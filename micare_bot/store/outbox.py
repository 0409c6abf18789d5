"""The transactional outbox: e-mails are rows written with the event behind them.

``enqueue`` runs inside the caller's transaction, so an invitation or a
notification exists exactly when its event committed. The sender
(``channels/email.py``) leases due rows, sends, and marks them sent; a failed
attempt schedules the next one with exponential backoff.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .crypto import Keyring
from .schema import OutboxMessage, aad

KINDS = frozenset({"invitation", "new_request", "new_message",
                   "queue_nearly_due", "queue_overdue"})  # staff queue escalation (staff/escalation.py)


async def enqueue(conn: AsyncConnection, keyring: Keyring, *, kind: str, recipient: str,
                  payload: Mapping[str, Any], now: datetime) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    oid = str(uuid.uuid4())
    await conn.execute(
        insert(OutboxMessage).values(
            id=oid,
            kind=kind,
            recipient_enc=keyring.encrypt(recipient, aad(OutboxMessage, "recipient_enc", oid)),
            payload_enc=keyring.encrypt_json(dict(payload), aad(OutboxMessage, "payload_enc", oid)),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return oid
