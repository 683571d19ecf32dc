"""Imaging performance of an agent, one modality at a time, in a uniform summary.

Each science model (``nanobridge.science.imaging``: nuclear, mri, ct, optical) returns its own
typed result; this workflow reduces it to what the CLI and the report show: headline figures
with units, a time series of contrast and contrast-to-noise, the assumptions and citations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.pbpk.biodistribution import Biodistribution

__all__ = ["MODALITIES", "Curve", "Headline", "ImagingSummary", "agent_modalities", "imaging_summary"]

#: Modalities `nanobridge image` knows, in the order reports show them.
MODALITIES: tuple[str, ...] = ("pet", "spect", "nirf", "mri", "ct")


@dataclass(frozen=True)
class Headline:
    name: str
    value: float | str | None
    unit: str
    meaning: str


@dataclass(frozen=True)
class Curve:
    """A second view of a modality's result: CNR vs activity or dose, signal vs depth."""

    x_label: str
    y_label: str
    x: list[float]
    y: list[float]
    threshold: float | None = None
    log_x: bool = False


@dataclass(frozen=True)
class ImagingSummary:
    """What one modality says about an agent in one scenario."""

    modality: str
    setting: str
    headlines: list[Headline]
    timeseries: pd.DataFrame  # time_h, contrast (target/background), cnr
    assumptions: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    curve: Curve | None = None


def _scaled_curve(
    x_label: str, base_x: float, base_cnr: float, exponent: float, threshold: float
) -> Curve | None:
    """CNR over 0.01-100 x a reference amount (widened to include the threshold crossing), for a
    CNR that scales as amount^exponent."""
    if not (base_x > 0 and np.isfinite(base_cnr) and base_cnr > 0):
        return None
    crossing = (threshold / base_cnr) ** (1.0 / exponent)
    lo, hi = min(1e-2, crossing / 3.0), max(1e2, crossing * 3.0)
    factors = np.logspace(np.log10(lo), np.log10(hi), 61)
    return Curve(
        x_label,
        "CNR at the best time",
        list(base_x * factors),
        list(base_cnr * factors**exponent),
        threshold,
        log_x=True,
    )


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _nuclear(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario, modality: str, **opts: Any
) -> ImagingSummary:
    from nanobridge.science.imaging.nuclear import nuclear_imaging

    default_scanner = "biograph_vision" if modality == "pet" else "clinical_spect_lehr"
    if scenario.species != "human" and modality == "pet":
        default_scanner = "inveon"
    scanner = opts.pop("scanner", None) or default_scanner
    r = nuclear_imaging(bd, agent, scenario, scanner=scanner, **opts)
    if r.modality.lower() != modality:
        raise ValueError(f"--modality {modality}: the agent's {r.nuclide} is imaged by {r.modality}")
    heads = [
        Headline("injected activity", r.injected_activity_MBq, "MBq", "activity given"),
        Headline(
            "scanner", r.scanner, "", f"{r.modality}, effective resolution {r.effective_fwhm_mm:.2g} mm FWHM"
        ),
        Headline("recovery coefficient", r.recovery_coefficient, "", "partial-volume recovery of the tumour"),
        Headline("best time (CNR)", r.best_time_cnr_h, "h", "time of the highest contrast-to-noise"),
        Headline(
            "best CNR", r.best_cnr, "", f"{r.scan_duration_min:g} min scan, tumour vs {r.background_organ}"
        ),
        Headline(
            "best time (T/B)",
            r.best_time_tumour_to_background_h,
            "h",
            "time of the highest tumour/background",
        ),
        Headline("best tumour/background", r.best_tumour_to_background, "", "activity concentration ratio"),
        Headline(
            "minimum activity",
            r.min_activity_MBq,
            "MBq",
            f"for CNR >= {r.rose_k:g} (Rose criterion), best time",
        ),
    ]
    ts = pd.DataFrame(
        {
            "time_h": r.time_h,
            "contrast": r.tumour_to_background,
            "cnr": r.cnr,
            "tumour_suv": r.suv.get("tumor"),
            "min_detectable_activity_MBq": [
                np.nan if v is None else v for v in r.min_detectable_activity_MBq
            ],
        }
    )
    # Poisson regime: CNR grows as the square root of the injected activity (tested in the model)
    curve = _scaled_curve("injected activity [MBq]", r.injected_activity_MBq, r.best_cnr, 0.5, r.rose_k)
    return ImagingSummary(
        modality, f"{r.nuclide} on {r.scanner}", heads, ts, list(r.assumptions), list(r.citations), curve
    )


def _mri(bd: Biodistribution, agent: AgentSpec, scenario: Scenario, **opts: Any) -> ImagingSummary:
    from nanobridge.science.imaging.mri import mri_contrast

    r = mri_contrast(bd, agent, scenario, **opts)
    tc = r.timecourse.isel(subject=0)
    heads = [
        Headline("field", r.field_T, "T", f"{r.sequence}, TR {r.TR_ms:g} ms, TE {r.TE_ms:g} ms"),
        Headline(
            "r1 / r2", f"{r.relaxivity.r1_per_mM_per_s:g} / {r.relaxivity.r2_per_mM_per_s:g}", "1/(mM s)", ""
        ),
        Headline("injected element", r.injected_element_mg, "mg", f"{r.element}"),
        Headline("best time", _f(r.best_time_h[0]), "h", "time of the highest contrast-to-noise"),
        Headline("best CNR", _f(r.max_cnr_agent[0]), "", f"tumour vs {r.background}, agent-added contrast"),
        Headline("minimum dose", _f(r.min_dose_mg_per_kg[0]), "mg/kg", f"for CNR >= {r.target_cnr:g}"),
    ]
    er_t = tc[f"enhancement_ratio_{r.target}"].values
    er_b = tc[f"enhancement_ratio_{r.background}"].values
    ts = pd.DataFrame(
        {
            "time_h": tc["time"].values,
            "contrast": er_t / er_b,
            "cnr": tc["cnr_agent"].values,
            f"conc_{r.target}_mM": tc[f"conc_{r.target}_mM"].values,
        }
    )
    return ImagingSummary(
        "mri", f"{r.element} at {r.field_T:g} T", heads, ts, list(r.assumptions), list(r.citations)
    )


