"""Objectives of inverse design: what a candidate particle is scored on, batched over subjects.

Every objective has a key, a unit, a direction and the model that computes it:

==================  =========  ========  ==================================================================
key                 unit       goal      computed by
==================  =========  ========  ==================================================================
``DE24``            %ID        maximize  PBPK tumour amount at 24 h (Cheng et al. 2020 mouse model family)
``DE168``           %ID        maximize  PBPK tumour amount at 168 h
``DEmax``           %ID        maximize  PBPK tumour maximum over the simulated horizon
``tumor_auc_168h``  %ID·h      maximize  trapezoidal AUC of the tumour amount over 0-168 h
``tbr``             ratio      maximize  tumour-to-background ratio at ``time_h`` (PET/SPECT/NIRF model)
``cnr``             ratio      maximize  contrast-to-noise ratio at ``time_h`` (PET/SPECT/NIRF model)
``retention_30d``   %ID        minimize  liver + spleen amount at 30 d (720 h)
``retention_90d``   %ID        minimize  liver + spleen amount at 90 d (2160 h)
``effective_dose``  mSv/MBq    minimize  ICRP 103 effective dose, MIRD with the bundled adult phantom
``organ_dose``      mGy/MBq    minimize  highest absorbed dose to a normal organ (tumour excluded)
``pred_DE24`` ...   %ID        maximize  an external delivery predictor (ML, with prediction intervals)
==================  =========  ========  ==================================================================

Aliases: ``delivery`` -> ``DE24``, ``contrast`` -> ``tbr``, ``retention`` -> ``retention_90d``,
``dose`` -> ``effective_dose`` for a human and ``organ_dose`` for an animal (the effective dose and
its tissue weights are defined for humans only; for an animal the MIRD model absorbs only electrons
and alphas locally, so ``organ_dose`` is a lower bound there).

The functions here take a batched :class:`~nanobridge.science.pbpk.biodistribution.Biodistribution`
(one subject per candidate, or per candidate x virtual-population draw) and return one value per
subject. The PBPK metrics are vectorised; imaging runs the science models subject by subject
(a few milliseconds each); dosimetry runs one vectorised MIRD call per radionuclide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.pbpk.biodistribution import Biodistribution

__all__ = [
    "ALIASES",
    "DOSE_OBJECTIVES",
    "IMAGING_MODALITIES",
    "IMAGING_OBJECTIVES",
    "OBJECTIVES",
    "PBPK_OBJECTIVES",
    "PREDICTOR_OBJECTIVES",
    "Direction",
    "ImagingOptions",
    "Objective",
    "default_scanner",
    "dose_values",
    "imaging_values",
    "imaging_values_shared",
    "pbpk_values",
    "required_horizon_h",
    "resolve_objective",
    "value_at",
]

Direction = Literal["maximize", "minimize"]

#: Modalities whose contrast can be an objective (MRI/CT contrast is not a design objective yet).
IMAGING_MODALITIES: tuple[str, ...] = ("pet", "spect", "nirf")

#: Hours in 30 and 90 days (the retention checkpoints).
HOURS_30D = 720.0
HOURS_90D = 2160.0


@dataclass(frozen=True)
class Objective:
    """One design objective: key, label, unit, direction and the model behind it."""

    key: str
    label: str
    unit: str
    direction: Direction
    description: str
    kind: Literal["pbpk", "imaging", "dose", "predictor"]
    horizon_h: float
    citations: tuple[str, ...]


_PBPK_CITES = ("Cheng2020", "Lin2016_gold_mouse")
_IMG_CITES = ("Cheng2020",)
_DOSE_CITES = ("MIRD2009", "ICRP103")

OBJECTIVES: dict[str, Objective] = {
    o.key: o
    for o in (
        Objective("DE24", "tumour delivery 24 h", "%ID", "maximize",
                  "PBPK tumour amount at 24 h", "pbpk", 168.0, _PBPK_CITES),
        Objective("DE168", "tumour delivery 168 h", "%ID", "maximize",
                  "PBPK tumour amount at 168 h", "pbpk", 168.0, _PBPK_CITES),
        Objective("DEmax", "tumour delivery max", "%ID", "maximize",
                  "PBPK maximum tumour amount over the simulated horizon", "pbpk", 168.0, _PBPK_CITES),
        Objective("tumor_auc_168h", "tumour AUC 0-168 h", "%ID·h", "maximize",
                  "trapezoidal AUC of the PBPK tumour amount over 0-168 h", "pbpk", 168.0, _PBPK_CITES),
        Objective("tbr", "tumour/background", "ratio", "maximize",
                  "tumour-to-background ratio at the chosen time (imaging model of the modality)",
                  "imaging", 168.0, _IMG_CITES),
        Objective("cnr", "contrast-to-noise", "ratio", "maximize",
                  "contrast-to-noise ratio at the chosen time (imaging model of the modality)",
                  "imaging", 168.0, _IMG_CITES),
        Objective("retention_30d", "liver+spleen 30 d", "%ID", "minimize",
                  "PBPK amount in liver and spleen at 30 days (720 h)", "pbpk", HOURS_30D, _PBPK_CITES),
        Objective("retention_90d", "liver+spleen 90 d", "%ID", "minimize",
                  "PBPK amount in liver and spleen at 90 days (2160 h)", "pbpk", HOURS_90D, _PBPK_CITES),
        Objective("effective_dose", "effective dose", "mSv/MBq", "minimize",
                  "ICRP 103 effective dose per injected activity (human; MIRD, bundled adult phantom)",
                  "dose", HOURS_90D, _DOSE_CITES),
        Objective("organ_dose", "max normal-organ dose", "mGy/MBq", "minimize",
                  "highest absorbed dose per injected activity to an organ other than the tumour "
                  "(MIRD; an animal gets local electron/alpha absorption only: a lower bound)",
                  "dose", HOURS_90D, ("MIRD2009",)),
        Objective("pred_DE24", "predicted DE24", "%ID", "maximize",
                  "tumour delivery at 24 h from the delivery predictor", "predictor", 168.0, ()),
        Objective("pred_DE168", "predicted DE168", "%ID", "maximize",
                  "tumour delivery at 168 h from the delivery predictor", "predictor", 168.0, ()),
        Objective("pred_Demax", "predicted Demax", "%ID", "maximize",
                  "maximum tumour delivery from the delivery predictor", "predictor", 168.0, ()),
    )
}  # fmt: skip

PBPK_OBJECTIVES = tuple(k for k, o in OBJECTIVES.items() if o.kind == "pbpk")
IMAGING_OBJECTIVES = tuple(k for k, o in OBJECTIVES.items() if o.kind == "imaging")
DOSE_OBJECTIVES = tuple(k for k, o in OBJECTIVES.items() if o.kind == "dose")
PREDICTOR_OBJECTIVES = tuple(k for k, o in OBJECTIVES.items() if o.kind == "predictor")

#: Friendly names; ``dose`` depends on the species (see the module docstring).
ALIASES: dict[str, str] = {
    "delivery": "DE24",
    "de24": "DE24",
    "de168": "DE168",
    "demax": "DEmax",
    "auc": "tumor_auc_168h",
    "tumor_auc": "tumor_auc_168h",
    "tumour_auc": "tumor_auc_168h",
    "contrast": "tbr",
    "retention": "retention_90d",
    "retention_30": "retention_30d",
    "retention_90": "retention_90d",
}


def resolve_objective(name: str, species: str) -> Objective:
    """The objective called ``name`` (a key or an alias, case-insensitive).

    Raises ``ValueError`` naming the value and the known names; ``effective_dose`` for an animal
    is an error that points to ``organ_dose``.
    """
    text = str(name).strip()
    key = text if text in OBJECTIVES else None
    if key is None:
        low = text.lower().replace("-", "_")
        if low == "dose":
            key = "effective_dose" if species == "human" else "organ_dose"
        else:
            key = ALIASES.get(low) or next((k for k in OBJECTIVES if k.lower() == low), None)
    if key is None:
        known = ", ".join([*OBJECTIVES, *ALIASES, "dose"])
        raise ValueError(f"objective {name!r} is not known; known: {known}")
    if key == "effective_dose" and species != "human":
        raise ValueError(
            f"objective {name!r}: the effective dose (ICRP 103 tissue weights) is defined for humans, "
            f"not for a {species}; use organ_dose (highest normal-organ absorbed dose) or --species human"
        )
    return OBJECTIVES[key]


def required_horizon_h(keys: Sequence[str], time_h: float) -> float:
    """Simulated time [h] the objectives need: at least 168 h and the imaging time."""
    horizon = max([168.0, float(time_h)] + [OBJECTIVES[k].horizon_h for k in keys])
    return float(math.ceil(horizon))


def value_at(times_h: NDArray[np.float64], values: NDArray[np.float64], t_h: float) -> NDArray[np.float64]:
    """Linear interpolation of ``values`` (subject x time) at ``t_h``; NaN outside the grid."""
    v = np.atleast_2d(np.asarray(values, dtype=float))
    t = np.asarray(times_h, dtype=float)
    if t_h < t[0] or t_h > t[-1] + 1e-9:
        return np.full(v.shape[0], np.nan)
    j = int(np.searchsorted(t, t_h, side="left"))
    if j < t.size and abs(t[j] - t_h) < 1e-9:
        return np.asarray(v[:, j], dtype=float)
    j = min(max(j, 1), t.size - 1)
    w = (t_h - t[j - 1]) / (t[j] - t[j - 1])
    return np.asarray((1.0 - w) * v[:, j - 1] + w * v[:, j], dtype=float)


# --------------------------------------------------------------------------------------------
# PBPK objectives (vectorised)
# --------------------------------------------------------------------------------------------


def pbpk_values(bd: Biodistribution, keys: Sequence[str]) -> dict[str, NDArray[np.float64]]:
    """PBPK objectives per subject; a key whose time lies beyond the simulation gives NaN."""
    t = bd.times_h
    amount = bd.data["amount_pct_id"]
    tumor = np.asarray(amount.sel(organ="tumor").values, dtype=float)
    out: dict[str, NDArray[np.float64]] = {}
    for key in keys:
        if key == "DE24":
            out[key] = value_at(t, tumor, 24.0)
        elif key == "DE168":
            out[key] = value_at(t, tumor, 168.0)
        elif key == "DEmax":
            out[key] = tumor.max(axis=1)
        elif key == "tumor_auc_168h":
            mask = t <= 168.0 + 1e-9
            tt, yy = t[mask], tumor[:, mask]
            auc = np.sum(0.5 * (yy[:, 1:] + yy[:, :-1]) * np.diff(tt), axis=1)
            out[key] = np.where(t[-1] >= 168.0 - 1e-9, auc, np.nan)
        elif key in ("retention_30d", "retention_90d"):
            mps = np.asarray(amount.sel(organ=["liver", "spleen"]).sum("organ").values, dtype=float)
            out[key] = value_at(t, mps, HOURS_30D if key == "retention_30d" else HOURS_90D)
        else:
            raise ValueError(
                f"{key!r} is not a PBPK objective; PBPK objectives: {', '.join(PBPK_OBJECTIVES)}"
            )
    return out


# --------------------------------------------------------------------------------------------
# Imaging objectives (per subject, through the science models)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagingOptions:
    """Settings of the imaging objectives (``tbr``, ``cnr``).

    ``scanner=None`` takes :func:`default_scanner`; ``activity_MBq=None`` the scenario's, else the
    label's; NIRF uses ``tissue`` and a lesion whose top lies at ``depth_mm``.
    """

    modality: str
    time_h: float = 24.0
    scanner: str | None = None
    scan_duration_min: float = 10.0
    activity_MBq: float | None = None
    depth_mm: float = 2.0
    tissue: str = "soft_tissue"
    background_organ: str = "muscle"

    def __post_init__(self) -> None:
        if self.modality not in IMAGING_MODALITIES:
            raise ValueError(
                f"modality {self.modality!r} cannot be a design objective; "
                f"allowed: {', '.join(IMAGING_MODALITIES)}"
            )
        if not (math.isfinite(self.time_h) and 0 < self.time_h <= HOURS_90D):
            raise ValueError(f"time_h {self.time_h!r}: imaging time must be in (0, {HOURS_90D:g}] h")
        if not (math.isfinite(self.depth_mm) and self.depth_mm > 0):
            raise ValueError(f"depth_mm {self.depth_mm!r}: must be a positive depth in mm")
        if not (math.isfinite(self.scan_duration_min) and self.scan_duration_min > 0):
            raise ValueError(f"scan_duration_min {self.scan_duration_min!r}: must be > 0 min")

    def scanner_for(self, species: str) -> str:
        return self.scanner or default_scanner(self.modality, species)


def default_scanner(modality: str, species: str) -> str:
    """Default scanner of the catalog: Inveon for small-animal PET, Biograph Vision for human PET,
    a clinical LEHR SPECT camera otherwise (the choices of ``nanobridge image``)."""
    if modality == "pet":
        return "biograph_vision" if species == "human" else "inveon"
    return "clinical_spect_lehr"


def _subject(bd: Biodistribution, i: int) -> Biodistribution:
    return Biodistribution(bd.data.isel(subject=[i]))


def _window(bd: Biodistribution, t_h: float) -> Biodistribution:
    """The biodistribution at the (one or two) grid times bracketing ``t_h``: the imaging models
    are pointwise in time, so this gives the same values at ``t_h`` for a fraction of the cost."""
    t = bd.times_h
    if t_h < t[0] or t_h > t[-1] + 1e-9:
        raise ValueError(f"time_h {t_h:g} h lies outside the simulated 0-{t[-1]:g} h")
    j = int(np.searchsorted(t, t_h, side="left"))
    idx = [j] if j < t.size and abs(t[j] - t_h) < 1e-9 else [j - 1, j]
    return Biodistribution(bd.data.isel(time=idx))


def imaging_values(
    bd: Biodistribution,
    agents: Sequence[AgentSpec],
    scenario: Scenario,
    keys: Sequence[str],
    options: ImagingOptions,
) -> tuple[dict[str, NDArray[np.float64]], list[str]]:
    """``tbr``/``cnr`` at ``options.time_h`` for subject ``i`` of ``bd`` labelled as ``agents[i]``.

    PET/SPECT: :func:`nanobridge.science.imaging.nuclear.nuclear_imaging` (tumour-to-background
    activity-concentration ratio; CNR of a scan starting at the time, Poisson noise). NIRF:
    :func:`nanobridge.science.imaging.optical.nirf_imaging` (diffusion-theory TBR and CNR of a lesion
    at ``depth_mm``). Returns the values and the models' assumptions (of the first subject).
    """
    if len(agents) != len(bd.subjects):
        raise ValueError(
            f"{len(agents)} agents for {len(bd.subjects)} subjects: one agent per subject needed"
        )
    wanted = [k for k in keys if k in IMAGING_OBJECTIVES]
    out = {k: np.full(len(agents), np.nan) for k in wanted}
    if not wanted:
        return out, []
    bd = _window(bd, options.time_h)
    # a tumour far below background gives huge minimum activities inside the models: harmless here
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        notes = _imaging_loop(bd, agents, scenario, wanted, options, out)
    return out, notes


#: Spacing [h] of the draws laid out along the time axis by :func:`imaging_values_shared`: small
#: enough that the physical decay between neighbours is negligible (1e-9 h x lambda).
_STACK_STEP_H = 1e-9


def imaging_values_shared(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    keys: Sequence[str],
    options: ImagingOptions,
) -> tuple[dict[str, NDArray[np.float64]], list[str]]:
    """:func:`imaging_values` for subjects that all carry the same ``agent`` (a virtual population
    of one design), in one model call.

    The imaging models score every time point independently, so the subjects' biodistributions at
    the grid times bracketing ``options.time_h`` are laid out along the time axis of one synthetic
    subject (successive entries 1e-9 h apart: the extra decay is below 1e-8 relative) and the model
    runs once. Requires equal organ masses and doses across the subjects (same species, body
    weight and tumour); otherwise it falls back to one call per subject. Equal, to rounding, to
    :func:`imaging_values` (tested).
    """
    wanted = [k for k in keys if k in IMAGING_OBJECTIVES]
    n = len(bd.subjects)
    if not wanted or n == 0:
        return {k: np.full(n, np.nan) for k in wanted}, []
    masses = np.asarray(bd.data["organ_mass_g"].values, dtype=float)
    dose = np.asarray(bd.data["dose_mg"].values, dtype=float) if "dose_mg" in bd.data else None
    same = np.allclose(masses, masses[0], rtol=1e-12, atol=0.0, equal_nan=True) and (
        dose is None or np.allclose(dose, dose[0], rtol=1e-12, atol=0.0)
    )
    if not same:
        return imaging_values(bd, [agent] * n, scenario, keys, options)
    win = _window(bd, options.time_h)
    t_grid = win.times_h
    frac = (
        np.asarray(win.data["amount_pct_id"].transpose("subject", "time", "organ").values, dtype=float)
        / 100.0
    )
    # (subject, time, organ) -> (1, time x subject, organ): time-major, subjects side by side
    stacked = np.transpose(frac, (1, 0, 2)).reshape(1, len(t_grid) * n, frac.shape[2])
    times = np.concatenate([t + _STACK_STEP_H * np.arange(n) for t in t_grid])
    one = Biodistribution.from_arrays(
        stacked,
        times,
        masses[:1],
        subject_ids=["population"],
        dose_mg=None if dose is None else dose[:1],
        attrs=dict(bd.data.attrs),
    )
    series: dict[str, NDArray[np.float64]] = {}
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if options.modality in ("pet", "spect"):
            from nanobridge.science.imaging.nuclear import nuclear_imaging

            r = nuclear_imaging(
                one,
                agent,
                scenario,
                scanner=options.scanner_for(scenario.species),
                scan_duration_min=options.scan_duration_min,
                activity_MBq=options.activity_MBq,
                background_organ=options.background_organ,
            )
            series = {"tbr": np.asarray(r.tumour_to_background), "cnr": np.asarray(r.cnr)}
            notes = list(r.assumptions)
        else:
            from nanobridge.science.imaging.optical import nirf_imaging

            f = nirf_imaging(
                one,
                agent,
                scenario,
                tissue=options.tissue,
                depth_mm=options.depth_mm,
                background_organ=options.background_organ,
                max_depth_mm=options.depth_mm,
                depth_step_mm=options.depth_mm,
            )
            series = {"tbr": np.asarray(f.tbr), "cnr": np.asarray(f.cnr)}
            notes = list(f.assumptions)
    out: dict[str, NDArray[np.float64]] = {}
    for k in wanted:
        per_time = np.asarray(series[k], dtype=float).reshape(len(t_grid), n)  # (time, subject)
        out[k] = value_at(t_grid, per_time.T, options.time_h)
    return out, notes


def _imaging_loop(
    bd: Biodistribution,
    agents: Sequence[AgentSpec],
    scenario: Scenario,
    wanted: Sequence[str],
    options: ImagingOptions,
    out: dict[str, NDArray[np.float64]],
) -> list[str]:
    notes: list[str] = []
    if options.modality in ("pet", "spect"):
        from nanobridge.science.imaging.nuclear import nuclear_imaging

        scanner = options.scanner_for(scenario.species)
        for i, agent in enumerate(agents):
            r = nuclear_imaging(
                _subject(bd, i),
                agent,
                scenario,
                scanner=scanner,
                scan_duration_min=options.scan_duration_min,
                activity_MBq=options.activity_MBq,
                background_organ=options.background_organ,
            )
            times = np.asarray(r.time_h, dtype=float)
            series = {"tbr": r.tumour_to_background, "cnr": r.cnr}
            for k in wanted:
                out[k][i] = float(value_at(times, np.asarray(series[k], dtype=float), options.time_h)[0])
            if i == 0:
                notes = list(r.assumptions)
    else:
        from nanobridge.science.imaging.optical import nirf_imaging

        for i, agent in enumerate(agents):
            n = nirf_imaging(
                _subject(bd, i),
                agent,
                scenario,
                tissue=options.tissue,
                depth_mm=options.depth_mm,
                background_organ=options.background_organ,
                max_depth_mm=options.depth_mm,
                depth_step_mm=options.depth_mm,
            )
            times = np.asarray(n.times_h, dtype=float)
            series = {"tbr": n.tbr, "cnr": n.cnr}
            for k in wanted:
                out[k][i] = float(value_at(times, np.asarray(series[k], dtype=float), options.time_h)[0])
            if i == 0:
                notes = list(n.assumptions)
    return notes


# --------------------------------------------------------------------------------------------
# Dose objectives (one vectorised MIRD call per radionuclide)
# --------------------------------------------------------------------------------------------


def dose_values(
    bd: Biodistribution,
    agents: Sequence[AgentSpec],
    scenario: Scenario,
    keys: Sequence[str],
    dose_factors: Any = None,
) -> tuple[dict[str, NDArray[np.float64]], list[str]]:
    """``effective_dose`` [mSv/MBq] and/or ``organ_dose`` [mGy/MBq] per subject.

    :func:`nanobridge.science.dosimetry.absorbed_doses` with ``dose_factors`` (default
    :func:`~nanobridge.science.dosimetry.mird.default_dose_factors` of the species: the bundled
    adult phantom for a human, local absorption for an animal), one call per radionuclide.
    ``organ_dose`` is the highest absorbed dose over the MIRD targets other than the tumour.
    Returns the values and the dosimetry assumptions (of the first call).
    """
    from nanobridge.science.dosimetry.mird import absorbed_doses, default_dose_factors

    if len(agents) != len(bd.subjects):
        raise ValueError(
            f"{len(agents)} agents for {len(bd.subjects)} subjects: one agent per subject needed"
        )
    wanted = [k for k in keys if k in DOSE_OBJECTIVES]
    out = {k: np.full(len(agents), np.nan) for k in wanted}
    if not wanted:
        return out, []
    factors = dose_factors if dose_factors is not None else default_dose_factors(scenario.species)
    groups: dict[str, list[int]] = {}
    for i, agent in enumerate(agents):
        label = agent.labels.radionuclide
        if label is None:
            raise ValueError(
                f"agent {agent.name!r} carries no radionuclide (labels.radionuclide): the dose "
                f"objective(s) {', '.join(wanted)} need one"
            )
        groups.setdefault(label.nuclide, []).append(i)
    notes: list[str] = []
    for idx in groups.values():
        sub = Biodistribution(bd.data.isel(subject=idx))
        report = absorbed_doses(sub, agents[idx[0]], scenario, factors)
        if "effective_dose" in wanted:
            if report.effective_dose_mSv_per_MBq is None:
                raise ValueError(f"no effective dose for species {scenario.species!r}: use organ_dose")
            out["effective_dose"][idx] = np.asarray(report.effective_dose_mSv_per_MBq.values, dtype=float)
        if "organ_dose" in wanted:
            absorbed = report.absorbed_dose_mGy_per_MBq
            normal = [str(t) for t in absorbed["target"].values if str(t) != "tumor"]
            out["organ_dose"][idx] = np.asarray(absorbed.sel(target=normal).max("target").values, dtype=float)
        if not notes:
            notes = list(report.assumptions)
    return out, notes
