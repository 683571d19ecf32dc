"""The JSON API under ``/api`` (OpenAPI document at ``/api/openapi.json``).

Every route declares its access with a dependency of :mod:`nanobridge.web.deps`; the store checks
again. Records are addressed inside their project (``/api/projects/{project_id}/...``): a record of
another project answers 404 like a missing one. Handlers commit explicitly; a store error rolls the
whole request back (record and audit entry together).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

import nanobridge
from nanobridge.domain.errors import SpecError
from nanobridge.store import auth, service, signatures
from nanobridge.store.audit import append_entry
from nanobridge.store.errors import AuthenticationFailed, NotFound, PermissionDenied, ValidationFailed
from nanobridge.store.models import (
    PROJECT_MODELS,
    Agent,
    AgentSpecVersion,
    Base,
    Batch,
    BatchStatus,
    Measurement,
    QCDecision,
    QCOutcome,
    RawFile,
    Role,
    RunStatus,
    Scenario,
    Signature,
    SignatureMeaning,
    SimulationResult,
    SimulationRun,
    User,
)
from nanobridge.store.signatures import signature_status
from nanobridge.web import schemas as s
from nanobridge.web.deps import (
    MAX_ID,
    CurrentUser,
    DbSession,
    ProjectContext,
    csrf_protect,
    get_state,
    org_role,
    password_stamp,
    project_access,
)
from nanobridge.web.jobs import FIGURES_RESULT
from nanobridge.web.security import (
    SessionData,
    UploadRejected,
    current_session,
    replace_session,
    sniff_upload,
)

__all__ = [
    "ErrorOut",
    "UnsupportedUpload",
    "build_scenario",
    "load_figures",
    "record_decision",
    "router",
    "store_upload",
    "submit_simulation",
    "validate_agent_spec",
]


class ErrorOut(BaseModel):
    """An error: ``detail`` is a message, or a list of problems for 422."""

    detail: Any


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "not logged in"},
    403: {"model": ErrorOut, "description": "role not allowed, or CSRF token missing"},
    404: {"model": ErrorOut, "description": "no such record in your projects"},
    409: {"model": ErrorOut, "description": "changed by someone else, or a duplicate"},
    422: {"model": ErrorOut, "description": "invalid input; problems name their field"},
}

router = APIRouter(prefix="/api", dependencies=[Depends(csrf_protect)], responses=_ERRORS)

ReadProject = Annotated[ProjectContext, Depends(project_access())]
WriteProject = Annotated[ProjectContext, Depends(project_access(Role.SCIENTIST, Role.QA))]
QAProject = Annotated[ProjectContext, Depends(project_access(Role.QA))]
AdminProject = Annotated[ProjectContext, Depends(project_access(Role.ADMIN))]
OrgAdmin = Annotated[User, Depends(org_role(Role.ADMIN))]
ProjectCreator = Annotated[User, Depends(org_role(Role.SCIENTIST, Role.QA))]
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


def _in_project(record: Any, ctx: ProjectContext, what: str, record_id: int) -> None:
    if getattr(record, "project_id", None) != ctx.project.id:
        raise NotFound(f"{what} {record_id} not found in project {ctx.project.id}")


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(retry: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"too many failed attempts; try again in {retry} s"},
        status_code=429,
        headers={"Retry-After": str(retry)},
    )


# --- shared operations (used by the pages too) ----------------------------------------------------


def validate_agent_spec(spec: Any) -> dict[str, Any]:
    """The normalized agent spec (JSON), or :class:`SpecError` listing every problem."""
    from nanobridge.domain import load_agent

    if not isinstance(spec, dict):
        raise ValidationFailed("spec: a JSON object (mapping) is required")
    try:
        return load_agent(spec).to_dict()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"spec: {exc}") from None


def validate_scenario_spec(spec: Any) -> dict[str, Any]:
    """The normalized scenario spec (JSON), or :class:`SpecError`."""
    from nanobridge.domain import load_scenario

    if not isinstance(spec, dict):
        raise ValidationFailed("spec: a JSON object (mapping) is required")
    try:
        return load_scenario(spec).to_dict()
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"spec: {exc}") from None


def build_scenario(
    session: Session,
    user: User,
    project_id: int,
    *,
    scenario_id: int | None,
    species: str | None,
    duration_h: float | None,
) -> tuple[dict[str, Any], str]:
    """The scenario of a run (a stored one or the species' default, optionally shortened) and
    where it came from."""
    from nanobridge.workflows.assessment import default_scenario

    if scenario_id is not None:
        scenario = service.get(session, user, Scenario, scenario_id)
        if scenario.project_id != project_id:
            raise ValidationFailed(
                f"scenario_id: {scenario_id} -> no scenario {scenario_id} in project {project_id}"
            )
        spec, source = dict(scenario.spec), f"scenario {scenario.id} ({scenario.name})"
    else:
        chosen = (species or "mouse").strip()
        try:
            spec = default_scenario(chosen).to_dict()
        except SpecError as exc:
            raise SpecError(exc.problems, kind="scenario") from None
        source = f"default {chosen} scenario"
    if duration_h is not None:
        spec["duration_h"] = float(duration_h)
    try:
        return validate_scenario_spec(spec), source
    except SpecError as exc:
        raise ValidationFailed(f"scenario: {exc}") from None


def submit_simulation(
    request: Request,
    session: Session,
    ctx: ProjectContext,
    *,
    agent_id: int,
    version_number: int | None,
    scenario_id: int | None,
    species: str | None,
    duration_h: float | None,
) -> SimulationRun:
    """Queue a run (committed) and hand it to the job runner."""
    agent = service.get(session, ctx.user, Agent, agent_id)
    _in_project(agent, ctx, "agent", agent_id)
    number = version_number or agent.current_version_number
    version = session.scalar(
        select(AgentSpecVersion).where(
            AgentSpecVersion.agent_id == agent.id, AgentSpecVersion.number == number
        )
    )
    if version is None:
        raise ValidationFailed(f"version_number: {number} -> agent {agent_id} has no version {number}")
    scenario, source = build_scenario(
        session, ctx.user, ctx.project.id, scenario_id=scenario_id, species=species, duration_h=duration_h
    )
    parameters = {"scenario": scenario, "scenario_source": source, "agent_version_number": number}
    run = service.submit_run(
        session, ctx.user, agent_version_id=version.id, scenario_id=scenario_id, parameters=parameters
    )
    session.commit()
    get_state(request).jobs.submit(run.id, ctx.user.id)
    return run


def load_figures(request: Request, session: Session, user: User, run: SimulationRun) -> dict[str, Any]:
    """The run's Plotly figures ``{name: figure JSON}`` (empty before the run is done)."""
    result = session.scalar(
        select(SimulationResult).where(
            SimulationResult.run_id == run.id,
            SimulationResult.kind == FIGURES_RESULT,
            SimulationResult.deleted_at.is_(None),
        )
    )
    if result is None or result.raw_file_id is None:
        return {}
    data = service.read_raw_file(session, user, result.raw_file_id, blob_root=get_state(request).blob_root)
    figures: dict[str, Any] = json.loads(data)
    return figures


def _default_meaning(outcome: QCOutcome) -> SignatureMeaning:
    return SignatureMeaning.RELEASED if outcome == QCOutcome.RELEASE else SignatureMeaning.APPROVED


def _check_sign_rate(request: Request, user: User) -> int:
    return get_state(request).limiter.retry_after(user.email, _client_ip(request))


def _sign(
    request: Request, session: Session, user: User, password: str, record: Base, meaning: Any, comment: str
) -> Signature:
    """Sign with the password re-checked; a wrong password counts as a failed login attempt."""
    try:
        return signatures.sign(session, user, password, record, meaning, comment=comment)
    except AuthenticationFailed:
        session.rollback()
        get_state(request).limiter.failed(user.email, _client_ip(request))
        raise PermissionDenied("password check failed: nothing was signed or recorded") from None


def record_decision(
    request: Request,
    session: Session,
    ctx: ProjectContext,
    batch_id: int,
    *,
    outcome: QCOutcome,
    rationale: str,
    password: str,
    meaning: SignatureMeaning | None,
    comment: str,
    expected_batch_version: int | None,
) -> tuple[QCDecision, Signature]:
    """A QC decision on a batch and its electronic signature, in one transaction (committed)."""
    batch = service.get(session, ctx.user, Batch, batch_id)
    _in_project(batch, ctx, "batch", batch_id)
    decision = service.record_qc_decision(
        session,
        ctx.user,
        batch_id,
        outcome=outcome,
        rationale=rationale,
        expected_batch_version=expected_batch_version,
    )
    signature = _sign(
        request,
        session,
        ctx.user,
        password,
        decision,
        meaning or _default_meaning(QCOutcome(outcome)),
        comment,
    )
    session.commit()
    return decision, signature


def store_upload(request: Request, session: Session, ctx: ProjectContext, upload: UploadFile) -> RawFile:
    """Check an uploaded file's type by its content and store it (content-addressed)."""
    limit = get_state(request).settings.max_upload_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed(f"file: more than {limit:,} bytes")
    name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        media_type = sniff_upload(data, name)
    except UploadRejected as exc:
        raise UnsupportedUpload(str(exc)) from None
    return service.store_raw_file(
        session,
        ctx.user,
        ctx.project.id,
        data,
        original_name=name[:255],
        media_type=media_type,
        blob_root=get_state(request).blob_root,
    )


class UnsupportedUpload(ValidationFailed):
    """An upload of a type that is not accepted (415)."""


# --- health and auth ------------------------------------------------------------------------------


@router.get("/health", response_model=s.Health, tags=["meta"])
async def health(request: Request) -> s.Health:
    """Liveness: the app runs and knows its database backend (no login, no database query)."""
    return s.Health(
        status="ok", database=get_state(request).engine.dialect.name, version=nanobridge.__version__
    )


@router.get("/auth/csrf", response_model=s.CsrfOut, tags=["auth"])
def csrf_token(request: Request) -> s.CsrfOut:
    """The session's CSRF token (a new anonymous session is set as a cookie if there is none)."""
    data = current_session(request.scope)
    assert data is not None  # the session middleware gives every GET a session
    return s.CsrfOut(csrf_token=data.csrf)


def login_user(request: Request, session: Session, email: str, password: str) -> User | JSONResponse:
    """Check the credentials (rate limited), start the user's session and audit the login."""
    state = get_state(request)
    ip = _client_ip(request)
    retry = state.limiter.retry_after(email, ip)
    if retry:
        return _too_many(retry)
    try:
        user = auth.authenticate(session, email, password)
    except AuthenticationFailed:
        state.limiter.failed(email, ip)
        raise
    state.limiter.succeeded(email)
    append_entry(
        session,
        user=user,
        action="login",
        table_name="users",
        record_id=user.id,
        reason=f"logged in from {ip}",
        organization_id=user.organization_id,
    )
    session.commit()
    replace_session(request.scope, SessionData.for_user(user.id, password_stamp(user)))
    return user


@router.post("/auth/login", response_model=s.SessionOut, tags=["auth"], responses={429: {"model": ErrorOut}})
def login(body: s.LoginIn, request: Request, session: DbSession) -> Any:
    """Log in: sets the session cookie and returns the new CSRF token (the old one stops working)."""
    result = login_user(request, session, body.email, body.password)
    if isinstance(result, JSONResponse):
        return result
    new = current_session(request.scope)
    assert new is not None
    return s.SessionOut(user=s.user_out(result), csrf_token=new.csrf)


def logout_user(request: Request, session: Session, user: User) -> None:
    """End the session (revoked in this process) and audit the logout."""
    data = current_session(request.scope)
    if data is not None:
        get_state(request).codec.revoke(data)
    append_entry(
        session,
        user=user,
        action="logout",
        table_name="users",
        record_id=user.id,
        organization_id=user.organization_id,
    )
    session.commit()
    replace_session(request.scope, SessionData.anonymous())


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """Log out: the session cookie is replaced by an anonymous one."""
    logout_user(request, session, user)
    return Response(status_code=204)


@router.get("/auth/me", response_model=s.SessionOut, tags=["auth"])
def me(request: Request, user: CurrentUser) -> s.SessionOut:
    """The logged-in user and the session's CSRF token."""
    data = current_session(request.scope)
    assert data is not None
    return s.SessionOut(user=s.user_out(user), csrf_token=data.csrf)


@router.post("/auth/password", response_model=s.SessionOut, tags=["auth"])
def change_password(
    body: s.PasswordChangeIn, request: Request, session: DbSession, user: CurrentUser
) -> s.SessionOut:
    """Change one's own password; other sessions of the user end, this one is renewed."""
    retry = _check_sign_rate(request, user)
    if retry:
        raise PermissionDenied(f"too many failed password checks; try again in {retry} s")
    try:
        updated = service.set_password(
            session, user, user.id, body.new_password, current_password=body.current_password
        )
    except PermissionDenied:
        get_state(request).limiter.failed(user.email, _client_ip(request))
        raise
    session.commit()
    new = SessionData.for_user(updated.id, password_stamp(updated))
    replace_session(request.scope, new)
    return s.SessionOut(user=s.user_out(updated), csrf_token=new.csrf)


# --- users ----------------------------------------------------------------------------------------


@router.get("/users", response_model=list[s.UserOut], tags=["users"])
def list_users(session: DbSession, user: CurrentUser, include_inactive: bool = False) -> list[s.UserOut]:
    """Users of your organization (admins may include deactivated ones)."""
    return [s.user_out(u) for u in service.list_users(session, user, include_inactive=include_inactive)]


@router.post("/users", response_model=s.UserOut, status_code=201, tags=["users"])
def create_user(body: s.UserIn, session: DbSession, admin: OrgAdmin) -> s.UserOut:
    """Create a user in your organization (organization admins)."""
    user = service.create_user(
        session, admin, email=body.email, name=body.name, password=body.password, role=body.role
    )
    session.commit()
    return s.user_out(user)


@router.get("/users/{user_id}", response_model=s.UserOut, tags=["users"])
def get_user(user_id: IdPath, session: DbSession, user: CurrentUser) -> s.UserOut:
    """A user of your organization."""
    return s.user_out(service.get(session, user, User, user_id, include_deleted=True))


@router.patch("/users/{user_id}", response_model=s.UserOut, tags=["users"])
def update_user(user_id: IdPath, body: s.UserPatch, session: DbSession, admin: OrgAdmin) -> s.UserOut:
    """Change a user's name, role or active flag (organization admins; a reason is required)."""
    target = service.get(session, admin, User, user_id)
    changes = body.model_dump(exclude={"expected_version", "reason"}, exclude_none=True)
    updated = service.update(
        session, admin, target, expected_version=body.expected_version, reason=body.reason, **changes
    )
    session.commit()
    return s.user_out(updated)


@router.post("/users/{user_id}/password", status_code=204, tags=["users"])
def reset_password(user_id: IdPath, body: s.PasswordResetIn, session: DbSession, admin: OrgAdmin) -> Response:
    """Set another user's password (organization admins); their sessions end."""
    service.get(session, admin, User, user_id)
    if user_id == admin.id:
        raise ValidationFailed("user_id: use POST /api/auth/password to change your own password")
    service.set_password(session, admin, user_id, body.new_password, reason=body.reason)
    session.commit()
    return Response(status_code=204)


# --- projects and members -------------------------------------------------------------------------


@router.get("/projects", response_model=list[s.ProjectOut], tags=["projects"])
def list_projects(session: DbSession, user: CurrentUser) -> list[s.ProjectOut]:
    """The projects you can see, with your role in each."""
    return [
        s.project_out(p, auth.project_role(session, user, p)) for p in service.list_projects(session, user)
    ]


@router.post("/projects", response_model=s.ProjectOut, status_code=201, tags=["projects"])
def create_project(body: s.ProjectIn, session: DbSession, user: ProjectCreator) -> s.ProjectOut:
    """A new project; you become its admin (organization roles scientist, qa, admin)."""
    project = service.create_project(session, user, body.name, body.description)
    session.commit()
    return s.project_out(project, Role.ADMIN)


@router.get("/projects/{project_id}", response_model=s.ProjectOut, tags=["projects"])
def get_project(ctx: ReadProject) -> s.ProjectOut:
    """One project."""
    return s.project_out(ctx.project, ctx.role)


@router.get("/projects/{project_id}/members", response_model=list[s.MemberOut], tags=["projects"])
def list_members(ctx: ReadProject, session: DbSession) -> list[s.MemberOut]:
    """The project's members and their roles."""
    return [
        s.MemberOut(
            id=member.id,
            project_id=member.project_id,
            user_id=u.id,
            user_name=u.name,
            user_email=u.email,
            role=member.role,
        )
        for member, u in service.list_members(session, ctx.user, ctx.project.id)
    ]


@router.post("/projects/{project_id}/members", response_model=s.MemberOut, status_code=201, tags=["projects"])
def add_member(body: s.MemberIn, ctx: AdminProject, session: DbSession) -> s.MemberOut:
    """Give a user of your organization a role in the project (project admins)."""
    member = service.add_member(
        session, ctx.user, ctx.project.id, body.user_id, body.role, reason=body.reason
    )
    target = session.get(User, body.user_id)
    assert target is not None
    session.commit()
    return s.MemberOut(
        id=member.id,
        project_id=member.project_id,
        user_id=target.id,
        user_name=target.name,
        user_email=target.email,
        role=member.role,
    )


# --- agents ---------------------------------------------------------------------------------------


def _current_version(session: Session, agent: Agent) -> AgentSpecVersion | None:
    return session.scalar(
        select(AgentSpecVersion).where(
            AgentSpecVersion.agent_id == agent.id, AgentSpecVersion.number == agent.current_version_number
        )
    )


@router.get("/projects/{project_id}/agents", response_model=list[s.AgentOut], tags=["agents"])
def list_agents(
    ctx: ReadProject, session: DbSession, limit: Limit = 200, offset: Offset = 0
) -> list[s.AgentOut]:
    """The project's agents (without their specs; GET one agent for its current spec)."""
    agents = service.list_records(session, ctx.user, Agent, ctx.project.id, limit=limit, offset=offset)
    return [s.agent_out(a) for a in agents]


@router.post("/projects/{project_id}/agents", response_model=s.AgentOut, status_code=201, tags=["agents"])
def create_agent(body: s.AgentIn, ctx: WriteProject, session: DbSession) -> s.AgentOut:
    """A new agent from its spec; an invalid spec is 422 with one problem per field path."""
    spec = validate_agent_spec(body.spec)
    agent = service.create_agent(
        session,
        ctx.user,
        ctx.project.id,
        name=body.name or str(spec.get("name") or "unnamed agent")[:200],
        spec=spec,
        description=body.description,
        note=body.note,
    )
    current = _current_version(session, agent)
    session.commit()
    return s.agent_out(agent, current)


class ValidationOut(BaseModel):
    valid: bool
    problems: list[s.ProblemOut]
    spec: dict[str, Any] | None = None


@router.post("/projects/{project_id}/agents/validate", response_model=ValidationOut, tags=["agents"])
def validate_agent(body: s.AgentIn, ctx: ReadProject) -> ValidationOut:
    """Check an agent spec without storing it: its problems, or the normalized spec."""
    from nanobridge.web.app import spec_problems

    try:
        spec = validate_agent_spec(body.spec)
    except SpecError as exc:
        return ValidationOut(valid=False, problems=[s.ProblemOut(**p) for p in spec_problems(exc)])
    except ValidationFailed as exc:
        problem = s.ProblemOut(loc=["body", "spec"], path="", value=None, msg=exc.message)
        return ValidationOut(valid=False, problems=[problem])
    return ValidationOut(valid=True, problems=[], spec=spec)


def _agent(session: Session, ctx: ProjectContext, agent_id: int) -> Agent:
    agent = service.get(session, ctx.user, Agent, agent_id)
    _in_project(agent, ctx, "agent", agent_id)
    return agent


@router.get("/projects/{project_id}/agents/{agent_id}", response_model=s.AgentOut, tags=["agents"])
def get_agent(agent_id: IdPath, ctx: ReadProject, session: DbSession) -> s.AgentOut:
    """An agent with its current spec version."""
    agent = _agent(session, ctx, agent_id)
    return s.agent_out(agent, _current_version(session, agent))


@router.patch("/projects/{project_id}/agents/{agent_id}", response_model=s.AgentOut, tags=["agents"])
def update_agent(agent_id: IdPath, body: s.AgentPatch, ctx: WriteProject, session: DbSession) -> s.AgentOut:
    """Rename or describe an agent (a reason is required; ``expected_version`` guards against
    overwriting someone else's change)."""
    agent = _agent(session, ctx, agent_id)
    changes = body.model_dump(exclude={"expected_version", "reason"}, exclude_none=True)
    service.update(
        session, ctx.user, agent, expected_version=body.expected_version, reason=body.reason, **changes
    )
    current = _current_version(session, agent)
    session.commit()
    return s.agent_out(agent, current)


@router.get(
    "/projects/{project_id}/agents/{agent_id}/versions",
    response_model=list[s.AgentVersionOut],
    tags=["agents"],
)
def list_agent_versions(agent_id: IdPath, ctx: ReadProject, session: DbSession) -> list[s.AgentVersionOut]:
    """Every spec version of an agent, oldest first."""
    _agent(session, ctx, agent_id)
    return [s.version_out(v) for v in service.agent_versions(session, ctx.user, agent_id)]


@router.post(
    "/projects/{project_id}/agents/{agent_id}/versions",
    response_model=s.AgentVersionOut,
    status_code=201,
    tags=["agents"],
)
def add_agent_version(
    agent_id: IdPath, body: s.AgentVersionIn, ctx: WriteProject, session: DbSession
) -> s.AgentVersionOut:
    """Store a new spec version (validated) and make it current."""
    _agent(session, ctx, agent_id)
    spec = validate_agent_spec(body.spec)
    version = service.add_agent_version(
        session, ctx.user, agent_id, spec, expected_version=body.expected_version, reason=body.reason
    )
    session.commit()
    return s.version_out(version)


@router.get(
    "/projects/{project_id}/agents/{agent_id}/versions/{number}",
    response_model=s.AgentVersionOut,
    tags=["agents"],
)
def get_agent_version(
    agent_id: IdPath, number: IdPath, ctx: ReadProject, session: DbSession
) -> s.AgentVersionOut:
    """One spec version of an agent."""
    _agent(session, ctx, agent_id)
    version = session.scalar(
        select(AgentSpecVersion).where(
            AgentSpecVersion.agent_id == agent_id, AgentSpecVersion.number == number
        )
    )
    if version is None:
        raise NotFound(f"agent {agent_id} has no version {number}")
    return s.version_out(version)


# --- scenarios ------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/scenarios", response_model=list[s.ScenarioOut], tags=["scenarios"])
def list_scenarios(
    ctx: ReadProject, session: DbSession, limit: Limit = 200, offset: Offset = 0
) -> list[s.ScenarioOut]:
    """The project's scenarios."""
    rows = service.list_records(session, ctx.user, Scenario, ctx.project.id, limit=limit, offset=offset)
    return [s.scenario_out(r) for r in rows]


@router.post(
    "/projects/{project_id}/scenarios", response_model=s.ScenarioOut, status_code=201, tags=["scenarios"]
)
def create_scenario(body: s.ScenarioIn, ctx: WriteProject, session: DbSession) -> s.ScenarioOut:
    """A new scenario (species, dose, route, duration); invalid specs are 422 with field paths."""
    spec = validate_scenario_spec(body.spec)
    name = body.name or str(spec.get("name") or spec.get("species") or "scenario")[:200]
    scenario = service.create_scenario(
        session, ctx.user, ctx.project.id, name=name, spec=spec, description=body.description
    )
    session.commit()
    return s.scenario_out(scenario)


@router.get(
    "/projects/{project_id}/scenarios/{scenario_id}", response_model=s.ScenarioOut, tags=["scenarios"]
)
def get_scenario(scenario_id: IdPath, ctx: ReadProject, session: DbSession) -> s.ScenarioOut:
    """One scenario."""
    scenario = service.get(session, ctx.user, Scenario, scenario_id)
    _in_project(scenario, ctx, "scenario", scenario_id)
    return s.scenario_out(scenario)


# --- simulation runs ------------------------------------------------------------------------------


def _results(session: Session, run_id: int) -> list[SimulationResult]:
    return list(
        session.scalars(
            select(SimulationResult)
            .where(SimulationResult.run_id == run_id, SimulationResult.deleted_at.is_(None))
            .order_by(SimulationResult.id)
        )
    )


def _run(session: Session, ctx: ProjectContext, run_id: int) -> SimulationRun:
    run = service.get(session, ctx.user, SimulationRun, run_id)
    _in_project(run, ctx, "simulation run", run_id)
    return run


@router.get("/projects/{project_id}/runs", response_model=list[s.RunOut], tags=["runs"])
def list_runs(
    ctx: ReadProject,
    session: DbSession,
    status: RunStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[s.RunOut]:
    """Simulation runs of the project, newest first."""
    filters: dict[str, Any] = {"status": status} if status is not None else {}
    rows = service.list_records(
        session,
        ctx.user,
        SimulationRun,
        ctx.project.id,
        newest_first=True,
        limit=limit,
        offset=offset,
        **filters,
    )
    return [s.run_out(r) for r in rows]


@router.post("/projects/{project_id}/runs", response_model=s.RunOut, status_code=202, tags=["runs"])
def submit_run(body: s.RunIn, request: Request, ctx: WriteProject, session: DbSession) -> s.RunOut:
    """Queue a simulation of an agent version; it runs in the background (poll GET .../runs/{id})."""
    run = submit_simulation(
        request,
        session,
        ctx,
        agent_id=body.agent_id,
        version_number=body.version_number,
        scenario_id=body.scenario_id,
        species=body.species,
        duration_h=body.duration_h,
    )
    return s.run_out(run)


@router.get("/projects/{project_id}/runs/{run_id}", response_model=s.RunOut, tags=["runs"])
def get_run(run_id: IdPath, ctx: ReadProject, session: DbSession) -> s.RunOut:
    """A run: status, progress (0..1), error, and its results once done."""
    run = _run(session, ctx, run_id)
    return s.run_out(run, _results(session, run.id))


@router.get("/projects/{project_id}/runs/{run_id}/figures", response_model=dict[str, str], tags=["runs"])
def list_run_figures(run_id: IdPath, ctx: ReadProject, session: DbSession) -> dict[str, str]:
    """Names and titles of the run's figures (empty until the run is done)."""
    run = _run(session, ctx, run_id)
    for result in _results(session, run.id):
        if result.kind == FIGURES_RESULT:
            return {str(k): str(v) for k, v in dict(result.summary.get("figures", {})).items()}
    return {}


@router.get(
    "/projects/{project_id}/runs/{run_id}/figures/{name}", response_model=dict[str, Any], tags=["runs"]
)
def get_run_figure(
    run_id: IdPath,
    name: Annotated[str, PathParam(max_length=100)],
    request: Request,
    ctx: ReadProject,
    session: DbSession,
) -> dict[str, Any]:
    """One figure of the run as Plotly JSON (``data`` and ``layout``)."""
    run = _run(session, ctx, run_id)
    figures = load_figures(request, session, ctx.user, run)
    if name not in figures:
        raise NotFound(f"simulation run {run_id} has no figure {name!r}")
    figure: dict[str, Any] = figures[name]
    return figure


# --- batches, measurements, QC decisions ----------------------------------------------------------


def _batch(session: Session, ctx: ProjectContext, batch_id: int) -> Batch:
    batch = service.get(session, ctx.user, Batch, batch_id)
    _in_project(batch, ctx, "batch", batch_id)
    return batch


@router.get("/projects/{project_id}/batches", response_model=s.BatchPage, tags=["batches"])
def list_batches(
    ctx: ReadProject,
    session: DbSession,
    status: BatchStatus | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> s.BatchPage:
    """Batches of the project, newest first, one page at a time (``total`` counts all)."""
    filters: dict[str, Any] = {"status": status} if status is not None else {}
    rows = service.list_records(
        session, ctx.user, Batch, ctx.project.id, newest_first=True, limit=limit, offset=offset, **filters
    )
    total = service.count_records(session, ctx.user, Batch, ctx.project.id, **filters)
    return s.BatchPage(items=[s.batch_out(b) for b in rows], total=total, limit=limit, offset=offset)


@router.post("/projects/{project_id}/batches", response_model=s.BatchOut, status_code=201, tags=["batches"])
def create_batch(body: s.BatchIn, ctx: WriteProject, session: DbSession) -> s.BatchOut:
    """A new batch (status pending); lot numbers are unique within the project."""
    batch = service.create_batch(
        session,
        ctx.user,
        ctx.project.id,
        lot_number=body.lot_number,
        agent_id=body.agent_id,
        site=body.site,
        scale=body.scale,
        manufactured_at=body.manufactured_at,
        data=body.data,
    )
    session.commit()
    return s.batch_out(batch)


@router.get("/projects/{project_id}/batches/{batch_id}", response_model=s.BatchOut, tags=["batches"])
def get_batch(batch_id: IdPath, ctx: ReadProject, session: DbSession) -> s.BatchOut:
    """One batch."""
    return s.batch_out(_batch(session, ctx, batch_id))


@router.get(
    "/projects/{project_id}/batches/{batch_id}/measurements",
    response_model=list[s.MeasurementOut],
    tags=["batches"],
)
def list_measurements(
    batch_id: IdPath, ctx: ReadProject, session: DbSession, limit: Limit = 1000, offset: Offset = 0
) -> list[s.MeasurementOut]:
    """Measurements of a batch."""
    _batch(session, ctx, batch_id)
    rows = service.list_records(
        session, ctx.user, Measurement, ctx.project.id, batch_id=batch_id, limit=limit, offset=offset
    )
    return [s.measurement_out(r) for r in rows]


@router.post(
    "/projects/{project_id}/batches/{batch_id}/measurements",
    response_model=s.MeasurementOut,
    status_code=201,
    tags=["batches"],
)
def add_measurement(
    batch_id: IdPath, body: s.MeasurementIn, ctx: WriteProject, session: DbSession
) -> s.MeasurementOut:
    """A characterization result of a batch (value with unit; optionally a raw file id)."""
    _batch(session, ctx, batch_id)
    measurement = service.add_measurement(session, ctx.user, batch_id, **body.model_dump())
    session.commit()
    return s.measurement_out(measurement)


def _decision_out(session: Session, decision: QCDecision) -> s.DecisionOut:
    return s.DecisionOut(
        id=decision.id,
        project_id=decision.project_id,
        batch_id=decision.batch_id,
        outcome=decision.outcome,
        rationale=decision.rationale,
        created_at=decision.created_at,
        created_by_id=decision.created_by_id,
        signatures=[
            s.signature_out(sig, chk.valid, chk.reason) for sig, chk in signature_status(session, decision)
        ],
    )


@router.get(
    "/projects/{project_id}/batches/{batch_id}/decisions",
    response_model=list[s.DecisionOut],
    tags=["batches"],
)
def list_decisions(batch_id: IdPath, ctx: ReadProject, session: DbSession) -> list[s.DecisionOut]:
    """QC decisions of a batch, oldest first, with their signatures and whether they verify."""
    _batch(session, ctx, batch_id)
    rows = service.list_records(session, ctx.user, QCDecision, ctx.project.id, batch_id=batch_id)
    return [_decision_out(session, d) for d in rows]


@router.post(
    "/projects/{project_id}/batches/{batch_id}/decisions",
    response_model=s.DecisionOut,
    status_code=201,
    tags=["batches"],
)
def decide_batch(
    batch_id: IdPath, body: s.DecisionIn, request: Request, ctx: QAProject, session: DbSession
) -> s.DecisionOut | JSONResponse:
    """Release, reject or hold a batch (QA): the decision is signed with your password in the same
    transaction; a wrong password records nothing (403)."""
    retry = _check_sign_rate(request, ctx.user)
    if retry:
        return _too_many(retry)
    decision, _signature = record_decision(
        request,
        session,
        ctx,
        batch_id,
        outcome=body.outcome,
        rationale=body.rationale,
        password=body.password,
        meaning=body.meaning,
        comment=body.comment,
        expected_batch_version=body.expected_batch_version,
    )
    return _decision_out(session, decision)


# --- raw files ------------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/files",
    response_model=s.RawFileOut,
    status_code=201,
    tags=["files"],
    responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
)
def upload_file(
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    file: Annotated[UploadFile, File(description="the file; its type is checked by content")],
) -> Any:
    """Upload a raw data file (content-addressed by SHA-256). Size limit: 413; a content that is not
    an allowed type or does not match the file name's ending: 415."""
    try:
        raw = store_upload(request, session, ctx, file)
    except UnsupportedUpload as exc:
        return JSONResponse({"detail": exc.message}, status_code=415)
    session.commit()
    return s.raw_file_out(raw)


@router.get("/projects/{project_id}/files", response_model=list[s.RawFileOut], tags=["files"])
def list_files(
    ctx: ReadProject, session: DbSession, limit: Limit = 100, offset: Offset = 0
) -> list[s.RawFileOut]:
    """Raw files of the project, newest first."""
    rows = service.list_records(
        session, ctx.user, RawFile, ctx.project.id, newest_first=True, limit=limit, offset=offset
    )
    return [s.raw_file_out(r) for r in rows]


def _raw_file(session: Session, ctx: ProjectContext, file_id: int) -> RawFile:
    raw = service.get(session, ctx.user, RawFile, file_id)
    _in_project(raw, ctx, "file", file_id)
    return raw


@router.get("/projects/{project_id}/files/{file_id}", response_model=s.RawFileOut, tags=["files"])
def get_file(file_id: IdPath, ctx: ReadProject, session: DbSession) -> s.RawFileOut:
    """A raw file's record (name, type, size, SHA-256)."""
    return s.raw_file_out(_raw_file(session, ctx, file_id))


@router.get(
    "/projects/{project_id}/files/{file_id}/content",
    tags=["files"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}},
)
def download_file(file_id: IdPath, request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """The file's bytes, checked against their SHA-256, as a download."""
    raw = _raw_file(session, ctx, file_id)
    data = service.read_raw_file(session, ctx.user, raw.id, blob_root=get_state(request).blob_root)
    safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in raw.original_name) or "file"
    return Response(
        data,
        media_type=raw.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}"',
            "X-Content-SHA256": raw.sha256,
        },
    )


