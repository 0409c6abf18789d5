"""Typed application keys shared by the app factory and the handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ..config import Settings
from ..family import Family
from ..gateway import Gateway
from ..store.crypto import Keyring
from .email import OutboxSender

settings = web.AppKey("settings", Settings)
clock = web.AppKey("clock", Callable[[], datetime])
engine = web.AppKey("engine", AsyncEngine)
keyring = web.AppKey("keyring", Keyring)
gateway = web.AppKey("gateway", Gateway)
sender = web.AppKey("sender", OutboxSender)
family = web.AppKey("family", Family)
