"""Command line of the store: ``nanobridge db init | users create-admin | audit verify | audit log``.

:func:`register` adds the three command groups to the main Typer app. The database is the one
``NANOBRIDGE_DATABASE_URL`` names (or ``--database-url``), else the embedded SQLite file
``nanobridge.db`` in ``NANOBRIDGE_HOME`` or the working directory.

Exit codes: 0 success; 1 ``audit verify`` found a broken chain; 2 bad input or a store error
(one red message, no traceback). The helpers of :mod:`nanobridge.cli` are imported inside the
commands because ``nanobridge.cli`` imports this module to register it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["register"]

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="NANOBRIDGE_DATABASE_URL",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db \\[default: sqlite nanobridge.db in "
        "$NANOBRIDGE_HOME or the working directory]",
        show_default=False,
        show_envvar=True,
    ),
]


@contextmanager
def _store_errors() -> Iterator[None]:
    """Store errors and unreachable databases become one red message and exit code 2."""
    from sqlalchemy.exc import OperationalError

    from nanobridge.cli import _fail, _user_errors
    from nanobridge.store.errors import StoreError

    with _user_errors():
        try:
            yield
        except StoreError as exc:
            raise _fail(exc.message) from None
        except OperationalError as exc:
            first = str(exc.orig or exc).strip().splitlines()[0]
            raise _fail(f"cannot use the database: {first}") from None


@contextmanager
def _engine(url: str | None, *, migrate: bool) -> Iterator[Engine]:
    from nanobridge.cli import _fail
    from nanobridge.store import db

    engine = db.get_engine(url)
    try:
        if migrate:
            db.init_db(engine)
        elif not db.is_current(engine):
            raise _fail(
                f"database {db.display_url(engine)} is not initialized or not up to date; "
                "run `nanobridge db init` first"
            )
        yield engine
    finally:
        engine.dispose()


def db_init(database_url: DatabaseUrlOpt = None) -> None:
    """Create the database or upgrade it to the latest schema (safe to run again)."""
    with _store_errors():
        from rich.markup import escape

        from nanobridge.cli import _out
        from nanobridge.store import db

        with _engine(database_url, migrate=True) as engine:
            revision = db.current_revision(engine)
            _out().print(
                f"Database ready: {escape(db.display_url(engine))} (schema revision {revision})",
                soft_wrap=True,
            )


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def users_create_admin(
    email: Annotated[
        str, typer.Option("--email", help="Login email of the administrator.", show_default=False)
    ],
    name: Annotated[
        str, typer.Option("--name", help="Full name (printed on electronic signatures).", show_default=False)
    ],
    organization: Annotated[
        str, typer.Option("--organization", help="Organization; created if it does not exist.")
    ] = "default",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of standard input."),
    ] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create an administrator (and the organization); the password is asked twice unless --password-stdin."""
    with _store_errors():
        from rich.markup import escape

        from nanobridge.cli import _out
        from nanobridge.store import auth, db, service

        password = _read_password(password_stdin)
        auth.check_password_policy(password)
        with _engine(database_url, migrate=True) as engine, db.session_scope(engine) as session:
            user = service.bootstrap_admin(
                session, email=email, name=name, password=password, organization=organization
            )
            message = (
                f"Created administrator {escape(user.email)} (user {user.id}) in organization "
                f"{escape(organization.strip())}"
            )
        _out().print(message, soft_wrap=True)


def audit_verify(
    expected_head: Annotated[
        str | None,
        typer.Option("--expected-head", help="A head hash recorded earlier; it must still be in the chain."),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Recompute the hash chain of the audit trail; exit 1 naming the first broken entry."""
    with _store_errors():
        from rich.markup import escape

        from nanobridge.cli import _err, _out
        from nanobridge.store import db
        from nanobridge.store.audit import verify_audit_chain

        with _engine(database_url, migrate=False) as engine, db.session_scope(engine, write=False) as session:
            result = verify_audit_chain(session, expected_head=expected_head)
    if result.ok:
        _out().print(f"[green]chain intact: {result.entries} entries[/]", soft_wrap=True)
        _out().print(f"head {result.head_hash}", soft_wrap=True)
        return
    _err().print(f"[bold red]{escape(str(result))}[/]", soft_wrap=True)
    _err().print(f"{result.entries} entries before it verify.", soft_wrap=True)
    raise typer.Exit(code=1)


def audit_log(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10_000, help="Newest entries to show.")
    ] = 20,
    table: Annotated[str | None, typer.Option("--table", help="Only entries of this table.")] = None,
    record: Annotated[str | None, typer.Option("--record", help="Only entries of this record id.")] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Show the newest audit trail entries (who, when, what, why)."""
    with _store_errors():
        from rich import box
        from rich.markup import escape
        from rich.table import Table

        from nanobridge.cli import _out
        from nanobridge.store import db
        from nanobridge.store.audit import audit_entries

        with _engine(database_url, migrate=False) as engine, db.session_scope(engine, write=False) as session:
            entries = audit_entries(session, table_name=table, record_id=record, limit=limit)
        out = Table(
            box=box.SIMPLE_HEAD, header_style="bold", title="Audit trail (newest first)", title_justify="left"
        )
        for column in ("seq", "time (UTC)", "who", "action", "record"):
            out.add_column(column, no_wrap=True)
        out.add_column("changed", overflow="fold")
        out.add_column("reason", overflow="fold", ratio=1)
        for entry in entries:
            changed = sorted((entry.new_values or entry.old_values or {}).keys())
            shown = [k for k in changed if k not in ("updated_at", "version")]
            out.add_row(
                str(entry.seq),
                entry.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                escape(entry.actor),
                entry.action,
                escape(f"{entry.table_name} {entry.record_id}"),
                escape(", ".join(shown[:6]) + (" ..." if len(shown) > 6 else ""))
                if entry.action != "create"
                else "",
                escape(entry.reason),
            )
        console = _out()
        if entries:
            console.print(out)
        else:
            console.print("No audit entries.")


def register(app: typer.Typer) -> None:
    """Add the ``db``, ``users`` and ``audit`` command groups to ``app``."""
    db_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
    db_app.command("init")(db_init)
    users_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
    users_app.command("create-admin")(users_create_admin)
    audit_app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode="rich")
    audit_app.command("verify")(audit_verify)
    audit_app.command("log")(audit_log)
    app.add_typer(db_app, name="db", help="The shared workspace database: create or upgrade it.")
    app.add_typer(users_app, name="users", help="User accounts of the shared workspace.")
    app.add_typer(audit_app, name="audit", help="The hash-chained audit trail: verify it, read it.")
