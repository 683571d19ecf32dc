"""Safe-by-design findings: rules on the agent spec and its simulated biodistribution.

:func:`evaluate_safety` applies eight rules to an :class:`~nanobridge.domain.AgentSpec` and its
PBPK runs (:class:`SpeciesRun`: a biodistribution per species scenario, optionally the MIRD dose
report, the minimum activity for PET/SPECT detection and a NIR-I/NIR-II comparison) and returns a
:class:`SafetyReport`. Each rule either fires - a :class:`Finding` with a severity, the exact spec
values or simulated numbers that triggered it (with units), the rationale, mitigation or
dose-reduction options and citation keys - or passes silently; either way a :class:`RuleCheck`
records what it looked at.

Rules (thresholds are data in ``data/safety/rules.yaml``, each cited or marked assumed):

1. ``renal_clearance``: hydrodynamic diameter against the ~5.5 nm renal filtration threshold
   (Choi et al. 2007) and the charge-dependent zone up to ~8 nm (Longmire et al. 2008), cross-checked
   with the PBPK's simulated urinary excretion; shapes other than spheres are flagged (a
   sphere-equivalent threshold does not hold for high-aspect-ratio particles, Ruggiero et al. 2010).
2. ``organ_retention``: liver and spleen %ID at 30, 90 and 180 days per species; severity by
   retained %ID and by whether the core persists.
3. ``core_persistence``: the core's fate by material (``data/safety/material_fate.yaml``): silica
   dissolves, iron oxide is metabolised, polymers and lipids degrade, gold persists, cadmium
   quantum dots release Cd2+.
4. ``cationic_surface``: zeta potential above +10 mV (NCL: -10 to +10 mV is neutral).
5. ``peg_immunogenicity``: PEG coatings and complement activation-related pseudoallergy (CARPA),
   pre-existing and induced anti-PEG antibodies and accelerated blood clearance.
6. ``radiation_dose``: organ and effective doses at the planned activity near or over the
   21 CFR 361.1 research limits (human runs with a dose report).
7. ``dose_reduction``: headroom between the planned activity and the minimum activity for
   detection; a NIR-I or visible dye imaged in NIR-II instead.
8. ``environmental_release``: mass of a persistent core excreted per patient.

Severity scale (:data:`SEVERITY_SCALE`): info < low < moderate < high < critical.

Limits: the rules are screening heuristics on model predictions, not a toxicological risk
assessment; the PBPK does not degrade particles (retained %ID of a degradable core is an upper
bound of retained material); retention bands, the 50 %ID urine convention and the headroom factor
are assumptions and say so; the quantum-dot entry of the catalog is treated as cadmium-based.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict

from nanobridge._yaml import UniqueKeyLoader
from nanobridge.citations import cite, get_reference
from nanobridge.domain import AgentSpec, Scenario, materials
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import EXCRETA
from nanobridge.science.safety import ncl

if TYPE_CHECKING:
    from nanobridge.science.dosimetry.mird import DoseReport
    from nanobridge.science.imaging.optical import WindowComparison

__all__ = [
    "RULES",
    "SEVERITIES",
    "SEVERITY_SCALE",
    "EvidenceItem",
    "Finding",
    "MaterialCharge",
    "MaterialFate",
    "RetentionPoint",
    "RuleCheck",
    "RuleConstant",
    "SafetyReport",
    "Severity",
    "SpeciesRun",
    "cationic_cytotox_evidence",
    "cationic_viability_by_material",
    "evaluate_safety",
    "material_fate",
    "material_fates",
    "retention_points",
    "rule_constant",
    "rule_constants",
    "severity_rank",
]

Severity = Literal["info", "low", "moderate", "high", "critical"]

#: Severities from least to most severe.
SEVERITIES: tuple[Severity, ...] = ("info", "low", "moderate", "high", "critical")

#: What each severity means (shown with every report).
SEVERITY_SCALE: dict[str, str] = {
    "info": "no hazard identified: a fact or a design option a reviewer should see (e.g. a dose-reduction "
    "option)",
    "low": "a plausible hazard at low expected exposure, answered by standard characterization",
    "moderate": "a hazard that needs specific nonclinical evidence before first-in-human use",
    "high": "a hazard likely to limit clinical translation unless the design or the dose changes",
    "critical": "a blocker for the design as specified: a known toxic-ion source, or a 21 CFR 361.1 "
    "research dose limit exceeded at the planned activity",
}

#: Rule ids and titles, in report order.
RULES: dict[str, str] = {
    "renal_clearance": "Renal clearability",
    "organ_retention": "Long-term retention in liver and spleen",
    "core_persistence": "Biodegradability of the core",
    "cationic_surface": "Cationic surface: cytotoxicity and blood compatibility",
    "peg_immunogenicity": "PEG: complement activation (CARPA) and anti-PEG antibodies",
    "radiation_dose": "Radiation dose against the 21 CFR 361.1 limits",
    "dose_reduction": "Dose-reduction options",
    "environmental_release": "Environmental release of the core material",
}

_SPECIES_ORDER = {"human": 0, "rat": 1, "mouse": 2}


def severity_rank(severity: str) -> int:
    """0 (info) to 4 (critical); ValueError naming the allowed values otherwise."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; allowed: {', '.join(SEVERITIES)}") from None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if math.isinf(value):
        return "∞"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        text = f"{value:.{digits}g}"
        return f"{value:,.0f}" if "e" in text else text
    return f"{value:.{digits - 1}e}"


# --------------------------------------------------------------------------------------------
# Packaged data: rule constants, material fate, cytotoxicity calibration
# --------------------------------------------------------------------------------------------


class RuleConstant(BaseModel):
    """A threshold of a rule, with its unit and source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    value: float | tuple[float, ...] | dict[str, float]
    unit: str
    citation: str
    assumed: bool = False
    note: str = ""

    @property
    def number(self) -> float:
        if not isinstance(self.value, int | float):
            raise TypeError(f"rule constant {self.name} is not a single number")
        return float(self.value)


def _read_safety_yaml(name: str) -> Any:
    path = resources.files("nanobridge") / "data" / "safety" / name
    return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)


@functools.lru_cache(maxsize=1)
def rule_constants() -> dict[str, RuleConstant]:
    """The thresholds of ``data/safety/rules.yaml`` (citations checked; an assumed value must cite
    ``Assumed``)."""
    out: dict[str, RuleConstant] = {}
    for name, entry in _read_safety_yaml("rules.yaml").items():
        c = RuleConstant.model_validate({**entry, "name": str(name)})
        get_reference(c.citation)
        if c.assumed != (c.citation == "Assumed"):
            raise ValueError(
                f"data/safety/rules.yaml: {name}: assumed must be true exactly when citation is Assumed"
            )
        out[str(name)] = c
    return out


def rule_constant(name: str) -> RuleConstant:
    """One threshold; records its citation as used."""
    try:
        c = rule_constants()[name]
    except KeyError:
        raise KeyError(f"unknown rule constant {name!r}; known: {', '.join(rule_constants())}") from None
    cite(c.citation)
    return c


class MaterialFate(BaseModel):
    """What a core material becomes in the body and in the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    fate: Literal["dissolves", "metabolised", "degrades", "persistent", "unknown"]
    products: str
    toxic_ions: tuple[str, ...] = ()
    environment: str
    citation: str
    environment_citation: str | None = None
    toxicity_citation: str | None = None
    assumed: bool = False
    note: str = ""

    @property
    def degrades(self) -> bool:
        return self.fate in ("dissolves", "metabolised", "degrades")

    def citation_keys(self) -> tuple[str, ...]:
        keys = [self.citation, self.environment_citation, self.toxicity_citation]
        return tuple(dict.fromkeys(k for k in keys if k))


