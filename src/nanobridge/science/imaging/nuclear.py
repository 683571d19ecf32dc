"""PET and SPECT imaging performance: from a biodistribution to "can we see the tumour?".

Pure functions on a :class:`~nanobridge.science.pbpk.biodistribution.Biodistribution`, an
:class:`~nanobridge.domain.AgentSpec` and a :class:`~nanobridge.domain.Scenario`; the packaged
data are ``data/imaging/scanners.yaml`` (scanners, emission yields, positron ranges, all cited)
and the half-lives of the ``radioactivedecay`` package (ICRP-107).

Model (``t`` time after injection [h], ``A0`` injected activity [MBq], ``λ = ln 2 / T½``):

- PBPK amounts are decay-corrected (the model moves particles, not activity), so the organ
  activity is ``A(t) = A0 · %ID/100`` decay-corrected and ``A(t) · exp(-λ t)`` physical.
- Activity concentration [kBq/mL] = ``1000 · A0 · (%ID/g)/100`` (tissue density 1 g/mL).
- SUV (body weight) = ``C_decay-corrected [kBq/mL] / (A0 [kBq] / BW [g])``
  = ``(%ID/g)/100 · BW [g]``.
- Effective resolution ``FWHM = sqrt(FWHM_scanner² + max(0, R_X² − R_F18²))`` for PET, ``R`` the
  mean positron range (the NEMA resolution already contains 18F's range; using the mean range as
  a FWHM is an approximation, flagged); ``FWHM_scanner`` for SPECT.
- Partial-volume recovery of a uniform sphere of radius ``R`` blurred by an isotropic 3-D
  Gaussian (``σ = FWHM / sqrt(8 ln 2)``), mean over the sphere (see
  :func:`sphere_recovery_coefficient`); the measured tumour ROI mean is
  ``C_b + RC · (C_t − C_b)`` (spill-in from a uniform surrounding background).
- Counts in an ROI of the tumour's volume ``V`` [mL] during a scan ``[t, t + T]``:
  ``N = S · y_rel · C'(t) · V · ∫_t^{t+T} exp(-λ t') dt'`` with ``S`` the sensitivity [cps/kBq],
  ``y_rel`` the nuclide's positron (PET) or photopeak (SPECT) yield relative to the scanner's
  reference, ``C'`` the decay-corrected concentration at the scan start (redistribution during
  the scan is neglected). Background ROI: same volume, in ``background_organ``.
- Noise: Poisson with noise-equivalent counts, ``σ_b = sqrt(N_b / f)``,
  ``f = (1 − scatter_fraction)(1 − randoms_fraction)``; reconstruction noise amplification is not
  modelled (flagged).
- ``CNR = (N_t − N_b) / σ_b``. Every count is proportional to ``A0``, so ``CNR ∝ sqrt(A0)`` and
  the Rose-criterion minimum activity is ``A_min = A0 · (k / CNR)²`` (undefined if CNR ≤ 0).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, Literal

import numpy as np
import radioactivedecay as rd
import xarray as xr
import yaml
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import erf

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, Scenario, normalize_nuclide, radionuclides
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import EXCRETA, OUTPUT_GROUPS

__all__ = [
    "NuclearImagingResult",
    "NuclideEmission",
    "Scanner",
    "activity_MBq",
    "activity_concentration_kBq_per_mL",
    "decay_fraction",
    "effective_fwhm_mm",
    "half_life_h",
    "nuclear_imaging",
    "nuclide_emission",
    "scanner",
    "scanner_names",
    "sphere_centre_recovery",
    "sphere_recovery_coefficient",
    "suv",
    "tumour_ratios",
]

FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
#: Organs reported in the result (besides the background organ).
REPORTED_ORGANS: tuple[str, ...] = ("tumor", "blood", "muscle", "liver")


# --------------------------------------------------------------------------------------------
# Packaged data
# --------------------------------------------------------------------------------------------


class Scanner(BaseModel):
    """A PET or SPECT scanner from ``data/imaging/scanners.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    modality: Literal["PET", "SPECT"]
    kind: str
    sensitivity_cps_per_kBq: float = Field(gt=0)
    sensitivity_reference: str
    spatial_resolution_fwhm_mm: float = Field(gt=0)
    scatter_fraction: float = Field(ge=0, lt=1)
    randoms_fraction: float = Field(ge=0, lt=1)
    citation: str
    scatter_fraction_citation: str | None = None
    checked: tuple[str, ...] = ()
    assumed: bool = False
    assumed_fields: tuple[str, ...] = ()
    note: str = ""

    @property
    def nec_fraction(self) -> float:
        """Noise-equivalent fraction of the trues, ``(1 − SF)(1 − RF)``."""
        return (1.0 - self.scatter_fraction) * (1.0 - self.randoms_fraction)

    def citation_keys(self) -> tuple[str, ...]:
        keys = [self.citation]
        if self.scatter_fraction_citation:
            keys.append(self.scatter_fraction_citation)
        return tuple(keys)


