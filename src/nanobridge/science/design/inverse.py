"""Inverse design: multi-objective search over what a particle is, with uncertainty on the front.

Method
------
1. **Design variables** of an :class:`~nanobridge.domain.AgentSpec` (:class:`DesignSpace`):
   hydrodynamic diameter [nm] (log scale), zeta potential [mV], coating (PEG with molar mass and
   grafting density, or another coating kind of the spec), targeting (passive, or active with a
   named ligand), core material and label (radionuclide for PET/SPECT, dye for NIRF) from the
   packaged catalogs. Everything else is kept from a *base* agent; the core diameter keeps the
   base's core/hydrodynamic ratio (an assumption, recorded in the candidate's ``assumed_fields``).
2. **Constraints by construction**: ``renal_clearable`` caps the hydrodynamic diameter at 5.5 nm
   (rapid renal clearance below ~5.5 nm, Choi et al. 2007); ``biodegradable`` keeps only core
   materials the catalog marks biodegradable (each with its citation). **Optuna constraints**
   (constrained domination, Deb et al. 2002): the PEG chain's Flory radius ``R_F = a N^0.6``
   (de Gennes 1980; the constants of the PBPK PEG relation) must fit within the particle's
   hydrodynamic radius (a consistency assumption), and **limits** on any objective
   (``retention_90d<=5``) hold.
3. **Search**: Optuna's NSGA-II sampler (Deb et al. 2002; Akiba et al. 2019), seeded, driven by
   ask/tell one generation at a time, so that the whole generation is simulated in *one* call of
   the batched PBPK solver (:func:`nanobridge.science.pbpk.engine.simulate`).
4. **Scoring** (:mod:`nanobridge.science.design.objectives`): PBPK tumour delivery and liver+spleen
   retention, imaging contrast at a chosen time (PET/SPECT/NIRF science models), MIRD doses, and
   optionally an external delivery predictor (:class:`DeliveryPredictor`).
5. **Tumour and targeting**: the candidate's tumour parameters are the parameter set's scaled by the
   ratio of the Nano-Tumor Database median of its targeting group (Active/Passive, Cheng et al.
   2020) to the median of all data sets, so targeting acts through what the fitted calibrations
   say about actively and passively targeted particles (correlation, not a mechanism; the groups
   differ in other ways too). A :class:`TumorParameterPredictor` (e.g. an AI-PBPK model) replaces
   the group medians. The tumour volume always comes from the scenario.
6. **Uncertainty**: every Pareto design (and the base) is re-simulated in a virtual population of
   ``uncertainty_draws`` draws, common to all designs: (a) a Nano-Tumor Database data set of the
   design's targeting group drawn at random, its fitted tumour parameters (all but the tumour
   volume) applied as ratios to the group median; (b) the ASSUMED magnitudes of the size, charge
   and PEG factors of the phagocytic-uptake multiplier
   (:func:`nanobridge.science.pbpk.properties.mps_uptake_factors`) raised to independent powers
   ``u ~ U(0.5, 1.5)`` (``u = 1`` is the packaged relation; the range is assumed). The 5/50/95 %
   percentiles per objective are the bands; a delivery predictor's own 90 % interval is its band.

Limits: the PBPK model's particle dependence is only size (renal sieving, phagocytic uptake),
charge and PEG; other coatings act as an uncoated surface, the core material changes nothing but
the particle mass (NIRF dye concentration at a fixed mg/kg dose) and biodegradability, and
labelling chemistry is not modelled. The optimum is as good as these relations, whose magnitudes
are largely assumed (see ``nanobridge.science.pbpk.properties.describe_relations``). The Pareto
front is that of the *nominal* (median-parameter) evaluation; the bands show how far it moves.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from nanobridge.citations import cite, collect_citations
from nanobridge.domain import AgentSpec, CoatingKind, Scenario, fluorophores, materials, radionuclides
from nanobridge.science.design.objectives import (
    DOSE_OBJECTIVES,
    IMAGING_OBJECTIVES,
    OBJECTIVES,
    PBPK_OBJECTIVES,
    PREDICTOR_OBJECTIVES,
    Direction,
    ImagingOptions,
    Objective,
    dose_values,
    imaging_values,
    imaging_values_shared,
    pbpk_values,
    required_horizon_h,
    resolve_objective,
)
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import TUMOR_PARAMETERS

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_DIAMETER_RANGE_NM",
    "DEFAULT_PEG_DENSITY_RANGE",
    "DEFAULT_PEG_MW_RANGE_DA",
    "DEFAULT_ZETA_RANGE_MV",
    "RENAL_CLEARANCE_MAX_DIAMETER_NM",
    "Band",
    "CategoricalVariable",
    "DeliveryPredictor",
    "DesignResult",
    "DesignSettings",
    "DesignSpace",
    "Evaluation",
    "FloatVariable",
    "Limit",
    "ObjectiveInfo",
    "ParetoDesign",
    "SearchTrial",
    "TrialRecord",
    "TumorParameterPredictor",
    "TumorParameterTable",
    "Variable",
    "build_agent",
    "design_space",
    "load_tumor_parameter_table",
    "max_peg_mw_Da",
    "nsga2_search",
    "pareto_figure",
    "pareto_mask",
    "parse_limit",
    "peg_corona_excess_nm",
    "run_design",
    "space_variables",
]

#: Rapid renal clearance below this hydrodynamic diameter [nm] (Choi2007).
RENAL_CLEARANCE_MAX_DIAMETER_NM = 5.5
#: Default search ranges (design choices, not literature values).
DEFAULT_DIAMETER_RANGE_NM = (2.0, 200.0)
DEFAULT_ZETA_RANGE_MV = (-30.0, 30.0)
DEFAULT_PEG_MW_RANGE_DA = (500.0, 10_000.0)
DEFAULT_PEG_DENSITY_RANGE = (0.05, 1.0)
#: Smallest core diameter a candidate may get [nm] (the AgentSpec minimum).
_MIN_CORE_NM = 0.5
#: Smallest PEG molar mass [Da] the AgentSpec accepts.
_MIN_PEG_MW_DA = 100.0
#: Tumour parameters drawn from the Nano-Tumor Database (the tumour volume comes from the scenario).
DRAWN_TUMOR_PARAMETERS: tuple[str, ...] = tuple(p for p in TUMOR_PARAMETERS if p != "VTC")
#: Packaged copy of the Nano-Tumor Database (CC0; Cheng2020).
_PACKAGED_TUMOR_DB = ("data", "nano_tumor_db", "datasets.csv")
_TARGETING_GROUPS = ("Active", "Passive")
#: Column order of the design variables in tables.
_DESIGN_COLUMNS = (
    "hydrodynamic_diameter_nm",
    "zeta_potential_mV",
    "coating",
    "peg_mw_Da",
    "peg_density_chains_per_nm2",
    "targeting",
    "ligand",
    "core_material",
    "radionuclide",
    "fluorophore",
)
_CORONA_CONSTRAINT = "PEG Flory radius - hydrodynamic radius [nm] <= 0"
_SUBJECTS_PER_CHUNK = 512


# ============================================================================================
# Plug-in interfaces
# ============================================================================================


@runtime_checkable
class DeliveryPredictor(Protocol):
    """A model predicting tumour delivery of candidate designs, with 90 % prediction intervals.

    Called with the candidates (in order) and the scenario; returns one row per candidate with
    the columns ``DE24``, ``DE24_lo``, ``DE24_hi`` (and/or ``DE168``, ``Demax`` likewise) in %ID,
    as written by ``nanobridge predict``. The objectives ``pred_DE24``, ``pred_DE168`` and
    ``pred_Demax`` use them: the point prediction is the value (and the band's 50 %), the interval
    ends are the 5 % and 95 % of the band. A non-finite prediction fails that candidate.
    """

    def __call__(self, designs: Sequence[AgentSpec], scenario: Scenario) -> pd.DataFrame: ...


@runtime_checkable
class TumorParameterPredictor(Protocol):
    """A model predicting the Nano-Tumor-Database tumour PBPK parameters of candidate designs
    (the AI-PBPK link): one mapping per candidate with any of
    :data:`~nanobridge.science.pbpk.engine.TUMOR_PARAMETERS` (mouse-fitted values, as in the
    database). They replace the targeting-group medians, as ratios to the database medians (so a
    mouse gets the values as they are, a human the parameter set scaled alike); ``VTC`` is ignored
    (the scenario sets the tumour)."""

    def __call__(self, designs: Sequence[AgentSpec], scenario: Scenario) -> Sequence[Mapping[str, float]]: ...


# ============================================================================================
# Nano-Tumor Database: spread of the fitted tumour parameters
# ============================================================================================


@dataclass(frozen=True)
class TumorParameterTable:
    """Fitted tumour parameters of the Nano-Tumor Database with the targeting strategy of each row.

    ``values`` has the columns of :data:`DRAWN_TUMOR_PARAMETERS` and ``targeting`` (``Active``,
    ``Passive`` or ``None`` for the rows whose ``TS`` is neither).
    """

    values: pd.DataFrame
    source: str
    dropped_rows: int = 0

    def median(self, group: str | None = None) -> dict[str, float]:
        """Median of each parameter over all rows (``None``) or one targeting group."""
        df = self.values if group is None else self.values[self.values["targeting"] == group]
        if df.empty:
            raise ValueError(f"targeting group {group!r} has no rows in {self.source}")
        return {p: float(df[p].median()) for p in DRAWN_TUMOR_PARAMETERS}

    def rows(self, group: str) -> NDArray[np.float64]:
        """The parameter rows (n x len(DRAWN_TUMOR_PARAMETERS)) of one targeting group."""
        df = self.values[self.values["targeting"] == group]
        if df.empty:
            raise ValueError(f"targeting group {group!r} has no rows in {self.source}")
        return np.asarray(df[list(DRAWN_TUMOR_PARAMETERS)].to_numpy(dtype=float))


def _clean_targeting(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    key = value.strip().lower()
    return {"active": "Active", "passive": "Passive"}.get(key)


def load_tumor_parameter_table(path: str | Path | None = None) -> TumorParameterTable:
    """Read the Nano-Tumor Database ``datasets.csv``: the packaged copy
    (``nanobridge/data/nano_tumor_db/datasets.csv``) when ``path`` is None.

    The targeting column ``TS`` is cleaned (case, whitespace; values other than Active/Passive,
    e.g. the two stray charge labels, become ``None``); rows with a missing, negative or
    non-finite fitted parameter are dropped (counted in ``dropped_rows``). Raises
    ``FileNotFoundError`` naming the path, ``ValueError`` naming a missing column.
    """
    if path is None:
        node: Any = resources.files("nanobridge")
        for part in _PACKAGED_TUMOR_DB:
            node = node / part
        if not node.is_file():
            raise FileNotFoundError(
                f"the packaged Nano-Tumor Database ({'/'.join(_PACKAGED_TUMOR_DB)}) is not installed; "
                "pass its datasets.csv explicitly (tumor_table=PATH)"
            )
        text = node.read_text(encoding="utf-8")
        source = "packaged " + "/".join(_PACKAGED_TUMOR_DB)
        from io import StringIO

        raw = pd.read_csv(StringIO(text))
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"Nano-Tumor Database table {p}: no such file")
        raw = pd.read_csv(p)
        source = str(p)
    missing = [c for c in ("TS", *DRAWN_TUMOR_PARAMETERS) if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{source}: column(s) {', '.join(missing)} missing; need TS and {DRAWN_TUMOR_PARAMETERS}"
        )
    values = raw[list(DRAWN_TUMOR_PARAMETERS)].apply(pd.to_numeric, errors="coerce")
    ok = np.all(np.isfinite(values.to_numpy(dtype=float)), axis=1) & np.all(
        values.to_numpy(dtype=float) >= 0, axis=1
    )
    table = values[ok].copy()
    table["targeting"] = [_clean_targeting(v) for v in raw.loc[ok, "TS"]]
    cite("Cheng2020")
    return TumorParameterTable(
        values=table.reset_index(drop=True), source=source, dropped_rows=int((~ok).sum())
    )


# ============================================================================================
# Generic seeded NSGA-II search (ask/tell, one generation per batch)
# ============================================================================================


@dataclass(frozen=True)
class FloatVariable:
    """A continuous design variable in ``[low, high]`` (log-uniform when ``log``)."""

    name: str
    low: float
    high: float
    log: bool = False
    unit: str = ""


@dataclass(frozen=True)
class CategoricalVariable:
    """A categorical design variable; one choice means the value is fixed (not searched)."""

    name: str
    choices: tuple[str, ...]


Variable = FloatVariable | CategoricalVariable


@dataclass(frozen=True)
class Evaluation:
    """What a batch evaluator returns for one candidate: objective values in the order of the
    directions (``None`` = the candidate failed, ``message`` says why), constraint values
    (feasible when <= 0) and any other metrics worth keeping."""

    values: tuple[float, ...] | None
    constraints: Mapping[str, float] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class SearchTrial:
    """One evaluated candidate of :func:`nsga2_search`."""

    number: int
    generation: int
    params: dict[str, Any]
    evaluation: Evaluation

    @property
    def complete(self) -> bool:
        return self.evaluation.values is not None

    @property
    def feasible(self) -> bool:
        return self.complete and all(v <= 0 for v in self.evaluation.constraints.values())


BatchEvaluator = Callable[[Sequence[Mapping[str, Any]]], Sequence[Evaluation]]


def nsga2_search(
    variables: Sequence[Variable],
    evaluate: BatchEvaluator,
    directions: Sequence[Direction],
    *,
    n_trials: int,
    population_size: int,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[SearchTrial]:
    """Seeded NSGA-II (Optuna ``NSGAIISampler``) over ``variables``, one generation per batch.

    Each generation's ``population_size`` trials are asked first, evaluated together by
    ``evaluate`` (one call: a batched simulation), then told; the last generation may be smaller.
    Constraint values set by the evaluator drive constrained domination. Same seed, same
    variables and a deterministic evaluator give the same trials.
    """
    import optuna

    if n_trials < 1:
        raise ValueError(f"n_trials {n_trials!r}: must be >= 1")
    if population_size < 2:
        raise ValueError(f"population_size {population_size!r}: must be >= 2")
    if not directions:
        raise ValueError("at least one objective direction is needed")
    for d in directions:
        if d not in ("maximize", "minimize"):
            raise ValueError(f"direction {d!r}: allowed maximize, minimize")
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise ValueError(f"variable names must be unique: {names}")
    for v in variables:
        if isinstance(v, FloatVariable):
            if not (math.isfinite(v.low) and math.isfinite(v.high) and v.low <= v.high):
                raise ValueError(f"variable {v.name}: bounds [{v.low}, {v.high}] must be finite and ordered")
            if v.log and v.low <= 0:
                raise ValueError(f"variable {v.name}: a log-scale variable needs low > 0, got {v.low}")
        elif not v.choices:
            raise ValueError(f"variable {v.name}: no choices")

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        sampler = optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
        study = optuna.create_study(directions=list(directions), sampler=sampler)
        trials: list[SearchTrial] = []
        generation = 0
        while len(trials) < n_trials:
            batch = min(population_size, n_trials - len(trials))
            asked = [study.ask() for _ in range(batch)]
            params = [_suggest(t, variables) for t in asked]
            evaluations = list(evaluate(params))
            if len(evaluations) != batch:
                raise RuntimeError(
                    f"the evaluator returned {len(evaluations)} results for {batch} candidates"
                )
            for trial, p, ev in zip(asked, params, evaluations, strict=True):
                if ev.values is None or not all(math.isfinite(x) for x in ev.values):
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    if ev.values is not None:
                        ev = Evaluation(
                            None, ev.constraints, ev.metrics, ev.message or "non-finite objective"
                        )
                else:
                    if len(ev.values) != len(directions):
                        raise RuntimeError(
                            f"the evaluator returned {len(ev.values)} values for {len(directions)} objectives"
                        )
                    for key, value in ev.constraints.items():
                        trial.set_constraint(key, float(value) if math.isfinite(value) else 1e300)
                    study.tell(trial, list(ev.values))
                trials.append(SearchTrial(trial.number, generation, p, ev))
            generation += 1
            if progress is not None:
                progress(f"generation {generation}", len(trials), n_trials)
        return trials
    finally:
        optuna.logging.set_verbosity(verbosity)


def _suggest(trial: Any, variables: Sequence[Variable]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in variables:
        if isinstance(v, FloatVariable):
            out[v.name] = (
                v.low if v.low == v.high else float(trial.suggest_float(v.name, v.low, v.high, log=v.log))
            )
        elif len(v.choices) == 1:
            out[v.name] = v.choices[0]
        else:
            out[v.name] = trial.suggest_categorical(v.name, list(v.choices))
    return out


def pareto_mask(values: NDArray[np.float64], directions: Sequence[Direction]) -> NDArray[np.bool_]:
    """True for rows of ``values`` (n x k) that no other row dominates (rows with NaN: False)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(directions):
        raise ValueError(f"values of shape {v.shape} do not match {len(directions)} directions")
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    m = v * sign  # minimise everything
    finite = np.all(np.isfinite(m), axis=1)
    keep = finite.copy()
    idx = np.flatnonzero(finite)
    for i in idx:
        others = m[idx]
        dominated = np.any(np.all(others <= m[i], axis=1) & np.any(others < m[i], axis=1))
        keep[i] = not dominated
    return keep


# ============================================================================================
# Design space
# ============================================================================================


class DesignSpace(BaseModel):
    """What the search may change in the base agent, with the constraints built into it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str | None
    hydrodynamic_diameter_nm: tuple[float, float]
    zeta_potential_mV: tuple[float, float]
    coatings: tuple[str, ...]
    peg_mw_Da: tuple[float, float]
    peg_density_chains_per_nm2: tuple[float, float]
    targeting: tuple[str, ...]
    ligand: str | None
    materials: tuple[str, ...]
    nuclides: tuple[str, ...] = ()
    dyes: tuple[str, ...] = ()
    renal_clearable: bool = False
    biodegradable: bool = False
    peg_corona_fits: bool = True

    def citation_keys(self) -> tuple[str, ...]:
        """References behind the space's constraints."""
        keys: list[str] = []
        if self.renal_clearable:
            keys.append("Choi2007")
        if self.biodegradable:
            for m in self.materials:
                keys.extend(materials().get(m).citation_keys())
        if "PEG" in self.coatings and self.peg_corona_fits:
            keys.extend(["deGennes1980", "Assumed"])
        return tuple(dict.fromkeys(keys))

    def describe_constraints(self) -> list[str]:
        """Human-readable constraints (with citation keys)."""
        lo, hi = self.hydrodynamic_diameter_nm
        out = [
            f"hydrodynamic diameter {lo:g}-{hi:g} nm",
            "zeta potential {:g} to {:g} mV".format(*self.zeta_potential_mV),
        ]
        if self.renal_clearable:
            out.append(
                f"renal clearable: hydrodynamic diameter <= {RENAL_CLEARANCE_MAX_DIAMETER_NM:g} nm (Choi2007)"
            )
        if self.biodegradable:
            out.append(f"biodegradable core: {', '.join(self.materials)} (materials catalog)")
        if "PEG" in self.coatings and self.peg_corona_fits:
            out.append(
                "PEG corona fits: Flory radius of the PEG chain <= hydrodynamic radius "
                "(deGennes1980, Assumed)"
            )
        return out


def _peg_constants() -> tuple[float, float, float]:
    """Monomer length [nm], Flory exponent and monomer molar mass [g/mol] of the PBPK PEG relation."""
    from nanobridge.science.pbpk.properties import relations

    consts = {c.name: c.value for r in relations() if r.name == "mps_peg_factor" for c in r.constants}
    try:
        a, nu, m0 = (
            consts[k] for k in ("monomer_length_nm", "flory_exponent", "monomer_molar_mass_g_per_mol")
        )
    except KeyError as exc:  # pragma: no cover - packaged data
        raise ValueError(f"property_relations.yaml: PEG constant {exc.args[0]} missing") from None
    if isinstance(a, tuple) or isinstance(nu, tuple) or isinstance(m0, tuple):  # pragma: no cover
        raise ValueError("property_relations.yaml: PEG constants must be numbers")
    return float(a), float(nu), float(m0)


def max_peg_mw_Da(hydrodynamic_diameter_nm: float) -> float:
    """Largest PEG molar mass [Da] whose Flory radius ``a N^nu`` fits within ``d/2``."""
    a, nu, m0 = _peg_constants()
    n_max = (0.5 * hydrodynamic_diameter_nm / a) ** (1.0 / nu)
    return float(n_max * m0)


def peg_corona_excess_nm(agent: AgentSpec) -> float:
    """Flory radius of the agent's PEG chains minus its hydrodynamic radius [nm] (<= 0: the corona
    fits; 0 without PEG). ``R_F = a (M/M0)^nu`` with the PBPK PEG relation's constants."""
    coat = agent.coating
    if coat.kind != "PEG" or coat.peg_mw_Da is None:
        return 0.0
    a, nu, m0 = _peg_constants()
    return float(a * (coat.peg_mw_Da / m0) ** nu - 0.5 * agent.hydrodynamic_diameter_nm)


def _range(name: str, given: tuple[float, float] | None, default: tuple[float, float]) -> tuple[float, float]:
    lo, hi = given if given is not None else default
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name}: range ({lo}, {hi}) must be finite with min <= max")
    return float(lo), float(hi)