@functools.lru_cache(maxsize=1)
def material_fates() -> dict[str, MaterialFate]:
    """``data/safety/material_fate.yaml``; every material of the catalog must have an entry."""
    raw = _read_safety_yaml("material_fate.yaml")
    out = {str(k): MaterialFate.model_validate({**v, "key": str(k)}) for k, v in raw.items()}
    missing = sorted(set(materials().keys()) - set(out))
    if missing:
        raise ValueError(f"data/safety/material_fate.yaml: no entry for catalog material(s) {missing}")
    for fate in out.values():
        for key in fate.citation_keys():
            get_reference(key)
    return out


def material_fate(material: str) -> MaterialFate:
    """The fate of a catalog material (key or alias)."""
    return material_fates()[materials().get(material).key]


class MaterialCharge(BaseModel):
    """Viability of cationic vs other particles of one material, concentration-matched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    material: str
    n_cationic: int
    n_other: int
    strata: int
    median_difference_pct: float


def cationic_viability_by_material(
    table: pd.DataFrame, zeta_threshold_mV: float = 10.0
) -> list[MaterialCharge]:
    """Grouped-by-material comparison of cell viability of cationic (zeta > threshold) and other
    particles in an inorganic viability table (columns ``Material``, ``Zeta potential (mV)``,
    ``Concentration (g/L)``, ``Viability (%)``, as in Labouta et al. 2019).

    Only materials measured with both charge classes count; within each, rows are matched by
    decade of concentration, and the median over decades of (median viability cationic - median
    viability other) [percentage points] is reported. Pooling across materials is avoided on
    purpose: material dominates viability and charge is confounded with it.
    """
    needed = ["Material", "Zeta potential (mV)", "Concentration (g/L)", "Viability (%)"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"viability table lacks column(s) {missing}; needs {needed}")
    df = table[needed].dropna().copy()
    df["cationic"] = df["Zeta potential (mV)"] > zeta_threshold_mV
    conc = df["Concentration (g/L)"].astype(float).clip(lower=1e-12)
    df["decade"] = np.floor(np.log10(conc))
    out: list[MaterialCharge] = []
    for material, group in df.groupby("Material", sort=True):
        if group["cationic"].nunique() < 2:
            continue
        med = group.groupby(["decade", "cationic"])["Viability (%)"].median().unstack().dropna()
        if med.empty:
            continue
        out.append(
            MaterialCharge(
                material=str(material),
                n_cationic=int(group["cationic"].sum()),
                n_other=int((~group["cationic"]).sum()),
                strata=len(med),
                median_difference_pct=round(float((med[True] - med[False]).median()), 2),
            )
        )
    return out


@functools.lru_cache(maxsize=1)
def cationic_cytotox_evidence() -> dict[str, Any]:
    """The packaged result of :func:`cationic_viability_by_material` on the shared inorganic
    viability table (``data/safety/cytotox_charge_evidence.yaml``; a test recomputes it)."""
    data: dict[str, Any] = _read_safety_yaml("cytotox_charge_evidence.yaml")
    for key in data.get("citations", []):
        get_reference(key)
    return data


# --------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------


class EvidenceItem(BaseModel):
    """One value behind a finding: a spec field, a catalog entry, a simulated or literature number."""

    model_config = ConfigDict(frozen=True)

    quantity: str
    value: float | str | bool | None
    unit: str = ""
    source: str

    @property
    def text(self) -> str:
        """``quantity: value unit (source)``."""
        return f"{self.short} ({self.source})"

    @property
    def short(self) -> str:
        """``quantity: value unit`` without the source."""
        if isinstance(self.value, bool):
            shown = "yes" if self.value else "no"
        elif isinstance(self.value, int | float):
            shown = _fmt(float(self.value))
        else:
            shown = "—" if self.value is None else str(self.value)
        unit = f" {self.unit}" if self.unit and shown != "—" else ""
        return f"{self.quantity}: {shown}{unit}"


class Finding(BaseModel):
    """A safe-by-design finding with its evidence, options, sources and evidence-map status."""

    model_config = ConfigDict(frozen=True)

    id: str
    rule: str
    title: str
    severity: Severity
    species: str | None = None
    evidence: tuple[EvidenceItem, ...]
    rationale: str
    mitigations: tuple[str, ...] = ()
    citation_keys: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    assays: tuple[str, ...] = ()
    evidence_status: ncl.FindingEvidence | None = None


class RuleCheck(BaseModel):
    """What a rule looked at, whether it fired or not."""

    model_config = ConfigDict(frozen=True)

    rule: str
    title: str
    species: str | None = None
    triggered: bool
    summary: str


class RetentionPoint(BaseModel):
    """Simulated amount in an organ at a checkpoint (NaN when the run is shorter)."""

    model_config = ConfigDict(frozen=True)

    species: str
    organ: str
    day: float
    pct_id: float


class SafetyReport(BaseModel):
    """Findings (most severe first), rule checks, retention, the evidence map and provenance."""

    model_config = ConfigDict(frozen=True)

    agent: str
    species: tuple[str, ...]
    scenarios: tuple[str, ...]
    duration_h: tuple[float, ...]
    findings: tuple[Finding, ...]
    checks: tuple[RuleCheck, ...]
    retention: tuple[RetentionPoint, ...]
    baseline: tuple[ncl.AssayStatus, ...]
    evidence_source: str | None = None
    evidence_warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    severity_scale: dict[str, str] = dict(SEVERITY_SCALE)
    citation_keys: tuple[str, ...] = ()

    @property
    def max_severity(self) -> Severity | None:
        return self.findings[0].severity if self.findings else None

    def counts(self) -> dict[str, int]:
        """Number of findings per severity (all severities present, most severe first)."""
        return {s: sum(f.severity == s for f in self.findings) for s in reversed(SEVERITIES)}

    def finding(self, finding_id: str) -> Finding:
        for f in self.findings:
            if f.id == finding_id:
                return f
        raise KeyError(
            f"no finding {finding_id!r}; findings: {', '.join(f.id for f in self.findings) or 'none'}"
        )

    def findings_of(self, rule: str) -> list[Finding]:
        if rule not in RULES:
            raise KeyError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        return [f for f in self.findings if f.rule == rule]

    def evidence_map(self) -> list[dict[str, Any]]:
        """One row per assay the findings and the baseline call for: id, title, category, NCL or
        not, the findings it answers and its held state."""
        cascade = ncl.assay_cascade()
        rows: dict[str, dict[str, Any]] = {}
        for status in self.baseline:
            rows[status.id] = {"findings": ["baseline"], "state": status.state, "result": status.result}
        for f in self.findings:
            if f.evidence_status is None:
                continue
            for status in f.evidence_status.assays:
                row = rows.setdefault(
                    status.id, {"findings": [], "state": status.state, "result": status.result}
                )
                if f.id not in row["findings"]:
                    row["findings"].append(f.id)
        out = []
        for assay_id, row in rows.items():
            assay = cascade.assays[assay_id]
            result = row["result"]
            out.append(
                {
                    "id": assay_id,
                    "title": assay.title,
                    "title_checked": assay.title_checked,
                    "category": assay.category,
                    "ncl": assay.ncl,
                    "findings": row["findings"],
                    "held": result is not None,
                    "result": "" if result is None else f"{result.outcome}: {result.result}".strip(": "),
                    "date": None if result is None or result.date is None else result.date.isoformat(),
                }
            )
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per finding (for CSV): id, rule, severity, species, title, evidence, rationale,
        mitigations, assays, evidence status, assays to run, citations."""
        rows = []
        for f in self.findings:
            ev = f.evidence_status
            rows.append(
                {
                    "id": f.id,
                    "rule": f.rule,
                    "severity": f.severity,
                    "species": f.species or "",
                    "title": f.title,
                    "evidence": " | ".join(e.text for e in f.evidence),
                    "rationale": f.rationale,
                    "mitigations": " | ".join(f.mitigations),
                    "assays": " ".join(f.assays),
                    "evidence_status": "" if ev is None else ev.status,
                    "assays_to_run": "" if ev is None else " ".join(ev.missing),
                    "citations": " ".join(f.citation_keys),
                }
            )
        columns = [
            "id",
            "rule",
            "severity",
            "species",
            "title",
            "evidence",
            "rationale",
            "mitigations",
            "assays",
            "evidence_status",
            "assays_to_run",
            "citations",
        ]
        return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class SpeciesRun:
    """One species scenario's inputs to the rules.

    ``biodistribution`` should cover 180 days for the retention checkpoints; ``dose`` is the MIRD
    report at the planned activity; ``min_activity_MBq`` the minimum activity for PET/SPECT
    detection (Rose criterion) with ``min_activity_setting`` saying how it was obtained;
    ``nir_windows`` maps a detection criterion (``'cnr'``, ``'both'``) to a NIR-I/NIR-II comparison.
    """

    scenario: Scenario
    biodistribution: Biodistribution
    dose: DoseReport | None = None
    min_activity_MBq: float | None = None
    min_activity_setting: str = ""
    nir_windows: Mapping[str, WindowComparison] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def species(self) -> str:
        return self.scenario.species

    @property
    def end_h(self) -> float:
        return float(self.biodistribution.times_h[-1])

    def amount_at(self, organ: str, time_h: float) -> float | None:
        """%ID in ``organ`` (or ``'body'``: all organs but the excreta) at ``time_h``; None after
        the end of the run. First subject."""
        bd = self.biodistribution
        t = bd.times_h
        if time_h > t[-1] + 1e-9 or time_h < t[0]:
            return None
        amount = bd.data["amount_pct_id"].isel(subject=0)
        if organ == "body":
            series = amount.drop_sel(organ=list(EXCRETA)).sum("organ").values
        else:
            series = amount.sel(organ=organ).values
        return float(np.interp(time_h, t, np.asarray(series, dtype=float)))

    def source(self) -> str:
        attrs = self.biodistribution.data.attrs
        return f"PBPK {self.species} ({attrs.get('parameter_set', '?')}), {_fmt(self.end_h / 24.0)} d run"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _spec(quantity: str, value: float | str | bool | None, unit: str = "") -> EvidenceItem:
    return EvidenceItem(quantity=quantity, value=value, unit=unit, source="agent spec")


