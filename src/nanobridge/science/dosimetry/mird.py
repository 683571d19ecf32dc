"""MIRD absorbed dose, effective dose and first-in-human limit checks with pluggable dose factors.

MIRD schema (Bolch et al. 2009, MIRD Pamphlet 21)::

    D(T) = Σ_S ã_S · S(T←S),    S(T←S) = k · Σ_kind Σ_i E_i · Y_i · SAF_kind(T←S, E_i)

with ã_S the time-integrated activity coefficient [h] (:mod:`.tiac`), E_i [MeV] and Y_i [per
decay] the emission lines (:mod:`.emissions`), SAF [1/kg] the specific absorbed fraction and
``k = 1.602176634e-13 J/MeV × 3.6e9 decays/(MBq·h) × 1e3 mGy/Gy`` = 0.5768 mGy·kg/(MBq·h·MeV).

Dose-factor models (anything with ``name`` and ``dose_factors(tiac, emissions) -> DoseFactors``):

- :class:`LocalElectronAbsorption` — exact for what it covers: all non-penetrating energy
  (electrons; alpha particles when present) is absorbed in the source organ itself,
  SAF(S←S) = 1/m_S, with the organ masses of the biodistribution; photons are NOT counted (their
  energy per decay is reported as not included), so every dose is a PARTIAL dose, a lower bound.
- :class:`SpecificAbsorbedFractions` — tabulated SAFs (e.g. the ICRP Publication 133 reference
  adult files, which the user supplies; :func:`read_icrp133_saf`).

Effective dose E = Σ_T w_T H_T, H_T = Σ_R w_R D_T,R (ICRP 103; w_R = 1 for photons and
electrons, 20 for alpha), the remainder weight applied to the mean over the remainder tissues
that have a dose. Tissues with a weight but no target dose are listed: the effective dose is then
a partial sum. Doses at the planned activity are checked against the US 21 CFR 361.1(b)(3)(i)
Radioactive Drug Research Committee single-dose limits for adults (30 mSv whole body, active
blood-forming organs, lens of the eye, gonads; 50 mSv other organs), used as a benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xarray as xr
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.dosimetry.bladder import ICRP_ADULT_VOIDING_INTERVAL_H
from nanobridge.science.dosimetry.emissions import EMISSION_KINDS, EmissionSource, ICRP107Emissions
from nanobridge.science.dosimetry.tiac import REMAINDER, TIACResult, tiac
from nanobridge.science.pbpk.biodistribution import Biodistribution

__all__ = [
    "DEFAULT_ICRP133_SOURCE_MAP",
    "DEFAULT_ICRP133_TISSUE_MAP",
    "MGY_KG_PER_MBQ_H_MEV",
    "RDRC_LIMITS_MSV",
    "REST_OF_BODY",
    "DoseFactorModel",
    "DoseFactors",
    "DoseReport",
    "LimitCheck",
    "LocalElectronAbsorption",
    "SAFTable",
    "SpecificAbsorbedFractions",
    "TissueWeights",
    "absorbed_doses",
    "default_dose_factors",
    "doses_from_tiac",
    "read_icrp133_saf",
    "rest_of_body_saf",
    "tissue_weights",
]

#: mGy·kg per (MBq·h·MeV): 1.602176634e-13 J/MeV x 3.6e9 decays/(MBq·h) x 1e3 mGy/Gy (exact SI).
MGY_KG_PER_MBQ_H_MEV = 1.602176634e-13 * 3.6e9 * 1e3

#: 21 CFR 361.1(b)(3)(i), adult single dose [mSv] (3 rem and 5 rem); citation CFR21_361_1.
RDRC_LIMITS_MSV: dict[str, float] = {"whole_body_blood_forming_lens_gonads": 30.0, "other_organs": 50.0}
#: ICRP 103 tissues held to the 30 mSv RDRC limit (active blood-forming organs, lens, gonads).
_RDRC_30_TISSUES = ("red_marrow", "gonads", "eye_lens")


# --------------------------------------------------------------------------------------------
# ICRP 103 tissue weights (packaged data)
# --------------------------------------------------------------------------------------------


class TissueWeights(BaseModel):
    """ICRP 103 tissue (w_T) and radiation (w_R) weighting factors."""

    model_config = ConfigDict(frozen=True)

    tissues: dict[str, float]
    remainder_tissues: tuple[str, ...]
    radiation_weights: dict[str, float]
    citation: str


@lru_cache(maxsize=1)
def tissue_weights() -> TissueWeights:
    """ICRP 103 weighting factors from ``data/dosimetry/icrp103_tissue_weights.yaml``."""
    path = resources.files("nanobridge") / "data" / "dosimetry" / "icrp103_tissue_weights.yaml"
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    weights = TissueWeights(
        tissues={str(k): float(v) for k, v in raw["tissues"].items()},
        remainder_tissues=tuple(raw["remainder_tissues"]),
        radiation_weights={str(k): float(v) for k, v in raw["radiation_weights"].items()},
        citation=str(raw["citation"]),
    )
    total = sum(weights.tissues.values())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"data/dosimetry/icrp103_tissue_weights.yaml: weights sum to {total}, not 1")
    return weights


# --------------------------------------------------------------------------------------------
# Dose factors
# --------------------------------------------------------------------------------------------


class DoseFactors(BaseModel):
    """S values of one model for one biodistribution and nuclide.

    - ``s_mGy_per_MBq_h`` (subject, target, source, kind): dose to the target per unit
      time-integrated activity in the source [mGy/(MBq·h)];
    - ``tissue_targets``: ICRP 103 tissue (or remainder tissue) -> targets whose mean dose is
      that tissue's dose;
    - ``not_included``: contributions the model does not compute (each a sentence).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    model_name: str
    partial: bool
    s_mGy_per_MBq_h: xr.DataArray
    tissue_targets: dict[str, tuple[str, ...]]
    not_included: tuple[str, ...]
    assumptions: tuple[str, ...]
    citation_keys: tuple[str, ...]


