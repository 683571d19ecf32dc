"""Stylized (MIRD-type) adult male phantom: organs as quadric solids, for photon Monte Carlo.

Frame and units (MIRD convention, Snyder et al. MIRD Pamphlet 5 revised; Cristy & Eckerman 1987):
lengths in cm; the origin is at the centre of the base of the trunk; +z up, +x to the phantom's
LEFT, +y toward its BACK (posterior). The trunk is the elliptical cylinder
(x/20)² + (y/10)² ≤ 1, 0 ≤ z ≤ 70.

Source of the equations and dimensions (citation ``Geant4HumanPhantom``): the adult male MIRD
classes of the Geant4 advanced example ``human_phantom`` (``G4MIRDTrunk``, ``G4MIRDHead``,
``G4MIRDBrain``, ``G4MIRDLeftLung``/``G4MIRDRightLung``, ``G4MIRDLeftKidney``/
``G4MIRDRightKidney``, ``G4MIRDSpleen``, ``G4MIRDHeart``, ``G4MIRDUrinaryBladder``), whose organ
positions are given relative to the trunk centre (z = 35 cm here), and the Cristy–Eckerman soft
tissue composition and densities of its GDML files (soft tissue 1.04 g/cm³, lung 0.296 g/cm³).

- Head: elliptical cylinder (x/7)² + (y/10)² ≤ 1, 70 < z ≤ 85.5, capped by the half ellipsoid
  (x/7)² + (y/10)² + ((z−85.5)/8.5)² ≤ 1, z > 85.5.
- Brain: ellipsoid a, b, c = 6, 9, 6.5 cm at (0, 0, 86.5).
- Lungs: half ellipsoids a, b, c = 5, 7.5, 24 cm at (±8.5, 0, 43.5), z ≥ 43.5, without the
  part with y < 0 inside the same ellipsoid centred at (±2.5, 0, 43.5) (the medial cut, heart side).
- Kidneys: ellipsoids a, b, c = 4.5, 1.5, 5.5 cm at (±6, 6, 32.5), keeping |x| ≥ 3.
- Spleen: ellipsoid a, b, c = 3.5, 2, 6 cm at (11, 3, 37).
- Heart (Geant4's simplified heart, wall and contents together): half ellipsoid a, b, c = 4, 4, 7
  (local z ≤ 0) joined to a hemisphere r = 3.99 (local z ≥ 0), centred at (0, −3, 50.32), its
  axis tilted 25° so that the apex points down and to the phantom's left (ASSUMED direction of
  the tilt: the Geant4 placement rotation is 25° about y; the apex-to-the-left sense is anatomy).
- Urinary bladder: wall between the ellipsoids 4.958 × 3.458 × 3.458 and 4.706 × 3.206 × 3.206 cm,
  contents inside the inner one, centred at (0, −4.5, 8).
- Liver (NOT from Geant4, whose liver is a rescaled variant): the MIRD-5 liver
  (x/16.5)² + (y/8)² ≤ 1, x/35 + y/45 − z/43 ≤ −1, 27 ≤ z ≤ 43, as widely reproduced for the
  Snyder/Cristy–Eckerman adult. ASSUMED: these numbers were not read from the primary report in
  this work; the form of the cutting plane matches the (rescaled) Geant4 liver, and the volume
  (1830 cm³, 1.90 kg at 1.04 g/cm³) matches the phantom's published liver mass.
- Legs (APPROXIMATION): the intersection of the trunk's elliptical cylinder continued below z = 0
  with a cone whose radius falls from 20 cm at z = 0 to 4 cm at z = −80 (the construction of the
  Geant4 example's legs, with the male trunk section and an 80-cm leg length).

Not modelled (each flagged in the dose-factor assumptions): the skeleton and red marrow (bone is
treated as soft tissue — this matters most below ~100 keV), the gastrointestinal tract, thyroid,
gonads, pancreas, adrenals, thymus, skin, breasts and arms (all soft tissue of the "remainder").
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "BODY_BOX_CM",
    "DENSITY_G_PER_CM3",
    "LUNG_DENSITY_G_PER_CM3",
    "MATERIAL_OF_REGION",
    "PHANTOM_CITATION_KEYS",
    "REGIONS",
    "REGION_BOX_CM",
    "SOFT_TISSUE_DENSITY_G_PER_CM3",
    "SOFT_TISSUE_MASS_FRACTIONS",
    "organ_masses_kg",
    "region_at",
    "region_volumes_cm3",
]

#: Citation keys of the geometry (Geant4 example) and of the phantom it implements.
PHANTOM_CITATION_KEYS = ("Geant4HumanPhantom", "Snyder1978MIRD5", "CristyEckerman1987", "Kahn1956")

#: Region index -> name. 0 is outside the body; 1 is soft tissue not in a modelled organ.
REGIONS: tuple[str, ...] = (
    "outside",
    "remainder",
    "lungs",
    "liver",
    "kidneys",
    "spleen",
    "heart",
    "brain",
    "urinary_bladder_wall",
    "urinary_bladder_contents",
)
OUTSIDE, REMAINDER_ID, LUNGS, LIVER, KIDNEYS, SPLEEN, HEART, BRAIN, UB_WALL, UB_CONTENTS = range(10)

#: Cristy–Eckerman soft tissue (Geant4 human_phantom GDML files): element -> mass fraction.
SOFT_TISSUE_MASS_FRACTIONS: dict[str, float] = {
    "H": 0.10454, "C": 0.22663, "N": 0.02490, "O": 0.63525, "Na": 0.00112, "Mg": 0.00013,
    "Si": 0.00030, "P": 0.00134, "S": 0.00204, "Cl": 0.00133, "K": 0.00208, "Ca": 0.00024,
    "Fe": 0.00005, "Zn": 0.00003, "Rb": 0.00001, "Zr": 0.00001,
}  # fmt: skip
SOFT_TISSUE_DENSITY_G_PER_CM3 = 1.04
#: Lung density (Cristy & Eckerman; 999-g lungs). ASSUMED: lung has the soft tissue composition.
LUNG_DENSITY_G_PER_CM3 = 0.296
#: Material index per region: 0 = void, 1 = soft tissue, 2 = lung.
MATERIAL_OF_REGION = np.array([0, 1, 2, 1, 1, 1, 1, 1, 1, 1], dtype=np.int64)
#: Density per region [g/cm³].
DENSITY_G_PER_CM3 = np.array([0.0, 1.04, 0.296, 1.04, 1.04, 1.04, 1.04, 1.04, 1.04, 1.04], dtype=np.float64)

#: Box enclosing the whole body: (xmin, xmax, ymin, ymax, zmin, zmax) [cm].
BODY_BOX_CM = np.array([-20.0, 20.0, -10.0, 10.0, -80.0, 94.0])
#: Box enclosing each region (for rejection sampling of sources); remainder = the body box.
REGION_BOX_CM = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [-20.0, 20.0, -10.0, 10.0, -80.0, 94.0],
        [-13.5, 13.5, -7.5, 7.5, 43.5, 67.5],
        [-16.5, 16.5, -8.0, 8.0, 27.0, 43.0],
        [-10.5, 10.5, 4.5, 7.5, 27.0, 38.0],
        [7.5, 14.5, 1.0, 5.0, 31.0, 43.0],
        [-7.0, 7.5, -7.0, 1.0, 43.0, 55.0],
        [-6.0, 6.0, -9.0, 9.0, 80.0, 93.0],
        [-4.958, 4.958, -7.958, -1.042, 4.542, 11.458],
        [-4.706, 4.706, -7.706, -1.294, 4.794, 11.206],
    ]
)

_COS25 = math.cos(math.radians(25.0))
_SIN25 = math.sin(math.radians(25.0))


@numba.njit(cache=True)
def _in_body(x: float, y: float, z: float) -> bool:
    if z > 94.0 or z < -80.0:
        return False
    if z >= 0.0 and z <= 70.0:
        return (x / 20.0) ** 2 + (y / 10.0) ** 2 <= 1.0
    if z > 70.0:
        e = (x / 7.0) ** 2 + (y / 10.0) ** 2
        if z <= 85.5:
            return e <= 1.0
        return e + ((z - 85.5) / 8.5) ** 2 <= 1.0
    # legs: trunk section continued, intersected with a cone 20 cm -> 4 cm radius over 80 cm
    r = 20.0 + (20.0 - 4.0) * z / 80.0
    return (x / 20.0) ** 2 + (y / 10.0) ** 2 <= 1.0 and x * x + y * y <= r * r


@numba.njit(cache=True)
def _in_lung(x: float, y: float, z: float) -> bool:
    if z < 43.5:
        return False
    dz = ((z - 43.5) / 24.0) ** 2
    dy = (y / 7.5) ** 2
    for s in (1.0, -1.0):
        if ((x - s * 8.5) / 5.0) ** 2 + dy + dz <= 1.0:
            # medial cut: the part with y < 0 inside the ellipsoid shifted to x = ±2.5
            return not (y < 0.0 and ((x - s * 2.5) / 5.0) ** 2 + dy + dz <= 1.0)
    return False


@numba.njit(cache=True)
def _in_heart(x: float, y: float, z: float) -> bool:
    # local frame: w along the heart axis (apex at negative w), pointing down and to the left
    dx, dy, dz = x, y + 3.0, z - 50.32
    w = -_SIN25 * dx + _COS25 * dz
    u = _COS25 * dx + _SIN25 * dz
    if w <= 0.0:
        return (u / 4.0) ** 2 + (dy / 4.0) ** 2 + (w / 7.0) ** 2 <= 1.0
    return u * u + dy * dy + w * w <= 3.99 * 3.99


@numba.njit(cache=True)
def region_at(x: float, y: float, z: float) -> int:
    """Region index at (x, y, z) [cm] (see :data:`REGIONS`); organs are tested before the body."""
    if not _in_body(x, y, z):
        return OUTSIDE
    if z >= 80.0:
        if (x / 6.0) ** 2 + (y / 9.0) ** 2 + ((z - 86.5) / 6.5) ** 2 <= 1.0:
            return BRAIN
        return REMAINDER_ID
    if z >= 43.5 and _in_lung(x, y, z):
        return LUNGS
    if z >= 43.0 and z <= 56.0 and _in_heart(x, y, z):
        return HEART
    if (
        z >= 27.0
        and z <= 43.0
        and (x / 16.5) ** 2 + (y / 8.0) ** 2 <= 1.0
        and x / 35.0 + y / 45.0 - z / 43.0 <= -1.0
    ):
        return LIVER
    if (
        z >= 31.0
        and z <= 43.0
        and ((x - 11.0) / 3.5) ** 2 + ((y - 3.0) / 2.0) ** 2 + ((z - 37.0) / 6.0) ** 2 <= 1.0
    ):
        return SPLEEN
    if (
        z >= 27.0
        and z <= 38.0
        and abs(x) >= 3.0
        and ((abs(x) - 6.0) / 4.5) ** 2 + ((y - 6.0) / 1.5) ** 2 + ((z - 32.5) / 5.5) ** 2 <= 1.0
    ):
        return KIDNEYS
    if z >= 4.5 and z <= 11.5:
        yy = y + 4.5
        zz = z - 8.0
        if (x / 4.706) ** 2 + (yy / 3.206) ** 2 + (zz / 3.206) ** 2 <= 1.0:
            return UB_CONTENTS
        if (x / 4.958) ** 2 + (yy / 3.458) ** 2 + (zz / 3.458) ** 2 <= 1.0:
            return UB_WALL
    return REMAINDER_ID


@numba.njit(cache=True)
def _grid_counts(h: float, n_regions: int) -> NDArray[np.int64]:
    counts = np.zeros(n_regions, dtype=np.int64)
    nx = int(40.0 / h + 0.5)
    ny = int(20.0 / h + 0.5)
    nz = int(174.0 / h + 0.5)
    for i in range(nx):
        x = -20.0 + (i + 0.5) * h
        for j in range(ny):
            y = -10.0 + (j + 0.5) * h
            for k in range(nz):
                z = -80.0 + (k + 0.5) * h
                counts[region_at(x, y, z)] += 1
    return counts


@lru_cache(maxsize=4)
def region_volumes_cm3(grid_cm: float = 0.2) -> dict[str, float]:
    """Volume of each region [cm³] by midpoint integration on a cubic grid of ``grid_cm``."""
    if not (0.01 <= grid_cm <= 2.0):
        raise ValueError(f"grid_cm={grid_cm!r} must be between 0.01 and 2 cm")
    counts = _grid_counts(float(grid_cm), len(REGIONS))
    return {name: float(counts[i]) * grid_cm**3 for i, name in enumerate(REGIONS) if i > 0}


def organ_masses_kg(grid_cm: float = 0.2) -> dict[str, float]:
    """Mass of each region [kg] (volume x density) and of the whole body (``whole_body``)."""
    vols = region_volumes_cm3(grid_cm)
    masses = {name: vols[name] * DENSITY_G_PER_CM3[REGIONS.index(name)] / 1000.0 for name in vols}
    masses["whole_body"] = sum(masses.values())
    return masses
