"""Tests of nanobridge.science.dosimetry: TIAC, ICRP 107 emissions, SAF reader, MIRD doses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nanobridge.citations import get_reference, validate_citation_keys
from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.dosimetry import (
    MGY_KG_PER_MBQ_H_MEV,
    REMAINDER,
    EmissionSource,
    ICRP107Emissions,
    LocalElectronAbsorption,
    SpecificAbsorbedFractions,
    absorbed_doses,
    half_life_h,
    read_icrp133_saf,
    tiac,
    tissue_weights,
)
from nanobridge.science.dosimetry.tiac import time_integral_with_tail
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import OUTPUT_GROUPS

LIVER_MASS_G = 1800.0


def _bd(
    times_h: np.ndarray, liver_fraction: np.ndarray | float = 1.0, species: str = "human"
) -> Biodistribution:
    """All activity in the liver (the rest in the rest of body); masses of a 70 kg adult."""
    n_t = times_h.size
    frac = np.zeros((1, n_t, len(OUTPUT_GROUPS)))
    liver = np.broadcast_to(np.asarray(liver_fraction, dtype=float), (n_t,))
    frac[0, :, OUTPUT_GROUPS.index("liver")] = liver
    frac[0, :, OUTPUT_GROUPS.index("rest_of_body")] = 1.0 - liver
    masses = np.full((1, len(OUTPUT_GROUPS)), 300.0)
    masses[0, OUTPUT_GROUPS.index("liver")] = LIVER_MASS_G
    masses[0, OUTPUT_GROUPS.index("urine")] = np.nan
    masses[0, OUTPUT_GROUPS.index("feces")] = np.nan
    return Biodistribution.from_arrays(frac, times_h, masses, attrs={"species": species})


def _agent(nuclide: str | None) -> AgentSpec:
    base = load_example_agent("cdot_pet_optical").model_dump(mode="json", exclude_none=True)
    if nuclide is None:
        base["labels"].pop("radionuclide")
    else:
        base["labels"]["radionuclide"] = {"nuclide": nuclide}
    return AgentSpec.model_validate(base)


def _scenario() -> Scenario:
    return load_example_scenario("human_tumor")


# -- TIAC ----------------------------------------------------------------------------------------


def test_tiac_constant_activity_is_one_over_lambda() -> None:
    t_half = half_life_h("18F")
    assert t_half == pytest.approx(109.77 / 60, rel=1e-3)  # ICRP 107: 109.77 min
    bd = _bd(np.linspace(0.0, 24.0, 4001))
    res = tiac(bd, "F-18")
    expected = t_half / math.log(2)
    assert float(res.tiac_h.sel(source="liver")[0]) == pytest.approx(expected, rel=1e-5)
    assert float(res.total_body_h[0]) == pytest.approx(expected, rel=1e-5)
    assert float(res.tiac_h.sel(source=REMAINDER)[0]) == pytest.approx(0.0, abs=1e-9)
    assert "ICRP107" in res.citation_keys


def test_tiac_tail_is_exact_and_trapezoid_converges() -> None:
    lam = math.log(2) / 6.0
    # biological clearance exp(-k t): exact TIAC = 1/(lam + k) when the tail is negligible
    k = 0.3
    errors = []
    for n in (25, 50, 100, 200):
        t = np.linspace(0.0, 120.0, n + 1)
        trap, tail = time_integral_with_tail(t, np.exp(-k * t), lam)
        errors.append(abs(float(trap + tail) - 1.0 / (lam + k)))
    ratios = [errors[i] / errors[i + 1] for i in range(3)]
    assert all(r == pytest.approx(4.0, rel=0.05) for r in ratios)  # second order
    # tail alone, for a constant curve cut at T: exp(-lam T)/lam
    t = np.linspace(0.0, 10.0, 11)
    _, tail = time_integral_with_tail(t, np.ones_like(t), lam)
    assert float(tail) == pytest.approx(math.exp(-lam * 10.0) / lam)


def test_tiac_subset_of_sources_gives_remainder() -> None:
    t = np.linspace(0.0, 48.0, 97)
    bd = _bd(t, liver_fraction=0.4)
    res = tiac(bd, "99mTc", sources=["liver"])
    assert res.sources == ["liver", REMAINDER, "urinary_bladder_contents"]
    total = float(res.total_body_h[0])
    assert float(res.tiac_h.sel(source=REMAINDER)[0]) == pytest.approx(0.6 * total, rel=1e-9)
    # remainder mass: every body organ but the liver
    n_body = len(OUTPUT_GROUPS) - 2 - 1
    assert float(res.source_mass_g.sel(source=REMAINDER)[0]) == pytest.approx(300.0 * n_body)


# -- emissions -----------------------------------------------------------------------------------


def test_icrp107_emissions_published_values() -> None:
    em = ICRP107Emissions()
    assert isinstance(em, EmissionSource)
    # 18F: mean positron energy 0.2498 MeV, yield 0.9673; annihilation 2 x 0.511 x 0.9673 MeV
    e = em.lines("18F", "electron")
    assert e.energy_MeV[0] == pytest.approx(0.2498, abs=1e-4)
    assert e.yield_per_decay[0] == pytest.approx(0.9673, abs=1e-4)
    assert em.mean_energy_per_decay_MeV("F-18", "photon") == pytest.approx(2 * 0.511 * 0.9673, rel=1e-3)
    # 99mTc: 140.5 keV gamma, yield 0.885-0.89
    ph = em.photon_lines("99mTc")
    i = int(np.argmin(np.abs(ph.energy_MeV - 0.1405)))
    assert ph.energy_MeV[i] == pytest.approx(0.1405, abs=2e-4)
    assert 0.885 <= ph.yield_per_decay[i] <= 0.891
    assert em.mean_energy_per_decay_MeV("Y-90", "photon") < 1e-4


def test_short_lived_progeny_counted() -> None:
    em = ICRP107Emissions()
    chain = dict(em.progeny("225Ac"))
    assert {"Fr-221", "At-217", "Bi-213"} <= set(chain)
    assert em.mean_energy_per_decay_MeV("Ac-225", "alpha") > 4 * 5.0  # four alphas per chain
    alone = ICRP107Emissions(include_progeny=False).mean_energy_per_decay_MeV("Ac-225", "alpha")
    assert alone == pytest.approx(5.8, abs=0.1)
    assert em.progeny("99mTc") == ()  # Tc-99 is long-lived: not counted


# -- local absorption ----------------------------------------------------------------------------


@pytest.mark.parametrize("nuclide", ["90Y", "177Lu"])
def test_local_absorption_analytic(nuclide: str) -> None:
    bd = _bd(np.linspace(0.0, 24.0, 25))
    rep = absorbed_doses(bd, _agent(nuclide), _scenario())
    a_liver = float(rep.tiac_h.sel(source="liver")[0])
    e_mean = ICRP107Emissions().mean_energy_per_decay_MeV(nuclide, "electron")
    expected = a_liver * e_mean * MGY_KG_PER_MBQ_H_MEV / (LIVER_MASS_G / 1000.0)
    assert float(rep.absorbed_dose_mGy_per_MBq.sel(target="liver")[0]) == pytest.approx(expected, rel=1e-12)
    assert rep.partial
    # by hand for 90Y: a = 64.1 h/ln2 (constant), E = 0.9331 MeV, m = 1.8 kg
    if nuclide == "90Y":
        a_exact = 64.1 / math.log(2)
        assert a_liver == pytest.approx(a_exact, rel=1e-3)
        assert expected == pytest.approx(a_exact * 0.9331 * 0.5768 / 1.8, rel=2e-3)
    assert rep.absorbed_dose_by_kind_mGy_per_MBq.sel(kind="photon").sum() == 0.0
    assert rep.activity_MBq == 185.0
    assert rep.absorbed_dose_mGy is not None
    assert float(rep.absorbed_dose_mGy.sel(target="liver")[0]) == pytest.approx(185.0 * expected)
    # liver weight 0.04 and remainder (mean of heart, kidneys, muscle, spleen: zero dose here)
    assert rep.effective_dose_mSv_per_MBq is not None
    assert float(rep.effective_dose_mSv_per_MBq[0]) == pytest.approx(0.04 * expected, rel=1e-9)
    assert "red_marrow" in rep.tissues_without_dose
    assert {c.target for c in rep.limit_checks} >= {"whole_body", "liver"}
    assert {"ICRP103", "ICRP107", "MIRD2009", "CFR21_361_1"} <= set(rep.citation_keys)


def test_photons_reported_as_not_included() -> None:
    rep = absorbed_doses(_bd(np.linspace(0.0, 24.0, 25)), _agent("18F"), _scenario())
    assert any("photons" in s for s in rep.not_included)


def test_limit_flag_exceeded_for_large_activity() -> None:
    bd = _bd(np.linspace(0.0, 24.0, 25))
    rep = absorbed_doses(bd, _agent("90Y"), _scenario(), activity_MBq=1000.0)
    assert rep.any_limit_exceeded
    liver = next(c for c in rep.limit_checks if c.target == "liver")
    assert liver.limit_mSv == 50.0 and liver.exceeds and liver.lower_bound


def test_non_human_has_no_effective_dose() -> None:
    bd = _bd(np.linspace(0.0, 24.0, 25), species="mouse")
    rep = absorbed_doses(bd, _agent("18F"), _scenario())
    assert rep.effective_dose_mSv_per_MBq is None and rep.limit_checks == ()


# -- ICRP 103 ------------------------------------------------------------------------------------


def test_icrp103_weights_sum_to_one() -> None:
    w = tissue_weights()
    assert sum(w.tissues.values()) == pytest.approx(1.0, abs=1e-12)
    assert w.tissues["red_marrow"] == 0.12 and w.tissues["gonads"] == 0.08 and w.tissues["skin"] == 0.01
    assert w.radiation_weights["alpha"] == 20.0
    assert get_reference(w.citation).year == 2007
    assert validate_citation_keys(strict=False) == []


# -- ICRP 133 SAF reader -------------------------------------------------------------------------

_ENERGIES = (0.01, 0.1, 1.0)


def _saf_line(target: str, source: str, values: tuple[float, ...]) -> str:
    return (
        f"{target:<10s}<-{source:<10s}" + "".join(f"{v:10.3E}" for v in values) + f"{_ENERGIES[0]:10.3E}  1"
    )


def _write_saf(path: Path, rows: list[tuple[str, str, tuple[float, ...]]], n_t: int, n_s: int) -> Path:
    header = [
        "ICRP Publication 133 specific absorbed fractions (synthetic test file)",
        "Reference Adult Male",
        "Photons",
        f"{n_t:4d}{n_s:4d}{'':14s}" + "".join(f"{e:10.5f}" for e in _ENERGIES) + "   Ecutoff Icut",
        "-" * 60,
    ]
    path.write_text("\n".join(header + [_saf_line(*r) for r in rows]) + "\n", encoding="latin-1")
    return path


def test_icrp133_reader_and_dose(tmp_path: Path) -> None:
    rows = [
        ("Liver", "Liver", (10.0, 1.0, 0.1)),
        ("Kidneys", "Liver", (0.0, 0.01, 0.02)),
        ("Liver", "Kidneys", (0.0, 0.01, 0.02)),
        ("Kidneys", "Kidneys", (20.0, 2.0, 0.2)),
    ]
    table = read_icrp133_saf(_write_saf(tmp_path / "rcp-am_photon_test.SAF", rows, 2, 2))
    assert table.kind == "photon"
    assert table.targets == ("Liver", "Kidneys") and table.sources == ("Liver", "Kidneys")
    np.testing.assert_allclose(table.energy_MeV, _ENERGIES)
    assert float(table.saf("Liver", "Liver", 0.1)[0]) == pytest.approx(1.0)
    assert float(table.saf("Liver", "Liver", math.sqrt(0.1))[0]) == pytest.approx(math.sqrt(0.1), rel=1e-9)
    assert float(table.saf("Kidneys", "Liver", 0.05)[0]) == pytest.approx(
        0.01 * 0.04 / 0.09, rel=1e-9
    )  # linear next to a 0

    saf = SpecificAbsorbedFractions(tables={"photon": table}, provenance="synthetic")
    bd = _bd(np.linspace(0.0, 24.0, 25))
    rep = absorbed_doses(bd, _agent("99mTc"), _scenario(), dose_factors=saf)
    a_liver = float(rep.tiac_h.sel(source="liver")[0])
    ph = ICRP107Emissions().photon_lines("Tc-99m")
    expected = (
        MGY_KG_PER_MBQ_H_MEV
        * a_liver
        * float(np.sum(ph.energy_MeV * ph.yield_per_decay * table.saf("Liver", "Liver", ph.energy_MeV)))
    )
    assert float(
        rep.absorbed_dose_by_kind_mGy_per_MBq.sel(target="Liver", kind="photon")[0]
    ) == pytest.approx(expected, rel=1e-12)
    assert any("electron" in s for s in rep.not_included)  # no electron table given
    assert rep.partial


def test_icrp133_reader_rejects_missing_target(tmp_path: Path) -> None:
    rows = [
        ("Liver", "Liver", (10.0, 1.0, 0.1)),
        ("Kidneys", "Liver", (0.0, 0.01, 0.02)),
        ("Liver", "Kidneys", (0.0, 0.01, 0.02)),
    ]
    path = _write_saf(tmp_path / "bad.SAF", rows, 2, 2)
    with pytest.raises(ValueError, match="missing target 'Kidneys'"):
        read_icrp133_saf(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_icrp133_saf(tmp_path / "nope.SAF")


# -- errors --------------------------------------------------------------------------------------


def test_errors_name_the_problem() -> None:
    bd = _bd(np.linspace(0.0, 24.0, 25))
    with pytest.raises(ValueError, match="no radionuclide label"):
        absorbed_doses(bd, _agent(None), _scenario())
    with pytest.raises(ValueError, match="Xx-999"):
        tiac(bd, "Xx-999")
    with pytest.raises(ValueError, match="not a nuclide spelling"):
        half_life_h("fluorine")
    with pytest.raises(ValueError, match="activity_MBq"):
        absorbed_doses(bd, _agent("18F"), _scenario(), activity_MBq=-5.0)
    with pytest.raises(ValueError, match="'bladder'"):
        tiac(bd, "18F", sources=["bladder"])
    with pytest.raises(ValueError, match="emission kind 'neutron'"):
        ICRP107Emissions().lines("18F", "neutron")
    frac = np.zeros((1, 3, len(OUTPUT_GROUPS)))
    frac[0, :, OUTPUT_GROUPS.index("liver")] = [1.0, -0.5, 0.2]
    neg = Biodistribution.from_arrays(frac, np.array([0.0, 1.0, 2.0]), np.ones((1, len(OUTPUT_GROUPS))))
    with pytest.raises(ValueError, match="negative activity"):
        tiac(neg, "18F")
    assert LocalElectronAbsorption().name.startswith("local absorption")


def test_saf_model_maps_icrp_targets_to_tissues_and_limits(tmp_path: Path) -> None:
    rows = [
        ("Liver", "Liver", (10.0, 1.0, 0.1)),
        ("R-marrow", "Liver", (0.0, 0.01, 0.02)),
    ]
    table = read_icrp133_saf(_write_saf(tmp_path / "p.SAF", rows, 2, 1))
    saf = SpecificAbsorbedFractions(tables={"photon": table})
    rep = absorbed_doses(_bd(np.linspace(0.0, 24.0, 25)), _agent("18F"), _scenario(), dose_factors=saf)
    h = rep.equivalent_dose_mSv_per_MBq
    assert rep.effective_dose_mSv_per_MBq is not None
    expected = 0.12 * float(h.sel(target="R-marrow")[0]) + 0.04 * float(h.sel(target="Liver")[0])
    assert float(rep.effective_dose_mSv_per_MBq[0]) == pytest.approx(expected, rel=1e-12)
    assert rep.effective_dose_weight_covered == pytest.approx(0.16)
    limits = {c.target: c.limit_mSv for c in rep.limit_checks}
    assert limits["R-marrow"] == 30.0 and limits["Liver"] == 50.0 and limits["whole_body"] == 30.0
