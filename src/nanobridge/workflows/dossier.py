"""The IND dossier of one agent: evidence gathered, readiness judged, HTML and PDF written.

:func:`build_dossier` gathers everything the dossier shows for an agent:

- nanobridge's predictions: the PBPK biodistribution, imaging performance and MIRD dosimetry of
  :func:`nanobridge.workflows.assessment.assess` in the mouse and human example scenarios, with
  their uncertainty from a small virtual population (:mod:`nanobridge.science.population`:
  inter-individual variability and parameter uncertainty; 5th-95th percentiles) and the model
  versions; the safe-by-design findings of :func:`nanobridge.workflows.safety.safety_assessment`;
- manufacturing QC (:func:`nanobridge.workflows.qc.qc_example_summary`: DLS, TEM, SPC, release
  and comparability). The bundled QC data are NOT of the agent (a polymer DLS reference, a gold
  micrograph, a synthetic lot history): they are shown as example analyses and only support;
- the project's evidence from an :class:`~nanobridge.science.dossier.evidence.EvidenceSource`
  (a manifest folder now, the store later) and the audit state of each record (who signed it);
- the readiness assessment (:func:`nanobridge.science.dossier.readiness.assess_readiness`), in
  which predictions are supporting evidence for planning and never meet a requirement;
- static figures (matplotlib SVG, the same in the HTML and the PDF) and every citation.

:func:`render_dossier_html` renders the CTD-like HTML (Module 2 summaries, Module 3 quality with
3.2.S and 3.2.P, Module 4 nonclinical, clinical protocol inputs, audit state, references) from
``templates/dossier/``; :func:`write_dossier` writes ``index.html``, ``dossier.pdf``
(WeasyPrint, print CSS), ``readiness.json``/``readiness.csv`` and the ISA-TAB-Nano export.

The expensive parts (simulations, QC example, virtual population) are memoized in-process by
the agent's and scenarios' content, so a second dossier of the same agent (e.g. HTML then PDF,
or a test and the CLI) does not repeat them; :func:`clear_cache` empties the memo.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import nanobridge
from nanobridge.citations import get_reference
from nanobridge.domain import AgentSpec, Scenario, load_example_scenario
from nanobridge.science.dossier.evidence import (
    EvidenceBundle,
    EvidenceItem,
    EvidenceSource,
    ItemVerdict,
    ManifestEvidenceSource,
    judge_item,
    prediction_item,
)
from nanobridge.science.dossier.isatab import IsaTab, build_isatab
from nanobridge.science.dossier.readiness import Readiness, RequirementStatus, assess_readiness
from nanobridge.science.dossier.requirements import agent_traits, requirements_model
from nanobridge.science.pbpk.engine import MODEL_VERSION
from nanobridge.workflows.assessment import Assessment, ScenarioRun, assess, format_value, unique_references

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nanobridge.science.safety.findings import SafetyReport
    from nanobridge.science.safety.ncl import EvidenceSet
    from nanobridge.workflows.qc import QCExampleSummary

__all__ = [
    "DEFAULT_SCENARIOS",
    "Dossier",
    "DossierFigure",
    "DossierFiles",
    "PopulationBand",
    "UncertaintyRow",
    "build_dossier",
    "clear_cache",
    "readiness_rows",
    "render_dossier_html",
    "resolve_evidence",
    "write_dossier",
    "write_pdf",
]

#: Example scenarios the dossier simulates (a tumour-bearing mouse and an adult patient).
DEFAULT_SCENARIOS: tuple[str, ...] = ("mouse_tumor", "human_tumor")
#: Virtual subjects per scenario for the prediction uncertainty (0 switches it off).
DEFAULT_POPULATION_SUBJECTS = 200
#: Outer parameter-uncertainty draws of the virtual population.
POPULATION_DRAWS = 10
POPULATION_SEED = 20250101

PREDICTION_NOTICE = (
    "Predictions made by nanobridge (PBPK biodistribution, imaging performance, dosimetry, the "
    "safe-by-design rules) are supporting evidence for planning studies. They do not meet a "
    "regulatory requirement that needs a measurement: such a requirement stays missing until the "
    "measurement is filed."
)
QC_EXAMPLE_NOTICE = (
    "The manufacturing QC analyses shown are nanobridge's bundled examples (a BAM polymer DLS "
    "reference measurement, an example gold TEM micrograph and a synthetic lot history with an "
    "illustrative specification). They show the analyses the dossier will carry; they are not data "
    "of this agent and meet no requirement."
)

STATUS_COLORS: dict[str, str] = {
    "met": "#1e7b34",
    "partly met": "#d9a400",
    "missing": "#9aa5b1",
    "failed": "#b3261e",
    "not applicable": "#e3e7ec",
}
#: CTD section titles used as headings (ICH M4Q / M4S numbering).
CTD_TITLES: dict[str, str] = {
    "3.2.S.3.1": "Elucidation of structure and other characteristics",
    "3.2.S.3.2": "Impurities",
    "3.2.P.1": "Description and composition of the drug product",
    "3.2.P.2": "Pharmaceutical development",
    "3.2.P.2.3": "Manufacturing process development (comparability)",
    "3.2.P.3.3": "Description of manufacturing process and process controls",
    "3.2.P.5.1": "Specifications and release testing",
    "3.2.P.8": "Stability",
    "4.2": "Study reports: reporting standard",
    "4.2.1.1": "Primary pharmacodynamics: imaging performance",
    "4.2.1.3": "Safety pharmacology",
    "4.2.2": "Pharmacokinetics: biodistribution and excretion",
    "4.2.2.3": "Distribution: data for dosimetry",
    "4.2.2.7": "Other pharmacokinetic studies: radiation dosimetry",
    "4.2.3.1": "Single-dose toxicity",
    "4.2.3.7": "Other toxicity studies: immunotoxicity and in vitro toxicity (NCL cascade)",
    "IB / protocol": "Investigator's Brochure and protocol",
    "protocol": "Protocol",
    "IB": "Investigator's Brochure",
}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DossierFigure:
    """A static figure (SVG) with its number, title and caption."""

    key: str
    title: str
    caption: str
    svg: str

    @property
    def data_uri(self) -> str:
        """The SVG as a ``data:`` URI (for an ``<img>``: nothing is fetched)."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class UncertaintyRow:
    """One predicted quantity: the reference subject and the virtual population's percentiles."""

    species: str
    label: str
    unit: str
    reference: float | None
    p5: float | None
    p50: float | None
    p95: float | None
    note: str = ""


@dataclass(frozen=True)
class PopulationBand:
    """Tumour and background concentration percentiles over time of a virtual population."""

    species: str
    times_h: tuple[float, ...]
    tumour: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
    background: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]
    background_organ: str
    n_subjects: int