class NuclideEmission(BaseModel):
    """Emission data of one nuclide for count-rate and resolution modelling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    positron_yield_per_decay: float | None = Field(default=None, ge=0, le=2)
    mean_positron_range_mm: float | None = Field(default=None, ge=0)
    photopeak_keV: tuple[float, ...] = ()
    photon_yield_per_decay: float | None = Field(default=None, ge=0)
    citation: str
    software_citation: str | None = None
    positron_range_citation: str | None = None
    positron_range_assumed: bool = False

    def citation_keys(self) -> tuple[str, ...]:
        keys = [self.citation, self.software_citation, self.positron_range_citation]
        return tuple(k for k in keys if k)


@functools.lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = (resources.files("nanobridge") / "data" / "imaging" / "scanners.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    scanners = {k: Scanner.model_validate({**v, "key": k}) for k, v in raw["scanners"].items()}
    nuclides = {k: NuclideEmission.model_validate({**v, "key": k}) for k, v in raw["nuclides"].items()}
    return {"scanners": scanners, "nuclides": nuclides}


def scanner_names() -> list[str]:
    """Keys of the packaged scanners."""
    return sorted(_data()["scanners"])


def scanner(name: str) -> Scanner:
    """The scanner ``name``; ValueError listing the known scanners otherwise."""
    scanners: dict[str, Scanner] = _data()["scanners"]
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in scanners:
        raise ValueError(f"scanner: unknown scanner {name!r}; known: {', '.join(sorted(scanners))}")
    return scanners[key]


def _canonical_nuclide(nuclide: str) -> str:
    key = radionuclides().resolve_key(nuclide) if isinstance(nuclide, str) else None
    if key is None:
        parsed = normalize_nuclide(nuclide) if isinstance(nuclide, str) else None
        if parsed is None:
            raise ValueError(
                f"nuclide: {nuclide!r} is not a nuclide spelling; write it like '89Zr' or 'Zr-89'"
            )
        key = parsed
    return key


def nuclide_emission(nuclide: str) -> NuclideEmission:
    """Positron/photon yields and positron range of ``nuclide`` (``'89Zr'``, ``'Zr-89'`` ...)."""
    key = _canonical_nuclide(nuclide)
    table: dict[str, NuclideEmission] = _data()["nuclides"]
    if key not in table:
        raise ValueError(
            f"nuclide: no emission data for {nuclide!r} ({key}); known: {', '.join(sorted(table))}"
        )
    return table[key]


# --------------------------------------------------------------------------------------------
# Decay
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def half_life_h(nuclide: str) -> float:
    """Half-life [h] from radioactivedecay's ICRP-107 data set."""
    key = _canonical_nuclide(nuclide)
    try:
        value = float(rd.Nuclide(key).half_life("h"))
    except ValueError as exc:
        raise ValueError(f"nuclide: {nuclide!r} ({key}) is not in radioactivedecay's data set") from exc
    cite("ICRP107", "Malins2022")
    return value