@runtime_checkable
class DoseFactorModel(Protocol):
    """A source of S values (a phantom Monte Carlo, tabulated SAFs, a local-absorption model)."""

    @property
    def name(self) -> str: ...

    def dose_factors(self, tiac_result: TIACResult, emissions: EmissionSource) -> DoseFactors: ...


#: nanobridge organ -> ICRP 103 tissue or remainder tissue (for targets named like the organs).
_ORGAN_TISSUE: dict[str, str] = {
    "lung": "lung",
    "liver": "liver",
    "brain": "brain",
    "heart": "heart",
    "kidney": "kidneys",
    "spleen": "spleen",
    "muscle": "muscle",
}


class LocalElectronAbsorption:
    """Non-penetrating radiation absorbed where it is emitted: S(S←S) = k·Σ E_i Y_i / m_S.

    Exact for the energy it covers (electron ranges, mm, are small next to organ sizes; alpha
    ranges, ~0.1 mm, smaller still) apart from the escape of electron energy near organ borders
    and as bremsstrahlung. Photons are not included, so the doses are partial (lower bounds).
    Organ masses are those of the biodistribution; the remainder of body (when some organs are
    not listed as sources) is a target of the summed mass of the unlisted organs.
    """

    name = "local absorption of non-penetrating radiation (electrons, alpha); photons not included"

    def __init__(self, *, include_alpha: bool = True) -> None:
        self.include_alpha = include_alpha

    def dose_factors(self, tiac_result: TIACResult, emissions: EmissionSource) -> DoseFactors:
        nuclide = tiac_result.nuclide
        masses_kg = tiac_result.source_mass_g.values / 1000.0
        sources = tiac_result.sources
        massless = [
            s for i, s in enumerate(sources) if s != REMAINDER and np.all(masses_kg[:, i] == 0)
        ]  # e.g. urinary bladder contents: not a tissue of the biodistribution
        keep = [
            i
            for i, s in enumerate(sources)
            if not (s == REMAINDER and np.all(masses_kg[:, i] <= 0)) and s not in massless
        ]
        targets = [sources[i] for i in keep]
        for i in keep:
            if np.any(~np.isfinite(masses_kg[:, i])) or np.any(masses_kg[:, i] <= 0):
                raise ValueError(f"organ_mass_g of {sources[i]!r} must be > 0 for local absorption")
        kinds = list(EMISSION_KINDS)
        energy = {k: emissions.mean_energy_per_decay_MeV(nuclide, k) for k in kinds}
        local = {"electron": True, "photon": False, "alpha": self.include_alpha}
        s = np.zeros((masses_kg.shape[0], len(targets), len(sources), len(kinds)))
        for ti, si in enumerate(keep):
            for ki, kind in enumerate(kinds):
                if local[kind]:
                    s[:, ti, si, ki] = MGY_KG_PER_MBQ_H_MEV * energy[kind] / masses_kg[:, si]
        da = xr.DataArray(
            s,
            dims=("subject", "target", "source", "kind"),
            coords={
                "subject": tiac_result.tiac_h["subject"].values,
                "target": targets,
                "source": sources,
                "kind": kinds,
            },
        )
        da.attrs["units"] = "mGy/(MBq*h)"
        not_included = []
        if energy["photon"] > 0:
            not_included.append(
                f"photons ({energy['photon']:.4g} MeV per decay): cross-fire and self-absorption of "
                "penetrating radiation are not computed by this model"
            )
        if energy["alpha"] > 0 and not self.include_alpha:
            not_included.append(f"alpha particles ({energy['alpha']:.4g} MeV per decay)")
        not_included.append("electron cross-fire between organs and bremsstrahlung escape (small)")
        if massless:
            not_included.append(
                f"sources without a tissue mass ({', '.join(massless)}): the dose they give to their "
                "walls (e.g. urinary bladder wall) needs a phantom dose-factor model"
            )
        return DoseFactors(
            model_name=self.name,
            partial=True,
            s_mGy_per_MBq_h=da,
            tissue_targets={_ORGAN_TISSUE[t]: (t,) for t in targets if t in _ORGAN_TISSUE},
            not_included=tuple(not_included),
            assumptions=(
                "Local absorption: all non-penetrating energy is absorbed in the source organ "
                "(SAF = 1/m_S for target = source, 0 otherwise); masses from the biodistribution.",
                "Partial dose: photons are not counted, so every absorbed dose is a lower bound.",
            ),
            citation_keys=cite("MIRD2009"),
        )


