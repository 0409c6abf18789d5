"""Settings and field encryption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from micare_bot.config import ConfigError, Secret, Settings
from micare_bot.store import crypto
from micare_bot.store.crypto import DecryptionError, Keyring

from .conftest import b64key


class TestSettings:
    def test_defaults_match_the_spec(self) -> None:
        """With no environment the service uses the SPEC §7 defaults."""
        s = Settings.from_env({})
        assert s.database_url == "sqlite+aiosqlite:///micare.db"
        assert s.base_url == "http://127.0.0.1:8080"
        assert s.smtp_host is None

    def test_secrets_never_show_in_repr(self) -> None:
        """The SMTP password and keys are hidden in repr and describe()."""
        s = Settings.from_env({"MICARE_SMTP_PASSWORD": "hunter2-very-secret", "MICARE_KEYS": "k1:abc",
                               "MICARE_DATABASE_URL": "postgresql+asyncpg://u:dbpass@h/db"})
        assert "hunter2" not in repr(s)
        assert "hunter2" not in json.dumps(s.describe())
        assert "dbpass" not in json.dumps(s.describe())
        assert s.smtp_password == Secret("hunter2-very-secret")
        assert s.smtp_password is not None and s.smtp_password.reveal() == "hunter2-very-secret"

    def test_settings_file_is_overridden_by_environment(self, tmp_path: Path) -> None:
        """NAME=value lines from MICARE_SETTINGS_FILE apply unless the environment sets the name."""
        f = tmp_path / "micare.env"
        f.write_text("# comment\nMICARE_PORT=9000\nMICARE_BASE_URL=https://chat.example\n")
        s = Settings.from_env({"MICARE_SETTINGS_FILE": str(f), "MICARE_PORT": "9100"})
        assert s.port == 9100
        assert s.base_url == "https://chat.example"
        assert s.cookie_secure is True

    @pytest.mark.parametrize(
        "env",
        [{"MICARE_PORT": "eighty"}, {"MICARE_DATABASE_URL": "mysql://x"}, {"MICARE_SMTP_TLS": "maybe"},
         {"MICARE_BASE_URL": "ftp://x"}],
        ids=["port", "url", "bool", "base-url"],
    )
    def test_bad_values_fail_at_start(self, env: dict[str, str]) -> None:
        """A malformed setting raises ConfigError naming it."""
        with pytest.raises(ConfigError):
            Settings.from_env(env)


class TestKeyring:
    def test_round_trip_names_the_key(self, keyring: Keyring) -> None:
        """A sealed value opens again and carries the active key id."""
        token = keyring.encrypt("metformin", "t.c|1")
        assert token.startswith("v1.k2.")
        assert "metformin" not in token
        assert keyring.decrypt_text(token, "t.c|1") == "metformin"

    def test_value_moved_to_another_row_does_not_open(self, keyring: Keyring) -> None:
        """Associated data binds a ciphertext to its row."""
        token = keyring.encrypt("metformin", "t.c|1")
        with pytest.raises(DecryptionError):
            keyring.decrypt(token, "t.c|2")

    def test_tampered_value_does_not_open(self, keyring: Keyring) -> None:
        """Flipping one character of the ciphertext fails authentication."""
        token = keyring.encrypt("metformin", "a")
        body = token[-6:]
        flipped = token[:-6] + ("A" if body[0] != "A" else "B") + body[1:]
        with pytest.raises(DecryptionError):
            keyring.decrypt(flipped, "a")

    def test_unknown_key_id_is_refused(self, keyring: Keyring) -> None:
        """A value sealed under a key that is not in the ring is an error, not garbage."""
        other = Keyring({"k9": b"\x01" * 32}, "k9", b"\x02" * 32)
        with pytest.raises(DecryptionError):
            keyring.decrypt(other.encrypt("x", "a"), "a")

    def test_blind_index_is_case_insensitive_and_keyed(self, keyring: Keyring) -> None:
        """The e-mail index ignores case and spaces and depends on the index key."""
        assert keyring.blind_index(" Dana@Example.com") == keyring.blind_index("dana@example.com")
        other = Keyring({"k1": b"\x01" * 32}, "k1", b"\x03" * 32)
        assert other.blind_index("dana@example.com") != keyring.blind_index("dana@example.com")

    def test_keys_setting_first_is_active(self) -> None:
        """MICARE_KEYS lists keys; the first seals new values, all open old ones."""
        a, b = b64key(), b64key()
        old = crypto.parse_keys_setting(f"old:{a}", b64key())
        token = old.encrypt("x", "aad")
        ring = crypto.parse_keys_setting(f"new:{b},old:{a}", b64key())
        assert ring.active == "new"
        assert ring.decrypt_text(token, "aad") == "x"
        assert ring.needs_rotation(token)

    def test_keys_setting_without_index_key_fails(self) -> None:
        """MICARE_KEYS alone is refused: the e-mail index needs its own key."""
        with pytest.raises(ConfigError):
            crypto.parse_keys_setting(f"k:{b64key()}", None)

    def test_short_key_is_refused(self) -> None:
        """A key that is not 32 bytes is a configuration error."""
        with pytest.raises(ConfigError):
            crypto.parse_keys_setting("k:c2hvcnQ=", b64key())

    def test_dev_key_file_is_created_next_to_sqlite_with_mode_0600(self, tmp_path: Path) -> None:
        """No keys configured on SQLite: a key file appears beside the database, private."""
        s = Settings.from_env({"MICARE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"})
        ring = crypto.keyring_from_settings(s)
        path = tmp_path / "x.db.key"
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
        again = crypto.keyring_from_settings(s)
        assert again.decrypt_text(ring.encrypt("v", "a"), "a") == "v"

    def test_postgres_without_keys_fails(self) -> None:
        """On PostgreSQL there is no dev key: keys must be configured."""
        s = Settings.from_env({"MICARE_DATABASE_URL": "postgresql+asyncpg://u@h/db"})
        with pytest.raises(ConfigError):
            crypto.keyring_from_settings(s)

    def test_running_process_picks_up_a_rotated_key_file(self, tmp_path: Path) -> None:
        """A keyring loaded before rotation opens values sealed with the new key."""
        path = tmp_path / "keys.json"
        running = crypto.create_key_file(path)
        rotated = crypto.add_active_key(path)
        assert rotated.active != running.active
        token = rotated.encrypt("after rotation", "a")
        assert running.decrypt_text(token, "a") == "after rotation"
