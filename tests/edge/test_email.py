"""The outbox sender against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from email import message_from_bytes
from email.message import Message
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from micare_bot import accounts
from micare_bot.channels.email import OutboxSender, backoff
from micare_bot.config import Settings
from micare_bot.store import db
from micare_bot.store.crypto import Keyring, keyring_from_settings
from micare_bot.store.schema import OutboxMessage

from .conftest import CancelEatingPass, SmtpSink, free_port, stops

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int) -> Settings:
    """Settings pointing at a loopback SMTP server without TLS."""
    return settings.with_(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_starttls=False, smtp_timeout=2.0,
                          mail_from="clinic@example.org")


@pytest.fixture
def sink() -> SmtpSink:
    return SmtpSink()


def start_server(sink: SmtpSink, port: int) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def server(sink: SmtpSink, smtp_port: int) -> Iterator[Controller]:
    """A running aiosmtpd server on loopback."""
    controller = start_server(sink, smtp_port)
    yield controller
    controller.stop()


async def invite(engine: AsyncEngine, ring: Keyring, settings: Settings, clinic_row) -> accounts.Enrollment:  # type: ignore[no-untyped-def]
    return await accounts.enroll(engine, ring, settings, clinic_row, name="Dana Reyes", email="dana@example.com",
                                 now=T0, dob=date(1992, 3, 4), medications=["Lisinopril 10 mg tablet"])


def parsed(envelope: object) -> Message:
    return message_from_bytes(envelope.original_content)  # type: ignore[attr-defined]


async def outbox_row(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    async with db.read(engine) as conn:
        return (await conn.execute(select(OutboxMessage))).one()


class TestSender:
    async def test_invitation_arrives_without_phi(self, engine, mail_settings, clinic_row, sink, server) -> None:  # type: ignore[no-untyped-def]
        """The invitation e-mail has the link, a text and an HTML part, and no name or medication."""
        ring = keyring_from_settings(mail_settings)
        inv = await invite(engine, ring, mail_settings, clinic_row)
        sender = OutboxSender(engine, ring, mail_settings)
        assert await sender.send_due() == 1
        assert len(sink.messages) == 1
        envelope = sink.messages[0]
        assert envelope.rcpt_tos == ["dana@example.com"]  # type: ignore[attr-defined]
        raw = envelope.original_content.decode()  # type: ignore[attr-defined]
        assert inv.link in raw
        for phi in ("Dana", "Reyes", "Lisinopril", "1992"):
            assert phi not in raw
        msg = parsed(envelope)
        assert {p.get_content_type() for p in msg.walk()} >= {"text/plain", "text/html"}
        row = await outbox_row(engine)
        assert row.status == "sent" and row.attempts == 1
        assert await sender.send_due() == 0

    async def test_outage_then_recovery_delivers_exactly_once(self, engine, mail_settings, clinic_row, sink,
                                                              smtp_port) -> None:  # type: ignore[no-untyped-def]
        """SMTP down: the e-mail waits with backoff; SMTP up: it arrives once, and never again."""
        ring = keyring_from_settings(mail_settings)
        await invite(engine, ring, mail_settings, clinic_row)
        sender = OutboxSender(engine, ring, mail_settings)
        assert await sender.send_due() == 1  # connection refused
        row = await outbox_row(engine)
        assert row.status == "pending" and row.attempts == 1 and row.last_error
        assert await sender.send_due() == 0  # backing off
        controller = start_server(sink, smtp_port)
        try:
            for _ in range(100):
                await asyncio.sleep(0.02)
                await sender.send_due()
                if sink.messages:
                    break
            for _ in range(5):
                await asyncio.sleep(0.06)
                await sender.send_due()
        finally:
            controller.stop()
        assert len(sink.messages) == 1
        row = await outbox_row(engine)
        assert row.status == "sent" and row.attempts == 2

    async def test_background_loop_sends_when_woken(self, engine, mail_settings, clinic_row, sink, server) -> None:  # type: ignore[no-untyped-def]
        """The running sender delivers a newly committed e-mail promptly after wake()."""
        ring = keyring_from_settings(mail_settings)
        sender = OutboxSender(engine, ring, mail_settings.with_(outbox_poll_seconds=30.0))
        task = asyncio.create_task(sender.run())
        try:
            await asyncio.sleep(0.05)
            await invite(engine, ring, mail_settings, clinic_row)
            sender.wake()
            for _ in range(100):
                if sink.messages:
                    break
                await asyncio.sleep(0.02)
        finally:
            assert await stops(task)
        assert len(sink.messages) == 1

    async def test_stops_when_cancelled_just_as_it_is_woken(self, engine, mail_settings) -> None:  # type: ignore[no-untyped-def]
        """A shutdown that lands on a wake-up still stops the sender (asyncio.wait_for on
        Python 3.11 swallowed that cancel, and the service never finished shutting down)."""
        sender = OutboxSender(engine, keyring_from_settings(mail_settings), mail_settings.with_(outbox_poll_seconds=30.0))
        task = asyncio.create_task(sender.run())
        await asyncio.sleep(0.2)  # past its first pass, waiting to be woken
        sender.wake()
        await asyncio.sleep(0)
        assert await stops(task)

    async def test_stops_when_a_library_swallows_the_cancel(self, engine, mail_settings,
                                                              monkeypatch) -> None:  # type: ignore[no-untyped-def]
        """A shutdown that lands as an SMTP reply arrives still stops the sender: Python 3.11's
        wait_for inside aiosmtplib returns the reply and drops the cancel (a CI run hung here)."""
        sender = OutboxSender(engine, keyring_from_settings(mail_settings), mail_settings.with_(outbox_poll_seconds=30.0))
        eating = CancelEatingPass(0)
        monkeypatch.setattr(sender, "send_due", eating)
        task = asyncio.create_task(sender.run())
        await eating.started.wait()
        assert await stops(task, seconds=2)

    async def test_without_smtp_host_mail_is_logged_without_address(self, engine, settings, clinic_row,
                                                                     caplog) -> None:  # type: ignore[no-untyped-def]
        """No MICARE_SMTP_HOST: 'would send' is logged with kind and id only, and the row is settled."""
        import logging

        ring = keyring_from_settings(settings)
        await invite(engine, ring, settings, clinic_row)
        with caplog.at_level(logging.INFO, logger="micare_bot"):
            assert await OutboxSender(engine, ring, settings).send_due() == 1
        assert "would send" in caplog.text and "invitation" in caplog.text
        assert "dana" not in caplog.text.lower()
        assert (await outbox_row(engine)).status == "sent"


def test_backoff_doubles_and_caps() -> None:
    """Retry delays double from the base and stop at the cap."""
    s = Settings.from_env({"MICARE_OUTBOX_BACKOFF_SECONDS": "30", "MICARE_OUTBOX_BACKOFF_MAX_SECONDS": "3600"})
    assert [backoff(s, n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
