"""Shared helpers of the store tests (imported by ``conftest.py`` and the test modules)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from nanobridge.store.audit import GENESIS_HASH
from nanobridge.store.models import Base, User

#: Tables protected by append-only triggers.
IMMUTABLE_TABLES = ("audit_log", "signatures", "agent_spec_versions")

POSTGRES_URL = os.environ.get(
    "NANOBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct horse battery"


_pg_state: dict[str, str | None] = {}


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used (``None`` when it can); checked once per test session."""
    if "reason" not in _pg_state:
        try:
            probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with probe.connect() as connection:
                connection.execute(text("SELECT 1"))
            probe.dispose()
            _pg_state["reason"] = None
        except Exception as exc:  # any connection problem means "not available"
            first = str(exc).splitlines()[0]
            _pg_state["reason"] = (
                f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} unreachable: {first}"
            )
    return _pg_state["reason"]


def _pg_schema_url(schema: str) -> str:
    url = make_url(POSTGRES_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@dataclass
class Backend:
    """The database of one test: its engine, kind and how to reach it with raw SQL."""

    name: str
    engine: Engine
    url: str
    schema: str | None = None
    sqlite_path: Path | None = None

    def tamper(
        self, sql: str, params: dict[str, Any] | None = None, *, tables: tuple[str, ...] = ("audit_log",)
    ) -> None:
        """Run ``sql`` outside the service with the append-only triggers of ``tables`` disabled."""
        if self.name == "postgresql":
            with self.engine.begin() as connection:
                for table in tables:
                    connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                connection.execute(text(sql), params or {})
                for table in tables:
                    connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            return
        assert self.sqlite_path is not None
        raw = sqlite3.connect(self.sqlite_path, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            names = ",".join(f"'{t}'" for t in tables)
            triggers = raw.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names})"
            ).fetchall()
            for name, _ in triggers:
                raw.execute(f"DROP TRIGGER {name}")
            raw.execute(sql, params or {})
            for _, create_sql in triggers:
                raw.execute(create_sql)
            raw.execute("COMMIT")
        finally:
            raw.close()


def require_postgres() -> None:
    """Skip the test (fail with ``NANOBRIDGE_REQUIRE_POSTGRES=1``) when PostgreSQL is unreachable."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("NANOBRIDGE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (and NANOBRIDGE_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


@contextmanager
def empty_postgres_schema() -> Iterator[str]:
    """A new, empty schema in the test database (dropped afterwards); yields its URL."""
    schema = f"nbtest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def reset_postgres(engine: Engine) -> None:
    """Empty every table of a migrated schema (triggers disabled meanwhile) and reset the chain head.

    DELETE, not TRUNCATE: on tiny tables it is ~40 times faster. Ids keep counting up.
    """
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as connection:
        for table in IMMUTABLE_TABLES:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for table in tables:
            connection.execute(text(f"DELETE FROM {table}"))
        connection.execute(
            text("INSERT INTO audit_chain_head (id, seq, head_hash) VALUES (1, 0, :genesis)"),
            {"genesis": GENESIS_HASH},
        )
        for table in IMMUTABLE_TABLES:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


@dataclass
class World:
    """Two organizations: A (admin, scientist, qa, viewer, an outsider member of no project) with
    one project whose members are the scientist, qa and viewer; B (admin, scientist) with a project."""

    org_a: int
    org_b: int
    admin_a: int
    scientist_a: int
    qa_a: int
    viewer_a: int
    outsider_a: int
    admin_b: int
    scientist_b: int
    project_a: int
    project_b: int


def as_user(session: Any, user_id: int) -> User:
    """The user ``user_id`` loaded in ``session``."""
    user = session.get(User, user_id)
    assert user is not None
    return user


SPEC: dict[str, Any] = {
    "name": "Cdot",
    "core": {"material": "silica", "diameter_nm": 6.0},
    "coating": {"kind": "PEG", "mw_Da": 500},
    "labels": [{"kind": "radionuclide", "nuclide": "I-124"}],
}
