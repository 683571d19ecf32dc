"""Photon Monte Carlo in the stylized adult phantom (:mod:`.phantom`) -> specific absorbed fractions.

Physics (each choice is an assumption of the resulting SAFs):

- Photons start uniformly in the source region (rejection sampling in its bounding box) with
  isotropic directions, and are tracked with Woodcock (delta) tracking against the largest
  attenuation coefficient of the phantom's materials.
- Interactions: photoelectric absorption (all the photon energy deposited at the site; no
  fluorescence transport: K x-rays of the main soft-tissue elements are below 4 keV, those of
  trace Ca, Fe, Zn are ignored) and Compton (incoherent) scattering with the free-electron
  Klein–Nishina angular distribution (no binding correction of the angles) sampled by Kahn's
  rejection method (Kahn 1956, as given by Everett & Cashwell); the recoil electron's
  energy is deposited at the site (kerma approximation: electron ranges are ≤ ~4 mm at 1 MeV).
  Coherent (Rayleigh) scattering is IGNORED (removed from the attenuation, a few % of the
  interactions below 50 keV; it hardly moves energy). Pair production is absent: the energy grid
  stops at 1 MeV, below its threshold.
- Cross sections: photoelectric and incoherent mass attenuation coefficients of the elements from
  ``xraydb`` (Elam, Ravel & Sieber tables, citation ``Elam2002``), mixed by mass fraction; above
  300 keV, where binding no longer matters and where xraydb's tables are unreliable (> 800 keV,
  the values are clamped), the incoherent coefficient is the Klein–Nishina cross section times
  the electron density (0.2 % above xraydb's value at 300 keV). Check: total soft-tissue
  coefficient 0.0700 cm²/g at 1 MeV (test).
- Photons below 5 keV are absorbed where they are.
- Estimator: collision (analogue) estimator of the energy deposited per region, with the
  per-history variance for the relative standard error; energy escaping the body is tallied, so
  deposited + escaped = emitted exactly.

SAF(T←S, E) = (energy deposited in T) / (emitted energy) / m_T [1/kg], with the phantom's masses.
The packaged table ``data/dosimetry/phantom_photon_saf.csv`` was made by
:func:`compute_saf_table` (its header records the photon count, seed and code);
:func:`phantom_photon_saf` loads it as a :class:`~nanobridge.science.dosimetry.mird.SAFTable`
and :func:`phantom_photon_dose_factors` wraps it as a dose-factor model for
:func:`~nanobridge.science.dosimetry.mird.absorbed_doses` (photons from the table; electrons and
alpha particles absorbed in their source region unless ``local_electrons=False``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numba
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.science.dosimetry import phantom as ph
from nanobridge.science.dosimetry.mird import REST_OF_BODY, SAFTable, SpecificAbsorbedFractions
from nanobridge.science.dosimetry.phantom import region_at
from nanobridge.science.dosimetry.tiac import REMAINDER

__all__ = [
    "PHANTOM_SAF_ENERGIES_MEV",
    "PHANTOM_SAF_SOURCES",
    "PHANTOM_SAF_TARGETS",
    "PHANTOM_SOURCE_MAP",
    "PHANTOM_TISSUE_MAP",
    "PhotonMCResult",
    "attenuation_tables",
    "compute_saf_table",
    "kahn_compton_sample",
    "phantom_photon_dose_factors",
    "phantom_photon_saf",
    "simulate_photons",
    "write_saf_csv",
]

ELECTRON_REST_MEV = 0.51099895
CLASSICAL_ELECTRON_RADIUS_CM = 2.8179403262e-13
AVOGADRO_PER_MOL = 6.02214076e23
PHOTON_CUTOFF_MEV = 0.005
#: Above this energy the incoherent coefficient is Klein–Nishina x electron density.
KN_ABOVE_MEV = 0.3

PHANTOM_SAF_ENERGIES_MEV = (0.03, 0.05, 0.1, 0.14, 0.2, 0.364, 0.511, 0.662, 1.0)
#: Sources: organs, the soft tissue outside them ("remainder") and the whole body.
PHANTOM_SAF_SOURCES = (
    "lungs", "liver", "kidneys", "spleen", "heart", "brain", "urinary_bladder_contents",
    "stomach", "small_intestine", "upper_large_intestine", "lower_large_intestine", "pancreas",
    "adrenals", "thyroid", "thymus", "testes", "skeleton", "remainder", "whole_body",
)  # fmt: skip
PHANTOM_SAF_TARGETS = (*ph.REGIONS[1:], "whole_body")

_ATOMIC = {  # Z, standard atomic weight [g/mol] (IUPAC conventional/abridged values)
    "H": (1, 1.008), "C": (6, 12.011), "N": (7, 14.007), "O": (8, 15.999), "F": (9, 18.998),
    "Na": (11, 22.990), "Mg": (12, 24.305), "Si": (14, 28.085), "P": (15, 30.974), "S": (16, 32.06),
    "Cl": (17, 35.45), "K": (19, 39.098), "Ca": (20, 40.078), "Fe": (26, 55.845),
    "Zn": (30, 65.38), "Rb": (37, 85.468), "Sr": (38, 87.62), "Zr": (40, 91.224), "Pb": (82, 207.2),
}  # fmt: skip

_GRID_MEV = np.geomspace(0.001, 1.2, 600)


def _klein_nishina_cm2_per_electron(e_mev: NDArray[np.float64]) -> NDArray[np.float64]:
    k = e_mev / ELECTRON_REST_MEV
    a = 1.0 + 2.0 * k
    term1 = (1.0 + k) / k**2 * (2.0 * (1.0 + k) / a - np.log(a) / k)
    term2 = np.log(a) / (2.0 * k) - (1.0 + 3.0 * k) / a**2
    return 2.0 * math.pi * CLASSICAL_ELECTRON_RADIUS_CM**2 * (term1 + term2)


@lru_cache(maxsize=1)
def attenuation_tables() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(ln E grid [MeV], photoelectric μ [1/cm], incoherent μ [1/cm]); μ arrays are (material, E)
    for materials 0 = void, 1 = soft tissue (1.04 g/cm³), 2 = lung (0.296 g/cm³, soft-tissue
    composition), 3 = skeleton (1.4 g/cm³), each mixed from its element mass fractions
    (:data:`~.phantom.SOFT_TISSUE_MASS_FRACTIONS`, :data:`~.phantom.SKELETON_MASS_FRACTIONS`)."""
    import xraydb  # local import: only needed to (re)build the tables

    cite("Elam2002")
    cite("Newville_xraydb")
    e_ev = _GRID_MEV * 1e6
    low = _GRID_MEV <= 0.8
    kn_per_electron = _klein_nishina_cm2_per_electron(_GRID_MEV)
    materials: tuple[tuple[float, dict[str, float]], ...] = (
        (0.0, {}),
        (ph.SOFT_TISSUE_DENSITY_G_PER_CM3, ph.SOFT_TISSUE_MASS_FRACTIONS),
        (ph.LUNG_DENSITY_G_PER_CM3, ph.SOFT_TISSUE_MASS_FRACTIONS),
        (ph.SKELETON_DENSITY_G_PER_CM3, ph.SKELETON_MASS_FRACTIONS),
    )
    mu_photo = np.zeros((len(materials), _GRID_MEV.size))
    mu_incoh = np.zeros_like(mu_photo)
    for m, (density, fractions) in enumerate(materials):
        if not fractions:
            continue  # void
        photo = np.zeros_like(_GRID_MEV)
        incoh = np.zeros_like(_GRID_MEV)
        electrons_per_g = 0.0
        for element, w in fractions.items():
            photo_el = np.zeros_like(_GRID_MEV)
            photo_el[low] = xraydb.mu_elam(element, e_ev[low], kind="photo")
            # above 0.8 MeV (clamped tables): extrapolate the photoelectric term as E^-1 (it is
            # < 0.01 % of the soft-tissue attenuation there, < 0.1 % of the skeleton's)
            p08 = float(xraydb.mu_elam(element, 0.8e6, kind="photo"))
            photo_el[~low] = p08 * 0.8 / _GRID_MEV[~low]
            photo += w * photo_el
            inc_el = np.asarray(xraydb.mu_elam(element, np.minimum(e_ev, 0.8e6), kind="incoh"))
            incoh += w * inc_el
            z, a = _ATOMIC[element]
            electrons_per_g += w * z / a * AVOGADRO_PER_MOL
        incoh = np.where(_GRID_MEV > KN_ABOVE_MEV, electrons_per_g * kn_per_electron, incoh)
        mu_photo[m] = density * photo
        mu_incoh[m] = density * incoh
    return np.log(_GRID_MEV), mu_photo, mu_incoh