@dataclass(frozen=True)
class Dossier:
    """Everything the dossier of one agent shows (see the module docstring)."""

    agent: AgentSpec
    readiness: Readiness
    evidence: EvidenceBundle
    verdicts: dict[str, ItemVerdict]
    predictions: tuple[EvidenceItem, ...]
    assessment: Assessment
    safety: SafetyReport | None
    qc: QCExampleSummary | None
    qc_is_of_agent: bool
    uncertainty: tuple[UncertaintyRow, ...]
    bands: tuple[PopulationBand, ...]
    population_model: dict[str, str]
    figures: tuple[DossierFigure, ...]
    isatab: IsaTab
    citation_keys: tuple[str, ...]
    notes: tuple[str, ...]
    generated_at: datetime
    versions: dict[str, str] = field(default_factory=dict)

    def figure(self, key: str) -> DossierFigure:
        """The figure ``key`` (KeyError naming the figures otherwise)."""
        for f in self.figures:
            if f.key == key:
                return f
        raise KeyError(f"no figure {key!r}; figures: {', '.join(f.key for f in self.figures)}")


@dataclass(frozen=True)
class DossierFiles:
    """What :func:`write_dossier` wrote."""

    out_dir: Path
    html: Path
    pdf: Path | None
    readiness_json: Path
    readiness_csv: Path
    isatab: tuple[Path, ...]


# --------------------------------------------------------------------------------------------
# Memo of the expensive parts
# --------------------------------------------------------------------------------------------

_MEMO: dict[tuple[str, ...], Any] = {}
_MEMO_MAX = 16


def clear_cache() -> None:
    """Forget memoized simulations, QC example and populations."""
    _MEMO.clear()


def _memo(key: tuple[str, ...], compute: Callable[[], Any]) -> Any:
    if key in _MEMO:
        return _MEMO[key]
    value = compute()
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = value
    return value


def _key_of(agent: AgentSpec, scenarios: Sequence[Scenario]) -> tuple[str, ...]:
    return (agent.model_dump_json(), *(s.model_dump_json() for s in scenarios))


# --------------------------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------------------------


def resolve_evidence(
    evidence: EvidenceSource | EvidenceBundle | str | Path | None, agent: AgentSpec
) -> EvidenceBundle:
    """The agent's evidence: from a source, a manifest path, a ready bundle, or none."""
    if evidence is None:
        return EvidenceBundle(
            source="no evidence given",
            description="No evidence source was given: every requirement is a gap.",
        )
    if isinstance(evidence, EvidenceBundle):
        return evidence
    if isinstance(evidence, str | Path):
        return ManifestEvidenceSource(evidence).collect(agent.name)
    return evidence.collect(agent.name)


def _ncl_evidence(items: Sequence[EvidenceItem]) -> EvidenceSet:
    """Manifest items of NCL cascade assays as held results for the safety evidence map."""
    from nanobridge.science.safety.ncl import assay_cascade, evidence_from_rows

    cascade = assay_cascade()
    outcome = {"pass": "no hazard", "no hazard": "no hazard", "fail": "hazard", "hazard": "hazard"}
    rows = []
    for i in items:
        if i.kind == "prediction" or i.type not in cascade.assays:
            continue
        o = "inconclusive" if not i.complete else outcome.get(i.outcome or "", i.outcome or "reported")
        rows.append(
            {
                "protocol": i.reported_type or i.type,
                "outcome": o,
                "result": i.result,
                "date": i.date.isoformat() if i.date else "",
                "reference": i.id,
            }
        )
    return evidence_from_rows(rows, source="dossier evidence")


def _population(agent: AgentSpec, scenario: Scenario, n: int) -> tuple[Any, PopulationBand | None, str]:
    """A small virtual population: (summary or None, tumour band or None, note)."""
    try:
        from nanobridge.science.population.trial import prepare_trial, simulate_chunk, summarize_tables

        ctx = prepare_trial(
            agent, scenario, n, uncertainty_draws=min(POPULATION_DRAWS, n), seed=POPULATION_SEED
        )
        chunk = simulate_chunk(ctx, 0, n, store_curves=True)
        summary = summarize_tables(
            [chunk.table], ctx.n_draws, citations=ctx.citations, assumptions=ctx.assumptions
        )
        band = None
        if chunk.curves is not None:
            curves = np.asarray(chunk.curves, dtype=float)
            q = np.nanpercentile(curves, [5, 50, 95], axis=0)  # (3, time, 2)
            band = PopulationBand(
                species=scenario.species,
                times_h=tuple(float(t) for t in ctx.times_h),
                tumour=(tuple(q[0, :, 0]), tuple(q[1, :, 0]), tuple(q[2, :, 0])),
                background=(tuple(q[0, :, 1]), tuple(q[1, :, 1]), tuple(q[2, :, 1])),
                background_organ=ctx.design.background_organ,
                n_subjects=n,
            )
        note = (
            f"{n} virtual subjects, {ctx.n_draws} parameter-uncertainty draws, seed {POPULATION_SEED}, "
            f"population model {ctx.model.name}"
        )
        return summary, band, note
    except (ImportError, AttributeError, TypeError, ValueError, KeyError) as exc:
        return None, None, f"virtual population not run for the {scenario.species}: {exc}"


#: Population metric -> (label, reference-subject getter name in the run metrics or dose report).
_UNCERTAINTY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("DE24_pct_id", "tumour delivery at 24 h (DE24)", "DE24"),
    ("DEmax_pct_id", "maximum tumour delivery (DEmax)", "DEmax"),
    ("t_DEmax_h", "time of DEmax", "t_DEmax_h"),
    ("liver_24h_pct_id", "liver at 24 h", ""),
    ("urine_end_pct_id", "urine at the end of the run", "urine_pct_id"),
    ("best_tbr", "best tumour/background ratio", ""),
    ("best_tbr_time_h", "time of the best tumour/background", ""),
    ("effective_dose_mSv_per_MBq", "effective dose per MBq", "effective"),
)


def _reference_value(run: ScenarioRun, getter: str, metric: str) -> float | None:
    if not getter and metric.startswith("liver_24h"):
        bd = run.biodistribution
        try:
            t = bd.times_h
            idx = int(np.argmin(np.abs(t - 24.0)))
            return float(bd.amount("liver").isel(subject=0).values[idx])
        except (KeyError, ValueError):
            return None
    if getter == "effective":
        rep = run.dose
        if rep is None or rep.effective_dose_mSv_per_MBq is None:
            return None
        return float(rep.effective_dose_mSv_per_MBq.isel(subject=0))
    if getter and getter in run.metrics:
        return float(run.metrics[getter].value)
    if metric.startswith("dose_") and run.dose is not None:
        target = metric.removeprefix("dose_").removesuffix("_mGy_per_MBq")
        per = run.dose.absorbed_dose_mGy_per_MBq.isel(subject=0)
        if target in [str(t) for t in per["target"].values]:
            return float(per.sel(target=target))
    return None


