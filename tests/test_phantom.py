"""Stylized adult phantom geometry, photon Monte Carlo and the packaged photon SAF table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nanobridge.science.dosimetry import DoseFactorModel
from nanobridge.science.dosimetry import phantom as ph
from nanobridge.science.dosimetry import photon_mc as pm

# Nominal adult-male phantom masses [kg] (Snyder1978MIRD5 / CristyEckerman1987, as quoted in
# the design brief; not re-read from the reports' tables): the geometry must be within 10 %.
NOMINAL_MASS_KG = {"liver": 1.8, "lungs": 1.0, "kidneys": 0.31, "spleen": 0.17, "brain": 1.4}


@pytest.mark.parametrize("organ", sorted(NOMINAL_MASS_KG))
def test_organ_masses_within_10_percent_of_the_published_phantom(organ: str) -> None:
    mass = ph.organ_masses_kg()[organ]
    assert mass == pytest.approx(NOMINAL_MASS_KG[organ], rel=0.10)


def test_simple_organ_volumes_match_their_closed_forms() -> None:
    vol = ph.region_volumes_cm3()
    assert vol["spleen"] == pytest.approx(4 / 3 * math.pi * 3.5 * 2 * 6, rel=0.01)
    assert vol["brain"] == pytest.approx(4 / 3 * math.pi * 6 * 9 * 6.5, rel=0.01)
    inner = 4 / 3 * math.pi * 4.706 * 3.206**2
    assert vol["urinary_bladder_contents"] == pytest.approx(inner, rel=0.02)
    outer = 4 / 3 * math.pi * 4.958 * 3.458**2
    assert vol["urinary_bladder_wall"] == pytest.approx(outer - inner, rel=0.05)
    trunk = math.pi * 20 * 10 * 70
    assert sum(v for k, v in vol.items()) > trunk  # trunk + head + legs


def test_region_lookup_points() -> None:
    assert ph.REGIONS[ph.region_at(0.0, 0.0, 86.5)] == "brain"
    assert ph.REGIONS[ph.region_at(-10.0, 0.0, 35.0)] == "liver"  # liver on the phantom's right
    assert ph.REGIONS[ph.region_at(6.0, 6.0, 32.5)] == "kidneys"
    assert ph.REGIONS[ph.region_at(11.0, 3.0, 37.0)] == "spleen"
    assert ph.REGIONS[ph.region_at(8.5, 0.0, 50.0)] == "lungs"
    assert ph.REGIONS[ph.region_at(0.0, -4.5, 8.0)] == "urinary_bladder_contents"
    # (0, 0, 20) was "remainder" before the GI tract was added: it is in the Geant4 small intestine
    assert ph.REGIONS[ph.region_at(0.0, 0.0, 20.0)] == "small_intestine"
    assert ph.REGIONS[ph.region_at(0.0, -8.0, 20.0)] == "remainder"
    assert ph.REGIONS[ph.region_at(25.0, 0.0, 35.0)] == "outside"
    # organs added with the skeleton and GI tract (centres or mid-wall points of their solids)
    points = {
        "stomach": [(8.0, -4.0, 35.0)],
        "small_intestine": [(0.0, 0.0, 22.0)],
        "upper_large_intestine": [(-8.0, -2.36, 19.0), (0.0, -2.36, 25.5)],  # ascending, transverse
        "lower_large_intestine": [(8.72, -2.36, 16.0), (7.04, -2.36, 4.68)],  # descending, sigmoid
        "pancreas": [(1.5, 0.0, 37.0), (8.0, 0.0, 38.0)],  # head, tail (upper half only)
        "adrenals": [(4.5, 6.5, 40.0), (-4.5, 6.5, 40.0)],
        "thyroid": [(1.2, -4.8, 72.1), (0.0, -5.31, 71.6)],
        "thymus": [(2.0, -6.0, 60.5)],
        "testes": [(1.4, -8.0, -2.4), (-1.4, -8.0, -2.4)],  # below the trunk, between the legs
        "skeleton": [
            (0.0, 5.5, 46.0),  # middle-lower spine
            (0.0, 6.0, 74.0),  # upper spine
            (0.0, 0.0, 93.4),  # skull (above the brain)
            (0.0, 9.55, 36.0),  # lowest rib
            (0.0, 8.5, 18.0),  # pelvis
            (18.4, 0.0, 30.0), (-18.4, 0.0, 30.0),  # arm bones
            (10.0, 0.0, -40.0), (-10.0, 0.0, -40.0),  # leg bones
            (16.0, 5.0, 59.0), (-16.0, 5.0, 59.0),  # scapulae
            (7.66, -4.43, 68.25), (-7.66, -4.43, 68.25),  # clavicles
        ],
        "remainder": [(0.0, -3.0, -2.4), (0.0, -9.7, -0.5)],  # male genitalia volume, soft tissue
        "outside": [(0.0, 3.0, -2.4)],  # behind the genitalia, between the legs
    }  # fmt: skip
    for name, pts in points.items():
        for p in pts:
            assert ph.REGIONS[ph.region_at(*p)] == name, (name, p)


def test_kahn_sampler_reproduces_klein_nishina_mean_energy_transfer() -> None:
    e = 0.511
    k = e / pm.ELECTRON_REST_MEV
    mu = np.linspace(-1, 1, 200001)
    ratio = 1.0 / (1.0 + k * (1.0 - mu))  # E'/E
    dsig = ratio**2 * (ratio + 1.0 / ratio - (1.0 - mu**2))  # Klein-Nishina (up to constants)
    mean_ratio = np.trapezoid(dsig * ratio, mu) / np.trapezoid(dsig, mu)
    mean_mu = np.trapezoid(dsig * mu, mu) / np.trapezoid(dsig, mu)
    ep, cos = pm.kahn_compton_sample(e, 200_000, seed=3)
    assert np.allclose(ep / e, 1.0 / (1.0 + k * (1.0 - cos)))
    assert float(np.mean(ep / e)) == pytest.approx(mean_ratio, abs=0.002)
    assert float(np.mean(cos)) == pytest.approx(mean_mu, abs=0.004)
    # total cross section of the tables at 1 MeV vs the well-known soft-tissue value ~0.070 cm2/g
    lng, mp, mi = pm.attenuation_tables()
    i = int(np.argmin(abs(np.exp(lng) - 1.0)))
    assert (mp[1, i] + mi[1, i]) / ph.SOFT_TISSUE_DENSITY_G_PER_CM3 == pytest.approx(0.0700, rel=0.02)


@pytest.mark.parametrize(
    "source,energy", [("liver", 0.511), ("lungs", 0.03), ("whole_body", 1.0), ("skeleton", 0.1)]
)
def test_energy_is_conserved(source: str, energy: float) -> None:
    r = pm.simulate_photons(source, energy, 20_000, seed=7)
    regions = r.deposited_MeV[:-1]
    assert regions.sum() + r.escaped_MeV == pytest.approx(r.emitted_MeV, rel=1e-9)
    assert r.deposited_MeV[-1] == pytest.approx(regions.sum(), rel=1e-9)
    assert np.all(r.absorbed_fraction >= 0) and r.absorbed_fraction[-1] <= 1


def test_self_absorbed_fraction_tends_to_one_at_low_energy() -> None:
    af = {
        e: pm.simulate_photons("brain", e, 20_000, seed=11).absorbed_fraction[ph.REGIONS.index("brain") - 1]
        for e in (0.01, 0.03, 0.1, 0.511)
    }
    # pure-absorber escape fraction of a large convex body: S * lambda / (4 V)
    a, b, c = 6.0, 9.0, 6.5
    p = 1.6075
    area = 4 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)
    lng, mp, mi = pm.attenuation_tables()
    i = int(np.argmin(abs(np.exp(lng) - 0.01)))
    lam = 1.0 / (mp[1, i] + mi[1, i])
    assert af[0.01] == pytest.approx(1 - area * lam / (4 * 4 / 3 * math.pi * a * b * c), abs=0.01)
    assert af[0.01] > af[0.03] > af[0.1] > af[0.511]


def test_packaged_table_loads_and_is_reciprocal() -> None:
    table = pm.phantom_photon_saf()
    assert table.kind == "photon"
    assert "photons" in table.provenance and "seed" in table.provenance
    assert set(pm.PHANTOM_SAF_SOURCES) <= set(table.sources)
    assert np.all(np.isfinite(table.saf_per_kg)) and np.all(table.saf_per_kg >= 0)
    _, rel = pm._packaged()
    for a, b in (("liver", "kidneys"), ("kidneys", "spleen"), ("liver", "lungs"), ("lungs", "heart")):
        for e in (0.1, 0.511, 1.0):
            ab = float(table.saf(a, b, e)[0])
            ba = float(table.saf(b, a, e)[0])
            ei = int(np.argmin(abs(table.energy_MeV - e)))
            err = math.hypot(
                rel[table.targets.index(a), table.sources.index(b), ei],
                rel[table.targets.index(b), table.sources.index(a), ei],
            )
            # reciprocity is exact only in a homogeneous medium: lungs are 0.296 g/cm3
            tol = 4 * err + (0.15 if "lungs" in (a, b) else 0.05)
            assert ab == pytest.approx(ba, rel=tol), (a, b, e)


def test_packaged_table_matches_a_fresh_run() -> None:
    table = pm.phantom_photon_saf()
    r = pm.simulate_photons("liver", 0.511, 50_000, seed=99)
    liver = table.saf("liver", "liver", 0.511)[0]
    assert r.saf_per_kg[r.targets.index("liver")] == pytest.approx(liver, rel=0.03)


def test_dose_factor_model_and_errors(tmp_path: Path) -> None:
    model = pm.phantom_photon_dose_factors()
    assert isinstance(model, DoseFactorModel)
    assert model.tables["photon"].targets[0] == "remainder"
    with pytest.raises(ValueError, match="not a phantom region"):
        pm.simulate_photons("ovaries", 0.1, 10)  # the male phantom has none
    with pytest.raises(ValueError, match="energy_MeV"):
        pm.simulate_photons("liver", 5.0, 10)
    with pytest.raises(ValueError, match="does not exist"):
        pm.phantom_photon_saf(tmp_path / "missing.csv")


def test_end_to_end_fdg_like_liver_photon_dose_follows_the_mird_schema() -> None:
    from nanobridge.science.dosimetry import MGY_KG_PER_MBQ_H_MEV, ICRP107Emissions, absorbed_doses
    from nanobridge.science.dosimetry.mird import REST_OF_BODY, rest_of_body_saf
    from test_dosimetry import _agent, _bd, _scenario

    photon_only = pm.phantom_photon_dose_factors(local_electrons=False)
    bd = _bd(np.linspace(0.0, 24.0, 25), 0.5)
    rep0 = absorbed_doses(bd, _agent("18F"), _scenario(), dose_factors=photon_only)
    assert any("electron" in s for s in rep0.not_included)
    model = pm.phantom_photon_dose_factors()
    rep = absorbed_doses(bd, _agent("18F"), _scenario(), dose_factors=model)
    assert not any("electron" in s for s in rep.not_included)
    # positrons (electron kind) in the liver: E_mean * Y * TIAC_liver / m_liver
    e_lines = ICRP107Emissions().lines(rep.nuclide, "electron")
    e_expected = (
        MGY_KG_PER_MBQ_H_MEV
        * e_lines.mean_energy_per_decay_MeV
        * float(rep.tiac_h.sel(source="liver")[0])
        / ph.organ_masses_kg()["liver"]
    )
    e_got = float(rep.absorbed_dose_by_kind_mGy_per_MBq.sel(target="liver", kind="electron")[0])
    assert e_got == pytest.approx(e_expected, rel=1e-9)
    # whole body: photon + electron energy absorbed anywhere / body mass >= electrons alone
    wb = rep.absorbed_dose_by_kind_mGy_per_MBq.sel(target="whole_body", kind="electron")[0]
    mapped = [str(x) for x in rep.tiac_h["source"].values if str(x) in pm.PHANTOM_SOURCE_MAP]
    assert "rest_of_body" in mapped
    tiac_total = float(rep.tiac_h.sel(source=mapped).isel(subject=0).sum())
    wb_expected = MGY_KG_PER_MBQ_H_MEV * e_lines.mean_energy_per_decay_MeV * tiac_total
    assert float(wb) == pytest.approx(wb_expected / ph.organ_masses_kg()["whole_body"], rel=1e-9)
    lines = ICRP107Emissions().lines(rep.nuclide, "photon")
    table = model.tables["photon"]
    expected = 0.0
    sources = [str(x) for x in rep.tiac_h["source"].values]
    excluded = list(
        dict.fromkeys(
            [r for x in sources if (r := pm.PHANTOM_SOURCE_MAP.get(x)) not in (None, REST_OF_BODY)]
            + list(model.not_body_tissue)
        )
    )
    for src in sources:
        region = pm.PHANTOM_SOURCE_MAP.get(src)
        if region is None:
            continue
        if region == REST_OF_BODY:
            saf = rest_of_body_saf(table, excluded, model.region_mass_kg, lines.energy_MeV, "liver")
        else:
            saf = table.saf("liver", region, lines.energy_MeV)
        s = MGY_KG_PER_MBQ_H_MEV * float(np.sum(lines.energy_MeV * lines.yield_per_decay * saf))
        expected += float(rep.tiac_h.sel(source=src)[0]) * s
    got = float(rep.absorbed_dose_by_kind_mGy_per_MBq.sel(target="liver", kind="photon")[0])
    assert expected > 0
    assert got == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------------------------
# Skeleton, GI tract and small organs (Geant4 human_phantom G4MIRD* classes)
# --------------------------------------------------------------------------------------------

# Nominal ORNL/MIRD adult-male masses [kg], as recalled from Cristy & Eckerman 1987 / ICRP 23
# (NOT re-read from the reports); GI organs are wall + contents, the skeleton includes marrow.
NOMINAL_NEW_MASS_KG = {
    "stomach": 0.40, "small_intestine": 1.04, "upper_large_intestine": 0.43,
    "lower_large_intestine": 0.295, "pancreas": 0.094, "adrenals": 0.0163, "thyroid": 0.0196,
    "thymus": 0.0209, "testes": 0.039, "skeleton": 10.5,
}  # fmt: skip
#: Organs whose Geant4 solids differ from the nominal mass by more than 15 %: Geant4 mass /
#: nominal, from the closed-form (or, thyroid, Monte Carlo) volumes in test_new_organ_volumes.
#: Reported, not corrected: the geometry is the example's.
GEANT4_OFF_NOMINAL = {"lower_large_intestine": 1.21, "pancreas": 0.68, "thyroid": 0.68, "thymus": 1.25}


def _mc_volume(region: str, box: tuple[float, ...], n: int = 400_000, seed: int = 3) -> float:
    """Volume [cm³] of a region's solid (alone, before overlaps are resolved) by uniform sampling
    of ``box`` = (xmin, xmax, ymin, ymax, zmin, zmax)."""
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(box[2 * i], box[2 * i + 1], n) for i in range(3)])
    inside = ph.region_flags(pts)[:, ph.REGIONS.index(region)]
    return float(np.prod([box[2 * i + 1] - box[2 * i] for i in range(3)]) * inside.mean())


@pytest.mark.parametrize("organ", sorted(set(NOMINAL_NEW_MASS_KG) - set(GEANT4_OFF_NOMINAL)))
def test_new_organ_masses_within_15_percent_of_nominal(organ: str) -> None:
    assert ph.organ_masses_kg()[organ] == pytest.approx(NOMINAL_NEW_MASS_KG[organ], rel=0.15)


@pytest.mark.parametrize("organ", sorted(GEANT4_OFF_NOMINAL))
def test_organs_off_nominal_keep_the_geant4_size(organ: str) -> None:
    # grid masses (0.2 cm) of these small or thin solids are within 6 % of their exact volumes
    ratio = ph.organ_masses_kg()[organ] / NOMINAL_NEW_MASS_KG[organ]
    assert ratio == pytest.approx(GEANT4_OFF_NOMINAL[organ], rel=0.07)


def _quarter_torus(ring: float, tube: float) -> float:
    return math.pi**2 * tube**2 * ring / 2


def _cone(h: float, r1: float, r2: float) -> float:
    return math.pi * h * (r1 * r1 + r1 * r2 + r2 * r2) / 3


def test_new_organ_volumes() -> None:
    pi = math.pi
    # pancreas: half ellipsoid (15, 1, 3) minus its lower half for 3 <= x <= 15
    pancreas = 2 / 3 * pi * 15 * 3 - 0.5 * pi * 3 * (12 - (15**3 - 3**3) / (3 * 15**2))
    # small intestine: strip -4.86 <= y <= 2.2 inside both circles (r = 11 about y = -2.66 and
    # -3.46), 10 cm high, minus the ascending (7 cm of it), descending (7 cm) and transverse colon
    y = np.linspace(-4.86, 2.2, 200_001)
    width = 2 * np.sqrt(np.clip(np.minimum(121 - (y + 2.66) ** 2, 121 - (y + 3.46) ** 2), 0, None))
    si = 10 * np.trapezoid(width, y) - pi * 2.5**2 * 7 - pi * 1.88 * 2.13 * 7 - pi * 2.5 * 1.5 * 21
    uli = pi * 2.5 * 2.5 * 9.55 + pi * 2.5 * 1.5 * 21
    lli = pi * 1.88 * 2.13 * 15.28 + _quarter_torus(5.72, 1.88) + _quarter_torus(3.0, 1.88)
    expected = {
        "stomach": (4 / 3 * pi * 4 * 3 * 8, (4, 12, -7, -1, 27, 43)),
        "upper_large_intestine": (uli, (-10.5, 10.5, -4.86, 0.14, 14.45, 27)),
        "lower_large_intestine": (lli, (-1.88, 10.6, -4.49, -0.23, 0, 24)),
        "small_intestine": (si, (-11, 11, -4.86, 2.2, 17, 27)),
        "pancreas": (pancreas, (0, 15, -1, 1, 34, 40)),
        "adrenals": (2 * 2 / 3 * pi * 1.5 * 0.5 * 5, (-6, 6, 6, 7, 38, 43)),
        "thymus": (4 / 3 * pi * 3 * 0.5 * 4, (-1, 5, -6.5, -5.5, 56.5, 64.5)),
        "testes": (2 * 4 / 3 * pi * 1.3 * 1.5 * 2.3, (-2.7, 2.7, -9.5, -6.5, -4.7, -0.1)),
    }
    for organ, (closed, box) in expected.items():
        assert _mc_volume(organ, box) == pytest.approx(closed, rel=0.01), organ
    # thyroid: no closed form (half annulus 18.03 cm3 minus two rotated boxes); Monte Carlo
    # with 4e6 points gave 12.91 cm3 (the Geant4 rotation sense; the opposite sense gives 17.90)
    assert _mc_volume("thyroid", (-1.85, 1.85, -5.76, -3.91, 70, 74.2)) == pytest.approx(12.91, rel=0.01)


def test_skeleton_volumes() -> None:
    pi = math.pi
    y = np.linspace(-3.0, 9.0, 200_001)  # pelvis: ring between the two circles, y >= -3
    outer = 2 * np.sqrt(np.clip(144 - (y + 3) ** 2, 0, None))
    ring = outer - np.minimum(2 * np.sqrt(np.clip(11.3**2 - (y + 3.8) ** 2, 0, None)), outer)
    pelvis = 8 * np.trapezoid(ring, y) + 14 * np.trapezoid(np.where(y < 5, ring, 0), y)  # y < 5 below z = 14
    closed = {
        "skull": 4 / 3 * pi * (6.8 * 9.8 * 8.3 - 6 * 9 * 6.5),
        "middle_lower_spine": pi * 2 * 2.5 * 48,
        "ribs": 12 * pi * (17 * 9.8 - 16.5 * 9.3) * 1.4,
        "pelvis": float(pelvis),
        "arm_bones": 2 * pi * 1.4 * 2.7 * 69,
        "clavicles": 2 * pi * 0.7883**2 * 10 * 0.7,
        "leg_bones": 2 * _cone(79.8, 1.0, 3.5),
    }
    parts = ph.skeleton_part_volumes_cm3()
    for bone, v in closed.items():
        assert parts[bone] == pytest.approx(v, rel=0.02), bone
    # upper spine and scapulae (boxes cut at angles): Monte Carlo only, 126.5 and 202.7 cm3
    assert parts["upper_spine"] == pytest.approx(126.5, rel=0.02)
    assert parts["scapulae"] == pytest.approx(202.7, rel=0.02)
    # the bones hardly overlap one another: their sum is the skeleton's volume
    assert sum(parts.values()) == pytest.approx(ph.region_volumes_cm3()["skeleton"], rel=0.01)


def test_region_lookup_resolves_overlaps_in_priority_order_and_organs_do_not_overlap() -> None:
    rng = np.random.default_rng(11)
    b = ph.BODY_BOX_CM
    pts = np.column_stack([rng.uniform(b[2 * i], b[2 * i + 1], 300_000) for i in range(3)])
    flags = ph.region_flags(pts)
    expected = np.where(flags[:, 0], 0, 1)
    done = flags[:, 0].copy()
    for r in ph._PRIORITY:
        hit = ~done & flags[:, r]
        expected[hit] = r
        done |= hit
    # the fast path (z bands, trunk shells, bounding boxes) gives the same answer everywhere
    assert np.array_equal(ph.regions_at(pts), expected)
    # overlaps of distinct organ solids and organ solids outside the body (Geant4 would flag any);
    # 2e6 samples resolve 0.07 cm3: none was found (bones of the one skeleton region may touch)
    overlaps = ph.region_overlaps_cm3(2_000_000, seed=5)
    assert all(v < 0.5 for v in overlaps.values()), overlaps


def test_region_constants_are_in_sync() -> None:
    n = len(ph.REGIONS)
    assert ph.MATERIAL_OF_REGION.shape == (n,) and ph.DENSITY_G_PER_CM3.shape == (n,)
    assert ph.REGION_BOX_CM.shape == (n, 6)
    assert ph.REGIONS[:10] == (
        "outside", "remainder", "lungs", "liver", "kidneys", "spleen", "heart", "brain",
        "urinary_bladder_wall", "urinary_bladder_contents",
    )  # fmt: skip
    assert ph.REGIONS[ph.SKELETON] == "skeleton" and ph.MATERIAL_OF_REGION[ph.SKELETON] == 3
    assert ph.DENSITY_G_PER_CM3[ph.SKELETON] == ph.SKELETON_DENSITY_G_PER_CM3 == 1.4
    assert sum(ph.SKELETON_MASS_FRACTIONS.values()) == pytest.approx(1.0, abs=1e-4)
    assert "breasts" not in ph.REGIONS  # the Geant4 builder builds breasts for females only
    # every region's points lie in its box (sources are sampled by rejection in the box)
    rng = np.random.default_rng(2)
    b = ph.BODY_BOX_CM
    pts = np.column_stack([rng.uniform(b[2 * i], b[2 * i + 1], 300_000) for i in range(3)])
    reg = ph.regions_at(pts)
    for r in range(1, n):
        box = ph.REGION_BOX_CM[r]
        p = pts[reg == r]
        assert np.all((p >= box[0::2]) & (p <= box[1::2])), ph.REGIONS[r]


def test_skeleton_attenuation_row() -> None:
    lng, mp, mi = pm.attenuation_tables()
    assert mp.shape[0] == mi.shape[0] == 4  # void, soft tissue, lung, skeleton
    e = np.exp(lng)
    i1 = int(np.argmin(abs(e - 1.0)))
    # Klein-Nishina region: per gram, scattering scales with electrons per gram (sum w Z/A)
    electrons = {
        k: sum(w * pm._ATOMIC[el][0] / pm._ATOMIC[el][1] for el, w in fr.items())
        for k, fr in (("soft", ph.SOFT_TISSUE_MASS_FRACTIONS), ("bone", ph.SKELETON_MASS_FRACTIONS))
    }
    ratio = (mi[3, i1] / ph.SKELETON_DENSITY_G_PER_CM3) / (mi[1, i1] / ph.SOFT_TISSUE_DENSITY_G_PER_CM3)
    assert ratio == pytest.approx(electrons["bone"] / electrons["soft"], rel=1e-9)
    # photoelectric effect: calcium and phosphorus make bone far more absorbing at 30 keV
    i30 = int(np.argmin(abs(e - 0.03)))
    assert mp[3, i30] / 1.4 > 4 * mp[1, i30] / 1.04