def _const_item(c: RuleConstant, quantity: str) -> EvidenceItem:
    source = "assumed" if c.assumed else c.citation
    unit = "" if c.unit == "1" else c.unit
    return EvidenceItem(quantity=quantity, value=c.number, unit=unit, source=f"threshold, {source}")


def _assumption(c: RuleConstant) -> str:
    return f"{c.name} = {c.value} {c.unit}: {' '.join(c.note.split())}"


@dataclass
class _Draft:
    rule: str
    severity: Severity
    title: str
    evidence: list[EvidenceItem]
    rationale: str
    mitigations: list[str]
    citations: list[str]
    species: str | None = None
    assumptions: list[str] = field(default_factory=list)

    def build(self) -> Finding:
        keys = tuple(dict.fromkeys(self.citations))
        cite(*keys)
        return Finding(
            id=self.rule if self.species is None else f"{self.rule}.{self.species}",
            rule=self.rule,
            title=self.title,
            severity=self.severity,
            species=self.species,
            evidence=tuple(self.evidence),
            rationale=" ".join(self.rationale.split()),
            mitigations=tuple(self.mitigations),
            citation_keys=keys,
            assumptions=tuple(dict.fromkeys(self.assumptions)),
        )


_Result = tuple[list[_Draft], list[RuleCheck]]


def _check(rule: str, triggered: bool, summary: str, species: str | None = None) -> RuleCheck:
    return RuleCheck(rule=rule, title=RULES[rule], species=species, triggered=triggered, summary=summary)


# --------------------------------------------------------------------------------------------
# Rules
# --------------------------------------------------------------------------------------------


