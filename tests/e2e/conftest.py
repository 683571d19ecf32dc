"""Fixtures of the end-to-end tests: a real server (uvicorn in a subprocess) on a free port with a
temporary NANOBRIDGE_HOME and an admin, and Chromium driven by Playwright.

Select or skip them with ``-m e2e`` / ``-m "not e2e"``. Browsers are never downloaded: Debian's
``/usr/bin/chromium`` is used (``NANOBRIDGE_CHROMIUM`` overrides the path).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_helpers import ADMIN_EMAIL, ADMIN_PASSWORD, Server

from nanobridge.store import db, service


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end tests driving Chromium against a running server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("e2e-home")
    url = f"sqlite:///{home / 'nanobridge.db'}"
    engine = db.init_db(db.get_engine(url))
    with db.session_scope(engine) as s:
        service.bootstrap_admin(
            s, email=ADMIN_EMAIL, name="Ada Lovelace", password=ADMIN_PASSWORD, organization="Lovelace Lab"
        )
    engine.dispose()
    port = free_port()
    env = {**os.environ, "NANOBRIDGE_HOME": str(home), "NANOBRIDGE_DATABASE_URL": url}
    env.pop("NANOBRIDGE_BLOB_DIR", None)
    log = home / "server.log"
    with log.open("wb") as out:
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
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield Server(base, home, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