def _uncertainty_rows(run: ScenarioRun, summary: Any) -> list[UncertaintyRow]:
    rows: list[UncertaintyRow] = []
    metrics = getattr(summary, "metrics", None)
    names = list(_UNCERTAINTY_METRICS)
    if metrics is not None:
        names += [
            (
                str(m),
                "absorbed dose, "
                + str(m).removeprefix("dose_").removesuffix("_mGy_per_MBq").replace("_", " "),
                "",
            )
            for m in metrics.index
            if str(m).startswith("dose_") and str(m).endswith("_mGy_per_MBq")
        ]
    for metric, label, getter in names:
        ref = _reference_value(run, getter, metric)
        p5 = p50 = p95 = None
        unit = ""
        if metrics is not None and metric in metrics.index:
            r = metrics.loc[metric]
            p5, p50, p95 = float(r["p5"]), float(r["p50"]), float(r["p95"])
            unit = str(r["unit"]).split(" (")[0]
        if ref is None and p50 is None:
            continue
        if not unit:
            unit = {"effective_dose_mSv_per_MBq": "mSv/MBq"}.get(metric, "")
            if getter in run.metrics:
                unit = run.metrics[getter].unit
        if unit == "1":
            unit = ""
        rows.append(UncertaintyRow(run.species, label, unit, ref, p5, p50, p95))
    return rows


def _qc_summary() -> QCExampleSummary:
    from nanobridge.workflows.qc import qc_example_summary

    return _memo(("qc-example",), qc_example_summary)  # type: ignore[no-any-return,unused-ignore]


def _prediction_items(
    assessment: Assessment, safety: SafetyReport | None, qc: QCExampleSummary | None, qc_is_of_agent: bool
) -> list[EvidenceItem]:
    items: list[EvidenceItem] = []
    for run in assessment.runs:
        m = run.metrics
        sp = run.species

        def text(name: str, m: Mapping[str, Any] = m) -> str:
            return str(m[name].text) if name in m else "—"

        items.append(
            prediction_item(
                f"P-PBPK-{sp}",
                "pbpk",
                f"PBPK biodistribution, {run.label}",
                f"DE24 {text('DE24')}, DEmax {text('DEmax')}, blood t50 {text('blood_t50_h')}, urine "
                f"{text('urine_pct_id')} "
                f"at {format_value(float(run.biodistribution.times_h[-1]))} h ({run.parameter_set}, "
                f"{MODEL_VERSION})",
            )
        )
        for im in run.imaging:
            heads = {h.name: h for h in im.headlines}
            parts = []
            for key in (
                "best time (CNR)",
                "best CNR",
                "best tumour/background",
                "minimum activity",
                "best time",
                "best TBR",
            ):
                h = heads.get(key)
                if h is not None and h.value is not None:
                    val = h.value if isinstance(h.value, str) else format_value(float(h.value))
                    parts.append(f"{key} {val}{(' ' + h.unit) if h.unit else ''}")
            items.append(
                prediction_item(
                    f"P-IMG-{im.modality}-{sp}",
                    "imaging",
                    f"{im.modality.upper()} imaging, {run.label} ({im.setting})",
                    "; ".join(parts),
                )
            )
        if run.dose is not None:
            rep = run.dose
            eff = None if rep.effective_dose_mSv is None else float(rep.effective_dose_mSv.isel(subject=0))
            worst = max(rep.limit_checks, key=lambda c: c.fraction_of_limit, default=None)
            res = f"{rep.nuclide}, {rep.dose_factor_model}"
            if eff is not None:
                activity = format_value(rep.activity_MBq or float("nan"))
                res += f"; effective dose {format_value(eff)} mSv at {activity} MBq"
            if worst is not None:
                res += (
                    f"; highest vs limit: {worst.target.replace('_', ' ')} "
                    f"{format_value(worst.dose_mSv)} mSv "
                    f"({'EXCEEDS' if worst.exceeds else 'within'} {format_value(worst.limit_mSv)} mSv)"
                )
            items.append(prediction_item(f"P-DOSE-{sp}", "dosimetry", f"MIRD dosimetry, {run.label}", res))
    if safety is not None:
        counts = ", ".join(f"{n} {s}" for s, n in safety.counts().items() if n) or "no findings"
        items.append(
            prediction_item(
                "P-SAFETY",
                "safety-rules",
                "Safe-by-design rules on the agent and its simulated biodistribution",
                f"{counts}: " + "; ".join(f.id for f in safety.findings),
            )
        )
    if qc is not None and not qc_is_of_agent:
        items.append(
            prediction_item(
                "P-QC-EXAMPLE",
                "qc-example",
                "Bundled QC example analyses (not of this agent)",
                f"DLS of {qc.dls.path.name}; TEM sizing; release of {len(qc.releases)} scale-up lots "
                f"({', '.join(f'{d.batch_id} {d.decision}' for d in qc.releases)}); comparability "
                + ("demonstrated" if qc.comparability.comparable else "NOT demonstrated"),
            )
        )
    return items


def _qc_items(qc: QCExampleSummary) -> list[EvidenceItem]:
    """QC analyses of the agent's own lots as analysis items (only with ``qc_is_of_agent``)."""
    decisions = [d.decision for d in qc.releases]
    release_outcome = (
        "fail"
        if "reject" in decisions
        else ("inconclusive" if any(d != "release" for d in decisions) else "pass")
    )
    history = qc.files.get("history")
    dls = qc.files.get("dls")

    def file_info(p: Path | None) -> tuple[str | None, bool | None]:
        return (None, None) if p is None else (str(p), p.is_file())

    h_file, h_found = file_info(history)
    d_file, d_found = file_info(dls)
    return [
        EvidenceItem(
            id="QC-RELEASE",
            type="BATCH-ANALYSES",
            kind="analysis",
            title="Release of the lots (nanobridge qc release)",
            file=h_file,
            file_found=h_found,
            outcome=release_outcome,
            result=", ".join(f"{d.batch_id} {d.decision}" for d in qc.releases),
            source="nanobridge QC",
        ),
        EvidenceItem(
            id="QC-COMPARABILITY",
            type="COMPARABILITY",
            kind="analysis",
            title="Comparability (nanobridge qc compare)",
            file=h_file,
            file_found=h_found,
            outcome="pass" if qc.comparability.comparable else "fail",
            result=qc.comparability.conclusion.splitlines()[0],
            source="nanobridge QC",
        ),
        EvidenceItem(
            id="QC-DLS",
            type="PCC-1",
            kind="analysis",
            title="DLS analysis (nanobridge qc dls)",
            file=d_file,
            file_found=d_found,
            outcome="reported",
            result=qc.dls.path.name,
            source="nanobridge QC",
        ),
    ]


