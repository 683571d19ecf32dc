"""Request and response models of the JSON API (they make the OpenAPI document).

Responses are built from store records field by field (:func:`user_out` etc.): nothing is
serialized that is not listed here, so password hashes never leave the server. Request models
forbid unknown fields and bound every number and text, so malformed input is a 422 that names
the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nanobridge.store import models as m
from nanobridge.store.models import BatchStatus, QCOutcome, Role, RunStatus, SignatureMeaning

__all__ = [
    "MAX_ID",
    "AgentIn",
    "AgentOut",
    "AgentPatch",
    "AgentVersionIn",
    "AgentVersionOut",
    "AuditEntryOut",
    "AuditPage",
    "AuditVerifyOut",
    "BatchIn",
    "BatchOut",
    "BatchPage",
    "CsrfOut",
    "DecisionIn",
    "DecisionOut",
    "Health",
    "LoginIn",
    "MeasurementIn",
    "MeasurementOut",
    "MemberIn",
    "MemberOut",
    "PasswordChangeIn",
    "PasswordResetIn",
    "ProblemOut",
    "ProjectIn",
    "ProjectOut",
    "RawFileOut",
    "ResultOut",
    "RunIn",
    "RunOut",
    "ScenarioIn",
    "ScenarioOut",
    "SessionOut",
    "SignIn",
    "SignatureOut",
    "UserIn",
    "UserOut",
    "UserPatch",
]

#: Largest id accepted (ids are 32-bit integers in the database).
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Version = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
LongText = Annotated[str, Field(max_length=20_000)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
SpecMapping = Annotated[
    dict[str, Any], Field(description="the spec as a JSON object (the same fields as YAML)")
]
SIGNABLE = Literal[
    "agents",
    "agent_spec_versions",
    "scenarios",
    "simulation_runs",
    "simulation_results",
    "batches",
    "measurements",
    "qc_decisions",
    "raw_files",
    "evidence_items",
    "documents",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


# --- auth and users -----------------------------------------------------------------------------------


class LoginIn(_In):
    email: Annotated[str, Field(min_length=1, max_length=320)]
    password: Password


class CsrfOut(BaseModel):
    csrf_token: str = Field(description="send it as the X-CSRF-Token header with every POST/PATCH/DELETE")


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    organization_id: int
    created_at: datetime
    version: int


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str


class UserIn(_In):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Name
    password: Annotated[str, Field(min_length=10, max_length=1024)]
    role: Role = Role.VIEWER


class UserPatch(_In):
    expected_version: Version
    reason: Reason
    name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None


class PasswordChangeIn(_In):
    current_password: Password
    new_password: Annotated[str, Field(min_length=10, max_length=1024)]


class PasswordResetIn(_In):
    new_password: Annotated[str, Field(min_length=10, max_length=1024)]
    reason: Reason


# --- projects -----------------------------------------------------------------------------------------


class ProjectIn(_In):
    name: Name
    description: LongText = ""


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    organization_id: int
    created_at: datetime
    version: int
    my_role: Role | None = None


class MemberIn(_In):
    user_id: Id
    role: Role
    reason: Annotated[str, Field(max_length=2000)] | None = None


class MemberOut(BaseModel):
    id: int
    project_id: int
    user_id: int
    user_name: str
    user_email: str
    role: Role


# --- agents and scenarios --------------------------------------------------------------------------------


class ProblemOut(BaseModel):
    """One problem of an invalid spec: where (``path``, also as ``loc``), what was given, what is allowed."""

    loc: list[str | int]
    path: str
    value: str | None
    msg: str
    type: str = "spec_error"


class AgentIn(_In):
    spec: SpecMapping
    name: Name | None = Field(default=None, description="defaults to the spec's name")
    description: LongText = ""
    note: Annotated[str, Field(max_length=2000)] = ""


class AgentPatch(_In):
    expected_version: Version
    reason: Reason
    name: Name | None = None
    description: LongText | None = None


class AgentVersionIn(_In):
    spec: SpecMapping
    expected_version: Version = Field(description="the agent's version you saw (optimistic locking)")
    reason: Reason


class AgentVersionOut(BaseModel):
    id: int
    agent_id: int
    project_id: int
    number: int
    spec: dict[str, Any]
    sha256: str
    note: str
    created_at: datetime
    created_by_id: int | None


class AgentOut(BaseModel):
    id: int
    project_id: int
    name: str
    description: str
    current_version_number: int
    created_at: datetime
    updated_at: datetime | None
    version: int
    current: AgentVersionOut | None = None


class ScenarioIn(_In):
    spec: SpecMapping
    name: Name | None = Field(default=None, description="defaults to the spec's name or its species")
    description: LongText = ""


class ScenarioOut(BaseModel):
    id: int
    project_id: int
    name: str
    description: str
    spec: dict[str, Any]
    sha256: str
    created_at: datetime
    version: int


# --- simulation runs -----------------------------------------------------------------------------------


class RunIn(_In):
    agent_id: Id
    version_number: Version | None = Field(default=None, description="default: the agent's current version")
    scenario_id: Id | None = Field(default=None, description="a stored scenario; else the species' default")
    species: Annotated[str, Field(min_length=1, max_length=40)] | None = Field(
        default=None, description="for the default scenario (mouse, rat, human); default mouse"
    )
    duration_h: Annotated[float, Field(ge=1, le=2160, allow_inf_nan=False)] | None = None


class ResultOut(BaseModel):
    id: int
    kind: str
    summary: dict[str, Any]
    raw_file_id: int | None
    created_at: datetime


class RunOut(BaseModel):
    id: int
    project_id: int
    agent_version_id: int
    scenario_id: int | None
    status: RunStatus
    progress: float
    parameters: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version: int
    results: list[ResultOut] = []


# --- batches, measurements, QC ---------------------------------------------------------------------------


class BatchIn(_In):
    lot_number: Annotated[str, Field(min_length=1, max_length=100)]
    agent_id: Id | None = None
    site: Annotated[str, Field(max_length=200)] = ""
    scale: Annotated[str, Field(max_length=100)] = ""
    manufactured_at: AwareDatetime | None = None
    data: dict[str, Any] | None = None


class BatchOut(BaseModel):
    id: int
    project_id: int
    lot_number: str
    agent_id: int | None
    site: str
    scale: str
    manufactured_at: datetime | None
    status: BatchStatus
    data: dict[str, Any] | None
    created_at: datetime
    version: int


class BatchPage(BaseModel):
    items: list[BatchOut]
    total: int
    limit: int
    offset: int


class MeasurementIn(_In):
    kind: Annotated[str, Field(min_length=1, max_length=100)]
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    unit: Annotated[str, Field(max_length=50)] = ""
    method: Annotated[str, Field(max_length=200)] = ""
    data: dict[str, Any] | None = None
    measured_at: AwareDatetime | None = None
    raw_file_id: Id | None = None


class MeasurementOut(BaseModel):
    id: int
    project_id: int
    batch_id: int
    kind: str
    value: float | None
    unit: str
    method: str
    data: dict[str, Any] | None
    measured_at: datetime | None
    raw_file_id: int | None
    created_at: datetime
    version: int


class SignatureOut(BaseModel):
    id: int
    project_id: int
    table_name: str
    record_id: int
    record_version: int | None
    record_sha256: str
    signer_id: int
    printed_name: str
    meaning: SignatureMeaning
    comment: str
    signed_at: datetime
    valid: bool = Field(description="bound to the record as it is now and itself unaltered")
    check: str


class DecisionIn(_In):
    outcome: QCOutcome
    rationale: Annotated[str, Field(min_length=1, max_length=20_000)]
    password: Password = Field(description="your password again: the decision is signed electronically")
    meaning: SignatureMeaning | None = Field(
        default=None, description="signature meaning; default released for a release, approved otherwise"
    )
    comment: Annotated[str, Field(max_length=2000)] = ""
    expected_batch_version: Version | None = None


class DecisionOut(BaseModel):
    id: int
    project_id: int
    batch_id: int
    outcome: QCOutcome
    rationale: str
    created_at: datetime
    created_by_id: int | None
    signatures: list[SignatureOut] = []


class SignIn(_In):
    table_name: SIGNABLE
    record_id: Id
    meaning: SignatureMeaning
    password: Password
    comment: Annotated[str, Field(max_length=2000)] = ""


class RawFileOut(BaseModel):
    id: int
    project_id: int
    sha256: str
    size_bytes: int
    media_type: str
    original_name: str
    created_at: datetime


# --- audit --------------------------------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    seq: int
    recorded_at: datetime
    user_id: int | None
    actor: str
    project_id: int | None
    table_name: str
    record_id: str
    action: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before_seq: int | None = Field(description="pass as before_seq for the next (older) page")


class AuditVerifyOut(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    version: str


# --- converters ---------------------------------------------------------------------------------------


def user_out(user: m.User) -> UserOut:
    """The public fields of a user (never the password hash)."""
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        is_active=user.is_active and user.deleted_at is None,
        organization_id=user.organization_id,
        created_at=user.created_at,
        version=user.version,
    )


def project_out(project: m.Project, my_role: Role | None = None) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        organization_id=project.organization_id,
        created_at=project.created_at,
        version=project.version,
        my_role=my_role,
    )


def version_out(version: m.AgentSpecVersion) -> AgentVersionOut:
    return AgentVersionOut(
        id=version.id,
        agent_id=version.agent_id,
        project_id=version.project_id,
        number=version.number,
        spec=version.spec,
        sha256=version.sha256,
        note=version.note,
        created_at=version.created_at,
        created_by_id=version.created_by_id,
    )


def agent_out(agent: m.Agent, current: m.AgentSpecVersion | None = None) -> AgentOut:
    return AgentOut(
        id=agent.id,
        project_id=agent.project_id,
        name=agent.name,
        description=agent.description,
        current_version_number=agent.current_version_number,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
        version=agent.version,
        current=version_out(current) if current is not None else None,
    )


def scenario_out(scenario: m.Scenario) -> ScenarioOut:
    return ScenarioOut(
        id=scenario.id,
        project_id=scenario.project_id,
        name=scenario.name,
        description=scenario.description,
        spec=scenario.spec,
        sha256=scenario.sha256,
        created_at=scenario.created_at,
        version=scenario.version,
    )


def result_out(result: m.SimulationResult) -> ResultOut:
    return ResultOut(
        id=result.id,
        kind=result.kind,
        summary=result.summary,
        raw_file_id=result.raw_file_id,
        created_at=result.created_at,
    )


def run_out(run: m.SimulationRun, results: list[m.SimulationResult] | None = None) -> RunOut:
    return RunOut(
        id=run.id,
        project_id=run.project_id,
        agent_version_id=run.agent_version_id,
        scenario_id=run.scenario_id,
        status=run.status,
        progress=run.progress,
        parameters=run.parameters,
        error=run.error,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        version=run.version,
        results=[result_out(r) for r in results or []],
    )


def batch_out(batch: m.Batch) -> BatchOut:
    return BatchOut(
        id=batch.id,
        project_id=batch.project_id,
        lot_number=batch.lot_number,
        agent_id=batch.agent_id,
        site=batch.site,
        scale=batch.scale,
        manufactured_at=batch.manufactured_at,
        status=batch.status,
        data=batch.data,
        created_at=batch.created_at,
        version=batch.version,
    )


def measurement_out(measurement: m.Measurement) -> MeasurementOut:
    return MeasurementOut(
        id=measurement.id,
        project_id=measurement.project_id,
        batch_id=measurement.batch_id,
        kind=measurement.kind,
        value=measurement.value,
        unit=measurement.unit,
        method=measurement.method,
        data=measurement.data,
        measured_at=measurement.measured_at,
        raw_file_id=measurement.raw_file_id,
        created_at=measurement.created_at,
        version=measurement.version,
    )


def signature_out(signature: m.Signature, valid: bool, check: str) -> SignatureOut:
    return SignatureOut(
        id=signature.id,
        project_id=signature.project_id,
        table_name=signature.table_name,
        record_id=signature.record_id,
        record_version=signature.record_version,
        record_sha256=signature.record_sha256,
        signer_id=signature.signer_id,
        printed_name=signature.printed_name,
        meaning=signature.meaning,
        comment=signature.comment,
        signed_at=signature.signed_at,
        valid=valid,
        check=check,
    )


def raw_file_out(raw: m.RawFile) -> RawFileOut:
    return RawFileOut(
        id=raw.id,
        project_id=raw.project_id,
        sha256=raw.sha256,
        size_bytes=raw.size_bytes,
        media_type=raw.media_type,
        original_name=raw.original_name,
        created_at=raw.created_at,
    )


def audit_out(entry: m.AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=entry.seq,
        recorded_at=entry.recorded_at,
        user_id=entry.user_id,
        actor=entry.actor,
        project_id=entry.project_id,
        table_name=entry.table_name,
        record_id=entry.record_id,
        action=entry.action,
        old_values=entry.old_values,
        new_values=entry.new_values,
        reason=entry.reason,
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
    )
