"""Safe-by-design assessment of one agent, and its section of the HTML report.

:func:`safety_assessment` simulates the agent in each scenario for 180 days (the last retention
checkpoint), runs the MIRD dosimetry and the PET/SPECT detection model when the agent carries a
radionuclide, compares NIR-I with NIR-II for a non-NIR-II dye when the scenario gives a mass
dose, and applies the rules of :mod:`nanobridge.science.safety.findings`, mapping every finding to
the NCL assays that answer it (:mod:`nanobridge.science.safety.ncl`). Everything runs inside
:func:`nanobridge.citations.collect_citations`, so the report lists every source it used.

:func:`safety_section_html` renders a report as a self-contained HTML fragment (its own scoped
styles, a findings table, the evidence map, a Plotly retention chart when retention is
noticeable, and its references); plotly.js itself is expected on the page (the demo report embeds
it once) unless ``include_plotlyjs=True``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import plotly.io as pio

from nanobridge.citations import cite, collect_citations, get_reference
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.pbpk.engine import simulate_agent
from nanobridge.science.pbpk.parameters import ParameterSet
from nanobridge.science.safety import ncl
from nanobridge.science.safety.findings import (
    RULES,
    SEVERITY_SCALE,
    Finding,
    SafetyReport,
    SpeciesRun,
    evaluate_safety,
    rule_constant,
)

if TYPE_CHECKING:
    from nanobridge.science.dosimetry.mird import DoseReport
    from nanobridge.science.imaging.optical import WindowComparison
    from nanobridge.science.pbpk.biodistribution import Biodistribution
    from nanobridge.workflows.assessment import Assessment

__all__ = [
    "DEFAULT_SPECIES",
    "SAFETY_DURATION_H",
    "safety_assessment",
    "safety_figure",
    "safety_from_assessment",
    "safety_runs",
    "safety_section_html",
    "species_run",
]

#: Simulated time of the assessment [h]: 180 days, the last retention checkpoint.
SAFETY_DURATION_H = 4320.0
#: Species assessed when no scenario is given (the packaged example scenarios).
DEFAULT_SPECIES: tuple[str, ...] = ("human", "mouse")

_PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
#: The demo report's organ colours (liver, spleen), repeated so the chart matches its figures.
_ORGAN_COLORS = {"liver": "#2ca02c", "spleen": "#9467bd", "body": "#333333"}


def _scanner(modality: str, species: str) -> str:
    """The scanner :mod:`nanobridge.workflows.imaging` uses by default."""
    if modality == "PET":
        return "biograph_vision" if species == "human" else "inveon"
    return "clinical_spect_lehr"


def safety_runs(
    agent: AgentSpec,
    scenarios: Sequence[Scenario],
    *,
    duration_h: float = SAFETY_DURATION_H,
    parameter_set: str | ParameterSet | None = None,
) -> list[SpeciesRun]:
    """Simulate ``agent`` in each scenario (extended to ``duration_h`` when shorter) and gather what
    the rules need: dose report, minimum activity for detection, NIR window comparison. A part that
    cannot be computed (e.g. no activity given) is left out with a note, never an error."""
    runs: list[SpeciesRun] = []
    for original in scenarios:
        notes: list[str] = []
        scenario = original
        if original.duration_h < duration_h:
            scenario = original.evolve(duration_h=duration_h)
            notes.append(
                f"simulated for {duration_h / 24:g} d (the scenario asks {original.duration_h:g} h) to "
                "reach the last retention checkpoint"
            )
        scenario.cite()
        bd = simulate_agent(agent, scenario, parameter_set=parameter_set)
        runs.append(species_run(agent, scenario, bd, notes=notes))
    return runs


def species_run(
    agent: AgentSpec,
    scenario: Scenario,
    bd: Biodistribution,
    *,
    dose: DoseReport | None = None,
    notes: Sequence[str] = (),
) -> SpeciesRun:
    """What the rules need from one simulated scenario: the dose report (computed with the default
    dose factors unless given), the minimum PET/SPECT activity for detection and the NIR-I/NIR-II
    comparison. A part that cannot be computed is left out with a note, never an error."""
    notes = list(notes)
    min_activity = None
    setting = ""
    label = agent.labels.radionuclide
    if label is not None:
        # heavy modules (decay data, photon Monte Carlo tables): only for agents that need them
        from nanobridge.science.dosimetry.mird import absorbed_doses, default_dose_factors
        from nanobridge.science.imaging.nuclear import nuclear_imaging

        if dose is None:
            try:
                dose = absorbed_doses(bd, agent, scenario, default_dose_factors(scenario.species))
            except ValueError as exc:
                notes.append(f"dosimetry not assessed: {exc}")
        if dose is not None:
            cite(*dose.citation_keys)
        modality = label.entry.imaging_modality
        if modality is not None:
            try:
                r = nuclear_imaging(bd, agent, scenario, scanner=_scanner(modality, scenario.species))
                min_activity = r.min_activity_MBq
                setting = (
                    f"{r.modality} on {r.scanner}, {r.scan_duration_min:g} min scan, CNR ≥ {r.rose_k:g} "
                    "(Rose criterion) at the best time"
                )
                cite(*r.citations)
            except ValueError as exc:
                notes.append(f"minimum activity for detection not assessed: {exc}")
    nir: dict[str, WindowComparison] = {}
    fl = agent.labels.fluorophore
    if fl is not None and fl.window != "NIR-II":
        from nanobridge.science.imaging.optical import compare_nir_windows

        if scenario.dose_mg is None:
            notes.append(
                "NIR-I/NIR-II comparison not run: the scenario gives no mass dose (dose_mg_per_kg) to turn "
                "%ID/g into dye concentration"
            )
        else:
            depth = rule_constant("nir_comparison_depth_mm").number
            try:
                for criterion in ("cnr", "both"):
                    nir[criterion] = compare_nir_windows(
                        bd, agent, scenario, depth_mm=depth, criterion=criterion
                    )
                    cite(*nir[criterion].citation_keys)
            except ValueError as exc:
                notes.append(f"NIR-I/NIR-II comparison not run: {exc}")
                nir = {}
    return SpeciesRun(
        scenario=scenario,
        biodistribution=bd,
        dose=dose,
        min_activity_MBq=min_activity,
        min_activity_setting=setting,
        nir_windows=nir,
        notes=tuple(notes),
    )


def safety_from_assessment(
    assessment: Assessment, evidence: ncl.EvidenceSet | str | Path | None = None
) -> SafetyReport:
    """The safe-by-design assessment reusing an assessment's simulations and dose reports (no new
    PBPK run): retention checkpoints beyond a run's end are reported as not available."""
    held = ncl.load_evidence(evidence) if isinstance(evidence, str | Path) else evidence
    with collect_citations() as used:
        agent = assessment.agent
        agent.cite()
        runs = [species_run(agent, r.scenario, r.biodistribution, dose=r.dose) for r in assessment.runs]
        report = evaluate_safety(agent, runs, held)
    return report.model_copy(update={"citation_keys": used.keys})