def build_dossier(
    agent: AgentSpec,
    evidence: EvidenceSource | EvidenceBundle | str | Path | None = None,
    *,
    scenarios: Sequence[Scenario] | None = None,
    qc: QCExampleSummary | bool = True,
    qc_is_of_agent: bool = False,
    population_subjects: int = DEFAULT_POPULATION_SUBJECTS,
    safety: bool = True,
    require_signature: bool = True,
    generated_at: datetime | None = None,
) -> Dossier:
    """Gather the evidence of ``agent`` and judge its IND readiness.

    ``evidence``: an :class:`EvidenceSource`, a manifest path, a bundle, or None (then every
    requirement is a gap). ``scenarios``: default the packaged mouse and human examples. ``qc``:
    True for the bundled QC example, a summary of the agent's own QC, or False; only with
    ``qc_is_of_agent`` do QC analyses count as evidence (as unsigned analysis records).
    ``population_subjects``: virtual subjects per scenario for the uncertainty (0: none).
    """
    when = generated_at or datetime.now(UTC)
    chosen = (
        list(scenarios) if scenarios is not None else [load_example_scenario(n) for n in DEFAULT_SCENARIOS]
    )
    if not chosen:
        raise ValueError("build_dossier() needs at least one scenario")
    bundle = resolve_evidence(evidence, agent)
    notes: list[str] = []
    key = _key_of(agent, chosen)
    assessment: Assessment = _memo(("assess", *key), lambda: assess(agent, chosen))
    safety_report: SafetyReport | None = None
    if safety:
        from nanobridge.workflows.safety import safety_assessment

        held = _ncl_evidence(bundle.items)
        ev_key = json.dumps([r.model_dump(mode="json") for r in held.results], sort_keys=True)
        safety_report = _memo(("safety", ev_key, *key), lambda: safety_assessment(agent, chosen, held))
    qc_summary: QCExampleSummary | None
    if qc is True:
        qc_summary = _qc_summary()
    elif qc is False:
        qc_summary = None
    else:
        qc_summary = qc
    uncertainty: list[UncertaintyRow] = []
    bands: list[PopulationBand] = []
    pop_notes: dict[str, str] = {}
    for run in assessment.runs:
        summary = None
        if population_subjects > 0 and run.scenario.tumor is not None and run.scenario.route == "iv":
            summary, band, note = _memo(
                (
                    "population",
                    str(population_subjects),
                    agent.model_dump_json(),
                    run.scenario.model_dump_json(),
                ),
                lambda run=run: _population(agent, run.scenario, population_subjects),  # type: ignore[misc]
            )
            pop_notes[run.species] = note
            if band is not None:
                bands.append(band)
        uncertainty.extend(_uncertainty_rows(run, summary))
    predictions = _prediction_items(assessment, safety_report, qc_summary, qc_is_of_agent)
    items = list(bundle.items)
    if qc_summary is not None and qc_is_of_agent:
        items.extend(_qc_items(qc_summary))
    all_items = [*items, *predictions]
    traits = agent_traits(agent)
    readiness = assess_readiness(agent.name, traits, all_items, require_signature=require_signature)
    verdicts = {i.id: judge_item(i, require_signature=require_signature) for i in all_items}
    if bundle.illustrative:
        notes.append(
            "The evidence manifest is marked illustrative: its records are made up to demonstrate the "
            "assessment."
        )
    notes.extend(bundle.warnings)
    isa = build_isatab(
        agent,
        items,
        generated_by=f"nanobridge {nanobridge.__version__}",
        submission_date=when.date(),
        illustrative=bundle.illustrative,
        publications=[
            {"doi": get_reference(k).doi or "", "title": get_reference(k).title}
            for k in agent.citation_keys()
        ],
    )
    keys: list[str] = [
        *readiness.citation_keys,
        *requirements_model().sources["FDA2022"].citation_keys(),
        *requirements_model().sources["MIRIBEL"].citation_keys(),
        *assessment.citations,
    ]
    if safety_report is not None:
        keys.extend(safety_report.citation_keys)
        keys.extend(k for f in safety_report.findings for k in f.citation_keys)
    if qc_summary is not None:
        keys.extend(qc_summary.citations)
    keys.extend(["ICH_M4Q_R1", "ICH_M4S_R2", "Thomas2013_ISATABNano", "Gaheen2013_caNanoLab"])
    for r in readiness.requirements:
        if r.status != "not applicable":
            for g in r.requirement.evidence:
                for t in g.types:
                    et = requirements_model().evidence_types.get(t)
                    if et is not None:
                        keys.extend(et.citations)
    dossier = Dossier(
        agent=agent,
        readiness=readiness,
        evidence=bundle,
        verdicts=verdicts,
        predictions=tuple(predictions),
        assessment=assessment,
        safety=safety_report,
        qc=qc_summary,
        qc_is_of_agent=qc_is_of_agent,
        uncertainty=tuple(uncertainty),
        bands=tuple(bands),
        population_model=pop_notes,
        figures=(),
        isatab=isa,
        citation_keys=tuple(dict.fromkeys(keys)),
        notes=tuple(notes),
        generated_at=when,
        versions={
            "nanobridge": nanobridge.__version__,
            "model": MODEL_VERSION,
            "requirements": "nanobridge-requirements-1",
        },
    )
    return _with_figures(dossier)


# --------------------------------------------------------------------------------------------
# Figures (matplotlib, static SVG: the same in the HTML and the PDF)
# --------------------------------------------------------------------------------------------


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 8.5,
            "axes.titlesize": 9.5,
            "axes.labelsize": 8.5,
            "legend.fontsize": 7.5,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "nanobridge-dossier",
            "svg.fonttype": "none",
            "font.family": "DejaVu Sans",
            "figure.dpi": 100,
        }
    )
    return plt


def _svg(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def _readiness_figure(readiness: Readiness) -> DossierFigure:
    plt = _mpl()
    areas = [a for a in readiness.areas if a.n_applicable]
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(areas) + 0.9))
    order = ("met", "partly met", "missing", "failed")
    y = np.arange(len(areas))[::-1]
    left = np.zeros(len(areas))
    for status in order:
        vals = np.array([a.counts.get(status, 0) for a in areas], dtype=float)
        ax.barh(y, vals, left=left, color=STATUS_COLORS[status], label=status, height=0.62, edgecolor="white")
        left += vals
    for yi, a, total in zip(y, areas, left, strict=True):
        score = "—" if a.score_pct is None else f"{a.score_pct:.0f} %"
        ax.text(total + 0.3, yi, score, va="center", fontsize=8.5, fontweight="bold")
    short = {
        "quality": "Quality / CMC",
        "nonclinical": "Nonclinical",
        "imaging": "Imaging",
        "dosimetry": "Dosimetry",
        "clinical": "Clinical inputs",
    }
    ax.set_yticks(y, [short.get(a.area, a.title) for a in areas])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("applicable requirements (bars) · readiness score (label)")
    ax.set_xlim(0, max(left.max() if len(left) else 1, 1) * 1.18)
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.55 / height, top=1 - 0.35 / height)
    return DossierFigure(
        "readiness",
        "Readiness by area",
        "Requirements met, partly met, missing and failed per area, and the area's readiness score "
        "(scoring rule "
        "in the summary). Predictions never count as met.",
        _svg(fig),
    )


