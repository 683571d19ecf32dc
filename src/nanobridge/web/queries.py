"""Read-only queries the pages need beyond the store's service API (counts, series for charts).

They do no access checks themselves: call them only with project ids the user may read (from a
:class:`~nanobridge.web.deps.ProjectContext` or :func:`nanobridge.store.auth.accessible_projects`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nanobridge.store.models import (
    Agent,
    AgentSpecVersion,
    Batch,
    BatchStatus,
    Measurement,
    ProjectRecord,
    SimulationRun,
)

__all__ = [
    "ProjectCounts",
    "SeriesPoint",
    "batch_status_counts",
    "measurement_kinds",
    "measurement_series",
    "project_counts",
    "recent_runs",
]


@dataclass
class ProjectCounts:
    """How many live agents, runs and batches a project has."""

    agents: int = 0
    runs: int = 0
    batches: int = 0


def _count_by_project(session: Session, model: type[ProjectRecord], ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(model.project_id, func.count())
        .where(model.project_id.in_(list(ids)), model.deleted_at.is_(None))
        .group_by(model.project_id)
    )
    return {int(pid): int(n) for pid, n in rows}


def project_counts(session: Session, project_ids: Sequence[int]) -> dict[int, ProjectCounts]:
    """Counts of agents, runs and batches per project (three grouped queries)."""
    out = {pid: ProjectCounts() for pid in project_ids}
    if not project_ids:
        return out
    for attr, model in (("agents", Agent), ("runs", SimulationRun), ("batches", Batch)):
        for pid, n in _count_by_project(session, model, project_ids).items():
            setattr(out[pid], attr, n)
    return out


def batch_status_counts(session: Session, project_id: int) -> dict[str, int]:
    """Number of live batches of a project per status."""
    rows = session.execute(
        select(Batch.status, func.count())
        .where(Batch.project_id == project_id, Batch.deleted_at.is_(None))
        .group_by(Batch.status)
    )
    counts = {status.value: 0 for status in BatchStatus}
    counts.update({str(BatchStatus(status).value): int(n) for status, n in rows})
    return counts


def recent_runs(
    session: Session, project_ids: Sequence[int], *, limit: int = 10, agent_id: int | None = None
) -> list[tuple[SimulationRun, str, int]]:
    """The newest runs of the projects with their agent's name and spec version number."""
    if not project_ids:
        return []
    stmt = (
        select(SimulationRun, Agent.name, AgentSpecVersion.number)
        .join(AgentSpecVersion, AgentSpecVersion.id == SimulationRun.agent_version_id)
        .join(Agent, Agent.id == AgentSpecVersion.agent_id)
        .where(SimulationRun.project_id.in_(list(project_ids)), SimulationRun.deleted_at.is_(None))
        .order_by(SimulationRun.id.desc())
        .limit(limit)
    )
    if agent_id is not None:
        stmt = stmt.where(Agent.id == agent_id)
    return [(run, str(name), int(number)) for run, name, number in session.execute(stmt)]


def measurement_kinds(session: Session, batch_id: int) -> list[tuple[str, str]]:
    """The distinct (kind, unit) pairs of numeric measurements of a batch."""
    rows = session.execute(
        select(Measurement.kind, Measurement.unit)
        .where(
            Measurement.batch_id == batch_id, Measurement.deleted_at.is_(None), Measurement.value.is_not(None)
        )
        .distinct()
        .order_by(Measurement.kind)
    )
    return [(str(kind), str(unit)) for kind, unit in rows]


@dataclass
class SeriesPoint:
    """One value of a quality attribute, with the lot it belongs to."""

    batch_id: int
    lot_number: str
    value: float


def measurement_series(
    session: Session,
    project_id: int,
    kind: str,
    unit: str,
    *,
    up_to_batch_id: int | None = None,
    limit: int = 60,
) -> list[SeriesPoint]:
    """Values of one attribute (kind and unit) across the project's batches in manufacturing order
    (batch id order; the latest measurement per batch), the last ``limit`` lots up to
    ``up_to_batch_id``."""
    latest = (
        select(func.max(Measurement.id).label("mid"))
        .where(
            Measurement.project_id == project_id,
            Measurement.kind == kind,
            Measurement.unit == unit,
            Measurement.value.is_not(None),
            Measurement.deleted_at.is_(None),
        )
        .group_by(Measurement.batch_id)
        .subquery()
    )
    stmt = (
        select(Batch.id, Batch.lot_number, Measurement.value)
        .join(Measurement, Measurement.batch_id == Batch.id)
        .join(latest, latest.c.mid == Measurement.id)
        .where(Batch.deleted_at.is_(None))
        .order_by(Batch.id.desc())
        .limit(limit)
    )
    if up_to_batch_id is not None:
        stmt = stmt.where(Batch.id <= up_to_batch_id)
    rows = list(session.execute(stmt))
    rows.reverse()
    return [SeriesPoint(int(bid), str(lot), float(value)) for bid, lot, value in rows if value is not None]
