"""The PBPK model structure, engine and Biodistribution result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nanobridge.science.pbpk.biodistribution import TIDY_COLUMNS, Biodistribution
from nanobridge.science.pbpk.engine import output_times, simulate
from nanobridge.science.pbpk.model import (
    GROUP_OF_STATE,
    OUTPUT_GROUPS,
    STATE_NAMES,
    build_system,
    derived_volumes_and_flows,
)
from nanobridge.science.pbpk.parameters import load_parameter_set
from nanobridge.science.pbpk.solver import SolverOptions, solve_linear_batch


@pytest.fixture(scope="module")
def mouse() -> dict[str, float]:
    return dict(load_parameter_set("Cheng2020_mouse").as_dict())


def test_columns_of_system_matrix_sum_to_zero(mouse: dict[str, float]) -> None:
    """Every transfer leaves one compartment and enters another: mass is conserved."""
    system = build_system(mouse, 0.025, renal_clearance_L_per_h=0.01)
    for t in (0.0, 0.5, 24.0, 500.0):
        a = system.dense_matrix(0, t)
        assert np.abs(a.sum(axis=0)).max() < 1e-9 * np.abs(a).max()


def test_liver_returns_hepatic_artery_plus_splenic_flow(mouse: dict[str, float]) -> None:
    """The fix of the reference code: venous return equals cardiac output."""
    idx = {n: i for i, n in enumerate(STATE_NAMES)}
    d = derived_volumes_and_flows(mouse, 0.025)
    fixed = build_system(mouse, 0.025).dense_A0(0)
    ref = build_system(mouse, 0.025, reference_liver_return=True).dense_A0(0)
    out_fixed = fixed[idx["venous_plasma"], idx["liver_blood"]] * d["Vb_liver"][0]
    out_ref = ref[idx["venous_plasma"], idx["liver_blood"]] * d["Vb_liver"][0]
    assert out_fixed == pytest.approx(d["Q_liver"][0] + d["Q_spleen"][0], rel=1e-12)
    assert out_ref == pytest.approx(d["Q_liver"][0], rel=1e-12)
    # total flow into venous plasma [L/h] = cardiac output
    venous_in = 0.0
    for name, i in idx.items():
        if name.endswith("_blood") and name not in ("lung_blood", "spleen_blood"):
            organ = name[: -len("_blood")]
            venous_in += fixed[idx["venous_plasma"], i] * d[f"Vb_{organ}"][0]
    assert venous_in == pytest.approx(d["QC"][0], rel=1e-12)


def test_uptake_is_evaluated_in_continuous_time(mouse: dict[str, float]) -> None:
    """The result at a time does not depend on the output grid (it did in the reference code)."""
    coarse = simulate(mouse, 0.025, output_times(48.0, 6.0)).data["amount_pct_id"]
    fine = simulate(mouse, 0.025, output_times(48.0, 0.1)).data["amount_pct_id"]
    common = fine.sel(time=coarse["time"].values, method="nearest")
    np.testing.assert_allclose(coarse.values, common.values, rtol=2e-5, atol=1e-7)


def test_bolus_stays_in_blood_at_time_zero_and_distributes(mouse: dict[str, float]) -> None:
    bd = simulate(mouse, 0.025, output_times(168.0))
    blood = bd.amount("blood").values[0]
    assert blood[0] == pytest.approx(100.0)
    assert np.all(np.diff(blood) < 0)  # no re-entry source: blood declines monotonically
    liver = bd.amount("liver").values[0]
    assert liver[24] > 5.0  # the mononuclear phagocyte system takes up the particle
    assert bd.mass_balance_error() < 1e-6


def test_renal_clearance_moves_dose_to_urine(mouse: dict[str, float]) -> None:
    t = output_times(24.0)
    slow = simulate(mouse, 0.025, t).metrics()
    fast = simulate(mouse, 0.025, t, renal_clearance_L_per_h=0.3 * 0.06).metrics()
    assert float(fast["urine_pct_id"][0]) > 10 * float(slow["urine_pct_id"][0])
    assert float(fast["urine_pct_id"][0]) > 20.0


def test_batch_equals_individual_runs(mouse: dict[str, float]) -> None:
    rng = np.random.default_rng(3)
    n = 5
    batch = dict(mouse)
    batch["KTRESmax"] = rng.uniform(0.05, 2, n)
    batch["PATC"] = rng.uniform(1e-4, 0.05, n)
    bw = rng.uniform(0.018, 0.03, n)
    t = output_times(72.0)
    together = simulate(batch, bw, t).data["amount_pct_id"].values
    for s in range(n):
        single = dict(mouse, KTRESmax=batch["KTRESmax"][s], PATC=batch["PATC"][s])
        alone = simulate(single, bw[s], t).data["amount_pct_id"].values[0]
        np.testing.assert_allclose(together[s], alone, rtol=1e-12, atol=1e-14)


def test_metrics_match_the_curves(mouse: dict[str, float]) -> None:
    bd = simulate(mouse, 0.025, output_times(2160.0, 1.0))
    m = bd.metrics()
    tumor = bd.amount("tumor").values[0]
    assert float(m["DE24"][0]) == pytest.approx(tumor[24])
    assert float(m["DE168"][0]) == pytest.approx(tumor[168])
    assert float(m["DEmax"][0]) == pytest.approx(tumor.max())
    body = 100.0 - bd.amount("urine").values[0] - bd.amount("feces").values[0]
    assert float(m["retention_30d_pct_id"][0]) == pytest.approx(body[720], rel=1e-9)
    assert float(m["retention_90d_pct_id"][0]) == pytest.approx(body[2160], rel=1e-9)
    assert 0 < float(m["blood_t50_h"][0]) < 24
    blood = bd.amount("blood").values[0]
    slope = np.log(blood[168] / blood[24]) / 144.0  # two-point check of the fitted window
    assert float(m["blood_half_life_24_168h_h"][0]) == pytest.approx(np.log(2) / -slope, rel=0.3)
    assert m["DE24"].attrs["units"] == "%ID"


def test_short_run_has_no_168h_metric(mouse: dict[str, float]) -> None:
    m = simulate(mouse, 0.025, output_times(48.0)).metrics()
    assert np.isnan(float(m["DE168"][0]))
    assert np.isnan(float(m["retention_30d_pct_id"][0]))


def test_tidy_csv_and_netcdf_round_trip(mouse: dict[str, float], tmp_path: Path) -> None:
    bd = simulate(mouse, 0.025, output_times(12.0), dose_mg=0.1, attrs={"citations": ["Cheng2020"]})
    csv = bd.write(tmp_path / "bd.csv")
    df = pd.read_csv(csv)
    assert tuple(df.columns) == TIDY_COLUMNS
    assert len(df) == 13 * len(OUTPUT_GROUPS)
    assert df.loc[(df.time_h == 0) & (df.organ == "blood"), "amount_pct_id"].item() == pytest.approx(100.0)
    nc = bd.write(tmp_path / "bd.nc")
    back = Biodistribution.read_netcdf(nc)
    np.testing.assert_allclose(back.data["amount_pct_id"].values, bd.data["amount_pct_id"].values)
    assert float(back.data["amount_mg"].sel(organ="blood").isel(time=0)[0]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"\.csv .*\.nc"):
        bd.write(tmp_path / "bd.xlsx")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("QMC", 0.9, "nothing is left for the rest of body"),
        ("VTC", 0.6, "tumour too large"),
        ("BVL", 1.5, "BVL"),
        ("KTRES50", 0.0, "KTRES50"),
        ("PATC", -1.0, "PATC"),
        ("PT", float("nan"), "PT"),
    ],
)
def test_bad_parameters_are_named(mouse: dict[str, float], key: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_system(dict(mouse, **{key: value}), 0.025)


def test_missing_parameter_is_named(mouse: dict[str, float]) -> None:
    params = dict(mouse)
    del params["PALC"]
    with pytest.raises(KeyError, match="PALC"):
        build_system(params, 0.025)


def test_solver_rejects_bad_time_grid(mouse: dict[str, float]) -> None:
    system = build_system(mouse, 0.025)
    with pytest.raises(ValueError, match="strictly increasing"):
        solve_linear_batch(system, np.array([0.0, 2.0, 1.0]), GROUP_OF_STATE, len(OUTPUT_GROUPS))
    with pytest.raises(ValueError, match="rtol"):
        SolverOptions(rtol=0.0)