def decay_fraction(nuclide: str, time_h: ArrayLike) -> NDArray[np.float64]:
    """Fraction of the parent's activity left after ``time_h`` [h], ``exp(-ln2 · t / T½)``."""
    t = np.asarray(time_h, dtype=float)
    return np.asarray(np.exp(-math.log(2.0) * t / half_life_h(nuclide)), dtype=float)


def _decays_per_activity_h(
    nuclide: str, start_h: NDArray[np.float64], duration_h: float
) -> NDArray[np.float64]:
    """``∫_t^{t+T} exp(-λ t') dt'`` [h]: decays per unit of (decay-corrected) activity."""
    lam = math.log(2.0) / half_life_h(nuclide)
    return np.asarray(np.exp(-lam * start_h) * -np.expm1(-lam * duration_h) / lam, dtype=float)


def _check_positive(field: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, int | float) and math.isfinite(value) and ok):
        allowed = "a finite number ≥ 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{field}: {value!r} -> must be {allowed}")


def activity_MBq(
    bd: Biodistribution, nuclide: str, injected_activity_MBq: float, *, decay_corrected: bool = False
) -> xr.DataArray:
    """Activity per subject, time and organ [MBq], physical (default) or decay-corrected."""
    _check_positive("injected_activity_MBq", injected_activity_MBq)
    out = bd.data["amount_pct_id"] / 100.0 * injected_activity_MBq
    if not decay_corrected:
        out = out * xr.DataArray(decay_fraction(nuclide, bd.times_h), dims=("time",))
    out.attrs.update(units="MBq", decay_corrected=int(decay_corrected), nuclide=_canonical_nuclide(nuclide))
    return out.rename("activity_MBq")


def activity_concentration_kBq_per_mL(
    bd: Biodistribution, nuclide: str, injected_activity_MBq: float, *, decay_corrected: bool = False
) -> xr.DataArray:
    """Activity concentration [kBq/mL] (tissue density 1 g/mL), physical or decay-corrected."""
    _check_positive("injected_activity_MBq", injected_activity_MBq)
    out = bd.data["conc_pct_id_per_g"] / 100.0 * injected_activity_MBq * 1000.0
    if not decay_corrected:
        out = out * xr.DataArray(decay_fraction(nuclide, bd.times_h), dims=("time",))
    out.attrs.update(
        units="kBq/mL", decay_corrected=int(decay_corrected), nuclide=_canonical_nuclide(nuclide)
    )
    return out.rename("activity_concentration_kBq_per_mL")


def suv(bd: Biodistribution, body_weight_kg: float) -> xr.DataArray:
    """Body-weight SUV per subject, time and organ: ``(%ID/g)/100 · BW[g]`` (decay-corrected)."""
    _check_positive("body_weight_kg", body_weight_kg)
    out = bd.data["conc_pct_id_per_g"] / 100.0 * body_weight_kg * 1000.0
    out.attrs["units"] = "1 (g/mL)"
    return out.rename("suv")


def tumour_ratios(bd: Biodistribution) -> xr.Dataset:
    """Tumour-to-blood, -muscle and -liver concentration ratios per subject and time."""
    conc = bd.data["conc_pct_id_per_g"]
    t = conc.sel(organ="tumor")
    with np.errstate(divide="ignore", invalid="ignore"):
        return xr.Dataset(
            {f"tumour_to_{o}": t / conc.sel(organ=o) for o in ("blood", "muscle", "liver")}
        ).drop_vars("organ", errors="ignore")


# --------------------------------------------------------------------------------------------
# Resolution and partial volume
# --------------------------------------------------------------------------------------------


