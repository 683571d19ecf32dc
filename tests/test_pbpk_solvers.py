"""The batched numba solver against independent references; SBML export; mass balance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.science.pbpk.engine import TUMOR_PARAMETERS
from nanobridge.science.pbpk.model import GROUP_OF_STATE, OUTPUT_GROUPS, build_system
from nanobridge.science.pbpk.parameters import load_parameter_set
from nanobridge.science.pbpk.reference_solvers import RoadRunnerModel, group_states, simulate_scipy
from nanobridge.science.pbpk.sbml import consistency_errors, to_sbml, write_sbml
from nanobridge.science.pbpk.solver import SolverOptions, solve_linear_batch, symbolic_lu

DB = Path(__file__).resolve().parents[1].parent / "shared" / "validation" / "nano_tumor_db" / "datasets.csv"
T = np.arange(0.0, 169.0)
G = len(OUTPUT_GROUPS)


@pytest.fixture(scope="module")
def mouse() -> dict[str, float]:
    return dict(load_parameter_set("Cheng2020_mouse").as_dict())


def _rel_err(x: np.ndarray, ref: np.ndarray, floor: float = 1e-6) -> float:
    """Max relative error with a floor of 1e-6 of the dose in the denominator."""
    return float(np.max(np.abs(x - ref) / (np.abs(ref) + floor)))


def _tumor_rows(n: int) -> list[dict[str, float]]:
    if not DB.exists():
        return []
    db = pd.read_csv(DB).sample(n, random_state=7)
    return [{k: float(r[k]) for k in TUMOR_PARAMETERS} for _, r in db.iterrows()]


def test_numba_agrees_with_radau(mouse: dict[str, float]) -> None:
    cases = [dict(mouse), *[dict(mouse, **row) for row in _tumor_rows(4)]]
    for params in cases:
        system = build_system(params, 0.022, renal_clearance_L_per_h=0.002)
        ref = group_states(
            simulate_scipy(system, 0, T, method="Radau", rtol=1e-10, atol=1e-15), GROUP_OF_STATE, G
        )
        got, _ = solve_linear_batch(system, T, GROUP_OF_STATE, G, SolverOptions(rtol=1e-8, atol=1e-13))
        assert _rel_err(got[0], ref) < 1e-5


def test_looser_tolerance_stays_within_the_benchmark_bound(mouse: dict[str, float]) -> None:
    system = build_system(mouse, 0.02)
    ref = group_states(
        simulate_scipy(system, 0, T, method="Radau", rtol=1e-10, atol=1e-15), GROUP_OF_STATE, G
    )
    got, stats = solve_linear_batch(system, T, GROUP_OF_STATE, G, SolverOptions(rtol=1e-4, atol=1e-8))
    assert _rel_err(got[0], ref) < 1e-3
    assert stats.accepted_steps[0] < 200  # dense output: fewer steps than output samples


def test_sbml_is_valid_and_names_the_model(mouse: dict[str, float], tmp_path: Path) -> None:
    text = to_sbml(mouse, 0.025, 0.001)
    assert consistency_errors(text) == []
    for name in ("KTRESmax", "uptake_tumor", "k_liver_blood_to_venous_plasma", "venous_plasma"):
        assert f'"{name}"' in text
    path = write_sbml(tmp_path / "m.xml", mouse, 0.025)
    assert path.read_text(encoding="utf-8").startswith("<?xml")
    with pytest.raises(ValueError, match="dose"):
        to_sbml(mouse, 0.025, dose=0.0)


def test_roadrunner_runs_the_exported_model(mouse: dict[str, float]) -> None:
    pytest.importorskip("roadrunner")
    rr = RoadRunnerModel(to_sbml(mouse, 0.025, 0.001), rtol=1e-9, atol=1e-15)
    for params in [dict(mouse), *[dict(mouse, **row) for row in _tumor_rows(2)]]:
        system = build_system(params, 0.025, 0.001)
        ours, _ = solve_linear_batch(system, T, GROUP_OF_STATE, G, SolverOptions(rtol=1e-9, atol=1e-14))
        theirs = group_states(rr.simulate(system, 0, T), GROUP_OF_STATE, G)  # same instance, new parameters
        assert _rel_err(theirs, ours[0]) < 1e-4


_RATE_KEYS = (
    "KLRESmax",
    "KSRESmax",
    "KKRESmax",
    "KLuRESmax",
    "KMRESmax",
    "KRRESmax",
    "KTRESmax",
    "KTRESrelease",
)


@settings(max_examples=25, deadline=None)
@given(
    factors=st.lists(
        st.floats(min_value=-2.5, max_value=2.5), min_size=len(_RATE_KEYS), max_size=len(_RATE_KEYS)
    ),
    k50=st.floats(min_value=1e-5, max_value=180.0),
    n=st.floats(min_value=0.01, max_value=10.0),
    patc=st.floats(min_value=5e-6, max_value=0.9),
    pt=st.floats(min_value=2e-4, max_value=8.0),
    renal=st.floats(min_value=0.0, max_value=0.05),
)
def test_mass_balance_holds_to_1e_6_of_the_dose(
    factors: list[float], k50: float, n: float, patc: float, pt: float, renal: float
) -> None:
    """Over the ranges of the Nano-Tumor Database fits, total amount stays at the dose."""
    params = dict(load_parameter_set("Cheng2020_mouse").as_dict())
    for key, f in zip(_RATE_KEYS, factors, strict=True):
        params[key] = params[key] * float(np.exp(f))
    params.update(KTRES50=k50, KTRESn=n, PATC=patc, PT=pt)
    system = build_system(params, 0.02, renal)
    out, _ = solve_linear_batch(system, T, GROUP_OF_STATE, G, SolverOptions(rtol=1e-4, atol=1e-9))
    assert np.abs(out[0].sum(axis=1) - 1.0).max() < 1e-6
    assert out.min() > -1e-6


def test_symbolic_lu_reproduces_dense_factorization() -> None:
    rng = np.random.default_rng(0)
    n = 8
    a = np.eye(n) * 5 + (rng.random((n, n)) < 0.3) * rng.random((n, n))
    rows, cols = np.nonzero(a)
    sym = symbolic_lu(n, rows.astype(np.int64), cols.astype(np.int64))
    m = a.copy()
    for d in range(sym.div_i.size):
        i, k = sym.div_i[d], sym.div_k[d]
        m[i, k] /= m[k, k]
        for p in range(sym.upd_ptr[d], sym.upd_ptr[d + 1]):
            j = sym.upd_j[p]
            m[i, j] -= m[i, k] * m[k, j]
    lower = np.tril(m, -1) + np.eye(n)
    upper = np.triu(m)
    np.testing.assert_allclose(lower @ upper, a, atol=1e-12)