def _organ_colors() -> dict[str, str]:
    from nanobridge.workflows.report import ORGAN_COLORS

    return dict(ORGAN_COLORS)


def _biodistribution_figure(assessment: Assessment) -> DossierFigure:
    plt = _mpl()
    colors = _organ_colors()
    runs = list(assessment.runs)
    fig, axes = plt.subplots(1, len(runs), figsize=(7.2, 2.9), squeeze=False)
    organs = ("blood", "liver", "spleen", "kidney", "tumor", "urine", "feces")
    for ax, run in zip(axes[0], runs, strict=True):
        bd = run.biodistribution
        t = np.asarray(bd.times_h, dtype=float)
        mask = t > 0
        names = [str(o) for o in bd.data["organ"].values]
        for organ in organs:
            if organ not in names:
                continue
            y = bd.amount(organ).isel(subject=0).values
            ax.plot(
                t[mask],
                y[mask],
                color=colors.get(organ, "#555"),
                lw=2.0 if organ == "tumor" else 1.3,
                ls="--" if organ in ("urine", "feces") else "-",
                label=organ.replace("tumor", "tumour"),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 150)
        ax.set_xlabel("time after injection [h]")
        ax.set_ylabel("amount [%ID]")
        ax.set_title(f"{run.species}: {run.label}", loc="left")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.subplots_adjust(left=0.08, right=0.86, bottom=0.16, top=0.9, wspace=0.3)
    return DossierFigure(
        "biodistribution",
        "Predicted biodistribution (PBPK)",
        "Amount in blood, organs, tumour and excreta of the reference subject of each scenario "
        f"({MODEL_VERSION}). "
        "A prediction for planning, not a measurement.",
        _svg(fig),
    )


def _tumour_band_figure(bands: Sequence[PopulationBand]) -> DossierFigure | None:
    if not bands:
        return None
    plt = _mpl()
    colors = _organ_colors()
    fig, axes = plt.subplots(1, len(bands), figsize=(7.2, 2.7), squeeze=False)
    for ax, b in zip(axes[0], bands, strict=True):
        t = np.asarray(b.times_h)
        mask = t > 0
        for series, name, color in (
            (b.tumour, "tumour", colors.get("tumor", "#1f77b4")),
            (b.background, b.background_organ, colors.get(b.background_organ, "#8c564b")),
        ):
            lo, mid, hi = (np.asarray(s) for s in series)
            ax.fill_between(t[mask], lo[mask], hi[mask], color=color, alpha=0.22, lw=0)
            ax.plot(t[mask], mid[mask], color=color, lw=1.6, label=f"{name} (median, 5–95 %)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time after injection [h]")
        ax.set_ylabel("concentration [%ID/g]")
        ax.set_title(f"{b.species}: {b.n_subjects} virtual subjects", loc="left")
        ax.legend(frameon=False, loc="lower left")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.9, wspace=0.28)
    return DossierFigure(
        "uncertainty",
        "Prediction uncertainty: tumour and background",
        "Median and 5th–95th percentiles of tumour and background concentration in a virtual population "
        "(inter-individual variability and parameter uncertainty of the population model).",
        _svg(fig),
    )


def _dose_figure(run: ScenarioRun) -> DossierFigure | None:
    rep = run.dose
    if rep is None or not rep.limit_checks:
        return None
    plt = _mpl()
    checks = sorted(rep.limit_checks, key=lambda c: c.dose_mSv)
    fig, ax = plt.subplots(figsize=(7.0, 0.2 * len(checks) + 0.9))
    y = np.arange(len(checks))
    colors = [STATUS_COLORS["failed"] if c.exceeds else "#4a78b5" for c in checks]
    ax.barh(y, [c.dose_mSv for c in checks], color=colors, height=0.7)
    for yi, c in zip(y, checks, strict=True):
        ax.plot([c.limit_mSv, c.limit_mSv], [yi - 0.42, yi + 0.42], color="#222", lw=1.2)
    ax.set_yticks(
        y,
        [c.target.replace("_", " ") + (" (E)" if c.quantity.startswith("effective") else "") for c in checks],
    )
    ax.set_xscale("log")
    ax.set_xlabel(
        f"dose at {format_value(rep.activity_MBq or float('nan'))} MBq [mSv]; black tick: 21 CFR 361.1 limit"
    )
    ax.set_title(f"{rep.nuclide} · {run.label}", loc="left")
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(left=0.24, right=0.97, bottom=0.5 / height, top=1 - 0.3 / height)
    return DossierFigure(
        "dosimetry",
        "Predicted organ doses at the planned activity",
        "Equivalent organ doses and the effective dose (E) of the reference adult at the planned "
        "activity, from the "
        "PBPK biodistribution (MIRD schema); red: above the 21 CFR 361.1 research limit. A prediction: "
        "human dose "
        "estimates for the IND must come from measured biodistribution.",
        _svg(fig),
    )


def _imaging_figure(assessment: Assessment) -> DossierFigure | None:
    panels = [(run, im) for run in assessment.runs for im in run.imaging]
    if not panels:
        return None
    plt = _mpl()
    fig, axes = plt.subplots(2, len(panels), figsize=(7.2, 3.8), squeeze=False, sharex="col")
    for col, (run, im) in enumerate(panels):
        ts = im.timeseries
        t = np.asarray(ts["time_h"], dtype=float)
        mask = t > 0
        top, bottom = axes[0][col], axes[1][col]
        top.plot(t[mask], np.asarray(ts["cnr"], dtype=float)[mask], color="#1f77b4", lw=1.6)
        top.axhline(5.0, color="#888", ls="--", lw=1.0)
        top.set_title(f"{im.modality.upper()} · {run.species}", loc="left")
        bottom.plot(t[mask], np.asarray(ts["contrast"], dtype=float)[mask], color="#d62728", lw=1.4)
        bottom.set_xscale("log")
        bottom.set_xlabel("time after injection [h]")
        if col == 0:
            top.set_ylabel("contrast-to-noise")
            bottom.set_ylabel("tumour/background")
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.92, wspace=0.35, hspace=0.15)
    return DossierFigure(
        "imaging",
        "Predicted imaging performance",
        "Contrast-to-noise (top; dashed: the Rose detection criterion, CNR 5) and tumour-to-background "
        "contrast "
        "(bottom) over time for each modality the agent carries. A prediction for planning the imaging "
        "study.",
        _svg(fig),
    )