@numba.njit(cache=True)
def _interp(lngrid: NDArray[np.float64], table: NDArray[np.float64], lne: float) -> float:
    n = lngrid.size
    step = (lngrid[n - 1] - lngrid[0]) / (n - 1)
    t = (lne - lngrid[0]) / step
    i = int(t)
    if i < 0:
        return table[0]
    if i >= n - 1:
        return table[n - 1]
    f = t - i
    lo, hi = table[i], table[i + 1]
    if lo > 0.0 and hi > 0.0:
        return math.exp(math.log(lo) + f * (math.log(hi) - math.log(lo)))
    return lo + f * (hi - lo)


@numba.njit(cache=True)
def _kahn(e: float) -> tuple[float, float]:
    """Kahn's rejection sampling of Klein–Nishina: (scattered energy, cos θ)."""
    k = e / 0.51099895
    while True:
        r1 = np.random.random()
        r2 = np.random.random()
        r3 = np.random.random()
        if r1 <= (1.0 + 2.0 * k) / (9.0 + 2.0 * k):
            eta = 1.0 + 2.0 * k * r2
            if r3 <= 4.0 * (1.0 / eta - 1.0 / (eta * eta)):
                break
        else:
            eta = (1.0 + 2.0 * k) / (1.0 + 2.0 * k * r2)
            mu = 1.0 - (eta - 1.0) / k
            if r3 <= 0.5 * (mu * mu + 1.0 / eta):
                break
    return e / eta, 1.0 - (eta - 1.0) / k