def effective_fwhm_mm(scanner_: Scanner, nuclide: str) -> float:
    """System FWHM [mm] for ``nuclide``: PET adds the positron range beyond 18F's in quadrature."""
    fwhm = scanner_.spatial_resolution_fwhm_mm
    if scanner_.modality != "PET":
        return fwhm
    em = nuclide_emission(nuclide)
    ref = nuclide_emission("F-18").mean_positron_range_mm or 0.0
    rng = em.mean_positron_range_mm
    if rng is None:
        return fwhm
    cite(*em.citation_keys())
    return math.sqrt(fwhm**2 + max(0.0, rng**2 - ref**2))


def sphere_centre_recovery(diameter_mm: float, fwhm_mm: float) -> float:
    """Recovery at the centre of a uniform sphere blurred by a 3-D Gaussian:
    ``erf(u/√2) − √(2/π) u exp(−u²/2)``, ``u = R/σ``."""
    _check_positive("diameter_mm", diameter_mm)
    _check_positive("fwhm_mm", fwhm_mm)
    u = 0.5 * diameter_mm / (fwhm_mm * FWHM_TO_SIGMA)
    return float(erf(u / math.sqrt(2.0)) - math.sqrt(2.0 / math.pi) * u * math.exp(-0.5 * u * u))


def sphere_recovery_coefficient(diameter_mm: float, fwhm_mm: float) -> float:
    """Mean recovery over a uniform sphere (radius ``R``) blurred by an isotropic 3-D Gaussian.

    ``RC = (1/V) ∫∫ 1_B(x) 1_B(y) g(x − y) dx dy = (1/V) ∫_0^{2R} 4πr² g(r) V_ov(r) dr`` with the
    lens volume of two spheres at distance ``r``, ``V_ov = (π/12)(16R³ − 12R²r + r³)``, so with
    ``a = 1/(2σ²)``, ``L = 2R``:
    ``RC = π (2πσ²)^(-3/2) / (4R³) · (16R³ I₂ − 12R² I₃ + I₅)``,
    ``I₂ = √π erf(√a L)/(4a^{3/2}) − L e^{−aL²}/(2a)``,
    ``I₃ = (1 − e^{−aL²}(1 + aL²))/(2a²)``, ``I₅ = (1 − e^{−aL²}(1 + aL² + a²L⁴/2))/a³``.
    Tends to 1 for ``R ≫ σ`` and to 0 for ``R ≪ σ``.
    """
    _check_positive("diameter_mm", diameter_mm)
    _check_positive("fwhm_mm", fwhm_mm)
    sigma = fwhm_mm * FWHM_TO_SIGMA
    # Work in units of sigma for numerical stability.
    r = 0.5 * diameter_mm / sigma
    a = 0.5
    big_l = 2.0 * r
    e = math.exp(-a * big_l * big_l)
    i2 = math.sqrt(math.pi) * math.erf(math.sqrt(a) * big_l) / (4.0 * a**1.5) - big_l * e / (2.0 * a)
    i3 = -(math.expm1(-a * big_l**2) + e * a * big_l**2) / (2.0 * a * a)
    i5 = -(math.expm1(-a * big_l**2) + e * (a * big_l**2 + 0.5 * a * a * big_l**4)) / a**3
    rc = math.pi * (2.0 * math.pi) ** -1.5 / (4.0 * r**3) * (16.0 * r**3 * i2 - 12.0 * r**2 * i3 + i5)
    return float(min(1.0, max(0.0, rc)))


# --------------------------------------------------------------------------------------------
# Result and the main entry point
# --------------------------------------------------------------------------------------------


