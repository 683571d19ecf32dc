"""Personalization: TAC reading with declared units, recovery of known parameters, predictions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nanobridge.domain import load_example_agent
from nanobridge.science.imaging.nuclear import half_life_h
from nanobridge.science.pbpk.engine import agent_parameters
from nanobridge.science.population.fitting import (
    TimeActivityCurves,
    _Predictor,
    default_fit_parameters,
    fit_tac,
    predict_individual,
    read_tac_csv,
    write_tac_csv,
)
from nanobridge.workflows.assessment import default_scenario

TIMES_H = np.array([0.5, 1, 2, 4, 8, 24, 48, 72, 120, 168.0])
ROIS = ("blood", "liver", "spleen", "kidney", "tumor", "muscle")
NAMES = ["PATC", "KTRESmax", "KLRESmax", "KSRESmax"]
TRUE_MULT = np.array([2.0, 0.5, 1.5, 0.7])


def _synthetic(noise_cv: float, seed: int) -> TimeActivityCurves:
    agent, scenario = load_example_agent("cdot_pet_optical"), default_scenario("mouse")
    ap = agent_parameters(agent, scenario)
    pred = _Predictor(ap.params, ap.body_weight_kg, ap.renal_clearance_L_per_h, NAMES, 1e-6)
    c = pred.conc(np.log(TRUE_MULT)[None], TIMES_H, ROIS)[0]
    rng = np.random.default_rng(seed)
    return TimeActivityCurves(TIMES_H, ROIS, c * np.exp(noise_cv * rng.standard_normal(c.shape)))


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    tac = _synthetic(0.10, seed=1)
    agent, scenario = load_example_agent("cdot_pet_optical"), default_scenario("mouse")
    return tac, fit_tac(tac, agent, scenario, parameters=NAMES, n_samples=300, seed=2)


def test_fit_recovers_known_parameters_from_noisy_curves(fitted) -> None:  # type: ignore[no-untyped-def]
    _, fit = fitted
    assert fit.converged
    est = fit.parameters.loc[NAMES, "multiplier"].to_numpy()
    se = fit.parameters.loc[NAMES, "se_log"].to_numpy()
    z = np.abs(np.log(est) - np.log(TRUE_MULT)) / se
    assert np.all(z < 3.0), dict(zip(NAMES, z, strict=True))
    # the well-informed ones are close in absolute terms too
    assert est[1] == pytest.approx(0.5, rel=0.15) and est[3] == pytest.approx(0.7, rel=0.15)
    assert fit.sigma_log == pytest.approx(0.10, rel=0.3)  # the noise that was added
    lo, hi = fit.parameters["ci5"], fit.parameters["ci95"]
    assert np.all(lo < fit.parameters["estimate"]) and np.all(fit.parameters["estimate"] < hi)
    assert fit.samples_log.shape == (300, 4)
    assert "Tierney1986_Laplace" in fit.citations


def test_prediction_gives_a_window_and_the_sister_delivery(fitted) -> None:  # type: ignore[no-untyped-def]
    _, fit = fitted
    scenario = default_scenario("mouse").evolve(duration_h=72.0)
    pred = predict_individual(
        fit, load_example_agent("cdot_pet_optical"), scenario, sister=load_example_agent("gold_peg_100nm")
    )
    b5, b50, b95 = pred.best_time_h
    assert 1.0 <= b5 <= b50 <= b95 <= 72.0
    assert pred.window_h[0] <= b50 <= pred.window_h[1]
    assert pred.criterion == "cnr" and {"cnr_p50", "p_detectable"} <= set(pred.contrast.columns)
    assert pred.sister is not None and pred.sister_name == "PEG-gold 100 nm"
    # the 100 nm sister particle stays in blood and reaches the tumour far more than the renal C dot
    sister_de24 = pred.sister["p50"].to_numpy(dtype=float)[list(pred.sister.index).index("DE24_pct_id")]
    own_de24 = pred.imaging_agent["p50"].to_numpy(dtype=float)[
        list(pred.imaging_agent.index).index("DE24_pct_id")
    ]
    assert sister_de24 > 10 * own_de24
    assert any("Companion assumption" in a for a in pred.assumptions)


def test_mcmc_agrees_with_laplace(fitted) -> None:  # type: ignore[no-untyped-def]
    tac, lap = fitted
    agent, scenario = load_example_agent("cdot_pet_optical"), default_scenario("mouse")
    mc = fit_tac(
        tac,
        agent,
        scenario,
        parameters=["KTRESmax", "KSRESmax"],
        method="mcmc",
        chains=8,
        mcmc_steps=80,
        n_samples=200,
        seed=3,
    )
    assert 0.05 < mc.diagnostics["acceptance_rate"] < 0.9
    for name in ("KTRESmax", "KSRESmax"):
        assert np.median(np.exp(mc.samples_log[:, mc.names.index(name)])) == pytest.approx(
            lap.parameters.loc[name, "multiplier"], rel=0.25
        )


def test_tac_csv_units_and_decay_correction(tmp_path: Path) -> None:
    p = tmp_path / "tac.csv"
    times = np.array([1.0, 24.0, 72.0])
    lam = math.log(2) / half_life_h("89Zr")
    kbq = np.array([50.0, 20.0, 5.0])  # not decay-corrected, 185 MBq injected
    p.write_text(
        "# PET ROI means\ntime_min,Tumour_kBq_per_mL,liver_pct_id_per_g\n"
        + "\n".join(f"{t * 60:g},{k:g},{v:g}" for t, k, v in zip(times, kbq, [1, 2, 3], strict=True))
    )
    tac = read_tac_csv(p, activity_MBq=185.0, nuclide="89Zr", decay_corrected=False)
    assert tac.rois == ("tumor", "liver")
    assert np.allclose(tac.times_h, times)
    assert np.allclose(tac.values_pct_id_per_g[:, 0], kbq / 185e3 * 100 * np.exp(lam * times))
    assert tac.source_units == {"tumor": "kBq/mL", "liver": "%ID/g"}
    with pytest.raises(ValueError, match="activity_MBq"):
        read_tac_csv(p)
    with pytest.raises(ValueError, match="nuclide"):
        read_tac_csv(p, activity_MBq=185.0, decay_corrected=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("time_h,tumor\n1,2\n")
    with pytest.raises(ValueError, match="has no unit"):
        read_tac_csv(bad)
    bad.write_text("time_h,pancreas_pct_id_per_g\n1,2\n")
    with pytest.raises(ValueError, match="unknown ROI"):
        read_tac_csv(bad)
    bad.write_text("tumor_pct_id_per_g\n2\n")
    with pytest.raises(ValueError, match="time column"):
        read_tac_csv(bad)
    out = write_tac_csv(tac, tmp_path / "round.csv")
    assert np.allclose(read_tac_csv(out).values_pct_id_per_g, tac.values_pct_id_per_g, rtol=1e-5)


def test_fit_input_errors_and_defaults() -> None:
    assert default_fit_parameters(["blood", "tumor", "liver"]) == ["PATC", "KTRESmax", "KLRESmax"]
    tac = TimeActivityCurves(np.array([1.0, 2.0]), ("tumor",), np.array([[1.0], [2.0]]))
    agent, scenario = load_example_agent("gold_peg_100nm"), default_scenario("mouse")
    with pytest.raises(ValueError, match="positive observations"):
        fit_tac(tac, agent, scenario)
    with pytest.raises(ValueError, match="unknown fit parameter"):
        fit_tac(tac, agent, scenario, parameters=["VLC"])
