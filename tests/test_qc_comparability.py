"""Scale-up comparability: TOST equivalence, quality ranges, descriptive tier, the report and
its plots (nanobridge.science.qc.comparability, .plots)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nanobridge.citations import collect_citations
from nanobridge.domain.batch import Batch, Specification, load_batches, load_specification
from nanobridge.science.qc.comparability import (
    compare_batches,
    descriptive_comparison,
    quality_range_test,
    tost_equivalence,
    tost_power,
)
from nanobridge.science.qc.errors import QCInputError
from nanobridge.science.qc.plots import comparability_figure, equivalence_figure

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "nanobridge" / "data" / "examples" / "qc"


def exact(n: int, mean: float, sd: float, seed: int = 0) -> np.ndarray:
    """n values with sample mean and SD exactly ``mean`` and ``sd``."""
    z = np.random.default_rng(seed).standard_normal(n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


# ---- tier 1: TOST ---------------------------------------------------------------------------


def test_tost_matches_a_hand_computation_and_scipy() -> None:
    ref = exact(12, 6.45, 0.12, seed=1)
    test = exact(8, 6.55, 0.15, seed=2)
    res = tost_equivalence(ref, test)
    a, b = 0.15**2 / 8, 0.12**2 / 12
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / 7 + b**2 / 11)
    t = stats.t.ppf(0.95, df)
    assert res.margin == pytest.approx(1.5 * 0.12)
    assert res.difference == pytest.approx(0.10)
    assert res.standard_error == pytest.approx(se) and res.df == pytest.approx(df)
    assert (res.ci_lower, res.ci_upper) == pytest.approx((0.10 - t * se, 0.10 + t * se))
    # each one-sided test equals Welch's one-sided t-test of the shifted data
    p_upper = stats.ttest_ind(test - res.margin, ref, equal_var=False, alternative="less").pvalue
    p_lower = stats.ttest_ind(test + res.margin, ref, equal_var=False, alternative="greater").pvalue
    assert res.p_upper == pytest.approx(p_upper) and res.p_lower == pytest.approx(p_lower)
    assert res.equivalent == (res.p_tost < 0.05)
    assert res.confidence == pytest.approx(0.90)


def test_equivalent_when_means_equal_and_n_large() -> None:
    res = tost_equivalence(exact(200, 10.0, 1.0, 1), exact(200, 10.0, 1.0, 2))
    assert res.equivalent and res.difference == pytest.approx(0.0, abs=1e-12)
    assert res.power_at_zero_difference > 0.99 and not res.warnings


def test_not_equivalent_when_difference_exceeds_margin() -> None:
    res = tost_equivalence(exact(50, 10.0, 1.0, 1), exact(50, 12.0, 1.0, 2))
    assert not res.equivalent and res.difference > res.margin
    assert res.p_tost > 0.5


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_tost_is_monotone_in_the_difference(seed: int) -> None:
    ref = exact(12, 0.0, 1.0, seed)
    base = exact(8, 0.0, 1.0, seed + 1)
    shifts = np.linspace(0.0, 3.0, 31)
    results = [tost_equivalence(ref, base + d) for d in shifts]
    p = [r.p_tost for r in results]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(p))
    flags = [r.equivalent for r in results]
    assert flags == sorted(flags, reverse=True)  # once not equivalent, never again
    assert not flags[-1]


def test_small_samples_get_a_power_caveat_and_errors() -> None:
    res = tost_equivalence([1.0, 1.2, 0.9, 1.1], [1.0, 1.05, 0.95])
    assert any("power" in w for w in res.warnings)
    assert any("reference lots" in w for w in res.warnings)
    assert 0 <= res.power_at_zero_difference < 0.8
    with pytest.raises(QCInputError, match="at least 3 reference lots"):
        tost_equivalence([1.0, 1.1], [1.0, 1.1, 1.2])
    with pytest.raises(QCInputError, match="at least 2 test lots"):
        tost_equivalence([1.0, 1.1, 1.2], [1.0])
    with pytest.raises(QCInputError, match="SD is 0"):
        tost_equivalence([2.0, 2.0, 2.0, 2.0], [2.0, 2.1])
    assert tost_equivalence([2.0, 2.0, 2.0, 2.0], [2.0, 2.1, 2.05], margin=0.5).equivalent


def test_power_grows_with_sample_size() -> None:
    powers = [tost_power(1.0, 1.0, n, n, 1.5) for n in (3, 6, 12, 30)]
    assert powers == sorted(powers) and powers[-1] > 0.95


# ---- tier 2 and 3 ---------------------------------------------------------------------------


def test_quality_range() -> None:
    ref = exact(10, 100.0, 2.0)
    test = np.array([99.0, 104.0, 107.0, 93.0, 101.0])
    res = quality_range_test(ref, test, test_labels=["a", "b", "c", "d", "e"])
    assert (res.range_lower, res.range_upper) == pytest.approx((94.0, 106.0))
    assert res.n_inside == 3 and res.outside_labels == ("c", "d")
    assert res.fraction_inside == pytest.approx(0.6) and not res.within
    assert quality_range_test(ref, test, k=4.0, required_fraction=0.6).within
    with pytest.raises(QCInputError, match="SD is 0"):
        quality_range_test([1.0, 1.0, 1.0], [1.0])
    with pytest.raises(QCInputError, match="at least 3"):
        quality_range_test([1.0, 2.0], [1.0])


def test_descriptive() -> None:
    res = descriptive_comparison([1.0, 2.0, 3.0], [2.0, 2.5], unit="mV", name="zeta")
    assert "all test lots lie within the reference range" in res.statement
    assert "do not overlap" in descriptive_comparison([1.0, 2.0], [5.0, 6.0]).statement


# ---- the report -----------------------------------------------------------------------------


def lots(prefix: str, scale: str, **series: Any) -> list[Batch]:
    n = len(next(iter(series.values())))
    out = []
    for i in range(n):
        ms = [
            {"attribute": a, "value": float(v[i]), "unit": "nm" if a == "size" else ""}
            for a, v in series.items()
        ]
        out.append(Batch.from_dict({"batch_id": f"{prefix}{i}", "scale": scale, "measurements": ms}))
    return out


def test_report_flags_zero_sd_and_few_lots_as_not_evaluable() -> None:
    spec = Specification.from_dict(
        {
            "name": "s",
            "attributes": {"size": {"unit": "nm", "upper": 10, "tier": 1}, "purity": {"lower": 0, "tier": 2}},
        }
    )
    ref = lots("R", "lab", size=[5.0, 5.0, 5.0, 5.0], purity=[1.0, 2.0, 3.0, 2.0])
    test = lots("T", "scale-up", size=[5.0, 5.1, 4.9], purity=[2.0, 2.1, 1.9])
    rep = compare_batches(ref, test, spec)
    size = rep.attribute("size")
    assert size.verdict == "not evaluable" and "SD is 0" in size.statement
    assert rep.attribute("purity").verdict == "within range"
    assert not rep.comparable and "Could not be assessed" in rep.conclusion
    few = compare_batches(ref[:2], test, spec)
    assert few.attribute("purity").verdict == "not evaluable"
    assert any("only 2 reference lots" in w for w in few.attribute("purity").warnings)


def test_report_input_errors() -> None:
    spec = Specification.from_dict({"name": "s", "attributes": {"size": {"unit": "nm", "upper": 10}}})
    ref = lots("R", "lab", size=[5.0, 5.2, 4.9])
    with pytest.raises(QCInputError, match="both the reference and the test"):
        compare_batches(ref, ref, spec)
    with pytest.raises(QCInputError, match="not in specification"):
        compare_batches(ref, lots("T", "lab", size=[5.0, 5.1]), spec, tiers={"sizes": 1})
    with pytest.raises(QCInputError, match="no test batches"):
        compare_batches(ref, [], spec)


def example() -> tuple[list[Batch], list[Batch], Specification]:
    spec = load_specification(EXAMPLES / "specifications.yaml")
    batches = load_batches(EXAMPLES / "lot_history.csv", spec)
    return [b for b in batches if b.scale == "lab"], [b for b in batches if b.scale == "scale-up"], spec


def test_example_scale_up_comparability() -> None:
    lab, up, spec = example()
    with collect_citations() as used:
        rep = compare_batches(lab, up, spec)
    assert {"Schuirmann1987", "Tsong2017", "ICH_Q5E", "FDA2019_comparative_analytical"} <= set(used.keys)
    verdicts = {a.attribute: a.verdict for a in rep.attributes}
    assert verdicts["z_average"] == "not shown equivalent"
    assert verdicts["radiochemical_purity"] == "equivalent"
    assert verdicts["dye_loading"] == "equivalent"
    assert verdicts["pdi"] == "outside range"
    assert verdicts["tem_core_diameter"] == "within range"
    assert verdicts["zeta_potential"] == "within range"
    assert verdicts["sterility"] == verdicts["ph"] == "descriptive"
    z = rep.attribute("z_average")
    assert z.shift == "higher" and z.difference == pytest.approx(0.31, abs=0.02)
    assert z.equivalence is not None and z.equivalence.margin == pytest.approx(0.18, rel=0.05)
    assert not rep.comparable
    assert "NOT DEMONSTRATED" in rep.conclusion and "Z-average diameter" in rep.conclusion
    assert "ICH Q5E" in rep.conclusion
    # the nM-reported scale-up concentrations were converted to µM before comparing
    conc = rep.attribute("particle_concentration")
    assert conc.unit == "µM" and max(conc.test_values) < 20
    # a censored endotoxin result is left out, and said so
    assert any("L04" in e for e in rep.attribute("endotoxin").excluded)
    assert len(rep.table()) == len(spec.attributes)


def test_example_is_comparable_when_only_unchanged_attributes_are_assessed() -> None:
    lab, up, spec = example()
    rep = compare_batches(
        lab,
        up,
        spec,
        attributes=["tem_core_diameter", "zeta_potential", "radiochemical_purity", "dye_loading"],
    )
    assert rep.comparable and "DEMONSTRATED." in rep.conclusion


def test_comparability_plots() -> None:
    lab, up, spec = example()
    rep = compare_batches(lab, up, spec)
    fig = equivalence_figure(rep)
    assert isinstance(fig, go.Figure) and len(fig.data) == 3  # the three tier-1 attributes
    colours = {t.name: t.marker.color for t in fig.data}
    assert colours["Z-average diameter"] != colours["Radiochemical purity"]
    for name in ("z_average", "pdi"):
        f = comparability_figure(rep.attribute(name))
        assert isinstance(f, go.Figure) and len(f.data) == 2 and f.layout.shapes
    with pytest.raises(QCInputError):
        comparability_figure(rep.attribute("sterility"))
