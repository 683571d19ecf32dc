"""Run the nanoparticle PBPK model: one subject or many, from parameters or from an agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import build_lymphatic_system, build_system
from nanobridge.science.pbpk.solver import SolverOptions, solve_linear_batch

if TYPE_CHECKING:
    from nanobridge.domain import AgentSpec, Scenario
    from nanobridge.science.pbpk.parameters import ParameterSet

__all__ = [
    "MODEL_VERSION",
    "MPS_SCALED_PARAMETERS",
    "TUMOR_PARAMETERS",
    "AgentParameters",
    "agent_parameters",
    "output_times",
    "simulate",
    "simulate_agent",
]

#: Version of the model structure, recorded with every result.
MODEL_VERSION = (
    "Cheng2020-Lin2016 nano-PBPK, nanobridge revision 1 (liver venous return fixed, continuous-time uptake)"
)

#: The nine tumour parameters fitted per data set in the Nano-Tumor Database (Cheng et al. 2020).
TUMOR_PARAMETERS: tuple[str, ...] = (
    "KTRESrelease",
    "KTRESmax",
    "KTRES50",
    "KTRESn",
    "QTC",
    "VTC",
    "BVT",
    "PT",
    "PATC",
)

#: Phagocytic-cell uptake maxima scaled by the particle's surface properties (not the tumour's,
#: whose parameters come from a tumour calibration).
MPS_SCALED_PARAMETERS = ("KLRESmax", "KSRESmax", "KKRESmax", "KLuRESmax", "KMRESmax", "KRRESmax")


def output_times(duration_h: float, interval_h: float = 1.0) -> NDArray[np.float64]:
    """Sampling grid ``0, interval, ..., duration`` [h] (the end is always included)."""
    if not (duration_h > 0 and np.isfinite(duration_h)):
        raise ValueError(f"duration_h must be > 0, got {duration_h}")
    if not (0 < interval_h <= duration_h):
        raise ValueError(f"output interval must be in (0, duration], got {interval_h} h")
    t = np.arange(0.0, duration_h + 1e-9, interval_h)
    if t[-1] < duration_h - 1e-9:
        t = np.append(t, duration_h)
    return t


def simulate(
    params: Mapping[str, ArrayLike],
    body_weight_kg: ArrayLike,
    times_h: ArrayLike,
    *,
    renal_clearance_L_per_h: ArrayLike = 0.0,
    dose_mg: ArrayLike | None = None,
    options: SolverOptions | None = None,
    subject_ids: list[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
    reference_liver_return: bool = False,
    lymphatic: Mapping[str, ArrayLike] | None = None,
) -> Biodistribution:
    """Simulate an IV bolus, or an interstitial injection, for a batch of subjects.

    Every entry of ``params`` (published names, e.g. ``QCC``, ``KTRESmax``) and
    ``body_weight_kg`` may be a scalar or an array of length ``S``; one batched solve covers
    all subjects. ``lymphatic`` (rate constants and masses of
    :func:`~nanobridge.science.pbpk.model.build_lymphatic_system`, e.g. from
    :func:`nanobridge.science.pbpk.lymphatic.lymphatic_rates`) switches to an interstitial
    injection: the dose starts at the injection site and the result gains the organs
    ``injection_site``, ``lymph_node_1`` and ``lymph_node_2``.
    """
    if lymphatic is None:
        system = build_system(
            params, body_weight_kg, renal_clearance_L_per_h, reference_liver_return=reference_liver_return
        )
    else:
        system = build_lymphatic_system(
            params,
            body_weight_kg,
            lymphatic,
            renal_clearance_L_per_h,
            reference_liver_return=reference_liver_return,
        )
    t = np.asarray(times_h, dtype=float)
    opts = options or SolverOptions()
    frac, stats = solve_linear_batch(system, t, system.group_of_state, len(system.output_groups), opts)
    meta: dict[str, Any] = {
        "model": MODEL_VERSION,
        "solver": f"numba Rodas4, rtol={opts.rtol:g}, atol={opts.atol:g} (fraction of dose)",
        "mean_steps": float(np.mean(stats.accepted_steps)),
    }
    meta.update(attrs or {})
    return Biodistribution.from_arrays(
        frac,
        t,
        system.organ_mass_g,
        organs=system.output_groups,
        subject_ids=subject_ids,
        dose_mg=None if dose_mg is None else np.asarray(dose_mg, dtype=float),
        attrs=meta,
    )


@dataclass(frozen=True)
class AgentParameters:
    """The PBPK inputs derived for one agent in one scenario, with their provenance."""

    params: dict[str, float]
    body_weight_kg: float
    renal_clearance_L_per_h: float
    mps_multiplier: float
    parameter_set: str
    citations: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def agent_parameters(
    agent: AgentSpec,
    scenario: Scenario,
    parameter_set: str | ParameterSet | None = None,
    tumor_params: Mapping[str, float] | None = None,
) -> AgentParameters:
    """Adapt a species parameter set to an agent and a scenario.

    - renal clearance of the particle: GFR x glomerular sieving coefficient of its hydrodynamic
      diameter (:mod:`nanobridge.science.pbpk.properties`), added to the set's urinary clearance;
    - phagocytic uptake maxima (all organs but the tumour) x the size/charge/PEG multiplier;
    - tumour volume fraction from the scenario's tumour volume (density 1 g/mL);
    - ``tumor_params``: any of :data:`TUMOR_PARAMETERS` (e.g. a Nano-Tumor Database row) replace
      the set's tumour values — a published calibration replayed as is.
    """
    from nanobridge.science.pbpk import properties
    from nanobridge.science.pbpk.parameters import ParameterSet, default_parameter_set, load_parameter_set

    if parameter_set is None:
        pset = default_parameter_set(scenario.species)
    elif isinstance(parameter_set, ParameterSet):
        pset = parameter_set
    else:
        pset = load_parameter_set(parameter_set)
    if pset.species != scenario.species:
        raise ValueError(
            f"parameter set '{pset.name}' is for {pset.species}, "
            f"but the scenario's species is {scenario.species}"
        )
    params = dict(pset.as_dict())
    bw = float(scenario.body_weight_kg)
    notes: list[str] = []
    citations = set(pset.citation_keys())

    hd = float(agent.hydrodynamic_diameter_nm)
    gfr = params["GFR_L_per_h_per_kg"] * bw
    renal = float(properties.renal_clearance_L_per_h(hd, gfr))
    coating = agent.coating
    peg_mw = getattr(coating, "peg_mw_Da", None) if coating is not None else None
    peg_density = getattr(coating, "peg_density_chains_per_nm2", None) if coating is not None else None
    mult = float(properties.mps_uptake_multiplier(hd, float(agent.zeta_potential_mV), peg_mw, peg_density))
    for key in MPS_SCALED_PARAMETERS:
        params[key] = params[key] * mult
    citations |= set(properties.relations_citation_keys())
    notes.append(
        f"renal clearance {renal:.3g} L/h (GFR {gfr:.3g} L/h x sieving of {hd:g} nm); "
        f"phagocytic uptake x{mult:.3g} for size/charge/PEG"
    )

    tumor = getattr(scenario, "tumor", None)
    if tumor is not None and getattr(tumor, "volume_mm3", None):
        params["VTC"] = float(tumor.volume_mm3) * 1e-6 / bw  # mm3 -> L (kg at 1 g/mL) per kg BW
        perfusion = params.get("tumor_perfusion_mL_per_min_per_g")
        if perfusion is not None:
            # tumour flow = perfusion x tumour mass, as a fraction of cardiac output
            mass_g = float(tumor.volume_mm3) * 1e-3
            qc_L_per_h = params["QCC"] * bw**0.75
            params["QTC"] = perfusion * mass_g * 60.0 / 1000.0 / qc_L_per_h
            notes.append(
                f"tumour flow {perfusion:g} mL/min/g x {mass_g:.3g} g = {params['QTC']:.3g} of cardiac output"
            )
    if tumor_params:
        unknown = sorted(set(tumor_params) - set(TUMOR_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown tumour parameter(s) {unknown}; allowed: {', '.join(TUMOR_PARAMETERS)}")
        for key, value in tumor_params.items():
            v = float(value)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"tumour parameter {key} must be finite and >= 0, got {value}")
            params[key] = v
        notes.append("tumour parameters replayed from a calibration: " + ", ".join(sorted(tumor_params)))
        citations.add("Cheng2020")
    return AgentParameters(
        params=params,
        body_weight_kg=bw,
        renal_clearance_L_per_h=renal,
        mps_multiplier=mult,
        parameter_set=pset.name,
        citations=tuple(sorted(citations)),
        notes=notes,
    )


def simulate_agent(
    agent: AgentSpec,
    scenario: Scenario,
    *,
    parameter_set: str | ParameterSet | None = None,
    tumor_params: Mapping[str, float] | None = None,
    options: SolverOptions | None = None,
) -> Biodistribution:
    """Biodistribution of ``agent`` given to ``scenario`` by its route.

    ``iv``: a bolus into venous plasma. ``subcutaneous``, ``intradermal``, ``peritumoral``: a depot
    at ``scenario.injection_site`` draining through the lymphatics to the first and second lymph
    nodes and on to the venous blood, and through blood capillaries straight to the venous blood
    (:mod:`nanobridge.science.pbpk.lymphatic`); the whole-body model is the same.
    """
    from nanobridge.citations import cite

    route = str(getattr(scenario, "route", "iv"))
    ap = agent_parameters(agent, scenario, parameter_set, tumor_params)
    cite(*ap.citations)
    times = output_times(float(scenario.duration_h), float(scenario.output_interval_h))
    dose_mg_per_kg = getattr(scenario, "dose_mg_per_kg", None)
    dose_mg = None if dose_mg_per_kg is None else float(dose_mg_per_kg) * ap.body_weight_kg
    attrs: dict[str, Any] = {
        "agent": agent.name,
        "species": scenario.species,
        "body_weight_kg": ap.body_weight_kg,
        "parameter_set": ap.parameter_set,
        "route": route,
        "renal_clearance_L_per_h": ap.renal_clearance_L_per_h,
        "mps_multiplier": ap.mps_multiplier,
        "notes": "; ".join(ap.notes),
        "citations": list(ap.citations),
    }
    lymph_rates: dict[str, float] | None = None
    if route != "iv":
        from nanobridge.science.pbpk import lymphatic

        site = getattr(scenario, "injection_site", None)
        rates = lymphatic.lymphatic_rates(
            float(agent.hydrodynamic_diameter_nm),
            scenario.species,
            site,
            route,
            injection_volume_mL=getattr(scenario, "injection_volume_mL", None),
        )
        cite(*rates.citation_keys)
        lymph_rates = rates.as_engine_inputs()
        attrs.update(rates.attrs())
        attrs["notes"] = "; ".join([*ap.notes, *rates.notes])
        attrs["citations"] = sorted(set(ap.citations) | set(rates.citation_keys))
    return simulate(
        ap.params,
        ap.body_weight_kg,
        times,
        renal_clearance_L_per_h=ap.renal_clearance_L_per_h,
        dose_mg=dose_mg,
        options=options,
        subject_ids=[f"{agent.name}/{scenario.species}"],
        attrs=attrs,
        lymphatic=lymph_rates,
    )
