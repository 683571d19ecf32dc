"""Engine, sessions and migrations (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError
from store_helpers import GENESIS_HASH, IMMUTABLE_TABLES, Backend, empty_postgres_schema, require_postgres

from nanobridge.store import db, service
from nanobridge.store.errors import ValidationFailed
from nanobridge.store.models import AuditChainHead, Base, Organization
from nanobridge.store.signatures import sign

EXPECTED_TABLES = {
    "organizations",
    "users",
    "projects",
    "project_members",
    "agents",
    "agent_spec_versions",
    "scenarios",
    "simulation_runs",
    "simulation_results",
    "batches",
    "measurements",
    "raw_files",
    "blobs",
    "qc_decisions",
    "evidence_items",
    "documents",
    "signatures",
    "audit_log",
    "audit_chain_head",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables at all)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'nanobridge.db'}"
        return
    require_postgres()
    with empty_postgres_schema() as url:
        yield url


def test_migrations_upgrade_from_empty_down_and_up_again(empty_url: str) -> None:
    engine = db.get_engine(empty_url)
    try:
        assert not db.is_current(engine)
        assert db.current_revision(engine) is None
        db.init_db(engine)
        assert db.current_revision(engine) == db.head_revision() is not None
        assert db.is_current(engine)
        assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES
        with db.session_scope(engine, write=False) as s:
            head = s.get(AuditChainHead, 1)
            assert head is not None and (head.seq, head.head_hash) == (0, GENESIS_HASH)
        db.init_db(engine)  # idempotent
        assert db.current_revision(engine) == db.head_revision()

        # The migration creates exactly what the models describe (no drift between the two).
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []

        with engine.begin() as connection:
            config = db.alembic_config(engine)
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.init_db(engine)
        assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES
    finally:
        engine.dispose()


def test_sqlite_is_created_on_first_use_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "nb.db"
    engine = db.init_db(f"sqlite:///{path}")
    try:
        assert path.exists()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()


def test_default_url_is_sqlite_in_nanobridge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.HOME_ENV, str(tmp_path / "home"))
    url = db.database_url()
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database or "") == tmp_path / "home" / "nanobridge.db"
    monkeypatch.delenv(db.HOME_ENV)
    monkeypatch.chdir(tmp_path)
    assert Path(db.database_url().database or "") == tmp_path / "nanobridge.db"


def test_environment_selects_postgresql_with_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, "postgresql://nb:secret@db.example:5432/nanobridge")
    url = db.database_url()
    assert url.drivername == "postgresql+psycopg"
    assert url.database == "nanobridge"
    assert "secret" not in db.display_url(url)
    assert db.database_url("sqlite:///x.db").get_backend_name() == "sqlite"  # explicit URL wins


def test_unsupported_database_is_a_clear_error() -> None:
    with pytest.raises(ValidationFailed, match="backend 'mysql' is not supported"):
        db.database_url("mysql://u@h/d")
    with pytest.raises(ValidationFailed, match="database URL"):
        db.database_url("not a url")


def test_session_scope_commits_and_rolls_back(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        s.add(Organization(name="kept"))
    with pytest.raises(RuntimeError), db.session_scope(engine) as s:
        s.add(Organization(name="rolled back"))
        s.flush()
        raise RuntimeError("boom")
    with db.session_scope(engine, write=False) as s:
        assert list(s.scalars(select(Organization.name))) == ["kept"]


def test_read_only_session_refuses_to_write(engine: Engine) -> None:
    with pytest.raises(db.ReadOnlySessionError), db.session_scope(engine, write=False) as s:
        s.add(Organization(name="nope"))
        s.flush()
    with db.session_scope(engine, write=False) as s:
        assert s.scalar(select(Organization.id)) is None


@pytest.mark.parametrize("table", IMMUTABLE_TABLES)
def test_triggers_make_immutable_tables_append_only(backend: Backend, table: str) -> None:
    with db.session_scope(backend.engine) as s:
        admin = service.bootstrap_admin(s, email="a@x.org", name="A", password="correct horse battery")
        project = service.create_project(s, admin, "P")
        agent = service.create_agent(s, admin, project.id, name="X", spec={"a": 1})
        sign(s, admin, "correct horse battery", service.current_agent_version(s, admin, agent.id), "authored")
    for statement in (f"UPDATE {table} SET project_id = project_id", f"DELETE FROM {table}"):
        if table == "audit_log":
            statement = statement.replace("project_id = project_id", "reason = 'forged'")
        with pytest.raises(DBAPIError, match="append-only"), backend.engine.begin() as connection:
            connection.execute(text(statement))
    if backend.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), backend.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table} CASCADE"))
    with backend.engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
