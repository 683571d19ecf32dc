"""NIR fluorescence imaging (NIR-I and NIR-II) of a tumour or node from a biodistribution.

Geometry and model (all in the diffusion approximation, photon units):

- A semi-infinite tissue (optical properties of one packaged tissue type, :mod:`tissue_optics`)
  under a broad, planar excitation beam of irradiance ``E0`` (capped at the skin MPE of
  ANSI Z136.1, :func:`skin_mpe_mW_per_cm2`). Fluence at depth ``z`` (collimated + diffuse
  solution with an extrapolated boundary ``z_b = 2 A D``)::

      Phi(z)/E0 = (1 + a) exp(-mu_t' z) + b exp(-mu_eff z),
      a = -3 mu_s' / (mu_s' - 2 mu_a),  b = -a exp((mu_t' - mu_eff) z_b)

  so that ``Phi(-z_b) = 0`` and ``Phi ~ b E0 exp(-mu_eff z)`` deep down.
- The lesion is a sphere of volume ``V`` whose top is at ``depth_mm`` below the surface. Each
  volume element fluoresces ``mu_f Phi_x`` photons/s/cm^3 with ``mu_f = QY ln(10) eps c_dye``
  [cm^-1] and is a point source for the emission; the surface emittance of a point source at
  depth ``z0`` at lateral distance ``rho`` is Farrell's image-source result (Farrell1992)::

      R(rho, z0) = 1/(4 pi) [ z0 (mu_eff + 1/r1) e^(-mu_eff r1)/r1^2
                              + (z0 + 2 z_b)(mu_eff + 1/r2) e^(-mu_eff r2)/r2^2 ]

  with ``mu_eff`` at the emission wavelength; it integrates over the surface to
  ``(exp(-mu_eff z0) + exp(-mu_eff (z0 + 2 z_b)))/2``, the escape fraction. Sources shallower than
  one transport mean free path are placed at ``1/mu_t'``.
- Background: the agent in the surrounding tissue (``background_organ``) plus tissue
  autofluorescence, a uniform fluorescent half-space; its emittance is
  ``mu_f,bg E0 int Phi_x(z)/E0 * escape(z) dz`` (closed form). The lesion adds the *excess*
  ``mu_f,target - mu_f,agent,bg`` over its volume (it displaces background tissue that has the
  same autofluorescence). The signal at the pixel above the lesion centre gives
  ``TBR = (J_bg + dJ) / J_bg``.
- Contrast-to-noise: counts ``N = J A_pixel t eta_coll QE`` in one pixel, noise
  ``sqrt(N_bg + read^2 + (cv N_bg)^2)`` (shot, read, background heterogeneity), ``CNR = dN / noise``.
- Detection: TBR >= ``tbr_threshold`` and/or CNR >= ``cnr_threshold`` (``criterion``).

Not modelled: absorption by the dye itself (inner filter), optical contrast of the lesion,
ballistic and snake photons (the diffusion model carries no image-blur benefit of lower
scattering), filter leakage, photobleaching; lymph nodes have no PBPK compartment, so a node is
modelled by giving it as ``target_organ`` with a concentration-bearing organ of the model.
Doses act linearly (concentrations scale with dose).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, FluorophoreLabel, Scenario
from nanobridge.science.imaging.tissue_optics import (
    WAVELENGTH_RANGE_NM,
    OpticalProperties,
    TissueComposition,
    boundary_parameter_A,
    optical_properties,
    tissue,
)
from nanobridge.science.pbpk.biodistribution import Biodistribution

__all__ = [
    "AUTOFLUORESCENCE_NIR1_PER_CM",
    "AUTOFLUORESCENCE_NIR2_PER_CM",
    "AUTOFLUORESCENCE_VISIBLE_PER_CM",
    "DetectorModel",
    "NIRFImagingResult",
    "WindowComparison",
    "WindowResult",
    "autofluorescence_per_cm",
    "compare_nir_windows",
    "nirf_imaging",
    "planar_fluence_per_irradiance",
    "point_source_escape_fraction",
    "point_source_surface_emittance_per_cm2",
    "skin_mpe_mW_per_cm2",
]

_AVOGADRO_PER_MOL = 6.02214076e23
_PLANCK_J_S = 6.62607015e-34
_LIGHT_SPEED_M_PER_S = 299792458.0
_LN10 = math.log(10.0)

#: Autofluorescence emission coefficient [cm^-1] (photons emitted into the detection band per
#: photon of excitation fluence per cm): ASSUMED values. NIR-I ~ the emission of ~25 nM ICG
#: (0.09 x ln10 x 2e5 /M/cm x 25 nM ~ 1e-3 cm^-1); visible/far-red 10x higher; NIR-II 100x lower
#: than NIR-I, in line with the qualitative finding that tissue autofluorescence becomes
#: negligible beyond 1000 nm. Not taken from a verified quantitative source.
AUTOFLUORESCENCE_VISIBLE_PER_CM = 1e-2
AUTOFLUORESCENCE_NIR1_PER_CM = 1e-3
AUTOFLUORESCENCE_NIR2_PER_CM = 1e-5

Criterion = Literal["tbr", "cnr", "both"]


class DetectorModel(BaseModel):
    """Camera and optics for the noise model. Every default is ASSUMED (typical, not sourced);
    quantum efficiency is the same for both windows so that windows compare on tissue alone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pixel_size_mm: float = Field(default=0.5, gt=0, le=50, description="pixel side on the tissue")
    exposure_s: float = Field(default=0.1, gt=0, le=600)
    collection_efficiency: float = Field(default=1e-3, gt=0, le=1, description="fraction of emitted photons")
    quantum_efficiency: float = Field(default=0.5, gt=0, le=1)
    read_noise_e: float = Field(default=10.0, ge=0, le=1e4)
    background_cv: float = Field(default=0.05, ge=0, le=10, description="relative background heterogeneity")
    assumed: bool = True


