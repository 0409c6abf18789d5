"""Real `serve` processes: one is killed mid-conversation, another continues it from the database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from micare_bot.service_cli import DEMO_PASSWORD

from .conftest import free_port

RUNNER = (
    "import argparse, sys\n"
    "from micare_bot import service_cli\n"
    "p = argparse.ArgumentParser(prog='micare-bot')\n"
    "s = p.add_subparsers(dest='command', required=True)\n"
    "service_cli.register(s)\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "sys.exit(a.func(a))\n"
)


def command(env: dict[str, str], *argv: str) -> None:
    done = subprocess.run([sys.executable, "-c", RUNNER, *argv], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


async def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "serve", "--port", str(port)], env=env,
                            stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    # loading the lexicon takes a few seconds alone, much longer on a 2-core machine other test runs share
    deadline = asyncio.get_running_loop().time() + 90
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
    proc.kill()
    proc.wait()
    raise AssertionError("server did not start:\n" + log.read_text()[-3000:])


def answer(result: dict[str, Any]) -> str:
    return {"pharmacy": "mail order", "patient": "me"}.get(result["awaiting"] or "", "yes")


async def test_killed_server_conversation_continues_elsewhere(database_url: str, tmp_path: Path) -> None:
    """SIGKILL the process mid-conversation; a second process continues and files it exactly once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICARE_")}
    env.update({"MICARE_DATABASE_URL": database_url, "MICARE_KEY_FILE": str(tmp_path / "keys.json"),
                "MICARE_OUTBOX_POLL_SECONDS": "0.2"})
    command(env, "db", "upgrade")
    command(env, "seed-demo")
    port_a, port_b = free_port(), free_port()
    first = await serve(env, port_a, tmp_path / "a.log")
    second = None
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies are per host, not per port: both servers get them
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.post(f"http://127.0.0.1:{port_a}/api/v1/session",
                                 json={"email": "jordan.avery@example.com", "password": DEMO_PASSWORD}) as resp:
                assert resp.status == 200
                csrf = {"X-CSRF-Token": (await resp.json())["csrf_token"]}
            async with http.post(f"http://127.0.0.1:{port_a}/api/v1/conversations", json={}, headers=csrf) as resp:
                cid = (await resp.json())["conversation_id"]
            async with http.post(f"http://127.0.0.1:{port_a}/api/v1/conversations/{cid}/turns", headers=csrf,
                                 json={"text": "Could you renew my blood pressure medicine?",
                                       "client_turn_id": str(uuid.uuid4())}) as resp:
                result = await resp.json()
            assert result["status"] == "collecting" and result["intent"] == "refill"

            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            second = await serve(env, port_b, tmp_path / "b.log")

            for _ in range(10):
                turn_id = str(uuid.uuid4())
                body = {"text": answer(result), "client_turn_id": turn_id}
                async with http.post(f"http://127.0.0.1:{port_b}/api/v1/conversations/{cid}/turns",
                                     headers=csrf, json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    result = await resp.json()
                if result["status"] == "filed":
                    break
            assert result["status"] == "filed" and result["request_id"]
            async with http.post(f"http://127.0.0.1:{port_b}/api/v1/conversations/{cid}/turns",
                                 headers=csrf, json=body) as resp:
                assert await resp.json() == result
            async with http.get(f"http://127.0.0.1:{port_b}/api/v1/messages") as resp:
                inbox = (await resp.json())["messages"]
            assert [m["request_id"] for m in inbox] == [result["request_id"]]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    # a server still warming its caches can take a while to stop; clean-up
                    # is not what this test checks, so it must not fail on a slow exit
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    log_text = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    for phi in ("blood pressure", "Jordan", "jordan.avery", "Losartan"):
        assert phi not in log_text
