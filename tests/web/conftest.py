"""Fixtures of the web tests: an app on a fresh SQLite copy with a test world, cheap Argon2.

``world`` is function-scoped (tests that change shared state); ``shared_world`` is one app per
test module for the read-mostly route matrix. Simulation jobs use a fast stand-in
(:func:`web_helpers.fake_job`) unless a test asks for the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from web_helpers import SECRET, AppFactory, TestClient, World, build_world, copy_template, fake_job

from nanobridge.store import auth, db
from nanobridge.web.app import create_app
from nanobridge.web.settings import Settings

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the working directory or a configured database; cheap Argon2."""
    monkeypatch.delenv(db.DATABASE_URL_ENV, raising=False)
    monkeypatch.delenv("NANOBRIDGE_SECRET_KEY", raising=False)
    monkeypatch.setenv(db.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv("NANOBRIDGE_BLOB_DIR", str(tmp_path / "blobs"))
    monkeypatch.setattr(auth, "HASHER", CHEAP)
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per test session; each app gets a copy."""
    path = tmp_path_factory.mktemp("web-template") / "nanobridge.db"
    engine = db.init_db(db.get_engine(f"sqlite:///{path}"))
    engine.dispose()
    return path


def _settings(home: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "home": home,
        "secret_key": SECRET,
        "simulation_job": fake_job,
        "recover_jobs": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_app(tmp_path: Path, sqlite_template: Path) -> Iterator[AppFactory]:
    """A factory of started apps (lifespan entered) on a fresh SQLite copy; all closed afterwards."""
    opened: list[TestClient] = []

    def factory(url: str | None = None, **overrides: Any) -> tuple[FastAPI, TestClient]:
        n = len(opened)
        database = url or copy_template(sqlite_template, tmp_path / f"app{n}.db")
        app = create_app(_settings(tmp_path / f"home{n}", database, **overrides))
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return app, client

    yield factory
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def world(make_app: AppFactory) -> World:
    app, client = make_app()
    return build_world(app, client)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    """One app and world for a whole module (tests must not depend on each other's writes)."""
    tmp = tmp_path_factory.mktemp("shared-world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auth, "HASHER", CHEAP)
        mp.setenv("NANOBRIDGE_BLOB_DIR", str(tmp / "blobs"))
        mp.delenv(db.DATABASE_URL_ENV, raising=False)
        app = create_app(_settings(tmp / "home", copy_template(sqlite_template, tmp / "shared.db")))
        client = TestClient(app)
        client.__enter__()
        try:
            yield build_world(app, client)
        finally:
            client.__exit__(None, None, None)