class NIRFImagingResult(BaseModel):
    """Fluorescence contrast of a lesion over time and depth (subject medians)."""

    model_config = ConfigDict(frozen=True)

    agent_name: str
    fluorophore: str
    window: str
    excitation_nm: float
    emission_nm: float
    tissue: str
    target_organ: str
    background_organ: str
    target_volume_mm3: float
    depth_mm: float = Field(description="depth of the top of the lesion below the surface")
    irradiance_mW_per_cm2: float
    mpe_mW_per_cm2: float
    irradiance_capped_to_mpe: bool
    optics_excitation: OpticalProperties
    optics_emission: OpticalProperties
    diffusion_valid: bool = Field(description="mu_s' > 10 mu_a at both wavelengths")
    autofluorescence_per_cm: float
    detector: DetectorModel
    criterion: Criterion
    tbr_threshold: float
    cnr_threshold: float
    times_h: list[float]
    target_dye_nM: list[float]
    background_dye_nM: list[float]
    tbr: list[float]
    cnr: list[float]
    detected: list[bool]
    best_time_h: float
    best_tbr: float
    best_cnr: float
    depths_mm: list[float]
    tbr_vs_depth: list[float] = Field(description="at best_time_h")
    cnr_vs_depth: list[float] = Field(description="at best_time_h")
    max_detection_depth_mm: float | None = Field(description="None: not detected even at the surface")
    assumptions: list[str]
    citation_keys: list[str]


class WindowResult(BaseModel):
    """One spectral window in :class:`WindowComparison`."""

    model_config = ConfigDict(frozen=True)

    window: str
    excitation_nm: float
    emission_nm: float
    irradiance_mW_per_cm2: float
    optics_excitation: OpticalProperties
    optics_emission: OpticalProperties
    autofluorescence_per_cm: float
    tbr_at_scenario_dose: float
    cnr_at_scenario_dose: float
    dose_multiplier_required: float = Field(
        description="x scenario dose to meet the criterion; inf: never; 0: any dose"
    )
    dose_multiplier_required_without_autofluorescence: float


class WindowComparison(BaseModel):
    """The same agent (same dye brightness) imaged in NIR-I and in NIR-II."""

    model_config = ConfigDict(frozen=True)

    tissue: str
    depth_mm: float
    time_h: float
    criterion: Criterion
    tbr_threshold: float
    cnr_threshold: float
    nir1: WindowResult
    nir2: WindowResult
    dose_ratio_nir2_to_nir1: float = Field(
        description="NIR-II dose / NIR-I dose for the same contrast (nan: neither window reaches it)"
    )
    explanation: str
    citation_keys: list[str]


# -- physics building blocks ---------------------------------------------------------------


def skin_mpe_mW_per_cm2(wavelength_nm: float) -> float:
    """Skin maximum permissible exposure for exposures > 10 s [mW/cm^2] (ANSI Z136.1-2014).

    400-1400 nm: 0.2 C_A W/cm^2 with C_A = 1 (< 700 nm), 10^(0.002 (lambda - 700)) (700-1050 nm),
    5 (1050-1400 nm); 1400-1700 nm: 0.1 W/cm^2 (not checked against a source here).
    """
    lam = float(wavelength_nm)
    lo, hi = WAVELENGTH_RANGE_NM
    if not lo <= lam <= hi:
        raise ValueError(f"wavelength_nm={wavelength_nm!r} outside {lo:g}-{hi:g} nm for the skin MPE")
    cite("ANSI_Z136_1_2014")
    if lam < 700.0:
        c_a = 1.0
    elif lam < 1050.0:
        c_a = 10.0 ** (0.002 * (lam - 700.0))
    elif lam <= 1400.0:
        c_a = 5.0
    else:
        cite("Assumed")
        return 100.0
    return 200.0 * c_a


