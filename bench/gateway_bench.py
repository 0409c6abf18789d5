"""Load generator for the gateway: persisted chat turns against a bare JSON echo baseline.

    python bench/gateway_bench.py [--database-url URL] [--processes 1[,2]] [--client-processes 1]
                                  [--concurrency 64] [--seconds 10] [--think 1.0] [--transport both]

It migrates and seeds a scratch database (SQLite in a temporary directory by
default; a PostgreSQL URL is wiped first — use a scratch database), and for
each gateway process count starts that many real ``serve`` processes and as
many echo servers (a bare aiohttp JSON endpoint), logs in ``--concurrency``
patients, and drives complete refill conversations (start, turns until
filed) over HTTP and over WebSocket for ``--seconds`` each, twice:

* a closed loop with no pause between turns (64 conversations always waiting
  for an answer): a saturation test. It gives the throughput, the ratio to the
  echo baseline measured by the same client processes in the same run, and the
  servers' CPU time per turn. Its latency is queueing, not what a person sees.
* ``--think`` seconds (randomised +-50 %) between a reply and the next turn,
  and before each new conversation: 64 conversations typing like people. Its
  p50/p99 is what "p99 <= 50 ms at 64 concurrent conversations" asks about.

Then the issue's three targets, each MET or NOT MET with the figure and the
loop it was judged on.

The client is Python too; on a small machine it competes with the servers for
the CPUs, so compare ratios and CPU per turn, not absolute numbers, across
machines.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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


async def pause(think: float) -> None:
    """A person reading the reply and typing: ``think`` seconds +-50 %, none in the closed loop."""
    if think > 0:
        await asyncio.sleep(random.uniform(0.5 * think, 1.5 * think))


async def drive_http(client: Client, stop: float, latencies: list[float], errors: list[int], think: float) -> int:
    filed = 0
    while time.perf_counter() < stop:
        await pause(think)
        cid = await client.start()
        text: str | None = OPENING
        result: dict[str, Any] = {}
        for _ in range(20):
            if text is None:
                break
            await pause(think)
            if time.perf_counter() >= stop:
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


async def drive_ws(client: Client, stop: float, latencies: list[float], errors: list[int], think: float) -> int:
    filed = 0
    while time.perf_counter() < stop:
        await pause(think)
        cid = await client.start()
        ws_url = f"{client.base}/api/v1/conversations/{cid}/ws"
        async with client.http.ws_connect(ws_url) as ws:
            text: str | None = OPENING
            result: dict[str, Any] = {}
            for _ in range(20):
                if text is None:
                    break
                await pause(think)
                if time.perf_counter() >= stop:
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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes so far (Linux /proc), to tell server cost from client cost."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- one client process: a share of the conversations ----------------------------------------------


def client_main(job: dict[str, Any], results: Any) -> None:
    """Runs in a client process: echo share or conversation share, reports (count, latencies, ...)."""
    results.put(asyncio.run(client_job(job)))


async def client_job(job: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, job["start_at"] - time.time()))
    if job["kind"] == "echo":
        counts = await asyncio.gather(*(drive_echo(base, n, job["seconds"]) for base, n in job["echo"]))
        return {"n": sum(n for n, _ in counts), "latencies": [v for _, lat in counts for v in lat],
                "elapsed": job["seconds"], "errors": 0, "filed": 0}
    clients = [Client(base, email) for base, email in job["clients"]]
    try:
        await asyncio.gather(*(c.login() for c in clients))
        driver = drive_http if job["kind"] == "http" else drive_ws
        await asyncio.sleep(max(0.0, job["go_at"] - time.time()))
        latencies: list[float] = []
        errors: list[int] = []
        stop = time.perf_counter() + job["seconds"]
        t0 = time.perf_counter()
        filed = await asyncio.gather(*(driver(c, stop, latencies, errors, job["think"]) for c in clients))
        elapsed = time.perf_counter() - t0
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    return {"n": len(latencies), "latencies": latencies, "elapsed": elapsed, "errors": len(errors),
            "filed": sum(filed)}


def run_clients(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One job per client process (or in this process when there is one), all starting together."""
    if len(jobs) == 1:
        return [asyncio.run(client_job(jobs[0]))]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=client_main, args=(job, queue)) for job in jobs]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return results


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