@numba.njit(cache=True)
def _kahn_many(e: float, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    np.random.seed(seed)
    ep = np.empty(n)
    mu = np.empty(n)
    for i in range(n):
        ep[i], mu[i] = _kahn(e)
    return ep, mu


def kahn_compton_sample(
    energy_MeV: float, n: int, seed: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """n samples (scattered energy [MeV], cos θ) of Compton scattering at ``energy_MeV``."""
    if not energy_MeV > 0:
        raise ValueError(f"energy_MeV={energy_MeV!r} must be > 0")
    return _kahn_many(float(energy_MeV), int(n), int(seed))


@numba.njit(cache=True)
def _transport(
    source: int,
    e0: float,
    n: int,
    seed: int,
    boxes: NDArray[np.float64],
    material: NDArray[np.int64],
    lngrid: NDArray[np.float64],
    mu_photo: NDArray[np.float64],
    mu_incoh: NDArray[np.float64],
    n_regions: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Energy deposited per region (last slot: whole body) [MeV], its sum of squares per
    history [MeV²], and the energy escaping [MeV]. ``source`` 0 = whole body, else a region."""
    np.random.seed(seed)
    dep = np.zeros(n_regions + 1)
    dep2 = np.zeros(n_regions + 1)
    hist = np.zeros(n_regions + 1)
    escaped = 0.0
    src_box = boxes[source] if source > 0 else boxes[1]
    body = boxes[1]
    n_mat = mu_photo.shape[0]
    for _ in range(n):
        while True:  # uniform in the source region
            x = src_box[0] + (src_box[1] - src_box[0]) * np.random.random()
            y = src_box[2] + (src_box[3] - src_box[2]) * np.random.random()
            z = src_box[4] + (src_box[5] - src_box[4]) * np.random.random()
            r = region_at(x, y, z)
            if (source == 0 and r > 0) or (source > 0 and r == source):
                break
        w = 2.0 * np.random.random() - 1.0
        phi = 2.0 * math.pi * np.random.random()
        st = math.sqrt(max(0.0, 1.0 - w * w))
        u = st * math.cos(phi)
        v = st * math.sin(phi)
        e = e0
        for j in range(n_regions + 1):
            hist[j] = 0.0
        new_energy = True
        mumax = 0.0
        lne = 0.0
        while True:
            if new_energy:
                lne = math.log(e)
                mumax = 0.0
                for m in range(1, n_mat):
                    tot = _interp(lngrid, mu_photo[m], lne) + _interp(lngrid, mu_incoh[m], lne)
                    if tot > mumax:
                        mumax = tot
                new_energy = False
            s = -math.log(1.0 - np.random.random()) / mumax
            x += u * s
            y += v * s
            z += w * s
            if x < body[0] or x > body[1] or y < body[2] or y > body[3] or z < body[4] or z > body[5]:
                escaped += e
                break
            r = region_at(x, y, z)
            if r == 0:
                continue  # void: virtual collision
            m = material[r]
            mp = _interp(lngrid, mu_photo[m], lne)
            mi = _interp(lngrid, mu_incoh[m], lne)
            xi = np.random.random() * mumax
            if xi >= mp + mi:
                continue  # virtual collision (delta tracking)
            if xi < mp:  # photoelectric absorption
                hist[r] += e
                break
            e1, mu = _kahn(e)
            hist[r] += e - e1
            e = e1
            if e < 0.005:
                hist[r] += e
                break
            new_energy = True
            sint = math.sqrt(max(0.0, 1.0 - mu * mu))
            phi = 2.0 * math.pi * np.random.random()
            cp = math.cos(phi)
            sp = math.sin(phi)
            if abs(w) > 0.99999:
                u = sint * cp
                v = sint * sp
                w = mu if w > 0 else -mu
            else:
                tmp = math.sqrt(1.0 - w * w)
                un = u * mu + sint * (u * w * cp - v * sp) / tmp
                vn = v * mu + sint * (v * w * cp + u * sp) / tmp
                wn = w * mu - sint * cp * tmp
                norm = math.sqrt(un * un + vn * vn + wn * wn)
                u = un / norm
                v = vn / norm
                w = wn / norm
        total = 0.0
        for j in range(n_regions):
            total += hist[j]
        hist[n_regions] = total
        for j in range(n_regions + 1):
            dep[j] += hist[j]
            dep2[j] += hist[j] * hist[j]
    return dep, dep2, escaped


class PhotonMCResult(BaseModel):
    """Monte Carlo of monoenergetic photons from one source region of the phantom."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    source: str
    energy_MeV: float
    n_photons: int
    seed: int
    targets: tuple[str, ...]
    deposited_MeV: NDArray[np.float64]
    rel_std_error: NDArray[np.float64]
    escaped_MeV: float
    emitted_MeV: float
    target_mass_kg: NDArray[np.float64]

    @property
    def absorbed_fraction(self) -> NDArray[np.float64]:
        return self.deposited_MeV / self.emitted_MeV

    @property
    def saf_per_kg(self) -> NDArray[np.float64]:
        return self.absorbed_fraction / self.target_mass_kg


def simulate_photons(source: str, energy_MeV: float, n_photons: int, seed: int = 1) -> PhotonMCResult:
    """Track ``n_photons`` photons of ``energy_MeV`` emitted uniformly and isotropically in
    ``source`` (a phantom region other than ``outside``, or ``whole_body``)."""
    allowed = (*ph.REGIONS[1:], "whole_body")
    if source not in allowed:
        raise ValueError(f"source {source!r} is not a phantom region; allowed: {', '.join(allowed)}")
    if not (PHOTON_CUTOFF_MEV < energy_MeV <= 1.2):
        raise ValueError(f"energy_MeV={energy_MeV!r} must be in ({PHOTON_CUTOFF_MEV}, 1.2] MeV")
    if n_photons < 1:
        raise ValueError(f"n_photons={n_photons!r} must be >= 1")
    lngrid, mu_photo, mu_incoh = attenuation_tables()
    src = 0 if source == "whole_body" else ph.REGIONS.index(source)
    n_reg = len(ph.REGIONS)
    dep, dep2, escaped = _transport(
        src, float(energy_MeV), int(n_photons), int(seed), ph.REGION_BOX_CM,
        ph.MATERIAL_OF_REGION, lngrid, mu_photo, mu_incoh, n_reg,
    )  # fmt: skip
    mean = dep / n_photons
    var = np.maximum(dep2 / n_photons - mean**2, 0.0) / max(n_photons - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mean > 0, np.sqrt(var) / mean, np.inf)
    masses = ph.organ_masses_kg()
    targets = (*ph.REGIONS[1:], "whole_body")
    for key in ph.PHANTOM_CITATION_KEYS:
        cite(key)
    return PhotonMCResult(
        source=source,
        energy_MeV=float(energy_MeV),
        n_photons=int(n_photons),
        seed=int(seed),
        targets=targets,
        deposited_MeV=dep[1:],
        rel_std_error=rel[1:],
        escaped_MeV=float(escaped),
        emitted_MeV=float(energy_MeV) * n_photons,
        target_mass_kg=np.array([masses[t] for t in targets]),
    )


def compute_saf_table(
    energies_MeV: Sequence[float] = PHANTOM_SAF_ENERGIES_MEV,
    sources: Sequence[str] = PHANTOM_SAF_SOURCES,
    n_photons: int = 1_000_000,
    seed: int = 20260529,
    processes: int = 1,
) -> tuple[SAFTable, NDArray[np.float64]]:
    """SAF table (target, source, energy) [1/kg] and its relative standard errors. Run
    (source index i, energy index j) uses the seed ``seed + 1000 i + j`` (the same table for
    any number of worker ``processes``)."""
    grid = np.asarray(energies_MeV, dtype=float)
    targets = (*ph.REGIONS[1:], "whole_body")
    saf = np.zeros((len(targets), len(sources), grid.size))
    rel = np.zeros_like(saf)
    jobs = [(i, j, s, float(e)) for i, s in enumerate(sources) for j, e in enumerate(grid)]
    if processes > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=processes) as pool:
            futures = {
                (i, j): pool.submit(simulate_photons, s, e, n_photons, seed + 1000 * i + j)
                for i, j, s, e in jobs
            }
            results = {key: f.result() for key, f in futures.items()}
    else:
        results = {(i, j): simulate_photons(s, e, n_photons, seed + 1000 * i + j) for i, j, s, e in jobs}
    for (i, j), res in results.items():
        saf[:, i, j] = res.saf_per_kg
        rel[:, i, j] = res.rel_std_error
    table = SAFTable(
        kind="photon",
        energy_MeV=grid,
        targets=targets,
        sources=tuple(sources),
        saf_per_kg=saf,
        provenance=(
            f"nanobridge photon_mc, stylized adult male phantom, {n_photons} photons per source and "
            f"energy, seed {seed}"
        ),
        citation_key="Geant4HumanPhantom",
    )
    return table, rel


def write_saf_csv(path: str | Path, table: SAFTable, rel: NDArray[np.float64], header: Sequence[str]) -> None:
    """Write a SAF table as CSV: '#' header lines, then source,target,energy_MeV,saf_per_kg,
    rel_std_error."""
    buf = io.StringIO()
    for line in header:
        buf.write(f"# {line}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "target", "energy_MeV", "saf_per_kg", "rel_std_error"])
    for si, s in enumerate(table.sources):
        for ti, t in enumerate(table.targets):
            for ei, e in enumerate(table.energy_MeV):
                r = rel[ti, si, ei]
                writer.writerow(
                    [
                        s,
                        t,
                        f"{e:g}",
                        f"{table.saf_per_kg[ti, si, ei]:.5e}",
                        f"{r:.3e}" if np.isfinite(r) else "inf",
                    ]
                )
    Path(path).write_text(buf.getvalue(), encoding="utf-8")


def _read_saf_csv(text: str, name: str) -> tuple[SAFTable, NDArray[np.float64]]:
    header = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("#")]
    rows = list(csv.DictReader(ln for ln in text.splitlines() if ln and not ln.startswith("#")))
    if not rows:
        raise ValueError(f"{name}: no SAF rows")
    sources = tuple(dict.fromkeys(r["source"] for r in rows))
    targets = tuple(dict.fromkeys(r["target"] for r in rows))
    grid = np.array(sorted({float(r["energy_MeV"]) for r in rows}))
    saf = np.full((len(targets), len(sources), grid.size), np.nan)
    rel = np.full_like(saf, np.nan)
    for n, r in enumerate(rows, start=1):
        ti, si = targets.index(r["target"]), sources.index(r["source"])
        ei = int(np.searchsorted(grid, float(r["energy_MeV"])))
        value = float(r["saf_per_kg"])
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name}, row {n}: saf_per_kg must be finite and >= 0, got {r['saf_per_kg']!r}")
        saf[ti, si, ei] = value
        rel[ti, si, ei] = float(r["rel_std_error"])
    if np.isnan(saf).any():
        raise ValueError(f"{name}: every source must have every target at every energy")
    table = SAFTable(
        kind="photon",
        energy_MeV=grid,
        targets=targets,
        sources=sources,
        saf_per_kg=saf,
        provenance=f"{name}: " + " ".join(header[:2]),
        citation_key="Geant4HumanPhantom",
    )
    return table, rel


@lru_cache(maxsize=1)
def _packaged() -> tuple[SAFTable, NDArray[np.float64]]:
    path = resources.files("nanobridge") / "data" / "dosimetry" / "phantom_photon_saf.csv"
    return _read_saf_csv(path.read_text(encoding="utf-8"), "data/dosimetry/phantom_photon_saf.csv")


def phantom_photon_saf(path: str | Path | None = None) -> SAFTable:
    """The packaged photon SAF table of the stylized adult male phantom (or a CSV at ``path``
    written by :func:`write_saf_csv`) as a :class:`SAFTable`."""
    for key in ph.PHANTOM_CITATION_KEYS:
        cite(key)
    if path is None:
        return _packaged()[0]
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"SAF file {str(p)!r} does not exist")
    return _read_saf_csv(p.read_text(encoding="utf-8"), p.name)[0]