def _renal_clearance(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    from nanobridge.science.pbpk import properties

    rule = "renal_clearance"
    thr = rule_constant("renal_filtration_threshold_nm")
    zone = rule_constant("renal_charge_dependent_max_nm")
    urine_ok_c = rule_constant("renal_urine_clearable_pct_id")
    hd = float(agent.hydrodynamic_diameter_nm)
    sieving = float(properties.renal_sieving_coefficient(hd))
    evidence = [
        _spec("hydrodynamic diameter", hd, "nm"),
        _const_item(thr, "renal filtration threshold"),
        EvidenceItem(
            quantity="glomerular sieving coefficient",
            value=sieving,
            source="two-pore sieving model of a neutral sphere (nanobridge.science.pbpk.properties)",
        ),
    ]
    urine_end: dict[str, float] = {}
    for run in runs:
        u24 = run.amount_at("urine", 24.0)
        u_end = run.amount_at("urine", run.end_h)
        if u24 is not None:
            evidence.append(
                EvidenceItem(
                    quantity=f"urine at 24 h, {run.species}", value=u24, unit="%ID", source=run.source()
                )
            )
        if u_end is not None:
            urine_end[run.species] = u_end
            evidence.append(
                EvidenceItem(
                    quantity=f"urine at {_fmt(run.end_h / 24)} d, {run.species}",
                    value=u_end,
                    unit="%ID",
                    source=run.source(),
                )
            )
    urine_ok: bool | None = None if not urine_end else all(v >= urine_ok_c.number for v in urine_end.values())
    citations = ["Choi2007", *sorted(properties.relations_citation_keys())]
    assumptions = [_assumption(urine_ok_c)]
    shape_note = ""
    if agent.shape != "sphere" or agent.aspect_ratio > 1.0:
        evidence.append(_spec("shape", f"{agent.shape}, aspect ratio {_fmt(agent.aspect_ratio)}"))
        shape_note = (
            " The diameter threshold is for spheres: high-aspect-ratio particles far longer than it can be "
            "filtered (Ruggiero 2010), so a non-spherical agent needs measured excretion."
        )
        citations.append("Ruggiero2010")
    urine_text = ", ".join(f"{sp} {_fmt(v)} %ID" for sp, v in urine_end.items()) or "no run"
    severity: Severity | None = None
    if hd <= thr.number:
        if urine_ok is False:
            severity = "low"
            title = "Below the renal threshold but the PBPK predicts incomplete urinary excretion"
            rationale = (
                f"At {_fmt(hd)} nm the agent is below the ~{_fmt(thr.number)} nm threshold of efficient "
                "renal "
                f"clearance (Choi 2007), yet the simulated cumulative urine ({urine_text}) stays under "
                f"{_fmt(urine_ok_c.number)} %ID: uptake by phagocytic cells competes with filtration."
            )
        summary = f"{_fmt(hd)} nm ≤ {_fmt(thr.number)} nm; PBPK urine {urine_text}"
    elif hd <= zone.number:
        evidence.append(_spec("zeta potential", float(agent.zeta_potential_mV), "mV"))
        evidence.append(_const_item(zone, "upper end of the charge-dependent zone"))
        citations.append("Longmire2008")
        charge = (
            "a cationic surface favours filtration"
            if agent.zeta_potential_mV > 10
            else "an anionic surface hinders filtration"
            if agent.zeta_potential_mV < -10
            else "a near-neutral surface"
        )
        summary = (
            f"{_fmt(hd)} nm in the charge-dependent zone ({_fmt(thr.number)}-{_fmt(zone.number)} nm; "
            f"{charge}); PBPK urine {urine_text}"
        )
        if urine_ok is not True:
            severity = "low"
            title = "Partial, charge-dependent renal clearance"
            rationale = (
                f"At {_fmt(hd)} nm the agent is above the ~{_fmt(thr.number)} nm threshold of efficient "
                "renal "
                f"clearance (Choi 2007) and within the ~6-{_fmt(zone.number)} nm range where filtration "
                "depends "
                f"on surface charge (Longmire 2008; here {charge}). The PBPK (neutral-sphere sieving "
                f"{_fmt(sieving)}) predicts {urine_text} in urine."
            )
    else:
        severity = "low" if agent.biodegradable else "moderate"
        evidence.append(_spec("biodegradable", bool(agent.biodegradable)))
        citations.append("Longmire2008")
        title = "Not renally clearable"
        rationale = (
            f"At {_fmt(hd)} nm the agent is far above the ~{_fmt(thr.number)} nm renal filtration threshold "
            f"(Choi 2007) and the charge-dependent zone up to ~{_fmt(zone.number)} nm (Longmire 2008): "
            "intact "
            f"particles leave only by the slow hepatobiliary route (PBPK urine {urine_text}). "
            + (
                "The core degrades, so its products can still be cleared."
                if agent.biodegradable
                else "The core does not degrade, so what the phagocytes hold stays in the body."
            )
        )
        summary = f"{_fmt(hd)} nm > {_fmt(zone.number)} nm; PBPK urine {urine_text}"
    if severity is None:
        return [], [
            _check(
                rule,
                False,
                summary + " — renally cleared" + (f". {shape_note.strip()}" if shape_note else ""),
            )
        ]
    mitigations = [
        f"Bring the hydrodynamic diameter under {_fmt(thr.number)} nm (smaller core, thinner or shorter "
        "coating).",
        "Use a coating that resists serum protein adsorption (e.g. zwitterionic), which otherwise enlarges "
        "the "
        "particle in blood (Choi 2007).",
        "Measure urinary excretion and mass balance in vivo (INVIVO-PK) rather than relying on the size "
        "rule.",
    ]
    if not agent.biodegradable:
        mitigations.append(
            "If the size is needed for tumour delivery, choose a core that degrades to renally cleared "
            "products."
        )
    draft = _Draft(
        rule,
        severity,
        title,
        evidence,
        rationale + shape_note,
        mitigations,
        citations,
        assumptions=assumptions,
    )
    return [draft], [_check(rule, True, summary)]


def _organ_retention(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "organ_retention"
    days_c = rule_constant("retention_days")
    days = [float(d) for d in days_c.value] if isinstance(days_c.value, tuple) else [days_c.number]
    persistent = not agent.biodegradable
    bands_c = rule_constant("retention_pct_id_persistent" if persistent else "retention_pct_id_degradable")
    bands = bands_c.value if isinstance(bands_c.value, dict) else {}
    fate = material_fate(agent.core_material)
    drafts: list[_Draft] = []
    checks: list[RuleCheck] = []
    for run in runs:
        evidence: list[EvidenceItem] = []
        covered: list[tuple[float, float]] = []
        for day in days:
            liver = run.amount_at("liver", day * 24.0)
            spleen = run.amount_at("spleen", day * 24.0)
            if liver is None or spleen is None:
                continue
            covered.append((day, liver + spleen))
            evidence.append(
                EvidenceItem(quantity=f"liver at {_fmt(day)} d", value=liver, unit="%ID", source=run.source())
            )
            evidence.append(
                EvidenceItem(
                    quantity=f"spleen at {_fmt(day)} d", value=spleen, unit="%ID", source=run.source()
                )
            )
        if not covered:
            checks.append(
                _check(
                    rule,
                    False,
                    f"run ends at {_fmt(run.end_h / 24)} d, before the first checkpoint",
                    run.species,
                )
            )
            continue
        last_day, last = covered[-1]
        body = run.amount_at("body", last_day * 24.0)
        evidence.append(
            EvidenceItem(
                quantity=f"whole body at {_fmt(last_day)} d", value=body, unit="%ID", source=run.source()
            )
        )
        severity: Severity | None = None
        levels: tuple[Severity, ...] = ("high", "moderate", "low")
        for level in levels:
            threshold = bands.get(level)
            if threshold is not None and last >= threshold:
                severity = level
                break
        kind = "persistent" if persistent else "degradable"
        summary = f"liver + spleen {_fmt(last)} %ID at {_fmt(last_day)} d ({kind} core)"
        if last_day < days[-1]:
            summary += f"; run ends at {_fmt(run.end_h / 24)} d, before {_fmt(days[-1])} d"
        if severity is None:
            checks.append(_check(rule, False, summary, run.species))
            continue
        evidence.append(_spec("biodegradable", bool(agent.biodegradable)))
        evidence.append(
            EvidenceItem(
                quantity=f"severity band ({'persistent' if persistent else 'degradable'} core)",
                value=", ".join(f"{k} ≥ {_fmt(v)}" for k, v in bands.items()),
                unit="%ID",
                source="threshold, assumed",
            )
        )
        rationale = (
            f"The PBPK keeps {_fmt(last)} %ID in liver and spleen at {_fmt(last_day)} days in the "
            f"{run.species}: "
            "phagocytic cells take the particles up and release them slowly. Imaging agents are expected "
            "to be "
            "cleared completely in a reasonable time (Choi 2007; Longmire 2008); long retention means "
            "chronic "
            "exposure of the mononuclear phagocyte system and confounds follow-up imaging. "
            + (
                f"The {fate.key.replace('_', ' ')} core persists ({fate.products})."
                if persistent
                else f"The core degrades ({fate.products}); the PBPK does not model degradation, "
                "so the retained "
                "%ID overstates the retained material."
            )
        )
        mitigations = [
            "Make the particle renally clearable (hydrodynamic diameter < 5.5 nm) or its core degradable.",
            "Lower the injected mass: higher specific activity or a brighter label per particle.",
            "Measure liver and spleen content at 30/90/180 d with histopathology (INVIVO-PK, INVIVO-TOX).",
        ]
        drafts.append(
            _Draft(
                rule,
                severity,
                f"{_fmt(last)} %ID retained in liver and spleen at {_fmt(last_day)} d",
                evidence,
                rationale,
                mitigations,
                ["Choi2007", "Longmire2008", bands_c.citation, *fate.citation_keys()],
                species=run.species,
                assumptions=[_assumption(bands_c), _assumption(days_c)],
            )
        )
        checks.append(_check(rule, True, summary, run.species))
    return drafts, checks


def _core_persistence(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "core_persistence"
    fate = material_fate(agent.core_material)
    catalog_default = agent.material.biodegradable
    evidence = [
        _spec("core material", agent.material.display_name or agent.core_material),
        _spec("biodegradable", bool(agent.biodegradable)),
        EvidenceItem(
            quantity="fate in the body",
            value=f"{fate.fate} ({fate.products})",
            source=f"material fate, {fate.citation}",
        ),
    ]
    if fate.toxic_ions:
        evidence.append(
            EvidenceItem(
                quantity="toxic ions released",
                value=", ".join(fate.toxic_ions),
                source=f"material fate, {fate.citation}",
            )
        )
    citations = list(fate.citation_keys())
    severity: Severity | None
    if fate.toxic_ions:
        severity = "critical"
        title = f"Core can release {', '.join(fate.toxic_ions)}"
        rationale = (
            f"A {fate.key.replace('_', ' ')} core ({fate.products}) releases toxic ions when its shell and "
            "coating "
            "degrade (Hardman 2006); the cellular toxicity of cadmium-containing quantum dots is established "
            "(Oh 2016). " + fate.note
        )
        mitigations = [
            "Use a cadmium-free core (e.g. InP/ZnS, CuInS2, Ag2S) or a degradable core (silica, iron oxide).",
            "If kept: prove shell integrity and measure ion release in lysosomal fluid and in vivo "
            "(DISSOLUTION, INVIVO-PK).",
        ]
        summary = f"{fate.key}: releases {', '.join(fate.toxic_ions)}"
    elif not agent.biodegradable:
        severity = "low" if fate.fate == "unknown" else "moderate"
        title = "Core does not degrade" if fate.fate != "unknown" else "Core persistence unknown"
        rationale = (
            f"The {fate.key.replace('_', ' ')} core is not biodegradable ({fate.products}): what is not "
            "excreted "
            "intact stays in the body, mostly in liver and spleen."
            if fate.fate != "unknown"
            else f"The fate of a '{fate.key}' core depends on its composition; the spec says not "
            "biodegradable "
            "(the catalog default, an assumption)."
        )
        if catalog_default and not agent.biodegradable:
            rationale += (
                f" The spec overrides the catalog, which lists {fate.key} as degradable ({fate.fate})."
            )
        mitigations = [
            "Choose a core that dissolves or is metabolised (silica, iron oxide, PLGA, lipid).",
            "Or make the intact particle renally clearable (hydrodynamic diameter < 5.5 nm).",
            "Measure degradation in simulated lysosomal fluid (DISSOLUTION).",
        ]
        summary = f"{fate.key}: {fate.fate}; spec biodegradable = no"
    elif fate.fate in ("persistent", "unknown") and agent.biodegradable:
        severity = "low"
        title = "Biodegradability declared without support from the catalog"
        rationale = (
            f"The spec declares the core biodegradable, but the material catalog lists {fate.key} as "
            f"{fate.fate} ({fate.products}); the claim needs degradation data."
        )
        mitigations = ["Provide degradation data for this formulation (DISSOLUTION, INVIVO-PK)."]
        summary = f"{fate.key}: spec says biodegradable, catalog says {fate.fate}"
    else:
        severity = None
        title = ""
        rationale = ""
        mitigations = []
        summary = f"{fate.key}: {fate.fate} ({fate.products})"
    if severity is None:
        cite(*citations)
        return [], [_check(rule, False, summary)]
    if fate.assumed:
        citations.append("Assumed")
    draft = _Draft(rule, severity, title, evidence, rationale, mitigations, citations)
    return [draft], [_check(rule, True, summary)]


def _cationic_surface(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "cationic_surface"
    cat = rule_constant("cationic_zeta_mV")
    strong = rule_constant("strongly_cationic_zeta_mV")
    zeta = float(agent.zeta_potential_mV)
    if zeta <= cat.number:
        return [], [_check(rule, False, f"zeta {_fmt(zeta)} mV ≤ +{_fmt(cat.number)} mV (not cationic)")]
    severity: Severity = "high" if zeta > strong.number else "moderate"
    calib = cationic_cytotox_evidence()
    per_material = ", ".join(
        f"{m['material']} {m['median_difference_pct']:+.1f}" for m in calib.get("materials", [])
    )
    evidence = [
        _spec("zeta potential", zeta, "mV"),
        _const_item(cat, "cationic above"),
        _const_item(strong, "strongly cationic above"),
        EvidenceItem(
            quantity=(
                f"public inorganic viability data, grouped by material ({calib['n_measurements']} "
                "measurements, "
                f"{calib['n_materials']} materials): viability cationic − other, concentration-matched"
            ),
            value=f"{per_material} ({len(calib.get('materials', []))} materials with both charge classes)",
            unit="percentage points",
            source="Labouta 2019 table, recomputed by nanobridge",
        ),
    ]
    rationale = (
        f"A zeta potential of {_fmt(zeta)} mV is cationic (NCL: -10 to +10 mV is neutral; Clogston 2011). "
        "Cationic "
        "nanoparticles disrupt plasma membranes and damage mitochondria and lysosomes more than anionic ones "
        "(Fröhlich 2012), which shows first as hemolysis, platelet activation and cytotoxicity. The public "
        f"viability table does not calibrate the effect: {calib['conclusion']}"
    )
    mitigations = [
        "Shield or neutralize the charge: dense PEG or zwitterionic coating, cap surface amines.",
        "Test blood compatibility before in vivo work: hemolysis (ITA-1), platelet aggregation (ITA-2), "
        "coagulation (ITA-12); cytotoxicity in kidney and liver cells (GTA-1, GTA-2).",
    ]
    draft = _Draft(
        rule,
        severity,
        f"Cationic surface ({_fmt(zeta)} mV)",
        evidence,
        rationale,
        mitigations,
        ["Clogston2011", "Frohlich2012", "Labouta2019", *(["Assumed"] if severity == "high" else [])],
        assumptions=[_assumption(strong)] if severity == "high" else [],
    )
    return [draft], [_check(rule, True, f"zeta {_fmt(zeta)} mV > +{_fmt(cat.number)} mV")]


def _peg_immunogenicity(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "peg_immunogenicity"
    if not agent.is_pegylated:
        return [], [_check(rule, False, f"coating {agent.coating.kind}: no PEG")]
    evidence = [
        _spec("coating", "PEG"),
        _spec("PEG molecular weight", agent.coating.peg_mw_Da, "Da"),
    ]
    if agent.coating.peg_density_chains_per_nm2 is not None:
        evidence.append(_spec("PEG grafting density", agent.coating.peg_density_chains_per_nm2, "chains/nm²"))
    evidence += [
        EvidenceItem(
            quantity="people with pre-existing anti-PEG antibodies (US specimens)",
            value=72.0,
            unit="%",
            source="Yang 2016",
        ),
        EvidenceItem(
            quantity="people with pre-existing anti-PEG antibodies (1,504 Taiwanese donors)",
            value=44.3,
            unit="%",
            source="Chen 2016",
        ),
    ]
    rationale = (
        "PEGylated nanomedicines can activate complement and cause complement activation-related "
        "pseudoallergy "
        "(CARPA), an acute, non-IgE infusion reaction that can be severe on first exposure (Szebeni 2014). "
        "Anti-PEG antibodies are common before any PEGylated drug (about 44-72 % of people; Chen 2016, "
        "Yang 2016), "
        "and a first dose can induce anti-PEG IgM that speeds the clearance of the next dose (accelerated "
        "blood "
        "clearance; Ishida & Kiwada 2008) - relevant for repeat imaging."
    )
    mitigations = [
        "Test complement activation in human plasma (ITA-5) and screen subjects or donor plasma for anti-PEG "
        "antibodies (ANTI-PEG).",
        "Infuse slowly rather than as a bolus, with premedication per the CARPA literature (Szebeni 2014).",
        "For repeat imaging, test accelerated blood clearance at the planned interval (Ishida & Kiwada "
        "2008).",
        "Consider a non-PEG hydrophilic coating (e.g. zwitterionic).",
    ]
    draft = _Draft(
        rule,
        "moderate",
        f"PEG coating ({_fmt(agent.coating.peg_mw_Da)} Da): CARPA and anti-PEG antibodies",
        evidence,
        rationale,
        mitigations,
        ["Szebeni2014", "IshidaKiwada2008", "Yang2016_antiPEG", "Chen2016_antiPEG"],
    )
    return [draft], [_check(rule, True, f"PEG {_fmt(agent.coating.peg_mw_Da)} Da")]


def _radiation_dose(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "radiation_dose"
    if agent.labels.radionuclide is None:
        return [], [_check(rule, False, "no radionuclide label")]
    near_c = rule_constant("radiation_near_limit_fraction")
    drafts: list[_Draft] = []
    checks: list[RuleCheck] = []
    for run in runs:
        rep = run.dose
        if rep is None or not rep.limit_checks:
            why = "no dose report" if rep is None else "limits apply to humans at a planned activity"
            checks.append(_check(rule, False, f"{why}", run.species))
            continue
        flagged = [c for c in rep.limit_checks if c.fraction_of_limit >= near_c.number]
        worst = max(rep.limit_checks, key=lambda c: c.fraction_of_limit)
        activity = rep.activity_MBq or 0.0
        summary = (
            f"{rep.nuclide} at {_fmt(activity)} MBq: highest {worst.quantity} {worst.target} "
            f"{_fmt(worst.dose_mSv)} mSv = {_fmt(worst.fraction_of_limit)} of its {_fmt(worst.limit_mSv)} "
            "mSv limit"
        )
        if not flagged:
            checks.append(_check(rule, False, summary, run.species))
            continue
        exceeded = [c for c in flagged if c.exceeds]
        severity: Severity = "critical" if exceeded else "moderate"
        evidence = [
            EvidenceItem(quantity="planned activity", value=activity, unit="MBq", source=rep.activity_source),
            _const_item(near_c, "near the limit from (fraction of limit)"),
        ]
        for c in sorted(flagged, key=lambda c: -c.fraction_of_limit):
            evidence.append(
                EvidenceItem(
                    quantity=f"{c.quantity}, {c.target} (limit {_fmt(c.limit_mSv)} mSv)",
                    value=c.dose_mSv,
                    unit="mSv" + (" (lower bound)" if c.lower_bound else ""),
                    source=f"MIRD, {rep.dose_factor_model}",
                )
            )
        max_activity = activity / worst.fraction_of_limit if worst.fraction_of_limit > 0 else math.inf
        evidence.append(
            EvidenceItem(
                quantity="activity keeping every checked dose at its limit",
                value=max_activity,
                unit="MBq",
                source="MIRD, scaled linearly",
            )
        )
        mitigations = [
            f"Lower the activity to under {_fmt(max_activity)} MBq (doses scale linearly with activity)."
        ]
        if run.min_activity_MBq is not None:
            mitigations.append(
                f"The model's minimum activity for detection is {_fmt(run.min_activity_MBq)} MBq "
                f"({run.min_activity_setting}; optimistic Poisson noise): there is room to lower it."
            )
        if any("bladder" in c.target for c in flagged):
            mitigations.append(
                "Void more often and hydrate: the bladder wall dose falls with the voiding interval."
            )
        mitigations.append(
            "Measure residence times in vivo and label stability in serum (INVIVO-PK, RADIOCHEM)."
        )
        over = ", ".join(f"{c.target} {_fmt(c.fraction_of_limit)}×" for c in flagged)
        rationale = (
            f"At the planned {_fmt(activity)} MBq of {rep.nuclide} the MIRD estimate puts {over} of the "
            "21 CFR 361.1 single-dose research limits (30 mSv whole body, blood-forming organs, lens, "
            "gonads; "
            "50 mSv other organs)"
            + (", exceeding it." if exceeded else ", near it.")
            + (" The doses are lower bounds (partial dose factors)." if rep.partial else "")
        )
        drafts.append(
            _Draft(
                rule,
                severity,
                ("Dose limit exceeded: " if exceeded else "Near the dose limit: ")
                + ", ".join(c.target for c in (exceeded or flagged)),
                evidence,
                rationale,
                mitigations,
                ["CFR21_361_1", near_c.citation, *rep.citation_keys],
                species=run.species,
                assumptions=[_assumption(near_c)],
            )
        )
        checks.append(_check(rule, True, summary, run.species))
    return drafts, checks


def _dose_reduction(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "dose_reduction"
    headroom_c = rule_constant("activity_headroom_factor")
    evidence: list[EvidenceItem] = []
    options: list[str] = []
    citations: list[str] = []
    summaries: list[str] = []
    assumptions: list[str] = []
    rn = agent.labels.radionuclide
    if rn is not None:
        for run in sorted(runs, key=lambda r: _SPECIES_ORDER.get(r.species, 9)):
            planned = run.scenario.activity_MBq or rn.activity_MBq
            if run.min_activity_MBq is None or planned is None or run.min_activity_MBq <= 0:
                continue
            ratio = planned / run.min_activity_MBq
            summaries.append(f"{run.species}: planned / minimum activity {_fmt(ratio)}")
            if ratio < headroom_c.number:
                continue
            evidence += [
                EvidenceItem(
                    quantity=f"planned activity, {run.species}", value=planned, unit="MBq", source="scenario"
                ),
                EvidenceItem(
                    quantity=f"minimum activity for detection, {run.species}",
                    value=run.min_activity_MBq,
                    unit="MBq",
                    source=run.min_activity_setting or "imaging model",
                ),
                EvidenceItem(
                    quantity=f"headroom, {run.species}", value=ratio, unit="×", source="planned / minimum"
                ),
            ]
            options.append(
                f"Lower the {rn.nuclide} activity in the {run.species}: the model detects the tumour down to "
                f"{_fmt(run.min_activity_MBq)} MBq, {_fmt(ratio)}× below the planned {_fmt(planned)} MBq; "
                "radiation dose "
                "falls in proportion (keep a margin: the noise model is optimistic)."
            )
            if run.dose is not None and run.dose.effective_dose_mSv is not None:
                e = float(run.dose.effective_dose_mSv.isel(subject=0))
                evidence.append(
                    EvidenceItem(
                        quantity=f"effective dose at the planned activity, {run.species}",
                        value=e,
                        unit="mSv",
                        source="MIRD, ICRP 103",
                    )
                )
            assumptions.append(_assumption(headroom_c))
            citations.append(headroom_c.citation)
        if options:
            options.append(
                "Raise the specific activity (MBq per mg of particles) to cut the particle mass given with "
                "the "
                "same activity, and with it retention and excreted material."
            )
    fl = agent.labels.fluorophore
    if fl is not None and fl.window != "NIR-II":
        depth_c = rule_constant("nir_comparison_depth_mm")
        compared = False
        for run in runs:
            for criterion, comp in run.nir_windows.items():
                compared = True
                m1 = comp.nir1.dose_multiplier_required
                m2 = comp.nir2.dose_multiplier_required
                label = f"{run.species}, lesion at {_fmt(comp.depth_mm)} mm, criterion {criterion}"
                nm1 = f"{_fmt(comp.nir1.excitation_nm)}/{_fmt(comp.nir1.emission_nm)} nm"
                nm2 = f"{_fmt(comp.nir2.excitation_nm)}/{_fmt(comp.nir2.emission_nm)} nm"
                evidence += [
                    EvidenceItem(
                        quantity=f"dose needed, NIR-I ({nm1}), {label}",
                        value=m1,
                        unit="× scenario dose",
                        source="compare_nir_windows",
                    ),
                    EvidenceItem(
                        quantity=f"dose needed, NIR-II ({nm2}), {label}",
                        value=m2,
                        unit="× scenario dose",
                        source="compare_nir_windows",
                    ),
                    EvidenceItem(
                        quantity=f"tumour/background at the scenario dose NIR-I / NIR-II, {label}",
                        value=f"{_fmt(comp.nir1.tbr_at_scenario_dose)} / "
                        f"{_fmt(comp.nir2.tbr_at_scenario_dose)}",
                        source="compare_nir_windows",
                    ),
                ]
                citations += list(comp.citation_keys)
                if math.isfinite(m2) and (not math.isfinite(m1) or m2 < m1):
                    gain = (
                        "NIR-I never reaches it"
                        if not math.isfinite(m1)
                        else f"{_fmt(m1 / m2)}× less dose than NIR-I"
                    )
                    options.append(
                        f"Image the same dye brightness in NIR-II ({label}): {_fmt(m2)}× the scenario dose "
                        "meets the "
                        f"criterion, {gain} (less scattering and autofluorescence)."
                    )
                    summaries.append(f"NIR-II {criterion}: {_fmt(m2)}× dose")
                elif not math.isfinite(m1) and not math.isfinite(m2):
                    summaries.append(f"NIR {criterion}: neither window reaches the criterion at any dose")
        if not compared:
            summaries.append(f"{fl.name} ({fl.window}): NIR-II option, not quantified")
            options.append(
                f"Use a NIR-II emitter instead of the {fl.window} dye {fl.name}: less scattering and far "
                "less tissue "
                "autofluorescence lower the dose needed for the same contrast (Zhu 2018); not quantified "
                "here "
                "(the scenario gives no mass dose)."
            )
            evidence.append(
                _spec("fluorophore window", f"{fl.name}, {fl.window}, emission {_fmt(fl.emission_nm)} nm")
            )
        else:
            evidence.insert(
                0, _spec("fluorophore window", f"{fl.name}, {fl.window}, emission {_fmt(fl.emission_nm)} nm")
            )
            assumptions.append(_assumption(depth_c))
            citations.append(depth_c.citation)
        citations.append("Zhu2018_NIRII")
    summary = "; ".join(summaries) or "no imaging label with a quantifiable option"
    if not options:
        return [], [_check(rule, False, summary)]
    draft = _Draft(
        rule,
        "info",
        "Dose-reduction options",
        evidence,
        "Imaging needs only enough signal for detection; what is injected beyond it adds radiation dose, "
        "particle mass, retention and excreted material without diagnostic benefit.",
        options,
        citations or ["Assumed"],
        assumptions=assumptions,
    )
    return [draft], [_check(rule, True, summary)]


def _environmental_release(agent: AgentSpec, runs: Sequence[SpeciesRun]) -> _Result:
    rule = "environmental_release"
    fate = material_fate(agent.core_material)
    if not runs:
        return [], [_check(rule, False, "no run")]
    run = sorted(runs, key=lambda r: _SPECIES_ORDER.get(r.species, 9))[0]
    urine = run.amount_at("urine", run.end_h) or 0.0
    feces = run.amount_at("feces", run.end_h) or 0.0
    excreted = urine + feces
    dose_mg = run.scenario.dose_mg
    mass_text = (
        f"{_fmt(dose_mg * excreted / 100.0)} mg of {_fmt(dose_mg)} mg"
        if dose_mg is not None
        else f"{_fmt(excreted / 100.0)} mg per mg injected"
    )
    summary = (
        f"{run.species}: {_fmt(excreted)} %ID excreted by {_fmt(run.end_h / 24)} d ({mass_text}); "
        f"{fate.fate} core"
    )
    if fate.degrades and not fate.toxic_ions:
        return [], [_check(rule, False, summary + f" ({fate.environment})", run.species)]
    severity: Severity = "moderate" if fate.toxic_ions else "low"
    evidence = [
        EvidenceItem(quantity="urine", value=urine, unit="%ID", source=run.source()),
        EvidenceItem(quantity="feces", value=feces, unit="%ID", source=run.source()),
    ]
    if dose_mg is not None:
        evidence += [
            EvidenceItem(
                quantity="mass dose per patient"
                if run.species == "human"
                else f"mass dose per {run.species}",
                value=dose_mg,
                unit="mg",
                source="scenario",
            ),
            EvidenceItem(
                quantity="core mass excreted",
                value=dose_mg * excreted / 100.0,
                unit="mg",
                source="dose × excreted fraction",
            ),
        ]
    else:
        evidence.append(
            EvidenceItem(
                quantity="core mass excreted per mg injected (the scenario gives no mass dose)",
                value=excreted / 100.0,
                unit="mg/mg",
                source="excreted fraction",
            )
        )
    evidence.append(
        EvidenceItem(
            quantity="persistence in the environment",
            value=fate.environment,
            source=f"material fate, {fate.environment_citation or fate.citation}",
        )
    )
    citations = list(fate.citation_keys())
    if fate.key == "gold":
        citations.append("Mahapatra2015")
    rationale = (
        f"A {fate.key.replace('_', ' ')} core does not degrade: whatever the patient excretes reaches sewage "
        f"({fate.environment}). "
        + (
            "Cadmium is a persistent toxic metal; excreta carry it into wastewater."
            if fate.toxic_ions
            else "For gold from medical use the modelled environmental risk was minimal (Mahapatra 2015)."
            if fate.key == "gold"
            else ""
        )
        + f" The PBPK gives {_fmt(excreted)} %ID excreted by {_fmt(run.end_h / 24)} days; the rest is still "
        "in the body "
        "and is released later or not at all."
    )
    mitigations = [
        "Lower the injected mass (higher specific activity, brighter label).",
        "Prefer a core that degrades to benign products (silica, iron oxide, PLGA, lipid).",
    ]
    if fate.toxic_ions:
        mitigations.append(
            "Collect excreta during the excretion window and dispose of them as hazardous waste."
        )
    draft = _Draft(
        rule,
        severity,
        f"Persistent core material excreted ({mass_text})",
        evidence,
        rationale,
        mitigations,
        citations,
        species=run.species,
    )
    return [draft], [_check(rule, True, summary, run.species)]


_RULE_FUNCTIONS = (
    _renal_clearance,
    _organ_retention,
    _core_persistence,
    _cationic_surface,
    _peg_immunogenicity,
    _radiation_dose,
    _dose_reduction,
    _environmental_release,
)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def retention_points(runs: Iterable[SpeciesRun], days: Sequence[float] | None = None) -> list[RetentionPoint]:
    """Liver, spleen and whole-body %ID at the retention checkpoints for each run (NaN beyond
    the end of a run)."""
    if days is None:
        c = rule_constants()["retention_days"]
        days = [float(d) for d in c.value] if isinstance(c.value, tuple) else [c.number]
    out: list[RetentionPoint] = []
    for run in runs:
        for organ in ("liver", "spleen", "body"):
            for day in days:
                value = run.amount_at(organ, float(day) * 24.0)
                out.append(
                    RetentionPoint(
                        species=run.species,
                        organ=organ,
                        day=float(day),
                        pct_id=float("nan") if value is None else value,
                    )
                )
    return out


def _sort_key(f: Finding) -> tuple[int, int, int]:
    return (-severity_rank(f.severity), list(RULES).index(f.rule), _SPECIES_ORDER.get(f.species or "", -1))


def evaluate_safety(
    agent: AgentSpec,
    runs: Sequence[SpeciesRun],
    evidence: ncl.EvidenceSet | None = None,
    *,
    notes: Sequence[str] = (),
) -> SafetyReport:
    """Apply every rule of :data:`RULES` to ``agent`` and its ``runs``; map each finding to the
    assays that answer it and say whether ``evidence`` holds, misses or contradicts them.

    Cites every source the rules use (see :func:`nanobridge.citations.collect_citations`).
    """
    ordered = sorted(runs, key=lambda r: _SPECIES_ORDER.get(r.species, 9))
    drafts: list[_Draft] = []
    checks: list[RuleCheck] = []
    for fn in _RULE_FUNCTIONS:
        d, c = fn(agent, ordered)
        drafts.extend(d)
        checks.extend(c)
    cascade = ncl.assay_cascade()
    findings: list[Finding] = []
    for draft in drafts:
        finding = draft.build()
        status = ncl.finding_evidence(finding.rule, evidence, cascade)
        findings.append(
            finding.model_copy(
                update={"assays": tuple(a.id for a in status.assays), "evidence_status": status}
            )
        )
    findings.sort(key=_sort_key)
    baseline = _baseline_status(evidence, cascade)
    all_notes = list(notes)
    for run in ordered:
        all_notes.extend(f"{run.species}: {n}" for n in run.notes)
    assumptions: list[str] = []
    for f in findings:
        assumptions.extend(f.assumptions)
    fate = material_fate(agent.core_material)
    if fate.note:
        all_notes.append(" ".join(fate.note.split()))
    all_notes.append(
        "The PBPK does not degrade particles: retained and excreted %ID are of particles (or their label), "
        "an upper bound of retained material for degradable cores."
    )
    return SafetyReport(
        agent=agent.name,
        species=tuple(r.species for r in ordered),
        scenarios=tuple(r.scenario.name or r.species for r in ordered),
        duration_h=tuple(r.end_h for r in ordered),
        findings=tuple(findings),
        checks=tuple(checks),
        retention=tuple(retention_points(ordered)),
        baseline=baseline,
        evidence_source=None if evidence is None else evidence.source,
        evidence_warnings=() if evidence is None else evidence.warnings,
        notes=tuple(dict.fromkeys(all_notes)),
        assumptions=tuple(dict.fromkeys(assumptions)),
        citation_keys=tuple(dict.fromkeys(k for f in findings for k in f.citation_keys)),
    )


def _baseline_status(
    evidence: ncl.EvidenceSet | None, cascade: ncl.AssayCascade
) -> tuple[ncl.AssayStatus, ...]:
    held = evidence if evidence is not None else ncl.EvidenceSet()
    out = []
    for assay_id in cascade.baseline:
        result = held.latest(assay_id)
        state: ncl.AssayState = "missing" if result is None else result.outcome
        out.append(
            ncl.AssayStatus(
                id=assay_id,
                title=cascade.assays[assay_id].title,
                role="data",
                question=cascade.baseline_note,
                state=state,
                result=result,
            )
        )
    return tuple(out)
