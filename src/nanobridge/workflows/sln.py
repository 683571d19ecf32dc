"""Sentinel lymph node (SLN) mapping: node time course, ratios, imaging window and node imaging.

For a biodistribution of an interstitial route (``subcutaneous``, ``intradermal``,
``peritumoral``; :mod:`nanobridge.science.pbpk.lymphatic`) this workflow reports

- %ID in the first (sentinel) and second-echelon nodes and at the injection site over time;
- node-to-injection-site (amount, i.e. count) and node-to-background (concentration) ratios;
- the imaging window: times when node 1 is bright (at least ``bright_fraction`` of its peak) and
  node 2 is not yet (below ``second_node_fraction`` of node 1), and the first time node 2 reaches
  10 % of node 1 (the '10 % rule' of Martin et al. 2000: such a node would be removed too);
- NIR fluorescence of node 1 through skin and subcutaneous fat (the diffusion model of
  :mod:`nanobridge.science.imaging.optical`, one homogenized skin+fat layer);
- PET/SPECT counts and contrast-to-noise of node 1 against the surrounding tissue.

:func:`compare_sln_agents` runs an agent next to the clinical references (filtered
99mTc-sulfur colloid and indocyanine green, ``data/examples/sln/agents``) in the same scenario.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict, Field

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, Scenario, load_agent, load_scenario
from nanobridge.science.imaging.optical import NIRFImagingResult, nirf_imaging
from nanobridge.science.imaging.tissue_optics import TissueComposition, tissue
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import simulate_agent
from nanobridge.science.pbpk.solver import SolverOptions

__all__ = [
    "ADIPOSE_LAYER",
    "DEMO_SLN_REFERENCES",
    "DEMO_SLN_SCENARIOS",
    "REFERENCE_AGENTS",
    "SLNAssessment",
    "SLNDemo",
    "SLNNuclearResult",
    "SLNTimeCourse",
    "assess_sln",
    "compare_sln_agents",
    "example_sln_agent",
    "example_sln_scenario",
    "skin_fat_tissue",
    "sln_demo",
    "sln_figure",
    "sln_nirf",
    "sln_nuclear",
    "sln_time_course",
]

#: Subcutaneous fat over the node, for the homogenized skin+fat optics. ASSUMED values: adipose
#: tissue holds little water and blood; its scattering is taken as Jacques 2013's generic soft
#: tissue (a, b); lipid absorption (small in NIR-I, peaks near 930 and 1210 nm) is not modelled.
ADIPOSE_LAYER: dict[str, Any] = {
    "scattering_a_per_cm": 18.9,
    "scattering_b": 1.286,
    "blood_fraction": 0.005,
    "oxygen_saturation": 0.75,
    "water_fraction": 0.2,
    "citation": "Assumed",
}
#: Clinical reference agents packaged for comparison (``data/examples/sln/agents``).
REFERENCE_AGENTS: tuple[str, ...] = ("tc99m_sulfur_colloid", "indocyanine_green")
#: The 10 % rule (Martin2000): nodes with >= 10 % of the hottest node's count are removed.
TEN_PERCENT_RULE = 0.1


def _examples_dir() -> Path:
    with resources.as_file(resources.files("nanobridge") / "data" / "examples" / "sln") as path:
        return Path(path)


def example_sln_agent(name: str) -> AgentSpec:
    """A packaged SLN agent: ``cdot_sln`` or a reference of :data:`REFERENCE_AGENTS`."""
    path = _examples_dir() / "agents" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (_examples_dir() / "agents").glob("*.yaml"))
        raise ValueError(f"no packaged SLN agent {name!r}; known: {', '.join(known)}")
    return load_agent(path)


def example_sln_scenario(name: str) -> Scenario:
    """A packaged SLN scenario, e.g. ``mouse_footpad_sc`` or ``human_breast_peritumoral``."""
    path = _examples_dir() / "scenarios" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (_examples_dir() / "scenarios").glob("*.yaml"))
        raise ValueError(f"no packaged SLN scenario {name!r}; known: {', '.join(known)}")
    return load_scenario(path)


# -- time course -----------------------------------------------------------------------------


class SLNTimeCourse(BaseModel):
    """Node, injection-site and blood amounts over time and the derived ratios and window."""

    model_config = ConfigDict(frozen=True)

    agent_name: str
    species: str
    route: str
    injection_site: str
    first_node: str
    second_node: str
    background_organ: str
    times_h: list[float]
    node_1_pct_id: list[float]
    node_2_pct_id: list[float]
    injection_site_pct_id: list[float]
    blood_pct_id: list[float]
    node_1_pct_id_per_g: list[float]
    node_1_to_injection_site: list[float] = Field(description="amount (count) ratio")
    node_1_to_background: list[float] = Field(description="concentration ratio, %ID/g over %ID/g")
    node_2_to_node_1: list[float]
    peak_node_1_pct_id: float
    peak_node_1_time_h: float
    bright_fraction: float
    second_node_fraction: float
    window_start_h: float | None = Field(description="None: no time satisfies both criteria")
    window_end_h: float | None
    second_node_10pct_time_h: float | None = Field(description="first time node 2 >= 10 % of node 1")
    depot_half_life_h: float
    lymph_fraction: float
    node_retention_per_pass: float
    assumptions: list[str]
    citation_keys: list[str]

    @property
    def window_h(self) -> float:
        """Length of the imaging window [h] (0 when there is none)."""
        if self.window_start_h is None or self.window_end_h is None:
            return 0.0
        return self.window_end_h - self.window_start_h

    def at(self, name: str, time_h: float) -> float:
        """A time-course field (e.g. ``'node_1_pct_id'``) linearly interpolated at ``time_h``."""
        values = getattr(self, name)
        if not isinstance(values, list):
            raise ValueError(f"{name!r} is not a time course of this result")
        if not self.times_h[0] <= time_h <= self.times_h[-1]:
            raise ValueError(
                f"time_h={time_h!r} outside the simulated {self.times_h[0]:g}-{self.times_h[-1]:g} h"
            )
        return float(np.interp(time_h, self.times_h, values))


def _require_interstitial(bd: Biodistribution) -> None:
    missing = [o for o in ("injection_site", "lymph_node_1", "lymph_node_2") if o not in bd.organs]
    if missing:
        raise ValueError(
            f"the biodistribution has no {', '.join(missing)}: SLN analysis needs an interstitial route "
            f"(route {bd.data.attrs.get('route', 'iv')!r}; use subcutaneous, intradermal or peritumoral)"
        )


def _first_interval(mask: np.ndarray, times: np.ndarray) -> tuple[float | None, float | None]:
    """First run of ``mask``: its first time and the first sampled time after it where the mask
    fails (the run's last time if it lasts to the end)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None, None
    start = int(idx[0])
    breaks = np.flatnonzero(np.diff(idx) > 1)
    last = int(idx[breaks[0]]) if breaks.size else int(idx[-1])
    end = min(last + 1, times.size - 1)
    return float(times[start]), float(times[end])


def sln_time_course(
    bd: Biodistribution,
    *,
    subject: int = 0,
    background_organ: str = "muscle",
    bright_fraction: float = 0.5,
    second_node_fraction: float = 0.5,
) -> SLNTimeCourse:
    """Node time course, ratios and imaging window of one subject of an interstitial biodistribution.

    Window: times when node 1 holds at least ``bright_fraction`` of its peak amount and node 2
    less than ``second_node_fraction`` of node 1 (both criteria are choices, defaults assumed;
    ``second_node_fraction=0.1`` applies the 10 % rule). Raises ``ValueError`` for an IV
    biodistribution, an unknown background organ or fractions outside (0, 1].
    """
    _require_interstitial(bd)
    for name, value in (("bright_fraction", bright_fraction), ("second_node_fraction", second_node_fraction)):
        if not (math.isfinite(value) and 0 < value <= 1):
            raise ValueError(f"{name}={value!r} must be in (0, 1]")
    if background_organ not in bd.organs or background_organ in ("urine", "feces"):
        raise ValueError(f"background_organ={background_organ!r}; allowed: {', '.join(bd.organs[:-2])}")
    ds = bd.data.isel(subject=subject)
    t = bd.times_h
    amt = ds["amount_pct_id"]
    conc = ds["conc_pct_id_per_g"]
    n1 = np.asarray(amt.sel(organ="lymph_node_1").values, dtype=float)
    n2 = np.asarray(amt.sel(organ="lymph_node_2").values, dtype=float)
    site = np.asarray(amt.sel(organ="injection_site").values, dtype=float)
    c1 = np.asarray(conc.sel(organ="lymph_node_1").values, dtype=float)
    cbg = np.asarray(conc.sel(organ=background_organ).values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_site = np.where(site > 0, n1 / site, np.inf)
        to_bg = np.where(cbg > 0, c1 / cbg, np.inf)
        n2_n1 = np.where(n1 > 0, n2 / n1, np.nan)
    i_peak = int(np.argmax(n1))
    bright = n1 >= bright_fraction * n1[i_peak]
    apart = n2 < second_node_fraction * n1
    start, end = _first_interval(bright & apart & (n1 > 0), t)
    rule = np.flatnonzero((n1 > 0) & (n2 >= TEN_PERCENT_RULE * n1))
    attrs = bd.data.attrs
    keys = sorted({*(str(k) for k in attrs.get("citations", [])), "Martin2000", "Assumed"})
    cite(*keys)

    def fl(x: np.ndarray) -> list[float]:
        return [float(v) for v in x]

    return SLNTimeCourse(
        agent_name=str(attrs.get("agent", "")),
        species=str(attrs.get("species", "")),
        route=str(attrs.get("route", "")),
        injection_site=str(attrs.get("injection_site", "")),
        first_node=str(attrs.get("first_node", "node 1")),
        second_node=str(attrs.get("second_node", "node 2")),
        background_organ=background_organ,
        times_h=fl(t),
        node_1_pct_id=fl(n1),
        node_2_pct_id=fl(n2),
        injection_site_pct_id=fl(site),
        blood_pct_id=fl(np.asarray(amt.sel(organ="blood").values, dtype=float)),
        node_1_pct_id_per_g=fl(c1),
        node_1_to_injection_site=fl(to_site),
        node_1_to_background=fl(to_bg),
        node_2_to_node_1=fl(n2_n1),
        peak_node_1_pct_id=float(n1[i_peak]),
        peak_node_1_time_h=float(t[i_peak]),
        bright_fraction=bright_fraction,
        second_node_fraction=second_node_fraction,
        window_start_h=start,
        window_end_h=end,
        second_node_10pct_time_h=float(t[rule[0]]) if rule.size else None,
        depot_half_life_h=float(attrs.get("depot_half_life_h", math.nan)),
        lymph_fraction=float(attrs.get("lymph_fraction", math.nan)),
        node_retention_per_pass=float(attrs.get("node_retention_per_pass", math.nan)),
        assumptions=[
            f"node 1 bright: >= {bright_fraction:g} x its peak amount; node 2 'not yet': "
            f"< {second_node_fraction:g} x node 1 (criteria chosen, assumed)",
            "node 1 and 2 lump the nodes of their echelon; a monodisperse particle",
            f"node-to-background: node 1 concentration over {background_organ} concentration (1 g/mL)",
        ],
        citation_keys=keys,
    )


# -- NIR fluorescence through skin and fat -----------------------------------------------------


def skin_fat_tissue(skin_thickness_mm: float, fat_thickness_mm: float) -> TissueComposition:
    """One homogenized layer for skin over subcutaneous fat: thickness-weighted chromophore
    fractions and scattering parameters of the packaged ``skin`` and :data:`ADIPOSE_LAYER`
    (an approximation of a two-layer medium by the diffusion model's single half-space)."""
    for name, v in (("skin_thickness_mm", skin_thickness_mm), ("fat_thickness_mm", fat_thickness_mm)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name}={v!r} must be a finite thickness >= 0 mm")
    total = skin_thickness_mm + fat_thickness_mm
    if total <= 0:
        raise ValueError("skin_thickness_mm + fat_thickness_mm must be > 0")
    skin = tissue("skin")
    w = skin_thickness_mm / total
    fat = ADIPOSE_LAYER

    def mix(name: str) -> float:
        return w * float(getattr(skin, name)) + (1 - w) * float(fat[name])

    return TissueComposition(
        name=f"skin_{skin_thickness_mm:g}mm_over_fat_{fat_thickness_mm:g}mm",
        description="skin over subcutaneous fat, one homogenized layer (thickness-weighted)",
        scattering_a_per_cm=mix("scattering_a_per_cm"),
        scattering_b=mix("scattering_b"),
        blood_fraction=mix("blood_fraction"),
        oxygen_saturation=mix("oxygen_saturation"),
        water_fraction=mix("water_fraction"),
        melanosome_fraction=0.0,
        assumed=True,
        note="skin: packaged 'skin' tissue; fat: ADIPOSE_LAYER (assumed); lipid absorption not modelled",
        citation_keys=tuple(dict.fromkeys((*skin.citation_keys, "Assumed"))),
    )


def sln_nirf(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    *,
    depth_mm: float | None = None,
    background_organ: str = "muscle",
    **kwargs: Any,
) -> NIRFImagingResult:
    """NIR fluorescence of the first node at its depth under skin and fat (site catalog depth
    unless ``depth_mm`` is given); other keywords go to
    :func:`~nanobridge.science.imaging.optical.nirf_imaging`."""
    _require_interstitial(bd)
    site = scenario.injection_site_entry
    if site is None:
        raise ValueError("scenario.injection_site is None: SLN imaging needs an interstitial route")
    skin_mm = site.skin_thickness_mm
    fat_mm = site.fat_thickness_mm if depth_mm is None else max(0.0, float(depth_mm) - skin_mm)
    depth = site.node_1_depth_mm if depth_mm is None else float(depth_mm)
    layer = skin_fat_tissue(skin_mm, max(fat_mm, 1e-3))
    volume_mm3 = float(bd.data["organ_mass_g"].isel(subject=0).sel(organ="lymph_node_1")) * 1000.0
    cite(*site.citation_keys())
    return nirf_imaging(
        bd,
        agent,
        scenario,
        tissue=layer,
        depth_mm=depth,
        target_organ="lymph_node_1",
        background_organ=background_organ,
        target_volume_mm3=volume_mm3,
        **kwargs,
    )


# -- PET / SPECT node counts ----------------------------------------------------------------


class SLNNuclearResult(BaseModel):
    """Counts of a node-sized ROI over node 1 and over the surrounding tissue during a scan."""

    model_config = ConfigDict(frozen=True)

    nuclide: str
    modality: str
    scanner: str
    injected_activity_MBq: float
    scan_duration_min: float
    node_diameter_mm: float
    effective_fwhm_mm: float
    recovery_coefficient: float
    times_h: list[float]
    node_1_activity_MBq: list[float] = Field(description="physical (decayed) activity in node 1")
    injection_site_activity_MBq: list[float]
    node_counts: list[float]
    background_counts: list[float]
    cnr: list[float]
    node_to_injection_site_counts: list[float]
    best_time_h: float
    best_cnr: float
    assumptions: list[str]
    citation_keys: list[str]


def sln_nuclear(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    *,
    scanner: str | None = None,
    scan_duration_min: float = 10.0,
    background_organ: str = "muscle",
) -> SLNNuclearResult:
    """PET or SPECT counts of node 1: ``N = S y_rel A_ROI(t) integral(decay) `` with partial-volume
    recovery of a node-sized sphere (as :func:`~nanobridge.science.imaging.nuclear.nuclear_imaging`
    does for a tumour), Poisson noise of the background ROI, and the node-to-injection-site count
    ratio (shine-through of the injection site is the practical limit of lymphoscintigraphy)."""
    from nanobridge.domain import radionuclides
    from nanobridge.science.imaging import nuclear

    _require_interstitial(bd)
    label = agent.labels.radionuclide
    if label is None:
        raise ValueError(f"agent {agent.name!r} has no radionuclide label: PET/SPECT node counts need one")
    if not (math.isfinite(scan_duration_min) and scan_duration_min > 0):
        raise ValueError(f"scan_duration_min={scan_duration_min!r} must be > 0")
    nuc = label.nuclide
    mode = radionuclides().get(nuc).imaging_modality
    if mode is None:
        raise ValueError(f"{nuc} cannot be imaged by PET or SPECT")
    if scanner is None:
        scanner = (
            "clinical_spect_lehr"
            if mode == "SPECT"
            else ("inveon" if scenario.species == "mouse" else "biograph_vision")
        )
    scn = nuclear.scanner(scanner)
    if scn.modality != mode:
        raise ValueError(f"scanner {scn.key!r} is {scn.modality}; {nuc} needs a {mode} scanner")
    a0 = scenario.activity_MBq or label.activity_MBq
    if a0 is None:
        raise ValueError("give scenario.activity_MBq or labels.radionuclide.activity_MBq")
    em = nuclear.nuclide_emission(nuc)
    if mode == "PET":
        ref = (
            1.0
            if scn.sensitivity_reference == "positron"
            else (nuclear.nuclide_emission(scn.sensitivity_reference).positron_yield_per_decay or 1.0)
        )
        y_rel = (em.positron_yield_per_decay or 0.0) / ref
    else:
        y_rel = (em.photon_yield_per_decay or 0.0) / (
            nuclear.nuclide_emission(scn.sensitivity_reference).photon_yield_per_decay or 1.0
        )
    ds = bd.data.isel(subject=0)
    t = bd.times_h
    mass_g = float(ds["organ_mass_g"].sel(organ="lymph_node_1"))
    diameter_mm = (6.0 * mass_g * 1000.0 / math.pi) ** (1.0 / 3.0)
    fwhm = nuclear.effective_fwhm_mm(scn, nuc)
    rc = nuclear.sphere_recovery_coefficient(diameter_mm, fwhm)
    lam = math.log(2.0) / nuclear.half_life_h(nuc)
    decays_h = np.exp(-lam * t) * -math.expm1(-lam * scan_duration_min / 60.0) / lam
    c_node = np.asarray(ds["conc_pct_id_per_g"].sel(organ="lymph_node_1").values) / 100 * a0 * 1000  # kBq/mL
    c_bg = np.asarray(ds["conc_pct_id_per_g"].sel(organ=background_organ).values) / 100 * a0 * 1000
    per_kbq_ml = scn.sensitivity_cps_per_kBq * y_rel * mass_g * decays_h * 3600.0
    n_node = (c_bg + rc * (c_node - c_bg)) * per_kbq_ml
    n_bg = c_bg * per_kbq_ml
    sigma = np.sqrt(np.maximum(n_bg, 0.0) / scn.nec_fraction)
    with np.errstate(divide="ignore", invalid="ignore"):
        cnr = np.where(sigma > 0, (n_node - n_bg) / sigma, np.where(n_node > n_bg, np.inf, 0.0))
        n1 = np.asarray(ds["amount_pct_id"].sel(organ="lymph_node_1").values)
        site = np.asarray(ds["amount_pct_id"].sel(organ="injection_site").values)
        ratio = np.where(site > 0, n1 / site, np.inf)
    finite = np.where(np.isfinite(cnr), cnr, -np.inf)
    i_best = int(np.argmax(finite))
    decay = np.exp(-lam * t)
    keys = list(dict.fromkeys([*scn.citation_keys(), *em.citation_keys(), "ICRP107", "Malins2022"]))
    cite(*keys)
    return SLNNuclearResult(
        nuclide=nuc,
        modality=mode,
        scanner=scn.key,
        injected_activity_MBq=float(a0),
        scan_duration_min=scan_duration_min,
        node_diameter_mm=diameter_mm,
        effective_fwhm_mm=fwhm,
        recovery_coefficient=rc,
        times_h=[float(x) for x in t],
        node_1_activity_MBq=[float(x) for x in n1 / 100 * a0 * decay],
        injection_site_activity_MBq=[float(x) for x in site / 100 * a0 * decay],
        node_counts=[float(x) for x in n_node],
        background_counts=[float(x) for x in n_bg],
        cnr=[float(x) if math.isfinite(x) else math.inf for x in cnr],
        node_to_injection_site_counts=[float(x) for x in ratio],
        best_time_h=float(t[i_best]),
        best_cnr=float(cnr[i_best]),
        assumptions=[
            "node ROI: a sphere of the node's volume, partial-volume recovery as for a tumour; "
            f"background ROI of equal volume in {background_organ}",
            "no scatter or shine-through from the injection site in the node ROI (reported as a ratio)",
            "Poisson noise of noise-equivalent counts only; no attenuation or reconstruction noise",
        ],
        citation_keys=keys,
    )


# -- the whole SLN assessment -----------------------------------------------------------------


class SLNAssessment(BaseModel):
    """Everything the SLN workflow says about one agent in one scenario."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    agent_name: str
    time_course: SLNTimeCourse
    nirf: NIRFImagingResult | None
    nuclear: SLNNuclearResult | None
    notes: list[str]


def assess_sln(
    agent: AgentSpec,
    scenario: Scenario,
    *,
    bd: Biodistribution | None = None,
    options: SolverOptions | None = None,
    bright_fraction: float = 0.5,
    second_node_fraction: float = 0.5,
) -> SLNAssessment:
    """Simulate (unless ``bd`` is given) and run the time course and every imaging model the
    agent's labels allow; a modality that cannot be assessed is explained in ``notes``."""
    if not scenario.is_interstitial:
        raise ValueError(
            f"scenario route is {scenario.route!r}: "
            "SLN mapping needs subcutaneous, intradermal or peritumoral"
        )
    bd = bd if bd is not None else simulate_agent(agent, scenario, options=options)
    tc = sln_time_course(bd, bright_fraction=bright_fraction, second_node_fraction=second_node_fraction)
    notes: list[str] = []
    nirf: NIRFImagingResult | None = None
    nuc: SLNNuclearResult | None = None
    if agent.labels.fluorophore is not None:
        try:
            nirf = sln_nirf(bd, agent, scenario)
        except ValueError as exc:
            notes.append(f"NIRF not assessed: {exc}")
    if agent.labels.radionuclide is not None:
        try:
            nuc = sln_nuclear(bd, agent, scenario)
        except ValueError as exc:
            notes.append(f"PET/SPECT not assessed: {exc}")
    return SLNAssessment(agent_name=agent.name, time_course=tc, nirf=nirf, nuclear=nuc, notes=notes)


def compare_sln_agents(
    agents: Sequence[AgentSpec], scenario: Scenario, *, options: SolverOptions | None = None
) -> list[dict[str, Any]]:
    """One row per agent in ``scenario``: node-1 peak, its time, %ID in nodes 1 and 2 at 1 h and
    24 h (NaN past the run), node-to-injection-site ratio at 1 h, depot half-time, window."""
    rows: list[dict[str, Any]] = []
    for agent in agents:
        tc = sln_time_course(simulate_agent(agent, scenario, options=options))

        def at(name: str, time_h: float, tc: SLNTimeCourse = tc) -> float:
            return tc.at(name, time_h) if time_h <= tc.times_h[-1] else math.nan

        rows.append(
            {
                "agent": agent.name,
                "hydrodynamic_diameter_nm": agent.hydrodynamic_diameter_nm,
                "depot_half_life_h": tc.depot_half_life_h,
                "lymph_fraction": tc.lymph_fraction,
                "node_retention_per_pass": tc.node_retention_per_pass,
                "peak_node_1_pct_id": tc.peak_node_1_pct_id,
                "peak_node_1_time_h": tc.peak_node_1_time_h,
                "node_1_pct_id_1h": at("node_1_pct_id", 1.0),
                "node_2_pct_id_1h": at("node_2_pct_id", 1.0),
                "node_1_pct_id_24h": at("node_1_pct_id", 24.0),
                "node_2_pct_id_24h": at("node_2_pct_id", 24.0),
                "node_1_to_injection_site_1h": at("node_1_to_injection_site", 1.0),
                "window_start_h": tc.window_start_h,
                "window_end_h": tc.window_end_h,
                "second_node_10pct_time_h": tc.second_node_10pct_time_h,
            }
        )
    return rows


# -- demo ------------------------------------------------------------------------------------

#: The demo's SLN runs: the C'-dot-like agent in these packaged scenarios.
DEMO_SLN_SCENARIOS: tuple[str, ...] = ("mouse_footpad_sc", "human_breast_peritumoral")
#: Agents compared with the C'-dot-like one in the human scenario (clinical references).
DEMO_SLN_REFERENCES: tuple[str, ...] = ("tc99m_sulfur_colloid", "indocyanine_green")


class SLNDemo(BaseModel):
    """The demo's SLN part: the C'-dot-like agent's assessments and a comparison table in the human
    scenario with the clinical reference agents."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    assessments: list[SLNAssessment]
    comparison_scenario: str
    comparison: list[dict[str, Any]]
    citation_keys: list[str]


def sln_demo() -> SLNDemo:
    """Run the demo's SLN scenarios (``cdot_sln`` in :data:`DEMO_SLN_SCENARIOS`) and compare it with
    99mTc-sulfur colloid and indocyanine green in the human scenario."""
    from nanobridge.citations import collect_citations

    with collect_citations() as used:
        agent = example_sln_agent("cdot_sln")
        agent.cite()
        runs = [assess_sln(agent, example_sln_scenario(name)) for name in DEMO_SLN_SCENARIOS]
        for run in runs:
            cite(*run.time_course.citation_keys)
        human = example_sln_scenario(DEMO_SLN_SCENARIOS[-1])
        refs = [example_sln_agent(name) for name in DEMO_SLN_REFERENCES]
        for ref in refs:
            ref.cite()
        table = compare_sln_agents([agent, *refs], human)
    return SLNDemo(
        assessments=runs,
        comparison_scenario=DEMO_SLN_SCENARIOS[-1],
        comparison=table,
        citation_keys=list(used.keys),
    )


def sln_figure(tc: SLNTimeCourse) -> go.Figure:
    """Injection site, first and second node and blood [%ID] over time, with the imaging window."""
    fig = go.Figure()
    for name, values, dash in (
        ("injection site", tc.injection_site_pct_id, "dot"),
        (f"node 1 ({tc.first_node})", tc.node_1_pct_id, "solid"),
        (f"node 2 ({tc.second_node})", tc.node_2_pct_id, "dash"),
        ("blood", tc.blood_pct_id, "dashdot"),
    ):
        fig.add_trace(go.Scatter(x=tc.times_h, y=values, mode="lines", name=name, line={"dash": dash}))
    if tc.window_start_h is not None and tc.window_end_h is not None:
        fig.add_vrect(
            x0=tc.window_start_h,
            x1=tc.window_end_h,
            fillcolor="#2ca02c",
            opacity=0.12,
            line_width=0,
            annotation_text="node 1 bright, node 2 not yet",
            annotation_position="top left",
        )
    fig.update_layout(
        title=f"{tc.agent_name}: {tc.route} at the {tc.species} {tc.injection_site}",
        xaxis_title="time after injection [h]",
        yaxis_title="amount [%ID]",
        yaxis_type="log",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
