"""Server-rendered pages (Jinja2 + htmx + Plotly).

Each page route declares its access like the API (:mod:`nanobridge.web.deps`); forms carry the
session's CSRF token in a hidden ``csrf_token`` field, htmx requests in the ``X-CSRF-Token``
header (set on ``<body hx-headers>``). Figures are embedded as JSON data blocks
(``<script type="application/json">``, not executed) that ``static/app.js`` draws with the
bundled plotly.js, so the Content-Security-Policy needs no inline scripts.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy.orm import Session

from nanobridge.domain.errors import NO_VALUE, Problem, SpecError
from nanobridge.store import auth, service, signatures
from nanobridge.store.errors import (
    AuthenticationFailed,
    NotFound,
    PermissionDenied,
    StoreError,
    ValidationFailed,
)
from nanobridge.store.models import (
    Agent,
    AgentSpecVersion,
    Batch,
    BatchStatus,
    Measurement,
    QCDecision,
    QCOutcome,
    RawFile,
    Role,
    RunStatus,
    Scenario,
    SignatureMeaning,
    SimulationResult,
    SimulationRun,
    User,
)
from nanobridge.web import queries
from nanobridge.web.api import (
    UnsupportedUpload,
    load_figures,
    login_user,
    logout_user,
    record_decision,
    store_upload,
    submit_simulation,
    validate_agent_spec,
)
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
from nanobridge.web.jobs import BIODISTRIBUTION_RESULT
from nanobridge.web.security import SessionData, current_session, replace_session

__all__ = ["install_filters", "parse_spec_text", "router"]

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

ReadProject = Annotated[ProjectContext, Depends(project_access())]
WriteProject = Annotated[ProjectContext, Depends(project_access(Role.SCIENTIST, Role.QA))]
QAProject = Annotated[ProjectContext, Depends(project_access(Role.QA))]
AdminProject = Annotated[ProjectContext, Depends(project_access(Role.ADMIN))]
OrgAdmin = Annotated[User, Depends(org_role(Role.ADMIN))]
ProjectCreator = Annotated[User, Depends(org_role(Role.SCIENTIST, Role.QA))]
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PAGE_SIZE = 100
SPECIES = ("mouse", "rat", "human")


# --- rendering helpers ----------------------------------------------------------------------------


def _fmt_dt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _fmt_num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    from nanobridge.workflows.assessment import format_value

    return format_value(float(value)) if isinstance(value, int | float) else str(value)


def install_filters(env: Environment) -> None:
    """Template filters: ``dt`` (UTC time), ``num`` (3 significant digits), ``pct`` (progress)."""
    env.filters["dt"] = _fmt_dt
    env.filters["num"] = _fmt_num
    env.filters["pct"] = lambda v: f"{100 * float(v or 0):.0f}"
    env.filters["json_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)


def _json_block(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(value, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render ``template`` with the user, the CSRF token and ``context``."""
    session = current_session(request.scope)
    base = {
        "user": getattr(request.state, "user", None),
        "csrf_token": session.csrf if session else "",
        "plots": False,
    }
    response: HTMLResponse = get_state(request).templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def parse_spec_text(text: str, kind: str = "agent spec") -> dict[str, Any]:
    """A spec mapping from YAML or JSON text; :class:`SpecError` for malformed text.

    YAML anchors and aliases are refused (they could expand a small text into a huge spec).
    """
    from nanobridge.domain._io import load_yaml_text

    if not text.strip():
        raise SpecError([Problem("<root>", NO_VALUE, "the spec is empty")], kind=kind)
    try:
        if any(isinstance(token, yaml.AliasToken | yaml.AnchorToken) for token in yaml.scan(text)):
            raise SpecError(
                [Problem("<root>", NO_VALUE, "YAML anchors and aliases are not allowed")], kind=kind
            )
    except yaml.YAMLError:
        pass  # reported with its line by load_yaml_text below
    data = load_yaml_text(text, "the editor", kind=kind)
    if not isinstance(data, dict):
        raise SpecError([Problem("<root>", NO_VALUE, "the spec must be a mapping of fields")], kind=kind)
    return data