def autofluorescence_per_cm(emission_nm: float) -> float:
    """Assumed tissue autofluorescence emission coefficient [cm^-1] at an emission wavelength:
    visible/far-red (< 700 nm) 1e-2, NIR-I (700-900 nm) 1e-3, NIR-II (>= 1000 nm) 1e-5, log-linear
    in between (900-1000 nm)."""
    lam = float(emission_nm)
    lo, hi = WAVELENGTH_RANGE_NM
    if not lo <= lam <= hi:
        raise ValueError(f"emission_nm={emission_nm!r} outside {lo:g}-{hi:g} nm")
    cite("Assumed")
    if lam < 700.0:
        return AUTOFLUORESCENCE_VISIBLE_PER_CM
    if lam <= 900.0:
        return AUTOFLUORESCENCE_NIR1_PER_CM
    if lam >= 1000.0:
        return AUTOFLUORESCENCE_NIR2_PER_CM
    frac = (lam - 900.0) / 100.0
    log_af = (1 - frac) * math.log10(AUTOFLUORESCENCE_NIR1_PER_CM) + frac * math.log10(
        AUTOFLUORESCENCE_NIR2_PER_CM
    )
    return float(10.0**log_af)


def _extrapolation_length_cm(mua: float, musp: float, refractive_index: float) -> float:
    diffusion_cm = 1.0 / (3.0 * (mua + musp))
    return 2.0 * boundary_parameter_A(refractive_index) * diffusion_cm


def _fluence_coefficients(
    mua: float, musp: float, refractive_index: float
) -> tuple[float, float, float, float]:
    """(1 + a, b, mu_t', mu_eff) of Phi(z)/E0 = (1 + a) e^(-mu_t' z) + b e^(-mu_eff z)."""
    mut = mua + musp
    mueff = math.sqrt(3.0 * mua * mut)
    zb = _extrapolation_length_cm(mua, musp, refractive_index)
    if musp <= 2.0 * mua * 1.05:  # diffusion invalid: absorption-dominated, exponential only
        return 0.0, 1.0, mut, mueff
    a = -3.0 * musp / (musp - 2.0 * mua)
    b = -a * math.exp((mut - mueff) * zb)
    return 1.0 + a, b, mut, mueff


def planar_fluence_per_irradiance(
    depth_cm: NDArray[np.float64] | float,
    mua_per_cm: float,
    musp_per_cm: float,
    refractive_index: float = 1.4,
) -> NDArray[np.float64]:
    """Fluence rate / irradiance (dimensionless) at depth under a broad collimated beam
    (diffusion theory, extrapolated boundary; module docstring)."""
    z = np.asarray(depth_cm, dtype=float)
    if np.any(z < 0):
        raise ValueError(f"depth_cm={depth_cm!r} must be >= 0")
    if not (mua_per_cm > 0 and musp_per_cm > 0):
        raise ValueError(f"mua_per_cm={mua_per_cm!r} and musp_per_cm={musp_per_cm!r} must be > 0")
    c1, b, mut, mueff = _fluence_coefficients(mua_per_cm, musp_per_cm, refractive_index)
    return np.asarray(c1 * np.exp(-mut * z) + b * np.exp(-mueff * z), dtype=float)


def point_source_escape_fraction(depth_cm: float, mueff_per_cm: float, zb_cm: float) -> float:
    """Fraction of photons from an isotropic point source at depth that leave through the surface
    (integral of Farrell's emittance): (e^(-mu_eff z0) + e^(-mu_eff (z0 + 2 z_b)))/2."""
    if depth_cm < 0:
        raise ValueError(f"depth_cm={depth_cm!r} must be >= 0")
    cite("Farrell1992")
    return 0.5 * (math.exp(-mueff_per_cm * depth_cm) + math.exp(-mueff_per_cm * (depth_cm + 2.0 * zb_cm)))


def point_source_surface_emittance_per_cm2(
    rho_cm: NDArray[np.float64] | float,
    depth_cm: NDArray[np.float64] | float,
    mueff_per_cm: float,
    zb_cm: float,
) -> NDArray[np.float64]:
    """Surface emittance per unit source power [cm^-2] of a point source at depth, at lateral
    distance rho (Farrell1992, image source at depth + 2 z_b)."""
    rho = np.asarray(rho_cm, dtype=float)
    z0 = np.asarray(depth_cm, dtype=float)
    if np.any(z0 <= 0):
        raise ValueError(f"depth_cm={depth_cm!r} must be > 0")
    mu = mueff_per_cm
    r1 = np.sqrt(z0**2 + rho**2)
    z2 = z0 + 2.0 * zb_cm
    r2 = np.sqrt(z2**2 + rho**2)
    term1 = z0 * (mu + 1.0 / r1) * np.exp(-mu * r1) / r1**2
    term2 = z2 * (mu + 1.0 / r2) * np.exp(-mu * r2) / r2**2
    return np.asarray((term1 + term2) / (4.0 * math.pi), dtype=float)


