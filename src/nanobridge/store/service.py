"""The service API: every read and write of the workspace, with access control and the audit trail.

All functions take an open :class:`~sqlalchemy.orm.Session` (see
:func:`nanobridge.store.db.session_scope`) and the acting :class:`~nanobridge.store.models.User`
(``actor``). They

* check that the actor may do it (:mod:`nanobridge.store.auth`: organization, project
  membership, project role) and raise :class:`~.errors.NotFound` /
  :class:`~.errors.PermissionDenied` otherwise;
* validate input and raise :class:`~.errors.ValidationFailed` naming the field, the value and
  what is allowed;
* append an audit entry (who, when, what, old and new values, why) in the same transaction for
  every create, update and delete; records under GxP (every class with ``GXP = True``, i.e. all
  but organizations, projects and simulation runs) need a ``reason`` for updates and deletes;
* never hard-delete: :func:`soft_delete` sets ``deleted_at``; reads skip deleted records unless
  ``include_deleted=True``;
* use optimistic versioning: :func:`update` and :func:`soft_delete` take the ``expected_version``
  the user saw and raise :class:`~.errors.Conflict` if the record has changed since.

They flush but never commit: the caller's ``session_scope`` commits, or rolls back everything
(record and audit entry together) on an exception.

Role summary (project roles; organization admins act as project admins everywhere in their
organization): viewer reads; scientist and qa create and edit scientific records; only qa records
QC decisions; project admins manage members and the project itself; organization admins manage
users.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Boolean, Enum, Float, Integer, String, Text, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from nanobridge.store import auth
from nanobridge.store.audit import AuditAction, append_entry, audit_entries
from nanobridge.store.blobs import put_blob, read_blob
from nanobridge.store.canonical import canonical_json, sha256_hex, to_jsonable, utcnow
from nanobridge.store.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from nanobridge.store.models import (
    Agent,
    AgentSpecVersion,
    AuditEntry,
    Base,
    Batch,
    BatchStatus,
    Document,
    DocumentStatus,
    EvidenceItem,
    Measurement,
    Organization,
    Project,
    ProjectMember,
    QCDecision,
    QCOutcome,
    RawFile,
    Role,
    RunStatus,
    Scenario,
    SimulationResult,
    SimulationRun,
    User,
)
from nanobridge.store.types import JSONText, UTCDateTime

__all__ = [
    "add_agent_version",
    "add_measurement",
    "add_member",
    "add_run_result",
    "agent_versions",
    "audit_trail",
    "bootstrap_admin",
    "count_records",
    "create_agent",
    "create_batch",
    "create_document",
    "create_evidence_item",
    "create_organization",
    "create_project",
    "create_scenario",
    "create_user",
    "current_agent_version",
    "fail_run",
    "finish_run",
    "get",
    "history",
    "list_members",
    "list_projects",
    "list_records",
    "list_users",
    "read_raw_file",
    "record_qc_decision",
    "record_values",
    "set_current_agent_version",
    "set_password",
    "set_run_progress",
    "soft_delete",
    "start_run",
    "store_raw_file",
    "submit_run",
    "update",
]

R = TypeVar("R", bound=Base)

#: Text fields that must not be empty.
_REQUIRED_TEXT = frozenset(
    {"name", "title", "lot_number", "kind", "category", "original_name", "media_type", "rationale"}
)
_MAX_TEXT = 1_000_000
_MAX_REASON = 2000
_ALLOWED_CONTROL = frozenset("\n\r\t")
#: Run status transitions the service allows.
_RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset({RunStatus.DONE, RunStatus.FAILED}),
    RunStatus.DONE: frozenset(),
    RunStatus.FAILED: frozenset(),
}
_BATCH_STATUS = {
    QCOutcome.RELEASE: BatchStatus.RELEASED,
    QCOutcome.REJECT: BatchStatus.REJECTED,
    QCOutcome.HOLD: BatchStatus.ON_HOLD,
}


# --- helpers ---------------------------------------------------------------------------------------


def _label(record: Base) -> str:
    ident = getattr(record, "id", None) or getattr(record, "sha256", "?")
    return f"{record.__tablename__} {ident}"


def record_values(record: Base, *, redact: bool = True) -> dict[str, Any]:
    """Every column of ``record`` as JSON values (what the audit trail shows and signatures hash).

    Fields in the class's ``REDACTED`` set (the password hash) become ``"<redacted>"``.
    """
    values: dict[str, Any] = {}
    for attr in sa_inspect(type(record)).column_attrs:
        key = attr.key
        if redact and key in type(record).REDACTED:
            values[key] = "<redacted>"
        else:
            values[key] = to_jsonable(getattr(record, key), key)
    return values


def _text(field: str, value: Any, *, max_length: int | None, required: bool) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field}: {value!r} -> text is required")
    text = value.strip() if required else value
    if required and not text:
        raise ValidationFailed(f"{field}: {value!r} -> must not be empty")
    limit = max_length or _MAX_TEXT
    if len(text) > limit:
        raise ValidationFailed(f"{field}: {len(text)} characters -> at most {limit}")
    for char in text:
        if (ord(char) < 32 and char not in _ALLOWED_CONTROL) or ord(char) == 127:
            raise ValidationFailed(f"{field}: {text[:40]!r} -> control characters are not allowed")
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValidationFailed(f"{field}: {text[:40]!r} -> invalid Unicode (lone surrogate)")
    return text


def _coerce(model: type[Base], field: str, value: Any) -> Any:
    """Validate and convert ``value`` for column ``field`` of ``model`` by the column's type."""
    column = model.__table__.c[field]
    if value is None:
        if not column.nullable:
            raise ValidationFailed(f"{field}: None -> a value is required")
        return None
    col_type = column.type
    if isinstance(col_type, Enum):
        enum_class = col_type.enum_class
        assert enum_class is not None
        try:
            return enum_class(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in enum_class)
            raise ValidationFailed(f"{field}: {value!r} -> one of {allowed}") from None
    if isinstance(col_type, JSONText):
        if field in ("spec", "parameters", "summary") and not isinstance(value, Mapping):
            raise ValidationFailed(f"{field}: {type(value).__name__} -> a JSON object (mapping) is required")
        return to_jsonable(value, field)
    if isinstance(col_type, UTCDateTime):
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValidationFailed(f"{field}: {value!r} -> a timezone-aware datetime is required")
        return value
    if isinstance(col_type, Boolean):
        if not isinstance(value, bool):
            raise ValidationFailed(f"{field}: {value!r} -> true or false")
        return value
    if isinstance(col_type, Float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationFailed(f"{field}: {value!r} -> a finite number is required")
        return float(value)
    if isinstance(col_type, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(f"{field}: {value!r} -> an integer is required")
        return value
    if isinstance(col_type, String | Text):
        length = getattr(col_type, "length", None)
        return _text(field, value, max_length=length, required=field in _REQUIRED_TEXT)
    raise ValidationFailed(f"{field}: cannot be set")  # pragma: no cover - every column type is handled


def _reason(model: type[Base], reason: str | None, action: str) -> str:
    if reason is None or not reason.strip():
        if model.GXP:
            raise ValidationFailed(
                f"reason: missing -> a reason is required to {action} a {model.__tablename__} record (GxP)"
            )
        return ""
    return _text("reason", reason, max_length=_MAX_REASON, required=True)


def _scope(session: Session, record: Base) -> tuple[int | None, int | None]:
    """(organization id, project id) of ``record`` for the audit entry."""
    if isinstance(record, Organization):
        return record.id, None
    if isinstance(record, User):
        return record.organization_id, None
    if isinstance(record, Project):
        return record.organization_id, record.id
    project_id = getattr(record, "project_id", None)
    if project_id is None:
        return None, None
    project = session.get(Project, project_id)
    return (project.organization_id if project is not None else None), project_id


def _audit(
    session: Session,
    actor: User | None,
    action: AuditAction,
    record: Base,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    reason: str = "",
    *,
    actor_label: str | None = None,
) -> AuditEntry:
    organization_id, project_id = _scope(session, record)
    record_id = str(getattr(record, "id", None) or getattr(record, "sha256", ""))
    return append_entry(
        session,
        user=actor,
        action=action,
        table_name=record.__tablename__,
        record_id=record_id,
        old_values=old,
        new_values=new,
        reason=reason,
        organization_id=organization_id,
        project_id=project_id,
        actor=actor_label,
    )


def _add(session: Session, record: R, what: str) -> R:
    """Insert ``record`` in a savepoint, turning a unique violation into :class:`Conflict`."""
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError as exc:
        raise Conflict(f"{what}: {_integrity_message(exc)}") from None
    return record


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return f"conflicts with an existing record ({text})"


def _create(
    session: Session,
    actor: User | None,
    record: R,
    reason: str | None = None,
    *,
    actor_label: str | None = None,
) -> R:
    if actor is not None and hasattr(record, "created_by_id") and record.created_by_id is None:
        record.created_by_id = actor.id
    _add(session, record, f"new {record.__tablename__}")
    _audit(
        session,
        actor,
        AuditAction.CREATE,
        record,
        None,
        record_values(record),
        (reason or "").strip(),
        actor_label=actor_label,
    )
    return record


def _values(model: type[R], values: Mapping[str, Any]) -> dict[str, Any]:
    return {field: _coerce(model, field, value) for field, value in values.items()}


def _require_version(record: Base, expected_version: int) -> None:
    current = getattr(record, "version", None)
    if current is not None and current != expected_version:
        raise Conflict(
            f"{_label(record)} is at version {current}, not {expected_version}: it was changed by "
            "someone else since you read it; reload it and try again"
        )


def _flush_versioned(session: Session, record: Base) -> None:
    label = _label(record)  # before the flush: a failed flush expires the record
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(
            f"{label} was changed by someone else at the same time; reload it and try again"
        ) from None


def _flush_and_audit_update(
    session: Session,
    actor: User | None,
    record: Base,
    before: dict[str, Any],
    keys: tuple[str, ...],
    reason: str,
) -> None:
    """Flush a changed record (optimistic version check) and audit the change of ``keys`` from
    ``before`` (its :func:`record_values` before the change) to its values now."""
    _flush_versioned(session, record)
    after = record_values(record)
    _audit(
        session,
        actor,
        AuditAction.UPDATE,
        record,
        {k: before[k] for k in keys},
        {k: after[k] for k in keys},
        reason,
    )


def _same_project_ref(session: Session, project_id: int, field: str, model: type[Base], ref_id: int) -> None:
    ref = session.get(model, ref_id)
    if ref is None or getattr(ref, "project_id", None) != project_id or getattr(ref, "deleted_at", None):
        raise ValidationFailed(
            f"{field}: {ref_id} -> no {model.__tablename__} record {ref_id} in project {project_id}"
        )


_REFERENCES: dict[str, type[Base]] = {"agent_id": Agent, "raw_file_id": RawFile}


def _check_refs(session: Session, project_id: int, values: Mapping[str, Any]) -> None:
    for field, model in _REFERENCES.items():
        if values.get(field) is not None:
            _same_project_ref(session, project_id, field, model, values[field])


# --- access ----------------------------------------------------------------------------------------


def _read_check(session: Session, actor: User, record: Base) -> None:
    auth.require_active(actor)
    if isinstance(record, Organization):
        if record.id != actor.organization_id:
            raise NotFound(f"organization {record.id} not found")
    elif isinstance(record, User):
        if record.organization_id != actor.organization_id:
            raise NotFound(f"user {record.id} not found")
    elif isinstance(record, Project):
        auth.require_project_access(session, actor, record.id, include_deleted=True)
    else:
        project_id = getattr(record, "project_id", None)
        if project_id is None:
            raise NotFound(f"{_label(record)} not found")
        try:
            auth.require_project_access(session, actor, project_id, include_deleted=True)
        except NotFound:
            raise NotFound(f"{_label(record)} not found") from None


def _write_check(session: Session, actor: User | None, record: Base) -> None:
    if actor is None:
        raise PermissionDenied(f"changing {_label(record)} needs a logged-in user")
    auth.require_active(actor)
    if isinstance(record, Organization):
        if record.id != actor.organization_id:
            raise NotFound(f"organization {record.id} not found")
        auth.require_role(actor, Role.ADMIN)
    elif isinstance(record, User):
        if record.organization_id != actor.organization_id:
            raise NotFound(f"user {record.id} not found")
        auth.require_role(actor, Role.ADMIN)
    elif isinstance(record, Project):
        auth.require_project_access(session, actor, record.id, Role.ADMIN)
    else:
        project_id = getattr(record, "project_id", None)
        if project_id is None:
            raise PermissionDenied(f"{_label(record)} cannot be changed through the service")
        roles = type(record).WRITE_ROLES or (Role.ADMIN,)
        auth.require_project_access(session, actor, project_id, *roles)


def get(session: Session, actor: User, model: type[R], record_id: int, *, include_deleted: bool = False) -> R:
    """The record ``model`` ``record_id`` if ``actor`` may read it, else :class:`NotFound`.

    Works for organizations and users (same organization), projects (membership) and every
    project record (access to its project).
    """
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(f"{model.__tablename__} {record_id} not found")
    _read_check(session, actor, record)
    if not include_deleted and getattr(record, "deleted_at", None) is not None:
        raise NotFound(f"{model.__tablename__} {record_id} was deleted")
    return record


def list_records(
    session: Session,
    actor: User,
    model: type[R],
    project_id: int,
    *,
    include_deleted: bool = False,
    limit: int | None = None,
    offset: int = 0,
    newest_first: bool = False,
    **filters: Any,
) -> list[R]:
    """Records of ``model`` in ``project_id`` (access checked), filtered by column equality.

    Example: ``list_records(s, user, Measurement, pid, batch_id=3, newest_first=True, limit=50)``.
    """
    return list(
        session.scalars(
            _project_query(session, actor, model, project_id, include_deleted, filters)
            .order_by(model.__table__.c.id.desc() if newest_first else model.__table__.c.id)
            .offset(max(0, offset))
            .limit(limit)
        )
    )


def count_records(
    session: Session,
    actor: User,
    model: type[R],
    project_id: int,
    *,
    include_deleted: bool = False,
    **filters: Any,
) -> int:
    """How many records :func:`list_records` would return without ``limit``/``offset``."""
    query = _project_query(session, actor, model, project_id, include_deleted, filters)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _project_query(
    session: Session,
    actor: User,
    model: type[R],
    project_id: int,
    include_deleted: bool,
    filters: Mapping[str, Any],
) -> Any:
    if "project_id" not in model.__table__.c:
        raise ValidationFailed(f"model: {model.__tablename__} -> records of a project are listed by project")
    auth.require_project_access(session, actor, project_id)
    stmt = select(model).where(model.__table__.c.project_id == project_id)
    if not include_deleted and "deleted_at" in model.__table__.c:
        stmt = stmt.where(model.__table__.c.deleted_at.is_(None))
    for field, value in filters.items():
        if field not in model.__table__.c:
            columns = ", ".join(sorted(model.__table__.c.keys()))
            raise ValidationFailed(f"filter {field}: unknown -> one of {columns}")
        stmt = stmt.where(model.__table__.c[field] == value)
    return stmt


def update(
    session: Session,
    actor: User,
    record: R,
    *,
    expected_version: int,
    reason: str | None = None,
    **changes: Any,
) -> R:
    """Change the ``EDITABLE`` fields of ``record``; audited with the old and new values.

    Raises :class:`Conflict` if the record is not at ``expected_version`` (or changes concurrently)
    and :class:`ValidationFailed` for non-editable fields, bad values or a missing reason (GxP
    records). Changing nothing is a no-op without an audit entry.
    """
    model = type(record)
    _write_check(session, actor, record)
    if getattr(record, "deleted_at", None) is not None:
        raise NotFound(f"{_label(record)} was deleted")
    not_editable = sorted(set(changes) - model.EDITABLE)
    if not_editable:
        allowed = ", ".join(sorted(model.EDITABLE)) or "none"
        raise ValidationFailed(
            f"{not_editable[0]}: cannot be changed on {model.__tablename__} -> editable fields: {allowed}"
        )
    values = _values(model, changes)
    project_id = getattr(record, "project_id", None)
    if project_id is not None:
        _check_refs(session, project_id, values)
    if isinstance(record, User):
        _guard_last_admin(session, record, values)
    if isinstance(record, ProjectMember) and values.get("role", Role.ADMIN) != Role.ADMIN:
        _guard_last_project_admin(session, record)
    if isinstance(record, Scenario) and "spec" in values:
        values["sha256"] = sha256_hex(canonical_json(values["spec"]))
    before = record_values(record)
    changed = {k: v for k, v in values.items() if to_jsonable(v, k) != before[k]}
    if not changed:
        return record
    why = _reason(model, reason, "update")
    _require_version(record, expected_version)
    for key, value in changed.items():
        setattr(record, key, value)
    if hasattr(record, "updated_at"):
        record.updated_at = utcnow()
    _flush_versioned(session, record)
    after = record_values(record)
    keys = [*changed, "updated_at", "version"]
    _audit(
        session,
        actor,
        AuditAction.UPDATE,
        record,
        {k: before[k] for k in keys if k in before},
        {k: after[k] for k in keys if k in after},
        why,
    )
    return record


def soft_delete(
    session: Session, actor: User, record: R, *, expected_version: int, reason: str | None = None
) -> R:
    """Mark ``record`` deleted (``deleted_at``); audited. Nothing is ever removed from the database."""
    model = type(record)
    if not model.DELETABLE or "deleted_at" not in model.__table__.c:
        raise ValidationFailed(f"{model.__tablename__} records cannot be deleted")
    _write_check(session, actor, record)
    if getattr(record, "deleted_at", None) is not None:
        raise NotFound(f"{_label(record)} was already deleted")
    why = _reason(model, reason, "delete")
    _require_version(record, expected_version)
    if isinstance(record, User):
        _guard_last_admin(session, record, {"is_active": False})
    if isinstance(record, ProjectMember):
        _guard_last_project_admin(session, record)
    before = record_values(record)
    now = utcnow()
    record.deleted_at = now  # type: ignore[attr-defined]
    record.updated_at = now  # type: ignore[attr-defined]
    _flush_versioned(session, record)
    after = record_values(record)
    keys = ("deleted_at", "updated_at", "version")
    _audit(
        session,
        actor,
        AuditAction.DELETE,
        record,
        {k: before[k] for k in keys},
        {k: after[k] for k in keys},
        why,
    )
    return record


def history(session: Session, actor: User, record: Base, *, limit: int = 1000) -> list[AuditEntry]:
    """The audit entries of one record (create, updates, delete, signatures), newest first."""
    _read_check(session, actor, record)
    record_id = getattr(record, "id", None) or getattr(record, "sha256", "")
    return audit_entries(session, table_name=record.__tablename__, record_id=record_id, limit=limit)


def audit_trail(
    session: Session,
    actor: User,
    *,
    project_id: int | None = None,
    table_name: str | None = None,
    record_id: int | str | None = None,
    user_id: int | None = None,
    before_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Audit entries the actor may see, newest first (page with ``before_seq``).

    With ``project_id``: that project's entries (membership required). Without: organization
    admins see every entry of their organization, other users the entries of their projects.
    """
    auth.require_active(actor)
    kwargs: dict[str, Any] = {
        "table_name": table_name,
        "record_id": record_id,
        "user_id": user_id,
        "before_seq": before_seq,
        "limit": limit,
    }
    if project_id is not None:
        auth.require_project_access(session, actor, project_id)
        return audit_entries(session, project_ids=[project_id], **kwargs)
    if actor.role == Role.ADMIN:
        return audit_entries(session, organization_id=actor.organization_id, **kwargs)
    ids = list(session.scalars(auth.accessible_projects(actor).with_only_columns(Project.id)))
    return audit_entries(session, project_ids=ids, **kwargs)


# --- organizations and users ----------------------------------------------------------------------


def create_organization(session: Session, actor: User | None, name: str) -> Organization:
    """A new organization. Only the system (``actor=None``, e.g. the CLI) creates organizations."""
    if actor is not None:
        raise PermissionDenied("organizations are created by the system administrator (nanobridge CLI)")
    values = _values(Organization, {"name": name})
    if session.scalar(select(Organization).where(Organization.name == values["name"])) is not None:
        raise Conflict(f"organization {values['name']!r} already exists")
    return _create(session, None, Organization(**values), actor_label="system:cli")


def create_user(
    session: Session,
    actor: User | None,
    *,
    email: str,
    name: str,
    password: str,
    role: Role | str = Role.VIEWER,
    organization_id: int | None = None,
    reason: str | None = None,
) -> User:
    """A new user. By an organization admin (in the admin's organization) or by the system
    (``actor=None``, ``organization_id`` required)."""
    if actor is not None:
        auth.require_role(actor, Role.ADMIN)
        if organization_id not in (None, actor.organization_id):
            raise PermissionDenied("admins create users in their own organization only")
        organization_id = actor.organization_id
    if organization_id is None or session.get(Organization, organization_id) is None:
        raise ValidationFailed(
            f"organization_id: {organization_id!r} -> an existing organization is required"
        )
    address = auth.normalize_email(email)
    if session.scalar(select(User).where(User.email == address)) is not None:
        raise Conflict(f"a user with email {address} already exists")
    now = utcnow()
    values = _values(User, {"name": name, "role": role})
    user = User(
        email=address,
        password_hash=auth.hash_password(password),
        is_active=True,
        organization_id=organization_id,
        password_changed_at=now,
        **values,
    )
    return _create(session, actor, user, reason, actor_label=None if actor else "system:cli")


def list_users(session: Session, actor: User, *, include_inactive: bool = False) -> list[User]:
    """Users of the actor's organization, by name. Admins may include deactivated and deleted ones.

    Never send ``password_hash`` to a client: serialize the fields you need.
    """
    auth.require_active(actor)
    stmt = select(User).where(User.organization_id == actor.organization_id).order_by(User.name, User.id)
    if not (include_inactive and actor.role == Role.ADMIN):
        stmt = stmt.where(User.is_active.is_(True), User.deleted_at.is_(None))
    return list(session.scalars(stmt))


def bootstrap_admin(
    session: Session, *, email: str, name: str, password: str, organization: str = "default"
) -> User:
    """Create an admin user (and the organization if new) without a logged-in user, for the CLI."""
    org_name = _text("organization", organization, max_length=200, required=True)
    org = session.scalar(select(Organization).where(Organization.name == org_name))
    if org is None:
        org = create_organization(session, None, org_name)
    return create_user(
        session,
        None,
        email=email,
        name=name,
        password=password,
        role=Role.ADMIN,
        organization_id=org.id,
        reason="first administrator created from the command line",
    )


def set_password(
    session: Session,
    actor: User,
    user_id: int,
    new_password: str,
    *,
    current_password: str | None = None,
    reason: str | None = None,
) -> User:
    """Change a password: one's own with ``current_password``, anyone's in the organization as admin."""
    user = get(session, actor, User, user_id)
    if user.id == actor.id:
        if current_password is None or not auth.verify_password(user.password_hash, current_password):
            raise PermissionDenied("the current password is wrong")
        why = reason or "password changed by the user"
    else:
        auth.require_role(actor, Role.ADMIN)
        why = _reason(User, reason, "reset the password of")
    before = record_values(user)
    user.password_hash = auth.hash_password(new_password)
    user.password_changed_at = user.updated_at = utcnow()
    _flush_and_audit_update(
        session, actor, user, before, ("password_hash", "password_changed_at", "updated_at", "version"), why
    )
    return user


def _guard_last_admin(session: Session, user: User, values: Mapping[str, Any]) -> None:
    losing = (user.role == Role.ADMIN and values.get("role", Role.ADMIN) != Role.ADMIN) or (
        user.role == Role.ADMIN and values.get("is_active", True) is False
    )
    if not losing:
        return
    others = session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.organization_id == user.organization_id,
            User.role == Role.ADMIN,
            User.is_active.is_(True),
            User.deleted_at.is_(None),
            User.id != user.id,
        )
    )
    if not others:
        raise Conflict(f"{user.email} is the last active admin of the organization; appoint another first")


# --- projects and members -------------------------------------------------------------------------


def create_project(session: Session, actor: User, name: str, description: str = "") -> Project:
    """A new project in the actor's organization; the creator becomes its project admin."""
    auth.require_role(actor, Role.SCIENTIST, Role.QA)
    values = _values(Project, {"name": name, "description": description})
    clash = session.scalar(
        select(Project).where(
            Project.organization_id == actor.organization_id,
            Project.name == values["name"],
            Project.deleted_at.is_(None),
        )
    )
    if clash is not None:
        raise Conflict(f"project {values['name']!r} already exists (project {clash.id})")
    project = _create(session, actor, Project(organization_id=actor.organization_id, **values))
    _create(session, actor, ProjectMember(project_id=project.id, user_id=actor.id, role=Role.ADMIN))
    return project


def list_projects(session: Session, actor: User, *, include_deleted: bool = False) -> list[Project]:
    """The projects the actor can see."""
    auth.require_active(actor)
    return list(session.scalars(auth.accessible_projects(actor, include_deleted=include_deleted)))


def add_member(
    session: Session,
    actor: User,
    project_id: int,
    user_id: int,
    role: Role | str,
    *,
    reason: str | None = None,
) -> ProjectMember:
    """Give a user of the same organization a role in the project (project admins only).

    A removed membership is restored (audited as an update).
    """
    auth.require_project_access(session, actor, project_id, Role.ADMIN)
    user = session.get(User, user_id)
    if user is None or user.organization_id != actor.organization_id or user.deleted_at is not None:
        raise NotFound(f"user {user_id} not found")
    role_value = _coerce(ProjectMember, "role", role)
    existing = session.scalar(
        select(ProjectMember).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
    )
    if existing is None:
        return _create(
            session, actor, ProjectMember(project_id=project_id, user_id=user_id, role=role_value), reason
        )
    if existing.deleted_at is None:
        raise Conflict(f"{user.email} is already a member of project {project_id} (as {existing.role})")
    why = _reason(ProjectMember, reason, "restore")
    before = record_values(existing)
    existing.deleted_at = None
    existing.role = role_value
    existing.updated_at = utcnow()
    _flush_and_audit_update(
        session, actor, existing, before, ("deleted_at", "role", "updated_at", "version"), why
    )
    return existing


def list_members(session: Session, actor: User, project_id: int) -> list[tuple[ProjectMember, User]]:
    """Active memberships of a project with their users."""
    auth.require_project_access(session, actor, project_id)
    rows = session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id, ProjectMember.deleted_at.is_(None))
        .order_by(User.name)
    )
    return [(member, user) for member, user in rows]


def _guard_last_project_admin(session: Session, member: ProjectMember) -> None:
    if member.role != Role.ADMIN:
        return
    others = session.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(
            ProjectMember.project_id == member.project_id,
            ProjectMember.role == Role.ADMIN,
            ProjectMember.deleted_at.is_(None),
            ProjectMember.id != member.id,
        )
    )
    if not others:
        raise Conflict(
            f"the last admin of project {member.project_id} cannot be removed; appoint another first"
        )


# --- agents and scenarios -------------------------------------------------------------------------


def _spec(spec: Any) -> tuple[Any, str]:
    value = _coerce(AgentSpecVersion, "spec", spec)
    return value, sha256_hex(canonical_json(value))


def create_agent(
    session: Session,
    actor: User,
    project_id: int,
    *,
    name: str,
    spec: Mapping[str, Any],
    description: str = "",
    note: str = "",
) -> Agent:
    """A new agent with its first spec version (``spec`` is the agent's JSON; the store does not
    interpret it, the caller validates it with :mod:`nanobridge.domain` first)."""
    auth.require_project_access(session, actor, project_id, *Agent.WRITE_ROLES)
    values = _values(Agent, {"name": name, "description": description})
    spec_value, digest = _spec(spec)
    agent = _create(session, actor, Agent(project_id=project_id, current_version_number=1, **values))
    version = AgentSpecVersion(
        project_id=project_id,
        agent_id=agent.id,
        number=1,
        spec=spec_value,
        sha256=digest,
        note=_coerce(AgentSpecVersion, "note", note),
        created_by_id=actor.id,
    )
    _create(session, actor, version)
    return agent


def add_agent_version(
    session: Session,
    actor: User,
    agent_id: int,
    spec: Mapping[str, Any],
    *,
    expected_version: int,
    reason: str,
) -> AgentSpecVersion:
    """Store a new immutable spec version and make it current (``expected_version`` of the agent)."""
    agent = get(session, actor, Agent, agent_id)
    _write_check(session, actor, agent)
    why = _reason(Agent, reason, "change")
    _require_version(agent, expected_version)
    spec_value, digest = _spec(spec)
    current = current_agent_version(session, actor, agent_id)
    if current.sha256 == digest:
        raise ValidationFailed(f"spec: identical to the current version {current.number} -> nothing to store")
    number = (
        session.scalar(select(func.max(AgentSpecVersion.number)).where(AgentSpecVersion.agent_id == agent_id))
        or 0
    ) + 1
    version = AgentSpecVersion(
        project_id=agent.project_id,
        agent_id=agent.id,
        number=number,
        spec=spec_value,
        sha256=digest,
        note=why,
        created_by_id=actor.id,
    )
    _create(session, actor, version, why)
    _set_current(session, actor, agent, number, why)
    return version


def _set_current(session: Session, actor: User, agent: Agent, number: int, why: str) -> None:
    before = record_values(agent)
    agent.current_version_number = number
    agent.updated_at = utcnow()
    _flush_and_audit_update(
        session, actor, agent, before, ("current_version_number", "updated_at", "version"), why
    )


def set_current_agent_version(
    session: Session, actor: User, agent_id: int, number: int, *, expected_version: int, reason: str
) -> Agent:
    """Point the agent at an existing spec version (e.g. revert to version 2)."""
    agent = get(session, actor, Agent, agent_id)
    _write_check(session, actor, agent)
    why = _reason(Agent, reason, "change")
    _require_version(agent, expected_version)
    exists = session.scalar(
        select(AgentSpecVersion.id).where(
            AgentSpecVersion.agent_id == agent_id, AgentSpecVersion.number == number
        )
    )
    if exists is None:
        raise ValidationFailed(f"number: {number!r} -> no version {number} of agent {agent_id}")
    if agent.current_version_number != number:
        _set_current(session, actor, agent, number, why)
    return agent


def agent_versions(session: Session, actor: User, agent_id: int) -> list[AgentSpecVersion]:
    """Every spec version of the agent, oldest first."""
    get(session, actor, Agent, agent_id, include_deleted=True)
    return list(
        session.scalars(
            select(AgentSpecVersion)
            .where(AgentSpecVersion.agent_id == agent_id)
            .order_by(AgentSpecVersion.number)
        )
    )


def current_agent_version(session: Session, actor: User, agent_id: int) -> AgentSpecVersion:
    """The agent's current spec version."""
    agent = get(session, actor, Agent, agent_id, include_deleted=True)
    version = session.scalar(
        select(AgentSpecVersion).where(
            AgentSpecVersion.agent_id == agent_id, AgentSpecVersion.number == agent.current_version_number
        )
    )
    if version is None:  # pragma: no cover - the service always writes the pointer with its version
        raise NotFound(f"agent {agent_id}: current version {agent.current_version_number} not found")
    return version


def create_scenario(
    session: Session,
    actor: User,
    project_id: int,
    *,
    name: str,
    spec: Mapping[str, Any],
    description: str = "",
) -> Scenario:
    """A new scenario (species, dose, route, duration as JSON)."""
    auth.require_project_access(session, actor, project_id, *Scenario.WRITE_ROLES)
    values = _values(Scenario, {"name": name, "description": description, "spec": spec})
    values["sha256"] = sha256_hex(canonical_json(values["spec"]))
    return _create(session, actor, Scenario(project_id=project_id, **values))


# --- simulation runs ------------------------------------------------------------------------------


def submit_run(
    session: Session,
    actor: User,
    *,
    agent_version_id: int,
    scenario_id: int | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> SimulationRun:
    """Queue a simulation of an agent spec version (in a scenario); the scenario spec is copied."""
    version = get(session, actor, AgentSpecVersion, agent_version_id)
    auth.require_project_access(session, actor, version.project_id, *SimulationRun.WRITE_ROLES)
    scenario_spec = scenario_sha = None
    if scenario_id is not None:
        scenario = get(session, actor, Scenario, scenario_id)
        if scenario.project_id != version.project_id:
            raise ValidationFailed(f"scenario_id: {scenario_id} -> not in project {version.project_id}")
        scenario_spec, scenario_sha = scenario.spec, scenario.sha256
    run = SimulationRun(
        project_id=version.project_id,
        agent_version_id=version.id,
        scenario_id=scenario_id,
        scenario_spec=scenario_spec,
        scenario_sha256=scenario_sha,
        status=RunStatus.QUEUED,
        progress=0.0,
        parameters=_coerce(SimulationRun, "parameters", dict(parameters or {})),
    )
    return _create(session, actor, run)


def _transition(session: Session, actor: User, run_id: int, to: RunStatus, **fields: Any) -> SimulationRun:
    run = get(session, actor, SimulationRun, run_id)
    _write_check(session, actor, run)
    if to not in _RUN_TRANSITIONS[run.status]:
        raise Conflict(f"simulation run {run_id} is {run.status}; it cannot become {to}")
    before = record_values(run)
    run.status = to
    for key, value in fields.items():
        setattr(run, key, value)
    run.updated_at = utcnow()
    _flush_versioned(session, run)
    after = record_values(run)
    keys = ["status", *fields, "updated_at", "version"]
    _audit(session, actor, AuditAction.UPDATE, run, {k: before[k] for k in keys}, {k: after[k] for k in keys})
    return run


def start_run(session: Session, actor: User, run_id: int) -> SimulationRun:
    """queued -> running (sets ``started_at``)."""
    return _transition(session, actor, run_id, RunStatus.RUNNING, started_at=utcnow())


def set_run_progress(session: Session, actor: User, run_id: int, progress: float) -> SimulationRun:
    """Update the progress (0..1) of a running run.

    Progress ticks are operational, not record changes: they bump ``version`` but are **not**
    audited (status transitions are).
    """
    run = get(session, actor, SimulationRun, run_id)
    _write_check(session, actor, run)
    value = _coerce(SimulationRun, "progress", progress)
    if not 0.0 <= value <= 1.0:
        raise ValidationFailed(f"progress: {progress!r} -> a fraction between 0 and 1")
    if run.status != RunStatus.RUNNING:
        raise Conflict(f"simulation run {run_id} is {run.status}, not running")
    run.progress = value
    _flush_versioned(session, run)
    return run


def finish_run(session: Session, actor: User, run_id: int) -> SimulationRun:
    """running -> done (progress 1, ``finished_at``)."""
    return _transition(session, actor, run_id, RunStatus.DONE, progress=1.0, finished_at=utcnow())


def fail_run(session: Session, actor: User, run_id: int, error: str) -> SimulationRun:
    """queued/running -> failed with an error message."""
    message = _text("error", error, max_length=20_000, required=True)
    return _transition(session, actor, run_id, RunStatus.FAILED, error=message, finished_at=utcnow())


def add_run_result(
    session: Session,
    actor: User,
    run_id: int,
    *,
    kind: str,
    summary: Mapping[str, Any],
    data: bytes | None = None,
    file_name: str | None = None,
    media_type: str = "application/octet-stream",
    blob_root: Path | None = None,
) -> SimulationResult:
    """Attach a result to a run: summary metrics (JSON) and optionally a data file (NetCDF/CSV)."""
    run = get(session, actor, SimulationRun, run_id)
    _write_check(session, actor, run)
    values = _values(SimulationResult, {"kind": kind, "summary": summary})
    raw_file_id = None
    if data is not None:
        raw = store_raw_file(
            session,
            actor,
            run.project_id,
            data,
            original_name=file_name or f"run{run_id}_{values['kind']}.bin",
            media_type=media_type,
            blob_root=blob_root,
        )
        raw_file_id = raw.id
    return _create(
        session,
        actor,
        SimulationResult(project_id=run.project_id, run_id=run.id, raw_file_id=raw_file_id, **values),
    )


# --- batches, measurements, QC --------------------------------------------------------------------


def create_batch(
    session: Session,
    actor: User,
    project_id: int,
    *,
    lot_number: str,
    agent_id: int | None = None,
    site: str = "",
    scale: str = "",
    manufactured_at: datetime | None = None,
    data: Mapping[str, Any] | None = None,
) -> Batch:
    """A new batch (status pending) with a lot number unique within the project."""
    auth.require_project_access(session, actor, project_id, *Batch.WRITE_ROLES)
    values = _values(
        Batch,
        {
            "lot_number": lot_number,
            "agent_id": agent_id,
            "site": site,
            "scale": scale,
            "manufactured_at": manufactured_at,
            "data": data,
        },
    )
    _check_refs(session, project_id, values)
    clash = session.scalar(
        select(Batch.id).where(
            Batch.project_id == project_id,
            Batch.lot_number == values["lot_number"],
            Batch.deleted_at.is_(None),
        )
    )
    if clash is not None:
        raise Conflict(f"lot {values['lot_number']!r} already exists in project {project_id} (batch {clash})")
    return _create(session, actor, Batch(project_id=project_id, status=BatchStatus.PENDING, **values))


def add_measurement(
    session: Session,
    actor: User,
    batch_id: int,
    *,
    kind: str,
    value: float | None = None,
    unit: str = "",
    method: str = "",
    data: Mapping[str, Any] | None = None,
    measured_at: datetime | None = None,
    raw_file_id: int | None = None,
) -> Measurement:
    """A characterization result of a batch (value with unit, or structured ``data``)."""
    batch = get(session, actor, Batch, batch_id)
    auth.require_project_access(session, actor, batch.project_id, *Measurement.WRITE_ROLES)
    values = _values(
        Measurement,
        {
            "kind": kind,
            "value": value,
            "unit": unit,
            "method": method,
            "data": data,
            "measured_at": measured_at,
            "raw_file_id": raw_file_id,
        },
    )
    _check_refs(session, batch.project_id, values)
    return _create(session, actor, Measurement(project_id=batch.project_id, batch_id=batch.id, **values))


def record_qc_decision(
    session: Session,
    actor: User,
    batch_id: int,
    *,
    outcome: QCOutcome | str,
    rationale: str,
    report: Mapping[str, Any] | None = None,
    expected_batch_version: int | None = None,
) -> QCDecision:
    """QA decides a batch (release, reject, hold); the batch status follows. Sign it afterwards
    with :func:`nanobridge.store.signatures.sign` (meaning ``released``)."""
    batch = get(session, actor, Batch, batch_id)
    auth.require_project_access(session, actor, batch.project_id, *QCDecision.WRITE_ROLES)
    if expected_batch_version is not None:
        _require_version(batch, expected_batch_version)
    values = _values(QCDecision, {"outcome": outcome, "rationale": rationale, "report": report})
    decision = _create(session, actor, QCDecision(project_id=batch.project_id, batch_id=batch.id, **values))
    status = _BATCH_STATUS[values["outcome"]]
    if batch.status != status:
        before = record_values(batch)
        batch.status = status
        batch.updated_at = utcnow()
        _flush_versioned(session, batch)
        after = record_values(batch)
        keys = ("status", "updated_at", "version")
        _audit(
            session,
            actor,
            AuditAction.UPDATE,
            batch,
            {k: before[k] for k in keys},
            {k: after[k] for k in keys},
            f"QC decision {decision.id}: {values['rationale']}",
        )
    return decision


# --- raw files, evidence, documents ---------------------------------------------------------------


def store_raw_file(
    session: Session,
    actor: User,
    project_id: int,
    data: bytes,
    *,
    original_name: str,
    media_type: str = "application/octet-stream",
    blob_root: Path | None = None,
) -> RawFile:
    """Store a file's bytes (content-addressed, see :mod:`nanobridge.store.blobs`) and record it.

    Size and type limits of uploads are the web layer's; the store accepts any bytes.
    """
    auth.require_project_access(session, actor, project_id, *RawFile.WRITE_ROLES)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationFailed(f"data: {type(data).__name__} -> bytes are required")
    content = bytes(data)
    values = _values(RawFile, {"original_name": original_name, "media_type": media_type})
    blob = put_blob(session, content, root=blob_root)
    return _create(
        session,
        actor,
        RawFile(project_id=project_id, sha256=blob.sha256, size_bytes=blob.size_bytes, **values),
    )


def read_raw_file(session: Session, actor: User, raw_file_id: int, *, blob_root: Path | None = None) -> bytes:
    """The bytes of a raw file, verified against its SHA-256 (:class:`ChecksumMismatch` if not)."""
    raw = get(session, actor, RawFile, raw_file_id)
    return read_blob(session, raw.sha256, root=blob_root)


def create_evidence_item(
    session: Session,
    actor: User,
    project_id: int,
    *,
    category: str,
    title: str,
    summary: str = "",
    source: str = "",
    agent_id: int | None = None,
    raw_file_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> EvidenceItem:
    """A new evidence item (e.g. category ``toxicology``, ``dosimetry``, ``cmc``) with its source."""
    auth.require_project_access(session, actor, project_id, *EvidenceItem.WRITE_ROLES)
    values = _values(
        EvidenceItem,
        {
            "category": category,
            "title": title,
            "summary": summary,
            "source": source,
            "agent_id": agent_id,
            "raw_file_id": raw_file_id,
            "data": data,
        },
    )
    _check_refs(session, project_id, values)
    return _create(session, actor, EvidenceItem(project_id=project_id, **values))


def create_document(
    session: Session,
    actor: User,
    project_id: int,
    *,
    title: str,
    kind: str,
    body: str = "",
    status: DocumentStatus | str = DocumentStatus.DRAFT,
    raw_file_id: int | None = None,
) -> Document:
    """A new document (text ``body`` and/or an attached raw file)."""
    auth.require_project_access(session, actor, project_id, *Document.WRITE_ROLES)
    values = _values(
        Document, {"title": title, "kind": kind, "body": body, "status": status, "raw_file_id": raw_file_id}
    )
    _check_refs(session, project_id, values)
    return _create(session, actor, Document(project_id=project_id, **values))
