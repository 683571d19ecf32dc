"""Fixtures of the store tests: every test using ``engine`` runs on SQLite and on PostgreSQL.

SQLite: a fresh file in the test's tmp directory. PostgreSQL: a fresh schema (dropped afterwards)
in the database named by ``NANOBRIDGE_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, the CI service). When that server does not
answer, the PostgreSQL variants are skipped with the reason; the CI machine has it, so there they
run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine
from store_helpers import (
    PASSWORD,
    Backend,
    World,
    empty_postgres_schema,
    postgres_unavailable,
    require_postgres,
    reset_postgres,
)

from nanobridge.store import auth, db, service
from nanobridge.store.models import Role, User


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the real working directory or a configured database; cheap Argon2."""
    monkeypatch.delenv(db.DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv(db.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setenv("NANOBRIDGE_BLOB_DIR", str(tmp_path / "blobs"))
    monkeypatch.setattr(auth, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "nanobridge.db"
    engine = db.init_db(db.get_engine(f"sqlite:///{path}"))
    engine.dispose()  # checkpoints the WAL into the main file
    return path


@pytest.fixture(scope="session")
def postgres_session() -> Iterator[Backend | None]:
    """One PostgreSQL schema migrated once per test session (and dropped after); ``None`` if the
    server is unreachable. Each test empties it first (:func:`reset_postgres`)."""
    if postgres_unavailable() is not None:
        yield None
        return
    with empty_postgres_schema() as url:
        engine = db.init_db(db.get_engine(url))
        try:
            yield Backend("postgresql", engine, url)
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A migrated, empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "nanobridge.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        engine = db.get_engine(url)
        try:
            yield Backend("sqlite", engine, url, sqlite_path=path)
        finally:
            engine.dispose()
        return
    require_postgres()
    shared: Backend | None = request.getfixturevalue("postgres_session")
    assert shared is not None
    reset_postgres(shared.engine)
    yield shared


@pytest.fixture
def engine(backend: Backend) -> Engine:
    return backend.engine


@pytest.fixture
def world(engine: Engine) -> World:
    with db.session_scope(engine) as s:
        admin_a = service.bootstrap_admin(
            s, email="admin@a.org", name="Ada Admin", password=PASSWORD, organization="A"
        )
        admin_b = service.bootstrap_admin(
            s, email="admin@b.org", name="Bob Admin", password=PASSWORD, organization="B"
        )

        def user(admin: User, email: str, role: Role) -> User:
            return service.create_user(
                s, admin, email=email, name=email.split("@")[0].title(), password=PASSWORD, role=role
            )

        sci = user(admin_a, "sci@a.org", Role.SCIENTIST)
        qa = user(admin_a, "qa@a.org", Role.QA)
        viewer = user(admin_a, "viewer@a.org", Role.VIEWER)
        outsider = user(admin_a, "outsider@a.org", Role.SCIENTIST)
        sci_b = user(admin_b, "sci@b.org", Role.SCIENTIST)
        project_a = service.create_project(s, admin_a, "C dots", "ultrasmall silica")
        service.add_member(s, admin_a, project_a.id, sci.id, Role.SCIENTIST)
        service.add_member(s, admin_a, project_a.id, qa.id, Role.QA)
        service.add_member(s, admin_a, project_a.id, viewer.id, Role.VIEWER)
        project_b = service.create_project(s, sci_b, "Gold rods")
        return World(
            org_a=admin_a.organization_id,
            org_b=admin_b.organization_id,
            admin_a=admin_a.id,
            scientist_a=sci.id,
            qa_a=qa.id,
            viewer_a=viewer.id,
            outsider_a=outsider.id,
            admin_b=admin_b.id,
            scientist_b=sci_b.id,
            project_a=project_a.id,
            project_b=project_b.id,
        )