class NuclearImagingResult(BaseModel):
    """PET/SPECT imaging performance of an agent over time, for one subject.

    CNR definition: ``(N_t − N_b)/σ_b``, ``N_t``/``N_b`` the true counts in a tumour ROI and a
    background ROI of equal volume (the tumour's) during the scan starting at ``time_h``,
    ``σ_b = sqrt(N_b / f_NEC)``. ``None`` in ``min_detectable_activity_MBq`` means the tumour
    is not above background at that time.
    """

    model_config = ConfigDict(frozen=True)

    agent_name: str
    nuclide: str
    half_life_h: float
    modality: Literal["PET", "SPECT"]
    scanner: str
    subject: str
    injected_activity_MBq: float
    body_weight_kg: float
    scan_duration_min: float
    rose_k: float
    background_organ: str
    tumour_diameter_mm: float
    tumour_volume_mL: float
    effective_fwhm_mm: float
    recovery_coefficient: float
    emission_yield_relative: float
    time_h: list[float]
    decay_fraction: list[float]
    activity_MBq: dict[str, list[float]]
    activity_decay_corrected_MBq: dict[str, list[float]]
    concentration_kBq_per_mL: dict[str, list[float]]
    concentration_decay_corrected_kBq_per_mL: dict[str, list[float]]
    suv: dict[str, list[float]]
    tumour_to_blood: list[float]
    tumour_to_muscle: list[float]
    tumour_to_liver: list[float]
    tumour_to_background: list[float]
    tumour_counts: list[float]
    background_counts: list[float]
    cnr: list[float]
    detectable: list[bool]
    min_detectable_activity_MBq: list[float | None]
    best_time_cnr_h: float
    best_cnr: float
    best_time_tumour_to_background_h: float
    best_tumour_to_background: float
    min_activity_MBq: float | None
    min_activity_time_h: float | None
    assumptions: list[str]
    citations: list[str]


def _finite_list(values: NDArray[np.float64]) -> list[float]:
    return [float(v) if math.isfinite(v) else float("nan") for v in values]


def _emission_yield_relative(scn: Scanner, nuclide: str) -> float:
    em = nuclide_emission(nuclide)
    if scn.modality == "PET":
        if not em.positron_yield_per_decay:
            raise ValueError(
                f"nuclide: {em.key} has no positron yield; it cannot be imaged on PET scanner {scn.key!r}"
            )
        ref = (
            1.0
            if scn.sensitivity_reference == "positron"
            else (nuclide_emission(scn.sensitivity_reference).positron_yield_per_decay or 1.0)
        )
        return em.positron_yield_per_decay / ref
    if not em.photon_yield_per_decay:
        raise ValueError(
            f"nuclide: {em.key} has no photopeak yield; it cannot be imaged on SPECT scanner {scn.key!r}"
        )
    ref_y = nuclide_emission(scn.sensitivity_reference).photon_yield_per_decay or 1.0
    return em.photon_yield_per_decay / ref_y