# --- signatures -----------------------------------------------------------------------------------


def _signable_record(session: Session, ctx: ProjectContext, table_name: str, record_id: int) -> Base:
    model = PROJECT_MODELS.get(table_name)
    if model is None:
        raise ValidationFailed(f"table_name: {table_name!r} -> one of {', '.join(sorted(PROJECT_MODELS))}")
    record = service.get(session, ctx.user, model, record_id)
    _in_project(record, ctx, table_name, record_id)
    return record


@router.get("/projects/{project_id}/signatures", response_model=list[s.SignatureOut], tags=["signatures"])
def list_signatures(
    ctx: ReadProject,
    session: DbSession,
    table_name: s.SIGNABLE | None = None,
    record_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
) -> list[s.SignatureOut]:
    """Signatures in the project (of one record with ``table_name`` and ``record_id``), each checked
    against its record as it is now."""
    if (table_name is None) != (record_id is None):
        raise ValidationFailed("table_name and record_id: give both or neither")
    if table_name is not None and record_id is not None:
        record = _signable_record(session, ctx, table_name, record_id)
        return [s.signature_out(sig, c.valid, c.reason) for sig, c in signature_status(session, record)]
    rows = session.scalars(
        select(Signature)
        .where(Signature.project_id == ctx.project.id)
        .order_by(Signature.id.desc())
        .limit(limit)
    )
    out: list[s.SignatureOut] = []
    for sig in rows:
        model = PROJECT_MODELS[sig.table_name]
        target = session.get(model, sig.record_id)
        check = signatures.verify_signature(sig, target) if target is not None else None
        out.append(
            s.signature_out(sig, bool(check), check.reason if check is not None else "the record is missing")
        )
    return out


