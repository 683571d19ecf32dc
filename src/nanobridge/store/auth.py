"""Passwords, authentication and authorization checks, for the service and the web layer.

Access model:

* Every user belongs to one organization and has an organization-wide :class:`Role`.
* A project belongs to one organization. A user sees a project only if it is in their own
  organization **and** they are an active member of it, or they are an organization admin. The
  member's project role (viewer, scientist, qa, admin) decides what they may do in the project.
* Projects of another organization are reported as :class:`NotFound`, never as forbidden, so
  their existence is not revealed; a project of one's own organization without membership gives
  :class:`PermissionDenied`.
* ``admin`` passes every role check.

Passwords are hashed with Argon2id (argon2-cffi defaults, RFC 9106 low-memory profile).
"""

from __future__ import annotations

from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nanobridge.store.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from nanobridge.store.models import Project, ProjectMember, Role, User

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "accessible_projects",
    "active_user",
    "authenticate",
    "check_password_policy",
    "hash_password",
    "normalize_email",
    "project_role",
    "require_active",
    "require_project_access",
    "require_role",
    "verify_password",
]

#: Shortest password accepted.
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

#: The password hasher; tests may swap in a cheaper profile (``argon2.profiles.CHEAPEST``).
HASHER = PasswordHasher()
# A hash to verify against when the email is unknown, so that the response time does not reveal
# which emails exist.
_DUMMY_HASH: str | None = None


def check_password_policy(password: str) -> None:
    """Raise :class:`ValidationFailed` unless ``password`` is 10 to 1024 characters, not all blank."""
    if not isinstance(password, str):
        raise ValidationFailed("password: a text value is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password: {len(password)} characters -> at least {MIN_PASSWORD_LENGTH} are required"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"password: {len(password)} characters -> at most {MAX_PASSWORD_LENGTH}")
    if not password.strip():
        raise ValidationFailed("password: only whitespace -> use letters, digits or symbols")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (checked against the policy first)."""
    check_password_policy(password)
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash`` (False also for a malformed hash)."""
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalize_email(email: str) -> str:
    """Trimmed, lower-cased email; raises :class:`ValidationFailed` if it cannot be an address."""
    value = (email or "").strip().lower()
    local, _, domain = value.partition("@")
    if not local or not domain or " " in value or len(value) > 320 or "@" in domain:
        raise ValidationFailed(f"email: {email!r} -> an address like name@example.org is required")
    return value


def authenticate(session: Session, email: str, password: str) -> User:
    """The active, not deleted user with this email and password, else :class:`AuthenticationFailed`.

    The message never says whether the email exists; unknown emails cost one hash verification
    too. Rate limiting belongs to the caller (the web layer).
    """
    global _DUMMY_HASH
    try:
        address = normalize_email(email)
    except ValidationFailed:
        address = ""
    user = session.scalar(select(User).where(User.email == address)) if address else None
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = HASHER.hash("nanobridge-dummy-password")
        verify_password(_DUMMY_HASH, password)
        raise AuthenticationFailed("wrong email or password")
    if not verify_password(user.password_hash, password) or not user.is_active or user.deleted_at is not None:
        raise AuthenticationFailed("wrong email or password")
    return user


def active_user(session: Session, user_id: int) -> User:
    """The user of a session cookie: active and not deleted, else :class:`AuthenticationFailed`."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.deleted_at is not None:
        raise AuthenticationFailed("the session's user no longer exists or is deactivated; log in again")
    return user


def require_active(user: User) -> None:
    """Raise :class:`PermissionDenied` for a deactivated or deleted account."""
    if not user.is_active or user.deleted_at is not None:
        raise PermissionDenied(f"user {user.email} is deactivated")


def _role_names(roles: Iterable[Role | str]) -> str:
    names = [str(Role(r)) for r in roles]
    return " or ".join(names) if names else "admin"


def require_role(user: User, *roles: Role | str) -> None:
    """Raise :class:`PermissionDenied` unless the user's organization role is one of ``roles``.

    ``admin`` always passes; with no ``roles`` only admins pass.
    """
    require_active(user)
    if user.role == Role.ADMIN:
        return
    allowed = {Role(r) for r in roles}
    if user.role not in allowed:
        raise PermissionDenied(
            f"this action requires the role {_role_names(roles)}; {user.email} is {user.role}"
        )


def project_role(session: Session, user: User, project: Project) -> Role | None:
    """The user's role in ``project``: ``admin`` for organization admins, the membership role for
    active members, ``None`` when the user has no access (other organization, not a member)."""
    if project.organization_id != user.organization_id or not user.is_active or user.deleted_at is not None:
        return None
    if user.role == Role.ADMIN:
        return Role.ADMIN
    membership = session.scalar(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id,
            ProjectMember.user_id == user.id,
            ProjectMember.deleted_at.is_(None),
        )
    )
    return membership.role if membership is not None else None


def require_project_access(
    session: Session, user: User, project_id: int, *roles: Role | str, include_deleted: bool = False
) -> Project:
    """The project, if ``user`` may access it with one of ``roles`` (any role when none given).

    Raises :class:`NotFound` for a missing or deleted project or one of another organization,
    :class:`PermissionDenied` when the user is no member or their project role is not allowed.
    """
    require_active(user)
    project = session.get(Project, project_id)
    if project is None or project.organization_id != user.organization_id:
        raise NotFound(f"project {project_id} not found")
    if project.deleted_at is not None and not include_deleted:
        raise NotFound(f"project {project_id} was deleted")
    role = project_role(session, user, project)
    if role is None:
        raise PermissionDenied(f"{user.email} is not a member of project {project_id} ({project.name})")
    if roles and role != Role.ADMIN and role not in {Role(r) for r in roles}:
        raise PermissionDenied(
            f"this action requires the project role {_role_names(roles)}; "
            f"{user.email} is {role} in project {project_id} ({project.name})"
        )
    return project


def accessible_projects(user: User, *, include_deleted: bool = False) -> Select[Project]:
    """A query of the projects ``user`` can see (their organization; membership unless admin)."""
    stmt = select(Project).where(Project.organization_id == user.organization_id)
    if not include_deleted:
        stmt = stmt.where(Project.deleted_at.is_(None))
    if user.role != Role.ADMIN:
        members = select(ProjectMember.project_id).where(
            ProjectMember.user_id == user.id, ProjectMember.deleted_at.is_(None)
        )
        stmt = stmt.where(Project.id.in_(members))
    if not user.is_active or user.deleted_at is not None:
        stmt = stmt.where(Project.id.is_(None))
    return stmt.order_by(Project.id)
