"""Physicochemical-property relations that adapt the nano-PBPK parameter set to a particle.

The mouse nano-PBPK model (Cheng et al. 2020, on Lin et al. 2016) was calibrated for PEG-coated
gold of two sizes. These pure functions carry a particle's hydrodynamic diameter, zeta potential
and PEG coating into the model:

- :func:`renal_sieving_coefficient` — glomerular sieving coefficient theta of a rigid, neutral
  sphere from a two-pore hindered-transport model (pore radii and large-pore filtrate fraction of
  Ohlson et al. 2000; hindrance coefficients of Dechadilok & Deen 2006; convection + diffusion
  in each pore population, Rippe & Haraldsson 1994 / Deen et al. 2001);
- :func:`renal_clearance_L_per_h` — GFR x theta;
- :func:`mps_uptake_multiplier` — multiplier on the maximum phagocytic uptake rates
  ``KXRESmax``: size x charge x PEG factors, each bounded and equal to 1 for the reference
  particle of the parameter set. Directions are sourced; magnitudes and shapes are assumed and
  flagged as such in ``data/relations/property_relations.yaml``.

Every numeric constant lives in that YAML file with its unit, citation keys, ``assumed`` flag
and a note; :func:`describe_relations` reports them and :func:`relations_citation_keys` gives
the keys for :func:`nanobridge.citations.cite`.

Two-pore sieving model
----------------------
For a sphere of Stokes radius ``a = d/2`` and a pore population ``i`` of radius ``r_i``
(``lam = a / r_i``; nothing passes when ``lam >= 1``)::

    Phi = (1 - lam)^2,  W = Phi * Kc(lam),  H = Phi * Kd(lam)            (Dechadilok & Deen 2006)
    Pe_i = (W / H) * (3 pi / 4) * r_i^2 * a * NFP / (kB T)

``Pe_i`` is the pore Peclet number ``W Jv_i / (H D A_i/dx)`` with Poiseuille pore flow
``Jv_i / (A_i/dx) = r_i^2 NFP / (8 eta)`` and Stokes-Einstein ``D = kB T / (6 pi eta a)``, so the
viscosity and the (unknown) pore area over path length cancel. With ``alpha_S = 1 - fL`` and
``alpha_L = fL`` the fractions of the filtrate through small and large pores and one Bowman's
space concentration for both::

    g_i   = alpha_i W_i / (1 - exp(-Pe_i))
    theta = sum_i g_i / (1 + sum_i g_i exp(-Pe_i))

theta -> 1 for very small particles (diffusion equalizes the concentrations), -> W for purely
convective transport, and is monotonically non-increasing in size. With the packaged constants
theta = 0.98 at 2 nm, 0.90 at 3 nm, 0.5 at 4.4 nm, 0.23 at 5.5 nm, 0.007 at 8.65 nm, 0.002 at
10 nm and exactly 0 from 16.7 nm (twice the large-pore radius) up.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, NamedTuple, overload

import numpy as np
import yaml
from numpy.typing import NDArray

__all__ = [
    "Constant",
    "MPSFactors",
    "ReferenceParticle",
    "Relation",
    "describe_relations",
    "mps_multiplier_bounds",
    "mps_uptake_factors",
    "mps_uptake_multiplier",
    "reference_particle",
    "relations",
    "relations_citation_keys",
    "renal_clearance_L_per_h",
    "renal_sieving_coefficient",
]

_DATA_FILE = ("data", "relations", "property_relations.yaml")


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """One numeric constant of a relation, with its unit and provenance."""

    name: str
    value: float | tuple[float, ...]
    unit: str
    citations: tuple[str, ...]
    assumed: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        value: Any = list(self.value) if isinstance(self.value, tuple) else self.value
        return {
            "name": self.name,
            "value": value,
            "unit": self.unit,
            "citations": list(self.citations),
            "assumed": self.assumed,
            "note": self.note,
        }


@dataclass(frozen=True)
class Relation:
    """A property relation: what it computes, its formula, constants and citations."""

    name: str
    function: str
    formula: str
    description: str
    constants: tuple[Constant, ...]
    citations: tuple[str, ...]
    assumed_shape: bool
    note: str = ""

    def citation_keys(self) -> set[str]:
        """Keys of the relation and of all its constants."""
        keys = set(self.citations)
        for c in self.constants:
            keys.update(c.citations)
        return keys

    @property
    def assumed(self) -> bool:
        """True when the shape or any constant is assumed rather than sourced."""
        return self.assumed_shape or any(c.assumed for c in self.constants)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "function": self.function,
            "formula": self.formula,
            "description": self.description,
            "constants": [c.as_dict() for c in self.constants],
            "citations": sorted(self.citation_keys()),
            "assumed_shape": self.assumed_shape,
            "assumed": self.assumed,
            "note": self.note,
        }


@dataclass(frozen=True)
class ReferenceParticle:
    """The particle for which the parameter set's ``KXRESmax`` hold (multiplier = 1)."""

    hydrodynamic_diameter_nm: float
    zeta_potential_mV: float
    peg_mw_Da: float | None
    peg_density_chains_per_nm2: float | None