def _choices(name: str, given: Sequence[str] | None) -> list[str] | None:
    if given is None:
        return None
    out = [str(g).strip() for g in given if str(g).strip()]
    if not out:
        raise ValueError(f"{name}: give at least one choice")
    return list(dict.fromkeys(out))


def design_space(
    base: AgentSpec,
    objectives: Sequence[str],
    *,
    species: str = "mouse",
    modality: str | None = None,
    renal_clearable: bool = False,
    biodegradable: bool = False,
    diameter_nm: tuple[float, float] | None = None,
    zeta_mV: tuple[float, float] | None = None,
    coatings: Sequence[str] | None = None,
    peg_mw_Da: tuple[float, float] | None = None,
    peg_density_chains_per_nm2: tuple[float, float] | None = None,
    targeting: Sequence[str] | None = None,
    ligand: str | None = None,
    materials_allowed: Sequence[str] | None = None,
    nuclides: Sequence[str] | None = None,
    dyes: Sequence[str] | None = None,
    peg_corona_fits: bool = True,
) -> DesignSpace:
    """The design space around ``base`` for the given objectives and constraints.

    Defaults: diameter 2-200 nm (capped at 5.5 nm when ``renal_clearable``), zeta -30..30 mV,
    coatings PEG, none and the base's own kind, PEG 500-10,000 Da at 0.05-1 chains/nm²,
    targeting passive and (with a ligand, from ``ligand`` or the base) active; core material the
    base's if it meets the constraints, else every catalog material that does (with a density);
    radionuclides of the imaging modality (PET or SPECT emitters with emission data) when contrast
    is an objective, the base's nuclide for dose-only runs; catalog dyes for NIRF contrast.
    Raises ``ValueError`` naming the option, the value and what is allowed.
    """
    keys = [resolve_objective(o, species).key for o in objectives]
    imaging = any(k in IMAGING_OBJECTIVES for k in keys)
    dose = any(k in DOSE_OBJECTIVES for k in keys)

    if modality is not None:
        modality = modality.strip().lower()
        if modality not in ("pet", "spect", "nirf"):
            raise ValueError(f"modality {modality!r}: allowed pet, spect, nirf")
    elif imaging:
        of_label = {"PET": "pet", "SPECT": "spect", "optical": "nirf"}
        found = [of_label[m] for m in base.modalities if m in of_label]
        if not found:
            raise ValueError(
                f"modality: the base agent {base.name!r} carries no PET, SPECT or fluorescence label; "
                "give the modality (pet, spect or nirf) for the contrast objective"
            )
        modality = found[0]

    lo, hi = _range("diameter_nm", diameter_nm, DEFAULT_DIAMETER_RANGE_NM)
    if renal_clearable:
        hi = min(hi, RENAL_CLEARANCE_MAX_DIAMETER_NM)
        cite("Choi2007")
    if lo < 1.0 or lo > hi:
        raise ValueError(
            f"diameter_nm: range ({lo:g}, {hi:g}) nm is empty or below 1 nm"
            + (
                f" (renal clearable caps it at {RENAL_CLEARANCE_MAX_DIAMETER_NM:g} nm)"
                if renal_clearable
                else ""
            )
        )
    zlo, zhi = _range("zeta_mV", zeta_mV, DEFAULT_ZETA_RANGE_MV)
    if zlo < -100 or zhi > 100:
        raise ValueError(f"zeta_mV: range ({zlo:g}, {zhi:g}) mV must lie within -100..100 mV")

    allowed_kinds = get_args(CoatingKind)
    coat = _choices("coatings", coatings)
    if coat is None:
        coat = list(dict.fromkeys(["PEG", "none", base.coating.kind]))
    canon = {k.lower(): k for k in allowed_kinds}
    for i, c in enumerate(coat):
        if c.lower() not in canon:
            raise ValueError(f"coatings: {c!r} is not a coating kind; allowed: {', '.join(allowed_kinds)}")
        coat[i] = canon[c.lower()]
    pmw = _range("peg_mw_Da", peg_mw_Da, DEFAULT_PEG_MW_RANGE_DA)
    pden = _range("peg_density_chains_per_nm2", peg_density_chains_per_nm2, DEFAULT_PEG_DENSITY_RANGE)
    if pmw[0] < _MIN_PEG_MW_DA or pmw[1] > 100_000:
        raise ValueError(f"peg_mw_Da: range {pmw} must lie within {_MIN_PEG_MW_DA:g}-100000 Da")
    if pden[0] <= 0 or pden[1] > 10:
        raise ValueError(f"peg_density_chains_per_nm2: range {pden} must lie within (0, 10] chains/nm²")

    lig = (ligand or "").strip() or base.targeting_ligand
    targ = _choices("targeting", targeting)
    if targ is None:
        targ = ["passive", "active"] if lig else ["passive"]
    for i, t in enumerate(targ):
        if t.lower() not in ("passive", "active"):
            raise ValueError(f"targeting: {t!r} is not allowed; allowed: passive, active")
        targ[i] = t.lower()
    if "active" in targ and not lig:
        raise ValueError(
            "targeting: active needs a ligand name (give ligand=..., or a base agent with targeting_ligand)"
        )

    cat = materials()
    mats = _choices("materials", materials_allowed)
    needs_density = imaging and modality == "nirf"

    def material_problem(key: str) -> str | None:
        entry = cat.get(key)
        degradable = base.biodegradable if key == base.core_material else entry.biodegradable
        if biodegradable and not degradable:
            return f"{key} is not biodegradable (catalog: {entry.biodegradable_citation})"
        if (
            needs_density
            and entry.density_g_per_cm3 is None
            and not (key == base.core_material and base.core_density_g_per_cm3 is not None)
        ):
            return f"{key} has no catalog density (NIRF contrast needs the particle mass)"
        for name in ("ct", "mri"):
            label = getattr(base.labels, name)
            if (
                label is not None
                and not label.payload
                and entry.elements
                and label.element not in entry.elements
            ):
                return f"{key} does not contain the base's {name.upper()} element {label.element}"
        return None

    if mats is None:
        if material_problem(base.core_material) is None:
            mats = [base.core_material]
        else:
            mats = [k for k in cat if material_problem(k) is None]
            if not mats:
                raise ValueError("materials: no catalog material meets the constraints")
    else:
        for i, m in enumerate(mats):
            key = cat.resolve_key(m)
            if key is None:
                raise ValueError(
                    f"materials: {m!r} is not in the materials catalog; known: {', '.join(cat.keys())}"
                )
            problem = material_problem(key)
            if problem is not None:
                raise ValueError(f"materials: {m!r} is not allowed: {problem}")
            mats[i] = key
        mats = list(dict.fromkeys(mats))

    rcat = radionuclides()
    nucl = _choices("nuclides", nuclides)

    def known_nuclides() -> list[str]:
        from nanobridge.science.imaging.nuclear import known_nuclides as emission_data

        return list(emission_data())

    wanted_mode = modality.upper() if (imaging and modality in ("pet", "spect")) else None
    if nucl is not None:
        for i, n in enumerate(nucl):
            key = rcat.resolve_key(n)
            if key is None:
                raise ValueError(
                    f"nuclides: {n!r} is not in the radionuclide catalog; known: {', '.join(rcat.keys())}"
                )
            if wanted_mode is not None and rcat.get(key).imaging_modality != wanted_mode:
                raise ValueError(
                    f"nuclides: {key} is not imaged by {wanted_mode} "
                    f"(contrast objective of modality {modality})"
                )
            if wanted_mode is not None and key not in known_nuclides():
                raise ValueError(
                    f"nuclides: {key} has no emission data for imaging; "
                    f"with data: {', '.join(known_nuclides())}"
                )
            nucl[i] = key
        nucl = list(dict.fromkeys(nucl))
    elif wanted_mode is not None:
        nucl = [
            k for k, e in rcat.items() if e.decay_mode_for_imaging == wanted_mode and k in known_nuclides()
        ]
    elif dose:
        if base.labels.radionuclide is None:
            raise ValueError(
                f"nuclides: the dose objective needs a radionuclide and base agent {base.name!r} has none; "
                "give the nuclides to choose from"
            )
        nucl = [base.labels.radionuclide.nuclide]
    else:
        nucl = []

    fcat = fluorophores()
    dye = _choices("dyes", dyes)
    if dye is not None:
        for i, d in enumerate(dye):
            key = fcat.resolve_key(d)
            if key is None:
                raise ValueError(
                    f"dyes: {d!r} is not in the fluorophore catalog; known: {', '.join(fcat.keys())}"
                )
            dye[i] = key
        dye = list(dict.fromkeys(dye))
    elif imaging and modality == "nirf":
        dye = list(fcat.keys())
    else:
        dye = []

    if biodegradable:
        for m in mats:
            cite(*cat.get(m).citation_keys())
    return DesignSpace(
        modality=modality,
        hydrodynamic_diameter_nm=(lo, hi),
        zeta_potential_mV=(zlo, zhi),
        coatings=tuple(coat),
        peg_mw_Da=pmw,
        peg_density_chains_per_nm2=pden,
        targeting=tuple(targ),
        ligand=lig,
        materials=tuple(mats),
        nuclides=tuple(nucl),
        dyes=tuple(dye),
        renal_clearable=renal_clearable,
        biodegradable=biodegradable,
        peg_corona_fits=peg_corona_fits,
    )


