"""The outbox sender: delivers e-mails written by transactions, with retry and backoff.

Each due row is *leased* with a conditional UPDATE (works on SQLite and
PostgreSQL, and across processes), sent with aiosmtplib, then marked sent. A
failed attempt (server down, refused, timed out) counts and schedules the next
one after ``backoff * 2**(attempts-1)`` seconds, capped; nothing is dropped
until ``MAX_ATTEMPTS``. The Message-ID is derived from the outbox row, so a
receiving system can drop the one duplicate a crash between "accepted by the
SMTP server" and "marked sent" could cause.

E-mails carry no PHI: the templates take only a link; the subject is fixed
per kind. Log lines name the kind and the row id, never an address.

Without ``MICARE_SMTP_HOST`` the sender logs "would send" and marks the row
sent, so development needs no mail server.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Callable

import aiosmtplib
import jinja2
from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ..background import stop_if_cancelled
from ..config import Settings
from ..store import db
from ..store.crypto import Keyring
from ..store.schema import OutboxMessage, aad

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
SUBJECTS = {
    "invitation": "Your secure messaging invitation",
    "new_message": "You have a new secure message",
    "new_request": "A new request is in your care team's queue",
    "queue_nearly_due": "Requests in your care team's queue are nearly due",
    "queue_overdue": "Requests in your care team's queue are overdue",
    "family_update": "An update about your family members",
}
MAX_ATTEMPTS = 25
LEASE = timedelta(minutes=5)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def backoff(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.outbox_backoff_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.outbox_backoff_max_seconds))


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(directory)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined,
        )
        for kind in SUBJECTS:  # fail at start-up, not at 3 a.m. in the sender
            self.env.get_template(f"{kind}.txt")
            self.env.get_template(f"{kind}.html")

    def render(self, kind: str, payload: dict[str, Any]) -> tuple[str, str, str]:
        text = self.env.get_template(f"{kind}.txt").render(**payload)
        html = self.env.get_template(f"{kind}.html").render(**payload)
        return SUBJECTS[kind], text, html


class OutboxSender:
    def __init__(self, engine: AsyncEngine, keyring: Keyring, settings: Settings, *,
                 clock: Callable[[], datetime] = utcnow, templates: Templates | None = None) -> None:
        self.engine = engine
        self.keyring = keyring
        self.settings = settings
        self.clock = clock
        self.templates = templates or Templates()
        self._wake = asyncio.Event()
        self.sent = 0
        self.failures = 0

    def wake(self) -> None:
        """Look for due e-mails now (after a commit that wrote one)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                handled = await self.send_due()
            except Exception as exc:  # the database may be briefly unreachable
                log.warning("outbox pass failed: %s", type(exc).__name__)
                handled = 0
            stop_if_cancelled()  # aiosmtplib's and the drivers' wait_for may have eaten a shutdown
            if handled:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # lands as the wake-up completes, and the sender then never stops (a hung shutdown)
            try:
                async with asyncio.timeout(self.settings.outbox_poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def send_due(self) -> int:
        """One pass: lease, send and settle up to a batch of due e-mails; returns how many were tried."""
        now = self.clock()
        async with db.read(self.engine) as conn:
            ids = (
                await conn.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                           or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
                    .order_by(OutboxMessage.next_attempt_at)
                    .limit(self.settings.outbox_batch)
                )
            ).scalars().all()
        tried = 0
        for oid in ids:
            row = await self._lease(oid, now)
            if row is not None:
                tried += 1
                await self._deliver(row)
        return tried

    async def _lease(self, oid: str, now: datetime) -> Any:
        # run_write: on SQLite a short synchronous transaction, so the sender never holds the
        # database's one write lock across event-loop round trips while patients' turns wait
        return await db.run_write(self.engine, _lease_tx, oid, now)

    def build(self, row: Any) -> EmailMessage:
        recipient = self.keyring.decrypt_text(row.recipient_enc, aad(OutboxMessage, "recipient_enc", row.id))
        payload = self.keyring.decrypt_json(row.payload_enc, aad(OutboxMessage, "payload_enc", row.id))
        subject, text, html = self.templates.render(row.kind, dict(payload))  # type: ignore[arg-type]
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = recipient
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = f"<{row.id}@micare-bot>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    async def _deliver(self, row: Any) -> None:
        try:
            message = self.build(row)
            if self.settings.smtp_host is None:
                log.info("would send e-mail kind=%s outbox_id=%s (no MICARE_SMTP_HOST)", row.kind, row.id)
            else:
                await aiosmtplib.send(
                    message,
                    hostname=self.settings.smtp_host,
                    port=self.settings.smtp_port,
                    username=self.settings.smtp_username,
                    password=self.settings.smtp_password.reveal() if self.settings.smtp_password else None,
                    start_tls=self.settings.smtp_starttls and not self.settings.smtp_tls,
                    use_tls=self.settings.smtp_tls,
                    timeout=self.settings.smtp_timeout,
                )
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            await self._failed(row, type(exc).__name__)
            return
        await self._settle(row.id, status="sent", attempts=row.attempts + 1, sent_at=self.clock())
        self.sent += 1
        if self.settings.smtp_host is not None:  # without a host, "would send" was logged above
            log.info("sent e-mail kind=%s outbox_id=%s", row.kind, row.id)

    async def _failed(self, row: Any, error: str) -> None:
        attempts = row.attempts + 1
        self.failures += 1
        if attempts >= MAX_ATTEMPTS:
            log.error("gave up on e-mail kind=%s outbox_id=%s after %d attempts (%s)", row.kind, row.id,
                      attempts, error)
            await self._settle(row.id, status="failed", attempts=attempts, last_error=error)
            return
        delay = backoff(self.settings, attempts)
        log.warning("e-mail kind=%s outbox_id=%s attempt %d failed (%s); retry in %.0f s", row.kind, row.id,
                    attempts, error, delay.total_seconds())
        await self._settle(row.id, status="pending", attempts=attempts, last_error=error,
                           next_attempt_at=self.clock() + delay)

    async def _settle(self, oid: str, **values: Any) -> None:
        await db.run_write(self.engine, _settle_tx, oid, values)


def _lease_tx(conn: Connection, oid: str, now: datetime) -> Any:
    result = conn.execute(
        update(OutboxMessage)
        .where(and_(OutboxMessage.id == oid, OutboxMessage.status == "pending",
                    or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)))
        .values(lease_until=now + LEASE)
    )
    if result.rowcount != 1:
        return None  # another sender took it
    return conn.execute(select(OutboxMessage).where(OutboxMessage.id == oid)).one()


def _settle_tx(conn: Connection, oid: str, values: dict[str, Any]) -> None:
    conn.execute(update(OutboxMessage).where(OutboxMessage.id == oid).values(lease_until=None, **values))