def _qc_figure(qc: QCExampleSummary, of_agent: bool) -> DossierFigure | None:
    if not qc.spc:
        return None
    plt = _mpl()
    run = qc.spc[0]
    chart = run.chart
    comp = [a for a in qc.comparability.attributes if a.equivalence is not None]
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.8), gridspec_kw={"width_ratios": [1.5, 1.0]})
    ax = axes[0]
    x = np.arange(len(chart.values))
    ax.plot(x, chart.values, marker="o", ms=3, color="#333", lw=1)
    lim = chart.limits
    for v, style in ((lim.center, "-"), (lim.lcl, "--"), (lim.ucl, "--")):
        ax.axhline(v, color="#1f77b4", ls=style, lw=1)
    bad = sorted({p for viol in chart.violations for p in viol.signal_points})
    if bad:
        ax.plot(x[bad], np.asarray(chart.values)[bad], "o", color=STATUS_COLORS["failed"], ms=4.5)
    ax.set_xticks(x, chart.labels, rotation=90, fontsize=6)
    ax.set_ylabel(f"{run.title} [{run.unit}]")
    ax.set_title("Individuals chart (red: rule signals)", loc="left")
    ax = axes[1]
    for i, a in enumerate(comp):
        eq = a.equivalence
        assert eq is not None
        scale = eq.margin if eq.margin else 1.0
        ax.plot(
            [eq.ci_lower / scale, eq.ci_upper / scale],
            [i, i],
            color=STATUS_COLORS["met"] if eq.equivalent else STATUS_COLORS["failed"],
            lw=3,
        )
        ax.plot([eq.difference / scale], [i], "o", color="#222", ms=3)
    ax.axvline(-1, color="#888", ls="--", lw=1)
    ax.axvline(1, color="#888", ls="--", lw=1)
    ax.set_yticks(range(len(comp)), [a.title for a in comp], fontsize=7)
    ax.set_xlabel("difference / margin (90 % CI)")
    ax.set_title("Equivalence (tier 1)", loc="left")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.3, top=0.9, wspace=0.55)
    what = "the agent's lots" if of_agent else "the bundled SYNTHETIC example lots (not of this agent)"
    return DossierFigure(
        "qc",
        "Manufacturing QC: process control and comparability",
        f"Left: individuals chart of {run.title} over {what}; right: tier-1 equivalence of scale-up "
        "against lab lots "
        "(90 % confidence interval of the difference in units of the margin; inside ±1: equivalent).",
        _svg(fig),
    )


def _with_figures(d: Dossier) -> Dossier:
    figures = [_readiness_figure(d.readiness), _biodistribution_figure(d.assessment)]
    for maybe in (
        _tumour_band_figure(d.bands),
        _imaging_figure(d.assessment),
        next((f for f in (_dose_figure(r) for r in d.assessment.runs if r.species == "human") if f), None),
        None if d.qc is None else _qc_figure(d.qc, d.qc_is_of_agent),
    ):
        if maybe is not None:
            figures.append(maybe)
    return dataclasses.replace(d, figures=tuple(figures))


# --------------------------------------------------------------------------------------------
# Tables for the template and the exports
# --------------------------------------------------------------------------------------------


def readiness_rows(readiness: Readiness) -> list[dict[str, Any]]:
    """One flat row per requirement (readiness.csv, readiness.json)."""
    rows = []
    for s in readiness.requirements:
        r = s.requirement
        rows.append(
            {
                "id": r.id,
                "area": r.area,
                "ctd": r.ctd,
                "title": r.title,
                "priority": r.priority,
                "source": r.source,
                "status": s.status,
                "score": s.score,
                "met_by": [i.id for i in s.met_by],
                "evidence": [g.deciding.item.id for g in s.groups if g.deciding is not None],
                "supporting": [i.id for i in s.supporting],
                "reasons": list(s.reasons),
                "next_experiment": s.next_experiment,
                "citations": list(r.citations),
            }
        )
    return rows