class MPSFactors(NamedTuple):
    """The factors of :func:`mps_uptake_multiplier`: ``total = size * charge * peg``."""

    size: float
    charge: float
    peg: float
    total: float


# --------------------------------------------------------------------------------------------
# Loading the packaged constants
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    node = resources.files("nanobridge")
    for part in _DATA_FILE:
        node = node / part
    data = yaml.safe_load(node.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{'/'.join(_DATA_FILE)}: expected a mapping at top level")
    return data


def _constant(name: str, entry: Mapping[str, Any]) -> Constant:
    missing = {"value", "unit", "citations", "assumed", "note"} - set(entry)
    if missing:
        raise ValueError(f"property_relations.yaml: constant {name!r} lacks {sorted(missing)}")
    raw = entry["value"]
    value: float | tuple[float, ...] = tuple(float(v) for v in raw) if isinstance(raw, list) else float(raw)
    cites = entry["citations"]
    return Constant(
        name=name,
        value=value,
        unit=str(entry["unit"]),
        citations=(cites,) if isinstance(cites, str) else tuple(str(c) for c in cites),
        assumed=bool(entry["assumed"]),
        note=" ".join(str(entry["note"]).split()),
    )


def _group(path: str) -> dict[str, Constant]:
    node: Any = _raw()
    for part in path.split("."):
        node = node[part]
    return {name: _constant(name, entry) for name, entry in node.items()}


@dataclass(frozen=True)
class _RenalParams:
    small_pore_radius_nm: float
    large_pore_radius_nm: float
    large_pore_filtrate_fraction: float
    net_filtration_pressure_mmHg: float
    body_temperature_K: float
    boltzmann_constant_J_per_K: float
    pascal_per_mmHg: float
    hindrance_fit_max_lambda: float
    kd_coefficients: tuple[float, ...]
    kc_coefficients: tuple[float, ...]


@dataclass(frozen=True)
class _MPSParams:
    reference: ReferenceParticle
    size_exponent: float
    size_min: float
    size_max: float
    neutral_band_mV: float
    cationic_max_increase: float
    anionic_max_increase: float
    charge_scale_mV: float
    peg_monomer_length_nm: float
    flory_exponent: float
    peg_monomer_molar_mass_g_per_mol: float
    peg_min_relative_uptake: float
    peg_coverage_scale: float


def _scalar(c: Constant) -> float:
    if isinstance(c.value, tuple):
        raise ValueError(f"property_relations.yaml: constant {c.name!r} must be a number")
    return c.value


def _vector(c: Constant, n: int) -> tuple[float, ...]:
    if not isinstance(c.value, tuple) or len(c.value) != n:
        raise ValueError(f"property_relations.yaml: constant {c.name!r} must be a list of {n}")
    return c.value


@functools.lru_cache(maxsize=1)
def _renal_params() -> _RenalParams:
    g = _group("renal_sieving.constants")
    return _RenalParams(
        small_pore_radius_nm=_scalar(g["small_pore_radius_nm"]),
        large_pore_radius_nm=_scalar(g["large_pore_radius_nm"]),
        large_pore_filtrate_fraction=_scalar(g["large_pore_filtrate_fraction"]),
        net_filtration_pressure_mmHg=_scalar(g["net_filtration_pressure_mmHg"]),
        body_temperature_K=_scalar(g["body_temperature_K"]),
        boltzmann_constant_J_per_K=_scalar(g["boltzmann_constant_J_per_K"]),
        pascal_per_mmHg=_scalar(g["pascal_per_mmHg"]),
        hindrance_fit_max_lambda=_scalar(g["hindrance_fit_max_lambda"]),
        kd_coefficients=_vector(g["diffusive_hindrance_Kd_coefficients"], 8),
        kc_coefficients=_vector(g["convective_hindrance_Kc_coefficients"], 5),
    )


@functools.lru_cache(maxsize=1)
def _mps_params() -> _MPSParams:
    ref = _group("mps_uptake.reference_particle")
    size = _group("mps_uptake.size")
    charge = _group("mps_uptake.charge")
    peg = _group("mps_uptake.peg")
    return _MPSParams(
        reference=ReferenceParticle(
            hydrodynamic_diameter_nm=_scalar(ref["hydrodynamic_diameter_nm"]),
            zeta_potential_mV=_scalar(ref["zeta_potential_mV"]),
            peg_mw_Da=_scalar(ref["peg_mw_Da"]),
            peg_density_chains_per_nm2=_scalar(ref["peg_density_chains_per_nm2"]),
        ),
        size_exponent=_scalar(size["exponent"]),
        size_min=_scalar(size["min_factor"]),
        size_max=_scalar(size["max_factor"]),
        neutral_band_mV=_scalar(charge["neutral_band_half_width_mV"]),
        cationic_max_increase=_scalar(charge["cationic_max_increase"]),
        anionic_max_increase=_scalar(charge["anionic_max_increase"]),
        charge_scale_mV=_scalar(charge["saturation_scale_mV"]),
        peg_monomer_length_nm=_scalar(peg["monomer_length_nm"]),
        flory_exponent=_scalar(peg["flory_exponent"]),
        peg_monomer_molar_mass_g_per_mol=_scalar(peg["monomer_molar_mass_g_per_mol"]),
        peg_min_relative_uptake=_scalar(peg["min_relative_uptake"]),
        peg_coverage_scale=_scalar(peg["coverage_scale"]),
    )


def reference_particle() -> ReferenceParticle:
    """The packaged reference particle (multiplier 1); see its ``assumed`` notes in the YAML."""
    return _mps_params().reference


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _as_float_array(name: str, value: object) -> NDArray[np.float64]:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    return arr


def _first_bad(arr: NDArray[np.float64], bad: NDArray[np.bool_]) -> float:
    return float(arr[bad].flat[0]) if arr.ndim else float(arr)


def _positive_finite(name: str, value: object, unit: str) -> NDArray[np.float64]:
    arr = _as_float_array(name, value)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if np.any(bad):
        raise ValueError(f"{name} must be a finite number > 0 {unit}, got {_first_bad(arr, bad)!r}")
    return arr


def _scalar_input(name: str, value: object) -> float:
    arr = _as_float_array(name, value)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single number, got an array of shape {arr.shape}")
    return float(arr)


# --------------------------------------------------------------------------------------------
# Renal sieving
# --------------------------------------------------------------------------------------------


def _hindrance(lam: NDArray[np.float64], p: _RenalParams) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Convective (W) and diffusive (H) hindrance of spheres in cylindrical pores, 0 <= lam < 1."""
    c = p.kd_coefficients
    b = p.kc_coefficients
    phi = (1.0 - lam) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_log = np.where(lam > 0, lam * np.log(np.where(lam > 0, lam, 1.0)), 0.0)
    kd = 1.0 + c[0] * lam_log
    for k, coef in enumerate(c[1:], start=1):
        kd = kd + coef * lam**k
    kc = (1.0 + b[0] * lam + b[1] * lam**2 + b[2] * lam**3) / (1.0 + b[3] * lam + b[4] * lam**2)
    return phi * kc, phi * kd


def _pore_terms(
    a_nm: NDArray[np.float64], r_nm: float, p: _RenalParams
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """W and Peclet number of one pore population for Stokes radii ``a_nm``."""
    lam = a_nm / r_nm
    passes = lam < 1.0
    lam_in = np.where(passes, lam, 0.5)  # placeholder where nothing passes
    w, h = _hindrance(lam_in, p)
    w = np.where(passes, w, 0.0)
    # Pe = (W/H) (3 pi / 4) r^2 a NFP / (kB T), SI units inside.
    factor = (
        0.75
        * math.pi
        * (r_nm * 1e-9) ** 2
        * (a_nm * 1e-9)
        * (p.net_filtration_pressure_mmHg * p.pascal_per_mmHg)
        / (p.boltzmann_constant_J_per_K * p.body_temperature_K)
    )
    diffusive = passes & (lam <= p.hindrance_fit_max_lambda) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pe = np.where(diffusive, w / np.where(diffusive, h, 1.0) * factor, np.inf)
    return w, pe


def _sieving(d_nm: NDArray[np.float64], p: _RenalParams) -> NDArray[np.float64]:
    a = 0.5 * d_nm
    num = np.zeros_like(a)
    den = np.ones_like(a)
    f_large = p.large_pore_filtrate_fraction
    for r, alpha in ((p.small_pore_radius_nm, 1.0 - f_large), (p.large_pore_radius_nm, f_large)):
        w, pe = _pore_terms(a, r, p)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = np.where(w > 0, alpha * w / -np.expm1(-pe), 0.0)
            num = num + g
            den = den + g * np.exp(-pe)
    with np.errstate(invalid="ignore"):
        theta = num / den
    # inf/inf only when a Peclet number underflows to 0 (vanishingly small particles): limit 1.
    theta = np.where(np.isnan(theta), 1.0, theta)
    return np.clip(theta, 0.0, 1.0)


@overload
def renal_sieving_coefficient(hydrodynamic_diameter_nm: float) -> float: ...
@overload
def renal_sieving_coefficient(hydrodynamic_diameter_nm: NDArray[Any]) -> NDArray[np.float64]: ...
def renal_sieving_coefficient(
    hydrodynamic_diameter_nm: float | NDArray[Any],
) -> float | NDArray[np.float64]:
    """Glomerular sieving coefficient (filtrate / plasma concentration) of a particle.

    Two-pore hindered-transport model of a rigid, neutral sphere (see the module docstring),
    constants from ``data/relations/property_relations.yaml`` (pore radii 4.6 and 8.35 nm, 0.94 % of
    the filtrate through large pores: Ohlson et al. 2000; Dechadilok & Deen 2006 hindrance).
    Returns a value in [0, 1], monotonically non-increasing in size: ~1 below 2 nm, 0.5 at
    about 4.4 nm, 0.23 at 5.5 nm (Choi et al. 2007: rapid renal clearance below ~5.5 nm),
    < 0.01 from 8.6 nm and 0 from 16.7 nm.

    Limits: charge is ignored (anionic particles are filtered less, cationic more); the pore
    parameters are rat values (Ficoll), applied to all species; the net filtration pressure
    (10 mmHg) is assumed. The sieving coefficient is the glomerular step only: tubular
    reabsorption or retention of particles is not included.

    Raises ``ValueError`` naming ``hydrodynamic_diameter_nm`` and the value for a diameter that
    is not a finite number > 0.
    """
    d = _positive_finite("hydrodynamic_diameter_nm", hydrodynamic_diameter_nm, "nm")
    theta = _sieving(d, _renal_params())
    if theta.ndim == 0:
        return float(theta)
    return theta


def renal_clearance_L_per_h(
    hydrodynamic_diameter_nm: float | NDArray[Any],
    gfr_L_per_h: float | NDArray[Any],
) -> float | NDArray[np.float64]:
    """Renal (glomerular) clearance of the particle [L/h] = GFR x sieving coefficient.

    ``gfr_L_per_h`` is the glomerular filtration rate of the subject (plasma); inputs broadcast.
    Raises ``ValueError`` naming the argument for a diameter that is not finite and > 0 or a
    GFR that is not finite and >= 0.
    """
    d = _positive_finite("hydrodynamic_diameter_nm", hydrodynamic_diameter_nm, "nm")
    gfr = _as_float_array("gfr_L_per_h", gfr_L_per_h)
    bad = ~np.isfinite(gfr) | (gfr < 0)
    if np.any(bad):
        raise ValueError(f"gfr_L_per_h must be a finite number >= 0 L/h, got {_first_bad(gfr, bad)!r}")
    cl = gfr * _sieving(d, _renal_params())
    if np.ndim(cl) == 0:
        return float(cl)
    return np.asarray(cl, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# MPS uptake multiplier
# --------------------------------------------------------------------------------------------


def _size_factor(d_nm: float, ref_d_nm: float, p: _MPSParams) -> float:
    raw = (d_nm / ref_d_nm) ** p.size_exponent
    return float(min(max(raw, p.size_min), p.size_max))


def _charge_raw(zeta_mV: float, p: _MPSParams) -> float:
    excess = abs(zeta_mV) - p.neutral_band_mV
    if excess <= 0:
        return 1.0
    amplitude = p.cationic_max_increase if zeta_mV > 0 else p.anionic_max_increase
    return 1.0 + amplitude * -math.expm1(-excess / p.charge_scale_mV)


def _peg_coverage(mw_Da: float | None, density: float | None, p: _MPSParams) -> float:
    """Reduced grafting density c = sigma * pi * R_F^2 / 4 (0 without PEG)."""
    if mw_Da is None or density is None or density == 0:
        return 0.0
    n_monomers = mw_Da / p.peg_monomer_molar_mass_g_per_mol
    flory_radius_nm = p.peg_monomer_length_nm * n_monomers**p.flory_exponent
    return density * math.pi * flory_radius_nm**2 / 4.0


def _peg_relative_uptake(coverage: float, p: _MPSParams) -> float:
    f_min = p.peg_min_relative_uptake
    return f_min + (1.0 - f_min) * math.exp(-coverage / p.peg_coverage_scale)


def _check_peg(
    peg_mw_Da: float | None, peg_density_chains_per_nm2: float | None, p: _MPSParams
) -> tuple[float | None, float | None]:
    mw = None if peg_mw_Da is None else _scalar_input("peg_mw_Da", peg_mw_Da)
    dens = (
        None
        if peg_density_chains_per_nm2 is None
        else _scalar_input("peg_density_chains_per_nm2", peg_density_chains_per_nm2)
    )
    if mw is not None and not (math.isfinite(mw) and mw > 0):
        raise ValueError(f"peg_mw_Da must be a finite number > 0 Da (or None: no PEG), got {mw!r}")
    if dens is not None and not (math.isfinite(dens) and dens >= 0):
        raise ValueError(
            f"peg_density_chains_per_nm2 must be a finite number >= 0 chains/nm^2 (or None), got {dens!r}"
        )
    if mw is None and dens is not None and dens > 0:
        raise ValueError(
            f"peg_density_chains_per_nm2 = {dens!r} given without peg_mw_Da; "
            "give the PEG molar mass too, or None for both when there is no PEG"
        )
    if mw is not None and dens is None:
        dens = p.reference.peg_density_chains_per_nm2  # documented default (assumed)
    return mw, dens


def mps_uptake_factors(
    hydrodynamic_diameter_nm: float,
    zeta_potential_mV: float,
    peg_mw_Da: float | None,
    peg_density_chains_per_nm2: float | None,
    *,
    reference: ReferenceParticle | None = None,
) -> MPSFactors:
    """The size, charge and PEG factors of :func:`mps_uptake_multiplier` and their product."""
    p = _mps_params()
    ref = reference or p.reference
    d = _scalar_input("hydrodynamic_diameter_nm", hydrodynamic_diameter_nm)
    d = float(_positive_finite("hydrodynamic_diameter_nm", d, "nm"))
    zeta = _scalar_input("zeta_potential_mV", zeta_potential_mV)
    if not math.isfinite(zeta):
        raise ValueError(f"zeta_potential_mV must be a finite number (mV), got {zeta!r}")
    mw, dens = _check_peg(peg_mw_Da, peg_density_chains_per_nm2, p)

    ref_d = float(_positive_finite("reference.hydrodynamic_diameter_nm", ref.hydrodynamic_diameter_nm, "nm"))
    ref_mw, ref_dens = _check_peg(ref.peg_mw_Da, ref.peg_density_chains_per_nm2, p)

    size = _size_factor(d, ref_d, p)
    charge = _charge_raw(zeta, p) / _charge_raw(ref.zeta_potential_mV, p)
    peg = _peg_relative_uptake(_peg_coverage(mw, dens, p), p) / _peg_relative_uptake(
        _peg_coverage(ref_mw, ref_dens, p), p
    )
    return MPSFactors(size, charge, peg, size * charge * peg)


def mps_uptake_multiplier(
    hydrodynamic_diameter_nm: float,
    zeta_potential_mV: float,
    peg_mw_Da: float | None,
    peg_density_chains_per_nm2: float | None,
    *,
    reference: ReferenceParticle | None = None,
) -> float:
    """Multiplier on the maximum phagocytic uptake rates ``KXRESmax`` of the parameter set.

    ``size x charge x PEG``, each factor 1 for the reference particle (packaged default, or
    ``reference``: the particle the parameter set was calibrated on):

    - size: ``(d / d_ref)^1``, bounded to [0.1, 10] — larger particles are taken up more
      (Lin 2016; Zhang 2009; Perrault 2009; Walkey 2012). Exponent and bounds assumed.
    - charge: 1 inside the neutral band |zeta| <= 10 mV (Clogston 2011); outside it
      ``1 + A (1 - exp(-(|zeta| - 10 mV) / 20 mV))`` with A = 2 for cationic, 0.5 for anionic
      particles — cationic > anionic > neutral (Xiao 2011; Arvizo 2011). Shape and A assumed.
    - PEG: relative uptake ``f(c) = 0.1 + 0.9 exp(-c)`` of the reduced grafting density
      ``c = sigma pi R_F^2 / 4``, ``R_F = 0.35 nm x N^0.6`` (de Gennes 1980; Suk 2016),
      normalized to the reference coating — longer or denser PEG lowers uptake (Gref 2000;
      Walkey 2012). Shape and floor assumed. ``peg_mw_Da=None`` (or density 0) means no PEG;
      a molar mass without density uses the reference density (0.5 chains/nm^2, assumed).

    The result is positive and lies within [0.1 x 1 x f_min/f_ref, 10 x 3 x 1/f_ref] — about
    [0.1, 300] with the packaged constants. Raises ``ValueError`` naming the argument and the
    value for a diameter that is not finite and > 0, a non-finite zeta potential, a PEG molar
    mass that is not finite and > 0, a negative or non-finite density, or a density without a
    molar mass.
    """
    return mps_uptake_factors(
        hydrodynamic_diameter_nm,
        zeta_potential_mV,
        peg_mw_Da,
        peg_density_chains_per_nm2,
        reference=reference,
    ).total


def mps_multiplier_bounds() -> tuple[float, float]:
    """Lowest and highest value :func:`mps_uptake_multiplier` can return (packaged reference)."""
    p = _mps_params()
    ref = p.reference
    f_ref = _peg_relative_uptake(_peg_coverage(ref.peg_mw_Da, ref.peg_density_chains_per_nm2, p), p)
    c_ref = _charge_raw(ref.zeta_potential_mV, p)
    lo = p.size_min * (1.0 / c_ref) * (p.peg_min_relative_uptake / f_ref)
    hi = p.size_max * ((1.0 + max(p.cationic_max_increase, p.anionic_max_increase)) / c_ref) / f_ref
    return lo, hi


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _relations() -> tuple[Relation, ...]:
    raw = _raw()
    renal = _group("renal_sieving.constants")
    ref = _group("mps_uptake.reference_particle")
    size = _group("mps_uptake.size")
    charge = _group("mps_uptake.charge")
    peg = _group("mps_uptake.peg")
    return (
        Relation(
            name="glomerular_sieving_two_pore",
            function="renal_sieving_coefficient",
            formula=(
                "a = d/2; for pores i in {small, large}: lam = a/r_i, Phi = (1-lam)^2, "
                "W = Phi*Kc(lam), H = Phi*Kd(lam) (0 if lam >= 1), "
                "Pe_i = (W/H)*(3*pi/4)*r_i^2*a*NFP/(kB*T) (infinite if lam > 0.95), "
                "g_i = alpha_i*W/(1-exp(-Pe_i)), alpha_S = 1-fL, alpha_L = fL; "
                "theta = sum g_i / (1 + sum g_i*exp(-Pe_i))"
            ),
            description=" ".join(str(raw["renal_sieving"]["description"]).split()),
            constants=tuple(renal.values()),
            citations=("RippeHaraldsson1994", "Deen2001", "Einstein1905", "Choi2007"),
            assumed_shape=False,
            note=(
                "Rigid neutral sphere; rat (Ficoll) pore parameters used for all species; charge "
                "and tubular handling ignored. Choi 2007 (renal clearance of quantum dots fast "
                "below ~5.5 nm hydrodynamic diameter) is a consistency check, not a fit: its "
                "urinary-excretion numbers were not available."
            ),
        ),
        Relation(
            name="renal_clearance",
            function="renal_clearance_L_per_h",
            formula="CL_renal [L/h] = GFR [L/h] * theta(d)",
            description="Glomerular clearance of the intact particle from plasma.",
            constants=(),
            citations=("RippeHaraldsson1994",),
            assumed_shape=False,
        ),
        Relation(
            name="mps_size_factor",
            function="mps_uptake_factors(...).size",
            formula="F_size = clip((d/d_ref)^beta, F_min, F_max)",
            description="Size dependence of the maximum phagocytic uptake rates.",
            constants=(ref["hydrodynamic_diameter_nm"], *size.values()),
            citations=("Lin2016_gold_mouse", "Zhang2009", "Perrault2009", "Walkey2012"),
            assumed_shape=True,
            note="Direction sourced, power-law shape and exponent assumed.",
        ),
        Relation(
            name="mps_charge_factor",
            function="mps_uptake_factors(...).charge",
            formula=(
                "F_charge = g(zeta)/g(zeta_ref); g = 1 if |zeta| <= band, else "
                "1 + A_sign*(1 - exp(-(|zeta| - band)/scale)), A_+ > A_- > 0"
            ),
            description="Surface-charge dependence: cationic > anionic > neutral.",
            constants=(ref["zeta_potential_mV"], *charge.values()),
            citations=("Xiao2011", "Arvizo2011", "Clogston2011"),
            assumed_shape=True,
            note="Direction sourced, saturating shape and amplitudes assumed.",
        ),
        Relation(
            name="mps_peg_factor",
            function="mps_uptake_factors(...).peg",
            formula=(
                "N = MW/M0, R_F = a*N^nu, c = sigma*pi*R_F^2/4, "
                "f(c) = f_min + (1-f_min)*exp(-c/c0), F_peg = f(c)/f(c_ref) (c = 0 without PEG)"
            ),
            description="PEG shielding: longer or denser PEG lowers phagocytic uptake.",
            constants=(ref["peg_mw_Da"], ref["peg_density_chains_per_nm2"], *peg.values()),
            citations=("Gref2000", "Walkey2012", "Suk2016", "deGennes1980"),
            assumed_shape=True,
            note="Direction and brush scaling sourced, exponential shielding shape and floor assumed.",
        ),
        Relation(
            name="mps_uptake_multiplier",
            function="mps_uptake_multiplier",
            formula="M = F_size * F_charge * F_peg (applied to every KXRESmax but the tumour's)",
            description=" ".join(str(raw["mps_uptake"]["description"]).split()),
            constants=(),
            citations=("Lin2016_gold_mouse",),
            assumed_shape=True,
        ),
    )


def relations() -> tuple[Relation, ...]:
    """The property relations with their metadata."""
    return _relations()


def describe_relations() -> list[dict[str, Any]]:
    """For reports: each relation's name, formula, constants (value, unit, citations, assumed,
    note), citation keys and whether anything in it is assumed."""
    return [r.as_dict() for r in _relations()]


def relations_citation_keys() -> set[str]:
    """All citation keys the property relations rely on (for :func:`nanobridge.citations.cite`)."""
    keys: set[str] = set()
    for r in _relations():
        keys |= r.citation_keys()
    return keys


def _with_renal(**changes: Any) -> _RenalParams:
    """The packaged renal constants with some replaced (for sensitivity checks)."""
    return replace(_renal_params(), **changes)
