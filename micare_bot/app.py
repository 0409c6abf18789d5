"""The aiohttp application factory: settings in, a wired app out.

Resources open and close in ``cleanup_ctx`` generators: the database engine,
keyring and clinic settings (checked at start-up: a bad clinic file, missing
keys or an un-migrated database stop the server before it listens), then the
outbox sender task.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import AsyncIterator, Callable

from aiohttp import web

from . import conversation as core
from .channels import keys as K
from .channels.email import OutboxSender
from .channels.family_web import setup_family_routes
from .channels.web import error_middleware, headers_middleware, setup_routes
from .channels.quality_web import setup_quality
from .channels.staff_pages import setup_staff_pages
from .channels.staff_web import escalation_ctx, setup_staff_api
from .channels.widget import setup_widget
from .clinic_settings import load_clinic_file
from .config import ConfigError, Settings
from .family import Family
from .gateway import Gateway
from .models import PatientContext
from .store import db
from .store.clinics import sync_clinic
from .store.crypto import keyring_from_settings

log = logging.getLogger(__name__)

# re-exported: the typed keys of this app
settings_key, clock_key, engine_key = K.settings, K.clock, K.engine
keyring_key, gateway_key, sender_key = K.keyring, K.gateway, K.sender


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[K.settings]
    clinic = load_clinic_file(settings.clinic_file)
    keyring = keyring_from_settings(settings)
    # load the core's data files now: a bad one stops start-up instead of failing a patient's turn
    probe = PatientContext(name="Start Up")
    core.greeting(probe, clinic.context)
    core.handle(None, probe, "hello", clinic=clinic.context, now=app[K.clock]())
    engine = db.make_engine(settings.database_url)
    try:
        head = db.head_revision()
        current = await db.current_revision(engine)
        if current != head:
            raise ConfigError(f"database schema is at {current or 'nothing'}, not {head}: run `micare-bot db upgrade`")
        async with db.write(engine) as conn:
            row = await sync_clinic(conn, clinic, app[K.clock]())
        app[K.engine] = engine
        app[K.keyring] = keyring
        gateway = Gateway(engine, keyring, settings, {row.id: clinic})
        app[K.gateway] = gateway
        app[K.family] = Family(engine, keyring, settings, {row.id: clinic}, on_change=gateway.forget)
        yield
    finally:
        await engine.dispose()


async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
    sender = OutboxSender(app[K.engine], app[K.keyring], app[K.settings], clock=app[K.clock])
    app[K.sender] = sender
    task = asyncio.create_task(sender.run(), name="outbox-sender")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow, send_mail: bool = True
               ) -> web.Application:
    """The gateway. ``clock`` is injectable for tests; ``send_mail=False`` leaves the outbox sender and the
    queue's escalation task to others."""
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[error_middleware, headers_middleware])
    app[K.settings] = settings
    app[K.clock] = clock
    app.cleanup_ctx.append(database_ctx)
    if send_mail:
        app.cleanup_ctx.append(outbox_ctx)
        app.cleanup_ctx.append(escalation_ctx)
    setup_routes(app)
    setup_widget(app)
    setup_staff_api(app)
    setup_staff_pages(app)
    setup_family_routes(app)
    setup_quality(app)
    return app