#: nanobridge source organ -> phantom source region (REST_OF_BODY: uniform in the body minus the
#: regions of the other sources, the MIRD remainder of body).
PHANTOM_SOURCE_MAP: dict[str, str] = {
    "lung": "lungs",
    "liver": "liver",
    "kidney": "kidneys",
    "spleen": "spleen",
    "heart": "heart",
    "brain": "brain",
    "stomach": "stomach",
    "small_intestine": "small_intestine",
    "upper_large_intestine": "upper_large_intestine",
    "lower_large_intestine": "lower_large_intestine",
    "pancreas": "pancreas",
    "adrenals": "adrenals",
    "thyroid": "thyroid",
    "thymus": "thymus",
    "testes": "testes",
    "skeleton": "skeleton",
    "urinary_bladder_contents": "urinary_bladder_contents",  # from the voiding-bladder model
    REMAINDER: REST_OF_BODY,
    # ASSUMED: activity in the PBPK's rest of body, muscle and blood is spread uniformly over the
    # body minus the organs listed as sources (the phantom has no separate muscle or blood region)
    "rest_of_body": REST_OF_BODY,
    "muscle": REST_OF_BODY,
    "blood": REST_OF_BODY,
    # ASSUMED: the tumour's site is not in the phantom; its photons are spread like the rest of
    # body (its TIAC is usually a small fraction), its self-dose is not a phantom target
    "tumor": REST_OF_BODY,
}
#: ICRP 103 tissue (or remainder tissue) -> phantom target regions. Proxies for tissues the
#: phantom lacks are listed in PHANTOM_TISSUE_PROXIES and reported as assumptions.
PHANTOM_TISSUE_MAP: dict[str, tuple[str, ...]] = {
    "lung": ("lungs",),
    "liver": ("liver",),
    "kidneys": ("kidneys",),
    "spleen": ("spleen",),
    "heart": ("heart",),
    "brain": ("brain",),
    "bladder": ("urinary_bladder_wall",),
    "stomach": ("stomach",),
    "colon": ("upper_large_intestine", "lower_large_intestine"),
    "small_intestine": ("small_intestine",),
    "pancreas": ("pancreas",),
    "adrenals": ("adrenals",),
    "thyroid": ("thyroid",),
    "thymus": ("thymus",),
    "gonads": ("testes",),
    "red_marrow": ("skeleton",),
    "bone_surface": ("skeleton",),
    "oesophagus": ("thymus",),
    "breast": ("remainder",),
    "skin": ("remainder",),
    "salivary_glands": ("remainder",),
    "muscle": ("remainder",),
    "extrathoracic_region": ("remainder",),
    "lymphatic_nodes": ("remainder",),
    "oral_mucosa": ("remainder",),
    "gallbladder": ("liver",),
    "prostate": ("urinary_bladder_wall",),
}
#: Tissues dosed through a proxy region (ASSUMED, each a sentence of the dose report).
PHANTOM_TISSUE_PROXIES: dict[str, str] = {
    "red_marrow": "red marrow and bone surfaces take the mean dose of the homogeneous skeleton region (no "
    "marrow/trabecular-bone model: overestimates the marrow photon dose below ~200 keV, and bone-seeking "
    "electron emitters would need the ICRP 30 skeletal absorbed fractions, not included)",
    "oesophagus": "oesophagus takes the thymus dose (the mediastinal proxy used for MIRD-type phantoms)",
    "breast": "breast, skin, salivary glands, extrathoracic region, oral mucosa, lymph nodes and muscle take "
    "the dose of the soft tissue outside the modelled organs (male phantom: no breasts, no skin layer)",
    "gallbladder": "gall bladder takes the liver dose and prostate the urinary bladder wall dose "
    "(neighbours)",
}