# --------------------------------------------------------------------------------------------
# Specific absorbed fractions
# --------------------------------------------------------------------------------------------


class SAFTable(BaseModel):
    """SAF(target ← source, E) [1/kg] of one radiation kind on an energy grid [MeV]."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    kind: str
    energy_MeV: NDArray[np.float64]
    targets: tuple[str, ...]
    sources: tuple[str, ...]
    saf_per_kg: NDArray[np.float64]  # (target, source, energy)
    provenance: str
    citation_key: str

    def saf(self, target: str, source: str, energy_MeV: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """SAF at ``energy_MeV``: log-log interpolation between positive grid values, linear when
        a neighbour is zero, constant beyond the ends of the grid."""
        if target not in self.targets:
            raise ValueError(
                f"SAF table ({self.kind}) has no target {target!r}; targets: {', '.join(self.targets)}"
            )
        if source not in self.sources:
            raise ValueError(
                f"SAF table ({self.kind}) has no source {source!r}; sources: {', '.join(self.sources)}"
            )
        row = self.saf_per_kg[self.targets.index(target), self.sources.index(source)]
        return _interp_saf(self.energy_MeV, row, np.atleast_1d(np.asarray(energy_MeV, dtype=float)))


def _interp_saf(
    grid: NDArray[np.float64], row: NDArray[np.float64], e: NDArray[np.float64]
) -> NDArray[np.float64]:
    e_clamped = np.clip(e, grid[0], grid[-1])
    linear = np.interp(e_clamped, grid, row)
    j = np.clip(np.searchsorted(grid, e_clamped, side="right") - 1, 0, grid.size - 2)
    lo, hi = row[j], row[j + 1]
    ok = (lo > 0) & (hi > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.log(e_clamped / grid[j]) / np.log(grid[j + 1] / grid[j])
        loglog = np.exp(np.log(np.where(ok, lo, 1.0)) + frac * np.log(np.where(ok, hi / lo, 1.0)))
    return np.where(ok, loglog, linear)


_KIND_WORDS = {"photon": "photon", "electron": "electron", "alpha": "alpha", "beta": "electron"}


def read_icrp133_saf(path: str | Path, kind: str | None = None, *, citation_key: str = "ICRP133") -> SAFTable:
    """Read an ICRP Publication 133 SAF file (e.g. ``rcp-am_photon_2016-08-12.SAF``).

    Format (photon, electron and alpha files; confirmed from secondary descriptions of the
    electronic supplement, see the ICRP133 reference note): lines 1–3 describe the file (line 3
    starts with the radiation, e.g. ``Photons``); line 4 holds the number of targets (I4) and of
    sources (I4), then the energy grid [MeV] (F10.5 each; any trailing label such as ``Ecutoff``
    is ignored); line 5 is a separator; each further line is one record: target acronym (10
    characters), ``<-``, source acronym (10 characters), the n SAF values [1/kg] (E10), then
    ``Ecut`` (lowest energy with a non-zero SAF) and ``Icut`` (its index). Records are checked
    against the counts of line 4: every source must have every target.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"SAF file {str(p)!r} does not exist")
    lines = p.read_text(encoding="latin-1").splitlines()
    if len(lines) < 6:
        raise ValueError(f"SAF file {p.name}: expected 5 header lines and records, got {len(lines)} lines")
    if kind is None:
        word = lines[2].strip().split()[0].lower() if lines[2].strip() else ""
        kind = next((v for k, v in _KIND_WORDS.items() if word.startswith(k)), None)
        if kind is None:
            raise ValueError(
                f"SAF file {p.name}: cannot tell the radiation from line 3 ({lines[2].strip()!r}); pass kind="
            )
    if kind not in EMISSION_KINDS:
        raise ValueError(f"kind {kind!r} is not known; allowed: {', '.join(EMISSION_KINDS)}")
    head = lines[3].split()
    try:
        n_targets, n_sources = int(head[0]), int(head[1])
    except (IndexError, ValueError) as exc:
        raise ValueError(
            f"SAF file {p.name}: line 4 must start with the numbers of targets and sources"
        ) from exc
    energies: list[float] = []
    for tok in head[2:]:
        try:
            energies.append(float(tok))
        except ValueError:
            break
    n_e = len(energies)
    grid = np.asarray(energies, dtype=float)
    if n_e < 2 or np.any(np.diff(grid) <= 0) or grid[0] <= 0:
        raise ValueError(f"SAF file {p.name}: line 4 must list at least 2 increasing positive energies [MeV]")
    records: dict[tuple[str, str], NDArray[np.float64]] = {}
    targets: list[str] = []
    sources: list[str] = []
    for number, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        if "<-" not in line:
            raise ValueError(f"SAF file {p.name}, line {number}: expected 'target <- source values'")
        left, right = line.split("<-", 1)
        target = left.strip()
        source, rest = right[:10].strip(), right[10:]
        tokens = rest.split()
        if len(tokens) < n_e:
            source_tokens = right.split()  # source longer than 10 characters or tightly packed
            source, tokens = source_tokens[0], source_tokens[1:]
        try:
            values = np.asarray([float(t) for t in tokens[:n_e]], dtype=float)
        except ValueError as exc:
            raise ValueError(f"SAF file {p.name}, line {number}: SAF values are not numbers") from exc
        if values.size != n_e:
            raise ValueError(
                f"SAF file {p.name}, line {number}: expected {n_e} SAF values, got {values.size}"
            )
        if np.any(values < 0) or not np.all(np.isfinite(values)):
            raise ValueError(f"SAF file {p.name}, line {number}: SAF values must be finite and >= 0")
        if target not in targets:
            targets.append(target)
        if source not in sources:
            sources.append(source)
        records[(target, source)] = values
    if len(targets) != n_targets or len(sources) != n_sources:
        raise ValueError(
            f"SAF file {p.name}: header announces {n_targets} targets and {n_sources} sources, "
            f"records hold {len(targets)} targets and {len(sources)} sources"
        )
    table = np.zeros((n_targets, n_sources, n_e))
    for si, s in enumerate(sources):
        for ti, t in enumerate(targets):
            if (t, s) not in records:
                raise ValueError(f"SAF file {p.name}: source {s!r} is missing target {t!r}")
            table[ti, si] = records[(t, s)]
    return SAFTable(
        kind=kind,
        energy_MeV=grid,
        targets=tuple(targets),
        sources=tuple(sources),
        saf_per_kg=table,
        provenance=f"{p.name}: {lines[0].strip()} {lines[1].strip()}".strip(),
        citation_key=citation_key,
    )