def safety_assessment(
    agent: AgentSpec,
    scenarios: Sequence[Scenario] | None = None,
    evidence: ncl.EvidenceSet | str | Path | None = None,
    *,
    duration_h: float = SAFETY_DURATION_H,
    parameter_set: str | ParameterSet | None = None,
) -> SafetyReport:
    """The safe-by-design assessment of ``agent``.

    ``scenarios``: by default the packaged human and mouse examples; each is simulated for at
    least ``duration_h`` (180 days). ``evidence``: held assay results (an :class:`EvidenceSet` or a
    YAML/CSV file, :func:`nanobridge.science.safety.ncl.load_evidence`). The report's
    ``citation_keys`` are every reference the simulations, dosimetry, imaging and rules used.
    """
    from nanobridge.workflows.assessment import default_scenario

    if not (math.isfinite(duration_h) and duration_h > 0):
        raise ValueError(f"duration_h must be a positive number of hours, got {duration_h!r}")
    chosen = list(scenarios) if scenarios is not None else [default_scenario(s) for s in DEFAULT_SPECIES]
    if not chosen:
        raise ValueError("safety_assessment() needs at least one scenario")
    held = ncl.load_evidence(evidence) if isinstance(evidence, str | Path) else evidence
    with collect_citations() as used:
        agent.cite()
        cite("Cheng2020", "Lin2016_gold_mouse")
        runs = safety_runs(agent, chosen, duration_h=duration_h, parameter_set=parameter_set)
        report = evaluate_safety(agent, runs, held)
    return report.model_copy(update={"citation_keys": used.keys})


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_STYLE = """
<style>
  .nb-safety .sev { display:inline-block; min-width:66px; text-align:center; font-size:11px; font-weight:600;
    text-transform:uppercase; letter-spacing:0.04em; padding:3px 6px; border-radius:8px; }
  .nb-safety .sev-critical { background:#b3261e; color:#fff; }
  .nb-safety .sev-high { background:#e8590c; color:#fff; }
  .nb-safety .sev-moderate { background:#f2c94c; color:#3d2f00; }
  .nb-safety .sev-low { background:#d6e6f7; color:#17324f; }
  .nb-safety .sev-info { background:#eef1f4; color:#4a5663; }
  .nb-safety table { border-collapse:collapse; font-size:13px; margin:6px 0 14px; width:100%; }
  .nb-safety th, .nb-safety td { padding:5px 8px; border-bottom:1px solid #dde3ea; text-align:left;
    vertical-align:top; }
  .nb-safety th { background:#f5f7fa; font-weight:600; }
  .nb-safety ul { margin:2px 0; padding-left:18px; }
  .nb-safety li { margin:1px 0; }
  .nb-safety .muted { color:#5c6b7a; font-size:12px; }
  .nb-safety .st-held { color:#1e7b34; font-weight:600; }
  .nb-safety .st-partial { color:#7a5600; font-weight:600; }
  .nb-safety .st-missing { color:#5c6b7a; font-weight:600; }
  .nb-safety .st-contradicts { color:#b3261e; font-weight:600; }
  .nb-safety .fid { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:11px;
    color:#5c6b7a; }
  .nb-safety ol.refs { font-size:12.5px; padding-left:24px; }
</style>
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def safety_figure(report: SafetyReport, min_pct_id: float = 1.0) -> go.Figure | None:
    """Liver and spleen %ID at the retention checkpoints per species (grouped bars, whole body as
    markers); None when no liver or spleen value reaches ``min_pct_id`` (nothing worth a chart)."""
    points = [p for p in report.retention if not math.isnan(p.pct_id)]
    organ_values = [p.pct_id for p in points if p.organ in ("liver", "spleen")]
    if not organ_values or max(organ_values) < min_pct_id:
        return None
    fig = go.Figure()
    days = sorted({p.day for p in points})
    x_labels = [f"{d:g} d" for d in days]
    for species in report.species:
        for organ in ("liver", "spleen"):
            values = {p.day: p.pct_id for p in points if p.species == species and p.organ == organ}
            fig.add_trace(
                go.Bar(
                    x=x_labels,
                    y=[values.get(d) for d in days],
                    name=f"{organ}, {species}",
                    marker={
                        "color": _ORGAN_COLORS[organ],
                        "pattern": {"shape": "" if species == report.species[0] else "/"},
                    },
                    hovertemplate="%{y:.3g} %ID<extra>" + f"{organ}, {species}" + "</extra>",
                )
            )
        body = {p.day: p.pct_id for p in points if p.species == species and p.organ == "body"}
        fig.add_trace(
            go.Scatter(
                x=x_labels,
                y=[body.get(d) for d in days],
                mode="markers",
                name=f"whole body, {species}",
                marker={
                    "symbol": "diamond" if species == report.species[0] else "diamond-open",
                    "size": 10,
                    "color": "#333",
                },
                hovertemplate="%{y:.3g} %ID<extra>" + f"whole body, {species}" + "</extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        title={"text": f"Long-term retention: {report.agent}", "x": 0.01, "font": {"size": 14}},
        height=380,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        yaxis_title="amount [%ID]",
        xaxis_title="time after injection",
        legend={"font": {"size": 11}},
    )
    return fig


def _status_cell(finding: Finding) -> str:
    ev = finding.evidence_status
    if ev is None:
        return ""
    items = []
    for a in ev.assays:
        text = a.text if a.result is not None else f"{a.id}: missing"
        items.append(f'<li title="{_e(a.question)}">{_e(text)}</li>')
    return f'<span class="st-{ev.status}">{_e(ev.status)}</span><ul>{"".join(items)}</ul>'


def safety_section_html(
    report: SafetyReport, *, include_plotlyjs: bool = False, section_id: str = "safety"
) -> str:
    """The report as a self-contained HTML fragment (``<section>``)."""
    keys = list(
        dict.fromkeys([*report.citation_keys, *(k for f in report.findings for k in f.citation_keys)])
    )
    numbers = {k: i + 1 for i, k in enumerate(keys)}
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n) or "no findings"
    runs = ", ".join(
        f"{_e(sp)} ({h / 24:g} d)" for sp, h in zip(report.species, report.duration_h, strict=True)
    )
    parts = [f'<section id="{_e(section_id)}" class="nb-safety">', _STYLE]
    parts.append(f"<h2>Safe-by-design assessment: {_e(report.agent)}</h2>")
    parts.append(
        f'<p class="lead">Rules on the agent spec and its simulated biodistribution ({runs}): {counts}. '
        "Each finding lists the numbers that triggered it, the options, and the NCL assays that answer it "
        "with the evidence held. Screening heuristics on model predictions, not a toxicological risk "
        "assessment.</p>"
    )
    parts.append(
        "<table><thead><tr><th>Severity</th><th>Finding</th><th>Evidence</th><th>Options</th>"
        "<th>Assays · evidence</th><th>Sources</th></tr></thead><tbody>"
    )
    for f in report.findings:
        evidence = "".join(
            f'<li>{_e(e.short)} <span class="muted">({_e(e.source)})</span></li>' for e in f.evidence
        )
        options = "".join(f"<li>{_e(m)}</li>" for m in f.mitigations)
        sources = ", ".join(
            f'<a href="#{_e(section_id)}-ref-{numbers[k]}" title="{_e(k)}">[{numbers[k]}]</a>'
            for k in f.citation_keys
        )
        parts.append(
            "<tr>"
            f'<td><span class="sev sev-{f.severity}">{_e(f.severity)}</span></td>'
            f'<td><strong>{_e(f.title)}</strong><div class="fid">{_e(f.id)}</div>'
            f'<div class="muted">{_e(f.rationale)}</div></td>'
            f"<td><ul>{evidence}</ul></td><td><ul>{options}</ul></td>"
            f"<td>{_status_cell(f)}</td><td>{sources}</td></tr>"
        )
    if not report.findings:
        parts.append('<tr><td colspan="6">No rule fired.</td></tr>')
    parts.append("</tbody></table>")
    passed = [c for c in report.checks if not c.triggered]
    if passed:
        parts.append("<h4>Rules that did not fire</h4><ul>")
        for c in passed:
            where = f" ({_e(c.species)})" if c.species else ""
            parts.append(f"<li><strong>{_e(c.title)}</strong>{where}: {_e(c.summary)}</li>")
        parts.append("</ul>")
    fig = safety_figure(report)
    if fig is not None:
        parts.append(
            pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=include_plotlyjs,
                include_mathjax=False,
                div_id=f"{section_id}-retention",
                config=_PLOT_CONFIG,
                default_width="100%",
            )
        )
    parts.append("<h4>Evidence map (NCL assay cascade)</h4>")
    if report.evidence_source:
        parts.append(f'<p class="muted">Evidence held: {_e(report.evidence_source)}.</p>')
    parts.append(
        "<table><thead><tr><th>Assay</th><th>Title</th><th>Category</th><th>Answers</th><th>Held</th></tr></thead><tbody>"
    )
    for row in report.evidence_map():
        title = row["title"] + ("" if row["title_checked"] else " (descriptive)")
        kind = row["category"].replace("_", " ") + ("" if row["ncl"] else ", outside the NCL cascade")
        held = f"{row['result']}" + (f" ({row['date']})" if row["date"] else "") if row["held"] else "missing"
        parts.append(
            f"<tr><td>{_e(row['id'])}</td><td>{_e(title)}</td><td>{_e(kind)}</td>"
            f"<td>{_e(', '.join(row['findings']))}</td><td>{_e(held)}</td></tr>"
        )
    parts.append("</tbody></table>")
    for warning in report.evidence_warnings:
        parts.append(f'<p class="muted">Evidence warning: {_e(warning)}</p>')
    parts.append("<h4>Severity scale</h4><ul>")
    for sev, meaning in SEVERITY_SCALE.items():
        parts.append(f'<li><span class="sev sev-{sev}">{_e(sev)}</span> {_e(meaning)}</li>')
    parts.append("</ul>")
    if report.assumptions or report.notes:
        parts.append("<h4>Assumptions and notes</h4><ul>")
        parts.extend(f"<li>{_e(a)}</li>" for a in [*report.assumptions, *report.notes])
        parts.append("</ul>")
    parts.append('<h4>References</h4><ol class="refs">')
    for key in keys:
        parts.append(
            f'<li id="{_e(section_id)}-ref-{numbers[key]}">{_e(get_reference(key).formatted())}</li>'
        )
    parts.append("</ol>")
    parts.append(f'<p class="muted">Rules: {_e(", ".join(RULES))}.</p></section>')
    return "\n".join(parts)