@router.post(
    "/projects/{project_id}/signatures", response_model=s.SignatureOut, status_code=201, tags=["signatures"]
)
def sign_record(body: s.SignIn, request: Request, ctx: WriteProject, session: DbSession) -> Any:
    """Sign a record of the project (authored/reviewed: scientist or qa; approved/released: qa),
    re-entering your password; the signature is bound to the record's current version."""
    retry = _check_sign_rate(request, ctx.user)
    if retry:
        return _too_many(retry)
    record = _signable_record(session, ctx, body.table_name, body.record_id)
    signature = _sign(request, session, ctx.user, body.password, record, body.meaning, body.comment)
    session.commit()
    check = signatures.verify_signature(signature, record)
    return s.signature_out(signature, check.valid, check.reason)


# --- audit trail ----------------------------------------------------------------------------------


@router.get("/audit", response_model=s.AuditPage, tags=["audit"])
def audit_trail(
    session: DbSession,
    user: CurrentUser,
    project_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    table_name: Annotated[str | None, Query(max_length=64)] = None,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> s.AuditPage:
    """Audit entries you may see, newest first; page with ``before_seq`` = ``next_before_seq``."""
    entries = service.audit_trail(
        session,
        user,
        project_id=project_id,
        table_name=table_name,
        record_id=record_id,
        user_id=user_id,
        before_seq=before_seq,
        limit=limit + 1,
    )
    more = len(entries) > limit
    entries = entries[:limit]
    return s.AuditPage(
        entries=[s.audit_out(e) for e in entries],
        next_before_seq=entries[-1].seq if more and entries else None,
    )


@router.get("/audit/verify", response_model=s.AuditVerifyOut, tags=["audit"])
def verify_audit(session: DbSession, admin: OrgAdmin) -> s.AuditVerifyOut:
    """Recompute the whole hash chain (organization admins): ok, or the first broken entry."""
    from nanobridge.store.audit import verify_audit_chain

    result = verify_audit_chain(session)
    return s.AuditVerifyOut(
        ok=result.ok,
        entries=result.entries,
        head_hash=result.head_hash,
        first_broken_seq=result.first_broken_seq,
        problem=result.problem,
    )
