"""``nanobridge db | users | audit`` through a Typer app of their own (the lead wires them into cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from store_helpers import PASSWORD, Backend, World
from typer.testing import CliRunner

from nanobridge.cli_store import register
from nanobridge.store import auth, db
from nanobridge.store.models import Organization, Role, User

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


APP = _app()


def invoke(*args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(APP, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_help_lists_the_commands() -> None:
    code, out = invoke("--help")
    assert code == 0 and all(word in out for word in ("db", "users", "audit"))
    code, out = invoke("audit", "--help")
    assert code == 0 and "verify" in out and "log" in out


def test_db_init_creates_the_embedded_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(db.HOME_ENV)
    code, out = invoke("db", "init")
    assert code == 0, out
    assert "Database ready: sqlite:///" in out and "schema revision 0001" in out
    assert (tmp_path / "nanobridge.db").exists()
    code, out = invoke("db", "init")  # again: nothing to do, still fine
    assert code == 0


def test_create_admin_then_verify_and_log(backend: Backend) -> None:
    url = backend.url
    code, out = invoke(
        "users",
        "create-admin",
        "--email",
        "Ada@Lab.org",
        "--name",
        "Ada Lovelace",
        "--organization",
        "Lab",
        "--password-stdin",
        "--database-url",
        url,
        input=PASSWORD + "\n",
    )
    assert code == 0, out
    assert "Created administrator ada@lab.org" in out and "organization Lab" in out
    with db.session_scope(backend.engine, write=False) as s:
        user = s.scalar(select(User).where(User.email == "ada@lab.org"))
        assert user is not None and user.role == Role.ADMIN and user.name == "Ada Lovelace"
        assert s.scalar(select(Organization.name).where(Organization.id == user.organization_id)) == "Lab"
        assert auth.authenticate(s, "ada@lab.org", PASSWORD).id == user.id

    code, out = invoke("audit", "verify", "--database-url", url)
    assert code == 0, out
    assert "chain intact: 2 entries" in out

    code, out = invoke("audit", "log", "--limit", "5", "--database-url", url)
    assert code == 0 and "create" in out and "system:cli" in out and "organizations" in out

    code, out = invoke(
        "users", "create-admin", "--email", "ada@lab.org", "--name", "Again", "--password-stdin",
        "--database-url", url, input=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 2 and "already exists" in out

    backend.tamper("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    code, out = invoke("audit", "verify", "--database-url", url)
    assert code == 1
    assert "chain broken at entry 2: content altered" in out


def test_create_admin_prompts_twice(world: World, backend: Backend) -> None:
    code, out = invoke(
        "users", "create-admin", "--email", "second@a.org", "--name", "Second", "--organization", "A",
        "--database-url", backend.url, input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, out
    with db.session_scope(backend.engine, write=False) as s:
        user = s.scalar(select(User).where(User.email == "second@a.org"))
        assert user is not None and user.organization_id == world.org_a


def test_bad_password_and_uninitialized_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    args = ["users", "create-admin", "--email", "a@b.org", "--name", "A", "--password-stdin"]
    code, out = invoke(*args, "--database-url", url, input="short\n")
    assert code == 2 and "password: 5 characters -> at least 10 are required" in out
    code, out = invoke("audit", "verify", "--database-url", url)
    assert code == 2 and "not initialized" in out and "nanobridge db init" in out
    code, out = invoke("db", "init", "--database-url", "mysql://u@h/d")
    assert code == 2 and "not supported" in out