def space_variables(space: DesignSpace) -> list[Variable]:
    """The Optuna variables of a design space (PEG variables only when PEG is a choice)."""
    out: list[Variable] = [
        FloatVariable("hydrodynamic_diameter_nm", *space.hydrodynamic_diameter_nm, log=True, unit="nm"),
        FloatVariable("zeta_potential_mV", *space.zeta_potential_mV, unit="mV"),
        CategoricalVariable("coating", space.coatings),
    ]
    if "PEG" in space.coatings:
        out.append(FloatVariable("peg_mw_Da", *space.peg_mw_Da, log=True, unit="Da"))
        out.append(
            FloatVariable(
                "peg_density_chains_per_nm2", *space.peg_density_chains_per_nm2, log=True, unit="chains/nm²"
            )
        )
    out.append(CategoricalVariable("targeting", space.targeting))
    out.append(CategoricalVariable("core_material", space.materials))
    if space.nuclides:
        out.append(CategoricalVariable("radionuclide", space.nuclides))
    if space.dyes:
        out.append(CategoricalVariable("fluorophore", space.dyes))
    return out


_DESIGN_PATH_PREFIXES = (
    "hydrodynamic_diameter_nm",
    "zeta_potential_mV",
    "core_diameter_nm",
    "coating.",
    "core_density_g_per_cm3",
)


