"""Urinary bladder voiding model and the ICRP reference biokinetic models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanobridge.science.dosimetry import tiac
from nanobridge.science.dosimetry.bladder import bladder_contents_tiac, void_times
from nanobridge.science.dosimetry.reference import load_reference_models, reference_tiac
from nanobridge.science.dosimetry.tiac import URINARY_BLADDER_CONTENTS, tiac_from_coefficients
from nanobridge.science.pbpk.biodistribution import Biodistribution
from nanobridge.science.pbpk.model import OUTPUT_GROUPS

LAM_F18 = math.log(2) / (109.77 / 60)


def test_bolus_into_the_bladder_leaves_at_the_first_void() -> None:
    # everything excreted at once (U jumps to f right after t = 0): b(t) = f e^{-λt} until the void
    t = np.array([0.0, 1e-9, 48.0])
    u = np.array([0.0, 0.3, 0.3])
    for interval in (1.0, 3.5, 6.0):
        got = float(bladder_contents_tiac(t, u, LAM_F18, interval))
        assert got == pytest.approx(0.3 * (1 - math.exp(-LAM_F18 * interval)) / LAM_F18, rel=1e-6)


def test_no_voiding_equals_the_decayed_integral_of_the_urine_curve() -> None:
    # U = f (1 - e^{-kt}) and no voiding: exact f k / (λ (λ + k))
    f, k = 0.4, 0.7
    t = np.linspace(0.0, 80.0, 40001)
    got = float(bladder_contents_tiac(t, f * -np.expm1(-k * t), LAM_F18, None))
    assert got == pytest.approx(f * k / (LAM_F18 * (LAM_F18 + k)), rel=1e-6)


def test_exact_on_piecewise_linear_urine_with_a_coarse_grid() -> None:
    # linear U on [0, 2] then flat; voids at 1.5 and 3: compare with a fine numerical integral
    t = np.array([0.0, 2.0, 10.0])
    u = np.array([0.0, 0.2, 0.2])
    fine = np.linspace(0.0, 10.0, 400001)
    uf = np.interp(fine, t, u)
    emptied = np.where(fine >= 1.5, np.interp(1.5, t, u), 0.0)
    b = np.where(fine < 3.0, (uf - emptied) * np.exp(-LAM_F18 * fine), 0.0)
    expected = float(np.trapezoid(b, fine))
    assert float(bladder_contents_tiac(t, u, LAM_F18, 1.5)) == pytest.approx(expected, rel=5e-5)


def test_contents_left_at_the_last_time_wait_for_the_next_void() -> None:
    t = np.array([0.0, 1e-9, 2.0])
    u = np.array([0.0, 0.5, 0.5])
    got = float(bladder_contents_tiac(t, u, LAM_F18, 3.0))  # last time 2 h, first void 3 h
    assert got == pytest.approx(0.5 * (1 - math.exp(-3.0 * LAM_F18)) / LAM_F18, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    frac=st.floats(0.01, 1.0),
    k=st.floats(0.05, 5.0),
    a=st.floats(0.5, 8.0),
    b=st.floats(0.5, 8.0),
)
def test_longer_intervals_hold_more_and_never_exceed_no_voiding(
    frac: float, k: float, a: float, b: float
) -> None:
    t = np.linspace(0.0, 60.0, 3001)
    u = frac * -np.expm1(-k * t)
    short, long_ = sorted((a, b))
    never = float(bladder_contents_tiac(t, u, LAM_F18, None))
    ts = float(bladder_contents_tiac(t, u, LAM_F18, short))
    tl = float(bladder_contents_tiac(t, u, LAM_F18, long_))
    assert 0.0 <= ts <= never * (1 + 1e-9)
    assert tl <= never * (1 + 1e-9)
    # linear in the amount excreted
    assert float(bladder_contents_tiac(t, 0.5 * u, LAM_F18, short)) == pytest.approx(0.5 * ts, rel=1e-9)
    # a voiding interval that is a multiple of another empties at a subset of its times
    tm = float(bladder_contents_tiac(t, u, LAM_F18, 2 * short))
    assert ts <= tm * (1 + 1e-9)


def test_bad_inputs_name_the_problem() -> None:
    t = np.array([0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="must not decrease"):
        bladder_contents_tiac(t, np.array([0.0, 0.3, 0.2]), LAM_F18)
    with pytest.raises(ValueError, match="voiding interval"):
        bladder_contents_tiac(t, np.array([0.0, 0.1, 0.2]), LAM_F18, -1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        bladder_contents_tiac(np.array([0.0, 2.0, 1.0]), np.array([0.0, 0.1, 0.2]), LAM_F18)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bladder_contents_tiac(t, np.array([0.0, 0.1, 1.5]), LAM_F18)
    assert list(void_times(3.5, 10.0)) == [3.5, 7.0, 10.5]
    # the last void is never short of the end, whatever the rounding of k x interval
    for interval in (0.1, 0.7, 1.1, 2.9, 6.000000000000001, 5.999999999999999):
        assert void_times(interval, 60.0)[-1] >= 60.0


def test_pbpk_urine_becomes_a_bladder_source() -> None:
    times = np.linspace(0.0, 48.0, 193)
    frac = np.zeros((1, times.size, len(OUTPUT_GROUPS)))
    urine = 0.6 * -np.expm1(-times / 2.0)
    frac[0, :, OUTPUT_GROUPS.index("urine")] = urine
    frac[0, :, OUTPUT_GROUPS.index("rest_of_body")] = 1.0 - urine
    masses = np.full((1, len(OUTPUT_GROUPS)), 300.0)
    bd = Biodistribution.from_arrays(frac, times, masses, attrs={"species": "human"})
    res = tiac(bd, "18F")
    assert res.sources[-1] == URINARY_BLADDER_CONTENTS
    expected = bladder_contents_tiac(times, urine, LAM_F18, 3.5)
    assert float(res.tiac_h.sel(source=URINARY_BLADDER_CONTENTS)[0]) == pytest.approx(float(expected))
    assert float(res.source_mass_g.sel(source=URINARY_BLADDER_CONTENTS)[0]) == 0.0
    off = tiac(bd, "18F", urinary_bladder=False)
    assert URINARY_BLADDER_CONTENTS not in off.sources
    never = tiac(bd, "18F", voiding_interval_h=None)
    assert float(never.tiac_h.sel(source=URINARY_BLADDER_CONTENTS)[0]) > float(
        res.tiac_h.sel(source=URINARY_BLADDER_CONTENTS)[0]
    )


def test_icrp_fdg_model_reproduces_the_published_tiacs() -> None:
    """ICRP 106/128 FDG: brain 0.21, heart wall 0.11, lungs 0.079, liver 0.13, other tissues 1.7,
    bladder contents 0.26 h (3.5-h voiding) — the bladder value checks the voiding model."""
    model = load_reference_models()["fdg"]
    res = reference_tiac("fdg")
    for source, published in model.published.tiac_h.items():
        got = float(res.tiac_h.sel(source=source)[0])
        assert float(f"{got:.2g}") == pytest.approx(published), source  # equal to the printed digits
    assert "ICRP128" in res.citation_keys


def test_tiac_from_coefficients_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="liver"):
        tiac_from_coefficients("18F", {"liver": -1.0})
    with pytest.raises(ValueError, match="at least one"):
        tiac_from_coefficients("18F", {})
    with pytest.raises(ValueError, match="unknown reference"):
        reference_tiac("nope")


@pytest.mark.parametrize("interval_h", [2.4, 60 / 37, 60 / 41])
def test_a_void_falling_on_the_last_time_up_to_rounding(interval_h: float) -> None:
    """Regression: k x interval a hair below the last time (60/2.4 - 1 rounds up) once left no
    void at or after the end and raised IndexError."""
    t = np.linspace(0.0, 60.0, 3001)
    u = 0.3 * -np.expm1(-0.5 * t)
    got = float(bladder_contents_tiac(t, u, LAM_F18, interval_h))
    never = float(bladder_contents_tiac(t, u, LAM_F18, None))
    assert 0.0 < got < never
