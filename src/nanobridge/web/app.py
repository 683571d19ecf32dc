"""The app factory: :func:`create_app` wires the database, sessions, security middleware, the
JSON API, the pages, static files and the job runner.

    from nanobridge.web import create_app, Settings
    app = create_app(Settings.from_env())          # uvicorn nanobridge.web.app:app_from_env --factory

Middleware, outermost first: security headers, body size limit (413), session cookie. Errors of
the store map to HTTP statuses (:data:`nanobridge.store.errors.HTTP_STATUS`); invalid agent or
scenario specs are 422 with one entry per problem, naming its field path.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException

import nanobridge
from nanobridge.domain.errors import SpecError
from nanobridge.store import db
from nanobridge.store.blobs import BLOB_DIR_ENV
from nanobridge.store.errors import HTTP_STATUS, StoreError
from nanobridge.web.deps import NotAuthenticated
from nanobridge.web.jobs import JobRunner
from nanobridge.web.security import (
    BodySizeLimitMiddleware,
    LoginLimiter,
    SecurityHeadersMiddleware,
    SessionCodec,
    SessionMiddleware,
    current_session,
)
from nanobridge.web.settings import Settings

__all__ = ["STATIC_DIR", "WebState", "app_from_env", "create_app", "spec_problems"]

log = logging.getLogger("nanobridge.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOAD_PATH_MARKERS = ("/files", "/measurements/upload")


@dataclass
class WebState:
    """What every request needs, created once per app."""

    settings: Settings
    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    codec: SessionCodec
    limiter: LoginLimiter
    jobs: JobRunner
    templates: Jinja2Templates
    blob_root: Path
    _plotly: dict[str, bytes] = field(default_factory=dict)

    def plotly_js(self, encoding: str) -> tuple[bytes, str]:
        """plotly.js as bundled with the plotly package (gzip-compressed once), and its ETag."""
        if not self._plotly:
            from plotly.offline import get_plotlyjs

            raw = get_plotlyjs().encode("utf-8")
            self._plotly["identity"] = raw
            self._plotly["gzip"] = gzip.compress(raw, compresslevel=6, mtime=0)
            self._plotly["etag"] = hashlib.sha256(raw).hexdigest()[:32].encode()
        return self._plotly[encoding], self._plotly["etag"].decode()


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    env = os.environ.get(db.DATABASE_URL_ENV)
    if env:
        return env
    return f"sqlite:///{settings.data_home() / db.SQLITE_FILENAME}"


def _blob_root(settings: Settings) -> Path:
    value = os.environ.get(BLOB_DIR_ENV)
    return Path(value).expanduser() if value else settings.data_home() / "blobs"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def spec_problems(exc: SpecError, prefix: tuple[str, ...] = ("body", "spec")) -> list[dict[str, Any]]:
    """The problems of an invalid spec as 422 details: ``loc`` (path parts), ``path``, value, message."""
    from nanobridge.domain.errors import MISSING, NO_VALUE

    out: list[dict[str, Any]] = []
    for problem in exc.problems:
        parts: list[str | int] = list(prefix)
        for piece in problem.path.replace("[", ".[").split("."):
            if not piece or piece == "<root>":
                continue
            if piece.startswith("[") and piece.endswith("]") and piece[1:-1].isdigit():
                parts.append(int(piece[1:-1]))
            else:
                parts.append(piece)
        value = problem.value
        shown = None if value is NO_VALUE else ("<missing>" if value is MISSING else repr(value)[:200])
        out.append(
            {"loc": parts, "path": problem.path, "value": shown, "msg": problem.message, "type": "spec_error"}
        )
    return out


def _status_of(exc: StoreError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def _error_page(request: Request, status: int, message: str, problems: Any = None) -> Response:
    state: WebState = request.app.state.nb
    session = current_session(request.scope)
    return state.templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "problems": problems or [],
            "user": getattr(request.state, "user", None),
            "csrf_token": session.csrf if session else "",
        },
        status_code=status,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, exc: NotAuthenticated) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": f"not authenticated: {exc}"}, status_code=401)
        target = "/login?next=" + quote(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> Response:
        status = _status_of(exc)
        if status >= 500:
            log.error("store error on %s %s: %s", request.method, request.url.path, exc.message)
        if _is_api(request):
            return JSONResponse({"detail": exc.message}, status_code=status)
        return _error_page(request, status, exc.message)

    @app.exception_handler(SpecError)
    async def spec_error(request: Request, exc: SpecError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": spec_problems(exc)}, status_code=422)
        return _error_page(request, 422, str(exc).splitlines()[0], [str(p) for p in exc.problems])

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        lines = [f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in errors]
        return _error_page(request, 422, "the form has invalid values", lines)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith("/static/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "internal server error; the details are in the server log"
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=500)
        return _error_page(request, 500, message)


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("nanobridge.web", "templates"),
        autoescape=select_autoescape(["html", "xml", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from nanobridge.web import pages

    pages.install_filters(env)
    return Jinja2Templates(env=env)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The nanobridge web app. The database schema is created or upgraded when the app starts."""
    settings = settings or Settings.from_env()
    engine = db.get_engine(_database_url(settings))
    blob_root = _blob_root(settings)
    codec = SessionCodec(
        settings.resolved_secret(), settings.session_lifetime_s, secure=settings.secure_cookies
    )
    state = WebState(
        settings=settings,
        engine=engine,
        read_sessions=db.make_session_factory(engine, write=False),
        write_sessions=db.make_session_factory(engine, write=True),
        codec=codec,
        limiter=LoginLimiter(
            window_s=settings.login_window_s,
            max_per_account=settings.login_max_failures_per_account,
            max_per_ip=settings.login_max_failures_per_ip,
        ),
        jobs=JobRunner(engine, blob_root, workers=settings.job_workers, job=settings.simulation_job),
        templates=_templates(),
        blob_root=blob_root,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        db.init_db(engine)
        if settings.recover_jobs:
            state.jobs.recover()
        try:
            yield
        finally:
            state.jobs.shutdown(wait=False)
            engine.dispose()

    app = FastAPI(
        title="nanobridge",
        version=nanobridge.__version__,
        description=(
            "JSON API of the nanobridge shared workspace. Authentication: POST /api/auth/login sets an "
            "HttpOnly session cookie; every POST/PATCH/DELETE must send the session's CSRF token as the "
            "X-CSRF-Token header (GET /api/auth/csrf gives one before login, the login response after)."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.nb = state
    _install_error_handlers(app)

    from nanobridge.web import api, pages

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        body, etag = state.plotly_js("gzip" if gzip_ok else "identity")
        headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        if gzip_ok:
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="text/javascript", headers=headers)

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(SessionMiddleware, codec=codec)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        upload_path=lambda path: path.endswith(UPLOAD_PATH_MARKERS),
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    return app


def app_from_env() -> FastAPI:
    """``create_app(Settings.from_env())``, for ``uvicorn --factory`` and ``nanobridge serve``."""
    return create_app(Settings.from_env())