def build_agent(
    base: AgentSpec, space: DesignSpace, params: Mapping[str, Any], *, name: str | None = None
) -> tuple[AgentSpec, dict[str, Any]]:
    """The candidate agent for ``params`` (values of :func:`space_variables`) and the design
    variables it got (PEG values only for PEG; the ligand for active targeting).

    Everything not designed is kept from ``base``; the core diameter keeps the base's
    core/hydrodynamic ratio (at least 0.5 nm), a changed material takes its catalog
    biodegradability and density, a changed nuclide drops the base's chelator, a changed dye takes
    its catalog photophysics (dyes per particle kept). Raises
    :class:`~nanobridge.domain.SpecError` (a ``ValueError``) if the candidate is not a valid spec.
    """
    d = base.model_dump(exclude_none=True)
    hd = float(params.get("hydrodynamic_diameter_nm", base.hydrodynamic_diameter_nm))
    ratio = base.core_diameter_nm / base.hydrodynamic_diameter_nm
    core = min(hd, max(_MIN_CORE_NM, ratio * hd))
    zeta = float(params.get("zeta_potential_mV", base.zeta_potential_mV))
    design: dict[str, Any] = {"hydrodynamic_diameter_nm": hd, "zeta_potential_mV": zeta}
    d["hydrodynamic_diameter_nm"] = hd
    d["core_diameter_nm"] = core
    d["zeta_potential_mV"] = zeta

    kind = str(params.get("coating", base.coating.kind))
    design["coating"] = kind
    if kind == "PEG":
        mw = float(params.get("peg_mw_Da", base.coating.peg_mw_Da or DEFAULT_PEG_MW_RANGE_DA[0]))
        dens = params.get("peg_density_chains_per_nm2", base.coating.peg_density_chains_per_nm2)
        coating: dict[str, Any] = {"kind": "PEG", "peg_mw_Da": round(mw, 1)}
        design["peg_mw_Da"] = coating["peg_mw_Da"]
        if dens is not None:
            coating["peg_density_chains_per_nm2"] = float(dens)
            design["peg_density_chains_per_nm2"] = float(dens)
        d["coating"] = coating
    else:
        coating = {"kind": kind}
        if kind == base.coating.kind and base.coating.description:
            coating["description"] = base.coating.description
        d["coating"] = coating

    targeting = str(params.get("targeting", "active" if base.is_targeted else "passive"))
    design["targeting"] = targeting
    if targeting == "active":
        d["targeting_ligand"] = space.ligand or base.targeting_ligand
        design["ligand"] = d["targeting_ligand"]
    else:
        d.pop("targeting_ligand", None)

    mat = str(params.get("core_material", base.core_material))
    design["core_material"] = mat
    if mat != base.core_material:
        d["core_material"] = mat
        d["biodegradable"] = materials().get(mat).biodegradable
        d.pop("core_density_g_per_cm3", None)

    labels = dict(d.get("labels", {}))
    assumed = [
        p
        for p in base.assumed_fields
        if not any(p == pre or p.startswith(pre) for pre in _DESIGN_PATH_PREFIXES)
    ]
    nuc = params.get("radionuclide")
    if nuc is not None:
        old = base.labels.radionuclide
        new: dict[str, Any] = {"nuclide": str(nuc)}
        if old is not None:
            if old.activity_MBq is not None:
                new["activity_MBq"] = old.activity_MBq
            if old.chelator and old.nuclide == nuc:
                new["chelator"] = old.chelator
        labels["radionuclide"] = new
        design["radionuclide"] = str(nuc)
        if old is None or old.nuclide != nuc:
            assumed = [p for p in assumed if not p.startswith("labels.radionuclide")]
    dye = params.get("fluorophore")
    if dye is not None:
        old_f = base.labels.fluorophore
        labels["fluorophore"] = {
            "name": str(dye),
            "dyes_per_particle": old_f.dyes_per_particle if old_f else 1.0,
        }
        design["fluorophore"] = str(dye)
        if old_f is None or old_f.name != dye:
            assumed = [
                p
                for p in assumed
                if not (p.startswith("labels.fluorophore") and p != "labels.fluorophore.dyes_per_particle")
            ]
            if old_f is None:
                assumed = [p for p in assumed if not p.startswith("labels.fluorophore")]
    d["labels"] = labels
    assumed.append("core_diameter_nm")
    d["assumed_fields"] = list(dict.fromkeys(assumed))
    d["name"] = (name or f"{base.name} (design)")[:200]
    d["description"] = (
        f"Inverse-design candidate derived from {base.name!r}: "
        + ", ".join(f"{k}={_short(v)}" for k, v in design.items())
        + ". Core diameter scaled with the base's core/hydrodynamic ratio (assumed)."
    )
    return AgentSpec.model_validate(d), design


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ============================================================================================
# Settings, limits, results
# ============================================================================================


