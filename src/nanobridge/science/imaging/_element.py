"""Amount of a contrast element carried by an agent: mass fraction, injected mass, tissue
concentration. Shared by the MRI and CT models."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.domain import AgentSpec, Scenario
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import ORGANS

__all__ = [
    "ATOMIC_WEIGHT_CITATION",
    "ATOMIC_WEIGHT_G_PER_MOL",
    "CORE_FORMULAS",
    "ElementContrastResult",
    "element_concentration_mg_per_mL",
    "element_mass_fraction",
    "injected_element_mass_mg",
]

#: Standard atomic weights [g/mol] (IUPAC2021_atomic_weights).
ATOMIC_WEIGHT_G_PER_MOL: dict[str, float] = {
    "Fe": 55.845,
    "O": 15.999,
    "Gd": 157.25,
    "Mn": 54.938,
    "Au": 196.97,
    "I": 126.90,
    "Bi": 208.98,
    "Ta": 180.95,
    "Yb": 173.05,
    "W": 183.84,
}
ATOMIC_WEIGHT_CITATION = "IUPAC2021_atomic_weights"

#: Stoichiometry of core materials whose composition is fixed: material -> {element: atoms}.
#: Iron oxide is taken as magnetite Fe3O4 (maghemite Fe2O3 would give 0.699 instead of 0.724).
CORE_FORMULAS: dict[str, dict[str, int]] = {
    "gold": {"Au": 1},
    "iron_oxide": {"Fe": 3, "O": 4},
}


# ---- element amount --------------------------------------------------------------------------


def element_mass_fraction(agent: AgentSpec, element: str, override: float | None = None) -> float:
    """Mass fraction of ``element`` in the particle core.

    ``override`` wins; then a CT label's ``element_mass_fraction``; then the stoichiometry of a
    fixed-composition core (gold: Au 1; iron oxide as Fe3O4: Fe 0.7236). A payload element or a
    variable-composition core needs ``override``.
    """
    if override is not None:
        if not 0 < override <= 1:
            raise ValueError(f"element_mass_fraction={override!r}: must be in (0, 1]")
        return float(override)
    ct = agent.labels.ct
    if ct is not None and ct.element == element and ct.element_mass_fraction is not None:
        return float(ct.element_mass_fraction)
    formula = CORE_FORMULAS.get(agent.core_material)
    if formula is None or element not in formula:
        known = ", ".join(f"{m} ({'/'.join(f)})" for m, f in CORE_FORMULAS.items())
        raise ValueError(
            f"element_mass_fraction: cannot derive the mass fraction of {element} in a "
            f"{agent.core_material!r} core; give element_mass_fraction (0-1) explicitly "
            f"(derivable for: {known})"
        )
    cite(ATOMIC_WEIGHT_CITATION)
    total = sum(n * ATOMIC_WEIGHT_G_PER_MOL[el] for el, n in formula.items())
    return formula[element] * ATOMIC_WEIGHT_G_PER_MOL[element] / total


def injected_element_mass_mg(
    agent: AgentSpec,
    scenario: Scenario,
    element: str,
    *,
    element_mass_fraction_override: float | None = None,
    dose_basis: Literal["core", "element"] = "core",
) -> tuple[float, float]:
    """(element mass injected [mg], mass fraction used).

    ``dose_basis='core'``: ``scenario.dose_mg_per_kg`` is core (particle) mass, times the element
    mass fraction. ``'element'``: the dose is already element mass (e.g. ferumoxytol is dosed in
    mg Fe/kg). A CT label's ``mass_mg_per_particle_dose`` (mg element per dose) wins over both.
    """
    ct = agent.labels.ct
    if ct is not None and ct.element == element and ct.mass_mg_per_particle_dose is not None:
        return float(ct.mass_mg_per_particle_dose), float("nan")
    dose_mg = scenario.dose_mg
    if dose_mg is None:
        raise ValueError(
            "scenario.dose_mg_per_kg: missing; MRI/CT contrast needs the injected mass "
            "(give dose_mg_per_kg in the scenario)"
        )
    if dose_basis == "element":
        return float(dose_mg), 1.0
    if dose_basis != "core":
        raise ValueError(f"dose_basis={dose_basis!r}: must be 'core' or 'element'")
    frac = element_mass_fraction(agent, element, element_mass_fraction_override)
    return float(dose_mg) * frac, frac


def element_concentration_mg_per_mL(bd: Biodistribution, organ: str, element_mg: float) -> xr.DataArray:
    """Element concentration [mg/mL] in ``organ`` (subject x time): %ID/g / 100 x element mass,
    tissue density 1 g/mL (as in the PBPK model)."""
    if organ not in ORGANS:
        raise ValueError(f"organ={organ!r}: must be a tissue, one of {', '.join(ORGANS)}")
    if element_mg < 0 or not math.isfinite(element_mg):
        raise ValueError(f"element mass {element_mg!r} mg: must be finite and >= 0")
    conc = bd.concentration(organ) / 100.0 * element_mg
    return conc.drop_vars("organ", errors="ignore")


class ElementContrastResult(BaseModel):
    """Common part of the element-contrast results (MRI, CT): a per-subject ``timecourse``
    (xarray) with ``best_time_h`` and ``min_dose_mg_per_kg``, and the injected element."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    element: str
    element_mass_fraction: float
    injected_element_mg: float
    dose_mg_per_kg: float
    timecourse: xr.Dataset
    assumptions: tuple[str, ...]
    citations: tuple[str, ...]

    def per_subject(self, name: str) -> NDArray[np.float64]:
        """A per-subject variable of the timecourse as a float array."""
        return np.asarray(self.timecourse[name].values, dtype=float)

    @property
    def best_time_h(self) -> NDArray[np.float64]:
        return self.per_subject("best_time_h")

    @property
    def min_dose_mg_per_kg(self) -> NDArray[np.float64]:
        return self.per_subject("min_dose_mg_per_kg")