def _sphere_points(radius_cm: float, n: int = 9) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(rho, dz) of cell centres of an n^3 grid inside a sphere (dz relative to the centre)."""
    edges = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y, z = np.meshgrid(edges, edges, edges, indexing="ij")
    inside = x**2 + y**2 + z**2 <= 1.0
    rho = np.sqrt(x[inside] ** 2 + y[inside] ** 2) * radius_cm
    return rho, z[inside] * radius_cm


class _Geometry(BaseModel):
    """Per-unit geometry factors at one depth (photons/s/cm^2 of emittance per photon/s/cm^2 of
    irradiance, per cm^-1 of emission coefficient)."""

    lesion_cm: float  # x V: mean over the lesion of Phi_x/E0 * R(0, z)
    background_cm: float  # int Phi_x/E0 * escape(z) dz


def _geometry(
    ex: OpticalProperties, em: OpticalProperties, depth_cm: float, radius_cm: float, refractive_index: float
) -> _Geometry:
    c1, b, mut_x, mueff_x = _fluence_coefficients(ex.mua_per_cm, ex.musp_per_cm, refractive_index)
    zb_em = _extrapolation_length_cm(em.mua_per_cm, em.musp_per_cm, refractive_index)
    mut_em = em.mua_per_cm + em.musp_per_cm
    mu_em = em.mueff_per_cm
    rho, dz = _sphere_points(radius_cm)
    z = np.maximum(depth_cm + radius_cm + dz, 1.0 / mut_em)
    phi = planar_fluence_per_irradiance(z, ex.mua_per_cm, ex.musp_per_cm, refractive_index)
    emit = point_source_surface_emittance_per_cm2(rho, z, mu_em, zb_em)
    volume_cm3 = 4.0 / 3.0 * math.pi * radius_cm**3
    lesion = float(np.mean(phi * emit)) * volume_cm3
    escape_factor = 0.5 * (1.0 + math.exp(-2.0 * mu_em * zb_em))
    background = escape_factor * (c1 / (mut_x + mu_em) + b / (mueff_x + mu_em))
    cite("Farrell1992")
    return _Geometry(lesion_cm=lesion, background_cm=background)


# -- concentrations --------------------------------------------------------------------------


def _particle_mass_g(agent: AgentSpec) -> float:
    density = agent.effective_core_density_g_per_cm3
    if density is None:
        raise ValueError(
            f"core_density_g_per_cm3 of agent {agent.name!r} is unknown (material {agent.core_material!r} "
            "has no catalog density): give core_density_g_per_cm3 to convert mass to particle number"
        )
    cite(*agent.material.citation_keys())
    diameter_cm = agent.core_diameter_nm * 1e-7
    return density * math.pi / 6.0 * diameter_cm**3


def _dye_molar(
    bd: Biodistribution, organ: str, dose_mg: NDArray[np.float64], particle_mass_g: float, dyes: float
) -> NDArray[np.float64]:
    """Dye concentration [mol/L] (subject x time) in an organ (tissue density 1 g/mL)."""
    if organ not in bd.data["organ"].values:
        raise ValueError(
            f"organ={organ!r} not in the biodistribution; known: {list(bd.data['organ'].values)}"
        )
    conc = np.asarray(bd.data["conc_pct_id_per_g"].sel(organ=organ).values, dtype=float)  # (S, T)
    mass_g_per_g = conc / 100.0 * dose_mg[:, None] * 1e-3
    particles_per_mL = mass_g_per_g / particle_mass_g
    return np.asarray(np.nan_to_num(particles_per_mL * dyes * 1000.0 / _AVOGADRO_PER_MOL), dtype=float)


def _dose_mg(bd: Biodistribution, scenario: Scenario) -> NDArray[np.float64]:
    n = len(bd.data["subject"])
    if "dose_mg" in bd.data:
        return np.asarray(bd.data["dose_mg"].values, dtype=float)
    if scenario.dose_mg is None:
        raise ValueError(
            "scenario.dose_mg_per_kg is None and the biodistribution has no dose_mg: the injected mass "
            "is needed to turn %ID/g into dye concentration"
        )
    return np.full(n, float(scenario.dose_mg))


def _fluorophore(agent: AgentSpec, override: FluorophoreLabel | None) -> FluorophoreLabel:
    label = override if override is not None else agent.labels.fluorophore
    if label is None:
        raise ValueError(
            f"agent {agent.name!r} has no fluorophore (labels.fluorophore is None): NIR fluorescence "
            "imaging needs a fluorescent label"
        )
    lo, hi = WAVELENGTH_RANGE_NM
    for field in ("excitation_nm", "emission_nm"):
        value = getattr(label, field)
        if not lo <= value <= hi:
            raise ValueError(f"labels.fluorophore.{field}={value!r} outside the modelled {lo:g}-{hi:g} nm")
    if label.emission_nm <= label.excitation_nm:
        raise ValueError(
            f"labels.fluorophore.emission_nm={label.emission_nm!r} must exceed "
            f"excitation_nm={label.excitation_nm!r}"
        )
    return label


def _window(emission_nm: float) -> str:
    if emission_nm >= 1000.0:
        return "NIR-II"
    if emission_nm >= 700.0:
        return "NIR-I"
    return "visible/far-red"


def _photon_rate_per_W(wavelength_nm: float) -> float:
    return wavelength_nm * 1e-9 / (_PLANCK_J_S * _LIGHT_SPEED_M_PER_S)


def _counts(emittance: NDArray[np.float64], det: DetectorModel) -> NDArray[np.float64]:
    area_cm2 = (det.pixel_size_mm / 10.0) ** 2
    return np.asarray(
        emittance * area_cm2 * det.exposure_s * det.collection_efficiency * det.quantum_efficiency
    )


def _contrast(
    mu_t: NDArray[np.float64],
    mu_bg: NDArray[np.float64],
    mu_af: float,
    geo: _Geometry,
    photons_per_s_cm2: float,
    det: DetectorModel,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """TBR and CNR from emission coefficients [cm^-1] (any shape)."""
    j_bg = (mu_bg + mu_af) * geo.background_cm * photons_per_s_cm2
    d_j = (mu_t - mu_bg) * geo.lesion_cm * photons_per_s_cm2
    with np.errstate(divide="ignore", invalid="ignore"):
        tbr = np.where(j_bg > 0, (j_bg + d_j) / j_bg, np.inf)
    n_bg = _counts(j_bg, det)
    noise = np.sqrt(n_bg + det.read_noise_e**2 + (det.background_cv * n_bg) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        cnr = np.where(noise > 0, _counts(d_j, det) / noise, 0.0)
    return np.asarray(tbr, dtype=float), np.asarray(cnr, dtype=float)


def _meets(
    tbr: NDArray[np.float64], cnr: NDArray[np.float64], criterion: Criterion, t_min: float, c_min: float
) -> NDArray[np.bool_]:
    ok_t = tbr >= t_min
    ok_c = cnr >= c_min
    if criterion == "tbr":
        return np.asarray(ok_t)
    if criterion == "cnr":
        return np.asarray(ok_c)
    return np.asarray(ok_t & ok_c)


def _check_common(
    depth_mm: float, tbr_threshold: float, cnr_threshold: float, criterion: str, refractive_index: float
) -> None:
    if not (math.isfinite(depth_mm) and depth_mm >= 0):
        raise ValueError(f"depth_mm={depth_mm!r} must be a finite depth >= 0 mm")
    if not tbr_threshold > 1.0:
        raise ValueError(f"tbr_threshold={tbr_threshold!r} must be > 1")
    if not cnr_threshold > 0.0:
        raise ValueError(f"cnr_threshold={cnr_threshold!r} must be > 0")
    if criterion not in ("tbr", "cnr", "both"):
        raise ValueError(f"criterion={criterion!r}; allowed: 'tbr', 'cnr', 'both'")
    if not 1.0 <= refractive_index <= 2.0:
        raise ValueError(f"refractive_index={refractive_index!r} must be in [1, 2]")


def _irradiance(excitation_nm: float, irradiance_mW_per_cm2: float | None) -> tuple[float, float, bool]:
    mpe = skin_mpe_mW_per_cm2(excitation_nm)
    if irradiance_mW_per_cm2 is None:
        return mpe, mpe, False
    if not (math.isfinite(irradiance_mW_per_cm2) and irradiance_mW_per_cm2 > 0):
        raise ValueError(f"irradiance_mW_per_cm2={irradiance_mW_per_cm2!r} must be > 0")
    if irradiance_mW_per_cm2 > mpe:
        return mpe, mpe, True
    return float(irradiance_mW_per_cm2), mpe, False


def _target_volume(target_organ: str, scenario: Scenario, target_volume_mm3: float | None) -> float:
    if target_volume_mm3 is not None:
        if not (math.isfinite(target_volume_mm3) and target_volume_mm3 > 0):
            raise ValueError(f"target_volume_mm3={target_volume_mm3!r} must be > 0")
        return float(target_volume_mm3)
    if target_organ == "tumor" and scenario.tumor is not None:
        return float(scenario.tumor.volume_mm3)
    raise ValueError(
        f"target_volume_mm3 is required for target_organ={target_organ!r} "
        "(only a scenario tumour has a volume)"
    )


# -- public API ------------------------------------------------------------------------------


def nirf_imaging(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    tissue: str | TissueComposition = "soft_tissue",
    depth_mm: float = 2.0,
    irradiance_mW_per_cm2: float | None = None,
    *,
    target_organ: str = "tumor",
    background_organ: str = "muscle",
    target_volume_mm3: float | None = None,
    fluorophore: FluorophoreLabel | None = None,
    autofluorescence: float | None = None,
    detector: DetectorModel | None = None,
    criterion: Criterion = "both",
    tbr_threshold: float = 1.5,
    cnr_threshold: float = 5.0,
    refractive_index: float = 1.4,
    max_depth_mm: float = 30.0,
    depth_step_mm: float = 0.25,
) -> NIRFImagingResult:
    """Fluorescence TBR and CNR of a lesion at ``depth_mm`` over time, and its detection depth.

    ``irradiance_mW_per_cm2=None`` uses the skin MPE at the excitation wavelength; a larger value
    is capped at the MPE (``irradiance_capped_to_mpe``). ``fluorophore`` overrides the agent's label
    (e.g. to try an NIR-II dye); ``autofluorescence`` [cm^-1] overrides the assumed default.
    """
    label = _fluorophore(agent, fluorophore)
    _check_common(depth_mm, tbr_threshold, cnr_threshold, criterion, refractive_index)
    if not (max_depth_mm > 0 and 0 < depth_step_mm <= max_depth_mm):
        raise ValueError(
            f"max_depth_mm={max_depth_mm!r}, depth_step_mm={depth_step_mm!r}: need 0 < step <= max"
        )
    comp = _tissue(tissue)
    det = detector if detector is not None else DetectorModel()
    volume_mm3 = _target_volume(target_organ, scenario, target_volume_mm3)
    radius_cm = (3.0 * volume_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0) / 10.0
    e0, mpe, capped = _irradiance(label.excitation_nm, irradiance_mW_per_cm2)
    photons = e0 * 1e-3 * _photon_rate_per_W(label.excitation_nm)
    ex = optical_properties(comp, label.excitation_nm)
    em = optical_properties(comp, label.emission_nm)
    mu_af = (
        autofluorescence_per_cm(label.emission_nm) if autofluorescence is None else float(autofluorescence)
    )
    if not (math.isfinite(mu_af) and mu_af >= 0):
        raise ValueError(f"autofluorescence={autofluorescence!r} must be >= 0 cm^-1")

    dose = _dose_mg(bd, scenario)
    m_p = _particle_mass_g(agent)
    c_t = _dye_molar(bd, target_organ, dose, m_p, label.dyes_per_particle)
    c_bg = _dye_molar(bd, background_organ, dose, m_p, label.dyes_per_particle)
    k = label.quantum_yield * _LN10 * label.extinction_coefficient_per_M_per_cm  # cm^-1 per M
    mu_t, mu_bg = k * c_t, k * c_bg

    geo = _geometry(ex, em, depth_mm / 10.0, radius_cm, refractive_index)
    tbr_st, cnr_st = _contrast(mu_t, mu_bg, mu_af, geo, photons, det)
    tbr = np.median(tbr_st, axis=0)
    cnr = np.median(cnr_st, axis=0)
    detected = _meets(tbr, cnr, criterion, tbr_threshold, cnr_threshold)
    times = bd.times_h
    i_best = int(np.nanargmax(tbr))

    depths = np.arange(0.0, max_depth_mm + 1e-9, depth_step_mm)
    tbr_d, cnr_d = [], []
    for d in depths:
        g = _geometry(ex, em, d / 10.0, radius_cm, refractive_index)
        t_d, c_d = _contrast(mu_t[:, i_best], mu_bg[:, i_best], mu_af, g, photons, det)
        tbr_d.append(float(np.median(t_d)))
        cnr_d.append(float(np.median(c_d)))
    ok = _meets(np.asarray(tbr_d), np.asarray(cnr_d), criterion, tbr_threshold, cnr_threshold)
    max_depth: float | None = None
    if ok[0]:
        first_fail = int(np.argmin(ok)) if not ok.all() else len(ok)
        max_depth = float(depths[first_fail - 1])

    valid = ex.musp_per_cm > 10 * ex.mua_per_cm and em.musp_per_cm > 10 * em.mua_per_cm
    assumptions = [
        "autofluorescence emission coefficient "
        + (
            "given by the caller"
            if autofluorescence is not None
            else f"{mu_af:g} cm^-1 assumed for the window"
        ),
        "detector parameters (pixel, exposure, collection, QE, read noise, background CV) assumed",
        f"tissue composition of {comp.name!r} " + ("assumed" if comp.assumed else "as given"),
        "lesion optical properties equal to the surrounding tissue; no inner-filter absorption by the dye",
        "dose mass taken as core mass; tissue density 1 g/mL; every dye fluoresces with its catalog yield",
        "diffusion approximation: no ballistic/snake photons, so no image-sharpness gain from low scattering",
    ]
    if label.emission_nm > 1000.0 or label.excitation_nm > 1000.0:
        assumptions.append("haemoglobin absorption held at its 1000-nm value beyond Prahl's table")
    if not valid:
        assumptions.append("diffusion approximation outside its validity (mu_s' <= 10 mu_a)")
    keys = list(
        dict.fromkeys(
            [
                *ex.citation_keys,
                *em.citation_keys,
                "Farrell1992",
                "Groenhuis1983",
                "ANSI_Z136_1_2014",
                "Assumed",
                *agent.material.citation_keys(),
            ]
        )
    )
    cite(*keys)
    return NIRFImagingResult(
        agent_name=agent.name,
        fluorophore=label.name,
        window=_window(label.emission_nm),
        excitation_nm=label.excitation_nm,
        emission_nm=label.emission_nm,
        tissue=comp.name,
        target_organ=target_organ,
        background_organ=background_organ,
        target_volume_mm3=volume_mm3,
        depth_mm=float(depth_mm),
        irradiance_mW_per_cm2=e0,
        mpe_mW_per_cm2=mpe,
        irradiance_capped_to_mpe=capped,
        optics_excitation=ex,
        optics_emission=em,
        diffusion_valid=bool(valid),
        autofluorescence_per_cm=mu_af,
        detector=det,
        criterion=criterion,
        tbr_threshold=tbr_threshold,
        cnr_threshold=cnr_threshold,
        times_h=[float(t) for t in times],
        target_dye_nM=[float(v) for v in np.median(c_t, axis=0) * 1e9],
        background_dye_nM=[float(v) for v in np.median(c_bg, axis=0) * 1e9],
        tbr=[float(v) for v in tbr],
        cnr=[float(v) for v in cnr],
        detected=[bool(v) for v in detected],
        best_time_h=float(times[i_best]),
        best_tbr=float(tbr[i_best]),
        best_cnr=float(cnr[i_best]),
        depths_mm=[float(d) for d in depths],
        tbr_vs_depth=tbr_d,
        cnr_vs_depth=cnr_d,
        max_detection_depth_mm=max_depth,
        assumptions=assumptions,
        citation_keys=keys,
    )


def _tissue(value: str | TissueComposition) -> TissueComposition:
    if isinstance(value, TissueComposition):
        return value
    if not isinstance(value, str):
        raise ValueError(f"tissue={value!r} must be a tissue name or a TissueComposition")
    return tissue(value)


def _required_multiplier(
    mu_t: float,
    mu_bg: float,
    mu_af: float,
    geo: _Geometry,
    photons: float,
    det: DetectorModel,
    criterion: Criterion,
    t_min: float,
    c_min: float,
) -> float:
    """Smallest dose multiplier m (concentrations x m) that meets the criterion; inf if none, 0 if
    any dose does (e.g. a TBR criterion without autofluorescence)."""

    def ok(m: float) -> bool:
        tbr, cnr = _contrast(np.array([m * mu_t]), np.array([m * mu_bg]), mu_af, geo, photons, det)
        return bool(_meets(tbr, cnr, criterion, t_min, c_min)[0])

    lo, hi = -8.0, 8.0  # log10 m
    if not ok(10.0**hi):
        return math.inf
    if ok(10.0**lo):
        return 0.0  # any dose meets it (dose-independent contrast)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if ok(10.0**mid):
            hi = mid
        else:
            lo = mid
    return float(10.0**hi)


def compare_nir_windows(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    tissue: str | TissueComposition = "soft_tissue",
    depth_mm: float = 5.0,
    *,
    nir1_nm: tuple[float, float] = (785.0, 830.0),
    nir2_nm: tuple[float, float] = (808.0, 1064.0),
    time_h: float | None = None,
    target_organ: str = "tumor",
    background_organ: str = "muscle",
    target_volume_mm3: float | None = None,
    detector: DetectorModel | None = None,
    criterion: Criterion = "both",
    tbr_threshold: float = 1.5,
    cnr_threshold: float = 5.0,
    refractive_index: float = 1.4,
) -> WindowComparison:
    """Dose needed in NIR-I and in NIR-II for the same contrast at one depth and time.

    The agent's dye is kept (same extinction coefficient, quantum yield and dyes per particle);
    only the (excitation, emission) wavelengths change to ``nir1_nm`` and ``nir2_nm``, each at its
    skin MPE, so the difference is the tissue's: attenuation (mu_eff) and autofluorescence. The
    dose multiplier is relative to the scenario dose (concentrations scale linearly with dose).
    ``time_h=None`` takes the time of the highest median target/background concentration ratio.
    """
    base = _fluorophore(agent, None)
    _check_common(depth_mm, tbr_threshold, cnr_threshold, criterion, refractive_index)
    comp = _tissue(tissue)
    det = detector if detector is not None else DetectorModel()
    volume_mm3 = _target_volume(target_organ, scenario, target_volume_mm3)
    radius_cm = (3.0 * volume_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0) / 10.0
    dose = _dose_mg(bd, scenario)
    m_p = _particle_mass_g(agent)
    c_t = np.median(_dye_molar(bd, target_organ, dose, m_p, base.dyes_per_particle), axis=0)
    c_bg = np.median(_dye_molar(bd, background_organ, dose, m_p, base.dyes_per_particle), axis=0)
    times = bd.times_h
    if time_h is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(c_bg > 0, c_t / c_bg, 0.0)
        i = int(np.nanargmax(ratio))
    else:
        if not times[0] <= time_h <= times[-1]:
            raise ValueError(f"time_h={time_h!r} outside the simulated {times[0]:g}-{times[-1]:g} h")
        i = int(np.argmin(np.abs(times - time_h)))
    k = base.quantum_yield * _LN10 * base.extinction_coefficient_per_M_per_cm
    mu_t, mu_bg = float(k * c_t[i]), float(k * c_bg[i])

    results: list[WindowResult] = []
    for name, (ex_nm, em_nm) in (("NIR-I", nir1_nm), ("NIR-II", nir2_nm)):
        lo, hi = WAVELENGTH_RANGE_NM
        for field, v in (("excitation_nm", ex_nm), ("emission_nm", em_nm)):
            if not lo <= v <= hi:
                raise ValueError(f"{name} {field}={v!r} outside {lo:g}-{hi:g} nm")
        if em_nm <= ex_nm:
            raise ValueError(f"{name} emission_nm={em_nm!r} must exceed excitation_nm={ex_nm!r}")
        e0, _, _ = _irradiance(ex_nm, None)
        photons = e0 * 1e-3 * _photon_rate_per_W(ex_nm)
        ex = optical_properties(comp, ex_nm)
        em = optical_properties(comp, em_nm)
        mu_af = autofluorescence_per_cm(em_nm)
        geo = _geometry(ex, em, depth_mm / 10.0, radius_cm, refractive_index)
        tbr, cnr = _contrast(np.array([mu_t]), np.array([mu_bg]), mu_af, geo, photons, det)
        args = (geo, photons, det, criterion, tbr_threshold, cnr_threshold)
        results.append(
            WindowResult(
                window=name,
                excitation_nm=ex_nm,
                emission_nm=em_nm,
                irradiance_mW_per_cm2=e0,
                optics_excitation=ex,
                optics_emission=em,
                autofluorescence_per_cm=mu_af,
                tbr_at_scenario_dose=float(tbr[0]),
                cnr_at_scenario_dose=float(cnr[0]),
                dose_multiplier_required=_required_multiplier(mu_t, mu_bg, mu_af, *args),
                dose_multiplier_required_without_autofluorescence=_required_multiplier(
                    mu_t, mu_bg, 0.0, *args
                ),
            )
        )
    nir1, nir2 = results
    m1, m2 = nir1.dose_multiplier_required, nir2.dose_multiplier_required
    if m1 == m2:  # both unreachable (inf) or both free (0)
        ratio_dose = 1.0 if m1 == 0.0 else math.nan
    elif math.isinf(m1) or m2 == 0.0:
        ratio_dose = 0.0
    elif math.isinf(m2) or m1 == 0.0:
        ratio_dose = math.inf
    else:
        ratio_dose = m2 / m1
    explanation = (
        f"mu_eff at emission: NIR-I {nir1.optics_emission.mueff_per_cm:.3g} cm^-1 "
        f"(mu_a {nir1.optics_emission.mua_per_cm:.3g}, mu_s' {nir1.optics_emission.musp_per_cm:.3g}), "
        f"NIR-II {nir2.optics_emission.mueff_per_cm:.3g} cm^-1 "
        f"(mu_a {nir2.optics_emission.mua_per_cm:.3g}, mu_s' {nir2.optics_emission.musp_per_cm:.3g}). "
        "NIR-II is not less attenuated (water absorbs more); it scatters less and has far less "
        f"autofluorescence ({nir2.autofluorescence_per_cm:.3g} vs {nir1.autofluorescence_per_cm:.3g} cm^-1, "
        "assumed). Without autofluorescence the dose multipliers would be "
        f"{nir1.dose_multiplier_required_without_autofluorescence:.3g} (NIR-I) and "
        f"{nir2.dose_multiplier_required_without_autofluorescence:.3g} (NIR-II)."
    )
    keys = list(
        dict.fromkeys(
            [
                *nir1.optics_emission.citation_keys,
                *nir2.optics_emission.citation_keys,
                "Farrell1992",
                "Groenhuis1983",
                "ANSI_Z136_1_2014",
                "Assumed",
                *agent.material.citation_keys(),
            ]
        )
    )
    cite(*keys)
    return WindowComparison(
        tissue=comp.name,
        depth_mm=float(depth_mm),
        time_h=float(times[i]),
        criterion=criterion,
        tbr_threshold=tbr_threshold,
        cnr_threshold=cnr_threshold,
        nir1=nir1,
        nir2=nir2,
        dose_ratio_nir2_to_nir1=ratio_dose,
        explanation=explanation,
        citation_keys=keys,
    )
