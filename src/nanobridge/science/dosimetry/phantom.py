"""Stylized (MIRD-type) adult male phantom: organs as quadric solids, for photon Monte Carlo.

Frame and units (MIRD convention, Snyder et al. MIRD Pamphlet 5 revised; Cristy & Eckerman 1987):
lengths in cm; the origin is at the centre of the base of the trunk; +z up, +x to the phantom's
LEFT, +y toward its BACK (posterior). The trunk is the elliptical cylinder
(x/20)² + (y/10)² ≤ 1, 0 ≤ z ≤ 70.

Source of the equations and dimensions (citation ``Geant4HumanPhantom``): the adult male MIRD
classes of the Geant4 advanced example ``human_phantom`` (``G4MIRD<Organ>.cc``, as built by its
male MIRD builder), and the Cristy–Eckerman compositions and densities of its GDML files (soft
tissue 1.04 g/cm³, lung 0.296 g/cm³, skeleton 1.4 g/cm³).

Frames (checked against the Geant4 classes): the Geant4 trunk is placed at world z = 35 cm with
the rotation rotateX(180°)·rotateY(180°) = a 180° turn about z, so the trunk's LOCAL frame is the
MIRD frame above shifted by 35 cm in z, and organs placed in the trunk keep their Geant4
coordinates here (spleen at x = +11 = left, kidneys at y = +6 = back, liver cut towards x > 0
so that the liver sits at x < 0, pancreas tail towards the spleen: all consistent). The head is
placed at world z = 77.75 cm with the same rotation, so head daughters (brain, skull, upper
spine, thyroid) are at head-local + (0, 0, 77.75). Volumes placed directly in the Geant4 world
(legs, male genitalia) have x and y FLIPPED here (Geant4 world = our frame turned 180° about z):
e.g. the Geant4 ``LeftTeste`` lies at our x < 0 (the phantom's right); this does not matter
because both testes form one region. Placement and boolean-solid rotations are passive in Geant4
(G4PVPlacement, G4DisplacedSolid: "rotation of frame then translation"): a point p of the mother
is inside a daughter placed with rotation R at t when R·(p − t) is inside the daughter's solid;
G4RotationMatrix::rotateX/Y/Z(a) left-multiplies by the active rotation matrix. Checks that
support this sense: with it the sigmoid-colon tori continue the descending colon down to the
rectum and the pancreas tail points to the spleen, and the scapula cutting boxes have a face
through the trunk axis (the opposite sense breaks each of these).

- Head: elliptical cylinder (x/7)² + (y/10)² ≤ 1, 70 < z ≤ 85.5, capped by the half ellipsoid
  (x/7)² + (y/10)² + ((z−85.5)/8.5)² ≤ 1, z > 85.5.
- Brain: ellipsoid a, b, c = 6, 9, 6.5 cm at (0, 0, 86.5).
- Lungs: half ellipsoids a, b, c = 5, 7.5, 24 cm at (±8.5, 0, 43.5), z ≥ 43.5, without the
  part with y < 0 inside the same ellipsoid centred at (±2.5, 0, 43.5) (the medial cut, heart side).
- Kidneys: ellipsoids a, b, c = 4.5, 1.5, 5.5 cm at (±6, 6, 32.5), keeping |x| ≥ 3.
- Spleen: ellipsoid a, b, c = 3.5, 2, 6 cm at (11, 3, 37).
- Heart (Geant4's simplified heart, wall and contents together): half ellipsoid a, b, c = 4, 4, 7
  (local z ≤ 0) joined to a hemisphere r = 3.99 (local z ≥ 0), centred at (0, −3, 50.32), its
  axis tilted 25° so that the apex points down and to the phantom's left (the Geant4 placement
  rotateY(25°), read in the passive sense above, gives exactly this direction, as does anatomy).
- Urinary bladder: wall between the ellipsoids 4.958 × 3.458 × 3.458 and 4.706 × 3.206 × 3.206 cm,
  contents inside the inner one, centred at (0, −4.5, 8).
- Liver (NOT from Geant4, whose liver is a rescaled variant): the MIRD-5 liver
  (x/16.5)² + (y/8)² ≤ 1, x/35 + y/45 − z/43 ≤ −1, 27 ≤ z ≤ 43, as widely reproduced for the
  Snyder/Cristy–Eckerman adult. ASSUMED: these numbers were not read from the primary report in
  this work; the form of the cutting plane matches the (rescaled) Geant4 liver, and the volume
  (1830 cm³, 1.90 kg at 1.04 g/cm³) matches the phantom's published liver mass.
- Stomach (``G4MIRDStomach``; wall and contents together, the Geant4 solid has no cavity):
  ellipsoid a, b, c = 4, 3, 8 cm at (8, −4, 35).
- Upper large intestine (``G4MIRDUpperLargeIntestine``; wall and contents together): ascending
  colon, elliptical cylinder (x+8)²/2.5² + (y+2.36)²/2.5² ≤ 1, 14.45 ≤ z ≤ 24, and transverse
  colon, elliptical cylinder along x, |x| ≤ 10.5, (y+2.36)²/2.5² + (z−25.5)²/1.5² ≤ 1.
- Lower large intestine (``G4MIRDLowerLargeIntestine``; wall and contents together): descending
  colon (x−8.72)²/1.88² + (y+2.36)²/2.13² ≤ 1, 8.72 ≤ z ≤ 24; sigmoid colon, two quarter tori of
  tube radius 1.88 cm in the plane y = −2.36: ring radius 5.72 about (3, ·, 8.72) with x ≥ 3,
  z ≤ 8.72, then ring radius 3 about (3, ·, 0) with x ≤ 3, z ≥ 0.
- Small intestine (``G4MIRDSmallIntestine``; wall and contents together): 17 ≤ z ≤ 27,
  −4.86 ≤ y ≤ 2.2, x² + (y+2.66)² ≤ 11² and x² + (y+3.46)² ≤ 11², minus the ascending,
  transverse and descending colon (subtracted in the Geant4 solid at exactly their own places).
- Pancreas (``G4MIRDPancreas``): half ellipsoid (x/15)² + y² + ((z−37)/3)² ≤ 1, x ≥ 0, without
  the part with x ≥ 3 and z ≤ 37 (the Geant4 box cut, after its rotateY(90°) placement).
- Adrenals (``G4MIRDLeftAdrenal``/``RightAdrenal``): upper half ellipsoids a, b, c = 1.5, 0.5,
  5 cm at (±4.5, 6.5, 38), z ≥ 38 (not tilted in Geant4).
- Thyroid (``G4MIRDThyroid``, a head daughter; the example's construction has its build call
  commented out, the class is used here as it is): a half annulus 0.83 ≤ r ≤ 1.85 cm around the
  axis (0, −3.91), anterior half (y ≤ −3.91), 70 ≤ z ≤ 74.2, minus two boxes 3.72 × 3.72 × 20 cm
  rotated ∓50° about x (see :func:`_in_thyroid`).
- Thymus (``G4MIRDThymus``): ellipsoid a, b, c = 3, 0.5, 4 cm at (2, −6, 60.5).
- Testes (``G4MIRDLeftTeste``/``RightTeste`` in ``G4MIRDMaleGenitalia``): ellipsoids a, b, c =
  1.3, 1.5, 2.3 cm at (±1.4, −8, −2.4), below the trunk between the legs. The male genitalia
  volume itself (soft tissue, part of the remainder) is the frustum −4.8 ≤ z ≤ 0, |x| ≤ 9.52 +
  0.48 t, |y + 5| ≤ 4.76 + 0.24 t with t = (z + 4.8)/4.8, minus the legs.
- Legs (``G4MIRDLeftLeg``/``RightLeg``): two circular cones, axes at x = ±10, y = 0, radius
  10 + 0.1 z, −80 ≤ z ≤ 0 (10 cm at the trunk, 2 cm at the feet).
- Skeleton, ONE homogeneous region of Cristy–Eckerman skeletal tissue (bone and marrow mixed,
  1.4 g/cm³): skull (``G4MIRDSkull``: ellipsoid 6.8 × 9.8 × 8.3 at (0, 0, 85.5) minus the brain
  ellipsoid), upper spine (``G4MIRDUpperSpine``: elliptical cylinder 2 × 2.5 at (0, 5.5),
  70 ≤ z ≤ 78.5, minus a box rotated −25° about x), middle-lower spine (``G4MIRDMiddleLowerSpine``:
  2 × 2.5 at (0, 5.5), 22 ≤ z ≤ 70), rib cage (``G4MIRDRibCage``: 12 elliptical rings 1.4 cm
  high between the ellipses 16.5 × 9.3 and 17 × 9.8, see :data:`_RIB_Z_CM`), pelvis
  (``G4MIRDPelvis``: between the cylinders x² + (y+3)² ≤ 12² and x² + (y+3.8)² ≥ 11.3²,
  0 ≤ z ≤ 22, y ≥ −3, without y ≥ 5 for z ≤ 14), arm bones (``G4MIRDLeft/RightArmBone``:
  elliptical cylinders 1.4 × 2.7 at (±18.4, 0), 0 ≤ z ≤ 69), scapulae (``G4MIRDLeft/RightScapula``:
  the shell between the elliptical cylinders 17 × 9.8 and 19 × 9.8, 50.9 ≤ z ≤ 67.3, cut by two
  rotated boxes to a posterior wedge on each side), clavicles (``G4MIRDLeft/RightClavicle``: tori
  R = 10, r = 0.7883 about (0, 2, 68.25), 0.7 rad of arc each) and leg bones
  (``G4MIRDLeft/RightLegBone``: cones on the leg axes, radius 1 cm at z = −79.8 to 3.5 cm at
  z = 0).

Breasts are not modelled: the Geant4 builder builds them for the female phantom only.

Not modelled (soft tissue of the "remainder" unless stated): oesophagus, skin, salivary glands,
gall bladder, muscle as a separate tissue, eye lenses, and red marrow, endosteum and cortical/
trabecular bone as separate regions (the skeleton is one homogeneous region, so marrow doses
need a skeletal dosimetry model on top of it).
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
    "SKELETON_DENSITY_G_PER_CM3",
    "SKELETON_MASS_FRACTIONS",
    "SKELETON_PARTS",
    "SOFT_TISSUE_DENSITY_G_PER_CM3",
    "SOFT_TISSUE_MASS_FRACTIONS",
    "organ_masses_kg",
    "region_at",
    "region_flags",
    "region_overlaps_cm3",
    "region_volumes_cm3",
    "regions_at",
    "skeleton_part_volumes_cm3",
]

#: Citation keys of the geometry (Geant4 example) and of the phantom it implements.
PHANTOM_CITATION_KEYS = ("Geant4HumanPhantom", "Snyder1978MIRD5", "CristyEckerman1987", "Kahn1956")

#: Region index -> name. 0 is outside the body; 1 is soft tissue not in a modelled organ.
#: Indices 0-9 are those of the first version of the phantom; later regions are appended.
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
    "stomach",
    "small_intestine",
    "upper_large_intestine",
    "lower_large_intestine",
    "pancreas",
    "adrenals",
    "thyroid",
    "thymus",
    "testes",
    "skeleton",
)
OUTSIDE, REMAINDER_ID, LUNGS, LIVER, KIDNEYS, SPLEEN, HEART, BRAIN, UB_WALL, UB_CONTENTS = range(10)
STOMACH, SMALL_INTESTINE, ULI, LLI, PANCREAS, ADRENALS, THYROID, THYMUS, TESTES, SKELETON = range(10, 20)

#: Cristy–Eckerman soft tissue (Geant4 human_phantom GDML files): element -> mass fraction.
SOFT_TISSUE_MASS_FRACTIONS: dict[str, float] = {
    "H": 0.10454, "C": 0.22663, "N": 0.02490, "O": 0.63525, "Na": 0.00112, "Mg": 0.00013,
    "Si": 0.00030, "P": 0.00134, "S": 0.00204, "Cl": 0.00133, "K": 0.00208, "Ca": 0.00024,
    "Fe": 0.00005, "Zn": 0.00003, "Rb": 0.00001, "Zr": 0.00001,
}  # fmt: skip
SOFT_TISSUE_DENSITY_G_PER_CM3 = 1.04
#: Lung density (Cristy & Eckerman; 999-g lungs). ASSUMED: lung has the soft tissue composition.
LUNG_DENSITY_G_PER_CM3 = 0.296
#: Cristy–Eckerman skeletal tissue (homogeneous bone + marrow mixture), material "Skeleton" of the
#: Geant4 human_phantom GDML files (e.g. gdmlData/Male/MIRDSkull.gdml): element -> mass fraction
#: (sum 1.00000). G4HumanPhantomMaterial.cc has a different "MIRD skeleton" (1.4862 g/cm³, the
#: MIRD-5 value); the GDML one is used for consistency with the soft tissue and lung above.
SKELETON_MASS_FRACTIONS: dict[str, float] = {
    "H": 0.07337, "C": 0.25475, "N": 0.03057, "O": 0.47893, "F": 0.00025, "Na": 0.00326,
    "Mg": 0.00112, "Si": 0.00002, "P": 0.05095, "S": 0.00173, "Cl": 0.00143, "K": 0.00153,
    "Ca": 0.10190, "Fe": 0.00008, "Zn": 0.00005, "Rb": 0.00002, "Sr": 0.00003, "Pb": 0.00001,
}  # fmt: skip
#: Skeleton density (same GDML material).
SKELETON_DENSITY_G_PER_CM3 = 1.4
#: Material index per region: 0 = void, 1 = soft tissue, 2 = lung, 3 = skeleton.
MATERIAL_OF_REGION = np.array([0, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3], dtype=np.int64)
_DENSITY_OF_MATERIAL = (
    0.0, SOFT_TISSUE_DENSITY_G_PER_CM3, LUNG_DENSITY_G_PER_CM3, SKELETON_DENSITY_G_PER_CM3
)  # fmt: skip
#: Density per region [g/cm³] (that of its material).
DENSITY_G_PER_CM3 = np.array([_DENSITY_OF_MATERIAL[m] for m in MATERIAL_OF_REGION], dtype=np.float64)

#: Box enclosing the whole body: (xmin, xmax, ymin, ymax, zmin, zmax) [cm].
BODY_BOX_CM = np.array([-20.0, 20.0, -10.0, 10.0, -80.0, 94.0])
#: Box enclosing each region (for rejection sampling of sources); remainder and skeleton = the body
#: box. Each box follows from the solid's equations in the module docstring.
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
        [4.0, 12.0, -7.0, -1.0, 27.0, 43.0],  # stomach
        [-11.0, 11.0, -4.86, 2.2, 17.0, 27.0],  # small intestine
        [-10.5, 10.5, -4.86, 0.14, 14.45, 27.0],  # upper large intestine
        [-1.88, 10.6, -4.49, -0.23, 0.0, 24.0],  # lower large intestine
        [0.0, 15.0, -1.0, 1.0, 34.0, 40.0],  # pancreas
        [-6.0, 6.0, 6.0, 7.0, 38.0, 43.0],  # adrenals
        [-1.85, 1.85, -5.76, -3.91, 70.0, 74.2],  # thyroid
        [-1.0, 5.0, -6.5, -5.5, 56.5, 64.5],  # thymus
        [-2.7, 2.7, -9.5, -6.5, -4.7, -0.1],  # testes
        [-20.0, 20.0, -10.0, 10.0, -80.0, 94.0],  # skeleton
    ]
)

_COS25 = math.cos(math.radians(25.0))
_SIN25 = math.sin(math.radians(25.0))
_COS50 = math.cos(math.radians(50.0))
_SIN50 = math.sin(math.radians(50.0))
_COS14 = math.cos(math.radians(14.0))
_SIN14 = math.sin(math.radians(14.0))
_COS_SCAP2 = math.cos(math.radians(38.6598))
_SIN_SCAP2 = math.sin(math.radians(38.6598))
#: G4MIRDRibCage: the cage (32.4 cm high) is placed at trunk-local z = 32.4/2 + 0.1 (our
#: 35 + 16.3 = 51.3); ribs 1-2 at cage-local −32.2/2 + 0.8 (+2.8) cm, ribs 3-12 at
#: −32.4/2 + 0.8 + 2.8 k (k = 2..11) cm (the two formulas are the example's own); each rib is
#: 1.4 cm high. Centres in our frame [cm]: 36.0, 38.8, 41.5, 44.3, ..., 66.7.
_CAGE_Z_CM = 35.0 + 32.4 / 2.0 + 0.1
_RIB_Z_CM = np.array(
    [_CAGE_Z_CM - 32.2 / 2.0 + 0.8, _CAGE_Z_CM - 32.2 / 2.0 + 0.8 + 2.8]
    + [_CAGE_Z_CM - 32.4 / 2.0 + 0.8 + 2.8 * k for k in range(2, 12)]
)
#: G4MIRDLeft/RightClavicle: start angles 298.15° and 201.75°, each spanning 0.7 rad.
_CLAV_LEFT_PHI0 = math.radians(298.15)
_CLAV_RIGHT_PHI0 = math.radians(201.75)
_CLAV_DPHI = 0.7


# --------------------------------------------------------------------------------------------
# Body outline
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _in_legs(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightLeg: cones of half length 40 at world (±10, 0, −40), radius 2 (feet) -> 10
    if z < -80.0 or z > 0.0:
        return False
    r = 10.0 + 0.1 * z
    return (abs(x) - 10.0) ** 2 + y * y <= r * r


@numba.njit(cache=True)
def _in_genitalia(x: float, y: float, z: float) -> bool:
    # G4MIRDMaleGenitalia: G4Trap (half z 2.4; half x, y 9.52, 4.76 at the bottom, 10, 5 at the
    # top) placed in the world at (0, 5, −2.4) (our (0, −5, −2.4)); its subtraction of the two
    # leg cones does not matter for the body outline (legs ∪ genitalia)
    if z < -4.8 or z > 0.0:
        return False
    t = (z + 4.8) / 4.8
    return abs(x) <= 9.52 + 0.48 * t and abs(y + 5.0) <= 4.76 + 0.24 * t


@numba.njit(cache=True)
def _in_body(x: float, y: float, z: float) -> bool:
    if z > 94.0 or z < -80.0:
        return False
    if z >= 0.0 and z <= 70.0:
        return x * x * (1.0 / 400.0) + y * y * 0.01 <= 1.0  # (x/20)² + (y/10)², no division
    if z > 70.0:
        e = (x / 7.0) ** 2 + (y / 10.0) ** 2
        if z <= 85.5:
            return e <= 1.0
        return e + ((z - 85.5) / 8.5) ** 2 <= 1.0
    return _in_legs(x, y, z) or _in_genitalia(x, y, z)


# --------------------------------------------------------------------------------------------
# Organs (each predicate is the organ's solid alone, independent of the others)
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _in_brain(x: float, y: float, z: float) -> bool:
    return (x / 6.0) ** 2 + (y / 9.0) ** 2 + ((z - 86.5) / 6.5) ** 2 <= 1.0


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
def _in_liver(x: float, y: float, z: float) -> bool:
    return (
        z >= 27.0
        and z <= 43.0
        and (x / 16.5) ** 2 + (y / 8.0) ** 2 <= 1.0
        and x / 35.0 + y / 45.0 - z / 43.0 <= -1.0
    )


@numba.njit(cache=True)
def _in_spleen(x: float, y: float, z: float) -> bool:
    return ((x - 11.0) / 3.5) ** 2 + ((y - 3.0) / 2.0) ** 2 + ((z - 37.0) / 6.0) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_kidney(x: float, y: float, z: float) -> bool:
    ax = abs(x)
    return ax >= 3.0 and ((ax - 6.0) / 4.5) ** 2 + ((y - 6.0) / 1.5) ** 2 + ((z - 32.5) / 5.5) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_bladder_contents(x: float, y: float, z: float) -> bool:
    return (x / 4.706) ** 2 + ((y + 4.5) / 3.206) ** 2 + ((z - 8.0) / 3.206) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_bladder_wall(x: float, y: float, z: float) -> bool:
    outer = (x / 4.958) ** 2 + ((y + 4.5) / 3.458) ** 2 + ((z - 8.0) / 3.458) ** 2 <= 1.0
    return outer and not _in_bladder_contents(x, y, z)


@numba.njit(cache=True)
def _in_stomach(x: float, y: float, z: float) -> bool:
    # G4MIRDStomach: ellipsoid 4 x 3 x 8 at trunk-local (8, −4, 0)
    return ((x - 8.0) / 4.0) ** 2 + ((y + 4.0) / 3.0) ** 2 + ((z - 35.0) / 8.0) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_uli(x: float, y: float, z: float) -> bool:
    # G4MIRDUpperLargeIntestine: ascending colon (elliptical tube 2.5 x 2.5, half length 4.775) at
    # trunk-local (−8, −2.36, −15.775); transverse colon (tube 2.5 x 1.5, half length 10.5) joined
    # at (+8, 0, +6.275) with rotateX(90°)·rotateY(90°): its axis along x, 2.5 along y, 1.5 along z
    yy = ((y + 2.36) / 2.5) ** 2
    if z >= 14.45 and z <= 24.0 and ((x + 8.0) / 2.5) ** 2 + yy <= 1.0:
        return True
    return abs(x) <= 10.5 and yy + ((z - 25.5) / 1.5) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_descending_colon(x: float, y: float, z: float) -> bool:
    # G4MIRDLowerLargeIntestine: tube 1.88 x 2.13, half length 7.64, at trunk-local
    # (8.72, −2.36, −18.64)
    return z >= 8.72 and z <= 24.0 and ((x - 8.72) / 1.88) ** 2 + ((y + 2.36) / 2.13) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_lli(x: float, y: float, z: float) -> bool:
    if _in_descending_colon(x, y, z):
        return True
    # sigmoid colon: quarter tori (tube radius 1.88) joined at (−5.72, 0, −7.64) to the descending
    # colon with rotateX(90°) (upper, R = 5.72) and the lower one (R = 3) at (0, 8.72, 0) of the
    # upper with rotateY(180°)·rotateZ(90°); they lie in the plane y = −2.36
    yy = (y + 2.36) ** 2
    if x >= 3.0 and z <= 8.72:
        rho = math.sqrt((x - 3.0) ** 2 + (z - 8.72) ** 2)
        return (rho - 5.72) ** 2 + yy <= 1.88 * 1.88
    if x <= 3.0 and z >= 0.0:
        rho = math.sqrt((x - 3.0) ** 2 + z * z)
        return (rho - 3.0) ** 2 + yy <= 1.88 * 1.88
    return False


@numba.njit(cache=True)
def _in_small_intestine_filled(x: float, y: float, z: float) -> bool:
    # G4MIRDSmallIntestine before its subtraction of the colon: tube r = 11 (half length 5) ∩ box
    # 11 x 3.53 x 5 at (0, −1.33, 0) ∩ the tube moved to (0, 0.8, 0), placed at trunk-local
    # (0, −2.66, −13) turned 180° about z (local (x, y) -> (−x, −y))
    if z < 17.0 or z > 27.0 or y < -4.86 or y > 2.2:
        return False
    x2 = x * x
    return x2 + (y + 2.66) ** 2 <= 121.0 and x2 + (y + 3.46) ** 2 <= 121.0


@numba.njit(cache=True)
def _in_small_intestine(x: float, y: float, z: float) -> bool:
    # the subtracted colon union lands exactly on the ascending, transverse and descending colon
    return _in_small_intestine_filled(x, y, z) and not (_in_uli(x, y, z) or _in_descending_colon(x, y, z))


@numba.njit(cache=True)
def _in_pancreas(x: float, y: float, z: float) -> bool:
    # G4MIRDPancreas: ellipsoid (3, 1, 15) cut to local z ≤ 0, minus a box 6 x 2 x 12 at
    # (−3, 0, −9), placed at trunk-local (0, 0, 2) with rotateY(90°): local = (z − 37, y, −x)
    if x < 0.0 or (x >= 3.0 and z <= 37.0):
        return False
    return (x / 15.0) ** 2 + y * y + ((z - 37.0) / 3.0) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_adrenal(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightAdrenal: ellipsoid (1.5, 0.5, 5) with z cut [0, 5] at (±4.5, 6.5, 3)
    return z >= 38.0 and ((abs(x) - 4.5) / 1.5) ** 2 + ((y - 6.5) / 0.5) ** 2 + ((z - 38.0) / 5.0) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_thyroid(x: float, y: float, z: float) -> bool:
    """G4MIRDThyroid: half tube (r ≤ 1.85, half z 2.1, phi 0-180°) minus the tube r ≤ 0.83, minus a
    box 3.72 x 3.72 x 20 rotated rotateX(−50°) at (0, 0, 4.2) and one rotated rotateX(+50°) at
    (0, 0, −5.4); placed in the head at (0, −3.91, −5.65) with rotateZ(180°)."""
    xd = -x
    yd = -(y + 3.91)
    zd = z - 72.1
    if abs(zd) > 2.1 or yd < 0.0:
        return False
    r2 = xd * xd + yd * yd
    if r2 > 1.85 * 1.85 or r2 <= 0.83 * 0.83:
        return False
    dz = zd - 4.2
    yb = _COS50 * yd + _SIN50 * dz
    zb = -_SIN50 * yd + _COS50 * dz
    if abs(xd) <= 1.86 and abs(yb) <= 1.86 and abs(zb) <= 10.0:
        return False
    dz = zd + 5.4
    yb = _COS50 * yd - _SIN50 * dz
    zb = _SIN50 * yd + _COS50 * dz
    return not (abs(xd) <= 1.86 and abs(yb) <= 1.86 and abs(zb) <= 10.0)


@numba.njit(cache=True)
def _in_thymus(x: float, y: float, z: float) -> bool:
    # G4MIRDThymus: ellipsoid 3 x 0.5 x 4 at trunk-local (2, −6, 25.5)
    return ((x - 2.0) / 3.0) ** 2 + ((y + 6.0) / 0.5) ** 2 + ((z - 60.5) / 4.0) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_testis(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightTeste: ellipsoids 1.3 x 1.5 x 2.3 at (±1.4, 3, 0) in the genitalia volume,
    # which is placed in the world at (0, 5, −2.4): our (∓1.4, −8, −2.4)
    return ((abs(x) - 1.4) / 1.3) ** 2 + ((y + 8.0) / 1.5) ** 2 + ((z + 2.4) / 2.3) ** 2 <= 1.0


# --------------------------------------------------------------------------------------------
# Skeleton
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _in_skull(x: float, y: float, z: float) -> bool:
    # G4MIRDSkull: ellipsoid 6.8 x 9.8 x 8.3 minus ellipsoid 6 x 9 x 6.5 moved by (0, 0, 1), at
    # head-local (0, 0, 7.75): the cavity is the brain
    outer = (x / 6.8) ** 2 + (y / 9.8) ** 2 + ((z - 85.5) / 8.3) ** 2 <= 1.0
    return outer and not _in_brain(x, y, z)


@numba.njit(cache=True)
def _in_upper_spine(x: float, y: float, z: float) -> bool:
    # G4MIRDUpperSpine: elliptical tube 2 x 2.5, half length 4.25, minus a box 20 x 10 x 5 rotated
    # rotateX(−25°) at (0, −2.5, 5.5); placed at head-local (0, 5.5, −3.5)
    ys = y - 5.5
    zs = z - 74.25
    if abs(zs) > 4.25 or (x / 2.0) ** 2 + (ys / 2.5) ** 2 > 1.0:
        return False
    dy = ys + 2.5
    dz = zs - 5.5
    yb = _COS25 * dy + _SIN25 * dz
    zb = -_SIN25 * dy + _COS25 * dz
    return not (abs(x) <= 10.0 and abs(yb) <= 5.0 and abs(zb) <= 2.5)


@numba.njit(cache=True)
def _in_middle_lower_spine(x: float, y: float, z: float) -> bool:
    # G4MIRDMiddleLowerSpine: elliptical tube 2 x 2.5, half length 24, at trunk-local (0, 5.5, 11)
    return z >= 22.0 and z <= 70.0 and (x / 2.0) ** 2 + ((y - 5.5) / 2.5) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_ribs(x: float, y: float, z: float) -> bool:
    if z < _RIB_Z_CM[0] - 0.7 or z > _RIB_Z_CM[11] + 0.7:
        return False
    if (x / 17.0) ** 2 + (y / 9.8) ** 2 > 1.0 or (x / 16.5) ** 2 + (y / 9.3) ** 2 <= 1.0:
        return False
    for zc in _RIB_Z_CM:  # noqa: SIM110 (explicit loop: no generator allocation in numba)
        if abs(z - zc) <= 0.7:
            return True
    return False


@numba.njit(cache=True)
def _in_pelvis(x: float, y: float, z: float) -> bool:
    # G4MIRDPelvis: tube r = 12 (half length 11) minus tube r = 11.3 moved by (0, −0.8, 0), minus
    # box 28 x 28 x 24 at (0, −14, 0) and at (0, 22, −9); placed at trunk-local (0, −3, −24)
    if z < 0.0 or z > 22.0 or y < -3.0 or (y >= 5.0 and z <= 14.0):
        return False
    x2 = x * x
    return x2 + (y + 3.0) ** 2 <= 144.0 and x2 + (y + 3.8) ** 2 > 11.3 * 11.3


@numba.njit(cache=True)
def _in_arm_bone(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightArmBone: elliptical tube 1.4 x 2.7, half length 34.5, at (±18.4, 0, −0.5)
    return z >= 0.0 and z <= 69.0 and ((abs(x) - 18.4) / 1.4) ** 2 + (y / 2.7) ** 2 <= 1.0


@numba.njit(cache=True)
def _in_z_rotated_box(dx: float, dy: float, cos_t: float, sin_t: float, half: float) -> bool:
    """(dx, dy) inside the square |x_b|, |y_b| ≤ half of a box placed with rotateZ(t), i.e.
    (x_b, y_b) = Rz(t)·(dx, dy)."""
    xb = cos_t * dx - sin_t * dy
    yb = sin_t * dx + cos_t * dy
    return abs(xb) <= half and abs(yb) <= half


@numba.njit(cache=True)
def _in_scapula(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightScapula: shell between the elliptical tubes 17 x 9.8 (half length 8.7) and
    # 19 x 9.8 (half length 8.2) at trunk-local (0, 0, 24.1), minus two cubes of half side 19:
    # left one at (19·0.242, −19·0.97) with rotateZ(−14°) and at (−19·0.6247, 19·0.78087) with
    # rotateZ(−38.6598°); the right scapula is the same with x and the angles negated
    if abs(z - 59.1) > 8.2:
        return False
    if (x / 19.0) ** 2 + (y / 9.8) ** 2 > 1.0 or (x / 17.0) ** 2 + (y / 9.8) ** 2 <= 1.0:
        return False
    for side in (1.0, -1.0):
        if _in_z_rotated_box(x - side * 19.0 * 0.242, y + 19.0 * 0.97, _COS14, -side * _SIN14, 19.0):
            continue
        if _in_z_rotated_box(
            x + side * 19.0 * 0.6247, y - 19.0 * 0.78087, _COS_SCAP2, -side * _SIN_SCAP2, 19.0
        ):
            continue
        return True
    return False


@numba.njit(cache=True)
def _in_clavicle(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightClavicle: torus R = 10, r = 0.7883 at trunk-local (0, 2, 33.25)
    dz = z - 68.25
    if abs(dz) > 0.7883:
        return False
    dy = y - 2.0
    rho = math.sqrt(x * x + dy * dy)
    if (rho - 10.0) ** 2 + dz * dz > 0.7883 * 0.7883:
        return False
    phi = math.atan2(dy, x)
    if phi < 0.0:
        phi += 2.0 * math.pi
    return (_CLAV_LEFT_PHI0 <= phi <= _CLAV_LEFT_PHI0 + _CLAV_DPHI) or (
        _CLAV_RIGHT_PHI0 <= phi <= _CLAV_RIGHT_PHI0 + _CLAV_DPHI
    )


@numba.njit(cache=True)
def _in_leg_bone(x: float, y: float, z: float) -> bool:
    # G4MIRDLeft/RightLegBone: cone of half length 39.9, radius 1 (bottom) -> 3.5 (top), at
    # leg-local (0, 0, 0.1): −79.8 ≤ z ≤ 0 on the leg axes
    if z < -79.8 or z > 0.0:
        return False
    r = 3.5 + 2.5 * z / 79.8
    return (abs(x) - 10.0) ** 2 + y * y <= r * r


@numba.njit(cache=True)
def _in_skeleton(x: float, y: float, z: float) -> bool:
    return (
        _in_skull(x, y, z)
        or _in_upper_spine(x, y, z)
        or _in_middle_lower_spine(x, y, z)
        or _in_ribs(x, y, z)
        or _in_pelvis(x, y, z)
        or _in_arm_bone(x, y, z)
        or _in_scapula(x, y, z)
        or _in_clavicle(x, y, z)
        or _in_leg_bone(x, y, z)
    )


#: The bones of the skeleton region and a box enclosing each (for :func:`skeleton_part_volumes_cm3`).
SKELETON_PARTS: tuple[str, ...] = (
    "skull", "upper_spine", "middle_lower_spine", "ribs", "pelvis", "arm_bones", "scapulae",
    "clavicles", "leg_bones",
)  # fmt: skip
_SKELETON_PART_BOX_CM = np.array(
    [
        [-6.8, 6.8, -9.8, 9.8, 77.2, 93.8],
        [-2.0, 2.0, 3.0, 8.0, 70.0, 78.5],
        [-2.0, 2.0, 3.0, 8.0, 22.0, 70.0],
        [-17.0, 17.0, -9.8, 9.8, 35.3, 67.4],
        [-12.0, 12.0, -3.0, 9.0, 0.0, 22.0],
        [-19.8, 19.8, -2.7, 2.7, 0.0, 69.0],
        [-19.0, 19.0, -9.8, 9.8, 50.9, 67.3],
        [-11.0, 11.0, -9.0, 3.0, 67.4, 69.1],
        [-13.5, 13.5, -3.5, 3.5, -79.8, 0.0],
    ]
)


@numba.njit(cache=True)
def _in_skeleton_part(k: int, x: float, y: float, z: float) -> bool:
    if k == 0:
        return _in_skull(x, y, z)
    if k == 1:
        return _in_upper_spine(x, y, z)
    if k == 2:
        return _in_middle_lower_spine(x, y, z)
    if k == 3:
        return _in_ribs(x, y, z)
    if k == 4:
        return _in_pelvis(x, y, z)
    if k == 5:
        return _in_arm_bone(x, y, z)
    if k == 6:
        return _in_scapula(x, y, z)
    if k == 7:
        return _in_clavicle(x, y, z)
    return _in_leg_bone(x, y, z)


@numba.njit(cache=True)
def _skeleton_part_counts(n: int, seed: int) -> NDArray[np.int64]:
    np.random.seed(seed)
    n_parts = _SKELETON_PART_BOX_CM.shape[0]
    counts = np.zeros(n_parts, dtype=np.int64)
    for k in range(n_parts):
        b = _SKELETON_PART_BOX_CM[k]
        for _ in range(n):
            x = b[0] + (b[1] - b[0]) * np.random.random()
            y = b[2] + (b[3] - b[2]) * np.random.random()
            z = b[4] + (b[5] - b[4]) * np.random.random()
            if _in_skeleton_part(k, x, y, z):
                counts[k] += 1
    return counts


def skeleton_part_volumes_cm3(n_samples: int = 1_000_000, seed: int = 1) -> dict[str, float]:
    """Monte Carlo volume [cm³] of each bone (pair) of the skeleton region (:data:`SKELETON_PARTS`),
    each sampled with ``n_samples`` uniform points in its own box; overlaps between bones are
    counted in both (their sum minus the skeleton's volume is the bones' mutual overlap)."""
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples!r} must be >= 1")
    counts = _skeleton_part_counts(int(n_samples), int(seed))
    b = _SKELETON_PART_BOX_CM
    vol = (b[:, 1] - b[:, 0]) * (b[:, 3] - b[:, 2]) * (b[:, 5] - b[:, 4])
    return {name: float(vol[k] * counts[k] / n_samples) for k, name in enumerate(SKELETON_PARTS)}


# --------------------------------------------------------------------------------------------
# Region lookup
# --------------------------------------------------------------------------------------------

#: Order in which overlapping solids are resolved by :func:`region_at` (first wins); the
#: overlaps are small (see :func:`region_overlaps_cm3`), Geant4 treats any overlap as an error.
_PRIORITY = np.array(
    [BRAIN, LUNGS, HEART, LIVER, SPLEEN, KIDNEYS, UB_CONTENTS, UB_WALL, STOMACH, ULI, LLI,
     SMALL_INTESTINE, PANCREAS, ADRENALS, THYROID, THYMUS, TESTES, SKELETON],
    dtype=np.int64,
)  # fmt: skip


@numba.njit(cache=True)
def region_at(x: float, y: float, z: float) -> int:
    """Region index at (x, y, z) [cm] (see :data:`REGIONS`). Overlapping solids are resolved in
    the order of ``_PRIORITY`` (organs before the skeleton); the z bands and the two elliptical
    shells of the trunk only skip solids that cannot contain the point."""
    if not _in_body(x, y, z):
        return OUTSIDE
    if z < 0.0:  # legs and genitalia
        if z >= -4.7 and _in_testis(x, y, z):
            return TESTES
        if _in_leg_bone(x, y, z):
            return SKELETON
        return REMAINDER_ID
    if z > 70.0:  # head and neck
        if z >= 80.0 and _in_brain(x, y, z):
            return BRAIN
        if z <= 74.2 and y <= -3.91 and _in_thyroid(x, y, z):
            return THYROID
        if (z >= 77.2 and _in_skull(x, y, z)) or (z <= 78.5 and y >= 3.0 and _in_upper_spine(x, y, z)):
            return SKELETON
        return REMAINDER_ID
    # trunk: outside the ellipse 17 x 9.8 only arm bones and scapulae; between it and the ellipse
    # 16.5 x 9.3 only ribs and clavicles (no organ reaches beyond 16.5 x 9.3)
    x2 = x * x
    y2 = y * y
    if x2 * (1.0 / 17.0**2) + y2 * (1.0 / 9.8**2) > 1.0:
        if _in_arm_bone(x, y, z) or (z >= 50.9 and z <= 67.3 and _in_scapula(x, y, z)):
            return SKELETON
        return REMAINDER_ID
    if x2 * (1.0 / 16.5**2) + y2 * (1.0 / 9.3**2) > 1.0:
        if _in_ribs(x, y, z) or (z >= 67.4 and _in_clavicle(x, y, z)):
            return SKELETON
        return REMAINDER_ID
    # the cheap bounding tests below are those of REGION_BOX_CM (and of the spine, |x| ≤ 2, y ≥ 3)
    ax = abs(x)
    spine = ax <= 2.0 and y >= 3.0
    if z > 43.0:
        if z >= 43.5 and ax >= 3.5 and _in_lung(x, y, z):
            return LUNGS
        if z <= 55.0 and y <= 1.0 and x >= -7.0 and x <= 7.5 and _in_heart(x, y, z):
            return HEART
        if z >= 56.5 and z <= 64.5 and y <= -5.5 and _in_thymus(x, y, z):
            return THYMUS
        if (spine and _in_middle_lower_spine(x, y, z)) or (z >= 67.4 and _in_clavicle(x, y, z)):
            return SKELETON
        return REMAINDER_ID
    if z >= 27.0:
        if _in_liver(x, y, z):
            return LIVER
        if z >= 31.0 and x >= 7.5 and y >= 1.0 and _in_spleen(x, y, z):
            return SPLEEN
        if z <= 38.0 and y >= 4.5 and ax >= 3.0 and _in_kidney(x, y, z):
            return KIDNEYS
        if x >= 4.0 and y <= -1.0 and _in_stomach(x, y, z):
            return STOMACH
        if z >= 34.0 and z <= 40.0 and x >= 0.0 and abs(y) <= 1.0 and _in_pancreas(x, y, z):
            return PANCREAS
        if z >= 38.0 and y >= 6.0 and _in_adrenal(x, y, z):
            return ADRENALS
        if spine and _in_middle_lower_spine(x, y, z):
            return SKELETON
        return REMAINDER_ID
    if z >= 4.5 and z <= 11.5 and ax <= 4.958 and y <= -1.042:
        if _in_bladder_contents(x, y, z):
            return UB_CONTENTS
        if _in_bladder_wall(x, y, z):
            return UB_WALL
    if y <= 0.14 and y >= -4.86:  # colon: y within −2.36 ± 2.5
        if z >= 14.45 and _in_uli(x, y, z):
            return ULI
        if z <= 24.0 and _in_lli(x, y, z):
            return LLI
    if z >= 17.0 and _in_small_intestine_filled(x, y, z):  # the colon was excluded just above
        return SMALL_INTESTINE
    if _in_pelvis(x, y, z) or (spine and _in_middle_lower_spine(x, y, z)):
        return SKELETON
    return REMAINDER_ID


@numba.njit(cache=True)
def _flags_into(x: float, y: float, z: float, out: NDArray[np.bool_]) -> None:
    out[OUTSIDE] = not _in_body(x, y, z)
    out[REMAINDER_ID] = not out[OUTSIDE]
    out[LUNGS] = _in_lung(x, y, z)
    out[LIVER] = _in_liver(x, y, z)
    out[KIDNEYS] = _in_kidney(x, y, z)
    out[SPLEEN] = _in_spleen(x, y, z)
    out[HEART] = _in_heart(x, y, z)
    out[BRAIN] = _in_brain(x, y, z)
    out[UB_WALL] = _in_bladder_wall(x, y, z)
    out[UB_CONTENTS] = _in_bladder_contents(x, y, z)
    out[STOMACH] = _in_stomach(x, y, z)
    out[SMALL_INTESTINE] = _in_small_intestine(x, y, z)
    out[ULI] = _in_uli(x, y, z)
    out[LLI] = _in_lli(x, y, z)
    out[PANCREAS] = _in_pancreas(x, y, z)
    out[ADRENALS] = _in_adrenal(x, y, z)
    out[THYROID] = _in_thyroid(x, y, z)
    out[THYMUS] = _in_thymus(x, y, z)
    out[TESTES] = _in_testis(x, y, z)
    out[SKELETON] = _in_skeleton(x, y, z)


@numba.njit(cache=True)
def _flags_many(points: NDArray[np.float64], n_regions: int) -> NDArray[np.bool_]:
    out = np.zeros((points.shape[0], n_regions), dtype=np.bool_)
    for i in range(points.shape[0]):
        _flags_into(points[i, 0], points[i, 1], points[i, 2], out[i])
    return out


@numba.njit(cache=True)
def _regions_many(points: NDArray[np.float64]) -> NDArray[np.int64]:
    out = np.empty(points.shape[0], dtype=np.int64)
    for i in range(points.shape[0]):
        out[i] = region_at(points[i, 0], points[i, 1], points[i, 2])
    return out


def _as_points(points: NDArray[np.float64]) -> NDArray[np.float64]:
    pts = np.ascontiguousarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {pts.shape}")
    return pts


def regions_at(points: NDArray[np.float64]) -> NDArray[np.int64]:
    """:func:`region_at` for an (n, 3) array of points [cm]."""
    return _regions_many(_as_points(points))


def region_flags(points: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(n, len(REGIONS)) membership of each point [cm] in each region's solid taken alone, i.e.
    before overlaps are resolved: column 0 = outside the body, 1 = inside the body, then one
    column per organ solid (the skeleton column is the union of all bones)."""
    return _flags_many(_as_points(points), len(REGIONS))