#: nanobridge source organ -> ICRP 133 source region (organs without a region are not covered).
DEFAULT_ICRP133_SOURCE_MAP: dict[str, str] = {
    "blood": "Blood",
    "lung": "Lungs",
    "heart": "Ht-wall",
    "brain": "Brain",
    "muscle": "Muscle",
    "kidney": "Kidneys",
    "spleen": "Spleen",
    "liver": "Liver",
}

#: ICRP 103 tissue (and remainder tissue) -> ICRP 133 target regions (equal-weight mean; assumed
#: for composite tissues such as colon, lung and lymph nodes, which ICRP weights by mass/fraction).
DEFAULT_ICRP133_TISSUE_MAP: dict[str, tuple[str, ...]] = {
    "red_marrow": ("R-marrow",),
    "colon": ("RC-stem", "LC-stem", "RS-stem"),
    "lung": ("Bronch-bas", "Bronch-sec", "Bchiol-sec", "AI"),
    "stomach": ("St-stem",),
    "breast": ("Breast",),
    "gonads": ("Testes", "Ovaries"),
    "bladder": ("UB-wall",),
    "oesophagus": ("Oesophagus",),
    "liver": ("Liver",),
    "thyroid": ("Thyroid",),
    "bone_surface": ("Endost-BS",),
    "brain": ("Brain",),
    "salivary_glands": ("S-glands",),
    "skin": ("Skin",),
    "eye_lens": ("Eye-lens",),
    "adrenals": ("Adrenals",),
    "extrathoracic_region": ("ET1-bas", "ET2-bas"),
    "gallbladder": ("GB-wall",),
    "heart": ("Ht-wall",),
    "kidneys": ("Kidneys",),
    "lymphatic_nodes": ("LN-Sys", "LN-Th", "LN-ET"),
    "muscle": ("Muscle",),
    "oral_mucosa": ("O-mucosa",),
    "pancreas": ("Pancreas",),
    "prostate": ("Prostate",),
    "small_intestine": ("SI-stem",),
    "spleen": ("Spleen",),
    "thymus": ("Thymus",),
    "uterus_cervix": ("Uterus",),
}


