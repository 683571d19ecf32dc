"""Tests for nanobridge.science.imaging.mri (MRI contrast from a biodistribution)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.citations import collect_citations
from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.imaging.mri import (
    MRIContrast,
    element_mass_fraction,
    ernst_angle_deg,
    gradient_echo_signal,
    mri_contrast,
    native_relaxation,
    relaxivities_at_field,
    spin_echo_signal,
)
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.engine import simulate_agent


@pytest.fixture(scope="module")
def agent() -> AgentSpec:
    return load_example_agent("iron_oxide_mri")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_example_scenario("mouse_tumor")


@pytest.fixture(scope="module")
def bd(agent: AgentSpec, scenario: Scenario) -> Biodistribution:
    return simulate_agent(agent, scenario)


# ---- element amount ----------------------------------------------------------------------------


def test_fe_mass_fraction_of_magnetite(agent: AgentSpec) -> None:
    assert element_mass_fraction(agent, "Fe") == pytest.approx(0.7236, abs=5e-4)


def test_mass_fraction_not_derivable_names_field() -> None:
    cdot = load_example_agent("cdot_pet_optical")
    with pytest.raises(ValueError, match="element_mass_fraction"):
        element_mass_fraction(cdot, "Gd")
    assert element_mass_fraction(cdot, "Gd", 0.1) == 0.1
    with pytest.raises(ValueError, match="element_mass_fraction"):
        element_mass_fraction(cdot, "Gd", 1.5)


def test_concentration_follows_pct_id_per_g(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario
) -> None:
    res = mri_contrast(bd, agent, scenario)
    fe_mg = scenario.dose_mg_per_kg * scenario.body_weight_kg * 0.72360  # type: ignore[operator]
    expected_mM = bd.concentration("tumor").values / 100 * fe_mg / 55.845 * 1000
    np.testing.assert_allclose(res.timecourse["conc_tumor_mM"].values, expected_mM, rtol=1e-4)
    assert res.injected_element_mg == pytest.approx(fe_mg, rel=1e-4)


# ---- signal equations --------------------------------------------------------------------------


def test_zero_concentration_gives_no_change(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario
) -> None:
    zero = Biodistribution.from_arrays(
        np.zeros((1, bd.times_h.size, bd.data.sizes["organ"])),
        bd.times_h,
        bd.data["organ_mass_g"].values,
    )
    res = mri_contrast(zero, agent, scenario)
    ds = res.timecourse
    assert np.all(ds["delta_R1_tumor_per_s"].values == 0)
    assert np.all(ds["delta_R2_tumor_per_s"].values == 0)
    np.testing.assert_allclose(ds["enhancement_ratio_tumor"].values, 1.0)
    assert np.all(ds["cnr_agent"].values == 0)
    assert np.isnan(res.min_dose_mg_per_kg).all()


@settings(max_examples=50, deadline=None)
@given(
    t1=st.floats(300, 3000),
    rc=st.floats(0, 50),
    extra=st.floats(1e-3, 20),
    tr=st.floats(50, 3000),
)
def test_t1_weighted_spin_echo_signal_increases_with_r1c(
    t1: float, rc: float, extra: float, tr: float
) -> None:
    r1 = 1000 / t1
    s0 = spin_echo_signal(r1 + rc, 20.0, tr, 10.0)
    s1 = spin_echo_signal(r1 + rc + extra, 20.0, tr, 10.0)
    assert s1 >= s0
    if tr * 1e-3 * (r1 + rc) < 10:  # not yet fully relaxed: strictly brighter
        assert s1 > s0


@settings(max_examples=50, deadline=None)
@given(rc=st.floats(0, 200), extra=st.floats(1e-2, 200), te=st.floats(5, 100))
def test_spin_echo_signal_decreases_with_r2c(rc: float, extra: float, te: float) -> None:
    s0 = spin_echo_signal(1.0, 20.0 + rc, 3000.0, te)
    s1 = spin_echo_signal(1.0, 20.0 + rc + extra, 3000.0, te)
    assert s1 < s0


@settings(max_examples=50, deadline=None)
@given(t1=st.floats(200, 4000), tr=st.floats(2, 100), delta=st.floats(0.5, 30))
def test_ernst_angle_maximises_gre_signal(t1: float, tr: float, delta: float) -> None:
    a_e = ernst_angle_deg(t1, tr)
    s_e = gradient_echo_signal(1000 / t1, 0.0, tr, 0.0, a_e)
    for a in (a_e - delta, a_e + delta):
        if 0 < a <= 180:
            assert gradient_echo_signal(1000 / t1, 0.0, tr, 0.0, a) <= s_e * (1 + 1e-12)


def test_gre_at_90_deg_equals_saturation_recovery() -> None:
    assert float(gradient_echo_signal(1.0, 0.0, 500.0, 0.0, 90.0)) == pytest.approx(1 - math.exp(-0.5))


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.01, 1.0))
def test_delta_r1_linear_in_concentration(scale: float) -> None:
    agent = load_example_agent("iron_oxide_mri")
    sc = load_example_scenario("mouse_tumor")
    bd = _BD_CACHE.setdefault("bd", simulate_agent(agent, sc))
    full = mri_contrast(bd, agent, sc, element_mass_fraction_override=1.0)
    part = mri_contrast(bd, agent, sc, element_mass_fraction_override=scale)
    np.testing.assert_allclose(
        part.timecourse["delta_R1_tumor_per_s"].values,
        scale * full.timecourse["delta_R1_tumor_per_s"].values,
        rtol=1e-9,
        atol=1e-15,
    )
    r1 = agent.labels.mri.r1_per_mM_per_s  # type: ignore[union-attr]
    np.testing.assert_allclose(
        full.timecourse["delta_R1_tumor_per_s"].values, r1 * full.timecourse["conc_tumor_mM"].values
    )


_BD_CACHE: dict[str, Biodistribution] = {}


# ---- whole analysis ----------------------------------------------------------------------------


def test_result_is_typed_and_cited(bd: Biodistribution, agent: AgentSpec, scenario: Scenario) -> None:
    with collect_citations() as used:
        res = mri_contrast(
            bd, agent, scenario, sequence="spoiled_gradient_echo", TR_ms=10, TE_ms=3, flip_deg=20
        )
    assert isinstance(res, MRIContrast)
    assert {"Knobloch2018", "deBazelaire2004", "Bernstein2004", "IUPAC2021_atomic_weights"} <= set(used.keys)
    assert set(res.citations) <= set(used.keys) | {"Rose1948"}
    assert any("tumor" in a for a in res.assumptions)  # tumour native T1/T2 assumed
    assert res.timecourse["cnr_agent"].dims == ("subject", "time")
    assert 0 <= res.best_time_h[0] <= bd.times_h[-1]


def test_iron_oxide_darkens_t2_weighted_liver(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario
) -> None:
    res = mri_contrast(bd, agent, scenario, TR_ms=3000, TE_ms=60, target="liver", background="muscle")
    assert res.timecourse["enhancement_ratio_liver"].values.min() < 1.0


def test_min_dose_reaches_target_cnr(bd: Biodistribution, agent: AgentSpec, scenario: Scenario) -> None:
    res = mri_contrast(
        bd, agent, scenario, TR_ms=10, TE_ms=3, flip_deg=20, sequence="spoiled_gradient_echo", target="liver"
    )
    d = float(res.min_dose_mg_per_kg[0])
    assert math.isfinite(d)
    again = mri_contrast(
        bd,
        agent,
        scenario.model_copy(update={"dose_mg_per_kg": d}),
        TR_ms=10,
        TE_ms=3,
        flip_deg=20,
        sequence="spoiled_gradient_echo",
        target="liver",
    )
    assert float(again.max_cnr_agent[0]) == pytest.approx(res.target_cnr, rel=1e-3)


def test_seven_tesla_native_values_are_flagged() -> None:
    n15, n3, n7 = (native_relaxation("liver", f) for f in (1.5, 3.0, 7.0))
    assert not n3.assumed and n7.assumed
    assert n15.T1_ms < n3.T1_ms < n7.T1_ms
    assert n3.T1_ms == 809.0 and n3.T2_ms == 34.0  # de Bazelaire 2004 abstract


# ---- errors -----------------------------------------------------------------------------------


def test_relaxivity_for_wrong_field_is_an_error(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario
) -> None:
    with pytest.raises(ValueError, match=r"field_T=3 T.*1.5 T"):
        mri_contrast(bd, agent, scenario, field_T=3.0)
    # per-field relaxivities (Knobloch 2018, ferumoxytol in plasma at 3 T) make it valid
    per_field = {
        1.5: {"r1_per_mM_per_s": 19.0, "r2_per_mM_per_s": 64.9},
        3.0: {"r1_per_mM_per_s": 9.5, "r2_per_mM_per_s": 65.2},
    }
    res = mri_contrast(bd, agent, scenario, field_T=2.89, relaxivities_by_field_T=per_field)
    assert res.relaxivity.r1_per_mM_per_s == 9.5
    with pytest.raises(ValueError, match="relaxivities_by_field_T"):
        relaxivities_at_field(agent, 7.0, per_field)


def test_generic_field_without_tissue_data(bd: Biodistribution, agent: AgentSpec, scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="native"):
        mri_contrast(
            bd,
            agent,
            scenario,
            field_T=9.4,
            relaxivities_by_field_T={9.4: {"r1_per_mM_per_s": 2.0, "r2_per_mM_per_s": 80.0}},
        )
    res = mri_contrast(
        bd,
        agent,
        scenario,
        field_T=9.4,
        relaxivities_by_field_T={9.4: {"r1_per_mM_per_s": 2.0, "r2_per_mM_per_s": 80.0}},
        native_relaxation_ms={"tumor": (2000.0, 40.0), "muscle": (2100.0, 25.0)},
    )
    assert res.native["tumor"].citation == "user"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"TR_ms": -5.0}, "TR_ms"),
        ({"TR_ms": 10.0, "TE_ms": 20.0}, "TE_ms"),
        ({"sequence": "spoiled_gradient_echo", "TR_ms": 10.0, "TE_ms": 2.0, "flip_deg": 200.0}, "flip_deg"),
        ({"sequence": "spoiled_gradient_echo", "TR_ms": 10.0, "TE_ms": 2.0, "flip_deg": 0.0}, "flip_deg"),
        ({"sequence": "spoiled_gradient_echo", "TR_ms": 10.0, "TE_ms": 2.0}, "flip_deg"),
        ({"flip_deg": 30.0}, "flip_deg"),
        ({"sequence": "bssfp"}, "sequence"),
        ({"target": "urine"}, "target"),
        ({"background": "tumor"}, "background"),
        ({"snr_pre": 0.0}, "snr_pre"),
    ],
)
def test_bad_input_names_the_field(
    bd: Biodistribution, agent: AgentSpec, scenario: Scenario, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        mri_contrast(bd, agent, scenario, **kwargs)  # type: ignore[arg-type]


def test_agent_without_mri_label(bd: Biodistribution, scenario: Scenario) -> None:
    with pytest.raises(ValueError, match=r"labels\.mri"):
        mri_contrast(bd, load_example_agent("gold_peg_100nm"), scenario)
