"""Load generator for the gateway: persisted chat turns against a bare JSON echo baseline.

    python bench/gateway_bench.py [--database-url URL] [--processes 1] [--concurrency 64] [--seconds 10]

It migrates and seeds a scratch database (SQLite in a temporary directory by
default; a PostgreSQL URL is wiped first — use a scratch database), starts
``--processes`` real ``serve`` processes and an echo server (a bare aiohttp
JSON endpoint, one process per gateway process), logs in ``--concurrency``
patients, and drives complete refill conversations (start, turns until
filed) over HTTP and over WebSocket for ``--seconds`` each. It prints
turns/s and p50/p99 latency per transport and the ratio to the echo
baseline measured by the same client in the same run.

The client is Python too and saturates before the server does; compare ratios,
not absolute numbers, across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

RUNNER = (
    "import argparse, sys\n"
    "from micare_bot import service_cli\n"
    "p = argparse.ArgumentParser(prog='micare-bot')\n"
    "s = p.add_subparsers(dest='command', required=True)\n"
    "service_cli.register(s)\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "sys.exit(a.func(a))\n"
)
ECHO = (
    "import sys\n"
    "from aiohttp import web\n"
    "async def echo(request):\n"
    "    return web.json_response(await request.json())\n"
    "app = web.Application()\n"
    "app.router.add_post('/echo', echo)\n"
    "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), access_log=None, print=None)\n"
)
PASSWORD = "bench-password-2026"
OPENING = "I need my blood pressure pill refilled"
ANSWERS = {"pharmacy": "mail order", "patient": "me", "confirm": "yes"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(url) as resp:
                    if resp.status in (200, 404, 405):
                        return
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            await asyncio.sleep(0.05)
    raise SystemExit(f"server at {url} did not start")


async def reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from micare_bot.store import db

    engine = db.make_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def seed(env: dict[str, str], patients: int) -> list[str]:
    """Migrate, create the demo clinic and ``patients`` bench patients; returns their e-mails."""
    from micare_bot import accounts
    from micare_bot.clinic_settings import load_clinic_file
    from micare_bot.config import Settings
    from micare_bot.store import db
    from micare_bot.store.clinics import sync_clinic
    from micare_bot.store.crypto import keyring_from_settings

    settings = Settings.from_env(env)
    engine = db.make_engine(settings.database_url, pool_size=2)
    keyring = keyring_from_settings(settings)
    now = __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    emails = []
    try:
        await db.upgrade(engine)
        async with db.write(engine) as conn:
            clinic = await sync_clinic(conn, load_clinic_file(settings.clinic_file), now)
        for i in range(patients):
            email = f"bench{i}@example.com"
            inv = await accounts.enroll(engine, keyring, settings, clinic, name=f"Bench Patient{i}", email=email,
                                        now=now, medications=["Lisinopril 10 mg tablet"], notify=False,
                                        actor="bench")
            await accounts.accept_invitation(engine, inv.token, PASSWORD, now=now)
            emails.append(email)
    finally:
        await engine.dispose()
    return emails


class Client:
    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.email = email
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.headers: dict[str, str] = {}

    async def login(self) -> None:
        async with self.http.post(f"{self.base}/api/v1/session",
                                  json={"email": self.email, "password": PASSWORD}) as resp:
            if resp.status != 200:
                raise SystemExit(f"login failed: {resp.status} {await resp.text()}")
            self.headers = {"X-CSRF-Token": (await resp.json())["csrf_token"]}

    async def start(self) -> str:
        async with self.http.post(f"{self.base}/api/v1/conversations", json={}, headers=self.headers) as resp:
            return str((await resp.json())["conversation_id"])

    async def close(self) -> None:
        await self.http.close()


def next_text(result: dict[str, Any]) -> str | None:
    if result.get("status") in {"filed", "redirected", "cancelled"}:
        return None
    return ANSWERS.get(result.get("awaiting") or "", "I don't know")


async def drive_http(client: Client, stop: float, latencies: list[float], errors: list[int]) -> int:
    filed = 0
    while time.perf_counter() < stop:
        cid = await client.start()
        text: str | None = OPENING
        result: dict[str, Any] = {}
        for _ in range(20):
            if text is None:
                break
            t0 = time.perf_counter()
            async with client.http.post(f"{client.base}/api/v1/conversations/{cid}/turns", headers=client.headers,
                                        json={"text": text, "client_turn_id": uuid.uuid4().hex}) as resp:
                result = await resp.json()
                ok = resp.status == 200
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors.append(resp.status)
                break
            text = next_text(result)
        filed += result.get("status") == "filed"
    return filed


async def drive_ws(client: Client, stop: float, latencies: list[float], errors: list[int]) -> int:
    filed = 0
    while time.perf_counter() < stop:
        cid = await client.start()
        ws_url = f"{client.base}/api/v1/conversations/{cid}/ws"
        async with client.http.ws_connect(ws_url) as ws:
            text: str | None = OPENING
            result: dict[str, Any] = {}
            for _ in range(20):
                if text is None:
                    break
                t0 = time.perf_counter()
                await ws.send_json({"text": text, "client_turn_id": uuid.uuid4().hex})
                result = await ws.receive_json()
                latencies.append(time.perf_counter() - t0)
                if "error" in result:
                    errors.append(0)
                    break
                text = next_text(result)
        filed += result.get("status") == "filed"
    return filed


async def drive_echo(base: str, concurrency: int, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    body = {"text": OPENING, "client_turn_id": "x" * 32}

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            async with http.post(f"{base}/echo", json=body) as resp:
                await resp.json()
            latencies.append(time.perf_counter() - t0)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return len(latencies), latencies


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="micare-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    if url.startswith("postgresql"):
        await reset_postgres(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICARE_")}
    env.update({"MICARE_DATABASE_URL": url, "MICARE_KEY_FILE": str(work / "keys.json"),
                "MICARE_LOGIN_MAX_PER_ADDRESS": "100000"})
    print(f"seeding {args.concurrency} patients on {url.split(':')[0]} ...", flush=True)
    emails = await seed(env, args.concurrency)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bases, echo_bases = [], []
        for _ in range(args.processes):
            port, echo_port = free_port(), free_port()
            procs.append(subprocess.Popen([sys.executable, "-c", RUNNER, "serve", "--port", str(port)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            await wait_ready(f"http://127.0.0.1:{port}/readyz", procs[-1])
            procs.append(subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            await wait_ready(f"http://127.0.0.1:{echo_port}/echo", procs[-1])
            bases.append(f"http://127.0.0.1:{port}")
            echo_bases.append(f"http://127.0.0.1:{echo_port}")

        # baseline: the same client, the same concurrency, spread over the echo servers
        echo_counts = await asyncio.gather(*(
            drive_echo(base, max(1, args.concurrency // len(echo_bases)), args.seconds) for base in echo_bases))
        echo_n = sum(n for n, _ in echo_counts)
        echo_lat = [v for _, lat in echo_counts for v in lat]
        echo_rate = echo_n / args.seconds
        print(f"echo baseline      : {echo_rate:8.0f} req/s   p50 {pct(echo_lat, .5):6.1f} ms"
              f"   p99 {pct(echo_lat, .99):6.1f} ms")

        clients = [Client(bases[i % len(bases)], email) for i, email in enumerate(emails)]
        try:
            await asyncio.gather(*(c.login() for c in clients))
            for name, driver in (("http", drive_http), ("websocket", drive_ws)):
                if args.transport not in (name, "both"):
                    continue
                latencies: list[float] = []
                errors: list[int] = []
                stop = time.perf_counter() + args.seconds
                t0 = time.perf_counter()
                filed = await asyncio.gather(*(driver(c, stop, latencies, errors) for c in clients))
                elapsed = time.perf_counter() - t0
                rate = len(latencies) / elapsed
                print(f"persisted turns {name:9}: {rate:8.0f} turns/s  p50 {pct(latencies, .5):6.1f} ms"
                      f"   p99 {pct(latencies, .99):6.1f} ms   filed {sum(filed)}   errors {len(errors)}"
                      f"   ratio to echo {rate / echo_rate:5.2f}")
        finally:
            await asyncio.gather(*(c.close() for c in clients))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(f"({args.processes} gateway process(es), {args.concurrency} concurrent conversations, "
          f"{args.seconds:.0f} s per run, {os.cpu_count()} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory; PostgreSQL is WIPED")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--transport", choices=["http", "websocket", "both"], default="both")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
