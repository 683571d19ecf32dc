"""The demonstration: the packaged example agents in a tumour-bearing mouse and in a patient.

``run_demo(out_dir)`` simulates each example agent (the C dot for PET and optical imaging, the
100 nm PEG-gold particle and, when packaged, the iron-oxide MRI agent) for 180 days with hourly
output in the mouse and human example scenarios, assesses each for safety by design (reusing those
runs), and writes

- ``out_dir/index.html``: the self-contained report (:mod:`nanobridge.workflows.report`);
- ``out_dir/data/<agent>_<species>.csv``: each run's biodistribution as a tidy table;
- with ``qc`` (default), the report's "Manufacturing QC" section on the bundled QC examples
  (:func:`nanobridge.workflows.qc.qc_example_summary`, about two seconds) and its tables in
  ``out_dir/data/qc_*.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nanobridge.domain import (
    AgentSpec,
    Scenario,
    example_agent_names,
    load_example_agent,
    load_example_scenario,
)
from nanobridge.science.safety.findings import SafetyReport
from nanobridge.workflows.assessment import Assessment, assess
from nanobridge.workflows.qc import QCExampleSummary, dls_rows, qc_example_summary
from nanobridge.workflows.report import write_report
from nanobridge.workflows.safety import safety_from_assessment
from nanobridge.workflows.sln import SLNDemo, sln_demo

__all__ = [
    "DEMO_AGENTS",
    "DEMO_DURATION_H",
    "DEMO_SCENARIOS",
    "DemoResult",
    "demo_inputs",
    "run_demo",
    "run_demo_full",
]

#: Example agents of the demo, in report order (those not packaged are skipped).
DEMO_AGENTS: tuple[str, ...] = ("cdot_pet_optical", "gold_peg_100nm", "iron_oxide_mri")
#: Example scenarios of the demo.
DEMO_SCENARIOS: tuple[str, ...] = ("mouse_tumor", "human_tumor")
#: 180 days, so that retention at 30, 90 and 180 days (the safety checkpoints) is part of the result [h].
DEMO_DURATION_H = 4320.0
#: Hourly output [h].
DEMO_OUTPUT_INTERVAL_H = 1.0

#: ``progress(label, done, total)`` over all steps (runs, then data files and the report).
DemoProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo_full` produced."""

    report: Path
    data_files: tuple[Path, ...]
    assessments: tuple[Assessment, ...]
    qc: QCExampleSummary | None = None
    qc_files: tuple[Path, ...] = ()
    safety: tuple[SafetyReport, ...] = ()
    dossier: Path | None = None
    sln: SLNDemo | None = None


def demo_inputs(
    duration_h: float = DEMO_DURATION_H, output_interval_h: float = DEMO_OUTPUT_INTERVAL_H
) -> tuple[list[AgentSpec], list[Scenario]]:
    """The demo's agents and scenarios (scenarios extended to ``duration_h``)."""
    available = set(example_agent_names())
    agents = [load_example_agent(name) for name in DEMO_AGENTS if name in available]
    if not agents:
        raise FileNotFoundError(
            f"none of the demo agents ({', '.join(DEMO_AGENTS)}) is packaged in "
            "nanobridge/data/examples/agents"
        )
    scenarios = [
        load_example_scenario(name).evolve(duration_h=duration_h, output_interval_h=output_interval_h)
        for name in DEMO_SCENARIOS
    ]
    return agents, scenarios


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "run"


