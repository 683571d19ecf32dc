"""From an AgentSpec and a Scenario to a Biodistribution: property relations in the engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.citations import collect_citations
from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.pbpk.engine import agent_parameters, simulate_agent


@pytest.fixture(scope="module")
def mouse() -> Scenario:
    return load_example_scenario("mouse_tumor").evolve(duration_h=48.0)


@pytest.fixture(scope="module")
def cdot() -> AgentSpec:
    return load_example_agent("cdot_pet_optical")


@pytest.fixture(scope="module")
def gold() -> AgentSpec:
    return load_example_agent("gold_peg_100nm")


def test_ultrasmall_particle_is_cleared_by_the_kidneys(cdot: AgentSpec, mouse: Scenario) -> None:
    m = simulate_agent(cdot, mouse).metrics()
    assert float(m["urine_pct_id"][0]) > 50.0


def test_large_gold_particle_goes_to_the_mps(gold: AgentSpec, mouse: Scenario) -> None:
    bd = simulate_agent(gold, mouse)
    assert float(bd.metrics()["urine_pct_id"][0]) < 1.0
    at_24h = bd.data["amount_pct_id"].sel(time=24.0)
    assert float(at_24h.sel(organ="liver")[0] + at_24h.sel(organ="spleen")[0]) > 20.0
    assert bd.mass_balance_error() < 1e-6


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=2.0, max_value=14.0), st.floats(min_value=0.2, max_value=3.0))
def test_urinary_excretion_falls_with_size(size_nm: float, step_nm: float) -> None:
    scenario = load_example_scenario("mouse_tumor").evolve(duration_h=24.0)
    agent = load_example_agent("cdot_pet_optical")
    small = agent.evolve(hydrodynamic_diameter_nm=size_nm, core_diameter_nm=min(4.0, size_nm))
    large = agent.evolve(hydrodynamic_diameter_nm=size_nm + step_nm, core_diameter_nm=min(4.0, size_nm))
    u_small = float(simulate_agent(small, scenario).metrics()["urine_pct_id"][0])
    u_large = float(simulate_agent(large, scenario).metrics()["urine_pct_id"][0])
    assert u_large <= u_small + 1e-9


def test_tumour_volume_and_perfusion_follow_the_scenario(gold: AgentSpec) -> None:
    human = load_example_scenario("human_tumor")
    ap = agent_parameters(gold, human)
    tumor = human.tumor
    assert tumor is not None
    assert ap.params["VTC"] == pytest.approx(tumor.volume_mm3 * 1e-6 / human.body_weight_kg)
    qc = ap.params["QCC"] * human.body_weight_kg**0.75
    expected = ap.params["tumor_perfusion_mL_per_min_per_g"] * tumor.volume_mm3 * 1e-3 * 0.06 / qc
    assert ap.params["QTC"] == pytest.approx(expected)
    bigger = human.evolve(tumor=tumor.model_copy(update={"volume_mm3": 4 * tumor.volume_mm3}))
    assert agent_parameters(gold, bigger).params["QTC"] == pytest.approx(4 * expected)


def test_replayed_tumour_calibration_changes_the_tumour_only(gold: AgentSpec, mouse: Scenario) -> None:
    base = simulate_agent(gold, mouse)
    replay = simulate_agent(
        gold, mouse, tumor_params={"KTRESmax": 2.0, "KTRES50": 1.0, "KTRESn": 2.0, "PATC": 0.05}
    )
    assert float(replay.amount("tumor")[0, 24]) > 1.5 * float(base.amount("tumor")[0, 24])
    assert "tumour parameters replayed" in replay.data.attrs["notes"]


def test_bad_tumour_parameters_are_named(gold: AgentSpec, mouse: Scenario) -> None:
    with pytest.raises(ValueError, match="unknown tumour parameter"):
        simulate_agent(gold, mouse, tumor_params={"KLRESmax": 1.0})
    with pytest.raises(ValueError, match="KTRESmax"):
        simulate_agent(gold, mouse, tumor_params={"KTRESmax": -1.0})


def test_parameter_set_must_match_species(gold: AgentSpec, mouse: Scenario) -> None:
    with pytest.raises(ValueError, match="is for human"):
        simulate_agent(gold, mouse, parameter_set="ICRP89_human")


def test_a_run_cites_its_sources(cdot: AgentSpec, mouse: Scenario) -> None:
    with collect_citations() as collected:
        bd = simulate_agent(cdot, mouse)
    keys = set(collected.keys)
    assert {"Cheng2020", "Lin2016_gold_mouse", "Brown1997", "Ohlson2000"} <= keys
    assert set(bd.data.attrs["citations"]) <= keys


def test_every_species_runs(gold: AgentSpec) -> None:
    for species, bw in (("mouse", 0.025), ("rat", 0.25), ("human", 70.0)):
        scenario = Scenario(
            species=species, body_weight_kg=bw, dose_mg_per_kg=1.0, duration_h=24.0, route="iv"
        )
        bd = simulate_agent(gold, scenario)
        assert bd.data.attrs["species"] == species
        assert np.isfinite(bd.data["amount_pct_id"].values).all()
        assert bd.mass_balance_error() < 1e-6