#: Source-map value meaning "uniform in the whole body minus every region that another source of
#: the same calculation maps to" (the MIRD remainder of body; needs a 'whole_body' source).
REST_OF_BODY = "*rest_of_body*"


def rest_of_body_saf(
    table: SAFTable,
    excluded: Sequence[str],
    region_mass_kg: Mapping[str, float],
    energy_MeV: NDArray[np.float64] | float,
    target: str,
) -> NDArray[np.float64]:
    """SAF(T ← rest of body) = [M_WB·SAF(T←WB) − Σ_r M_r·SAF(T←r)] / (M_WB − Σ_r M_r) over the
    excluded regions r (the MIRD remainder-of-body formula, Cristy & Eckerman 1987)."""
    if "whole_body" not in table.sources:
        raise ValueError(f"{table.kind} SAF table has no 'whole_body' source: rest of body undefined")
    m_wb = float(region_mass_kg["whole_body"])
    num = m_wb * table.saf(target, "whole_body", energy_MeV)
    m_rest = m_wb
    for r in excluded:
        if r not in table.sources:
            raise ValueError(f"{table.kind} SAF table has no source {r!r} to remove from the rest of body")
        m_r = float(region_mass_kg[r])
        num = num - m_r * table.saf(target, r, energy_MeV)
        m_rest -= m_r
    if m_rest <= 0:
        raise ValueError("the excluded regions weigh as much as the whole body: no rest of body left")
    return np.clip(num / m_rest, 0.0, None)


