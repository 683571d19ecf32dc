"""Background jobs: simulation runs on an in-process thread pool, persisted in the store.

A run is submitted as a :class:`~nanobridge.store.models.SimulationRun` (status ``queued``) in
the request's transaction; after the commit the :class:`JobRunner` executes it on a worker
thread: ``running`` (audited), progress ticks (0..1, short transactions, not audited), results
(summary metrics, the biodistribution as NetCDF, the Plotly figures as JSON, all content-addressed
raw files), then ``done``; any exception makes the run ``failed`` with its message. Every step
acts as the user who submitted the run, so the audit trail names them.

The job state is the database: a page polls the run's status and progress. When the server
starts, runs left ``queued`` by a previous process are queued again and runs left ``running``
(the process died mid-way) are marked failed (``recover_jobs``; with several server processes
sharing one database, let only one of them recover).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from nanobridge.store import auth, db, service
from nanobridge.store.errors import StoreError
from nanobridge.store.models import AgentSpecVersion, RunStatus, SimulationRun, User

__all__ = ["FIGURES_RESULT", "JobContext", "JobRunner", "simulate_run"]

log = logging.getLogger("nanobridge.web.jobs")

#: Result kind holding the Plotly figures (a JSON raw file ``{name: figure}``).
FIGURES_RESULT = "figures"
#: Result kind holding the metrics and the biodistribution (NetCDF).
BIODISTRIBUTION_RESULT = "biodistribution"


@dataclass
class JobContext:
    """What a job function gets: the run, who submitted it, where blobs go, how to report progress."""

    engine: Engine
    run_id: int
    user_id: int
    blob_root: Path

    def progress(self, fraction: float) -> None:
        """Record the run's progress (0..1) in its own short transaction."""
        with db.session_scope(self.engine) as session:
            user = auth.active_user(session, self.user_id)
            service.set_run_progress(session, user, self.run_id, min(1.0, max(0.0, float(fraction))))

    def load(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's agent spec and scenario spec (JSON)."""
        with db.session_scope(self.engine, write=False) as session:
            user = auth.active_user(session, self.user_id)
            run = service.get(session, user, SimulationRun, self.run_id)
            version = service.get(session, user, AgentSpecVersion, run.agent_version_id)
            scenario = run.scenario_spec or run.parameters.get("scenario")
            if not isinstance(scenario, dict):
                raise ValueError(f"simulation run {self.run_id}: no scenario stored")
            return dict(version.spec), dict(scenario)

    def store_result(
        self,
        kind: str,
        summary: dict[str, Any],
        data: bytes | None = None,
        *,
        file_name: str | None = None,
        media_type: str = "application/octet-stream",
    ) -> None:
        """Attach a result (and its file) to the run."""
        with db.session_scope(self.engine) as session:
            user = auth.active_user(session, self.user_id)
            service.add_run_result(
                session,
                user,
                self.run_id,
                kind=kind,
                summary=summary,
                data=data,
                file_name=file_name,
                media_type=media_type,
                blob_root=self.blob_root,
            )


JobFunction = Callable[[JobContext], None]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def simulate_run(ctx: JobContext) -> None:
    """The real job: the bench-to-clinic assessment of the run's agent in its scenario.

    Stores the metrics with the biodistribution (NetCDF) and the figures of
    :mod:`nanobridge.workflows.report`: organ amounts and concentrations, tumour delivery,
    clearance, and one imaging figure per modality the agent carries.
    """
    from nanobridge.domain import load_agent, load_scenario
    from nanobridge.workflows.assessment import assess
    from nanobridge.workflows.report import clearance_figure, imaging_figure, organ_figure, tumor_figure

    agent_spec, scenario_spec = ctx.load()
    agent = load_agent(agent_spec)
    scenario = load_scenario(scenario_spec)
    ctx.progress(0.1)
    assessment = assess(agent, [scenario])
    run = assessment.runs[0]
    ctx.progress(0.7)
    figures: dict[str, Any] = {
        "organs_amount": organ_figure(run, "amount_pct_id"),
        "organs_concentration": organ_figure(run, "conc_pct_id_per_g"),
        "tumor": tumor_figure(run),
        "clearance": clearance_figure(run),
    }
    for summary in run.imaging:
        figures[f"imaging_{summary.modality}"] = imaging_figure(
            summary, f"{summary.modality.upper()} imaging"
        )
    titles = {name: _title(fig) for name, fig in figures.items()}
    payload = json.dumps({name: json.loads(fig.to_json()) for name, fig in figures.items()}).encode()
    ctx.progress(0.85)
    metrics = {
        name: {"value": _finite(metric.value), "unit": metric.unit, "label": metric.label}
        for name, metric in run.metrics.items()
    }
    netcdf = run.biodistribution.data.to_netcdf(engine="h5netcdf")
    imaging = [
        {
            "modality": s.modality,
            "setting": s.setting,
            "headlines": [
                {k: (_finite(v) if isinstance(v, float) else v) for k, v in vars(h).items() if _plain(v)}
                for h in s.headlines
            ],
        }
        for s in run.imaging
    ]
    ctx.store_result(
        BIODISTRIBUTION_RESULT,
        {
            "metrics": metrics,
            "parameter_set": run.parameter_set,
            "species": run.species,
            "scenario": run.label,
            "notes": list(run.notes),
            "citations": list(assessment.citations),
            "imaging": imaging,
        },
        bytes(netcdf),
        file_name=f"run{ctx.run_id}_biodistribution.nc",
        media_type="application/x-netcdf",
    )
    ctx.store_result(
        FIGURES_RESULT,
        {"figures": titles},
        payload,
        file_name=f"run{ctx.run_id}_figures.json",
        media_type="application/json",
    )


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _title(fig: Any) -> str:
    text = getattr(getattr(fig.layout, "title", None), "text", None)
    return str(text) if text else ""


class JobRunner:
    """Runs jobs on a thread pool; the database holds their state."""

    def __init__(
        self, engine: Engine, blob_root: Path, *, workers: int, job: JobFunction | None = None
    ) -> None:
        self.engine = engine
        self.blob_root = blob_root
        self.job: JobFunction = job or simulate_run
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nanobridge-job")
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, run_id: int, user_id: int) -> None:
        """Execute run ``run_id`` (already committed as queued) as ``user_id``."""
        with self._lock:
            if self._closed:
                return
            self._futures[run_id] = self._pool.submit(self._execute, run_id, user_id)

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        """Block until the run's job has finished (for tests and the CLI)."""
        with self._lock:
            future = self._futures.get(run_id)
        if future is not None:
            future.result(timeout=timeout)

    def wait_all(self, timeout: float | None = None) -> None:
        """Block until every job submitted so far has finished (for tests: the audit trail is
        quiet afterwards)."""
        with self._lock:
            futures = list(self._futures.values())
        for future in futures:
            future.result(timeout=timeout)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop accepting jobs; with ``wait`` let running ones finish."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _execute(self, run_id: int, user_id: int) -> None:
        ctx = JobContext(self.engine, run_id, user_id, self.blob_root)
        try:
            with db.session_scope(self.engine) as session:
                user = auth.active_user(session, user_id)
                service.start_run(session, user, run_id)
            self.job(ctx)
            with db.session_scope(self.engine) as session:
                user = auth.active_user(session, user_id)
                service.finish_run(session, user, run_id)
        except Exception as exc:
            log.warning("simulation run %s failed: %s", run_id, exc)
            message = str(exc).strip() or type(exc).__name__
            try:
                with db.session_scope(self.engine) as session:
                    user = auth.active_user(session, user_id)
                    run = session.get(SimulationRun, run_id)
                    if run is not None and run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
                        service.fail_run(session, user, run_id, f"{type(exc).__name__}: {message}"[:20_000])
            except Exception:  # the database itself is unavailable: nothing more to do
                log.exception("could not mark simulation run %s failed", run_id)
        finally:
            with self._lock:
                self._futures.pop(run_id, None)

    def recover(self) -> None:
        """Re-queue runs a previous process left queued; fail runs it left running."""
        with db.session_scope(self.engine) as session:
            rows = session.execute(
                select(SimulationRun.id, SimulationRun.status, SimulationRun.created_by_id).where(
                    SimulationRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
                    SimulationRun.deleted_at.is_(None),
                )
            ).all()
            requeue: list[tuple[int, int]] = []
            for run_id, status, user_id in rows:
                user = session.get(User, user_id) if user_id is not None else None
                if user is None or not user.is_active:
                    continue
                if status == RunStatus.RUNNING:
                    try:
                        service.fail_run(
                            session, user, run_id, "interrupted: the server stopped during the run"
                        )
                    except StoreError as exc:  # e.g. the user lost the project role meanwhile
                        log.warning("could not mark interrupted run %s failed: %s", run_id, exc)
                else:
                    requeue.append((run_id, user.id))
        for run_id, user_id in requeue:
            self.submit(run_id, user_id)