def _num(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return format_value(float(v), digits)


def _req_block(
    s: RequirementStatus, ref_numbers: Mapping[str, int], verdicts: Mapping[str, ItemVerdict]
) -> dict[str, Any]:
    r = s.requirement
    evidence: list[dict[str, str]] = []
    for g in s.groups:
        label = " or ".join(g.types)
        if g.deciding is None:
            evidence.append({"state": "missing", "text": f"{label}: none held"})
            continue
        item = g.deciding.item
        text = f"{label}: {item.short}"
        if g.state != "ok":
            text += " — " + "; ".join(g.deciding.issues)
        elif item.signed_by:
            text += f" (signed {item.signed_by})"
        evidence.append({"state": g.state, "text": text})
    supporting = ", ".join(i.id for i in s.supporting)
    return {
        "id": r.id,
        "area": r.area,
        "title": r.title,
        "text": r.text,
        "ctd": r.ctd,
        "priority": r.priority,
        "source": r.source,
        "status": s.status,
        "status_class": s.status.replace(" ", "-"),
        "evidence": evidence,
        "supporting": supporting,
        "next": s.next_experiment if s.is_gap else "",
        "refs": [(ref_numbers[k], k) for k in r.citations if k in ref_numbers],
        "reasons": list(s.reasons) if s.status == "not applicable" else [],
    }


def _sections(
    readiness: Readiness,
    prefix: str,
    ref_numbers: Mapping[str, int],
    verdicts: Mapping[str, ItemVerdict],
    areas: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in readiness.requirements:
        r = s.requirement
        if not r.ctd.startswith(prefix) or (areas is not None and r.area not in areas):
            continue
        if s.status == "not applicable":
            continue
        groups.setdefault(r.ctd, []).append(_req_block(s, ref_numbers, verdicts))
    return [
        {"ctd": ctd, "title": CTD_TITLES.get(ctd, ""), "rows": rows}
        for ctd, rows in sorted(
            groups.items(),
            key=lambda kv: (
                [int(p) if p.isdigit() else p for p in kv[0].replace(" ", ".").split(".")]
                if kv[0][0].isdigit()
                else [99, kv[0]]
            ),
        )
    ]


def _dose_rows(run: ScenarioRun) -> dict[str, Any] | None:
    rep = run.dose
    if rep is None:
        return None
    per = rep.equivalent_dose_mSv_per_MBq.isel(subject=0)
    at = None if rep.absorbed_dose_mGy is None else rep.absorbed_dose_mGy.isel(subject=0)
    limits = {c.target: c for c in rep.limit_checks}
    rows = []
    for target in [str(t) for t in per["target"].values]:
        c = limits.get(target)
        rows.append(
            {
                "target": target.replace("_", " "),
                "per_mbq": _num(float(per.sel(target=target))),
                "at": "—" if at is None else _num(float(at.sel(target=target))),
                "limit": "—" if c is None else _num(c.limit_mSv),
                "exceeds": bool(c is not None and c.exceeds),
                "verdict": "" if c is None else ("EXCEEDS" if c.exceeds else "within"),
            }
        )
    eff_per = (
        None
        if rep.effective_dose_mSv_per_MBq is None
        else float(rep.effective_dose_mSv_per_MBq.isel(subject=0))
    )
    eff = None if rep.effective_dose_mSv is None else float(rep.effective_dose_mSv.isel(subject=0))
    critical = max(rep.limit_checks, key=lambda c: c.fraction_of_limit, default=None)
    return {
        "title": f"{rep.nuclide} · {run.label}",
        "model": rep.dose_factor_model,
        "activity": _num(rep.activity_MBq),
        "activity_source": rep.activity_source,
        "rows": rows,
        "effective_per_mbq": _num(eff_per),
        "effective": _num(eff),
        "weight_covered": f"{rep.effective_dose_weight_covered:.2f}",
        "critical": None
        if critical is None
        else f"{critical.target.replace('_', ' ')}: {_num(critical.dose_mSv)} mSv, "
        f"{critical.fraction_of_limit:.0%} of the "
        f"{_num(critical.limit_mSv)} mSv limit" + (" — EXCEEDS" if critical.exceeds else ""),
        "partial": rep.partial,
        "not_included": list(rep.not_included),
        "assumptions": list(rep.assumptions),
    }


def _clinical_inputs(d: Dossier) -> list[tuple[str, str, str]]:
    """(input, predicted value, note) for the clinical protocol section."""
    rows: list[tuple[str, str, str]] = []
    human = next((r for r in d.assessment.runs if r.species == "human"), None)
    if human is None:
        return rows
    sc = human.scenario
    radiolabelled = d.agent.labels.radionuclide is not None
    if radiolabelled and sc.activity_MBq is not None:
        rows.append(
            (
                "planned activity",
                f"{_num(sc.activity_MBq)} MBq",
                "scenario value" + (" (assumed)" if "activity_MBq" in sc.assumed_fields else ""),
            )
        )
    if sc.dose_mg is not None:
        micro = sc.dose_mg * 1000.0 <= 100.0
        rows.append(
            (
                "mass dose",
                f"{_num(sc.dose_mg)} mg",
                ("within" if micro else "above")
                + " the 100 µg microdose (ICH M3(R2); for a radiolabelled agent FDA's microdose "
                "radiopharmaceutical guidance)",
            )
        )
    else:
        rows.append(
            (
                "mass dose",
                "not given",
                (
                    "the human scenario gives an activity only: state the specific activity (MBq/mg) to "
                    "decide whether the microdose route (≤ 100 µg) applies"
                )
                if radiolabelled
                else "the human scenario gives no mass dose (dose_mg_per_kg): the microdose route "
                "cannot be judged",
            )
        )
    for im in human.imaging:
        for h in im.headlines:
            if h.name in ("best time (CNR)", "best time (T/B)", "minimum activity", "best time"):
                val = (
                    h.value if isinstance(h.value, str) else _num(None if h.value is None else float(h.value))
                )
                rows.append((f"{im.modality.upper()} {h.name}", f"{val} {h.unit}".strip(), h.meaning))
    if human.dose is not None:
        dr = _dose_rows(human)
        if dr is not None:
            rows.append(
                (
                    "effective dose at the planned activity",
                    f"{dr['effective']} mSv",
                    f"{dr['effective_per_mbq']} mSv/MBq",
                )
            )
            if dr["critical"]:
                rows.append(
                    ("critical organ", dr["critical"], "21 CFR 361.1 research limits as the reference")
                )
    return rows


def _references(keys: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    refs = unique_references(keys)
    numbers = {r.key: i + 1 for i, r in enumerate(refs)}
    for k in keys:
        if k not in numbers:
            doi = (get_reference(k).doi or "").lower()
            for r in refs:
                if doi and (r.doi or "").lower() == doi:
                    numbers[k] = numbers[r.key]
    return [
        {"number": numbers[r.key], "key": r.key, "text": r.formatted(), "note": r.note or ""} for r in refs
    ], numbers


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("nanobridge", "templates"),
        autoescape=select_autoescape(["html", "j2", "html.j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _num
    return env


def _template_text(env: Environment, name: str) -> str:
    assert env.loader is not None
    return env.loader.get_source(env, name)[0]


def render_dossier_html(d: Dossier) -> str:
    """The dossier as one self-contained HTML page (styles and SVG figures inline; no scripts)."""
    from nanobridge.workflows.report import spec_rows

    env = _environment()
    refs, numbers = _references(d.citation_keys)
    rd = d.readiness
    figs = {
        f.key: {"number": i + 1, "title": f.title, "caption": f.caption, "src": f.data_uri}
        for i, f in enumerate(d.figures)
    }
    items = [*d.evidence.items]
    if d.qc_is_of_agent and d.qc is not None:
        items.extend(_qc_items(d.qc))
    audit = []
    for item in items:
        v = d.verdicts.get(item.id) or judge_item(item)
        audit.append(
            {
                "id": item.id,
                "type": item.reported_type or item.type,
                "title": item.title,
                "date": item.date.isoformat() if item.date else "—",
                "batch": item.batch or "",
                "file": item.file or "—",
                "file_state": "—" if item.file is None else ("found" if item.file_found else "NOT FOUND"),
                "sha": (item.sha256 or "")[:12],
                "verdict": v.verdict,
                "signed_by": item.signed_by or "unsigned",
                "signed_on": item.signed_on.isoformat() if item.signed_on else "",
                "meaning": item.signature_meaning,
            }
        )
    signed = sum(1 for i in items if i.signed_by)
    safety = d.safety
    findings = []
    evidence_map = []
    if safety is not None:
        for f in safety.findings:
            findings.append(
                {
                    "severity": f.severity,
                    "title": f.title,
                    "id": f.id,
                    "evidence": [e.short for e in f.evidence][:6],
                    "assays": ", ".join(f.assays),
                    "status": f.evidence_status.summary if f.evidence_status is not None else "",
                    "refs": sorted({numbers[k] for k in f.citation_keys if k in numbers}),
                }
            )
        for row in safety.evidence_map():
            evidence_map.append(
                {
                    "id": row["id"],
                    "title": row["title"],
                    "answers": ", ".join(row["findings"]),
                    "held": (str(row["result"]) + (f" ({row['date']})" if row["date"] else ""))
                    if row["held"]
                    else "missing",
                }
            )
    qc_block = None
    if d.qc is not None:
        qc = d.qc
        qc_block = {
            "of_agent": d.qc_is_of_agent,
            "releases": [
                {
                    "batch": r.batch_id,
                    "scale": r.scale,
                    "decision": r.decision,
                    "text": r.decision_text,
                    "reasons": [x for x in r.reasons if not x.startswith("all ")][:2],
                }
                for r in qc.releases
            ],
            "comparison": [
                {"attribute": a.title, "tier": a.tier, "verdict": a.verdict, "statement": a.statement}
                for a in qc.comparability.attributes
            ],
            "conclusion": qc.comparability.conclusion.splitlines()[0],
            "dls": f"{qc.dls.path.name}: "
            + "; ".join(
                f"{a.angle_deg:g}°: Z-average {_num(a.cumulants.z_average_nm)} nm, PDI {a.cumulants.pdi:.3f}"
                for a in qc.dls.analyses[:3]
            ),
            "tem": None
            if qc.tem.result.distribution is None
            else f"{qc.tem.description}: {qc.tem.result.count} particles, "
            f"ECD {_num(qc.tem.result.distribution.mean_nm)} ± "
            f"{_num(qc.tem.result.distribution.sd_nm)} nm",
            "lots": ", ".join(f"{n} {s}" for s, n in qc.lot_counts.items()),
        }
    runs = []
    for run in d.assessment.runs:
        runs.append(
            {
                "species": run.species,
                "label": run.label,
                "parameter_set": run.parameter_set,
                "solver": str(run.biodistribution.data.attrs.get("solver", "")),
                "metrics": [
                    (m.label, m.text, m.description)
                    for name, m in run.metrics.items()
                    if name
                    in (
                        "DE24",
                        "DE168",
                        "DEmax",
                        "blood_t50_h",
                        "urine_pct_id",
                        "feces_pct_id",
                        "retention_30d_pct_id",
                        "retention_90d_pct_id",
                    )
                ],
                "imaging": [
                    {
                        "modality": im.modality.upper(),
                        "setting": im.setting,
                        "rows": [
                            (
                                h.name,
                                h.value
                                if isinstance(h.value, str)
                                else _num(None if h.value is None else float(h.value)),
                                h.unit,
                                h.meaning,
                            )
                            for h in im.headlines
                        ],
                    }
                    for im in run.imaging
                ],
                "dose": _dose_rows(run),
                "notes": list(run.notes),
            }
        )
    context = {
        "title": f"IND readiness dossier: {d.agent.name}",
        "agent": d.agent,
        "spec_rows": spec_rows(d.agent),
        "generated": d.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "versions": d.versions,
        "evidence": {
            "source": d.evidence.source,
            "description": d.evidence.description,
            "illustrative": d.evidence.illustrative,
            "n": len(d.evidence.items),
            "warnings": list(d.evidence.warnings),
        },
        "prediction_notice": PREDICTION_NOTICE,
        "qc_notice": None if d.qc is None or d.qc_is_of_agent else QC_EXAMPLE_NOTICE,
        "readiness": rd,
        "overall": _num(rd.overall_pct, 2),
        "areas": [
            {
                "title": a.title,
                "ctd": a.ctd,
                "score": "n/a" if a.score_pct is None else f"{a.score_pct:.0f} %",
                "counts": a.counts,
                "n": a.n_applicable,
                "gaps": ", ".join(a.essential_gaps),
            }
            for a in rd.areas
        ],
        "counts": rd.counts(),
        "gaps": [_req_block(s, numbers, d.verdicts) for s in rd.gaps(essential_only=True)],
        "module3_s": _sections(rd, "3.2.S", numbers, d.verdicts, areas=("quality",)),
        "module3_p": _sections(rd, "3.2.P", numbers, d.verdicts, areas=("quality",)),
        "module3_imaging": _sections(rd, "3.2.S", numbers, d.verdicts, areas=("imaging",)),
        "module4": _sections(rd, "4.", numbers, d.verdicts),
        "clinical": _sections(rd, "", numbers, d.verdicts, areas=("clinical",)),
        "clinical_inputs": _clinical_inputs(d),
        "not_applicable": [s for s in rd.requirements if s.status == "not applicable"],
        "runs": runs,
        "uncertainty": d.uncertainty,
        "population": d.population_model,
        "findings": findings,
        "evidence_map": evidence_map,
        "safety_counts": ""
        if safety is None
        else ", ".join(f"{n} {s}" for s, n in safety.counts().items() if n),
        "qc": qc_block,
        "audit": audit,
        "signed": signed,
        "n_records": len(items),
        "predictions": d.predictions,
        "figs": figs,
        "isatab_files": list(d.isatab.files),
        "references": refs,
        "ref_numbers": numbers,
        "notes": list(d.notes),
        "scoring_rule": rd.scoring_rule,
        "css": Markup(_template_text(env, "dossier/dossier.css")),
        "print_css": Markup(_template_text(env, "dossier/print.css")),
        "model_version": MODEL_VERSION,
    }
    return env.get_template("dossier/dossier.html.j2").render(**context)


def write_pdf(html: str, path: str | Path, base_url: str | Path | None = None) -> Path:
    """Render ``html`` to a PDF with WeasyPrint (print CSS; no network: every resource is inline)."""
    from weasyprint import HTML

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)

    fetcher: Any
    try:  # WeasyPrint >= 66: a fetcher object restricted to inline data: URIs
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols=("data",))
    except ImportError:  # pragma: no cover - older WeasyPrint: a fetcher function
        from weasyprint import default_url_fetcher

        def fetcher(url: str, timeout: int = 10, ssl_context: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"the dossier fetches nothing at run time: {url}")
            return default_url_fetcher(url)

    HTML(string=html, base_url=str(base_url) if base_url else None, url_fetcher=fetcher).write_pdf(str(p))
    return p


def write_dossier(d: Dossier, out_dir: str | Path, *, pdf: bool = True) -> DossierFiles:
    """Write ``index.html``, ``dossier.pdf`` (unless ``pdf=False``), ``readiness.json``,
    ``readiness.csv`` and ``isatab/`` into ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_dossier_html(d)
    html_path = out / "index.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = write_pdf(html, out / "dossier.pdf", base_url=out) if pdf else None
    rows = readiness_rows(d.readiness)
    data = {
        "agent": d.agent.name,
        "generated": d.generated_at.isoformat(timespec="seconds"),
        "versions": d.versions,
        "evidence_source": d.evidence.source,
        "illustrative": d.evidence.illustrative,
        "scoring_rule": d.readiness.scoring_rule,
        "overall_pct": d.readiness.overall_pct,
        "areas": [a.model_dump(mode="json") for a in d.readiness.areas],
        "requirements": rows,
        "predictions": [
            {"id": p.id, "prediction": p.prediction, "title": p.title, "result": p.result}
            for p in d.predictions
        ],
        "references": {k: get_reference(k).formatted() for k in d.citation_keys},
    }
    json_path = out / "readiness.json"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    csv_path = out / "readiness.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "id",
                "area",
                "ctd",
                "title",
                "priority",
                "status",
                "score",
                "met_by",
                "supporting",
                "next_experiment",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r["id"],
                    r["area"],
                    r["ctd"],
                    r["title"],
                    r["priority"],
                    r["status"],
                    "" if r["score"] is None else r["score"],
                    " ".join(r["met_by"]),
                    " ".join(r["supporting"]),
                    r["next_experiment"],
                ]
            )
    isa_paths = d.isatab.write(out / "isatab")
    return DossierFiles(out, html_path, pdf_path, json_path, csv_path, tuple(isa_paths))
