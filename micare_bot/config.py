"""Service settings: one frozen object built from a mapping (normally ``os.environ``).

Tests build ``Settings.from_env({...})`` and never touch the process
environment. Secrets (SMTP password, data-encryption keys) are wrapped in
:class:`Secret` so that a ``repr`` of the settings, a log line or a traceback
never shows them, and they are never accepted as command-line flags.

An optional settings file (``MICARE_SETTINGS_FILE``) holds ``NAME=value``
lines with the same names; the environment wins over the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

PACKAGE_DIR = Path(__file__).resolve().parent
DEMO_CLINIC_FILE = PACKAGE_DIR / "data" / "clinic.demo.yaml"


class ConfigError(ValueError):
    """A setting is missing or malformed; raised at start-up, never mid-request."""


class Secret:
    """A string that does not show itself in ``repr``/``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _float(name: str, raw: str, *, minimum: float = 0.0) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def read_settings_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; ``#`` comments and blank lines are ignored."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{path}:{number}: expected NAME=value")
        values[name.strip()] = value.strip().strip('"').strip("'")
    return values


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///micare.db"
    base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    clinic_file: Path = DEMO_CLINIC_FILE
    # data-encryption keys: MICARE_KEYS ("kid:base64key,kid2:base64key", first is active)
    # or a key file (JSON, see store/crypto.py); neither: a dev key file next to SQLite
    keys: Secret | None = None
    index_key: Secret | None = None
    key_file: Path | None = None
    # outgoing mail; no host: e-mails are logged as "would send" (no address, no PHI)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_starttls: bool = True
    smtp_tls: bool = False
    smtp_timeout: float = 10.0
    mail_from: str = "no-reply@micare.invalid"
    outbox_poll_seconds: float = 5.0
    outbox_backoff_seconds: float = 30.0
    outbox_backoff_max_seconds: float = 3600.0
    outbox_batch: int = 20
    # web
    max_body_bytes: int = 64 * 1024
    max_text_chars: int = 2000
    session_idle_seconds: int = 15 * 60
    session_absolute_seconds: int = 12 * 3600
    cookie_secure: bool = False
    trust_proxy: bool = False
    invitation_days: int = 7
    # staff (issue 5): their own session cookie with a shorter idle timeout; the queue's "nearly due"
    # window and how often the escalation task looks
    staff_session_idle_seconds: int = 10 * 60
    staff_session_absolute_seconds: int = 10 * 3600
    nearly_due_minutes: int = 120
    escalation_poll_seconds: float = 60.0
    # login throttling: failures within the window before a lock-out of the same length
    login_window_seconds: int = 15 * 60
    login_max_per_account: int = 5
    login_max_per_address: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        source = dict(os.environ if env is None else env)
        settings_file = source.get("MICARE_SETTINGS_FILE")
        merged: dict[str, str] = {}
        if settings_file:
            merged.update(read_settings_file(Path(settings_file)))
        merged.update({k: v for k, v in source.items() if k.startswith("MICARE_")})

        def get(name: str) -> str | None:
            value = merged.get("MICARE_" + name)
            return value if value not in (None, "") else None

        kwargs: dict[str, Any] = {}
        if (v := get("DATABASE_URL")) is not None:
            kwargs["database_url"] = v
        if (v := get("BASE_URL")) is not None:
            kwargs["base_url"] = v.rstrip("/")
        if (v := get("HOST")) is not None:
            kwargs["host"] = v
        if (v := get("PORT")) is not None:
            kwargs["port"] = _int("MICARE_PORT", v, minimum=1)
        if (v := get("CLINIC_FILE")) is not None:
            kwargs["clinic_file"] = Path(v)
        if (v := get("KEYS")) is not None:
            kwargs["keys"] = Secret(v)
        if (v := get("INDEX_KEY")) is not None:
            kwargs["index_key"] = Secret(v)
        if (v := get("KEY_FILE")) is not None:
            kwargs["key_file"] = Path(v)
        if (v := get("SMTP_HOST")) is not None:
            kwargs["smtp_host"] = v
        if (v := get("SMTP_PORT")) is not None:
            kwargs["smtp_port"] = _int("MICARE_SMTP_PORT", v, minimum=1)
        if (v := get("SMTP_USERNAME")) is not None:
            kwargs["smtp_username"] = v
        if (v := get("SMTP_PASSWORD")) is not None:
            kwargs["smtp_password"] = Secret(v)
        if (v := get("SMTP_STARTTLS")) is not None:
            kwargs["smtp_starttls"] = _bool("MICARE_SMTP_STARTTLS", v)
        if (v := get("SMTP_TLS")) is not None:
            kwargs["smtp_tls"] = _bool("MICARE_SMTP_TLS", v)
        if (v := get("SMTP_TIMEOUT")) is not None:
            kwargs["smtp_timeout"] = _float("MICARE_SMTP_TIMEOUT", v, minimum=0.1)
        if (v := get("MAIL_FROM")) is not None:
            kwargs["mail_from"] = v
        for name, attr in (
            ("OUTBOX_POLL_SECONDS", "outbox_poll_seconds"),
            ("OUTBOX_BACKOFF_SECONDS", "outbox_backoff_seconds"),
            ("OUTBOX_BACKOFF_MAX_SECONDS", "outbox_backoff_max_seconds"),
            ("ESCALATION_POLL_SECONDS", "escalation_poll_seconds"),
        ):
            if (v := get(name)) is not None:
                kwargs[attr] = _float("MICARE_" + name, v, minimum=0.01)
        for name, attr, minimum in (
            ("OUTBOX_BATCH", "outbox_batch", 1),
            ("MAX_BODY_BYTES", "max_body_bytes", 1024),
            ("MAX_TEXT_CHARS", "max_text_chars", 1),
            ("SESSION_IDLE_SECONDS", "session_idle_seconds", 1),
            ("SESSION_ABSOLUTE_SECONDS", "session_absolute_seconds", 1),
            ("INVITATION_DAYS", "invitation_days", 1),
            ("LOGIN_WINDOW_SECONDS", "login_window_seconds", 1),
            ("LOGIN_MAX_PER_ACCOUNT", "login_max_per_account", 1),
            ("LOGIN_MAX_PER_ADDRESS", "login_max_per_address", 1),
            ("STAFF_SESSION_IDLE_SECONDS", "staff_session_idle_seconds", 1),
            ("STAFF_SESSION_ABSOLUTE_SECONDS", "staff_session_absolute_seconds", 1),
            ("NEARLY_DUE_MINUTES", "nearly_due_minutes", 0),
        ):
            if (v := get(name)) is not None:
                kwargs[attr] = _int("MICARE_" + name, v, minimum=minimum)
        if (v := get("COOKIE_SECURE")) is not None:
            kwargs["cookie_secure"] = _bool("MICARE_COOKIE_SECURE", v)
        elif urlsplit(kwargs.get("base_url", cls.base_url)).scheme == "https":
            kwargs["cookie_secure"] = True
        if (v := get("TRUST_PROXY")) is not None:
            kwargs["trust_proxy"] = _bool("MICARE_TRUST_PROXY", v)
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        scheme = self.database_url.split(":", 1)[0]
        if scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ConfigError(
                "MICARE_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ConfigError("MICARE_BASE_URL must be an http(s) URL")

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL (None for PostgreSQL or in-memory)."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split(":///", 1)[-1].split("?", 1)[0]
        if not path or path == ":memory:":
            return None
        return Path(path)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def describe(self) -> dict[str, str]:
        """Settings safe to print: secrets and database credentials hidden."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database_url":
                value = _hide_password(value)
            out[f.name] = repr(value) if isinstance(value, Secret) else str(value)
        return out


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return url.replace(parts.netloc, netloc)
    return url
