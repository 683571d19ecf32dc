"""Virtual-population sampling reproduces its sources (means, SDs, correlations) and its design."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import yaml

from nanobridge.citations import get_reference
from nanobridge.domain import load_example_agent
from nanobridge.science.pbpk.engine import agent_parameters
from nanobridge.science.population.covariates import (
    BLOCK_SIZE,
    COVARIATE_UNITS,
    UNCERTAINTY_GROUPS,
    NominalSubject,
    individual_parameters,
    nominal_subject,
    sample_subjects,
    sample_uncertainty,
)
from nanobridge.science.population.models import (
    POPULATION_SPECIES,
    PopulationModelError,
    _parse,
    load_population_model,
)
from nanobridge.workflows.assessment import default_scenario

N = 40_000


def _nominal(species: str) -> NominalSubject:
    ap = agent_parameters(load_example_agent("gold_peg_100nm"), default_scenario(species))
    return nominal_subject(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h)


@pytest.fixture(scope="module")
def human() -> pd.DataFrame:
    return sample_subjects(load_population_model("human"), _nominal("human"), 0, N, seed=11)


@pytest.fixture(scope="module")
def mouse() -> pd.DataFrame:
    return sample_subjects(load_population_model("mouse"), _nominal("mouse"), 0, N, seed=12)


def test_every_value_is_cited_and_assumed_ones_say_so() -> None:
    for species in POPULATION_SPECIES:
        model = load_population_model(species)
        assert model.species == species
        for key in model:
            entry = model.entry(key)
            get_reference(entry.citation)  # raises for an unknown key
            assert entry.unit, key
            if entry.citation == "Assumed":
                assert entry.assumed, key
            if entry.assumed and entry.citation != "Assumed":
                assert entry.note, f"{key}: a value derived from a source says how in a note"
        assert set(model.assumed_keys()) >= {k for k in model if model.entry(k).citation == "Assumed"}


def test_a_malformed_model_names_the_problem() -> None:
    with pytest.raises(PopulationModelError, match="citation"):
        _parse("x.yaml", {"species": "mouse", "parameters": {"a": {"value": 1.0, "unit": "1"}}})
    with pytest.raises(PopulationModelError, match="Assumed but is not marked"):
        _parse(
            "x.yaml",
            {"species": "mouse", "parameters": {"a": {"value": 1, "unit": "1", "citation": "Assumed"}}},
        )
    with pytest.raises(ValueError, match="allowed: mouse, rat, human"):
        load_population_model("dog")


def test_human_height_and_bmi_reproduce_nhanes_by_sex(human: pd.DataFrame) -> None:
    model = load_population_model("human")
    for sex, flag in (("male", 1.0), ("female", 0.0)):
        sub = human[human["sex_male"] == flag]
        assert abs(sub["height_cm"].mean() - model[f"height_mean_cm_{sex}"]) < 0.2
        assert abs(sub["height_cm"].std() - model[f"height_sd_cm_{sex}"]) < 0.15
        assert abs(sub["bmi_kg_per_m2"].mean() / model[f"bmi_mean_kg_per_m2_{sex}"] - 1) < 0.01
        assert abs(np.log(sub["bmi_kg_per_m2"]).std() - model[f"bmi_sd_log_{sex}"]) < 0.005
        # BMI independent of height (Keys 1972): correlation of height and ln BMI ~ 0
        assert abs(np.corrcoef(sub["height_cm"], np.log(sub["bmi_kg_per_m2"]))[0, 1]) < 0.02
    assert abs(human["sex_male"].mean() - model["male_fraction"]) < 0.01


def test_human_weight_matches_the_nhanes_mean_weight_it_was_not_given(human: pd.DataFrame) -> None:
    # NHANES 2015-2016 (Fryar 2018): mean weight 89.8 kg men, 77.4 kg women; the model only
    # knows height and BMI, so this is an independent check of weight = BMI x height^2.
    men = human[human["sex_male"] == 1.0]["body_weight_kg"].mean()
    women = human[human["sex_male"] == 0.0]["body_weight_kg"].mean()
    assert men == pytest.approx(89.8, rel=0.02)
    assert women == pytest.approx(77.4, rel=0.02)
    # weight and height correlate through BMI x height^2 (positively, moderately)
    r = np.corrcoef(human["height_cm"], human["body_weight_kg"])[0, 1]
    assert 0.3 < r < 0.7


def test_human_age_gfr_and_liver_follow_their_sources(human: pd.DataFrame) -> None:
    model = load_population_model("human")
    assert human["age_years"].between(model["age_min_years"], model["age_max_years"]).all()
    assert abs(human["age_years"].median() - model["age_mean_years"]) < 1.0
    # GFR indexed to 1.73 m2 by age band: 105 at 25, -4 per decade to 45, -8 per decade after
    indexed = human["gfr_mL_per_min"] * 1.73 / human["bsa_m2"]
    for lo, hi in ((60, 70), (75, 85)):
        band = human["age_years"].between(lo, hi)
        age = human.loc[band, "age_years"].mean()
        expected = 105.0 - 0.4 * 20.0 - 0.8 * (age - 45.0)
        got = np.exp(np.log(indexed[band]).mean()) * math.exp(0.5 * math.log1p(0.15**2))
        assert got == pytest.approx(expected, rel=0.03)
    assert (human["gfr_mL_per_min"] >= model["gfr_min_mL_per_min"]).all()
    # liver: Chouker 2004 regression for the elderly at the mean weight and age
    old = human[human["age_years"] > 50]
    expected = 1390 + 15.94 * old["body_weight_kg"].mean() - 12.86 * old["age_years"].mean()
    assert old["liver_mass_g"].mean() == pytest.approx(expected, rel=0.03)


def test_human_tumour_perfusion_reproduces_mantyla_1979(human: pd.DataFrame) -> None:
    x = human["tumor_perfusion_mL_per_min_per_g"]
    assert x.mean() == pytest.approx(0.228, rel=0.03)
    assert x.std() == pytest.approx(0.149, rel=0.06)
    assert human["tumor_volume_mL"].min() >= 0.52  # RECIST measurable lesion


def test_mouse_spreads_and_correlations_reproduce_the_nano_tumor_database(mouse: pd.DataFrame) -> None:
    db = pd.read_csv(str(resources.files("nanobridge") / "data" / "nano_tumor_db" / "datasets.csv"))
    src = db[["BW", "TW", "PATC", "KTRESmax"]].apply(np.log)
    model = load_population_model("mouse")
    # the YAML holds numbers computed from the packaged table: they must agree with it
    assert model["body_weight_sd_log"] == pytest.approx(src["BW"].std(), abs=5e-4)
    assert model["tumor_volume_sd_log"] == pytest.approx(src["TW"].std(), abs=5e-4)
    assert model["corr_log_body_weight_tumor_volume"] == pytest.approx(src.corr().loc["BW", "TW"], abs=1e-3)
    assert model["corr_tumor_permeability_phagocyte_uptake"] == pytest.approx(
        src.corr().loc["PATC", "KTRESmax"], abs=1e-3
    )
    assert model["tumor_permeability_sd_log"] == pytest.approx(src["PATC"].std() * math.sqrt(0.1), abs=1e-3)
    # and the sampler reproduces them (away from the tumour-size truncations)
    lbw = np.log(mouse["body_weight_kg"])
    assert lbw.std() == pytest.approx(model["body_weight_sd_log"], rel=0.02)
    assert np.exp(lbw.mean()) == pytest.approx(default_scenario("mouse").body_weight_kg, rel=0.01)
    ltv = np.log(mouse["tumor_volume_mL"])
    inside = (mouse["tumor_volume_mL"] > 0.006) & (
        mouse["tumor_volume_mL"] < 0.09 * mouse["body_weight_kg"] * 1000
    )
    assert np.corrcoef(lbw[inside], ltv[inside])[0, 1] == pytest.approx(0.266, abs=0.04)
    lp, lk = np.log(mouse["tumor_permeability_mult"]), np.log(mouse["tumor_phagocyte_uptake_mult"])
    assert np.corrcoef(lp, lk)[0, 1] == pytest.approx(0.214, abs=0.02)
    assert lp.std() == pytest.approx(model["tumor_permeability_sd_log"], rel=0.02)
    assert mouse["mps_uptake_mult"].mean() == pytest.approx(1.0, abs=0.01)
    assert mouse["mps_uptake_mult"].std() == pytest.approx(model["mps_uptake_cv"], rel=0.03)


def test_subjects_do_not_depend_on_the_chunking() -> None:
    model, nominal = load_population_model("rat"), _nominal("rat")
    whole = sample_subjects(model, nominal, 0, 3 * BLOCK_SIZE, seed=5)
    parts = pd.concat(
        [
            sample_subjects(model, nominal, s, n, seed=5)
            for s, n in ((0, 100), (100, 333), (433, 3 * BLOCK_SIZE - 433))
        ]
    )
    pd.testing.assert_frame_equal(whole, parts)
    assert list(whole.columns) == list(COVARIATE_UNITS)
    other = sample_subjects(model, nominal, 0, 10, seed=6)
    assert not np.allclose(other["body_weight_kg"], whole["body_weight_kg"].iloc[:10])


def test_uncertainty_is_one_level_above_variability() -> None:
    model = load_population_model("human")
    u = sample_uncertainty(model, 400, seed=3)
    assert list(u.columns) == list(UNCERTAINTY_GROUPS)
    assert np.log(u["u_tumor_permeability"]).std() == pytest.approx(
        model["uncertainty_tumor_sd_log"], rel=0.1
    )
    assert (sample_uncertainty(model, 1, seed=3).to_numpy() == 1.0).all()  # one draw: uncertainty off
    # subjects of one draw share its multiplier; their individual values still vary
    nominal = _nominal("human")
    cov = sample_subjects(model, nominal, 0, 200, seed=1)
    draws = pd.DataFrame([u.iloc[0]] * 200).reset_index(drop=True)
    ip = individual_parameters(nominal, cov.reset_index(drop=True), draws)
    ratio = ip.params["PATC"] / cov["tumor_permeability_mult"].to_numpy() / nominal.params["PATC"]
    assert np.allclose(ratio, u["u_tumor_permeability"].iloc[0])
    assert np.std(np.log(ip.params["PATC"])) > 0.5


def test_individual_parameters_map_covariates_to_the_model() -> None:
    nominal = _nominal("human")
    cov = sample_subjects(load_population_model("human"), nominal, 0, 300, seed=2).reset_index(drop=True)
    ip = individual_parameters(nominal, cov)
    bw = cov["body_weight_kg"].to_numpy()
    assert np.allclose(ip.body_weight_kg, bw)
    assert np.allclose(ip.params["VLC"] * bw * 1000, cov["liver_mass_g"])
    assert np.allclose(ip.params["VTC"] * bw * 1000, cov["tumor_volume_mL"])
    qc_mL_per_min = ip.params["QCC"] * bw**0.75 * 1000 / 60
    flow = ip.params["QTC"] * qc_mL_per_min
    assert np.allclose(flow / cov["tumor_volume_mL"], cov["tumor_perfusion_mL_per_min_per_g"])
    gfr_L_per_h = cov["gfr_mL_per_min"].to_numpy() * 0.06
    assert np.allclose(ip.renal_clearance_L_per_h, nominal.sieving_coefficient * gfr_L_per_h)


def test_population_yaml_files_parse_with_unique_keys() -> None:
    folder = resources.files("nanobridge") / "data" / "population"
    for species in POPULATION_SPECIES:
        data = yaml.safe_load((folder / f"{species}.yaml").read_text(encoding="utf-8"))
        assert data["species"] == species