def nuclear_imaging(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    scanner: str = "biograph_vision",
    scan_duration_min: float = 10.0,
    rose_k: float = 5.0,
    *,
    activity_MBq: float | None = None,
    background_organ: str = "muscle",
    subject: int | str = 0,
) -> NuclearImagingResult:
    """PET/SPECT performance of ``agent`` over the biodistribution's time grid.

    ``activity_MBq`` overrides the injected activity (else the scenario's, else the label's).
    Raises ValueError naming the field for: no radionuclide label, a nuclide the scanner's
    modality cannot image, non-positive activity/duration/k, unknown scanner/organ/subject.
    """
    scn = _scanner_lookup(scanner)
    _check_positive("scan_duration_min", scan_duration_min)
    _check_positive("rose_k", rose_k)
    label = agent.labels.radionuclide
    if label is None:
        raise ValueError(
            f"agent.labels.radionuclide: <missing> -> agent {agent.name!r} carries no radionuclide; "
            "PET/SPECT needs one (e.g. {nuclide: 89Zr})"
        )
    nuc = label.nuclide
    entry = radionuclides().get(nuc)
    mode = entry.imaging_modality
    if mode != scn.modality:
        raise ValueError(
            f"scanner: {scn.key!r} is a {scn.modality} scanner but {nuc} is imaged by "
            f"{mode or 'neither PET nor SPECT'}; choose a "
            f"{mode or 'different'} scanner (known: {', '.join(scanner_names())})"
        )
    a0 = activity_MBq if activity_MBq is not None else (scenario.activity_MBq or label.activity_MBq)
    if a0 is None:
        raise ValueError(
            "activity_MBq: <missing> -> give scenario.activity_MBq or labels.radionuclide.activity_MBq"
        )
    _check_positive("activity_MBq", float(a0))
    a0 = float(a0)
    if background_organ not in OUTPUT_GROUPS or background_organ in EXCRETA or background_organ == "tumor":
        allowed = [o for o in OUTPUT_GROUPS if o not in EXCRETA and o != "tumor"]
        raise ValueError(f"background_organ: {background_organ!r} -> one of {', '.join(allowed)}")
    subjects = bd.subjects
    if isinstance(subject, int) and not isinstance(subject, bool):
        if not 0 <= subject < len(subjects):
            raise ValueError(f"subject: {subject!r} -> an index in 0..{len(subjects) - 1} or an id")
        sid = subjects[subject]
    elif str(subject) in subjects:
        sid = str(subject)
    else:
        raise ValueError(f"subject: {subject!r} -> one of {', '.join(subjects[:10])}")

    ds = bd.data.sel(subject=sid)
    times = bd.times_h
    tumour_mass_g = float(ds["organ_mass_g"].sel(organ="tumor"))
    if not tumour_mass_g > 0:
        raise ValueError(
            f"tumour mass: {tumour_mass_g!r} g in the biodistribution -> the scenario needs a tumour"
        )
    volume_mL = tumour_mass_g  # density 1 g/mL
    diameter_mm = (6.0 * volume_mL * 1000.0 / math.pi) ** (1.0 / 3.0)

    hl = half_life_h(nuc)
    dfrac = decay_fraction(nuc, times)
    conc_dc = np.asarray(ds["conc_pct_id_per_g"].values, dtype=float) / 100.0 * a0 * 1000.0  # kBq/mL
    amt_dc = np.asarray(ds["amount_pct_id"].values, dtype=float) / 100.0 * a0  # MBq
    organs = list(bd.data["organ"].values)
    idx = {o: organs.index(o) for o in (*REPORTED_ORGANS, background_organ)}

    fwhm = effective_fwhm_mm(scn, nuc)
    rc = sphere_recovery_coefficient(diameter_mm, fwhm)
    y_rel = _emission_yield_relative(scn, nuc)

    c_t = conc_dc[:, idx["tumor"]]
    c_b = conc_dc[:, idx[background_organ]]
    c_t_measured = c_b + rc * (c_t - c_b)
    decays_h = _decays_per_activity_h(nuc, times, scan_duration_min / 60.0)
    counts_per_kBq_mL = scn.sensitivity_cps_per_kBq * y_rel * volume_mL * decays_h * 3600.0
    n_t = c_t_measured * counts_per_kBq_mL
    n_b = c_b * counts_per_kBq_mL
    sigma_b = np.sqrt(np.maximum(n_b, 0.0) / scn.nec_fraction)
    with np.errstate(divide="ignore", invalid="ignore"):
        cnr = np.where(sigma_b > 0, (n_t - n_b) / sigma_b, np.where(n_t > n_b, np.inf, 0.0))
        a_min = np.where(cnr > 0, a0 * (rose_k / cnr) ** 2, np.inf)
        t_to_b = c_t / c_b
    ratios = tumour_ratios(bd).sel(subject=sid)

    cnr_f = np.where(np.isfinite(cnr), cnr, -np.inf)
    i_best = int(np.argmax(cnr_f))
    tb_f = np.where(np.isfinite(t_to_b), t_to_b, -np.inf)
    i_tb = int(np.argmax(tb_f))
    finite_amin = np.isfinite(a_min)
    i_amin = int(np.argmin(np.where(finite_amin, a_min, np.inf))) if finite_amin.any() else None

    body_g = scenario.body_weight_kg * 1000.0
    assumptions = [
        "PBPK amounts are decay-corrected; physical activity = decay-corrected x exp(-ln2 t/T1/2).",
        "Tissue density 1 g/mL; tumour is a uniform sphere of the biodistribution's tumour mass.",
        "Tumour ROI mean = C_b + RC (C_t - C_b): uniform background of the background organ around it.",
        "Biodistribution frozen at the scan start; only physical decay is integrated over the scan.",
        "Poisson noise with noise-equivalent counts only; no reconstruction noise amplification, "
        "attenuation or dead time.",
    ]
    if scn.modality == "PET":
        assumptions.append(
            "Mean positron range used as a Gaussian FWHM, added in quadrature beyond 18F's (approximation)."
        )
    else:
        assumptions.append(
            "SPECT counts scale with the summed photopeak yield relative to 99mTc 140 keV "
            "(energy-dependent collimator and crystal efficiency neglected)."
        )
    if scn.assumed or scn.assumed_fields:
        assumptions.append(
            f"Scanner {scn.key}: assumed values {', '.join(scn.assumed_fields) or 'see note'}."
        )

    keys = [*scn.citation_keys(), *nuclide_emission(nuc).citation_keys(), "ICRP107", "Malins2022"]
    keys.extend(entry.citation_keys())
    keys.extend(str(k) for k in bd.data.attrs.get("citations", ()) if isinstance(k, str))
    keys = list(dict.fromkeys(keys))
    cite(*keys)

    def per_organ(
        arr: NDArray[np.float64], scale: NDArray[np.float64] | float = 1.0
    ) -> dict[str, list[float]]:
        return {
            o: _finite_list(arr[:, idx[o]] * scale)
            for o in dict.fromkeys((*REPORTED_ORGANS, background_organ))
        }

    return NuclearImagingResult(
        agent_name=agent.name,
        nuclide=nuc,
        half_life_h=hl,
        modality=scn.modality,
        scanner=scn.key,
        subject=sid,
        injected_activity_MBq=a0,
        body_weight_kg=scenario.body_weight_kg,
        scan_duration_min=scan_duration_min,
        rose_k=rose_k,
        background_organ=background_organ,
        tumour_diameter_mm=diameter_mm,
        tumour_volume_mL=volume_mL,
        effective_fwhm_mm=fwhm,
        recovery_coefficient=rc,
        emission_yield_relative=y_rel,
        time_h=[float(t) for t in times],
        decay_fraction=_finite_list(dfrac),
        activity_MBq=per_organ(amt_dc, dfrac),
        activity_decay_corrected_MBq=per_organ(amt_dc),
        concentration_kBq_per_mL=per_organ(conc_dc, dfrac),
        concentration_decay_corrected_kBq_per_mL=per_organ(conc_dc),
        suv=per_organ(conc_dc / (a0 * 1000.0) * body_g),
        tumour_to_blood=_finite_list(np.asarray(ratios["tumour_to_blood"].values, dtype=float)),
        tumour_to_muscle=_finite_list(np.asarray(ratios["tumour_to_muscle"].values, dtype=float)),
        tumour_to_liver=_finite_list(np.asarray(ratios["tumour_to_liver"].values, dtype=float)),
        tumour_to_background=_finite_list(t_to_b),
        tumour_counts=_finite_list(n_t),
        background_counts=_finite_list(n_b),
        cnr=_finite_list(cnr),
        detectable=[bool(c >= rose_k) for c in cnr],
        min_detectable_activity_MBq=[float(a) if math.isfinite(a) else None for a in a_min],
        best_time_cnr_h=float(times[i_best]),
        best_cnr=float(cnr[i_best]),
        best_time_tumour_to_background_h=float(times[i_tb]),
        best_tumour_to_background=float(t_to_b[i_tb]),
        min_activity_MBq=None if i_amin is None else float(a_min[i_amin]),
        min_activity_time_h=None if i_amin is None else float(times[i_amin]),
        assumptions=assumptions,
        citations=keys,
    )


def _scanner_lookup(name: str) -> Scanner:
    return scanner(name)


def known_nuclides() -> Sequence[str]:
    """Nuclides with emission data in ``scanners.yaml``."""
    return sorted(_data()["nuclides"])