@dataclass(frozen=True)
class Limit:
    """A limit on an objective or metric, e.g. ``retention_90d <= 5`` (an Optuna constraint)."""

    key: str
    op: Literal["<=", ">="]
    value: float

    def violation(self, x: float) -> float:
        """> 0 when violated (Optuna's convention); NaN stays NaN."""
        return x - self.value if self.op == "<=" else self.value - x

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value:g} {OBJECTIVES[self.key].unit}"


_LIMIT_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_\-]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


def parse_limit(text: str, species: str) -> Limit:
    """``"retention_90d<=5"`` -> :class:`Limit` (``<``/``>`` read as ``<=``/``>=``)."""
    m = _LIMIT_RE.match(str(text))
    if m is None:
        raise ValueError(f"limit {text!r}: write it as NAME<=VALUE or NAME>=VALUE, e.g. retention_90d<=5")
    key = resolve_objective(m.group(1), species).key
    try:
        value = float(m.group(3))
    except ValueError:
        raise ValueError(f"limit {text!r}: {m.group(3)!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"limit {text!r}: the bound must be finite")
    op: Literal["<=", ">="] = "<=" if m.group(2) in ("<=", "<") else ">="
    return Limit(key, op, value)


class DesignSettings(BaseModel):
    """Search, uncertainty and imaging settings of a design run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_trials: int = Field(default=200, ge=2, le=100_000)
    population_size: int = Field(default=40, ge=4, le=5_000)
    seed: int = 0
    uncertainty_draws: int = Field(default=32, ge=4, le=10_000)
    mps_exponent_range: tuple[float, float] = (0.5, 1.5)
    time_h: float = Field(default=24.0, gt=0, le=2160)
    scanner: str | None = None
    scan_duration_min: float = Field(default=10.0, gt=0)
    activity_MBq: float | None = Field(default=None, gt=0)
    depth_mm: float = Field(default=2.0, gt=0, le=100)
    tissue: str = "soft_tissue"
    limits: tuple[str, ...] = ()
    rtol: float = Field(default=1e-6, gt=0, lt=1e-2)


class Band(BaseModel):
    """5, 50 and 95 % percentiles of an objective over the virtual population."""

    model_config = ConfigDict(frozen=True)

    p5: float
    p50: float
    p95: float


class ObjectiveInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    unit: str
    direction: Direction
    description: str


class TrialRecord(BaseModel):
    """One candidate the search evaluated (nominal parameters)."""

    model_config = ConfigDict(frozen=True)

    number: int
    generation: int
    design: dict[str, Any]
    values: dict[str, float]
    constraints: dict[str, float]
    feasible: bool
    complete: bool
    message: str = ""


class ParetoDesign(BaseModel):
    """A non-dominated, feasible candidate with its agent, nominal values and uncertainty bands;
    ``equivalent_trials``: other feasible trials with the same objective values (to 10 digits)."""

    model_config = ConfigDict(frozen=True)

    trial: int
    design: dict[str, Any]
    agent: dict[str, Any]
    values: dict[str, float]
    bands: dict[str, Band]
    equivalent_trials: list[int] = Field(default_factory=list)


class DesignResult(BaseModel):
    """Everything a design run found and how: the trials, the Pareto set with bands, the settings."""

    model_config = ConfigDict(frozen=True)

    base_agent: str
    species: str
    scenario: str
    objectives: list[ObjectiveInfo]
    variables: list[str]
    constraints: list[str]
    limits: list[str]
    baseline: dict[str, float]
    baseline_bands: dict[str, Band]
    trials: list[TrialRecord]
    pareto: list[ParetoDesign]
    seed: int
    settings: dict[str, Any]
    uncertainty: str
    assumptions: list[str]
    citations: list[str]
    timings_s: dict[str, float]
    warnings: list[str] = Field(default_factory=list)
    subjects_simulated: int

    @property
    def n_feasible(self) -> int:
        return sum(t.feasible for t in self.trials)

    def objective(self, key: str) -> ObjectiveInfo:
        for o in self.objectives:
            if o.key == key:
                return o
        raise KeyError(
            f"objective {key!r} not in this result; objectives: {[o.key for o in self.objectives]}"
        )

    def _design_columns(self, designs: Sequence[Mapping[str, Any]]) -> list[str]:
        present = {k for d in designs for k in d}
        ordered = [c for c in _DESIGN_COLUMNS if c in present]
        return ordered + sorted(present - set(ordered))

    def pareto_frame(self) -> pd.DataFrame:
        """One row per Pareto design: trial, design variables, each objective's value [unit] and
        its 5/50/95 % band."""
        rows = []
        for p in self.pareto:
            row: dict[str, Any] = {
                "trial": p.trial,
                "equivalent_trials": " ".join(map(str, p.equivalent_trials)),
                **p.design,
            }
            for o in self.objectives:
                band = p.bands.get(o.key)
                row[o.key] = p.values[o.key]
                row[f"{o.key}_p5"] = band.p5 if band else float("nan")
                row[f"{o.key}_p50"] = band.p50 if band else float("nan")
                row[f"{o.key}_p95"] = band.p95 if band else float("nan")
            rows.append(row)
        design_cols = self._design_columns([p.design for p in self.pareto])
        value_cols = [f"{o.key}{s}" for o in self.objectives for s in ("", "_p5", "_p50", "_p95")]
        return pd.DataFrame(rows, columns=["trial", "equivalent_trials", *design_cols, *value_cols])

    def trials_frame(self) -> pd.DataFrame:
        """One row per trial: number, generation, design, objective values, feasibility."""
        design_cols = self._design_columns([t.design for t in self.trials])
        value_cols = list(dict.fromkeys(k for t in self.trials for k in t.values))
        rows = [
            {
                "trial": t.number,
                "generation": t.generation,
                **t.design,
                **t.values,
                "feasible": t.feasible,
                "complete": t.complete,
                "message": t.message,
            }
            for t in self.trials
        ]
        columns = ["trial", "generation", *design_cols, *value_cols, "feasible", "complete", "message"]
        return pd.DataFrame(rows, columns=columns)

    def pareto_agent(self, index: int) -> AgentSpec:
        """The :class:`AgentSpec` of Pareto design ``index``."""
        return AgentSpec.model_validate(self.pareto[index].agent)


# ============================================================================================
# Evaluation of candidates (batched)
# ============================================================================================


def _time_grid(horizon_h: float, time_h: float) -> NDArray[np.float64]:
    """Hourly to max(168 h, the imaging time), then every 12 h to the horizon."""
    fine_end = float(max(168.0, math.ceil(time_h)))
    fine = np.arange(0.0, min(fine_end, horizon_h) + 1e-9, 1.0)
    if horizon_h <= fine[-1] + 1e-9:
        return fine
    coarse = np.arange(fine[-1] + 12.0, horizon_h + 1e-9, 12.0)
    grid = np.concatenate([fine, coarse])
    if grid[-1] < horizon_h - 1e-9:
        grid = np.append(grid, horizon_h)
    return grid


@dataclass
class _Evaluator:
    base: AgentSpec
    scenario: Scenario
    space: DesignSpace
    keys: list[str]  # objectives, then limit-only metrics
    settings: DesignSettings
    table: TumorParameterTable
    delivery_predictor: DeliveryPredictor | None
    tumor_predictor: TumorParameterPredictor | None
    subjects: int = 0
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from nanobridge.science.pbpk.solver import SolverOptions

        self.times = _time_grid(required_horizon_h(self.keys, self.settings.time_h), self.settings.time_h)
        self.options = SolverOptions(rtol=self.settings.rtol)
        self.median_all = self.table.median(None)
        self.median_group = {g: self.table.median(g) for g in _TARGETING_GROUPS}
        self.imaging = (
            ImagingOptions(
                modality=self.space.modality,
                time_h=self.settings.time_h,
                scanner=self.settings.scanner,
                scan_duration_min=self.settings.scan_duration_min,
                activity_MBq=self.settings.activity_MBq,
                depth_mm=self.settings.depth_mm,
                tissue=self.settings.tissue,
            )
            if self.space.modality is not None and any(k in IMAGING_OBJECTIVES for k in self.keys)
            else None
        )
        self.dose_factors: Any = None
        if any(k in DOSE_OBJECTIVES for k in self.keys):
            from nanobridge.science.dosimetry.mird import default_dose_factors

            self.dose_factors = default_dose_factors(self.scenario.species)
        if any(k in PREDICTOR_OBJECTIVES for k in self.keys) and self.delivery_predictor is None:
            raise ValueError(
                f"objective(s) {', '.join(k for k in self.keys if k in PREDICTOR_OBJECTIVES)} need a "
                "delivery predictor (delivery_predictor=...)"
            )

    # -- parameters ----------------------------------------------------------------------
    def nominal(self, agents: Sequence[AgentSpec]) -> list[tuple[dict[str, float], float, tuple[float, ...]]]:
        """Per agent: PBPK parameters, renal clearance [L/h] and MPS factors (size, charge, peg, total)."""
        from nanobridge.science.pbpk.engine import agent_parameters
        from nanobridge.science.pbpk.properties import mps_uptake_factors

        predicted: Sequence[Mapping[str, float]] | None = None
        if self.tumor_predictor is not None:
            predicted = self.tumor_predictor(agents, self.scenario)
            if len(predicted) != len(agents):
                raise ValueError(
                    f"tumour-parameter predictor returned {len(predicted)} rows for {len(agents)} designs"
                )
        out: list[tuple[dict[str, float], float, tuple[float, ...]]] = []
        for i, agent in enumerate(agents):
            ap = agent_parameters(agent, self.scenario)
            if i == 0:
                cite(*ap.citations)  # parameter set and property relations
            params = dict(ap.params)
            group = "Active" if agent.is_targeted else "Passive"
            for p in DRAWN_TUMOR_PARAMETERS:
                ref = self.median_all[p]
                target = self.median_group[group][p]
                if predicted is not None and p in predicted[i]:
                    target = float(predicted[i][p])
                    if not (math.isfinite(target) and target >= 0):
                        raise ValueError(
                            f"tumour-parameter predictor: {p}={predicted[i][p]!r} for design {i}"
                        )
                if ref > 0:
                    params[p] = params[p] * target / ref
            coat = agent.coating
            f = mps_uptake_factors(
                agent.hydrodynamic_diameter_nm,
                agent.zeta_potential_mV,
                coat.peg_mw_Da if coat.kind == "PEG" else None,
                coat.peg_density_chains_per_nm2 if coat.kind == "PEG" else None,
            )
            out.append((params, ap.renal_clearance_L_per_h, (f.size, f.charge, f.peg, f.total)))
        return out

    def simulate(self, rows: Sequence[Mapping[str, float]], renal: Sequence[float]) -> Biodistribution:
        from nanobridge.science.pbpk.engine import simulate

        names = list(rows[0])
        params = {k: np.array([r[k] for r in rows], dtype=float) for k in names}
        bw = float(self.scenario.body_weight_kg)
        dose_kg = self.scenario.dose_mg_per_kg
        self.subjects += len(rows)
        return simulate(
            params,
            bw,
            self.times,
            renal_clearance_L_per_h=np.asarray(renal, dtype=float),
            dose_mg=None if dose_kg is None else float(dose_kg) * bw,
            options=self.options,
            attrs={"species": self.scenario.species, "citations": []},
        )

    # -- metrics -------------------------------------------------------------------------
    def metrics(
        self, bd: Biodistribution, agents: Sequence[AgentSpec], blocks: int | None = None
    ) -> dict[str, NDArray[np.float64]]:
        """Values of every non-predictor key per subject; ``blocks``: the subjects form that many
        equal consecutive blocks each carrying one agent (a virtual population per design)."""
        out: dict[str, NDArray[np.float64]] = {}
        pk = [k for k in self.keys if k in PBPK_OBJECTIVES]
        if pk:
            out.update(pbpk_values(bd, pk))
        if self.imaging is not None:
            if blocks:
                size = len(agents) // blocks
                parts = []
                for b in range(blocks):
                    sub = Biodistribution(bd.data.isel(subject=slice(b * size, (b + 1) * size)))
                    values, notes = imaging_values_shared(
                        sub, agents[b * size], self.scenario, self.keys, self.imaging
                    )
                    parts.append(values)
                    self._note(notes)
                values = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            else:
                values, notes = imaging_values(bd, agents, self.scenario, self.keys, self.imaging)
                self._note(notes)
            out.update(values)
        if any(k in DOSE_OBJECTIVES for k in self.keys):
            values, notes = dose_values(bd, agents, self.scenario, self.keys, self.dose_factors)
            out.update(values)
            self._note(notes)
        return out

    def predictor_values(self, agents: Sequence[AgentSpec]) -> dict[str, NDArray[np.float64]]:
        """``pred_*`` values and their interval ends (``pred_DE24_lo``/``_hi``) per agent."""
        wanted = [k for k in self.keys if k in PREDICTOR_OBJECTIVES]
        if not wanted or self.delivery_predictor is None:
            return {}
        frame = self.delivery_predictor(agents, self.scenario)
        if len(frame) != len(agents):
            raise ValueError(f"delivery predictor returned {len(frame)} rows for {len(agents)} designs")
        out: dict[str, NDArray[np.float64]] = {}
        for k in wanted:
            col = k.removeprefix("pred_")
            for suffix in ("", "_lo", "_hi"):
                if col + suffix not in frame.columns:
                    raise ValueError(
                        f"delivery predictor: column {col + suffix!r} missing "
                        f"(got {', '.join(map(str, frame.columns))})"
                    )
                out[k + suffix] = pd.to_numeric(frame[col + suffix], errors="coerce").to_numpy(dtype=float)
            lo, mid, hi = out[k + "_lo"], out[k], out[k + "_hi"]
            bad = np.flatnonzero(
                np.isfinite(lo) & np.isfinite(mid) & np.isfinite(hi) & ~((lo <= mid) & (mid <= hi))
            )
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"delivery predictor: row {i} has {col}_lo {lo[i]:g}, {col} {mid[i]:g}, "
                    f"{col}_hi {hi[i]:g}; need lo <= value <= hi"
                )
        return out

    def _note(self, notes: Sequence[str]) -> None:
        for n in notes:
            if n not in self.notes:
                self.notes.append(n)

    def evaluate_agents(self, agents: Sequence[AgentSpec]) -> dict[str, NDArray[np.float64]]:
        """Nominal values of every key for each agent (one batched simulation)."""
        nominal = self.nominal(agents)
        values: dict[str, NDArray[np.float64]] = {}
        if any(k not in PREDICTOR_OBJECTIVES for k in self.keys):
            bd = self.simulate([n[0] for n in nominal], [n[1] for n in nominal])
            values.update(self.metrics(bd, agents))
        values.update(self.predictor_values(agents))
        return values

    # -- uncertainty ---------------------------------------------------------------------
    def population(self, agents: Sequence[AgentSpec]) -> dict[str, NDArray[np.float64]]:
        """Values of every non-predictor key per agent and draw (agents x draws)."""
        n_draws = self.settings.uncertainty_draws
        rng = np.random.default_rng([self.settings.seed, 20_260_501])
        lo, hi = self.settings.mps_exponent_range
        exponents = rng.uniform(lo, hi, size=(n_draws, 3))
        draws = {}
        for g in _TARGETING_GROUPS:
            rows = self.table.rows(g)
            draws[g] = rows[rng.integers(0, rows.shape[0], size=n_draws)]
        nominal = self.nominal(agents)
        keys = [k for k in self.keys if k not in PREDICTOR_OBJECTIVES]
        out = {k: np.full((len(agents), n_draws), np.nan) for k in keys}
        if not keys:
            return out
        per_chunk = max(1, _SUBJECTS_PER_CHUNK // n_draws)
        for start in range(0, len(agents), per_chunk):
            idx = list(range(start, min(start + per_chunk, len(agents))))
            rows_: list[dict[str, float]] = []
            renal: list[float] = []
            subj_agents: list[AgentSpec] = []
            for i in idx:
                params, cl, (f_size, f_charge, f_peg, f_total) = nominal[i]
                group = "Active" if agents[i].is_targeted else "Passive"
                med = self.median_group[group]
                for j in range(n_draws):
                    p = dict(params)
                    for c, name in enumerate(DRAWN_TUMOR_PARAMETERS):
                        if med[name] > 0:
                            p[name] = params[name] * draws[group][j, c] / med[name]
                    e = exponents[j]
                    mult = f_size ** e[0] * f_charge ** e[1] * f_peg ** e[2]
                    for name in _mps_scaled():
                        p[name] = params[name] * mult / f_total
                    rows_.append(p)
                    renal.append(cl)
                    subj_agents.append(agents[i])
            bd = self.simulate(rows_, renal)
            vals = self.metrics(bd, subj_agents, blocks=len(idx))
            for k in keys:
                out[k][idx, :] = vals[k].reshape(len(idx), n_draws)
        return out


def _mps_scaled() -> tuple[str, ...]:
    """The phagocytic uptake maxima the engine scales by the particle's MPS multiplier."""
    from nanobridge.science.pbpk.engine import MPS_SCALED_PARAMETERS

    return tuple(MPS_SCALED_PARAMETERS)


def _bands(values: NDArray[np.float64]) -> Band:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Band(p5=float("nan"), p50=float("nan"), p95=float("nan"))
    p5, p50, p95 = np.percentile(finite, [5.0, 50.0, 95.0])
    return Band(p5=float(p5), p50=float(p50), p95=float(p95))


# ============================================================================================
# The run
# ============================================================================================


def run_design(
    base: AgentSpec,
    scenario: Scenario,
    objectives: Sequence[str],
    *,
    space: DesignSpace | None = None,
    settings: DesignSettings | None = None,
    tumor_table: TumorParameterTable | str | Path | None = None,
    delivery_predictor: DeliveryPredictor | None = None,
    tumor_predictor: TumorParameterPredictor | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DesignResult:
    """Multi-objective inverse design around ``base`` in ``scenario`` (see the module docstring).

    ``objectives``: keys or aliases of :data:`~nanobridge.science.design.objectives.OBJECTIVES`
    (at least one, no repeats); ``space`` defaults to :func:`design_space` for them;
    ``tumor_table`` to the packaged Nano-Tumor Database. Raises ``ValueError`` for bad input
    (naming the option and the value) before any search starts.
    """
    started = time.perf_counter()
    settings = settings or DesignSettings()
    species = scenario.species
    if not objectives:
        raise ValueError("objectives: give at least one (e.g. DE24, retention_90d)")
    infos: list[Objective] = [resolve_objective(o, species) for o in objectives]
    keys = [o.key for o in infos]
    if len(set(keys)) != len(keys):
        raise ValueError(f"objectives: {list(objectives)} name the same objective twice ({keys})")
    limits = [parse_limit(t, species) for t in settings.limits]
    all_keys = list(dict.fromkeys([*keys, *(lim.key for lim in limits)]))
    if scenario.tumor is None:
        raise ValueError("scenario.tumor: the scenario needs a tumour to score delivery and contrast")
    if space is None:
        space = design_space(base, keys, species=species)
    if any(k in IMAGING_OBJECTIVES for k in all_keys) and space.modality is None:
        raise ValueError(
            "modality: the contrast objective needs a modality (pet, spect or nirf) in the design space"
        )
    table = (
        tumor_table
        if isinstance(tumor_table, TumorParameterTable)
        else load_tumor_parameter_table(tumor_table)
    )
    directions: list[Direction] = [o.direction for o in infos]

    with collect_citations() as used:
        cite(
            "Deb2002_NSGAII",
            "Akiba2019_Optuna",
            "Cheng2020",
            "Assumed",
            *(c for o in infos for c in o.citations),
        )
        cite(*space.citation_keys())
        base.cite()
        ev = _Evaluator(base, scenario, space, all_keys, settings, table, delivery_predictor, tumor_predictor)
        variables = space_variables(space)
        built: list[tuple[AgentSpec | None, dict[str, Any]]] = []  # in trial order
        corona = space.peg_corona_fits and "PEG" in space.coatings

        def evaluate(batch: Sequence[Mapping[str, Any]]) -> list[Evaluation]:
            agents: list[AgentSpec | None] = []
            errors: list[str] = []
            for params in batch:
                number = len(built)
                try:
                    cand, design = build_agent(base, space, params, name=f"{base.name} · design {number}")
                    built.append((cand, design))
                    agents.append(cand)
                    errors.append("")
                except ValueError as exc:
                    built.append((None, dict(params)))
                    agents.append(None)
                    errors.append(f"invalid candidate: {exc}")
            ok = [a for a in agents if a is not None]
            values = ev.evaluate_agents(ok) if ok else {}
            out: list[Evaluation] = []
            n_ok = 0
            for maybe, error in zip(agents, errors, strict=True):
                if maybe is None:
                    out.append(Evaluation(None, {}, {}, error))
                    continue
                row = {k: float(v[n_ok]) for k, v in values.items()}
                n_ok += 1
                cons = {str(lim): lim.violation(row[lim.key]) for lim in limits}
                if corona:
                    cons[_CORONA_CONSTRAINT] = peg_corona_excess_nm(maybe)
                bad = [k for k in all_keys if not math.isfinite(row[k])]
                if bad:
                    out.append(Evaluation(None, cons, row, f"no finite value for {', '.join(bad)}"))
                else:
                    out.append(Evaluation(tuple(row[k] for k in keys), cons, row))
            return out

        # the base agent as it is: the reference point of the table and the plot
        warnings: list[str] = []
        try:
            baseline_values = ev.evaluate_agents([base])
            baseline = {k: float(v[0]) for k, v in baseline_values.items() if k in all_keys}
        except ValueError as exc:  # e.g. the base's own label does not suit the chosen modality
            baseline = {}
            warnings.append(f"base agent {base.name!r} not evaluated: {exc}")

        t0 = time.perf_counter()
        trials_raw = nsga2_search(
            variables,
            evaluate,
            directions,
            n_trials=settings.n_trials,
            population_size=settings.population_size,
            seed=settings.seed,
            progress=progress,
        )
        t_opt = time.perf_counter() - t0

        records: list[TrialRecord] = []
        designs_by_trial: dict[int, dict[str, Any]] = {}
        agents_by_trial: dict[int, AgentSpec] = {}
        for tr, (cand, design) in zip(trials_raw, built, strict=True):
            designs_by_trial[tr.number] = design
            if cand is not None:
                agents_by_trial[tr.number] = cand
            records.append(
                TrialRecord(
                    number=tr.number,
                    generation=tr.generation,
                    design=design,
                    values={k: float(v) for k, v in tr.evaluation.metrics.items() if k in all_keys},
                    constraints=dict(tr.evaluation.constraints),
                    feasible=tr.feasible,
                    complete=tr.complete,
                    message=tr.evaluation.message,
                )
            )

        feasible = [tr for tr in trials_raw if tr.feasible and tr.number in agents_by_trial]
        pareto_trials: list[SearchTrial] = []
        equivalent: dict[int, list[int]] = {}
        if feasible:
            vals = np.array([tr.evaluation.values for tr in feasible], dtype=float)
            mask = pareto_mask(vals, directions)
            # Designs with the same objective values (to 10 digits) are equivalent for the model,
            # e.g. a re-created design, or one differing only in what the model ignores (core
            # material without NIRF, zeta inside the neutral band): keep the first trial of each.
            first: dict[tuple[float, ...], SearchTrial] = {}
            for tr, m in zip(feasible, mask, strict=True):
                if not m:
                    continue
                key = tuple(float(f"{v:.10g}") for v in tr.evaluation.values or ())
                if key in first:
                    equivalent.setdefault(first[key].number, []).append(tr.number)
                else:
                    first[key] = tr
                    pareto_trials.append(tr)
            pareto_trials.sort(key=lambda tr: (tr.evaluation.values or (0.0,))[0])

        t1 = time.perf_counter()
        band_agents = [agents_by_trial[tr.number] for tr in pareto_trials] + ([base] if baseline else [])
        if progress is not None:
            progress("uncertainty bands", 0, len(band_agents))
        pop = ev.population(band_agents)
        pred = ev.predictor_values(band_agents)
        if progress is not None:
            progress("uncertainty bands", len(band_agents), len(band_agents))
        t_unc = time.perf_counter() - t1

        def bands_for(i: int) -> dict[str, Band]:
            out: dict[str, Band] = {}
            for k in keys:
                if k in PREDICTOR_OBJECTIVES:
                    lo_, mid, hi_ = (float(pred[k + s][i]) for s in ("_lo", "", "_hi"))
                    out[k] = Band(p5=lo_, p50=mid, p95=hi_)
                else:
                    out[k] = _bands(pop[k][i])
            return out

        pareto = [
            ParetoDesign(
                trial=tr.number,
                design=designs_by_trial[tr.number],
                agent=agents_by_trial[tr.number].model_dump(mode="json", exclude_none=True),
                values={k: float(v) for k, v in zip(keys, tr.evaluation.values or (), strict=True)},
                bands=bands_for(i),
                equivalent_trials=equivalent.get(tr.number, []),
            )
            for i, tr in enumerate(pareto_trials)
        ]
        baseline_bands = bands_for(len(pareto_trials)) if baseline else {}
        failed = [t for t in records if not t.complete]
        if failed:
            warnings.append(
                f"{len(failed)} of {len(records)} candidates failed, e.g. trial {failed[0].number}: "
                f"{failed[0].message}"
            )
        if not pareto_trials:
            warnings.append("no feasible candidate: relax the limits or the constraints, or run more trials")
        citations = list(used.keys)

    lo_u, hi_u = settings.mps_exponent_range
    uncertainty = (
        f"{settings.uncertainty_draws} virtual draws per design (common to all designs): tumour "
        f"parameters of a Nano-Tumor Database data set of the design's targeting group ({table.source}; "
        f"{len(table.values)} data sets) as ratios to the group median, and the ASSUMED magnitudes of "
        f"the size, charge and PEG factors of the phagocytic-uptake multiplier raised to powers "
        f"U({lo_u:g}, {hi_u:g}); bands are the 5/50/95 % percentiles"
        + (
            "; predictor objectives: the predictor's 90 % interval"
            if any(k in PREDICTOR_OBJECTIVES for k in keys)
            else ""
        )
    )
    fine_end_h = min(float(ev.times[-1]), max(168.0, math.ceil(settings.time_h)))
    assumptions = [
        "Core diameter of a candidate = the base's core/hydrodynamic diameter ratio x its "
        "hydrodynamic diameter.",
        "Targeting acts through the Nano-Tumor Database medians of actively vs passively targeted data sets "
        "(an association across studies, not a mechanism).",
        "Only size, charge and PEG change the PBPK model; other coatings act as an uncoated surface, "
        "the core material changes only the particle mass and biodegradability; labelling chemistry "
        "is not modelled.",
        "Tumour volume from the scenario; the other tumour parameters from the database (see uncertainty).",
        f"Simulated to {ev.times[-1]:g} h (hourly to {fine_end_h:g} h, then every 12 h).",
        *ev.notes,
    ]
    return DesignResult(
        base_agent=base.name,
        species=species,
        scenario=scenario.name,
        objectives=[
            ObjectiveInfo(
                key=o.key, label=o.label, unit=o.unit, direction=o.direction, description=o.description
            )
            for o in infos
        ],
        variables=[
            v.name for v in variables if not (isinstance(v, CategoricalVariable) and len(v.choices) == 1)
        ],
        constraints=space.describe_constraints(),
        limits=[str(lim) for lim in limits],
        baseline=baseline,
        baseline_bands=baseline_bands,
        trials=records,
        pareto=pareto,
        seed=settings.seed,
        settings={
            **settings.model_dump(),
            "space": space.model_dump(),
            "tumor_table": table.source,
            "horizon_h": float(ev.times[-1]),
            "sampler": "optuna NSGAIISampler",
        },
        uncertainty=uncertainty,
        assumptions=assumptions,
        citations=citations,
        timings_s={
            "optimisation": round(t_opt, 3),
            "uncertainty": round(t_unc, 3),
            "total": round(time.perf_counter() - started, 3),
        },
        subjects_simulated=ev.subjects,
        warnings=warnings,
    )


# ============================================================================================
# Figure
# ============================================================================================


def _axis_title(o: ObjectiveInfo) -> str:
    arrow = "↑" if o.direction == "maximize" else "↓"
    unit = "" if o.unit == "ratio" else f" [{o.unit}]"
    return f"{o.label}{unit} {arrow}"


def pareto_figure(result: DesignResult, *, title: str | None = None) -> go.Figure:
    """Plotly figure of the Pareto front with 5-95 % error bars.

    Two objectives: one panel; three or more: a lower-triangular scatter matrix of every pair.
    An axis is logarithmic when its values are positive and span more than a factor of 30.
    Grey dots: all feasible trials (nominal values); blue: the Pareto designs at the median of the
    virtual population with 5-95 % bars (hover: design, nominal value); black open circles: the
    nominal values the optimiser saw; red star: the base agent (median and bands).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    objs = result.objectives
    k = len(objs)
    if k < 2:
        raise ValueError("pareto_figure needs at least two objectives")
    feas = [t for t in result.trials if t.feasible]
    pairs = [(i, j) for i in range(1, k) for j in range(0, i)]
    n = k - 1
    fig = make_subplots(
        rows=n, cols=n, shared_xaxes=False, shared_yaxes=False, horizontal_spacing=0.08, vertical_spacing=0.08
    )

    def use_log(o: ObjectiveInfo) -> bool:
        xs = [t.values.get(o.key, float("nan")) for t in feas]
        for p in result.pareto:
            b = p.bands[o.key]
            xs += [b.p5, b.p95]
        arr = np.asarray([x for x in xs if math.isfinite(x)], dtype=float)
        return bool(arr.size and arr.min() > 0 and arr.max() / arr.min() > 30.0)

    log_axis = {o.key: use_log(o) for o in objs}

    def hover(p: ParetoDesign) -> str:
        parts = [f"trial {p.trial}"] + [f"{key}: {_short(v)}" for key, v in p.design.items()]
        parts += [f"{o.key} nominal {p.values[o.key]:.4g}" for o in objs]
        return "<br>".join(parts)

    for n_pair, (i, j) in enumerate(pairs):
        row, col = i, j + 1
        ox, oy = objs[j], objs[i]
        first = n_pair == 0
        fig.add_trace(
            go.Scatter(
                x=[t.values.get(ox.key) for t in feas],
                y=[t.values.get(oy.key) for t in feas],
                mode="markers",
                marker={"color": "rgba(150,150,150,0.45)", "size": 5},
                name="feasible trials (nominal)",
                legendgroup="trials",
                showlegend=first,
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
        px = [p.bands[ox.key].p50 for p in result.pareto]
        py = [p.bands[oy.key].p50 for p in result.pareto]
        fig.add_trace(
            go.Scatter(
                x=px,
                y=py,
                mode="markers",
                marker={"color": "#1f77b4", "size": 9},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [p.bands[ox.key].p95 - p.bands[ox.key].p50 for p in result.pareto],
                    "arrayminus": [p.bands[ox.key].p50 - p.bands[ox.key].p5 for p in result.pareto],
                    "thickness": 1,
                    "color": "rgba(31,119,180,0.5)",
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [p.bands[oy.key].p95 - p.bands[oy.key].p50 for p in result.pareto],
                    "arrayminus": [p.bands[oy.key].p50 - p.bands[oy.key].p5 for p in result.pareto],
                    "thickness": 1,
                    "color": "rgba(31,119,180,0.5)",
                },
                text=[hover(p) for p in result.pareto],
                hovertemplate="%{text}<extra>Pareto (median, 5-95 %)</extra>",
                name="Pareto designs: median, 5-95 %",
                legendgroup="pareto",
                showlegend=first,
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[p.values[ox.key] for p in result.pareto],
                y=[p.values[oy.key] for p in result.pareto],
                mode="markers",
                marker={"symbol": "circle-open", "color": "black", "size": 8},
                name="Pareto designs: nominal",
                legendgroup="nominal",
                showlegend=first,
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
        bx, by = result.baseline_bands.get(ox.key), result.baseline_bands.get(oy.key)
        if bx is not None and by is not None and math.isfinite(bx.p50) and math.isfinite(by.p50):
            fig.add_trace(
                go.Scatter(
                    x=[bx.p50],
                    y=[by.p50],
                    mode="markers",
                    marker={"symbol": "star", "color": "#d62728", "size": 13},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [bx.p95 - bx.p50],
                        "arrayminus": [bx.p50 - bx.p5],
                    },
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [by.p95 - by.p50],
                        "arrayminus": [by.p50 - by.p5],
                    },
                    name=f"base: {result.base_agent}",
                    legendgroup="base",
                    showlegend=first,
                ),
                row=row,
                col=col,
            )
        fig.update_xaxes(
            title_text=_axis_title(ox), type="log" if log_axis[ox.key] else "linear", row=row, col=col
        )
        fig.update_yaxes(
            title_text=_axis_title(oy), type="log" if log_axis[oy.key] else "linear", row=row, col=col
        )
    size = 520 if k == 2 else 330 * n
    fig.update_layout(
        title=title
        or f"Pareto front · {result.base_agent} · {result.species} · "
        f"{len(result.trials)} trials, seed {result.seed}",
        template="plotly_white",
        width=size + 260,
        height=size,
        legend={"orientation": "v", "x": 1.02, "y": 1.0},
    )
    return fig