class SpecificAbsorbedFractions(BaseModel):
    """Tabulated SAFs per radiation kind, with the organ and tissue maps that connect them to a
    nanobridge biodistribution. Lines are interpolated on the energy grid; beta branches are
    taken at their mean energy (an approximation to integrating over the spectrum). No mass
    scaling to the subject's organ masses is applied (the SAFs are the phantom's).

    A source mapped to :data:`REST_OF_BODY` is uniform in the whole body minus the regions the
    other sources map to and minus ``not_body_tissue`` (contents of walled organs); this needs
    ``region_mass_kg`` for those regions and 'whole_body'."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    tables: dict[str, SAFTable]
    source_map: dict[str, str] = dict(DEFAULT_ICRP133_SOURCE_MAP)
    tissue_map: dict[str, tuple[str, ...]] = dict(DEFAULT_ICRP133_TISSUE_MAP)
    region_mass_kg: dict[str, float] = {}
    not_body_tissue: tuple[str, ...] = ()
    extra_assumptions: tuple[str, ...] = ()
    provenance: str = ""
    citation_keys: tuple[str, ...] = ("ICRP133",)

    @property
    def name(self) -> str:
        return f"specific absorbed fractions ({self.provenance or ', '.join(sorted(self.tables))})"

    @classmethod
    def from_icrp133_files(
        cls,
        *,
        photon: str | Path | None = None,
        electron: str | Path | None = None,
        alpha: str | Path | None = None,
        **kwargs: Any,
    ) -> SpecificAbsorbedFractions:
        """Load user-supplied ICRP 133 SAF files (any subset of kinds)."""
        tables = {
            k: read_icrp133_saf(p, k)
            for k, p in (("photon", photon), ("electron", electron), ("alpha", alpha))
            if p is not None
        }
        if not tables:
            raise ValueError("give at least one SAF file (photon=, electron= or alpha=)")
        provenance = kwargs.pop("provenance", "; ".join(t.provenance for t in tables.values()))
        return cls(tables=tables, provenance=provenance, **kwargs)

    def targets(self) -> tuple[str, ...]:
        """Targets common to every table (ValueError naming one that a table lacks)."""
        first = next(iter(self.tables.values()))
        for kind, table in self.tables.items():
            for t in first.targets:
                if t not in table.targets:
                    raise ValueError(f"SAF table for {kind} is missing target {t!r}")
        return first.targets

    def dose_factors(self, tiac_result: TIACResult, emissions: EmissionSource) -> DoseFactors:
        if not self.tables:
            raise ValueError("SpecificAbsorbedFractions needs at least one table")
        targets = self.targets()
        sources = tiac_result.sources
        kinds = list(EMISSION_KINDS)
        s = np.zeros((len(targets), len(sources), len(kinds)))
        not_included: list[str] = []
        first_table = next(iter(self.tables.values()))
        excluded = list(
            dict.fromkeys(
                [
                    r
                    for src in sources
                    if (r := self.source_map.get(src)) is not None
                    and r != REST_OF_BODY
                    and r in first_table.sources
                ]
                + [r for r in self.not_body_tissue if r in first_table.sources]
            )
        )
        for ki, kind in enumerate(kinds):
            lines = emissions.lines(tiac_result.nuclide, kind)
            energy = lines.mean_energy_per_decay_MeV
            if energy <= 0:
                continue
            table = self.tables.get(kind)
            if table is None:
                not_included.append(f"{kind} ({energy:.4g} MeV per decay): no SAF table given")
                continue
            rest_s: dict[int, float] = {}  # target index -> S value of the rest-of-body composite
            for si, src in enumerate(sources):
                region = self.source_map.get(src)
                if region is None or (region != REST_OF_BODY and region not in table.sources):
                    continue
                for ti, tgt in enumerate(targets):
                    if region == REST_OF_BODY and ti in rest_s:  # same composite for every such source
                        s[ti, si, ki] = rest_s[ti]
                        continue
                    if region == REST_OF_BODY:
                        saf = rest_of_body_saf(table, excluded, self.region_mass_kg, lines.energy_MeV, tgt)
                    else:
                        saf = table.saf(tgt, region, lines.energy_MeV)
                    s[ti, si, ki] = MGY_KG_PER_MBQ_H_MEV * float(
                        np.sum(lines.energy_MeV * lines.yield_per_decay * saf)
                    )
                    if region == REST_OF_BODY:
                        rest_s[ti] = float(s[ti, si, ki])
        uncovered = [
            src
            for src in sources
            if self.source_map.get(src) is None
            or (
                self.source_map[src] != REST_OF_BODY
                and not any(self.source_map[src] in t.sources for t in self.tables.values())
            )
        ]
        if uncovered:
            not_included.append(f"sources without an SAF source region: {', '.join(uncovered)}")
        subjects = tiac_result.tiac_h["subject"].values
        da = xr.DataArray(
            np.broadcast_to(s, (len(subjects), *s.shape)).copy(),
            dims=("subject", "target", "source", "kind"),
            coords={"subject": subjects, "target": list(targets), "source": sources, "kind": kinds},
        )
        da.attrs["units"] = "mGy/(MBq*h)"
        tissue_targets = {
            tissue: tuple(t for t in regions if t in targets)
            for tissue, regions in self.tissue_map.items()
            if any(t in targets for t in regions)
        }
        return DoseFactors(
            model_name=self.name,
            partial=bool(not_included),
            s_mGy_per_MBq_h=da,
            tissue_targets=tissue_targets,
            not_included=tuple(not_included),
            assumptions=(
                "SAFs interpolated log-log on the energy grid, constant beyond its ends; beta branches at "
                "their mean energy; no scaling of the phantom's SAFs to the subject's organ masses.",
                "Composite tissues (lung, colon, lymph nodes, extrathoracic region, gonads) take the "
                "equal-weight mean of their target regions (assumed; ICRP weights them).",
                *self.extra_assumptions,
            ),
            citation_keys=cite("MIRD2009", *self.citation_keys),
        )


# --------------------------------------------------------------------------------------------
# Dose report
# --------------------------------------------------------------------------------------------


class LimitCheck(BaseModel):
    """One dose at the planned activity against a 21 CFR 361.1 single-dose limit."""

    model_config = ConfigDict(frozen=True)

    quantity: str
    target: str
    dose_mSv: float
    limit_mSv: float
    fraction_of_limit: float
    exceeds: bool
    lower_bound: bool
    citation_key: str = "CFR21_361_1"


class DoseReport(BaseModel):
    """MIRD dose estimate for one agent, scenario and dose-factor model (per subject)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    nuclide: str
    half_life_h: float
    species: str
    dose_factor_model: str
    partial: bool
    tiac_h: xr.DataArray
    absorbed_dose_by_kind_mGy_per_MBq: xr.DataArray
    absorbed_dose_mGy_per_MBq: xr.DataArray
    equivalent_dose_mSv_per_MBq: xr.DataArray
    effective_dose_mSv_per_MBq: xr.DataArray | None
    effective_dose_weight_covered: float
    tissues_without_dose: tuple[str, ...]
    not_included: tuple[str, ...]
    activity_MBq: float | None
    activity_source: str
    absorbed_dose_mGy: xr.DataArray | None
    effective_dose_mSv: xr.DataArray | None
    limit_checks: tuple[LimitCheck, ...]
    assumptions: tuple[str, ...]
    citation_keys: tuple[str, ...]

    @property
    def any_limit_exceeded(self) -> bool:
        return any(c.exceeds for c in self.limit_checks)


def _planned_activity(
    agent: AgentSpec, scenario: Scenario, activity_MBq: float | None
) -> tuple[float | None, str]:
    if activity_MBq is not None:
        value, where = float(activity_MBq), "activity_MBq argument"
    elif scenario.activity_MBq is not None:
        value, where = float(scenario.activity_MBq), "scenario.activity_MBq"
    elif agent.labels.radionuclide is not None and agent.labels.radionuclide.activity_MBq is not None:
        value, where = float(agent.labels.radionuclide.activity_MBq), "agent labels.radionuclide.activity_MBq"
    else:
        return None, "no activity given (scenario.activity_MBq or labels.radionuclide.activity_MBq)"
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"activity_MBq must be a positive number of MBq, got {value!r} ({where})")
    return value, where


