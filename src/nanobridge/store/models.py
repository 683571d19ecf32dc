"""SQLAlchemy 2 models of the shared workspace.

Conventions every table follows:

* ``id`` integer primary keys; ``created_at`` (UTC) and ``created_by_id`` on every record.
* **Soft delete only**: records that can be removed carry ``deleted_at``; nothing is ever
  hard-deleted through the service, and the audit trail keeps the history.
* **Optimistic versioning**: records that change carry ``version`` (SQLAlchemy's
  ``version_id_col``): every UPDATE checks and increments it, so two concurrent edits of the same
  version cannot both win; the service turns the loser into :class:`~.errors.Conflict`.
* **Immutable records** (agent spec versions, signatures, the audit log) have neither
  ``version`` nor ``deleted_at``; database triggers reject UPDATE and DELETE on them.
* Everything that belongs to a project carries ``project_id`` itself (also children such as
  measurements), so access control is one uniform check.

Class attributes steer the generic service operations (:mod:`nanobridge.store.service`):
``EDITABLE`` (fields :func:`~.service.update` may change), ``GXP`` (updates and deletes need a
reason), ``WRITE_ROLES`` (project roles that may create/change it), ``DELETABLE`` and
``REDACTED`` (fields the audit trail shows as ``"<redacted>"``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from nanobridge.store.canonical import utcnow
from nanobridge.store.types import JSONText, UTCDateTime

__all__ = [
    "PROJECT_MODELS",
    "Agent",
    "AgentSpecVersion",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "Batch",
    "BatchStatus",
    "Blob",
    "Document",
    "DocumentStatus",
    "EvidenceItem",
    "Measurement",
    "Organization",
    "Project",
    "ProjectMember",
    "ProjectRecord",
    "QCDecision",
    "QCOutcome",
    "RawFile",
    "Record",
    "Role",
    "RunStatus",
    "Scenario",
    "Signature",
    "SignatureMeaning",
    "SimulationResult",
    "SimulationRun",
    "User",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(enum.StrEnum):
    """Roles, both organization-wide (:attr:`User.role`) and per project (:attr:`ProjectMember.role`).

    viewer reads; scientist creates and edits scientific records; qa records QC decisions and
    signs reviews, approvals and releases; admin may do everything and manages users.
    """

    VIEWER = "viewer"
    SCIENTIST = "scientist"
    QA = "qa"
    ADMIN = "admin"


class RunStatus(enum.StrEnum):
    """Life cycle of a simulation run: queued -> running -> done | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BatchStatus(enum.StrEnum):
    """Disposition of a manufactured batch, set by QC decisions."""

    PENDING = "pending"
    RELEASED = "released"
    REJECTED = "rejected"
    ON_HOLD = "on_hold"


class QCOutcome(enum.StrEnum):
    """What a QC decision decides for its batch."""

    RELEASE = "release"
    REJECT = "reject"
    HOLD = "hold"


class DocumentStatus(enum.StrEnum):
    """Status of a document."""

    DRAFT = "draft"
    FINAL = "final"
    SUPERSEDED = "superseded"


class SignatureMeaning(enum.StrEnum):
    """The meaning of an electronic signature (21 CFR 11.50)."""

    AUTHORED = "authored"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    RELEASED = "released"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum column: VARCHAR + CHECK constraint holding the values (not the names)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    #: Fields :func:`nanobridge.store.service.update` may change.
    EDITABLE: ClassVar[frozenset[str]] = frozenset()
    #: Updates and deletes need a reason (records under GxP).
    GXP: ClassVar[bool] = True
    #: Whether :func:`nanobridge.store.service.soft_delete` is allowed.
    DELETABLE: ClassVar[bool] = True
    #: Fields shown as ``"<redacted>"`` in the audit trail.
    REDACTED: ClassVar[frozenset[str]] = frozenset()
    #: Project roles that may create or change records of this kind (admin always may).
    WRITE_ROLES: ClassVar[tuple[Role, ...]] = (Role.SCIENTIST, Role.QA)


