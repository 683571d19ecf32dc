"""Command line of the web app: ``nanobridge serve``.

:func:`register` adds the command to the main Typer app. The helpers of :mod:`nanobridge.cli`
are imported inside the command because ``nanobridge.cli`` imports this module to register it.
"""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register", "serve"]


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    reload: Annotated[
        bool, typer.Option("--reload/--no-reload", help="Restart on code changes (development).")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="NANOBRIDGE_DATABASE_URL",
            help="SQLAlchemy URL \\[default: sqlite nanobridge.db in $NANOBRIDGE_HOME or the working "
            "directory]",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (behind a reverse proxy).",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxy addresses whose forwarded headers are trusted.")
    ] = "127.0.0.1",
) -> None:
    """Start the web app (JSON API and pages); create the first admin with `nanobridge users create-admin`."""
    import os

    from nanobridge.cli import _err, _fail, _user_errors

    with _user_errors():
        import uvicorn

        from nanobridge.store import db

        if database_url:
            os.environ[db.DATABASE_URL_ENV] = database_url
        url = db.database_url(database_url)
        _err().print(
            f"nanobridge web app on http://{host}:{port}/ (database {db.display_url(url)}); Ctrl+C stops it",
            soft_wrap=True,
        )
        try:
            uvicorn.run(
                "nanobridge.web.app:app_from_env",
                factory=True,
                host=host,
                port=port,
                reload=reload,
                proxy_headers=proxy_headers,
                forwarded_allow_ips=forwarded_allow_ips,
                log_level="info",
            )
        except OSError as exc:
            raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the main app."""
    app.command("serve")(serve)
