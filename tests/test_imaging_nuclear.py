"""PET/SPECT imaging performance (nanobridge.science.imaging.nuclear)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import radioactivedecay as rd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, ndimage
from scipy.special import erf

from nanobridge.citations import get_reference
from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.imaging import nuclear as nm
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import simulate_agent

NUCLIDES = ["F-18", "Cu-64", "Ga-68", "Zr-89", "I-124", "Tc-99m", "In-111", "Lu-177"]


def _agent(nuclide: str | None) -> AgentSpec:
    data = load_example_agent("cdot_pet_optical").model_dump(mode="json", exclude_none=True)
    if nuclide is None:
        data["labels"].pop("radionuclide")
    else:
        data["labels"]["radionuclide"] = {"nuclide": nuclide}
    return AgentSpec.model_validate(data)


@cache
def _scenario() -> Scenario:
    return load_example_scenario("mouse_tumor")


@cache
def _bd() -> Biodistribution:
    return simulate_agent(load_example_agent("cdot_pet_optical"), _scenario())


# -- decay ------------------------------------------------------------------------------------


def test_zr89_half_life_matches_literature() -> None:
    assert nm.half_life_h("89Zr") == pytest.approx(78.4, rel=0.005)


@pytest.mark.parametrize("nuclide", NUCLIDES)
def test_decay_matches_radioactivedecay_inventory(nuclide: str) -> None:
    t_h = 0.37 * nm.half_life_h(nuclide)
    inv = rd.Inventory({nuclide: 1.0}, "Bq").decay(t_h, "h")
    assert float(nm.decay_fraction(nuclide, t_h)) == pytest.approx(inv.activities("Bq")[nuclide], rel=1e-9)
    assert float(nm.decay_fraction(nuclide, nm.half_life_h(nuclide))) == pytest.approx(0.5, rel=1e-12)


def test_decay_correction_round_trip() -> None:
    bd = _bd()
    phys = nm.activity_MBq(bd, "I-124", 7.4)
    dc = nm.activity_MBq(bd, "I-124", 7.4, decay_corrected=True)
    back = phys / nm.decay_fraction("I-124", bd.times_h)[None, :, None]
    np.testing.assert_allclose(back.values, dc.values, rtol=1e-12)
    # decay-corrected total activity is the injected activity (mass balance of the PBPK)
    np.testing.assert_allclose(dc.sum("organ").values, 7.4, rtol=1e-6)
    conc = nm.activity_concentration_kBq_per_mL(bd, "I-124", 7.4, decay_corrected=True)
    mass = bd.data["organ_mass_g"]
    np.testing.assert_allclose(
        (conc * mass).sel(organ="liver").values, 1000.0 * dc.sel(organ="liver").values, rtol=1e-9
    )


def test_suv_and_ratios_consistent_with_biodistribution() -> None:
    bd, sc = _bd(), _scenario()
    res = nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon")
    conc = bd.data["conc_pct_id_per_g"].isel(subject=0)
    t, b, m, li = (conc.sel(organ=o).values[1:] for o in ("tumor", "blood", "muscle", "liver"))
    # (t = 0 dropped: tumour, muscle and liver are still empty)
    np.testing.assert_allclose(res.tumour_to_blood[1:], t / b, rtol=1e-12)
    np.testing.assert_allclose(res.tumour_to_muscle[1:], t / m, rtol=1e-12)
    np.testing.assert_allclose(res.tumour_to_liver[1:], t / li, rtol=1e-12)
    np.testing.assert_allclose(res.suv["tumor"][1:], t / 100.0 * sc.body_weight_kg * 1000.0, rtol=1e-12)
    # mass-weighted SUV over the organs / body weight = fraction of the dose not yet excreted
    organs = [o for o in bd.data["organ"].values if o not in ("urine", "feces")]
    suv = nm.suv(bd, sc.body_weight_kg).isel(subject=0).sel(organ=organs)
    mass = bd.data["organ_mass_g"].isel(subject=0).sel(organ=organs)
    retained = bd.data["amount_pct_id"].isel(subject=0).sel(organ=organs).sum("organ") / 100.0
    np.testing.assert_allclose(
        ((suv * mass).sum("organ") / (sc.body_weight_kg * 1000.0)).values, retained.values, rtol=1e-9
    )
    # physical activity decays relative to decay-corrected
    dc = np.array(res.activity_decay_corrected_MBq["tumor"])
    np.testing.assert_allclose(res.activity_MBq["tumor"], dc * np.array(res.decay_fraction), rtol=1e-12)


# -- partial volume ---------------------------------------------------------------------------


def _profile(rho: float, r: float, s: float) -> float:
    """Blurred uniform sphere at distance rho from its centre (independent textbook form)."""
    if rho < 1e-9:
        u = r / s
        return float(erf(u / math.sqrt(2)) - math.sqrt(2 / math.pi) * u * math.exp(-u * u / 2))
    a, b = (r + rho) / (math.sqrt(2) * s), (r - rho) / (math.sqrt(2) * s)
    return float(
        0.5 * (erf(a) + erf(b))
        + s
        / (rho * math.sqrt(2 * math.pi))
        * (math.exp(-((r + rho) ** 2) / (2 * s * s)) - math.exp(-((r - rho) ** 2) / (2 * s * s)))
    )


@pytest.mark.parametrize(("diameter", "fwhm"), [(2.0, 5.0), (7.3, 3.8), (10.0, 4.0), (30.0, 6.0)])
def test_recovery_matches_numerical_integration(diameter: float, fwhm: float) -> None:
    r, s = diameter / 2, fwhm * nm.FWHM_TO_SIGMA
    mean, _ = integrate.quad(lambda p: 3 * p * p * _profile(p, r, s) / r**3, 0, r, epsabs=1e-12)
    assert nm.sphere_recovery_coefficient(diameter, fwhm) == pytest.approx(mean, rel=1e-7, abs=1e-10)
    assert nm.sphere_centre_recovery(diameter, fwhm) == pytest.approx(_profile(0.0, r, s), rel=1e-12)


def test_recovery_matches_voxel_convolution() -> None:
    vox, diameter, fwhm = 0.25, 8.0, 4.0
    n = 81
    x = (np.arange(n) - n // 2) * vox
    xx, yy, zz = np.meshgrid(x, x, x, indexing="ij")
    sphere = (xx**2 + yy**2 + zz**2 <= (diameter / 2) ** 2).astype(float)
    blurred = ndimage.gaussian_filter(sphere, fwhm * nm.FWHM_TO_SIGMA / vox, mode="constant", truncate=5)
    numeric = blurred[sphere > 0].mean()
    assert nm.sphere_recovery_coefficient(diameter, fwhm) == pytest.approx(numeric, abs=0.01)


def test_recovery_limits() -> None:
    assert nm.sphere_recovery_coefficient(500.0, 4.0) == pytest.approx(1.0, abs=0.01)
    assert nm.sphere_recovery_coefficient(0.05, 4.0) < 1e-4
    assert nm.sphere_centre_recovery(100.0, 4.0) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.2, 200.0), st.floats(0.5, 15.0), st.floats(1.01, 3.0))
def test_recovery_increases_with_size(diameter: float, fwhm: float, factor: float) -> None:
    small = nm.sphere_recovery_coefficient(diameter, fwhm)
    assert 0.0 <= small <= 1.0
    assert nm.sphere_recovery_coefficient(diameter * factor, fwhm) >= small - 1e-12
    assert nm.sphere_recovery_coefficient(diameter, fwhm * factor) <= small + 1e-12


def test_positron_range_broadens_resolution() -> None:
    pet = nm.scanner("biograph_vision")
    assert nm.effective_fwhm_mm(pet, "F-18") == pytest.approx(pet.spatial_resolution_fwhm_mm)
    assert (
        nm.effective_fwhm_mm(pet, "Ga-68")
        > nm.effective_fwhm_mm(pet, "Zr-89")
        > pet.spatial_resolution_fwhm_mm
    )


# -- count statistics -------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.floats(0.01, 100.0))
def test_cnr_scales_with_sqrt_activity(factor: float) -> None:
    bd, sc, agent = _bd(), _scenario(), _agent("89Zr")
    base = nm.nuclear_imaging(bd, agent, sc, scanner="inveon", activity_MBq=1.0)
    scaled = nm.nuclear_imaging(bd, agent, sc, scanner="inveon", activity_MBq=factor)
    k = slice(1, None)
    np.testing.assert_allclose(np.array(scaled.cnr)[k], np.array(base.cnr)[k] * math.sqrt(factor), rtol=1e-9)
    np.testing.assert_allclose(
        np.array(scaled.min_detectable_activity_MBq[1:], dtype=float),
        np.array(base.min_detectable_activity_MBq[1:], dtype=float),
        rtol=1e-9,
    )


@pytest.mark.parametrize("rose_k", [3.0, 5.0])
def test_min_activity_gives_cnr_equal_to_k(rose_k: float) -> None:
    bd, sc, agent = _bd(), _scenario(), _agent("124I")
    res = nm.nuclear_imaging(bd, agent, sc, scanner="biograph_vision", scan_duration_min=5, rose_k=rose_k)
    detectable_at = [i for i, a in enumerate(res.min_detectable_activity_MBq) if a is not None]
    assert len(detectable_at) >= 3
    for i in detectable_at[:: max(1, len(detectable_at) // 3)]:
        a_min = res.min_detectable_activity_MBq[i]
        assert a_min is not None
        at_min = nm.nuclear_imaging(
            bd, agent, sc, scanner="biograph_vision", scan_duration_min=5, rose_k=rose_k, activity_MBq=a_min
        )
        assert at_min.cnr[i] == pytest.approx(rose_k, rel=1e-9)
    assert res.min_activity_MBq == pytest.approx(
        min(a for a in res.min_detectable_activity_MBq if a is not None)
    )


def test_result_fields_and_best_window() -> None:
    bd, sc = _bd(), _scenario()
    res = nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", scan_duration_min=10)
    n = len(bd.times_h)
    assert len(res.time_h) == len(res.cnr) == len(res.min_detectable_activity_MBq) == n
    assert res.best_cnr == pytest.approx(max(res.cnr))
    assert res.cnr[res.time_h.index(res.best_time_cnr_h)] == res.best_cnr
    np.testing.assert_allclose(res.tumour_to_background[1:], res.tumour_to_muscle[1:], rtol=1e-12)
    assert res.emission_yield_relative == pytest.approx(0.22741)
    assert 0 < res.recovery_coefficient < 1
    assert res.tumour_volume_mL == pytest.approx(0.2, rel=1e-6)
    for key in res.citations:
        get_reference(key)
    assert {"Bao2009_inveon", "ICRP107", "Malins2022", "Conti2016"} <= set(res.citations)
    # a longer scan collects more counts -> higher CNR; a more sensitive scanner too
    longer = nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", scan_duration_min=30)
    i = res.time_h.index(res.best_time_cnr_h)
    assert longer.cnr[i] > res.cnr[i] > 0
    res.model_dump_json()  # serializable


def test_spect_nuclide_on_spect_scanner() -> None:
    res = nm.nuclear_imaging(_bd(), _agent("99mTc"), _scenario(), scanner="clinical_spect_lehr")
    assert res.modality == "SPECT"
    assert res.emission_yield_relative == pytest.approx(1.0)
    assert res.effective_fwhm_mm == 10.0
    assert any("SPECT" in a for a in res.assumptions)


# -- data -------------------------------------------------------------------------------------


def test_scanner_catalog_is_cited() -> None:
    names = nm.scanner_names()
    assert {"biograph_vision", "uexplorer", "inveon", "clinical_spect_lehr"} <= set(names)
    for name in names:
        s = nm.scanner(name)
        for key in s.citation_keys():
            get_reference(key)
    assert nm.scanner("uexplorer").sensitivity_cps_per_kBq == pytest.approx(174.0)
    for nuc in NUCLIDES:
        for key in nm.nuclide_emission(nuc).citation_keys():
            get_reference(key)


def test_yields_match_icrp107_database() -> None:
    icrp = pytest.importorskip("icrp107_database")
    for nuc in NUCLIDES:
        em = nm.nuclide_emission(nuc)
        if em.positron_yield_per_decay is not None:
            beta = icrp.get_icrp107_spectrum(nuc, "beta+")
            assert em.positron_yield_per_decay == pytest.approx(float(np.sum(beta["weights"])), rel=1e-4)
        if em.photon_yield_per_decay is not None:
            gamma = icrp.get_icrp107_spectrum(nuc, "gamma")
            e_keV = np.asarray(gamma["energies"]) * 1000.0
            total = sum(float(np.sum(gamma["weights"][np.abs(e_keV - p) < 0.05])) for p in em.photopeak_keV)
            assert em.photon_yield_per_decay == pytest.approx(total, rel=1e-4)


# -- errors -----------------------------------------------------------------------------------


def test_errors_name_the_field() -> None:
    bd, sc = _bd(), _scenario()
    with pytest.raises(ValueError, match=r"agent\.labels\.radionuclide"):
        nm.nuclear_imaging(bd, _agent(None), sc)
    with pytest.raises(ValueError, match=r"PET scanner but Tc-99m is imaged by SPECT"):
        nm.nuclear_imaging(bd, _agent("99mTc"), sc, scanner="biograph_vision")
    with pytest.raises(ValueError, match=r"SPECT scanner but Zr-89 is imaged by PET"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="clinical_spect_lehr")
    with pytest.raises(ValueError, match=r"activity_MBq: -1"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", activity_MBq=-1.0)
    with pytest.raises(ValueError, match=r"scan_duration_min: -5"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", scan_duration_min=-5.0)
    with pytest.raises(ValueError, match=r"rose_k"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", rose_k=0.0)
    with pytest.raises(ValueError, match=r"unknown scanner 'petx'; known: .*inveon.*uexplorer"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="petx")
    with pytest.raises(ValueError, match=r"background_organ: 'urine'"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", background_organ="urine")
    with pytest.raises(ValueError, match=r"subject: 7"):
        nm.nuclear_imaging(bd, _agent("89Zr"), sc, scanner="inveon", subject=7)
    with pytest.raises(ValueError, match=r"injected_activity_MBq"):
        nm.activity_MBq(bd, "Zr-89", 0.0)
    with pytest.raises(ValueError, match=r"diameter_mm"):
        nm.sphere_recovery_coefficient(-1.0, 4.0)
    with pytest.raises(ValueError, match=r"nuclide: 'xyz'"):
        nm.half_life_h("xyz")
