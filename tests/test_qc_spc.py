"""I-MR charts, Nelson / Western Electric rules and process capability (nanobridge.science.qc.spc)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from nanobridge.domain.batch import attribute_series, load_batches, load_specification
from nanobridge.science.qc.errors import QCInputError
from nanobridge.science.qc.plots import capability_figure, imr_figure
from nanobridge.science.qc.spc import (
    ControlLimits,
    capability,
    detect_rule_violations,
    imr_chart,
    imr_limits,
    resolve_rules,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "nanobridge" / "data" / "examples" / "qc"

#: Unit limits: centre 0, sigma 1 (zones at ±1, ±2, ±3) for constructed rule series.
UNIT = ControlLimits(
    center=0.0, sigma=1.0, lcl=-3.0, ucl=3.0, mr_center=1.128, mr_lcl=0.0, mr_ucl=3.685, n_baseline=0
)


def fired(values: list[float], rules: str | list[str] = "nelson") -> set[str]:
    return {v.rule for v in detect_rule_violations(values, UNIT, rules)}


# ---- limits ---------------------------------------------------------------------------------


def test_imr_limits_by_hand() -> None:
    x = [10, 12, 11, 13, 12, 11, 10, 12, 14, 13]
    # by hand: mean 118/10; moving ranges 2,1,2,1,1,1,2,2,1 -> MRbar 13/9
    mean = 11.8
    mr_bar = 13 / 9
    sigma = mr_bar / 1.128
    lim = imr_limits(x)
    assert lim.center == pytest.approx(mean)
    assert lim.mr_center == pytest.approx(mr_bar)
    assert lim.sigma == pytest.approx(1.280535855, rel=1e-9)
    assert lim.ucl == pytest.approx(mean + 3 * sigma) and lim.ucl == pytest.approx(15.6416076, rel=1e-8)
    assert lim.lcl == pytest.approx(7.9583924, rel=1e-8)
    assert lim.mr_ucl == pytest.approx(3.267 * mr_bar) and lim.mr_ucl == pytest.approx(4.719, rel=1e-9)
    assert lim.mr_lcl == 0.0
    chart = imr_chart(x, [f"B{i}" for i in range(10)])
    assert chart.phase == "I" and chart.in_control
    assert chart.moving_ranges == pytest.approx((2, 1, 2, 1, 1, 1, 2, 2, 1))


def test_limit_errors() -> None:
    with pytest.raises(QCInputError, match="at least 2"):
        imr_limits([1.0])
    with pytest.raises(QCInputError, match="identical"):
        imr_limits([5.0, 5.0, 5.0])
    with pytest.raises(QCInputError, match="finite"):
        imr_limits([1.0, float("nan")])
    with pytest.raises(QCInputError, match="labels"):
        imr_chart([1.0, 2.0, 3.0], ["a"])
    with pytest.raises(QCInputError, match="unknown control-chart rule"):
        resolve_rules(["N9"])


def test_rule_selection() -> None:
    assert resolve_rules("nelson") == ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8")
    assert resolve_rules("Western Electric") == ("WE1", "WE2", "WE3", "WE4")
    assert resolve_rules(["nelson1", "n2", "WE4", "N1"]) == ("N1", "N2", "WE4")


# ---- each rule on a constructed series, and not on an in-control one -------------------------

IN_CONTROL = [0.3, -0.6, 0.9, -0.2, 0.4, -1.1, 0.5, 0.2, -0.4, 0.8, -0.7, 0.1, 1.2, -0.3]

CONSTRUCTED: dict[str, list[float]] = {
    "N1": [0.2, -0.4, 0.5, 3.4, 0.1, -0.3],
    "N2": [-0.5, 0.5, 0.3, 0.6, 0.2, 0.4, 0.7, 0.1, 0.5, 0.3, -0.4],
    "N3": [-0.5, -0.3, -0.1, 0.1, 0.3, 0.5, 0.2],
    "N4": [0.2, -0.2] * 7,
    "N5": [0.1, 2.5, 0.5, 2.4, -0.2],
    "N6": [0.1, 1.5, 1.4, 0.5, 1.6, 1.3, -0.2],
    "N7": [0.1 * v for v in (1, 2, -1, -2, 1, 2, -1, -2, 1, 2, -1, -2, 1, 2, -1)],
    "N8": [1.5, -1.5] * 4,
    "WE4": [-0.5, 0.5, 0.3, 0.6, 0.2, 0.4, 0.7, 0.1, 0.5, -0.4],
}


@pytest.mark.parametrize("rule", sorted(CONSTRUCTED))
def test_each_rule_fires_on_its_pattern_only(rule: str) -> None:
    family = "western_electric" if rule.startswith("WE") else "nelson"
    assert fired(CONSTRUCTED[rule], family) == {rule}
    assert fired(IN_CONTROL, family) == set()


def test_western_electric_zone_rules_match_nelson() -> None:
    assert fired(CONSTRUCTED["N1"], "western_electric") == {"WE1"}
    assert fired(CONSTRUCTED["N5"], "western_electric") == {"WE2"}
    assert fired(CONSTRUCTED["N6"], "western_electric") == {"WE3"}


def test_violation_names_points_and_reason() -> None:
    labels = [f"L{i}" for i in range(len(CONSTRUCTED["N3"]))]
    (v,) = detect_rule_violations(CONSTRUCTED["N3"], UNIT, ["N3"], labels=labels)
    assert v.points == (0, 1, 2, 3, 4, 5) and v.signal_points == (5,)
    assert v.labels[0] == "L0" and "increasing" in v.explanation and "L0–L5" in v.explanation
    (n1,) = detect_rule_violations(CONSTRUCTED["N1"], UNIT, ["N1"], labels=labels[:6])
    assert n1.points == (3,) and n1.side == "above" and "above the UCL" in n1.explanation


def test_point_on_centre_line_breaks_a_run_and_boundary_is_not_beyond() -> None:
    series = [0.5] * 4 + [0.0] + [0.5] * 4
    assert "N2" not in fired(series)
    assert fired([0.0, 3.0, 0.0]) == set()  # exactly on the 3-sigma line
    assert fired([0.0, 3.0001, 0.0]) == {"N1"}


def test_moving_range_rule() -> None:
    chart = imr_chart([0.0, 0.1, 0.0, 0.1, 0.0, 0.1, 2.0, 2.1], include_mr=True, rules=["N1"])
    mr = [v for v in chart.violations if v.chart == "MR"]
    assert mr and mr[0].points == (5, 6)


def test_phase_two_monitors_new_points_against_fixed_limits() -> None:
    base = [10.0, 10.4, 9.8, 10.1, 9.7, 10.3, 10.0, 9.9, 10.2, 10.1]
    drift = [10.3, 10.5, 10.7, 10.9, 11.1, 11.3]
    chart = imr_chart(base + drift, baseline=len(base))
    assert chart.phase == "II" and chart.n_baseline == 10
    assert chart.limits == imr_limits(base)
    assert not any(v.in_baseline for v in chart.violations)
    assert {"N1", "N3"} <= {v.rule for v in chart.violations}
    assert chart.warnings and "provisional" in chart.warnings[0]
    assert chart.violations_at(-1)
    fixed = imr_chart(drift, limits=imr_limits(base))
    assert fixed.phase == "II" and "N1" in {v.rule for v in fixed.violations}


# ---- properties -----------------------------------------------------------------------------

series_strategy = st.lists(st.integers(-20, 20), min_size=3, max_size=40).filter(lambda xs: len(set(xs)) > 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series_strategy, st.floats(-1e4, 1e4, allow_nan=False))
def test_constant_shift_does_not_change_which_rules_fire(xs: list[int], shift: float) -> None:
    x = np.asarray(xs, dtype=float)
    assume(np.abs(np.diff(x)).mean() > 0)
    a = imr_chart(x, rules="all")
    b = imr_chart(x + shift, rules="all")
    assert [(v.rule, v.points) for v in a.violations] == [(v.rule, v.points) for v in b.violations]
    assert b.limits.center == pytest.approx(a.limits.center + shift, abs=1e-9 * (1 + abs(shift)))
    assert b.limits.sigma == pytest.approx(a.limits.sigma, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(series_strategy, st.floats(1e-3, 1e3))
def test_scaling_the_data_scales_the_limits(xs: list[int], factor: float) -> None:
    x = np.asarray(xs, dtype=float)
    a = imr_chart(x, rules="all")
    b = imr_chart(x * factor, rules="all")
    for name in ("center", "sigma", "ucl", "lcl", "mr_center", "mr_ucl"):
        assert getattr(b.limits, name) == pytest.approx(factor * getattr(a.limits, name), rel=1e-9, abs=1e-12)
    assert [(v.rule, v.points) for v in a.violations] == [(v.rule, v.points) for v in b.violations]


# ---- capability -----------------------------------------------------------------------------


def test_capability_known_values() -> None:
    x = [10.0, 11.0] * 5  # MR = 1 everywhere -> sigma_within = 1/1.128; mean 10.5
    sigma_w = 1 / 1.128
    sd = math.sqrt(10 * 0.25 / 9)
    res = capability(x, lsl=7.0, usl=14.0)
    assert res.sigma_within == pytest.approx(sigma_w)
    assert res.sigma_overall == pytest.approx(sd)
    assert res.cp is not None and res.cp.value == pytest.approx(7 / (6 * sigma_w))  # 1.316
    assert res.cpk.value == pytest.approx(3.5 / (3 * sigma_w))
    assert res.pp is not None and res.pp.value == pytest.approx(7 / (6 * sd))
    off = capability(x, lsl=8.0, usl=14.0)
    assert off.cpk.value == pytest.approx(2.5 / (3 * sigma_w))  # 0.94, the near side
    one_sided = capability(x, usl=12.0)
    assert one_sided.cp is None and one_sided.pp is None
    assert one_sided.cpk.value == pytest.approx(1.5 / (3 * sigma_w))
    # intervals: chi-square for Cp/Pp, Bissell for Cpk
    n = 10
    assert res.pp.lower == pytest.approx(res.pp.value * math.sqrt(stats.chi2.ppf(0.025, n - 1) / (n - 1)))
    se = math.sqrt(1 / (9 * n) + res.cpk.value**2 / (2 * (n - 1)))
    assert res.cpk.upper == pytest.approx(res.cpk.value + stats.norm.ppf(0.975) * se)
    assert any("only 10 values" in w for w in res.warnings)


def test_capability_ci_coverage_is_near_nominal() -> None:
    rng = np.random.default_rng(7)
    lsl, usl = -3.0, 4.0  # true Ppk = 1.0, true Pp = 7/6 for N(0, 1)
    runs = 300
    cover_ppk = cover_pp = 0
    for _ in range(runs):
        res = capability(rng.standard_normal(50), lsl, usl)
        assert res.pp is not None
        cover_ppk += res.ppk.lower <= 1.0 <= res.ppk.upper
        cover_pp += res.pp.lower <= 7 / 6 <= res.pp.upper
    assert 0.88 <= cover_ppk / runs <= 0.99
    assert 0.90 <= cover_pp / runs <= 0.99


def test_capability_warns_on_non_normal_and_unstable_data() -> None:
    rng = np.random.default_rng(3)
    skewed = rng.exponential(1.0, 80)
    res = capability(skewed, usl=8.0)
    assert res.shapiro_p is not None and res.shapiro_p < 0.05
    assert any("normality rejected" in w for w in res.warnings)
    drifting = np.linspace(0, 3, 40) + rng.normal(0, 0.1, 40)
    assert capability(drifting, -1.0, 5.0).stable is False


def test_capability_errors() -> None:
    with pytest.raises(QCInputError, match="at least one specification limit"):
        capability([1.0, 2.0, 3.0])
    with pytest.raises(QCInputError, match="below usl"):
        capability([1.0, 2.0, 3.0], 5.0, 4.0)
    with pytest.raises(QCInputError, match="at least 3"):
        capability([1.0, 2.0], 0.0, 5.0)


# ---- the example lot history, and plots -----------------------------------------------------


def example_series(attribute: str) -> tuple[list[str], list[float], str]:
    spec = load_specification(EXAMPLES / "specifications.yaml")
    batches = load_batches(EXAMPLES / "lot_history.csv", spec)
    unit = spec.get(attribute).unit  # type: ignore[union-attr]
    s = attribute_series(batches, attribute, unit)
    return list(s.labels), list(s.values), unit


def test_example_lab_lots_in_control_scale_up_drift_signals() -> None:
    labels, values, unit = example_series("z_average")
    lab = imr_chart(values[:12], labels[:12], attribute="z_average", unit=unit)
    assert lab.in_control, lab.summary()
    chart = imr_chart(values, labels, baseline=12, attribute="z_average", unit=unit)
    rules = {v.rule for v in chart.violations}
    assert {"N1", "N3"} <= rules
    assert all(v.labels[-1].startswith("S") for v in chart.violations)
    _, pdi, _ = example_series("pdi")
    assert imr_chart(pdi[:12]).in_control
    assert "N1" in {v.rule for v in imr_chart(pdi, baseline=12).violations}


def test_plots_build() -> None:
    labels, values, unit = example_series("z_average")
    chart = imr_chart(values, labels, baseline=12, attribute="z_average", unit=unit)
    fig = imr_figure(chart)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert "rule signal" in names
    assert len(fig.layout.shapes) >= 9  # 7 I-chart lines, 2 MR lines, baseline split
    cap = capability(values[:12], 5.5, 8.0, attribute="z_average", unit=unit)
    cfig = capability_figure(values[:12], cap)
    assert isinstance(cfig, go.Figure) and len(cfig.data) == 3
    with pytest.raises(QCInputError):
        capability_figure(values, cap)
