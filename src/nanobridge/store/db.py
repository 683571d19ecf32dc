"""Database engine, sessions and migrations.

Which database::

    NANOBRIDGE_DATABASE_URL=postgresql+psycopg://user:password@host:5432/nanobridge   # PostgreSQL
    (unset)  -> sqlite:///$NANOBRIDGE_HOME/nanobridge.db (NANOBRIDGE_HOME defaults to the working dir)

SQLite connections get ``foreign_keys=ON``, WAL journal mode and a 30 s busy timeout. Python's
``sqlite3`` transaction handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so a
*write* session starts with ``BEGIN IMMEDIATE``: it takes SQLite's write lock up front and waits
(busy timeout) instead of failing half-way with "database is locked" when another writer
committed in between. Read sessions start with a plain ``BEGIN`` and run alongside writers (WAL).

Typical use (the web app creates the engine once per process)::

    engine = get_engine()          # from NANOBRIDGE_DATABASE_URL or the embedded default
    init_db(engine)                # alembic upgrade head; cheap when already current
    with session_scope(engine) as session:      # commits on success, rolls back on error
        ...
    with session_scope(engine, write=False) as session:   # read-only; flushing raises
        ...

Migrations live in ``nanobridge/store/migrations`` and are run in code (no ``alembic.ini``
needed). To add one during development::

    from alembic import command
    from nanobridge.store.db import alembic_config
    command.revision(alembic_config("sqlite:///dev.db"), message="add x", autogenerate=True)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from nanobridge.store.errors import ValidationFailed

__all__ = [
    "DATABASE_URL_ENV",
    "HOME_ENV",
    "MIGRATIONS_DIR",
    "ReadOnlySessionError",
    "alembic_config",
    "current_revision",
    "database_url",
    "display_url",
    "get_engine",
    "head_revision",
    "init_db",
    "is_current",
    "make_session_factory",
    "nanobridge_home",
    "session_scope",
]

#: Environment variable selecting the database (an SQLAlchemy URL).
DATABASE_URL_ENV = "NANOBRIDGE_DATABASE_URL"
#: Environment variable naming the data directory (SQLite file, blob directory).
HOME_ENV = "NANOBRIDGE_HOME"
#: Name of the embedded SQLite file in the data directory.
SQLITE_FILENAME = "nanobridge.db"
#: How long an SQLite connection waits for the write lock.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: The Alembic script directory shipped with the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_BEGIN_OPTION = "nanobridge_sqlite_begin"
_READONLY_KEY = "nanobridge_readonly"
#: Key of the PostgreSQL advisory lock that serializes concurrent ``init_db`` calls.
_MIGRATION_LOCK_KEY = 7_362_841_905


class ReadOnlySessionError(RuntimeError):
    """A session opened with ``write=False`` tried to write."""


def nanobridge_home() -> Path:
    """The data directory: ``$NANOBRIDGE_HOME`` or the current working directory."""
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else Path.cwd()


def database_url(url: str | URL | None = None) -> URL:
    """The database URL: ``url``, else ``$NANOBRIDGE_DATABASE_URL``, else the embedded SQLite file.

    ``postgresql://`` is taken to mean psycopg 3 (``postgresql+psycopg://``).
    """
    if url is None or url == "":
        url = os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{nanobridge_home() / SQLITE_FILENAME}"
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError: unparseable
        raise ValidationFailed(f"database URL {url!s}: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise ValidationFailed(
            f"database URL {display_url(parsed)}: backend {backend!r} is not supported; "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host/dbname"
        )
    return parsed


def display_url(url: str | URL | Engine) -> str:
    """The URL with any password masked, for messages and logs."""
    if isinstance(url, Engine):
        url = url.url
    return make_url(url).render_as_string(hide_password=True)


def get_engine(url: str | URL | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` (see :func:`database_url`); create it once per process.

    SQLite files are created (with their directory) on first use and configured for WAL, foreign
    keys and a busy timeout; PostgreSQL engines ping pooled connections before use.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _write_bind(engine: Engine) -> Engine:
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def make_session_factory(engine: Engine, *, write: bool = True) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (``expire_on_commit=False``: objects stay usable).

    ``write=True`` makes SQLite sessions take the write lock at their first statement; a
    ``write=False`` session raises :class:`ReadOnlySessionError` when it tries to flush changes.
    """
    bind = _write_bind(engine) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False, info={_READONLY_KEY: not write})


@contextmanager
def session_scope(engine: Engine, *, write: bool = True) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back on an exception."""
    session = make_session_factory(engine, write=write)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@event.listens_for(Session, "before_flush")
def _refuse_readonly_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_READONLY_KEY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlySessionError("this session was opened read-only (write=False) and cannot save changes")


# --- migrations -----------------------------------------------------------------------------------


def alembic_config(url: str | URL | Engine | None = None) -> Any:
    """An Alembic ``Config`` for the packaged migrations, built in code (no ini file)."""
    from alembic.config import Config

    if isinstance(url, Engine):
        url = url.url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # Revision files must be importable module names (mypy checks them as part of the package).
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    rendered = database_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def init_db(engine: Engine | str | URL | None = None) -> Engine:
    """Create or upgrade the schema to the latest migration (``alembic upgrade head``); idempotent.

    Returns the engine (created from the URL or environment when not given). On PostgreSQL an
    advisory lock keeps concurrent callers (several web workers starting) from racing.
    """
    from alembic import command

    if not isinstance(engine, Engine):
        engine = get_engine(engine)
    config = alembic_config(engine)
    with _write_bind(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return engine


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision, or ``None`` for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest packaged migration."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def is_current(engine: Engine) -> bool:
    """True when the database exists and is migrated to :func:`head_revision`."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
    return current_revision(engine) == head_revision()
