"""``nanobridge serve`` (registered by ``nanobridge.cli_web.register``) starts uvicorn on the app factory."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from nanobridge import cli_web


def _app() -> typer.Typer:
    app = typer.Typer()
    cli_web.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command, so typer keeps "serve" as a subcommand
        """Nothing."""

    return app


def test_serve_help() -> None:
    result = CliRunner().invoke(_app(), ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--reload", "--database-url", "--proxy-headers"):
        assert option in result.output


def test_serve_runs_uvicorn_with_the_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kwargs: calls.append({"target": target, **kwargs}))
    result = CliRunner().invoke(_app(), ["serve", "--port", "8123", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["target"] == "nanobridge.web.app:app_from_env" and call["factory"] is True
    assert call["port"] == 8123 and call["host"] == "0.0.0.0" and call["reload"] is False


def test_serve_reports_a_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def busy(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(uvicorn, "run", busy)
    result = CliRunner().invoke(_app(), ["serve", "--port", "8124"])
    assert result.exit_code == 2
    assert "Address already in use" in result.output
