"""The staff queue under a realistic load: list latency with N open requests, and claimers racing.

    python bench/staff_bench.py [--database-url URL] [--requests 200] [--claimers 8]

Runs the real app in this process on a scratch database (SQLite in a temporary
directory by default; a PostgreSQL URL is wiped first — use a scratch
database), seeds the demo clinic, files ``--requests`` refills through the
patient API, then measures as the demo nurse: ``GET /api/v1/staff/requests``
(every row opened and decrypted, one audit record per read) and a request's
page, p50/p95 over 20 calls each, and finally ``--claimers`` nurses draining
the queue with claim-next at once (each request must be claimed exactly once).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def main(args: argparse.Namespace) -> None:
    import aiohttp
    from aiohttp.test_utils import TestServer
    from sqlalchemy import text

    from micare_bot.app import create_app, keyring_key
    from micare_bot.config import Settings
    from micare_bot.service_cli import DEMO_PASSWORD, seed_demo
    from micare_bot.staff.roster import add_staff
    from micare_bot.store import db
    from micare_bot.store.clinics import clinic_by_slug
    from tests.edge.staff_helpers import NURSE, T0, Actor, Clock, file_request

    tmp = tempfile.mkdtemp(prefix="staff-bench-")
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    if not url.startswith("sqlite"):
        engine = db.make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    key = lambda: base64.b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    settings = Settings.from_env({"MICARE_DATABASE_URL": url, "MICARE_KEYS": f"k1:{key()}",
                                  "MICARE_INDEX_KEY": key()})
    engine = db.make_engine(url)
    await db.upgrade(engine)
    await seed_demo(settings, now=T0)
    clock = Clock(T0)
    app = create_app(settings, clock=clock, send_mail=False)
    server = TestServer(app)
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    sessions: list[aiohttp.ClientSession] = []

    async def actor(email: str, password: str = DEMO_PASSWORD, *, staff: bool) -> Actor:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(http)
        a = Actor(http, base)
        path = "/api/v1/staff/session" if staff else "/api/v1/session"
        resp = await a.post(path, {"email": email, "password": password}, csrf=False)
        assert resp.status == 200, await resp.text()
        a.csrf = (await resp.json())["csrf_token"]
        return a

    try:
        started = time.perf_counter()
        patient = await actor("jordan.avery@example.com", staff=False)
        for i in range(args.requests):
            clock.now = T0 + timedelta(seconds=i)
            await file_request(patient)
        clock.now = T0 + timedelta(minutes=10)
        print(f"filed {args.requests} requests through the patient API in {time.perf_counter() - started:.1f} s")

        nurse = await actor(NURSE, staff=True)

        async def timed(path: str) -> float:
            t = time.perf_counter()
            resp = await nurse.get(path)
            assert resp.status == 200
            await resp.read()
            return (time.perf_counter() - t) * 1000

        body = await nurse.json("/api/v1/staff/requests")
        assert len(body["requests"]) == min(args.requests, 200)
        first = body["requests"][0]["id"]
        for name, path in (("queue list (JSON)", "/api/v1/staff/requests"), ("queue page (HTML)", "/staff/queue"),
                           ("one request (JSON)", f"/api/v1/staff/requests/{first}")):
            times = sorted([await timed(path) for _ in range(20)])
            print(f"{name:20} with {args.requests} open: p50 {statistics.median(times):.1f} ms, "
                  f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms")

        async with db.read(engine) as conn:
            clinic = await clinic_by_slug(conn, "demo")
        claimers = []
        for i in range(args.claimers):
            email = f"bench-nurse{i}@riverside-clinic.example"
            inv = await add_staff(engine, app[keyring_key], settings, clinic, name=f"Bench Nurse{i}", email=email,
                                  role="nurse", teams=["blue"], now=clock.now, notify=False)
            anon = Actor(sessions[0], base)
            resp = await anon.post(f"/api/v1/invitations/{inv.token}/accept",
                                   {"password": "bench password 1234", "accept_terms": True}, csrf=False)
            assert resp.status == 200
            claimers.append(await actor(email, "bench password 1234", staff=True))

        async def drain(a: Actor) -> list[str]:
            got: list[str] = []
            while True:
                resp = await a.post("/api/v1/staff/requests/claim-next")
                if resp.status == 404:
                    return got
                assert resp.status == 200, await resp.text()
                got.append((await resp.json())["id"])

        t = time.perf_counter()
        results: list[list[Any]] = await asyncio.gather(*(drain(a) for a in claimers))
        elapsed = time.perf_counter() - t
        claimed = [rid for r in results for rid in r]
        assert len(claimed) == len(set(claimed)) == args.requests, "a request was claimed twice or not at all"
        print(f"{args.claimers} claimers drained {args.requests} requests with claim-next in {elapsed:.2f} s "
              f"({args.requests / elapsed:.0f} claims/s), each claimed exactly once")
    finally:
        for s in sessions:
            await s.close()
        await server.close()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--claimers", type=int, default=8)
    asyncio.run(main(parser.parse_args()))
