"""Radiation emitted per nuclear decay, behind a swappable interface.

:class:`EmissionSource` is what the dose code needs from a decay-data library; the bundled
implementation :class:`ICRP107Emissions` reads ICRP Publication 107 (Eckerman & Endo 2008) from
the ``icrp107-database`` package (LGPL-3.0; see data/README.md). Another evaluated library
(e.g. ENSDF/NUDAT, DDEP) can replace it by implementing the same three methods.

Emission kinds, grouped by how far they travel in tissue:

- ``"electron"`` (non-penetrating): beta-minus and beta-plus (mean energy of each branch), Auger
  and internal-conversion electrons (ICRP 107 ``beta-``, ``beta+``, ``betaD``, ``auger``, ``IE``);
- ``"photon"`` (penetrating): gamma rays, X-rays and annihilation photons (ICRP 107 ``gamma``,
  ``X``, ``annihilation``; the annihilation yield is already 2 photons of 0.511 MeV per positron);
- ``"alpha"`` (non-penetrating): alpha particles and alpha recoil nuclei.

Neutrons and fission fragments (spontaneous fission of heavy actinides) are not included.

Short-lived radioactive progeny (half-life at most ``progeny_half_life_ratio`` x the parent's)
are added with their branching fractions: over infinite time each parent decay yields exactly
``BF`` daughter decays, so this is exact for the time-integrated dose if the daughter decays
where its parent did (no redistribution, an assumption that is stated in the results).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.domain import normalize_nuclide

__all__ = [
    "EMISSION_KINDS",
    "EmissionKind",
    "EmissionLines",
    "EmissionSource",
    "ICRP107Emissions",
]

EmissionKind = Literal["electron", "photon", "alpha"]
EMISSION_KINDS: tuple[EmissionKind, ...] = ("electron", "photon", "alpha")

#: ICRP 107 emission groups making up each kind.
_ICRP107_GROUPS: dict[str, tuple[str, ...]] = {
    "electron": ("beta-", "beta+", "betaD", "auger", "IE"),
    "photon": ("gamma", "X", "annihilation"),
    "alpha": ("alpha", "alpha recoil"),
}


class EmissionLines(BaseModel):
    """Discrete emissions of one kind: energy [MeV] and yield [per decay] of each line."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    nuclide: str
    kind: str
    energy_MeV: NDArray[np.float64]
    yield_per_decay: NDArray[np.float64]
    citation_keys: tuple[str, ...] = ()

    @property
    def mean_energy_per_decay_MeV(self) -> float:
        """Σ E_i·Y_i [MeV per decay]."""
        return float(np.sum(self.energy_MeV * self.yield_per_decay))


@runtime_checkable
class EmissionSource(Protocol):
    """What the dose calculation needs from a decay-data library."""

    name: str

    def lines(self, nuclide: str, kind: str) -> EmissionLines:
        """Discrete lines of ``kind`` ("electron", "photon", "alpha") per decay of ``nuclide``."""
        ...

    def mean_energy_per_decay_MeV(self, nuclide: str, kind: str) -> float:
        """Energy of ``kind`` emitted per decay [MeV]."""
        ...

    def photon_lines(self, nuclide: str) -> EmissionLines:
        """Penetrating photon lines (gamma, X, annihilation) per decay."""
        ...

    def citation_keys(self) -> tuple[str, ...]:
        """Citation keys of the decay data."""
        ...


def _check_kind(kind: str) -> None:
    if kind not in EMISSION_KINDS:
        raise ValueError(f"emission kind {kind!r} is not known; allowed: {', '.join(EMISSION_KINDS)}")


def _canonical(nuclide: str) -> str:
    name = normalize_nuclide(nuclide) if isinstance(nuclide, str) else None
    if name is None:
        raise ValueError(f"nuclide {nuclide!r} is not a nuclide spelling; write it like '89Zr' or 'Zr-89'")
    return name


