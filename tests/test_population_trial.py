"""Virtual trials: chunk reduction, PET CNR consistency, streaming summaries, Sobol sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

from nanobridge.domain import load_example_agent
from nanobridge.science.imaging.nuclear import nuclear_imaging
from nanobridge.science.pbpk.engine import simulate
from nanobridge.science.population.covariates import individual_parameters, sample_subjects
from nanobridge.science.population.models import load_population_model
from nanobridge.science.population.sensitivity import factor_ranges, sobol_sensitivity
from nanobridge.science.population.trial import (
    StreamingSummary,
    TrialDesign,
    nuclear_cnr,
    prepare_trial,
    simulate_chunk,
    summarize_tables,
)
from nanobridge.workflows.assessment import default_scenario

DESIGN = TrialDesign(imaging_times_h=(1.0, 4.0, 24.0, 48.0))


@pytest.fixture(scope="module")
def cdot_mouse():  # type: ignore[no-untyped-def]
    scenario = default_scenario("mouse").evolve(duration_h=48.0)
    return prepare_trial(
        load_example_agent("cdot_pet_optical"), scenario, 300, design=DESIGN, uncertainty_draws=3, seed=4
    )


def test_a_chunk_is_one_row_of_metrics_per_subject(cdot_mouse) -> None:  # type: ignore[no-untyped-def]
    r = simulate_chunk(cdot_mouse, 100, 120)
    assert r.size == 120 and r.table["subject"][0] == 100
    for col in (
        "DE24_pct_id",
        "DEmax_pct_id",
        "tbr_24h",
        "cnr_4h",
        "detect_48h",
        "best_tbr",
        "dose_tumor_mGy_per_MBq",
        "body_weight_kg",
        "u_tumor_permeability",
    ):
        assert col in r.table and r.table[col].shape == (120,), col
    assert np.all(r.table["DEmax_pct_id"] >= r.table["DE24_pct_id"] - 1e-9)
    assert set(np.unique(r.table["draw"])) == {1.0, 2.0}  # subjects 100..219 of 300 in 3 blocks of 100
    # chunking does not change a subject
    again = simulate_chunk(cdot_mouse, 150, 10)
    assert np.allclose(again.table["DE24_pct_id"], r.table["DE24_pct_id"][50:60], rtol=1e-9)


def test_vectorized_cnr_equals_the_nuclear_module(cdot_mouse) -> None:  # type: ignore[no-untyped-def]
    ctx = cdot_mouse
    cov = sample_subjects(ctx.model, ctx.nominal, 0, 2, seed=ctx.seed).reset_index(drop=True)
    ip = individual_parameters(ctx.nominal, cov)
    bd = simulate(
        ip.params,
        ip.body_weight_kg,
        ctx.times_h,
        renal_clearance_L_per_h=ip.renal_clearance_L_per_h,
        attrs={"species": "mouse"},
    )
    conc = bd.data["conc_pct_id_per_g"]
    mass = ip.params["VTC"] * ip.body_weight_kg * 1000
    ours = nuclear_cnr(
        ctx.nuclear, conc.sel(organ="tumor").values, conc.sel(organ="muscle").values, mass, ctx.times_h, 10.0
    )
    for s in range(2):
        ref = nuclear_imaging(bd, ctx.agent, ctx.scenario, scanner=ctx.nuclear.scanner, subject=s)
        assert np.allclose(ours[s], ref.cnr, rtol=1e-9, equal_nan=True)


def test_without_activity_detection_falls_back_to_contrast() -> None:
    scenario = default_scenario("mouse").evolve(duration_h=24.0)
    ctx = prepare_trial(
        load_example_agent("gold_peg_100nm"),
        scenario,
        50,
        design=TrialDesign(imaging_times_h=(4.0, 24.0)),
        uncertainty_draws=1,
    )
    assert ctx.nuclear is None
    r = simulate_chunk(ctx, 0, 50)
    assert "cnr_24h" not in r.table
    assert np.array_equal(r.table["detect_24h"], (r.table["tbr_24h"] >= 1.5).astype(float))
    assert any("assumed criterion" in a for a in ctx.assumptions)


def test_bad_designs_name_the_field() -> None:
    with pytest.raises(ValueError, match="imaging_times_h"):
        TrialDesign(imaging_times_h=(0.0,))
    scenario = default_scenario("mouse").evolve(duration_h=24.0)
    with pytest.raises(ValueError, match="after the simulated"):
        prepare_trial(
            load_example_agent("gold_peg_100nm"), scenario, 10, design=TrialDesign(imaging_times_h=(48.0,))
        )
    with pytest.raises(ValueError, match="uncertainty_draws"):
        prepare_trial(
            load_example_agent("gold_peg_100nm"),
            scenario,
            10,
            uncertainty_draws=20,
            design=TrialDesign(imaging_times_h=(4.0,)),
        )


def test_streaming_summary_matches_exact_percentiles() -> None:
    rng = np.random.default_rng(0)
    tables = []
    for k in range(5):
        n = 4000
        tables.append(
            {
                "subject": np.arange(n) + k * n,
                "draw": np.repeat([0, 1], n // 2).astype(float),
                "x": rng.lognormal(-3, 1.2, n),
                "y": rng.normal(-2.0, 5.0, n),
                "flag": (rng.random(n) < 0.3) * 1.0,
            }
        )
    s = summarize_tables(tables, 2)
    allx = np.concatenate([t["x"] for t in tables])
    ally = np.concatenate([t["y"] for t in tables])
    for q, col in ((5, "p5"), (50, "p50"), (95, "p95")):
        assert s.metrics.loc["x", col] == pytest.approx(np.percentile(allx, q), rel=0.01)
        assert s.metrics.loc["y", col] == pytest.approx(np.percentile(ally, q), rel=0.02, abs=0.02)
    assert s.metrics.loc["flag", "mean"] == pytest.approx(
        np.mean(np.concatenate([t["flag"] for t in tables])), abs=1e-12
    )
    ui5, ui95 = s.metrics.loc["x", ["p50_ui5", "p50_ui95"]].to_numpy(dtype=float)
    assert ui5 <= ui95
    assert s.n_subjects == 20_000
    acc = StreamingSummary(2)
    acc.add(tables[0])
    assert acc.result().metrics.loc["x", "n"] == 4000


def test_sobol_ranks_the_tumour_phagocytes_for_late_contrast() -> None:
    scenario = default_scenario("mouse").evolve(duration_h=24.0)
    r = sobol_sensitivity(
        load_example_agent("gold_peg_100nm"),
        scenario,
        n_base=32,
        imaging_times_h=(24.0,),
        factors=["tumor_phagocyte_uptake", "tumor_permeability", "mps_uptake", "biliary_clearance"],
    )
    assert r.n_evaluations == 32 * 6
    top = r.ranking("ln_tbr_24h").iloc[0]
    assert top["factor"] == "tumor_phagocyte_uptake" and top["ST"] > 0.5
    assert r.ranking("ln_tbr_24h").iloc[-1]["ST"] < 0.05
    assert "Sobol2001" in r.citations and "Herman2017_SALib" in r.citations
    with pytest.raises(ValueError, match="power of 2"):
        sobol_sensitivity(load_example_agent("gold_peg_100nm"), scenario, n_base=30)
    with pytest.raises(ValueError, match="unknown sensitivity factor"):
        factor_ranges(load_population_model("mouse"), ["spleen"])