def _spec_yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def _problems(exc: SpecError | StoreError) -> list[dict[str, str]]:
    if isinstance(exc, SpecError):
        out = []
        for p in exc.problems:
            value = "" if p.value is NO_VALUE else str(p).split(": ", 1)[-1].split(" -> ")[0]
            out.append({"path": p.path or "<root>", "value": value, "msg": p.message})
        return out
    return [{"path": "", "value": "", "msg": exc.message}]


def _figure(fig: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(fig.to_json())
    return out


# --- login, logout --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    """The login form (a logged-in user goes on to ``next``)."""
    data = current_session(request.scope)
    if data is not None and data.uid is not None:
        return _redirect(_safe_next(next))
    return render(request, "login.html", {"next": _safe_next(next), "error": None, "email": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the credentials (rate limited) and start the session."""
    try:
        result = login_user(request, session, email, password)
    except AuthenticationFailed:
        context = {"next": _safe_next(next), "error": "Wrong email or password.", "email": email}
        return render(request, "login.html", context, status_code=401)
    if not isinstance(result, User):
        retry = result.headers.get("retry-after", "60")
        context = {
            "next": _safe_next(next),
            "error": f"Too many failed attempts. Try again in {retry} s.",
            "email": email,
        }
        response = render(request, "login.html", context, status_code=429)
        response.headers["Retry-After"] = retry
        return response
    return _redirect(_safe_next(next))


@router.post("/logout")
def logout_submit(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """End the session."""
    logout_user(request, session, user)
    return _redirect("/login")


# --- dashboard and projects -----------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """Projects with their counts, recent runs and recent audit entries."""
    projects = service.list_projects(session, user)
    ids = [p.id for p in projects]
    counts = queries.project_counts(session, ids)
    roles = {p.id: auth.project_role(session, user, p) for p in projects}
    runs = queries.recent_runs(session, ids, limit=8)
    names = {p.id: p.name for p in projects}
    audit = service.audit_trail(session, user, limit=8)
    return render(
        request,
        "dashboard.html",
        {
            "projects": projects,
            "counts": counts,
            "roles": roles,
            "runs": runs,
            "project_names": names,
            "audit": audit,
            "can_create": user.role in (Role.SCIENTIST, Role.QA, Role.ADMIN),
        },
    )


@router.post("/projects")
def create_project(
    session: DbSession,
    user: ProjectCreator,
    name: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Create a project; the creator becomes its admin."""
    project = service.create_project(session, user, name, description)
    session.commit()
    return _redirect(f"/projects/{project.id}")


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """A project: agents, scenarios, recent runs, batches by status, members."""
    pid = ctx.project.id
    agents = service.list_records(session, ctx.user, Agent, pid)
    scenarios = service.list_records(session, ctx.user, Scenario, pid)
    runs = queries.recent_runs(session, [pid], limit=20)
    members = service.list_members(session, ctx.user, pid)
    users = service.list_users(session, ctx.user) if ctx.role == Role.ADMIN else []
    member_ids = {u.id for _, u in members}
    return render(
        request,
        "project.html",
        {
            "ctx": ctx,
            "project": ctx.project,
            "agents": agents,
            "scenarios": scenarios,
            "runs": runs,
            "batch_counts": queries.batch_status_counts(session, pid),
            "members": members,
            "candidates": [u for u in users if u.id not in member_ids],
            "roles": list(Role),
        },
    )


@router.post("/projects/{project_id}/members")
def add_member(
    ctx: AdminProject,
    session: DbSession,
    user_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    role: Annotated[Role, Form()],
) -> Response:
    """Add a user of the organization to the project (project admins)."""
    service.add_member(session, ctx.user, ctx.project.id, user_id, role, reason="added on the project page")
    session.commit()
    return _redirect(f"/projects/{ctx.project.id}")


# --- agents ---------------------------------------------------------------------------------------


def _example_text(name: str | None) -> str:
    from nanobridge.domain import example_agent_names, example_path

    names = example_agent_names()
    chosen = name if name in names else (names[0] if names else None)
    if chosen is None:
        return "name: my agent\n"
    return example_path("agents", chosen).read_text(encoding="utf-8")


@router.get("/projects/{project_id}/agents/new", response_class=HTMLResponse)
def new_agent_page(request: Request, ctx: WriteProject, example: str | None = None) -> Response:
    """The agent editor, prefilled with an example spec."""
    from nanobridge.domain import example_agent_names

    return render(
        request,
        "agent_new.html",
        {
            "project": ctx.project,
            "examples": example_agent_names(),
            "example": example,
            "spec_text": _example_text(example),
            "name": "",
            "description": "",
            "problems": [],
        },
    )


@router.post("/projects/{project_id}/agents/validate", response_class=HTMLResponse)
def validate_agent_fragment(
    request: Request,
    ctx: ReadProject,
    spec_text: Annotated[str, Form(max_length=1_000_000)] = "",
) -> Response:
    """The editor's live check (htmx): the problems of the spec, or a summary when it is valid."""
    problems: list[dict[str, str]] = []
    summary = None
    try:
        spec = validate_agent_spec(parse_spec_text(spec_text))
        summary = {
            "name": spec.get("name", ""),
            "core": f"{spec.get('core_material', '?')}, {spec.get('core_diameter_nm', '?')} nm core",
            "hd": spec.get("hydrodynamic_diameter_nm"),
            "labels": ", ".join(sorted(dict(spec.get("labels") or {}))) or "none",
        }
    except (SpecError, StoreError) as exc:
        problems = _problems(exc)
    return render(request, "_problems.html", {"problems": problems, "summary": summary})


@router.post("/projects/{project_id}/agents", response_class=HTMLResponse)
def create_agent(
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    spec_text: Annotated[str, Form(max_length=1_000_000)],
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Create an agent from the editor; an invalid spec re-shows the editor with its problems."""
    from nanobridge.domain import example_agent_names

    try:
        spec = validate_agent_spec(parse_spec_text(spec_text))
        agent = service.create_agent(
            session,
            ctx.user,
            ctx.project.id,
            name=name.strip() or str(spec.get("name") or "unnamed agent")[:200],
            spec=spec,
            description=description,
        )
        session.commit()
    except (SpecError, ValidationFailed) as exc:
        session.rollback()
        context = {
            "project": ctx.project,
            "examples": example_agent_names(),
            "example": None,
            "spec_text": spec_text,
            "name": name,
            "description": description,
            "problems": _problems(exc),
        }
        return render(request, "agent_new.html", context, status_code=422)
    return _redirect(f"/projects/{ctx.project.id}/agents/{agent.id}")


def _agent_page(
    request: Request,
    ctx: ProjectContext,
    session: Session,
    agent_id: int,
    *,
    problems: list[dict[str, str]] | None = None,
    spec_text: str | None = None,
    sign_error: str | None = None,
    status_code: int = 200,
) -> Response:
    agent = service.get(session, ctx.user, Agent, agent_id)
    if agent.project_id != ctx.project.id:
        raise NotFound(f"agent {agent_id} not found in project {ctx.project.id}")
    current = service.current_agent_version(session, ctx.user, agent_id)
    versions = service.agent_versions(session, ctx.user, agent_id)
    scenarios = service.list_records(session, ctx.user, Scenario, ctx.project.id)
    runs = queries.recent_runs(session, [ctx.project.id], limit=20, agent_id=agent_id)
    return render(
        request,
        "agent.html",
        {
            "ctx": ctx,
            "project": ctx.project,
            "agent": agent,
            "current": current,
            "current_yaml": _spec_yaml(current.spec),
            "spec_text": spec_text if spec_text is not None else _spec_yaml(current.spec),
            "versions": versions,
            "signatures": signatures.signature_status(session, current),
            "scenarios": scenarios,
            "species": SPECIES,
            "runs": runs,
            "problems": problems or [],
            "sign_error": sign_error,
            "meanings": [SignatureMeaning.AUTHORED, SignatureMeaning.REVIEWED],
        },
        status_code=status_code,
    )


@router.get("/projects/{project_id}/agents/{agent_id}", response_class=HTMLResponse)
def agent_page(agent_id: IdPath, request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """An agent: its current spec, versions, signatures, a new-version editor, run a simulation."""
    return _agent_page(request, ctx, session, agent_id)


# --- the IND readiness dossier of an agent ---------------------------------------------------------

DOSSIER_POPULATION_SUBJECTS = 50


def _agent_dossier_html(session: Session, ctx: ProjectContext, agent_id: int) -> tuple[Agent, int, str]:
    """The dossier HTML of the agent's current version, judged on the evidence the store holds for it."""
    from nanobridge.domain import AgentSpec
    from nanobridge.workflows.dossier import build_dossier, render_dossier_html
    from nanobridge.workflows.dossier_store import StoreEvidenceSource

    agent = service.get(session, ctx.user, Agent, agent_id)
    if agent.project_id != ctx.project.id:
        raise NotFound(f"agent {agent_id} not found in project {ctx.project.id}")
    current = service.current_agent_version(session, ctx.user, agent_id)
    spec = AgentSpec.model_validate(current.spec)
    evidence = StoreEvidenceSource(session, ctx.user, ctx.project.id, agent_id)
    dossier = build_dossier(spec, evidence, qc=False, population_subjects=DOSSIER_POPULATION_SUBJECTS)
    return agent, current.number, render_dossier_html(dossier)


@router.get("/projects/{project_id}/agents/{agent_id}/dossier", response_class=HTMLResponse)
def agent_dossier_page(agent_id: IdPath, ctx: ReadProject, session: DbSession) -> Response:
    """The IND readiness dossier of the agent's current version, as its own self-contained page
    (inline styles and data: SVG figures, no scripts: within the app's CSP)."""
    _, _, html = _agent_dossier_html(session, ctx, agent_id)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/projects/{project_id}/agents/{agent_id}/dossier.pdf")
def agent_dossier_pdf(request: Request, agent_id: IdPath, ctx: ReadProject, session: DbSession) -> Response:
    """The dossier as a PDF (WeasyPrint), written to a temporary folder under the data home."""
    import tempfile
    from pathlib import Path

    from nanobridge.workflows.dossier import write_pdf

    agent, number, html = _agent_dossier_html(session, ctx, agent_id)
    home = get_state(request).settings.data_home()
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dossier-", dir=home) as tmp:
        body = write_pdf(html, Path(tmp) / "dossier.pdf").read_bytes()
    filename = f"agent{agent.id}_v{number}_dossier.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/projects/{project_id}/agents/{agent_id}/versions", response_class=HTMLResponse)
def add_agent_version(
    agent_id: IdPath,
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    spec_text: Annotated[str, Form(max_length=1_000_000)],
    reason: Annotated[str, Form(max_length=2000)],
    expected_version: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    """Store the edited spec as a new version; problems are shown inline."""
    try:
        spec = validate_agent_spec(parse_spec_text(spec_text))
        service.add_agent_version(
            session, ctx.user, agent_id, spec, expected_version=expected_version, reason=reason
        )
        session.commit()
    except (SpecError, ValidationFailed) as exc:
        session.rollback()
        return _agent_page(
            request, ctx, session, agent_id, problems=_problems(exc), spec_text=spec_text, status_code=422
        )
    return _redirect(f"/projects/{ctx.project.id}/agents/{agent_id}")


@router.post("/projects/{project_id}/agents/{agent_id}/sign", response_class=HTMLResponse)
def sign_agent_version(
    agent_id: IdPath,
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    meaning: Annotated[SignatureMeaning, Form()],
    password: Annotated[str, Form(max_length=1024)],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Sign the agent's current spec version (authored or reviewed), re-entering the password."""
    state = get_state(request)
    ip = request.client.host if request.client else "unknown"
    retry = state.limiter.retry_after(ctx.user.email, ip)
    if retry:
        return _agent_page(
            request,
            ctx,
            session,
            agent_id,
            sign_error=f"Too many failed attempts; wait {retry} s.",
            status_code=429,
        )
    agent = service.get(session, ctx.user, Agent, agent_id)
    if agent.project_id != ctx.project.id:
        return _agent_page(request, ctx, session, agent_id)
    version = service.current_agent_version(session, ctx.user, agent_id)
    try:
        signatures.sign(session, ctx.user, password, version, meaning, comment=comment)
        session.commit()
    except AuthenticationFailed:
        session.rollback()
        state.limiter.failed(ctx.user.email, ip)
        return _agent_page(
            request, ctx, session, agent_id, sign_error="Wrong password: nothing was signed.", status_code=403
        )
    except StoreError as exc:
        session.rollback()
        return _agent_page(request, ctx, session, agent_id, sign_error=exc.message, status_code=403)
    return _redirect(f"/projects/{ctx.project.id}/agents/{agent_id}")


# --- simulation runs ------------------------------------------------------------------------------


@router.post("/projects/{project_id}/runs")
def submit_run(
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    agent_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    species: Annotated[str, Form(max_length=40)] = "mouse",
    scenario_id: Annotated[str, Form(max_length=20)] = "",
    duration_h: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Queue a simulation and go to its page (live progress)."""
    scenario = int(scenario_id) if scenario_id.strip().isdigit() else None
    try:
        duration = float(duration_h) if duration_h.strip() else None
    except ValueError:
        raise ValidationFailed(f"duration_h: {duration_h!r} -> a number of hours (1 to 2160)") from None
    if duration is not None and not (1 <= duration <= 2160):
        raise ValidationFailed(f"duration_h: {duration_h!r} -> between 1 and 2160 h")
    run = submit_simulation(
        request,
        session,
        ctx,
        agent_id=agent_id,
        version_number=None,
        scenario_id=scenario,
        species=species or None,
        duration_h=duration,
    )
    return _redirect(f"/projects/{ctx.project.id}/runs/{run.id}")


def _run(session: Session, ctx: ProjectContext, run_id: int) -> SimulationRun:
    run = service.get(session, ctx.user, SimulationRun, run_id)
    if run.project_id != ctx.project.id:
        raise NotFound(f"simulation run {run_id} not found in project {ctx.project.id}")
    return run


FIGURE_ORDER = ("organs_amount", "tumor", "organs_concentration", "clearance")


@router.get("/projects/{project_id}/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: IdPath, request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """A run: live progress while it runs; metrics and the biodistribution and imaging plots after."""
    run = _run(session, ctx, run_id)
    figures: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    netcdf_id = None
    if run.status == RunStatus.DONE:
        raw = load_figures(request, session, ctx.user, run)
        names = [n for n in FIGURE_ORDER if n in raw] + sorted(n for n in raw if n not in FIGURE_ORDER)
        figures = [{"id": f"fig-{n}", "name": n, "json": _json_block(raw[n])} for n in names]
        results = service.list_records(session, ctx.user, SimulationResult, ctx.project.id, run_id=run.id)
        for result in results:
            if result.kind == BIODISTRIBUTION_RESULT:
                summary, netcdf_id = result.summary, result.raw_file_id
    version = session.get(AgentSpecVersion, run.agent_version_id)
    agent = session.get(Agent, version.agent_id) if version is not None else None
    return render(
        request,
        "run.html",
        {
            "ctx": ctx,
            "project": ctx.project,
            "run": run,
            "agent": agent,
            "version": version,
            "figures": figures,
            "summary": summary,
            "netcdf_id": netcdf_id,
            "plots": bool(figures),
            "signatures": signatures.signature_status(session, run),
        },
    )


@router.get("/projects/{project_id}/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(run_id: IdPath, request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """The progress bar fragment (htmx polls it); when the run ends the page reloads."""
    run = _run(session, ctx, run_id)
    response = render(request, "_progress.html", {"project": ctx.project, "run": run})
    if run.status in (RunStatus.DONE, RunStatus.FAILED):
        response.headers["HX-Refresh"] = "true"
    return response


# --- batches --------------------------------------------------------------------------------------


@router.get("/projects/{project_id}/batches", response_class=HTMLResponse)
def batches_page(
    request: Request,
    ctx: ReadProject,
    session: DbSession,
    status: Annotated[BatchStatus | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID)] = 1,
) -> Response:
    """Batches of the project, newest first, 100 per page."""
    filters: dict[str, Any] = {"status": status} if status is not None else {}
    total = service.count_records(session, ctx.user, Batch, ctx.project.id, **filters)
    rows = service.list_records(
        session,
        ctx.user,
        Batch,
        ctx.project.id,
        newest_first=True,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        **filters,
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))

    def link(p: int) -> str:
        query = {"page": p, **({"status": status.value} if status is not None else {})}
        return f"/projects/{ctx.project.id}/batches?{urlencode(query)}"

    agents = service.list_records(session, ctx.user, Agent, ctx.project.id) if ctx.can_write else []
    return render(
        request,
        "batches.html",
        {
            "ctx": ctx,
            "project": ctx.project,
            "batches": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_link": link(page - 1) if page > 1 else None,
            "next_link": link(page + 1) if page < pages else None,
            "status": status,
            "statuses": list(BatchStatus),
            "agents": agents,
        },
    )


@router.post("/projects/{project_id}/batches")
def create_batch(
    ctx: WriteProject,
    session: DbSession,
    lot_number: Annotated[str, Form(max_length=100)],
    site: Annotated[str, Form(max_length=200)] = "",
    scale: Annotated[str, Form(max_length=100)] = "",
    agent_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create a batch and open it."""
    batch = service.create_batch(
        session,
        ctx.user,
        ctx.project.id,
        lot_number=lot_number,
        site=site,
        scale=scale,
        agent_id=int(agent_id) if agent_id.strip().isdigit() else None,
    )
    session.commit()
    return _redirect(f"/projects/{ctx.project.id}/batches/{batch.id}")


def _qc_figures(session: Session, batch: Batch) -> list[dict[str, Any]]:
    """I-MR charts (nanobridge.science.qc) of each numeric attribute of the batch across the lots."""
    from nanobridge.science.qc.plots import imr_figure
    from nanobridge.science.qc.spc import imr_chart

    out: list[dict[str, Any]] = []
    for kind, unit in queries.measurement_kinds(session, batch.id):
        series = queries.measurement_series(session, batch.project_id, kind, unit, up_to_batch_id=batch.id)
        if len(series) < 3:
            out.append(
                {
                    "id": None,
                    "kind": kind,
                    "unit": unit,
                    "note": f"{len(series)} lot(s) with {kind}: an I-MR chart needs at least 3",
                }
            )
            continue
        try:
            chart = imr_chart(
                [p.value for p in series], [p.lot_number for p in series], attribute=kind, unit=unit
            )
            fig = imr_figure(chart, title=f"{kind} [{unit}] across {len(series)} lots (I-MR, phase I)")
        except (ValueError, ArithmeticError) as exc:
            out.append({"id": None, "kind": kind, "unit": unit, "note": f"no chart: {exc}"})
            continue
        out.append(
            {
                "id": f"qc-{len(out)}",
                "kind": kind,
                "unit": unit,
                "json": _json_block(_figure(fig)),
                "note": None,
            }
        )
    return out


def _batch_page(
    request: Request,
    ctx: ProjectContext,
    session: Session,
    batch_id: int,
    *,
    release_error: str | None = None,
    status_code: int = 200,
) -> Response:
    batch = service.get(session, ctx.user, Batch, batch_id)
    if batch.project_id != ctx.project.id:
        raise NotFound(f"batch {batch_id} not found in project {ctx.project.id}")
    measurements = service.list_records(session, ctx.user, Measurement, ctx.project.id, batch_id=batch.id)
    files = {
        m.raw_file_id: session.get(RawFile, m.raw_file_id) for m in measurements if m.raw_file_id is not None
    }
    decisions = service.list_records(session, ctx.user, QCDecision, ctx.project.id, batch_id=batch.id)
    decision_rows = [(d, signatures.signature_status(session, d)) for d in decisions]
    qc = _qc_figures(session, batch)
    return render(
        request,
        "batch.html",
        {
            "ctx": ctx,
            "project": ctx.project,
            "batch": batch,
            "agent": session.get(Agent, batch.agent_id) if batch.agent_id else None,
            "measurements": measurements,
            "files": files,
            "decisions": decision_rows,
            "qc": qc,
            "plots": any(item.get("id") for item in qc),
            "outcomes": list(QCOutcome),
            "meanings": [SignatureMeaning.RELEASED, SignatureMeaning.APPROVED, SignatureMeaning.REVIEWED],
            "release_error": release_error,
        },
        status_code=status_code,
    )


@router.get("/projects/{project_id}/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(batch_id: IdPath, request: Request, ctx: ReadProject, session: DbSession) -> Response:
    """A batch: measurements, QC charts, decisions with their signatures, the release form (QA)."""
    return _batch_page(request, ctx, session, batch_id)


def _float_or_none(text: str, field: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValidationFailed(f"{field}: {text!r} -> a number") from None
    if not math.isfinite(value):
        raise ValidationFailed(f"{field}: {text!r} -> a finite number")
    return value


@router.post("/projects/{project_id}/batches/{batch_id}/measurements")
def add_measurement(
    batch_id: IdPath,
    ctx: WriteProject,
    session: DbSession,
    kind: Annotated[str, Form(max_length=100)],
    value: Annotated[str, Form(max_length=40)] = "",
    unit: Annotated[str, Form(max_length=50)] = "",
    method: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record a measurement of the batch."""
    batch = service.get(session, ctx.user, Batch, batch_id)
    if batch.project_id != ctx.project.id:
        raise PermissionDenied("the batch is not in this project")
    service.add_measurement(
        session, ctx.user, batch_id, kind=kind, value=_float_or_none(value, "value"), unit=unit, method=method
    )
    session.commit()
    return _redirect(f"/projects/{ctx.project.id}/batches/{batch_id}")


@router.post("/projects/{project_id}/batches/{batch_id}/measurements/upload")
def upload_measurement(
    batch_id: IdPath,
    request: Request,
    ctx: WriteProject,
    session: DbSession,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(max_length=100)],
    value: Annotated[str, Form(max_length=40)] = "",
    unit: Annotated[str, Form(max_length=50)] = "",
    method: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Upload a raw data file (type checked by content) as a measurement of the batch."""
    batch = service.get(session, ctx.user, Batch, batch_id)
    if batch.project_id != ctx.project.id:
        raise PermissionDenied("the batch is not in this project")
    try:
        raw = store_upload(request, session, ctx, file)
    except UnsupportedUpload as exc:
        return render(
            request, "error.html", {"status": 415, "message": exc.message, "problems": []}, status_code=415
        )
    service.add_measurement(
        session,
        ctx.user,
        batch_id,
        kind=kind,
        value=_float_or_none(value, "value"),
        unit=unit,
        method=method,
        raw_file_id=raw.id,
    )
    session.commit()
    return _redirect(f"/projects/{ctx.project.id}/batches/{batch_id}")


@router.post("/projects/{project_id}/batches/{batch_id}/decisions", response_class=HTMLResponse)
def decide_batch(
    batch_id: IdPath,
    request: Request,
    ctx: QAProject,
    session: DbSession,
    outcome: Annotated[QCOutcome, Form()],
    rationale: Annotated[str, Form(max_length=20_000)],
    password: Annotated[str, Form(max_length=1024)],
    meaning: Annotated[str, Form(max_length=20)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
    expected_batch_version: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Record the QC decision with an electronic signature (password re-entered)."""
    state = get_state(request)
    ip = request.client.host if request.client else "unknown"
    retry = state.limiter.retry_after(ctx.user.email, ip)
    if retry:
        return _batch_page(
            request,
            ctx,
            session,
            batch_id,
            release_error=f"Too many failed attempts; wait {retry} s.",
            status_code=429,
        )
    try:
        chosen = SignatureMeaning(meaning) if meaning else None
    except ValueError:
        chosen = None
    try:
        record_decision(
            request,
            session,
            ctx,
            batch_id,
            outcome=outcome,
            rationale=rationale,
            password=password,
            meaning=chosen,
            comment=comment,
            expected_batch_version=expected_batch_version,
        )
    except (PermissionDenied, ValidationFailed) as exc:
        session.rollback()
        return _batch_page(
            request,
            ctx,
            session,
            batch_id,
            release_error=exc.message,
            status_code=403 if isinstance(exc, PermissionDenied) else 422,
        )
    return _redirect(f"/projects/{ctx.project.id}/batches/{batch_id}")


# --- audit trail ----------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    project_id: Annotated[str, Query(max_length=12)] = "",
    table_name: Annotated[str, Query(max_length=64)] = "",
    record_id: Annotated[str, Query(max_length=64)] = "",
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The audit trail you may see, newest first, 50 per page; filter by project and record."""
    pid = int(project_id) if project_id.strip().isdigit() else None
    entries = service.audit_trail(
        session,
        user,
        project_id=pid,
        table_name=table_name.strip() or None,
        record_id=record_id.strip() or None,
        before_seq=before_seq,
        limit=51,
    )
    more = len(entries) > 50
    entries = entries[:50]
    filters = {"project_id": project_id, "table_name": table_name, "record_id": record_id}
    older = None
    if more and entries:
        older = "/audit?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "before_seq": entries[-1].seq}
        )
    from nanobridge.store.models import PROJECT_MODELS

    return render(
        request,
        "audit.html",
        {
            "entries": entries,
            "filters": filters,
            "older": older,
            "newest": "/audit?" + urlencode({k: v for k, v in filters.items() if v}),
            "projects": service.list_projects(session, user),
            "tables": sorted({*PROJECT_MODELS, "users", "projects", "project_members", "organizations"}),
        },
    )


# --- own account -------------------------------------------------------------------------------------


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: CurrentUser, changed: bool = False) -> Response:
    """The user's account: name, role, and a form to change the password."""
    return render(request, "account.html", {"changed": changed, "error": None})


@router.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    current_password: Annotated[str, Form(max_length=1024)],
    new_password: Annotated[str, Form(max_length=1024)],
    repeat_password: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Change one's own password (the current one is checked; other sessions end)."""
    state = get_state(request)
    ip = request.client.host if request.client else "unknown"
    retry = state.limiter.retry_after(user.email, ip)
    if retry:
        return render(
            request,
            "account.html",
            {"changed": False, "error": f"Too many failed attempts; wait {retry} s."},
            status_code=429,
        )
    if new_password != repeat_password:
        return render(
            request, "account.html", {"changed": False, "error": "The new passwords differ."}, status_code=422
        )
    try:
        updated = service.set_password(
            session, user, user.id, new_password, current_password=current_password
        )
        session.commit()
    except PermissionDenied:
        session.rollback()
        state.limiter.failed(user.email, ip)
        return render(
            request,
            "account.html",
            {"changed": False, "error": "The current password is wrong."},
            status_code=403,
        )
    except ValidationFailed as exc:
        session.rollback()
        return render(request, "account.html", {"changed": False, "error": exc.message}, status_code=422)
    replace_session(request.scope, SessionData.for_user(updated.id, password_stamp(updated)))
    return _redirect("/account?changed=true")


# --- user administration --------------------------------------------------------------------------


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, session: DbSession, admin: OrgAdmin) -> Response:
    """Users of the organization: create, change role, deactivate (organization admins)."""
    users = service.list_users(session, admin, include_inactive=True)
    return render(request, "users.html", {"users": users, "roles": list(Role)})


@router.post("/admin/users")
def create_user(
    session: DbSession,
    admin: OrgAdmin,
    email: Annotated[str, Form(max_length=320)],
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[Role, Form()] = Role.VIEWER,
) -> Response:
    """Create a user."""
    service.create_user(session, admin, email=email, name=name, password=password, role=role)
    session.commit()
    return _redirect("/admin/users")


@router.post("/admin/users/{user_id}")
def update_user(
    user_id: IdPath,
    session: DbSession,
    admin: OrgAdmin,
    role: Annotated[Role, Form()],
    expected_version: Annotated[int, Form(ge=1, le=MAX_ID)],
    reason: Annotated[str, Form(max_length=2000)],
    is_active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Change a user's role or active flag (with a reason)."""
    target = service.get(session, admin, User, user_id)
    service.update(
        session,
        admin,
        target,
        expected_version=expected_version,
        reason=reason,
        role=role,
        is_active=is_active in ("on", "true", "1"),
    )
    session.commit()
    return _redirect("/admin/users")