def _tissue_dose(h: xr.DataArray, targets: Sequence[str]) -> xr.DataArray:
    return h.sel(target=list(targets)).mean("target")


def _effective_dose(
    h: xr.DataArray, tissue_targets: Mapping[str, tuple[str, ...]]
) -> tuple[xr.DataArray | None, float, list[str], list[str]]:
    w = tissue_weights()
    total: xr.DataArray | None = None
    covered = 0.0
    missing: list[str] = []
    assumptions: list[str] = []
    for tissue, weight in w.tissues.items():
        if tissue == "remainder":
            present = [r for r in w.remainder_tissues if tissue_targets.get(r)]
            if not present:
                missing.append("remainder")
                continue
            dose = sum(
                (_tissue_dose(h, tissue_targets[r]) for r in present), start=xr.zeros_like(h.isel(target=0))
            )
            dose = dose / len(present)
            absent = [r for r in w.remainder_tissues if r not in present]
            if absent:
                assumptions.append(
                    f"Remainder dose = mean over the remainder tissues with a dose ({', '.join(present)}); "
                    f"no dose for {', '.join(absent)}."
                )
        elif tissue_targets.get(tissue):
            dose = _tissue_dose(h, tissue_targets[tissue])
        else:
            missing.append(tissue)
            continue
        dose = dose.drop_vars("target", errors="ignore")
        total = weight * dose if total is None else total + weight * dose
        covered += weight
    return total, covered, missing, assumptions


def default_dose_factors(species: str) -> DoseFactorModel:
    """The bundled default: for a human, nanobridge's stylized adult phantom (photon Monte Carlo
    SAFs + local electrons, :func:`~nanobridge.science.dosimetry.photon_mc.phantom_photon_dose_factors`);
    for an animal, :class:`LocalElectronAbsorption` with the animal's own organ masses (the phantom
    is an adult human; the photon part is then not included and the doses are lower bounds)."""
    if species == "human":
        from nanobridge.science.dosimetry.photon_mc import phantom_photon_dose_factors

        return phantom_photon_dose_factors()
    return LocalElectronAbsorption()


def absorbed_doses(
    bd: Biodistribution,
    agent: AgentSpec,
    scenario: Scenario,
    dose_factors: DoseFactorModel | None = None,
    emissions: EmissionSource | None = None,
    *,
    sources: Sequence[str] | None = None,
    activity_MBq: float | None = None,
    urinary_bladder: bool = True,
    voiding_interval_h: float | None = ICRP_ADULT_VOIDING_INTERVAL_H,
) -> DoseReport:
    """Absorbed, equivalent and effective dose of ``agent``'s radionuclide label for ``bd``.

    ``dose_factors`` defaults to :class:`LocalElectronAbsorption` (a partial, lower-bound dose),
    ``emissions`` to :class:`ICRP107Emissions`. The planned activity is ``activity_MBq``, else
    the scenario's, else the label's. Urine passes through the bladder (voiding every
    ``voiding_interval_h``; ``urinary_bladder=False`` leaves it out).
    """
    label = agent.labels.radionuclide
    if label is None:
        raise ValueError(
            f"agent {agent.name!r} has no radionuclide label (labels.radionuclide): nothing to dose"
        )
    activity, activity_where = _planned_activity(agent, scenario, activity_MBq)
    t = tiac(
        bd, label.nuclide, sources, urinary_bladder=urinary_bladder, voiding_interval_h=voiding_interval_h
    )
    species = str(bd.data.attrs.get("species", scenario.species))
    return doses_from_tiac(
        t, species, dose_factors, emissions, activity_MBq=activity, activity_source=activity_where
    )