@numba.njit(cache=True)
def _overlap_counts(n: int, seed: int, n_regions: int) -> NDArray[np.int64]:
    np.random.seed(seed)
    counts = np.zeros((n_regions, n_regions), dtype=np.int64)
    flags = np.zeros(n_regions, dtype=np.bool_)
    box = BODY_BOX_CM
    for _ in range(n):
        x = box[0] + (box[1] - box[0]) * np.random.random()
        y = box[2] + (box[3] - box[2]) * np.random.random()
        z = box[4] + (box[5] - box[4]) * np.random.random()
        _flags_into(x, y, z, flags)
        for a in range(2, n_regions):
            if flags[a]:
                if flags[OUTSIDE]:
                    counts[OUTSIDE, a] += 1
                for b in range(a + 1, n_regions):
                    if flags[b]:
                        counts[a, b] += 1
    return counts


def region_overlaps_cm3(n_samples: int = 2_000_000, seed: int = 1) -> dict[tuple[str, str], float]:
    """Monte Carlo volumes [cm³] shared by two organ solids, and of organ solids sticking out of
    the body (pair ("outside", organ)), from ``n_samples`` uniform points in :data:`BODY_BOX_CM`.
    Only non-zero pairs are returned; one sample stands for box volume / ``n_samples``."""
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples!r} must be >= 1")
    counts = _overlap_counts(int(n_samples), int(seed), len(REGIONS))
    b = BODY_BOX_CM
    per_sample = float((b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])) / n_samples
    return {
        (REGIONS[i], REGIONS[j]): float(counts[i, j]) * per_sample
        for i in range(len(REGIONS))
        for j in range(len(REGIONS))
        if counts[i, j] > 0
    }


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
