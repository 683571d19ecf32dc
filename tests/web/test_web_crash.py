"""Crash safety: the server process is killed (SIGKILL) while clients write concurrently; the SQLite
database is then consistent, every acknowledged write is there, and the audit chain verifies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text
from web_helpers import PASSWORD, SECRET

from nanobridge.store import db, service, verify_audit_chain
from nanobridge.store.models import AuditEntry, Batch, Measurement


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NANOBRIDGE_HOME": str(home),
        "NANOBRIDGE_DATABASE_URL": url,
        "NANOBRIDGE_SECRET_KEY": SECRET,
    }
    log = (home / "server.log").open("ab")
    return subprocess.Popen(
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
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_up(base: str, process: subprocess.Popen[bytes], home: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (home / "server.log").read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError("server did not start")


def _login(base: str, email: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=10)
    token = client.get("/api/auth/csrf").json()["csrf_token"]
    response = client.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200, response.text
    return client, str(response.json()["csrf_token"])


def test_sigkill_during_writes_leaves_a_consistent_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    path = home / "nanobridge.db"
    url = f"sqlite:///{path}"
    engine = db.init_db(db.get_engine(url))
    with db.session_scope(engine) as s:
        admin = service.bootstrap_admin(
            s, email="ada@lab.org", name="Ada", password=PASSWORD, organization="Lab"
        )
        project_id = service.create_project(s, admin, "Crash test").id
    engine.dispose()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(home, url, port)
    try:
        _wait_up(base, process, home)
        acknowledged: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def writer(n: int) -> None:
            try:
                client, token = _login(base, "ada@lab.org")
            except (httpx.HTTPError, AssertionError):
                return
            i = 0
            while not stop.is_set():
                lot = f"W{n}-{i}"
                try:
                    r = client.post(
                        f"/api/projects/{project_id}/batches",
                        json={"lot_number": lot, "scale": "lab"},
                        headers={"X-CSRF-Token": token},
                    )
                    if r.status_code != 201:
                        continue
                    with lock:
                        acknowledged.append(lot)
                    client.post(
                        f"/api/projects/{project_id}/batches/{r.json()['id']}/measurements",
                        json={"kind": "z_average", "value": 6.0 + i / 100, "unit": "nm"},
                        headers={"X-CSRF-Token": token},
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                i += 1

        threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)  # mid-way: other requests are in flight
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert len(acknowledged) >= 40
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    engine = db.get_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert connection.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        with db.session_scope(engine, write=False) as s:
            result = verify_audit_chain(s)
            assert result.ok, str(result)
            lots = set(s.scalars(select(Batch.lot_number)))
            assert set(acknowledged) <= lots  # nothing acknowledged was lost
            n_batches = s.scalar(select(func.count()).select_from(Batch))
            created = s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.table_name == "batches", AuditEntry.action == "create")
            )
            assert n_batches == created  # every record has its audit entry, and no entry lacks its record
            n_measurements = s.scalar(select(func.count()).select_from(Measurement))
            measured = s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.table_name == "measurements", AuditEntry.action == "create")
            )
            assert n_measurements == measured
    finally:
        engine.dispose()

    # the server starts again on the recovered database
    process = _start(home, url, port)
    try:
        _wait_up(base, process, home)
        client, _token = _login(base, "ada@lab.org")
        page = client.get(f"/api/projects/{project_id}/batches", params={"limit": 1}).json()
        assert page["total"] >= len(acknowledged)
    finally:
        process.terminate()
        process.wait(timeout=10)