def doses_from_tiac(
    t: TIACResult,
    species: str,
    dose_factors: DoseFactorModel | None = None,
    emissions: EmissionSource | None = None,
    *,
    activity_MBq: float | None = None,
    activity_source: str = "activity_MBq argument",
) -> DoseReport:
    """Absorbed, equivalent and effective dose from time-integrated activity coefficients (from a
    biodistribution, :func:`~nanobridge.science.dosimetry.tiac.tiac`, or given directly,
    :func:`~nanobridge.science.dosimetry.tiac.tiac_from_coefficients`)."""
    model: DoseFactorModel = dose_factors if dose_factors is not None else LocalElectronAbsorption()
    source_of_emissions: EmissionSource = emissions if emissions is not None else ICRP107Emissions()
    activity = activity_MBq
    if activity is not None and (not math.isfinite(activity) or activity <= 0):
        raise ValueError(
            f"activity_MBq must be a positive number of MBq, got {activity!r} ({activity_source})"
        )
    activity_where = activity_source if activity is not None else "no activity given"

    factors = model.dose_factors(t, source_of_emissions)
    s = factors.s_mGy_per_MBq_h
    by_kind = (s * t.tiac_h.sel(source=s["source"])).sum("source")
    by_kind.attrs["units"] = "mGy/MBq"
    absorbed = by_kind.sum("kind")
    absorbed.attrs["units"] = "mGy/MBq"
    w = tissue_weights()
    w_r = xr.DataArray(
        [w.radiation_weights[k] for k in by_kind["kind"].values],
        dims="kind",
        coords={"kind": by_kind["kind"].values},
    )
    equivalent = (by_kind * w_r).sum("kind")
    equivalent.attrs["units"] = "mSv/MBq"
    cite(w.citation)

    assumptions = list(t.assumptions) + list(factors.assumptions)
    progeny_fn = getattr(source_of_emissions, "progeny", None)
    if callable(progeny_fn) and progeny_fn(t.nuclide):
        assumptions.append(
            "Short-lived progeny decay where the parent decayed (counted with their branching fractions)."
        )
    effective: xr.DataArray | None = None
    covered = 0.0
    missing: list[str] = list(w.tissues)
    if species == "human":
        effective, covered, missing, eff_notes = _effective_dose(equivalent, factors.tissue_targets)
        assumptions.extend(eff_notes)
        if effective is not None:
            effective.attrs["units"] = "mSv/MBq"
        if missing:
            assumptions.append(
                f"Effective dose is a partial sum: tissue weights {covered:.2f} of 1 have a dose; "
                f"no dose for {', '.join(missing)}."
            )
    else:
        assumptions.append(f"Effective dose and RDRC limits apply to humans; not computed for a {species}.")

    dose_at = absorbed * activity if activity is not None else None
    eff_at = effective * activity if (effective is not None and activity is not None) else None
    checks: list[LimitCheck] = []
    partial = factors.partial or bool(missing)
    if species == "human" and activity is not None:
        cite("CFR21_361_1")
        limit_low = RDRC_LIMITS_MSV["whole_body_blood_forming_lens_gonads"]
        limit_other = RDRC_LIMITS_MSV["other_organs"]
        if eff_at is not None:
            value = float(eff_at.max())
            checks.append(_check("effective dose (whole body)", "whole_body", value, limit_low, partial))
        low_targets = {tg for tissue in _RDRC_30_TISSUES for tg in factors.tissue_targets.get(tissue, ())}
        organ_targets = {tg for targets in factors.tissue_targets.values() for tg in targets}
        h_at = equivalent * activity
        for target in [str(x) for x in equivalent["target"].values]:
            if target not in organ_targets:
                continue  # tumour, blood, remainder of body: not organs of the regulation
            limit = limit_low if target in low_targets else limit_other
            value = float(h_at.sel(target=target).max())
            checks.append(_check("equivalent dose", target, value, limit, factors.partial))
        assumptions.append(
            "Limits: 21 CFR 361.1(b)(3)(i) adult single dose (RDRC research), used as a first-in-human "
            "benchmark; the effective dose stands for the whole-body dose; tumour, blood and remainder "
            "of body are not checked."
        )
    keys = tuple(
        dict.fromkeys(
            [*t.citation_keys, *factors.citation_keys, *source_of_emissions.citation_keys(), w.citation]
            + (["CFR21_361_1"] if checks else [])
        )
    )
    return DoseReport(
        nuclide=t.nuclide,
        half_life_h=t.half_life_h,
        species=species,
        dose_factor_model=factors.model_name,
        partial=partial,
        tiac_h=t.tiac_h,
        absorbed_dose_by_kind_mGy_per_MBq=by_kind,
        absorbed_dose_mGy_per_MBq=absorbed,
        equivalent_dose_mSv_per_MBq=equivalent,
        effective_dose_mSv_per_MBq=effective,
        effective_dose_weight_covered=covered,
        tissues_without_dose=tuple(missing),
        not_included=factors.not_included,
        activity_MBq=activity,
        activity_source=activity_where,
        absorbed_dose_mGy=dose_at,
        effective_dose_mSv=eff_at,
        limit_checks=tuple(checks),
        assumptions=tuple(assumptions),
        citation_keys=keys,
    )


def _check(quantity: str, target: str, value: float, limit: float, lower_bound: bool) -> LimitCheck:
    return LimitCheck(
        quantity=quantity,
        target=target,
        dose_mSv=value,
        limit_mSv=limit,
        fraction_of_limit=value / limit,
        exceeds=value > limit,
        lower_bound=lower_bound,
    )
