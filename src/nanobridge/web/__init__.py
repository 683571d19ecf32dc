"""The web interface: a FastAPI app with a JSON API (``/api``, OpenAPI at ``/api/openapi.json``)
and server-rendered pages (Jinja2 + htmx + Plotly) on top of the store and the workflows.

Modules:

* :mod:`~nanobridge.web.app` - :func:`create_app`, error mapping, static files;
* :mod:`~nanobridge.web.settings` - :class:`Settings` (environment variables);
* :mod:`~nanobridge.web.security` - session cookies, CSRF, login rate limiting, headers, upload checks;
* :mod:`~nanobridge.web.deps` - the access dependencies every route declares;
* :mod:`~nanobridge.web.api` - the JSON API; :mod:`~nanobridge.web.pages` - the pages;
* :mod:`~nanobridge.web.jobs` - simulation runs on an in-process thread pool, persisted in the store;
* :mod:`~nanobridge.web.queries` - read-only queries for pages (counts, chart series).

Run it with ``nanobridge serve`` or ``uvicorn nanobridge.web.app:app_from_env --factory``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Settings", "create_app"]

if TYPE_CHECKING:
    from nanobridge.web.app import create_app
    from nanobridge.web.settings import Settings


def __getattr__(name: str) -> Any:
    # Lazy: importing nanobridge.web (e.g. for the CLI) does not import FastAPI and the science.
    if name == "create_app":
        from nanobridge.web.app import create_app

        return create_app
    if name == "Settings":
        from nanobridge.web.settings import Settings

        return Settings
    raise AttributeError(name)