def run_demo_full(
    out_dir: str | Path,
    *,
    duration_h: float = DEMO_DURATION_H,
    progress: DemoProgress | None = None,
    qc: bool = True,
    dossier: bool = True,
) -> DemoResult:
    """Run the demo and return the report path, the data files and the assessments (and, with
    ``qc``, the QC example summary and its data files)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"cannot write the demo to '{out}': it exists and is not a folder")
    agents, scenarios = demo_inputs(duration_h)
    n_runs = len(agents) * len(scenarios)
    total = n_runs + 2 + int(qc) + int(dossier)  # + QC examples + data files + dossier + report
    done = 0
    assessments: list[Assessment] = []
    for agent in agents:

        def step(label: str, i: int, n: int, offset: int = done) -> None:
            if progress is not None and i < n:
                progress(f"simulating {label}", offset + i, total)

        assessments.append(assess(agent, scenarios, progress=step))
        done += len(scenarios)
    safety = tuple(safety_from_assessment(a) for a in assessments)
    sln = sln_demo()

    summary: QCExampleSummary | None = None
    if qc:
        if progress is not None:
            progress("manufacturing QC examples", done, total)
        summary = qc_example_summary()
        done += 1

    if progress is not None:
        progress("writing data files", done, total)
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    links: dict[str, str] = {}
    for assessment in assessments:
        for run in assessment.runs:
            path = data_dir / f"{_file_stem(assessment.agent.name)}_{run.species}.csv"
            run.biodistribution.write(path)
            files.append(path)
            links[run.biodistribution.subjects[0]] = path.relative_to(out).as_posix()
    qc_files = _write_qc_tables(summary, data_dir) if summary is not None else []
    done += 1

    dossier_link: dict[str, str] | None = None
    dossier_path: Path | None = None
    if dossier:
        if progress is not None:
            progress("IND readiness dossier", done, total)
        dossier_link, dossier_path = _write_demo_dossier(agents[0], out / "dossier", summary)

    if progress is not None:
        progress("rendering the report", done, total)
    report = write_report(
        assessments,
        out / "index.html",
        title="nanobridge demo: example imaging agents in a tumour-bearing mouse and a patient",
        run_files=links,
        qc=summary,
        qc_files={path.stem: path.relative_to(out).as_posix() for path in qc_files},
        safety=safety,
        dossier=dossier_link,
        sln=sln,
    )
    if progress is not None:
        progress("done", total, total)
    return DemoResult(
        report=report,
        data_files=tuple(files),
        assessments=tuple(assessments),
        qc=summary,
        qc_files=tuple(qc_files),
        safety=safety,
        dossier=dossier_path,
        sln=sln,
    )


def _write_demo_dossier(
    agent: AgentSpec, out_dir: Path, qc: QCExampleSummary | None
) -> tuple[dict[str, str], Path]:
    """``agent``'s IND readiness dossier (HTML, PDF, readiness tables, ISA-TAB-Nano), with the
    illustrative evidence manifest packaged for it (``data/examples/evidence/<example>/``) when
    there is one; returns the report's link data and the dossier's HTML path."""
    from importlib import resources

    from nanobridge.workflows.dossier import build_dossier, write_dossier

    example = next((n for n in DEMO_AGENTS if load_example_agent(n).name == agent.name), None)
    manifest: Path | None = None
    if example is not None:
        evidence = resources.files("nanobridge") / "data" / "examples" / "evidence"
        candidate = evidence / example / "manifest.yaml"
        manifest = Path(str(candidate)) if candidate.is_file() else None
    d = build_dossier(agent, manifest, qc=qc if qc is not None else False)
    files = write_dossier(d, out_dir, pdf=True)
    score = d.readiness.overall_pct
    link = {
        "agent": agent.name,
        "href": f"{out_dir.name}/index.html",
        "score": "n/a" if score is None else f"{score:.0f} % ready",
    }
    if files.pdf is not None:
        link["pdf"] = f"{out_dir.name}/{files.pdf.name}"
    return link, files.html


def _write_qc_tables(summary: QCExampleSummary, data_dir: Path) -> list[Path]:
    """The QC example's tables as CSV: DLS results per angle, TEM particles, release decisions
    (one row per lot and attribute) and the comparability table."""
    import pandas as pd

    tables = {
        "qc_dls": pd.DataFrame(dls_rows(summary.dls)),
        "qc_tem_particles": summary.tem.result.to_dataframe(),
        "qc_release": pd.DataFrame(
            [
                {
                    "batch_id": d.batch_id,
                    "scale": d.scale,
                    "decision": d.decision,
                    "attribute": r.attribute,
                    "status": r.status,
                    "measured": r.measured,
                    "value": r.value,
                    "unit": r.unit,
                    "acceptance": r.acceptance,
                    "reasons": " | ".join(r.reasons),
                }
                for d in summary.releases
                for r in d.results
            ]
        ),
        "qc_comparability": pd.DataFrame(summary.comparability.table()),
    }
    paths = []
    for stem, frame in tables.items():
        path = data_dir / f"{stem}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths


def run_demo(
    out_dir: str | Path, *, duration_h: float = DEMO_DURATION_H, progress: DemoProgress | None = None
) -> Path:
    """Run the demo into ``out_dir`` and return the path of the report (``index.html``)."""
    return run_demo_full(out_dir, duration_h=duration_h, progress=progress).report
