"""FastAPI dependencies: the database session, the logged-in user, roles, project access, CSRF.

Every route declares its access through exactly one of

* :func:`current_user` - any logged-in, active user (reads that the store filters further);
* :func:`org_role` - an organization-wide role (e.g. admin for user management);
* :func:`project_access` - a role in the project named by the ``project_id`` path parameter
  (other organization: 404; no membership or a lower role: 403);

or is public (login, health, static files). Each of these callables carries ``nb_access`` so a
test can walk every route and check it. The store checks the same rules again on every call.

Every router also carries :func:`csrf_protect`, which checks the CSRF token of every request with
a state-changing method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session

from nanobridge.store import auth
from nanobridge.store.errors import AuthenticationFailed
from nanobridge.store.models import Project, Role, User
from nanobridge.web.security import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SessionData,
    check_csrf_token,
    current_session,
)

if TYPE_CHECKING:
    from nanobridge.web.app import WebState

__all__ = [
    "MAX_ID",
    "CurrentUser",
    "DbSession",
    "NotAuthenticated",
    "ProjectContext",
    "csrf_protect",
    "current_user",
    "db_session",
    "get_state",
    "org_role",
    "password_stamp",
    "project_access",
]

MAX_ID = 2_147_483_647


class NotAuthenticated(Exception):
    """No valid session: 401 for the API, a redirect to the login page for pages."""


def get_state(request: Request) -> WebState:
    """The app's shared state (engine, settings, codec, limiter, jobs, templates)."""
    state: WebState = request.app.state.nb
    return state


def db_session(request: Request) -> Iterator[Session]:
    """A session for the request: read-only for safe methods, a write session (SQLite: the write
    lock at the first statement) otherwise. Handlers commit explicitly; anything not committed
    is rolled back when the request ends."""
    state = get_state(request)
    factory = state.read_sessions if request.method in SAFE_METHODS else state.write_sessions
    session = factory()
    try:
        yield session
    finally:
        session.close()


DbSession = Annotated[Session, Depends(db_session)]


def password_stamp(user: User) -> str | None:
    """What a session remembers of the user's password (changes when the password changes)."""
    return user.password_changed_at.isoformat() if user.password_changed_at is not None else None


def current_user(request: Request, session: DbSession) -> User:
    """The logged-in, active user of the request, else :class:`NotAuthenticated`."""
    data: SessionData | None = current_session(request.scope)
    if data is None or data.uid is None:
        raise NotAuthenticated("log in first")
    try:
        user = auth.active_user(session, data.uid)
    except AuthenticationFailed:
        raise NotAuthenticated("the session's user no longer exists or is deactivated") from None
    if data.pwd != password_stamp(user):
        raise NotAuthenticated("the password was changed since this session began; log in again")
    request.state.user = user
    return user


current_user.nb_access = "user"  # type: ignore[attr-defined]
CurrentUser = Annotated[User, Depends(current_user)]


def org_role(*roles: Role) -> Callable[..., User]:
    """A dependency: the user must have one of ``roles`` organization-wide (admin always passes)."""

    def dependency(user: CurrentUser) -> User:
        auth.require_role(user, *roles)
        return user

    dependency.nb_access = "org:" + ",".join(r.value for r in roles)  # type: ignore[attr-defined]
    dependency.__name__ = f"org_role_{'_'.join(r.value for r in roles) or 'admin'}"
    return dependency


@dataclass
class ProjectContext:
    """The project of the route and the user's role in it."""

    project: Project
    user: User
    role: Role

    @property
    def can_write(self) -> bool:
        """May create and edit scientific records (scientist, qa, admin)."""
        return self.role in (Role.SCIENTIST, Role.QA, Role.ADMIN)

    @property
    def can_release(self) -> bool:
        """May record QC decisions and sign approvals/releases (qa, admin)."""
        return self.role in (Role.QA, Role.ADMIN)


def project_access(*roles: Role) -> Callable[..., ProjectContext]:
    """A dependency: the user needs one of ``roles`` in the ``project_id`` of the path (any role
    when none given; project admins and organization admins always pass)."""

    def dependency(
        session: DbSession,
        user: CurrentUser,
        project_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ) -> ProjectContext:
        project = auth.require_project_access(session, user, project_id, *roles)
        role = auth.project_role(session, user, project)
        assert role is not None  # require_project_access passed
        return ProjectContext(project=project, user=user, role=role)

    dependency.nb_access = "project:" + ",".join(r.value for r in roles)  # type: ignore[attr-defined]
    dependency.__name__ = f"project_access_{'_'.join(r.value for r in roles) or 'any'}"
    return dependency


async def csrf_protect(request: Request) -> None:
    """403 unless a state-changing request carries the session's CSRF token (header or form field)."""
    if request.method in SAFE_METHODS:
        return
    token: Any = request.headers.get(CSRF_HEADER)
    if not token:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                form = await request.form()
            except Exception:  # unparseable form: no token
                form = None
            token = form.get(CSRF_FORM_FIELD) if form is not None else None
    if not isinstance(token, str) or not check_csrf_token(current_session(request.scope), token):
        raise HTTPException(
            status_code=403,
            detail="CSRF token missing or wrong: send the session's token as the X-CSRF-Token header "
            "(GET /api/auth/csrf) or the csrf_token form field; reload the page if the session expired",
        )