class Record(Base):
    """Abstract base of changeable records: id, creation stamp, soft delete, optimistic version."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True, sort_order=-100)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @property
    def is_deleted(self) -> bool:
        """True once the record is soft-deleted."""
        return self.deleted_at is not None


class ProjectRecord(Record):
    """Abstract base of records that belong to a project."""

    __abstract__ = True

    @declared_attr
    def project_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("projects.id"), nullable=False, index=True, sort_order=-90)


# --- organizations, users, projects -------------------------------------------------------------


class Organization(Record):
    """A team or company; users and projects belong to exactly one."""

    __tablename__ = "organizations"
    EDITABLE = frozenset({"name"})
    GXP = False
    WRITE_ROLES = ()

    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    #: No foreign key here: users belong to organizations, so the reverse link would be a cycle.
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class User(Record):
    """A person who logs in. ``role`` is organization-wide; project access needs a membership
    (except for admins, who see every project of their organization)."""

    __tablename__ = "users"
    EDITABLE = frozenset({"name", "role", "is_active"})
    REDACTED = frozenset({"password_hash"})
    WRITE_ROLES = ()

    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Project(Record):
    """A development programme of one organization (e.g. one agent family towards an IND)."""

    __tablename__ = "projects"
    EDITABLE = frozenset({"name", "description"})
    GXP = False
    WRITE_ROLES = ()

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ProjectMember(Record):
    """Membership of a user in a project, with the user's role in that project."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)
    EDITABLE = frozenset({"role"})
    WRITE_ROLES = ()

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), nullable=False)


# --- agents, scenarios, simulations --------------------------------------------------------------


class Agent(ProjectRecord):
    """An imaging agent; its specification lives in immutable :class:`AgentSpecVersion` rows.

    ``current_version_number`` points at the version in use (normally the latest).
    """

    __tablename__ = "agents"
    EDITABLE = frozenset({"name", "description"})

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    current_version_number: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class AgentSpecVersion(Base):
    """One immutable version of an agent's specification (JSON) and its SHA-256."""

    __tablename__ = "agent_spec_versions"
    __table_args__ = (UniqueConstraint("agent_id", "number"),)
    DELETABLE = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    spec: Mapped[Any] = mapped_column(JSONText(), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class Scenario(ProjectRecord):
    """Who receives the agent and how (species, dose, route, duration) as JSON."""

    __tablename__ = "scenarios"
    EDITABLE = frozenset({"name", "description", "spec"})

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    spec: Mapped[Any] = mapped_column(JSONText(), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class SimulationRun(ProjectRecord):
    """A simulation of one agent version in one scenario, run as a background job.

    The scenario's spec is copied at submission (``scenario_spec``/``scenario_sha256``), so a run
    stays reproducible when the scenario is edited later.
    """

    __tablename__ = "simulation_runs"
    GXP = False

    agent_version_id: Mapped[int] = mapped_column(
        ForeignKey("agent_spec_versions.id"), nullable=False, index=True
    )
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("scenarios.id"), nullable=True, index=True)
    scenario_spec: Mapped[Any] = mapped_column(JSONText(), nullable=True)
    scenario_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "status"), nullable=False)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    parameters: Mapped[Any] = mapped_column(JSONText(), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class SimulationResult(ProjectRecord):
    """A result of a run: summary metrics (JSON) and optionally a data file (NetCDF/CSV raw file)."""

    __tablename__ = "simulation_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("simulation_runs.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    raw_file_id: Mapped[int | None] = mapped_column(ForeignKey("raw_files.id"), nullable=True)
    summary: Mapped[Any] = mapped_column(JSONText(), nullable=False)


# --- manufacturing and QC -------------------------------------------------------------------------


class Batch(ProjectRecord):
    """A manufactured lot. Its ``status`` changes only through :class:`QCDecision` records."""

    __tablename__ = "batches"
    EDITABLE = frozenset({"lot_number", "agent_id", "site", "scale", "manufactured_at", "data"})

    lot_number: Mapped[str] = mapped_column(String(100), nullable=False)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True, index=True)
    site: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    scale: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    manufactured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus, "status"), nullable=False)
    data: Mapped[Any] = mapped_column(JSONText(), nullable=True)


class Measurement(ProjectRecord):
    """One characterization result of a batch (e.g. DLS z-average in nm), with its unit and method."""

    __tablename__ = "measurements"
    EDITABLE = frozenset({"kind", "value", "unit", "method", "data", "measured_at", "raw_file_id"})

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(50), nullable=False, default="")
    method: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    data: Mapped[Any] = mapped_column(JSONText(), nullable=True)
    measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    raw_file_id: Mapped[int | None] = mapped_column(ForeignKey("raw_files.id"), nullable=True)