def _local_electron_table(photon: SAFTable) -> SAFTable:
    """Electrons (and alphas) absorbed in the source region: SAF(T←S) = δ(T,S) / m_S, with the
    phantom's masses; the target 'whole_body' receives 1/m_body from every source, and a
    'whole_body' source gives 1/m_body to every target (uniform in the body). The urinary
    bladder wall receives half the equilibrium dose of its contents, SAF(wall ← contents) =
    0.5 / m_contents (ICRP 30 walled-organ convention, also applied to alpha particles: ASSUMED)."""
    cite("ICRP30")
    masses = ph.organ_masses_kg()
    m_body = masses["whole_body"]
    saf = np.zeros((len(photon.targets), len(photon.sources), 2))
    for si, src in enumerate(photon.sources):
        if src == "whole_body":
            saf[:, si, :] = 1.0 / m_body
            continue
        if src in photon.targets:
            saf[photon.targets.index(src), si, :] = 1.0 / masses[src]
        if "whole_body" in photon.targets:
            saf[photon.targets.index("whole_body"), si, :] = 1.0 / m_body
        if src == "urinary_bladder_contents" and "urinary_bladder_wall" in photon.targets:
            saf[photon.targets.index("urinary_bladder_wall"), si, :] = 0.5 / masses[src]
    return SAFTable(
        kind="electron",
        energy_MeV=np.array([1e-3, 10.0]),
        targets=photon.targets,
        sources=photon.sources,
        saf_per_kg=saf,
        provenance="local absorption in the source region, phantom masses; bladder wall 0.5/m_contents",
        citation_key="Geant4HumanPhantom",
    )


