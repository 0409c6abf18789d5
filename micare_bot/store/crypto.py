"""Field encryption at rest: AES-256-GCM with key ids, plus a keyed blind index.

A ciphertext is the text ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``,
so every stored value names the key that sealed it and keys can rotate: new
writes use the active key, old values stay readable while their key is in the
keyring, and ``micare-bot rotate-key`` re-seals them in batches.

Each value is sealed with *associated data* naming its table, column and row
(``conversations.state|<id>``): a ciphertext copied into another row or column
fails to open instead of showing one patient's data on another's record.

Keys never live in the database. They come from ``MICARE_KEYS``
(``kid:base64,kid:base64``, first one active, plus ``MICARE_INDEX_KEY``) or from
a key file (JSON, mode 0600)::

    {"active": "k1", "keys": {"k1": "<base64 32 bytes>"}, "index_key": "<base64 32 bytes>"}

The index key feeds :meth:`Keyring.blind_index` (HMAC-SHA256), used to find an
account by e-mail without storing the address in clear; it does not rotate
with the data keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..config import ConfigError, Settings

log = logging.getLogger(__name__)

VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A stored value could not be opened (unknown key, wrong row, tampering)."""


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{what} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return raw


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def new_key_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return "k" + now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


@dataclass
class Keyring:
    keys: dict[str, bytes]
    active: str
    index_key: bytes
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ConfigError(f"active key {self.active!r} is not in the keyring")
        for kid in self.keys:
            if not kid or "." in kid or not kid.isascii():
                raise ConfigError(f"key id {kid!r} must be ASCII without dots")
        self._aead = {kid: AESGCM(key) for kid, key in self.keys.items()}
        self._mtime = self._source_mtime()

    def __repr__(self) -> str:
        return f"Keyring(active={self.active!r}, key_ids={sorted(self.keys)!r})"

    # --- sealing -------------------------------------------------------------

    def encrypt(self, plaintext: str | bytes, aad: str) -> str:
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.active].encrypt(nonce, data, aad.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{VERSION}.{self.active}.{body}"

    def decrypt(self, token: str, aad: str) -> bytes:
        version, kid, body = self._split(token)
        aead = self._aead.get(kid)
        if aead is None and self.reload():
            aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionError("stored value failed authentication") from None

    def decrypt_text(self, token: str, aad: str) -> str:
        return self.decrypt(token, aad).decode("utf-8")

    def encrypt_json(self, value: object, aad: str) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False), aad)

    def decrypt_json(self, token: str, aad: str) -> object:
        return json.loads(self.decrypt(token, aad))

    @staticmethod
    def key_id_of(token: str) -> str:
        return Keyring._split(token)[1]

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.active

    @staticmethod
    def _split(token: str) -> tuple[str, str, str]:
        parts = token.split(".", 2)
        if len(parts) != 3 or parts[0] != VERSION:
            raise DecryptionError("not a sealed value")
        return parts[0], parts[1], parts[2]

    # --- lookups without plaintext ------------------------------------------

    def blind_index(self, value: str) -> str:
        normalized = value.strip().casefold()
        return hmac.new(self.index_key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()

    # --- key files ------------------------------------------------------------

    def _source_mtime(self) -> tuple[int, int] | None:
        try:
            if self.source is None:
                return None
            st = self.source.stat()
            return (st.st_ino, st.st_mtime_ns)  # a rewrite is a new inode (os.replace)
        except OSError:
            return None

    def reload(self) -> bool:
        """Re-read the key file if it changed (another process rotated keys)."""
        if self.source is None or self._source_mtime() == self._mtime:
            return False
        fresh = load_key_file(self.source)
        self.keys, self.active, self.index_key = fresh.keys, fresh.active, fresh.index_key
        self._aead = {kid: AESGCM(key) for kid, key in self.keys.items()}
        self._mtime = self._source_mtime()
        return True


def parse_keys_setting(keys: str, index_key: str | None) -> Keyring:
    parsed: dict[str, bytes] = {}
    order: list[str] = []
    for item in keys.split(","):
        item = item.strip()
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        if not sep:
            raise ConfigError("MICARE_KEYS must be 'kid:base64key[,kid:base64key…]'")
        parsed[kid.strip()] = _b64decode(b64, f"MICARE_KEYS key {kid.strip()!r}")
        order.append(kid.strip())
    if not order:
        raise ConfigError("MICARE_KEYS names no key")
    if not index_key:
        raise ConfigError("MICARE_KEYS needs MICARE_INDEX_KEY (base64 of 32 random bytes) beside it")
    return Keyring(parsed, order[0], _b64decode(index_key, "MICARE_INDEX_KEY"))


def load_key_file(path: Path) -> Keyring:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): _b64decode(v, f"{path}: key {k!r}") for k, v in data["keys"].items()}
        return Keyring(keys, str(data["active"]), _b64decode(data["index_key"], f"{path}: index_key"), path)
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not a micare key file ({type(exc).__name__})") from None


def write_key_file(path: Path, keyring: Keyring) -> None:
    """Write atomically with mode 0600 (a crash leaves the old file or the new one)."""
    data = {
        "active": keyring.active,
        "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in keyring.keys.items()},
        "index_key": base64.b64encode(keyring.index_key).decode("ascii"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_key_file(path: Path) -> Keyring:
    kid = new_key_id()
    keyring = Keyring({kid: new_key()}, kid, new_key(), path)
    write_key_file(path, keyring)
    keyring.source = path
    keyring._mtime = keyring._source_mtime()
    return keyring


def add_active_key(path: Path) -> Keyring:
    """Add a fresh key to a key file and make it the active one (old keys stay)."""
    keyring = load_key_file(path)
    kid = new_key_id()
    keys = dict(keyring.keys)
    keys[kid] = new_key()
    rotated = Keyring(keys, kid, keyring.index_key, path)
    write_key_file(path, rotated)
    return load_key_file(path)


def default_key_file(settings: Settings) -> Path | None:
    if settings.key_file is not None:
        return settings.key_file
    db = settings.sqlite_path
    return db.with_name(db.name + ".key") if db is not None else None


def keyring_from_settings(settings: Settings) -> Keyring:
    """The keyring the settings name; a dev key file is created next to SQLite."""
    if settings.keys is not None:
        return parse_keys_setting(
            settings.keys.reveal(), settings.index_key.reveal() if settings.index_key else None
        )
    path = default_key_file(settings)
    if path is None:
        raise ConfigError(
            "no data-encryption keys: set MICARE_KEY_FILE or MICARE_KEYS and MICARE_INDEX_KEY"
        )
    if path.exists():
        return load_key_file(path)
    if settings.key_file is None:
        log.warning("created a development key file at %s; set MICARE_KEY_FILE in production", path)
    else:
        log.warning("key file %s did not exist; created a new one", path)
    return create_key_file(path)
