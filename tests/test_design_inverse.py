"""Inverse design: optimiser wiring, constraints, reproducibility, uncertainty bands, plug-ins."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.domain import AgentSpec, Scenario, load_example_agent, load_example_scenario
from nanobridge.science.design import inverse as inv
from nanobridge.science.design.inverse import (
    CategoricalVariable,
    DesignSettings,
    Evaluation,
    FloatVariable,
    TumorParameterTable,
    build_agent,
    design_space,
    load_tumor_parameter_table,
    nsga2_search,
    pareto_figure,
    pareto_mask,
    parse_limit,
    run_design,
    space_variables,
)
from nanobridge.science.design.objectives import (
    ImagingOptions,
    imaging_values,
    imaging_values_shared,
    resolve_objective,
)

SHARED_DB = Path(__file__).resolve().parents[2] / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"
SMALL = {"n_trials": 12, "population_size": 6, "uncertainty_draws": 8}


@pytest.fixture(scope="module")
def table() -> TumorParameterTable:
    packaged = resources.files("nanobridge") / "data" / "nano_tumor_db" / "datasets.csv"
    if packaged.is_file():
        return load_tumor_parameter_table()
    if not SHARED_DB.is_file():  # pragma: no cover - depends on the checkout
        pytest.skip("no Nano-Tumor Database table (packaged or shared)")
    return load_tumor_parameter_table(SHARED_DB)


@pytest.fixture(scope="module")
def cdot() -> AgentSpec:
    return load_example_agent("cdot_pet_optical")


@pytest.fixture(scope="module")
def mouse() -> Scenario:
    return load_example_scenario("mouse_tumor")


# --------------------------------------------------------------------------------------------
# The optimiser on a toy problem with a known Pareto front
# --------------------------------------------------------------------------------------------

TOY_VARIABLES: list[inv.Variable] = [
    FloatVariable("x", -5.0, 5.0),
    FloatVariable("y", -1.0, 1.0),
    CategoricalVariable("c", ("good", "bad")),
]


def _schaffer(batch: Sequence[Mapping[str, Any]]) -> list[Evaluation]:
    """Schaffer N.1 with a nuisance: f1 = x² + p, f2 = (x-2)² + p, p = y² (+1 for 'bad').

    The Pareto set is x in [0, 2], y = 0, c = good; the front is sqrt(f2) = 2 - sqrt(f1).
    """
    out = []
    for p in batch:
        pen = p["y"] ** 2 + (1.0 if p["c"] == "bad" else 0.0)
        out.append(Evaluation((p["x"] ** 2 + pen, (p["x"] - 2.0) ** 2 + pen)))
    return out


def _front_error(values: np.ndarray) -> np.ndarray:
    return np.abs(np.sqrt(values[:, 1]) - (2.0 - np.sqrt(values[:, 0])))


def test_toy_pareto_front_is_recovered() -> None:
    trials = nsga2_search(
        TOY_VARIABLES, _schaffer, ["minimize", "minimize"], n_trials=400, population_size=40, seed=1
    )
    assert len(trials) == 400
    assert [t.generation for t in trials[:40]] == [0] * 40 and trials[-1].generation == 9
    values = np.array([t.evaluation.values for t in trials])
    mask = pareto_mask(values, ["minimize", "minimize"])
    front = [t for t, m in zip(trials, mask, strict=True) if m]
    err = _front_error(values[mask])
    assert len(front) >= 20
    assert {t.params["c"] for t in front} == {"good"}  # the categorical is searched
    assert np.median(err) < 0.03
    assert np.mean(err < 0.25) >= 0.85
    xs = np.array([t.params["x"] for t in front])
    assert xs.min() < 0.3 and xs.max() > 1.7  # the whole front, not one corner
    assert np.median(np.abs([t.params["y"] for t in front])) < 0.2


def test_toy_maximisation_and_constraints() -> None:
    def negated(batch: Sequence[Mapping[str, Any]]) -> list[Evaluation]:
        out = []
        for ev, p in zip(_schaffer(batch), batch, strict=True):
            assert ev.values is not None
            out.append(Evaluation((-ev.values[0], -ev.values[1]), {"x>=1": 1.0 - p["x"]}))
        return out

    trials = nsga2_search(
        TOY_VARIABLES, negated, ["maximize", "maximize"], n_trials=240, population_size=40, seed=3
    )
    feasible = [t for t in trials if t.feasible]
    assert feasible and len(feasible) < len(trials)
    values = np.array([t.evaluation.values for t in feasible])
    mask = pareto_mask(values, ["maximize", "maximize"])
    xs = np.array([t.params["x"] for t, m in zip(feasible, mask, strict=True) if m])
    assert np.all(xs >= 1.0)  # every feasible Pareto design meets the constraint
    assert xs.min() < 1.2 and xs.max() > 1.8  # and the front runs from the bound to x = 2
    # constrained domination steered the later generations into the feasible region
    late = [t.feasible for t in trials if t.generation >= 4]
    early = [t.feasible for t in trials if t.generation == 0]
    assert np.mean(late) > np.mean(early)


def test_search_is_reproducible_with_its_seed() -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        return [
            t.params
            for t in nsga2_search(
                TOY_VARIABLES, _schaffer, ["minimize", "minimize"], n_trials=60, population_size=20, seed=seed
            )
        ]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_failed_candidates_are_recorded_not_fatal() -> None:
    def flaky(batch: Sequence[Mapping[str, Any]]) -> list[Evaluation]:
        return [
            Evaluation(None, message="x too large") if p["x"] > 4 else Evaluation((p["x"] ** 2,))
            for p in batch
        ]

    trials = nsga2_search(
        [FloatVariable("x", 0.0, 5.0)], flaky, ["minimize"], n_trials=40, population_size=10, seed=0
    )
    failed = [t for t in trials if not t.complete]
    assert failed and all(t.evaluation.message == "x too large" for t in failed)
    assert all(t.params["x"] <= 4 for t in trials if t.complete)


def test_search_rejects_bad_setup() -> None:
    with pytest.raises(ValueError, match="log-scale"):
        nsga2_search(
            [FloatVariable("x", 0.0, 1.0, log=True)],
            _schaffer,
            ["minimize"],
            n_trials=4,
            population_size=4,
            seed=0,
        )
    with pytest.raises(ValueError, match="direction 'up'"):
        nsga2_search(TOY_VARIABLES, _schaffer, ["up"], n_trials=4, population_size=4, seed=0)  # type: ignore[list-item]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10)), min_size=1, max_size=25),
    st.lists(st.sampled_from(["minimize", "maximize"]), min_size=3, max_size=3),
)
def test_pareto_mask_keeps_exactly_the_non_dominated(rows: list[tuple[float, ...]], dirs: list[str]) -> None:
    values = np.array(rows, dtype=float)
    mask = pareto_mask(values, dirs)  # type: ignore[arg-type]
    m = values * np.array([-1.0 if d == "maximize" else 1.0 for d in dirs])

    def dominates(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.all(a <= b) and np.any(a < b))

    for i in range(len(m)):
        dominated = any(dominates(m[j], m[i]) for j in range(len(m)) if j != i)
        assert mask[i] == (not dominated)


# --------------------------------------------------------------------------------------------
# Design space and candidates
# --------------------------------------------------------------------------------------------


def test_design_space_defaults_follow_objectives(cdot: AgentSpec) -> None:
    space = design_space(cdot, ["DE24", "tbr"], species="mouse")
    assert space.modality == "pet"  # the base's first label
    assert set(space.nuclides) == {"F-18", "Cu-64", "Ga-68", "Zr-89", "I-124"}  # PET emitters with data
    assert space.targeting == ("passive", "active") and space.ligand == "cRGDY"
    assert space.materials == ("silica",)
    nirf = design_space(cdot, ["cnr"], species="mouse", modality="nirf")
    assert nirf.nuclides == () and "IRDye800CW" in nirf.dyes
    plain = design_space(load_example_agent("gold_peg_100nm"), ["DE24", "retention_90d"], species="mouse")
    assert plain.targeting == ("passive",) and plain.nuclides == () and plain.dyes == ()


def test_constraints_change_the_space(cdot: AgentSpec) -> None:
    gold = load_example_agent("gold_peg_100nm")
    space = design_space(gold, ["DE24"], species="mouse", renal_clearable=True, biodegradable=True)
    assert space.hydrodynamic_diameter_nm[1] == pytest.approx(5.5)
    assert "gold" not in space.materials and space.materials  # gold is not biodegradable
    assert all(
        m in ("silica", "iron_oxide", "plga", "liposome", "lipid_nanoparticle") for m in space.materials
    )
    assert any("5.5 nm" in c and "Choi2007" in c for c in space.describe_constraints())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"renal_clearable": True, "diameter_nm": (10.0, 50.0)}, "diameter_nm"),
        ({"biodegradable": True, "materials_allowed": ["gold"]}, "gold is not biodegradable"),
        ({"materials_allowed": ["unobtainium"]}, "not in the materials catalog"),
        ({"coatings": ["teflon"]}, "not a coating kind"),
        ({"targeting": ["active"], "ligand": None}, None),
        ({"nuclides": ["Tc-99m"]}, "not imaged by PET"),
        ({"modality": "mri"}, "allowed pet, spect, nirf"),
    ],
)
def test_design_space_errors_name_the_option(
    cdot: AgentSpec, kwargs: dict[str, Any], match: str | None
) -> None:
    if match is None:  # the C dot has a ligand: active targeting is allowed
        assert "active" in design_space(cdot, ["tbr"], species="mouse", **kwargs).targeting
        gold = load_example_agent("gold_peg_100nm")
        with pytest.raises(ValueError, match="targeting: active needs a ligand"):
            design_space(gold, ["DE24"], species="mouse", **kwargs)
        return
    with pytest.raises(ValueError, match=match):
        design_space(cdot, ["tbr"], species="mouse", **kwargs)


def test_objective_names_and_species() -> None:
    assert resolve_objective("delivery", "mouse").key == "DE24"
    assert resolve_objective("dose", "human").key == "effective_dose"
    assert resolve_objective("dose", "mouse").key == "organ_dose"
    with pytest.raises(ValueError, match="defined for humans"):
        resolve_objective("effective_dose", "mouse")
    with pytest.raises(ValueError, match="not known"):
        resolve_objective("beauty", "mouse")
    lim = parse_limit("retention < 5", "mouse")
    assert (lim.key, lim.op, lim.value) == ("retention_90d", "<=", 5.0)
    assert lim.violation(6.0) == pytest.approx(1.0) and lim.violation(4.0) < 0
    with pytest.raises(ValueError, match="NAME<=VALUE"):
        parse_limit("retention about 5", "mouse")


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_candidate_of_the_space_is_a_valid_agent(data: st.DataObject) -> None:
    cdot = load_example_agent("cdot_pet_optical")
    renal = data.draw(st.booleans())
    space = design_space(cdot, ["tbr", "DE24"], species="mouse", renal_clearable=renal)
    params: dict[str, Any] = {}
    for v in space_variables(space):
        if isinstance(v, FloatVariable):
            params[v.name] = data.draw(st.floats(v.low, v.high))
        else:
            params[v.name] = data.draw(st.sampled_from(v.choices))
    agent, design = build_agent(cdot, space, params)
    assert agent.hydrodynamic_diameter_nm == pytest.approx(params["hydrodynamic_diameter_nm"])
    assert 0.5 <= agent.core_diameter_nm <= agent.hydrodynamic_diameter_nm
    if renal:
        assert agent.hydrodynamic_diameter_nm <= 5.5
    assert agent.is_targeted == (params["targeting"] == "active")
    assert (
        agent.labels.radionuclide is not None and agent.labels.radionuclide.nuclide == params["radionuclide"]
    )
    assert (
        agent.labels.fluorophore is not None and agent.labels.fluorophore.name == "Cy5"
    )  # kept from the base
    if params["coating"] == "PEG":
        mw = agent.coating.peg_mw_Da
        assert mw is not None
        assert mw == pytest.approx(params["peg_mw_Da"], abs=0.05) and design["peg_mw_Da"] == mw
        a, nu, m0 = 0.35, 0.6, 44.053  # the PBPK PEG relation's constants (Flory radius a N^nu)
        excess = a * (mw / m0) ** nu - agent.hydrodynamic_diameter_nm / 2
        assert inv.peg_corona_excess_nm(agent) == pytest.approx(excess)
        assert (mw <= inv.max_peg_mw_Da(agent.hydrodynamic_diameter_nm) + 1e-6) == (excess <= 1e-9)
    else:
        assert agent.coating.kind == params["coating"] and "peg_mw_Da" not in design
        assert inv.peg_corona_excess_nm(agent) == 0.0
    assert AgentSpec.model_validate(agent.model_dump(mode="json", exclude_none=True)) == agent


def test_material_change_takes_catalog_properties(cdot: AgentSpec) -> None:
    space = design_space(cdot, ["DE24"], species="mouse", materials_allowed=["silica", "gold"])
    agent, _ = build_agent(cdot, space, {"core_material": "gold", "coating": "none", "targeting": "passive"})
    assert agent.core_material == "gold" and agent.biodegradable is False
    assert agent.labels.radionuclide is not None and agent.labels.radionuclide.nuclide == "I-124"


# --------------------------------------------------------------------------------------------
# Tumour parameters: targeting groups and the virtual population
# --------------------------------------------------------------------------------------------


def test_targeting_uses_database_group_medians_and_draws_replay_rows(
    cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable
) -> None:
    space = design_space(cdot, ["DE24"], species="mouse")
    active, _ = build_agent(cdot, space, {"targeting": "active"})
    passive, _ = build_agent(cdot, space, {"targeting": "passive"})
    ev = inv._Evaluator(cdot, mouse, space, ["DE24"], DesignSettings(), table, None, None)
    (p_act, _, _), (p_pas, _, _) = ev.nominal([active, passive])
    df = table.values
    for name in inv.DRAWN_TUMOR_PARAMETERS:
        assert p_act[name] == pytest.approx(df.loc[df.targeting == "Active", name].median())
        assert p_pas[name] == pytest.approx(df.loc[df.targeting == "Passive", name].median())
    assert p_act["VTC"] == p_pas["VTC"] == pytest.approx(200e-6 / 0.025)  # the scenario's tumour
    # a mouse draw replays a database row of the design's targeting group exactly
    rows = table.rows("Active")
    med = table.median("Active")
    replay = {name: p_act[name] * rows[7, c] / med[name] for c, name in enumerate(inv.DRAWN_TUMOR_PARAMETERS)}
    assert replay == pytest.approx(dict(zip(inv.DRAWN_TUMOR_PARAMETERS, rows[7], strict=True)))


def test_tumor_table_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_tumor_parameter_table(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"TS": ["Active"], "KTRESmax": [0.3]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="KTRESrelease"):
        load_tumor_parameter_table(bad)


def test_imaging_objective_equals_the_imaging_model(cdot: AgentSpec, mouse: Scenario) -> None:
    from nanobridge.science.imaging.nuclear import nuclear_imaging
    from nanobridge.science.pbpk.engine import simulate_agent

    bd = simulate_agent(cdot, mouse)
    for t_h in (24.0, 30.5):
        values, notes = imaging_values(bd, [cdot], mouse, ["tbr", "cnr"], ImagingOptions("pet", time_h=t_h))
        full = nuclear_imaging(bd, cdot, mouse, scanner="inveon")
        assert values["tbr"][0] == pytest.approx(
            np.interp(t_h, full.time_h, full.tumour_to_background), rel=1e-9
        )
        assert values["cnr"][0] == pytest.approx(np.interp(t_h, full.time_h, full.cnr), rel=1e-9)
        assert notes


@pytest.mark.parametrize(("modality", "t_h"), [("pet", 24.0), ("pet", 30.5), ("nirf", 7.25)])
def test_population_imaging_in_one_call_equals_subject_by_subject(
    cdot: AgentSpec, mouse: Scenario, modality: str, t_h: float
) -> None:
    from nanobridge.science.pbpk.engine import agent_parameters, simulate

    ap = agent_parameters(cdot, mouse)
    n = 12
    params = {k: np.full(n, v) for k, v in ap.params.items()}
    params["KTRESmax"] = np.geomspace(0.05, 10.0, n)  # a population with very different tumours
    params["PT"] = np.geomspace(0.01, 2.0, n)[::-1]
    bd = simulate(
        params,
        mouse.body_weight_kg,
        np.arange(0.0, 49.0),
        renal_clearance_L_per_h=ap.renal_clearance_L_per_h,
        dose_mg=0.85 * mouse.body_weight_kg,
        attrs={"species": "mouse"},
    )
    options = ImagingOptions(modality, time_h=t_h)
    one_by_one, _ = imaging_values(bd, [cdot] * n, mouse, ["tbr", "cnr"], options)
    together, notes = imaging_values_shared(bd, cdot, mouse, ["tbr", "cnr"], options)
    assert notes
    for key in ("tbr", "cnr"):
        assert np.ptp(one_by_one[key]) > 0  # the draws differ
        np.testing.assert_allclose(together[key], one_by_one[key], rtol=1e-8)


# --------------------------------------------------------------------------------------------
# Whole runs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renal_run(cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable) -> inv.DesignResult:
    space = design_space(cdot, ["DE24", "tbr"], species="mouse", renal_clearable=True)
    return run_design(
        cdot,
        mouse,
        ["DE24", "tbr"],
        space=space,
        settings=DesignSettings(seed=11, **SMALL),
        tumor_table=table,
    )


def test_renal_clearable_constraint_respected_by_every_design(renal_run: inv.DesignResult) -> None:
    assert len(renal_run.trials) == SMALL["n_trials"] and renal_run.pareto
    for t in renal_run.trials:
        assert t.design["hydrodynamic_diameter_nm"] <= 5.5
    for i, p in enumerate(renal_run.pareto):
        assert p.design["hydrodynamic_diameter_nm"] <= 5.5
        assert renal_run.pareto_agent(i).hydrodynamic_diameter_nm <= 5.5
    assert any("renal clearable" in c for c in renal_run.constraints)
    # the PEG corona constraint: feasible designs carry PEG no longer than the particle allows
    assert all(inv._CORONA_CONSTRAINT in t.constraints for t in renal_run.trials if t.complete)
    for i in range(len(renal_run.pareto)):
        assert inv.peg_corona_excess_nm(renal_run.pareto_agent(i)) <= 0.0


def test_bands_are_ordered_and_carry_uncertainty(renal_run: inv.DesignResult) -> None:
    for p in [*renal_run.pareto]:
        for key, band in p.bands.items():
            assert band.p5 <= band.p50 <= band.p95, key
        # the database spread of tumour parameters gives real width to tumour delivery
        assert p.bands["DE24"].p95 > 1.5 * p.bands["DE24"].p5
    for key, band in renal_run.baseline_bands.items():
        assert band.p5 <= band.p50 <= band.p95, key


def test_pareto_designs_are_non_dominated_among_feasible_trials(renal_run: inv.DesignResult) -> None:
    dirs = [o.direction for o in renal_run.objectives]
    feasible = [t for t in renal_run.trials if t.feasible]
    vals = np.array([[t.values[o.key] for o in renal_run.objectives] for t in feasible])
    front = {t.number for t, m in zip(feasible, pareto_mask(vals, dirs), strict=True) if m}
    assert {p.trial for p in renal_run.pareto} <= front
    for p in renal_run.pareto:
        trial = next(t for t in renal_run.trials if t.number == p.trial)
        assert trial.values == pytest.approx(p.values)
    frame = renal_run.pareto_frame()
    assert list(frame["trial"]) == [p.trial for p in renal_run.pareto]
    assert {"DE24", "DE24_p5", "DE24_p50", "DE24_p95", "tbr_p95", "hydrodynamic_diameter_nm"} <= set(
        frame.columns
    )
    assert "Deb2002_NSGAII" in renal_run.citations and "Choi2007" in renal_run.citations


def test_same_seed_same_result(cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable) -> None:
    def run(seed: int) -> inv.DesignResult:
        return run_design(
            cdot,
            mouse,
            ["DE24", "retention_90d"],
            settings=DesignSettings(seed=seed, **SMALL),
            tumor_table=table,
        )

    a, b, c = run(4), run(4), run(5)
    assert a.pareto_frame().equals(b.pareto_frame())
    assert [t.design for t in a.trials] == [t.design for t in b.trials]
    assert [t.design for t in a.trials] != [t.design for t in c.trials]


def test_limits_are_constraints(cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable) -> None:
    result = run_design(
        cdot,
        mouse,
        ["DE24"],
        settings=DesignSettings(seed=3, limits=("retention_90d<=5",), **SMALL),
        tumor_table=table,
    )
    assert result.limits == ["retention_90d <= 5 %ID"]
    assert any(not t.feasible for t in result.trials)  # the limit binds: large particles stay in liver/spleen
    for p in result.pareto:
        trial = next(t for t in result.trials if t.number == p.trial)
        assert trial.feasible and trial.values["retention_90d"] <= 5.0


def test_human_effective_dose_objective(cdot: AgentSpec, table: TumorParameterTable) -> None:
    human = load_example_scenario("human_tumor")
    result = run_design(
        cdot, human, ["DE24", "dose"], settings=DesignSettings(seed=1, **SMALL), tumor_table=table
    )
    assert [o.key for o in result.objectives] == ["DE24", "effective_dose"]
    assert result.objective("effective_dose").unit == "mSv/MBq"
    # the C dot's own effective dose as `nanobridge dose` computes it (README: 0.0906 mSv/MBq)
    assert result.baseline["effective_dose"] == pytest.approx(0.0906, rel=0.02)
    doses = [p.values["effective_dose"] for p in result.pareto]
    assert len(doses) >= 3 and all(0 < d < 10 for d in doses)
    # a renally cleared design carries less dose than one retained in the liver (124I, T1/2 4.2 d)
    by_size = sorted(result.pareto, key=lambda p: p.design["hydrodynamic_diameter_nm"])
    assert by_size[0].values["effective_dose"] < 0.5 * by_size[-1].values["effective_dose"]


class _SizePredictor:
    """A stand-in delivery model: DE24 falls with size, a ±50 % interval."""

    def __call__(self, designs: Sequence[AgentSpec], scenario: Scenario) -> pd.DataFrame:
        de = np.array([5.0 / (1.0 + d.hydrodynamic_diameter_nm / 50.0) for d in designs])
        return pd.DataFrame({"DE24": de, "DE24_lo": 0.5 * de, "DE24_hi": 1.5 * de})


def test_delivery_predictor_plugs_in(cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable) -> None:
    predictor = _SizePredictor()
    assert isinstance(predictor, inv.DeliveryPredictor)
    result = run_design(
        cdot,
        mouse,
        ["pred_DE24", "retention_90d"],
        settings=DesignSettings(seed=2, **SMALL),
        tumor_table=table,
        delivery_predictor=predictor,
    )
    for p in result.pareto:
        de = 5.0 / (1.0 + p.design["hydrodynamic_diameter_nm"] / 50.0)
        assert p.values["pred_DE24"] == pytest.approx(de)
        band = p.bands["pred_DE24"]
        assert (band.p5, band.p50, band.p95) == pytest.approx((0.5 * de, de, 1.5 * de))
    with pytest.raises(ValueError, match="need a delivery predictor"):
        run_design(cdot, mouse, ["pred_DE24"], settings=DesignSettings(**SMALL), tumor_table=table)

    def inverted(designs: Sequence[AgentSpec], scenario: Scenario) -> pd.DataFrame:
        return pd.DataFrame(
            {"DE24": [1.0] * len(designs), "DE24_lo": [2.0] * len(designs), "DE24_hi": [3.0] * len(designs)}
        )

    with pytest.raises(ValueError, match="need lo <= value <= hi"):
        run_design(
            cdot,
            mouse,
            ["pred_DE24"],
            settings=DesignSettings(**SMALL),
            tumor_table=table,
            delivery_predictor=inverted,
        )


def test_tumor_parameter_predictor_replaces_group_medians(
    cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable
) -> None:
    def high_uptake(designs: Sequence[AgentSpec], scenario: Scenario) -> list[dict[str, float]]:
        return [{"KTRESmax": 2.0, "PATC": 0.05} for _ in designs]

    space = design_space(cdot, ["DE24"], species="mouse")
    ev = inv._Evaluator(cdot, mouse, space, ["DE24"], DesignSettings(), table, None, high_uptake)
    params = ev.nominal([cdot])[0][0]
    assert params["KTRESmax"] == pytest.approx(2.0) and params["PATC"] == pytest.approx(0.05)
    plain = inv._Evaluator(cdot, mouse, space, ["DE24"], DesignSettings(), table, None, None)
    assert ev.evaluate_agents([cdot])["DE24"][0] > 2 * plain.evaluate_agents([cdot])["DE24"][0]


def test_run_design_rejects_bad_input(cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable) -> None:
    with pytest.raises(ValueError, match="at least one"):
        run_design(cdot, mouse, [], tumor_table=table)
    with pytest.raises(ValueError, match="same objective twice"):
        run_design(cdot, mouse, ["DE24", "delivery"], tumor_table=table)
    with pytest.raises(ValueError, match="effective dose"):
        run_design(cdot, mouse, ["effective_dose"], tumor_table=table)
    with pytest.raises(ValueError, match="needs a tumour"):
        run_design(cdot, mouse.evolve(tumor=None), ["DE24"], tumor_table=table)


def test_pareto_figure_has_error_bars(
    renal_run: inv.DesignResult, cdot: AgentSpec, mouse: Scenario, table: TumorParameterTable
) -> None:
    fig = pareto_figure(renal_run)
    pareto_traces = [t for t in fig.data if t.name and t.name.startswith("Pareto designs: median")]
    assert len(pareto_traces) == 1
    tr = pareto_traces[0]
    assert len(tr.x) == len(renal_run.pareto)
    assert all(v >= 0 for v in tr.error_y.array) and all(v >= 0 for v in tr.error_y.arrayminus)
    three = run_design(
        cdot,
        mouse,
        ["DE24", "retention_90d", "tbr"],
        settings=DesignSettings(seed=1, **SMALL),
        tumor_table=table,
    )
    fig3 = pareto_figure(three)
    panels = [t for t in fig3.data if t.name and t.name.startswith("Pareto designs: median")]
    assert len(panels) == 3  # every pair of three objectives
    assert math.isfinite(three.timings_s["total"])