def phantom_photon_dose_factors(
    path: str | Path | None = None, *, local_electrons: bool = True
) -> SpecificAbsorbedFractions:
    """Dose-factor model from the phantom photon SAFs; with ``local_electrons`` (default) the
    electrons and alpha particles are absorbed in their source region (SAF = 1/m_S with the
    phantom's masses; bladder wall from contents by the ICRP 30 convention), otherwise they are
    reported as not included. Activity of the PBPK's blood, muscle and rest of body (and the
    TIAC remainder) is spread over the body minus the organs listed as sources."""
    table = phantom_photon_saf(path)
    tables = {"photon": table}
    if local_electrons:
        electron = _local_electron_table(table)
        tables["electron"] = electron
        tables["alpha"] = electron.model_copy(update={"kind": "alpha"})
    masses = ph.organ_masses_kg()
    return SpecificAbsorbedFractions(
        tables=tables,
        source_map=dict(PHANTOM_SOURCE_MAP),
        tissue_map=dict(PHANTOM_TISSUE_MAP),
        region_mass_kg={k: float(v) for k, v in masses.items()},
        not_body_tissue=("urinary_bladder_contents",),
        provenance="nanobridge stylized adult male phantom, photon Monte Carlo SAFs"
        + (" + local electrons/alphas" if local_electrons else " (photons only)"),
        citation_keys=(*ph.PHANTOM_CITATION_KEYS, "Elam2002", "CristyEckerman1987"),
        extra_assumptions=(
            f"Photon SAFs: {table.provenance}.",
            "Phantom: heart wall and contents merged; GI organs wall and contents together; skeleton one "
            "homogeneous region; tumour not a target (its activity is spread like the rest of body).",
            "Rest of body (remainder, PBPK blood, muscle, rest of body): uniform in the phantom body minus "
            "the source organs (MIRD remainder-of-body formula); tumour activity has no phantom region.",
            *(f"ASSUMED proxy: {text}." for text in PHANTOM_TISSUE_PROXIES.values()),
        ),
    )