class QCDecision(ProjectRecord):
    """A QA disposition of a batch (release, reject, hold) with its rationale; sets the batch status.

    Decisions are not edited or deleted: a later decision supersedes an earlier one.
    """

    __tablename__ = "qc_decisions"
    DELETABLE = False
    WRITE_ROLES = (Role.QA,)

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), nullable=False, index=True)
    outcome: Mapped[QCOutcome] = mapped_column(_enum(QCOutcome, "outcome"), nullable=False)
    rationale: Mapped[str] = mapped_column(Text, nullable=False)
    report: Mapped[Any] = mapped_column(JSONText(), nullable=True)


# --- files, evidence, documents ------------------------------------------------------------------


class Blob(Base):
    """Content-addressed bytes, keyed by SHA-256, shared by every raw file with that content.

    Small contents (``storage == "db"``) are kept in ``content``; larger ones (``"file"``) in the
    blob directory, ``<blob root>/ab/cdef...`` (see :mod:`nanobridge.store.blobs`).
    """

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    storage: Mapped[str] = mapped_column(String(10), nullable=False)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class RawFile(ProjectRecord):
    """An uploaded or produced file: its name and type as given, and the blob holding its bytes."""

    __tablename__ = "raw_files"
    EDITABLE = frozenset({"original_name"})

    sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), nullable=False, index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(String(255), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)


class EvidenceItem(ProjectRecord):
    """A piece of evidence towards the IND (a study, a calculation, a literature value)."""

    __tablename__ = "evidence_items"
    EDITABLE = frozenset({"category", "title", "summary", "source", "agent_id", "raw_file_id", "data"})

    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False, default="")
    source: Mapped[str] = mapped_column(Text, nullable=False, default="")
    raw_file_id: Mapped[int | None] = mapped_column(ForeignKey("raw_files.id"), nullable=True)
    data: Mapped[Any] = mapped_column(JSONText(), nullable=True)


class Document(ProjectRecord):
    """A controlled document (report, SOP, dossier section): text body and/or an attached file."""

    __tablename__ = "documents"
    EDITABLE = frozenset({"title", "kind", "status", "body", "raw_file_id"})

    title: Mapped[str] = mapped_column(String(300), nullable=False)
    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[DocumentStatus] = mapped_column(_enum(DocumentStatus, "status"), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    raw_file_id: Mapped[int | None] = mapped_column(ForeignKey("raw_files.id"), nullable=True)


# --- signatures and the audit trail ---------------------------------------------------------------


class Signature(Base):
    """An electronic signature, bound to the SHA-256 of the exact record version it signs.

    ``signature_hash`` covers every field of the signature itself. Immutable (trigger-protected).
    """

    __tablename__ = "signatures"
    __table_args__ = (Index("ix_signatures_record", "table_name", "record_id"),)
    DELETABLE = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), nullable=False, index=True)
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[int] = mapped_column(Integer, nullable=False)
    record_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    record_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    printed_name: Mapped[str] = mapped_column(String(200), nullable=False)
    meaning: Mapped[SignatureMeaning] = mapped_column(_enum(SignatureMeaning, "meaning"), nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    signature_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditEntry(Base):
    """One append-only, hash-chained audit trail entry (see :mod:`nanobridge.store.audit`)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "table_name", "record_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(400), nullable=False)
    #: Scope of the record, for access-filtered browsing (no foreign keys: the log stands alone).
    organization_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    table_name: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    old_values: Mapped[Any] = mapped_column(JSONText(), nullable=True)
    new_values: Mapped[Any] = mapped_column(JSONText(), nullable=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


class AuditChainHead(Base):
    """The single row (``id == 1``) holding the last sequence number and hash of the audit chain.

    Appending locks this row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock), so
    concurrent writers append one after another.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)


#: Models that belong to a project (have ``project_id``), by table name.
PROJECT_MODELS: dict[str, type[Base]] = {
    cls.__tablename__: cls
    for cls in (
        Agent,
        AgentSpecVersion,
        Scenario,
        SimulationRun,
        SimulationResult,
        Batch,
        Measurement,
        QCDecision,
        RawFile,
        EvidenceItem,
        Document,
    )
}