@lru_cache(maxsize=256)
def _icrp107_record(name: str) -> dict[str, list[list[float]]]:
    from importlib import resources

    folder = resources.files("icrp107_database") / "icrp107"
    path = folder / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"nuclide {name!r} is not in the ICRP-107 emission data (icrp107-database)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, str):  # the package stores JSON-encoded JSON
        data = json.loads(data)
    emissions = data.get("emissions", {})
    return {str(k): [[float(e), float(y)] for e, y in v] for k, v in emissions.items()}


@lru_cache(maxsize=256)
def _progeny(name: str, ratio: float) -> tuple[tuple[str, float], ...]:
    """(daughter, decays per parent decay) of short-lived radioactive progeny, recursively."""
    import radioactivedecay as rd

    try:
        parent = rd.Nuclide(name)
        t_parent = float(parent.half_life("h"))
    except (ValueError, KeyError):
        return ()
    out: dict[str, float] = {}

    def walk(nuc: str, weight: float) -> None:
        node = rd.Nuclide(nuc)
        for daughter, bf in zip(node.progeny(), node.branching_fractions(), strict=True):
            if daughter in ("SF", "stable") or bf <= 0:
                continue
            try:
                t_d = float(rd.Nuclide(daughter).half_life("h"))
            except (ValueError, KeyError):
                continue
            if not np.isfinite(t_d) or t_d > ratio * t_parent:
                continue
            out[daughter] = out.get(daughter, 0.0) + weight * float(bf)
            walk(daughter, weight * float(bf))

    walk(name, 1.0)
    return tuple(sorted(out.items()))


class ICRP107Emissions:
    """Emissions from ICRP Publication 107 via the ``icrp107-database`` package.

    ``include_progeny`` adds short-lived radioactive progeny (half-life ≤
    ``progeny_half_life_ratio`` × the parent's) weighted by their branching fractions.
    """

    name = "ICRP 107 (icrp107-database)"

    def __init__(self, *, include_progeny: bool = True, progeny_half_life_ratio: float = 0.1) -> None:
        if not (0 <= progeny_half_life_ratio <= 1):
            raise ValueError(f"progeny_half_life_ratio must be in [0, 1], got {progeny_half_life_ratio}")
        self.include_progeny = include_progeny
        self.progeny_half_life_ratio = float(progeny_half_life_ratio)

    def citation_keys(self) -> tuple[str, ...]:
        return ("ICRP107",)

    def progeny(self, nuclide: str) -> tuple[tuple[str, float], ...]:
        """Short-lived progeny counted with ``nuclide``: (daughter, decays per parent decay)."""
        name = _canonical(nuclide)
        _icrp107_record(name)
        if not self.include_progeny:
            return ()
        return _progeny(name, self.progeny_half_life_ratio)

    def lines(self, nuclide: str, kind: str) -> EmissionLines:
        _check_kind(kind)
        name = _canonical(nuclide)
        chain = [(name, 1.0), *self.progeny(name)]
        energies: list[float] = []
        yields: list[float] = []
        for member, weight in chain:
            try:
                record = _icrp107_record(member)
            except ValueError:
                continue  # a progeny member without emission data
            for group in _ICRP107_GROUPS[kind]:
                for energy, yld in record.get(group, []):
                    if energy > 0 and yld > 0:
                        energies.append(energy)
                        yields.append(weight * yld)
        cite("ICRP107")
        return EmissionLines(
            nuclide=name,
            kind=kind,
            energy_MeV=np.asarray(energies, dtype=float),
            yield_per_decay=np.asarray(yields, dtype=float),
            citation_keys=("ICRP107",),
        )

    def mean_energy_per_decay_MeV(self, nuclide: str, kind: str) -> float:
        return self.lines(nuclide, kind).mean_energy_per_decay_MeV

    def photon_lines(self, nuclide: str) -> EmissionLines:
        return self.lines(nuclide, "photon")