# --- a run with N gateway processes ---------------------------------------------------------------------


def measure(args: argparse.Namespace, env: dict[str, str], emails: list[str], processes: int
            ) -> dict[str, Any]:
    procs: list[subprocess.Popen[bytes]] = []
    servers: list[int] = []
    figures: dict[str, Any] = {"processes": processes}
    try:
        bases, echo_bases = [], []
        for _ in range(processes):
            port, echo_port = free_port(), free_port()
            procs.append(subprocess.Popen([sys.executable, "-c", RUNNER, "serve", "--port", str(port)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            servers.append(procs[-1].pid)
            asyncio.run(wait_ready(f"http://127.0.0.1:{port}/readyz", procs[-1]))
            procs.append(subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            asyncio.run(wait_ready(f"http://127.0.0.1:{echo_port}/echo", procs[-1]))
            bases.append(f"http://127.0.0.1:{port}")
            echo_bases.append(f"http://127.0.0.1:{echo_port}")
        k = max(1, args.client_processes)

        # baseline: the same client processes, the same concurrency, spread over the echo servers
        per = max(1, args.concurrency // (len(echo_bases) * k))
        jobs = [{"kind": "echo", "seconds": args.seconds, "start_at": time.time() + 1.0,
                 "echo": [(base, per) for base in echo_bases]} for _ in range(k)]
        res = run_clients(jobs)
        echo_lat = [v for r in res for v in r["latencies"]]
        echo_rate = sum(r["n"] for r in res) / args.seconds
        figures["echo"] = echo_rate
        print(f"  echo baseline       : {echo_rate:7.0f} req/s    p50 {pct(echo_lat, .5):6.1f} ms"
              f"   p99 {pct(echo_lat, .99):6.1f} ms   (closed loop: the 30 % target's denominator)", flush=True)

        pairs = [(bases[i % len(bases)], email) for i, email in enumerate(emails)]
        for name in ("http", "websocket"):
            if args.transport not in (name, "both"):
                continue
            for think in (0.0, args.think):
                figures[name if think == 0 else f"{name}_think"] = f = drive(args, pairs, servers, name, think, k)
                loop = ("closed loop, no think time (saturation: throughput)" if think == 0 else
                        f"think {think:g} s +-50 % (people typing: latency)")
                ratio = f"   ratio to echo {f['rate'] / echo_rate:5.2f}" if think == 0 else ""
                print(f"  persisted turns {name:4.4}, {loop}:\n"
                      f"      {f['rate']:7.0f} turns/s  p50 {f['p50']:6.1f} ms   p99 {f['p99']:6.1f} ms"
                      f"{ratio}   turns {f['n']}   filed {f['filed']}"
                      f"   errors {f['errors']}   server CPU {f['cpu_ms']:.2f} ms/turn", flush=True)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return figures


def drive(args: argparse.Namespace, pairs: list[tuple[str, str]], servers: list[int], name: str, think: float,
          k: int) -> dict[str, Any]:
    """One timed run of every conversation over one transport; the servers' CPU is sampled from the go."""
    go = time.time() + 3.0 + len(pairs) * 0.1  # after every client has logged in
    jobs = [{"kind": name, "seconds": args.seconds, "start_at": 0.0, "go_at": go, "clients": share,
             "think": think} for share in split(pairs, k)]
    cpu0 = None

    def sample() -> None:
        nonlocal cpu0
        cpu0 = cpu_seconds(servers)

    timer = threading.Timer(max(0.0, go - time.time()), sample)
    timer.start()
    res = run_clients(jobs)
    timer.join()
    server_cpu = cpu_seconds(servers) - (cpu0 or 0.0)
    latencies = [v for r in res for v in r["latencies"]]
    elapsed = max(r["elapsed"] for r in res)
    return {"rate": len(latencies) / elapsed, "p50": pct(latencies, .5), "p99": pct(latencies, .99),
            "n": len(latencies), "errors": sum(r["errors"] for r in res), "filed": sum(r["filed"] for r in res),
            "cpu_ms": 1000 * server_cpu / max(1, len(latencies))}


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def report_targets(backend: str, runs: dict[int, dict[str, Any]], transports: list[str], concurrency: int,
                   think: float) -> None:
    """The issue's three targets, each with the figures it was judged on."""
    print("targets (issue #3):")
    one = runs.get(1)
    if backend == "sqlite" and one is not None:
        for name in transports:
            ratio = one[name]["rate"] / one["echo"]
            print(f"  [{verdict(ratio >= 0.30):7}] SQLite, 1 process, {name}: turns/s >= 30 % of echo"
                  f" (closed loop) -> {100 * ratio:.0f} %")
        for name in transports:
            p99 = one[f"{name}_think"]["p99"]
            print(f"  [{verdict(p99 <= 50.0):7}] SQLite, 1 process, {name}: p99 <= 50 ms at {concurrency} conversations"
                  f" (think {think:g} s) -> {p99:.0f} ms")
            print(f"            (closed loop p99, saturation, not this target: {one[name]['p99']:.0f} ms)")
    if backend == "postgresql" and 1 in runs and 2 in runs:
        for name in transports:
            scale = runs[2][name]["rate"] / runs[1][name]["rate"]
            print(f"  [{verdict(scale >= 1.6):7}] PostgreSQL, 2 processes vs 1, {name}: >= 1.6x"
                  f" turns/s (closed loop) -> {scale:.2f}x")
    if backend == "postgresql":
        for n, run in sorted(runs.items()):
            for name in transports:
                print(f"  [info   ] PostgreSQL, {n} process(es), {name}: p99 at {concurrency} conversations"
                      f" (think {think:g} s) -> {run[f'{name}_think']['p99']:.0f} ms")
    if backend == "postgresql" and not (1 in runs and 2 in runs):
        print("  (the PostgreSQL scaling target needs --processes 1,2)")
    if backend == "sqlite" and one is None:
        print("  (the SQLite targets are judged with one process: --processes 1)")


def main_run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="micare-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}"
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    counts = [int(n) for n in (args.processes or ("1,2" if backend == "postgresql" else "1")).split(",")]
    if backend == "postgresql":
        asyncio.run(reset_postgres(url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICARE_")}
    env.update({"MICARE_DATABASE_URL": url, "MICARE_KEY_FILE": str(work / "keys.json"),
                "MICARE_LOGIN_MAX_PER_ADDRESS": "100000"})
    print(f"seeding {args.concurrency} patients on {backend} ...", flush=True)
    emails = asyncio.run(seed(env, args.concurrency))
    runs: dict[int, dict[str, Any]] = {}
    for n in counts:
        print(f"{n} gateway process(es), {args.concurrency} concurrent conversations, {args.seconds:.0f} s per run,"
              f" {args.client_processes} client process(es), {os.cpu_count()} CPUs:", flush=True)
        runs[n] = measure(args, env, emails, n)
    transports = [t for t in ("http", "websocket") if args.transport in (t, "both")]
    report_targets(backend, runs, transports, args.concurrency, args.think)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory; PostgreSQL is WIPED")
    parser.add_argument("--processes", help="gateway process counts to measure, e.g. 1,2"
                                            " (default: 1 on SQLite, 1,2 on PostgreSQL)")
    parser.add_argument("--client-processes", type=int, default=1,
                        help="load-generator processes sharing the conversations (default 1)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds between a reply and the next turn in the latency run, randomised +-50 %%"
                             " (default 1.0); the throughput run always has none")
    parser.add_argument("--transport", choices=["http", "websocket", "both"], default="both")
    args = parser.parse_args()
    main_run(args)


if __name__ == "__main__":
    main()
