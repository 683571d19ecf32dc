"""Web load: requests per second and latency of the dashboard and of a list of 10,000 batches with
50 concurrent clients on loopback, against a trivial endpoint measured in the same run.

Usage: python benchmarks/web_load.py [--quick] [--clients 50] [--batches 10000] [--seconds 8]

Sets up a temporary NANOBRIDGE_HOME with an SQLite database: one admin, one project and
``--batches`` batches created through the store's service (audited, like real ones; this takes a
while for 10,000), then starts ``uvicorn nanobridge.web.app:app_from_env`` (one process) on a
free port and drives it with ``--clients`` concurrent httpx clients (asyncio, one connection each,
sharing one login session) for ``--seconds`` per endpoint:

- ``reference``: ``GET /api/health`` - no database, the same middleware (session, security
  headers, size limit) - the ceiling of the stack on this machine;
- ``dashboard``: ``GET /`` - the HTML dashboard (projects with counts, recent runs, audit);
- ``batch list (page)``: ``GET /projects/{id}/batches`` - HTML, first 100 of the batches with
  the total count;
- ``batch list (API)``: ``GET /api/projects/{id}/batches?limit=100`` - JSON, same rows.

Prints one table row per endpoint (requests/s, mean, p50, p95, p99 latency in ms, errors) and a
machine-readable last line ``dashboard_vs_reference=X batches_page_vs_reference=Y
batches_api_vs_reference=Z`` (throughput ratios). The load generator shares the machine's cores
with the server, so absolute numbers are lower than with a separate client machine; the ratios
are measured back to back in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "benchmark password 42"
EMAIL = "bench@lab.org"


@dataclass
class Result:
    """The load measured on one endpoint."""

    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("nan")

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q / 100 * len(data)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(home: Path, n_batches: int) -> tuple[str, int, float]:
    """Create the database with an admin, a project and ``n_batches`` batches; (url, project id, s)."""
    from argon2 import PasswordHasher, profiles

    from nanobridge.store import auth, db, service

    auth.HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
    url = f"sqlite:///{home / 'nanobridge.db'}"
    engine = db.init_db(db.get_engine(url))
    start = time.perf_counter()
    with db.session_scope(engine) as s:
        admin = service.bootstrap_admin(
            s, email=EMAIL, name="Bench Admin", password=PASSWORD, organization="Bench"
        )
        project_id = service.create_project(s, admin, "Scale-up", "10,000 lots").id
        admin_id = admin.id
    done = 0
    while done < n_batches:
        with db.session_scope(engine) as s:
            admin = auth.active_user(s, admin_id)
            for i in range(done, min(n_batches, done + 1000)):
                service.create_batch(
                    s, admin, project_id, lot_number=f"LOT-{i:05d}", scale="GMP", site="Plant A"
                )
            done = min(n_batches, done + 1000)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return url, project_id, elapsed


def start_server(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NANOBRIDGE_HOME": str(home), "NANOBRIDGE_DATABASE_URL": url}
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "nanobridge.web.app:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start:\n" + (home / "server.log").read_text(errors="replace"))


def login(base: str) -> httpx.Cookies:
    with httpx.Client(base_url=base, timeout=30) as client:
        token = client.get("/api/auth/csrf").json()["csrf_token"]
        response = client.post(
            "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}, headers={"X-CSRF-Token": token}
        )
        response.raise_for_status()
        return client.cookies


async def load(
    base: str, path: str, name: str, cookies: httpx.Cookies, clients: int, seconds: float, expect: bytes
) -> Result:
    """``clients`` concurrent clients requesting ``path`` back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    sessions = [
        httpx.AsyncClient(base_url=base, cookies=cookies, limits=limits, timeout=30) for _ in range(clients)
    ]
    try:
        for session in sessions:  # warm up: open every connection
            await session.get(path)
        stop_at = time.perf_counter() + seconds

        async def worker(session: httpx.AsyncClient) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    response = await session.get(path)
                    ok = response.status_code == 200 and expect in response.content
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker(s) for s in sessions))
        elapsed = time.perf_counter() - start
    finally:
        await asyncio.gather(*(s.aclose() for s in sessions))
    return Result(name, len(latencies), errors, elapsed, latencies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 batches, 2 s per endpoint")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batches", type=int, default=None, help="default 10,000 (1,000 with --quick)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="per endpoint; default 8 (2 with --quick)"
    )
    args = parser.parse_args(argv)
    n_batches = args.batches if args.batches is not None else (1000 if args.quick else 10_000)
    seconds = args.seconds if args.seconds is not None else (2.0 if args.quick else 8.0)

    with tempfile.TemporaryDirectory(prefix="nanobridge-web-load-") as tmp:
        home = Path(tmp)
        url, project_id, seed_s = seed(home, n_batches)
        print(f"seeded {n_batches:,} batches through the service (audited) in {seed_s:.1f} s")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_server(home, url, port)
        try:
            cookies = login(base)
            endpoints = [
                ("reference", "/api/health", b'"ok"'),
                ("dashboard", "/", b"Scale-up"),
                ("batch list (page)", f"/projects/{project_id}/batches", f"{n_batches} in total".encode()),
                (
                    "batch list (API)",
                    f"/api/projects/{project_id}/batches?limit=100",
                    f'"total":{n_batches}'.encode(),
                ),
            ]
            results = [
                asyncio.run(load(base, path, name, cookies, args.clients, seconds, expect))
                for name, path, expect in endpoints
            ]
        finally:
            process.terminate()
            process.wait(timeout=10)

    print(
        f"\n{args.clients} concurrent clients, {seconds:g} s per endpoint, uvicorn 1 process, SQLite (WAL)\n"
    )
    print("| endpoint | requests/s | mean ms | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        mean = statistics.fmean(r.latencies_ms) if r.latencies_ms else float("nan")
        print(
            f"| {r.name} | {r.rate:,.0f} | {mean:.1f} | {r.percentile(50):.1f} | {r.percentile(95):.1f} | "
            f"{r.percentile(99):.1f} | {r.errors} |"
        )
    ref = results[0].rate
    print(
        f"dashboard_vs_reference={results[1].rate / ref:.3f} "
        f"batches_page_vs_reference={results[2].rate / ref:.3f} "
        f"batches_api_vs_reference={results[3].rate / ref:.3f}"
    )
    return 0 if all(r.errors == 0 and r.requests > 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
