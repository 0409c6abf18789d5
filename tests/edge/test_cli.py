"""The service commands, run as `micare-bot` would run them (argparse + register())."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from micare_bot import service_cli
from micare_bot.store import db
from micare_bot.store.crypto import load_key_file

from .conftest import BACKENDS, reset_postgres


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="micare-bot")
    sub = parser.add_subparsers(dest="command", required=True)
    service_cli.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.func(args))


@pytest.fixture(params=BACKENDS)
def cli_env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment for the commands: an empty database and a key file in tmp_path."""
    key_file = tmp_path / "keys.json"
    if request.param == "sqlite":
        monkeypatch.setenv("MICARE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    else:
        url = request.getfixturevalue("pg_url")
        asyncio.run(reset_postgres(url))
        monkeypatch.setenv("MICARE_DATABASE_URL", url)
    monkeypatch.setenv("MICARE_KEY_FILE", str(key_file))
    for name in ("MICARE_KEYS", "MICARE_INDEX_KEY", "MICARE_SMTP_HOST", "MICARE_SETTINGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return key_file


def sql(statement: str) -> None:
    async def go() -> None:
        from micare_bot.config import Settings

        engine = db.make_engine(Settings.from_env().database_url, pool_size=1)
        try:
            async with db.write(engine) as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(go())


class TestCommands:
    def test_commands_refuse_an_unmigrated_database(self, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """seed-demo before db upgrade says what to run."""
        assert run("seed-demo") == 2
        assert "db upgrade" in capsys.readouterr().err

    def test_upgrade_seed_enroll_rotate_verify(self, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The operator's path: schema, demo data, an enrollment, a key rotation, an audit check."""
        assert run("db", "upgrade") == 0
        assert run("seed-demo") == 0
        out = capsys.readouterr().out
        assert "jordan.avery@example.com" in out and "casey.morgan@riverside-clinic.example" in out
        assert run("seed-demo") == 0  # idempotent
        assert capsys.readouterr().out.count("jordan.avery@example.com") == 1
        assert run("enroll", "--clinic", "demo", "--name", "Dana Reyes", "--dob", "1992-03-04",
                   "--email", "dana@example.com", "--medication", "Lisinopril 10 mg tablet",
                   "--dependent", "Emma:2022-05-01") == 0
        out = capsys.readouterr().out
        assert "#invitation=" in out
        assert run("enroll", "--clinic", "demo", "--name", "Dana Reyes", "--dob", "1992-03-04",
                   "--email", "dana@example.com") == 1
        before = load_key_file(cli_env)
        assert run("rotate-key") == 0
        after = load_key_file(cli_env)
        assert after.active != before.active and before.active in after.keys
        assert "0 left under older keys" in capsys.readouterr().out
        assert run("audit", "verify") == 0
        assert "audit chain OK" in capsys.readouterr().out

    def test_audit_verify_names_an_edited_row(self, cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An edited audit row makes `audit verify` fail and name it."""
        assert run("db", "upgrade") == 0
        assert run("seed-demo") == 0
        capsys.readouterr()
        url = __import__("os").environ["MICARE_DATABASE_URL"]
        if url.startswith("sqlite"):
            sql("DROP TRIGGER audit_log_no_update")
        else:
            sql("DROP TRIGGER audit_log_no_change ON audit_log")
        sql("UPDATE audit_log SET action = 'login.ok' WHERE seq = 4")
        assert run("audit", "verify") == 1
        out = capsys.readouterr().out
        assert "BROKEN at record 4" in out


def test_bad_clinic_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A broken clinic file stops seed-demo with a message naming the problem, not a traceback."""
    bad = tmp_path / "clinic.yaml"
    bad.write_text("slug: x\nname: X\ntimezone: Mars/Olympus\n")
    monkeypatch.setenv("MICARE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("MICARE_KEY_FILE", str(tmp_path / "keys.json"))
    assert run("db", "upgrade") == 0
    assert run("seed-demo", "--clinic-file", str(bad)) == 2
    assert "'hours' must map days" in capsys.readouterr().err