def _ct(bd: Biodistribution, agent: AgentSpec, scenario: Scenario, **opts: Any) -> ImagingSummary:
    from nanobridge.science.imaging.ct import ct_contrast

    r = ct_contrast(bd, agent, scenario, **opts)
    tc = r.timecourse.isel(subject=0)
    heads = [
        Headline("tube voltage", r.kvp, "kVp", f"mean energy {r.mean_energy_keV:.3g} keV"),
        Headline("enhancement", r.hu_per_mg_per_mL, "HU per mg/mL", f"{r.element}"),
        Headline(
            "minimum detectable",
            r.min_detectable_mg_per_mL,
            "mg/mL",
            f"noise {r.noise_HU:g} HU, k={r.rose_k:g}",
        ),
        Headline("best time", _f(r.best_time_h[0]), "h", "time of the highest contrast-to-noise"),
        Headline("best CNR", _f(r.max_cnr[0]), "", f"tumour vs {r.background}"),
        Headline("minimum dose", _f(r.min_dose_mg_per_kg[0]), "mg/kg", f"for CNR >= {r.rose_k:g}"),
    ]
    ts = pd.DataFrame(
        {
            "time_h": tc["time"].values,
            "contrast": tc[f"delta_hu_{r.target}"].values - tc[f"delta_hu_{r.background}"].values,
            "cnr": tc["cnr"].values,
        }
    )
    # HU enhancement is linear in concentration, hence in dose (the PBPK model is linear)
    cnr_max = _f(r.max_cnr[0])
    curve = _scaled_curve("dose [mg/kg]", r.dose_mg_per_kg, cnr_max or float("nan"), 1.0, r.rose_k)
    return ImagingSummary(
        "ct", f"{r.element} at {r.kvp:g} kVp", heads, ts, list(r.assumptions), list(r.citations), curve
    )


def _nirf(bd: Biodistribution, agent: AgentSpec, scenario: Scenario, **opts: Any) -> ImagingSummary:
    from nanobridge.science.imaging.optical import nirf_imaging

    r = nirf_imaging(bd, agent, scenario, **opts)
    depth = r.max_detection_depth_mm
    heads = [
        Headline("dye", r.fluorophore, "", f"{r.window}, {r.excitation_nm:g}/{r.emission_nm:g} nm"),
        Headline("tissue", r.tissue, "", f"lesion top at {r.depth_mm:g} mm"),
        Headline(
            "excitation irradiance",
            r.irradiance_mW_per_cm2,
            "mW/cm²",
            f"skin MPE {r.mpe_mW_per_cm2:.3g} mW/cm²"
            + (" (capped to it)" if r.irradiance_capped_to_mpe else ""),
        ),
        Headline("best time", r.best_time_h, "h", "time of the highest contrast"),
        Headline("best TBR", r.best_tbr, "", f"tumour vs {r.background_organ}"),
        Headline("best CNR", r.best_cnr, "", "shot, read and background-heterogeneity noise"),
        Headline(
            "maximum detection depth",
            depth if depth is not None else "not detected",
            "mm" if depth is not None else "",
            f"criterion {r.criterion}: TBR >= {r.tbr_threshold:g}, CNR >= {r.cnr_threshold:g}",
        ),
    ]
    ts = pd.DataFrame({"time_h": r.times_h, "contrast": r.tbr, "cnr": r.cnr})
    setting = f"{r.fluorophore} in {r.tissue} at {r.depth_mm:g} mm"
    curve = Curve(
        "depth of the lesion's top [mm]",
        "tumour-to-background ratio at the best time",
        list(r.depths_mm),
        list(r.tbr_vs_depth),
        r.tbr_threshold,
    )
    return ImagingSummary("nirf", setting, heads, ts, list(r.assumptions), list(r.citation_keys), curve)


_DISPATCH: dict[str, Callable[..., ImagingSummary]] = {
    "nirf": _nirf,
    "pet": lambda bd, a, s, **o: _nuclear(bd, a, s, "pet", **o),
    "spect": lambda bd, a, s, **o: _nuclear(bd, a, s, "spect", **o),
    "mri": _mri,
    "ct": _ct,
}


_OF_LABEL = {"PET": "pet", "SPECT": "spect", "optical": "nirf", "MRI": "mri", "CT": "ct"}


def agent_modalities(agent: AgentSpec) -> list[str]:
    """The modalities (keys of :data:`MODALITIES`) that the agent's labels carry and nanobridge models."""
    return [m for m in (_OF_LABEL[label] for label in agent.modalities) if m in _DISPATCH]


def imaging_summary(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    modality: str,
    options: Mapping[str, Any] | None = None,
) -> ImagingSummary:
    """Run one modality's model on a biodistribution and summarize it (cites its sources)."""
    key = modality.lower()
    if key not in MODALITIES:
        raise ValueError(f"unknown modality '{modality}'; known: {', '.join(MODALITIES)}")
    if key not in _DISPATCH:
        raise ValueError(f"modality '{modality}' is not available yet; available: {', '.join(_DISPATCH)}")
    summary = _DISPATCH[key](bd, agent, scenario, **dict(options or {}))
    cite(*summary.citations)
    return summary
