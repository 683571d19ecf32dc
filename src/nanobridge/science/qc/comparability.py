"""Scale-up comparability: test (scale-up) lots against reference (lab-scale) lots, per attribute.

A tiered approach, after the FDA statisticians' analytical-similarity method (Tsong2017; FDA
draft guidance of 2017, FDA2017_analytical_similarity, since withdrawn, and the 2019 draft
FDA2019_comparative_analytical that favours quality ranges) applied to a manufacturing change
in the spirit of ICH_Q5E:

- **Tier 1** (most critical attributes) — equivalence of means by two one-sided tests
  (Schuirmann1987): with ``D = mean_test − mean_ref`` and margin ``δ = 1.5·SD_ref``, the lots
  are equivalent at level α = 0.05 when the 90 % confidence interval of ``D`` (Welch1947
  standard error and degrees of freedom) lies inside ``(−δ, +δ)``. The report gives the CI, the
  margin, the TOST p-value and the approximate power at a true difference of zero, with a
  caveat when the lots are too few for the test to be able to pass.
- **Tier 2** — quality range: ``mean_ref ± k·SD_ref`` (k = 3 by default); comparable when at
  least a required fraction (90 % by default) of the test lots fall inside.
- **Tier 3** — descriptive: summaries of both groups, the data for a side-by-side plot and a
  sentence; no pass/fail.

For every numeric attribute the report says what changed (difference of means, in units and
in reference SDs, its 90 % CI and direction; ratio of SDs with an F-test) and whether it matters
(tier verdict). A reference SD of zero or fewer than 3 reference lots cannot define a margin or
range: the attribute is "not evaluable" with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from nanobridge.citations import cite
from nanobridge.domain.batch import (
    AttributeSpec,
    Batch,
    Specification,
    UnitMismatchError,
    attribute_series,
    canonical_attribute,
)
from nanobridge.science.qc.errors import QCInputError

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_K",
    "DEFAULT_MARGIN_FACTOR",
    "DEFAULT_REQUIRED_FRACTION",
    "AttributeComparison",
    "ComparabilityReport",
    "ComparabilityVerdict",
    "DescriptiveResult",
    "EquivalenceResult",
    "GroupSummary",
    "QualityRangeResult",
    "compare_batches",
    "descriptive_comparison",
    "quality_range_test",
    "tost_equivalence",
    "tost_power",
]

#: Tier-1 equivalence margin in reference SDs (Tsong2017).
DEFAULT_MARGIN_FACTOR = 1.5
#: Level of each one-sided test (90 % two-sided CI) (Schuirmann1987, Tsong2017).
DEFAULT_ALPHA = 0.05
#: Tier-2 quality range half-width in reference SDs (Tsong2017: k "appropriately justified").
DEFAULT_K = 3.0
#: Tier-2: fraction of test lots that must fall in the quality range (Tsong2017: e.g. 90 %).
DEFAULT_REQUIRED_FRACTION = 0.9
#: Below this power (at a true difference of zero) the tier-1 result gets a sample-size caveat.
POWER_CAVEAT_BELOW = 0.8

ComparabilityVerdict = Literal[
    "equivalent", "not shown equivalent", "within range", "outside range", "descriptive", "not evaluable"
]
Values = Sequence[float] | np.ndarray


def _array(values: Values, what: str) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    if arr.ndim != 1:
        raise QCInputError(f"{what} must be a flat sequence of numbers")
    if not np.all(np.isfinite(arr)):
        raise QCInputError(f"{what} contains a value that is not a finite number")
    return arr


class GroupSummary(BaseModel):
    """n, mean, SD (ddof 1), min and max of one group of lots."""

    model_config = ConfigDict(frozen=True)

    n: int
    mean: float
    sd: float | None
    minimum: float
    maximum: float


def _summary(x: np.ndarray) -> GroupSummary:
    return GroupSummary(
        n=int(x.size),
        mean=float(x.mean()),
        sd=float(x.std(ddof=1)) if x.size >= 2 else None,
        minimum=float(x.min()),
        maximum=float(x.max()),
    )


class EquivalenceResult(BaseModel):
    """Tier 1: TOST of the mean difference (test − reference) against ±margin."""

    model_config = ConfigDict(frozen=True)

    reference: GroupSummary
    test: GroupSummary
    difference: float
    margin: float
    margin_factor: float | None
    alpha: float
    ci_lower: float
    ci_upper: float
    confidence: float
    df: float
    standard_error: float
    p_lower: float
    p_upper: float
    p_tost: float
    equivalent: bool
    power_at_zero_difference: float
    method: str
    warnings: tuple[str, ...] = ()


class QualityRangeResult(BaseModel):
    """Tier 2: fraction of test lots within reference mean ± k·SD."""

    model_config = ConfigDict(frozen=True)

    reference: GroupSummary
    test: GroupSummary
    k: float
    range_lower: float
    range_upper: float
    n_inside: int
    fraction_inside: float
    required_fraction: float
    within: bool
    outside_labels: tuple[str, ...]
    warnings: tuple[str, ...] = ()


class DescriptiveResult(BaseModel):
    """Tier 3: summaries and a sentence; no pass/fail."""

    model_config = ConfigDict(frozen=True)

    reference: GroupSummary | None
    test: GroupSummary | None
    reference_results: dict[str, int] = {}
    test_results: dict[str, int] = {}
    statement: str


def tost_power(
    sd_reference: float,
    sd_test: float,
    n_reference: int,
    n_test: int,
    margin: float,
    alpha: float = DEFAULT_ALPHA,
    true_difference: float = 0.0,
) -> float:
    """Approximate power of the Welch TOST to declare equivalence when the true difference is
    ``true_difference`` and the SDs are as given: ``P(|D − Δ| < δ − t·SE)`` with D normal,
    ignoring the sampling variability of the SDs (and so of the margin)."""
    a, b = sd_test**2 / n_test, sd_reference**2 / n_reference
    se = math.sqrt(a + b)
    if se == 0:
        return 1.0 if abs(true_difference) < margin else 0.0
    df = (a + b) ** 2 / (a**2 / max(n_test - 1, 1) + b**2 / max(n_reference - 1, 1))
    t_crit = float(stats.t.ppf(1 - alpha, df))
    upper = (margin - true_difference) / se - t_crit
    lower = (-margin - true_difference) / se + t_crit
    if upper <= lower:
        return 0.0
    return float(stats.norm.cdf(upper) - stats.norm.cdf(lower))


def tost_equivalence(
    reference: Values,
    test: Values,
    *,
    margin_factor: float = DEFAULT_MARGIN_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    margin: float | None = None,
) -> EquivalenceResult:
    """Two one-sided tests (Schuirmann1987) of ``mean(test) − mean(reference)`` against
    ``±margin`` (default ``margin_factor × SD(reference)``, Tsong2017), Welch standard error and
    Welch–Satterthwaite degrees of freedom (Welch1947).

    Equivalent when both one-sided p-values are below ``alpha``, i.e. the ``1 − 2α`` CI lies
    strictly inside ``(−margin, +margin)``. Raises :class:`QCInputError` for fewer than 3
    reference lots, fewer than 2 test lots, or a reference SD of 0 without an explicit margin.
    """
    cite("Schuirmann1987", "Welch1947", "Tsong2017")
    r, t = _array(reference, "reference"), _array(test, "test")
    if r.size < 3:
        raise QCInputError(
            f"equivalence test needs at least 3 reference lots (the margin is {margin_factor:g} × the "
            f"reference SD), got {r.size}"
        )
    if t.size < 2:
        raise QCInputError(f"equivalence test needs at least 2 test lots (for their SD), got {t.size}")
    if not 0 < alpha < 0.5:
        raise QCInputError(f"alpha must be in (0, 0.5), got {alpha}")
    ref, tst = _summary(r), _summary(t)
    assert ref.sd is not None and tst.sd is not None
    if margin is None:
        if ref.sd == 0:
            raise QCInputError(
                f"all {r.size} reference values are {r[0]:g}: the reference SD is 0, so the margin "
                f"{margin_factor:g} × SD is 0 and equivalence cannot be shown; check the measurement "
                "resolution or give an explicit margin"
            )
        margin = margin_factor * ref.sd
        factor: float | None = margin_factor
    else:
        if margin <= 0:
            raise QCInputError(f"margin must be > 0, got {margin:g}")
        factor = None
    diff = tst.mean - ref.mean
    a, b = tst.sd**2 / tst.n, ref.sd**2 / ref.n
    se = math.sqrt(a + b)
    warnings: list[str] = []
    if se == 0:
        df = float(tst.n + ref.n - 2)
        equivalent = abs(diff) < margin
        ci_lo = ci_hi = diff
        p_lo = 0.0 if diff > -margin else 1.0
        p_hi = 0.0 if diff < margin else 1.0
        warnings.append("both groups have SD 0: the confidence interval has zero width")
    else:
        df = (a + b) ** 2 / (a**2 / (tst.n - 1) + b**2 / (ref.n - 1))
        t_crit = float(stats.t.ppf(1 - alpha, df))
        ci_lo, ci_hi = diff - t_crit * se, diff + t_crit * se
        p_lo = float(stats.t.sf((diff + margin) / se, df))  # H0: diff <= -margin
        p_hi = float(stats.t.cdf((diff - margin) / se, df))  # H0: diff >= +margin
        equivalent = bool(ci_lo > -margin and ci_hi < margin)
    power = tost_power(ref.sd, tst.sd, ref.n, tst.n, margin, alpha)
    if power < POWER_CAVEAT_BELOW:
        warnings.append(
            f"with {ref.n} reference and {tst.n} test lots the test has only about {power:.0%} power to show "
            f"equivalence even if the true means were equal (at the observed SDs): 'not shown equivalent' "
            "is then weak evidence of a real difference; more lots are needed for a firm conclusion"
        )
    if ref.n < 6:
        warnings.append(
            f"the margin rests on an SD from {ref.n} reference lots ({ref.n - 1} degrees of freedom) and is "
            "itself very uncertain"
        )
    return EquivalenceResult(
        reference=ref,
        test=tst,
        difference=diff,
        margin=margin,
        margin_factor=factor,
        alpha=alpha,
        ci_lower=ci_lo,
        ci_upper=ci_hi,
        confidence=1 - 2 * alpha,
        df=df,
        standard_error=se,
        p_lower=p_lo,
        p_upper=p_hi,
        p_tost=max(p_lo, p_hi),
        equivalent=equivalent,
        power_at_zero_difference=power,
        method="TOST (Schuirmann 1987), Welch SE and df, margin "
        + (f"{factor:g} × reference SD" if factor is not None else "given"),
        warnings=tuple(warnings),
    )


def quality_range_test(
    reference: Values,
    test: Values,
    *,
    k: float = DEFAULT_K,
    required_fraction: float = DEFAULT_REQUIRED_FRACTION,
    test_labels: Sequence[str] | None = None,
) -> QualityRangeResult:
    """Quality range ``mean_ref ± k·SD_ref`` (Tsong2017, FDA2019_comparative_analytical) and the
    fraction of test lots inside it (inclusive); ``within`` when the fraction reaches
    ``required_fraction``. Raises :class:`QCInputError` for fewer than 3 reference lots or a
    reference SD of 0."""
    cite("Tsong2017", "FDA2019_comparative_analytical")
    r, t = _array(reference, "reference"), _array(test, "test")
    if r.size < 3:
        raise QCInputError(f"a quality range needs at least 3 reference lots, got {r.size}")
    if t.size < 1:
        raise QCInputError("a quality range comparison needs at least 1 test lot")
    if k <= 0:
        raise QCInputError(f"k must be > 0, got {k}")
    if not 0 < required_fraction <= 1:
        raise QCInputError(f"required_fraction must be in (0, 1], got {required_fraction}")
    ref, tst = _summary(r), _summary(t)
    assert ref.sd is not None
    if ref.sd == 0:
        raise QCInputError(
            f"all {r.size} reference values are {r[0]:g}: the reference SD is 0 and the quality range "
            "has no width; check the measurement resolution"
        )
    lo, hi = ref.mean - k * ref.sd, ref.mean + k * ref.sd
    inside = (t >= lo) & (t <= hi)
    labels = list(test_labels) if test_labels is not None else [str(i + 1) for i in range(t.size)]
    if len(labels) != t.size:
        raise QCInputError(f"{len(labels)} labels for {t.size} test values")
    frac = float(inside.mean())
    warnings = []
    if r.size < 10:
        warnings.append(
            f"the range rests on {r.size} reference lots; with few lots mean ± {k:g} SD is itself uncertain"
        )
    return QualityRangeResult(
        reference=ref,
        test=tst,
        k=k,
        range_lower=lo,
        range_upper=hi,
        n_inside=int(inside.sum()),
        fraction_inside=frac,
        required_fraction=required_fraction,
        within=frac >= required_fraction - 1e-12,
        outside_labels=tuple(lab for lab, ok in zip(labels, inside, strict=True) if not ok),
        warnings=tuple(warnings),
    )


def descriptive_comparison(
    reference: Values, test: Values, *, unit: str = "", name: str = ""
) -> DescriptiveResult:
    """Tier 3: group summaries and a sentence (ranges overlap or not, direction of the means)."""
    r, t = _array(reference, "reference"), _array(test, "test")
    if r.size == 0 or t.size == 0:
        raise QCInputError("a descriptive comparison needs at least one reference and one test value")
    ref, tst = _summary(r), _summary(t)
    u = f" {unit}" if unit else ""
    overlap = tst.minimum <= ref.maximum and ref.minimum <= tst.maximum
    inside = tst.minimum >= ref.minimum and tst.maximum <= ref.maximum
    where = (
        "all test lots lie within the reference range"
        if inside
        else ("the ranges overlap" if overlap else "the ranges do not overlap")
    )
    statement = (
        f"{name + ': ' if name else ''}reference {ref.mean:.4g}{u} "
        f"(range {ref.minimum:.4g}–{ref.maximum:.4g}, n = {ref.n}); "
        f"test {tst.mean:.4g}{u} (range {tst.minimum:.4g}–{tst.maximum:.4g}, n = {tst.n}); {where}"
    )
    return DescriptiveResult(reference=ref, test=tst, statement=statement)


class AttributeComparison(BaseModel):
    """What changed in one attribute between reference and test lots, and whether it matters."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    title: str
    unit: str
    tier: int
    test_kind: str
    verdict: ComparabilityVerdict
    matters: bool | None
    statement: str
    reference_labels: tuple[str, ...] = ()
    reference_values: tuple[float, ...] = ()
    test_labels: tuple[str, ...] = ()
    test_values: tuple[float, ...] = ()
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    difference_in_reference_sd: float | None = None
    relative_difference_percent: float | None = None
    sd_ratio: float | None = None
    sd_ratio_p: float | None = None
    shift: Literal["higher", "lower", "no clear shift"] | None = None
    equivalence: EquivalenceResult | None = None
    quality_range: QualityRangeResult | None = None
    descriptive: DescriptiveResult | None = None
    excluded: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class ComparabilityReport(BaseModel):
    """Per-attribute comparisons and an overall conclusion."""

    model_config = ConfigDict(frozen=True)

    reference_label: str
    test_label: str
    reference_batches: tuple[str, ...]
    test_batches: tuple[str, ...]
    specification: str
    attributes: tuple[AttributeComparison, ...]
    comparable: bool
    conclusion: str
    margin_factor: float
    alpha: float
    k: float
    required_fraction: float
    caveats: tuple[str, ...] = ()

    def attribute(self, name: str) -> AttributeComparison:
        """The comparison of attribute ``name`` (KeyError if absent)."""
        key = canonical_attribute(name)
        for a in self.attributes:
            if a.attribute == key:
                return a
        raise KeyError(
            f"{name!r} was not compared; compared: {', '.join(a.attribute for a in self.attributes)}"
        )

    def table(self) -> list[dict[str, object]]:
        """One row per attribute (plain data for a report table)."""
        rows: list[dict[str, object]] = []
        for a in self.attributes:
            rows.append(
                {
                    "attribute": a.title,
                    "tier": a.tier,
                    "unit": a.unit,
                    "reference": _mean_sd(a.reference_values),
                    "test": _mean_sd(a.test_values),
                    "difference": None if a.difference is None else round(a.difference, 6),
                    "verdict": a.verdict,
                    "statement": a.statement,
                }
            )
        return rows


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "—"
    x = np.asarray(values)
    if x.size < 2:
        return f"{x.mean():.4g} (n = 1)"
    return f"{x.mean():.4g} ± {x.std(ddof=1):.3g} (n = {x.size})"


def _shift_and_spread(
    r: np.ndarray, t: np.ndarray, alpha: float
) -> tuple[float, tuple[float, float] | None, str | None, float | None, float | None]:
    """Difference of means, its (1−2α) Welch CI, direction, SD ratio (test/ref), F-test p."""
    diff = float(t.mean() - r.mean())
    if r.size < 2 or t.size < 2:
        return diff, None, None, None, None
    sr, st = float(r.std(ddof=1)), float(t.std(ddof=1))
    a, b = st**2 / t.size, sr**2 / r.size
    se = math.sqrt(a + b)
    ci: tuple[float, float] | None
    if se > 0:
        df = (a + b) ** 2 / (a**2 / (t.size - 1) + b**2 / (r.size - 1))
        half = float(stats.t.ppf(1 - alpha, df)) * se
        ci = (diff - half, diff + half)
        shift = "higher" if ci[0] > 0 else "lower" if ci[1] < 0 else "no clear shift"
    else:
        ci = (diff, diff)
        shift = "higher" if diff > 0 else "lower" if diff < 0 else "no clear shift"
    ratio = st / sr if sr > 0 else None
    p_f = None
    if sr > 0 and st > 0:
        f = st**2 / sr**2
        cdf = float(stats.f.cdf(f, t.size - 1, r.size - 1))
        p_f = min(1.0, 2 * min(cdf, 1 - cdf))
    return diff, ci, shift, ratio, p_f


def _what_changed(
    name: str,
    unit: str,
    diff: float,
    ci: tuple[float, float] | None,
    shift: str | None,
    sd_ref: float | None,
    ratio: float | None,
    p_f: float | None,
    ref_mean: float,
) -> str:
    u = f" {unit}" if unit else ""
    parts = [f"mean {diff:+.3g}{u}"]
    if sd_ref:
        parts[0] += f" ({diff / sd_ref:+.2f} reference SD)"
    if ci is not None:
        parts.append(f"90 % CI {ci[0]:.3g} to {ci[1]:.3g}{u}")
    if shift == "higher":
        parts.append("test lots run higher")
    elif shift == "lower":
        parts.append("test lots run lower")
    elif shift is not None:
        parts.append("no clear shift of the mean")
    if ratio is not None:
        spread = f"SD ratio test/reference {ratio:.2f}"
        if p_f is not None:
            spread += f" (F-test p = {p_f:.2g}"
            spread += ", variability changed)" if p_f < 0.05 else ")"
        parts.append(spread)
    return f"{name}: " + "; ".join(parts)


def _compare_qualitative(
    spec: AttributeSpec, reference: Sequence[Batch], test: Sequence[Batch]
) -> AttributeComparison:
    def tally(batches: Sequence[Batch]) -> tuple[dict[str, int], list[str]]:
        counts: dict[str, int] = {}
        missing = []
        for b in batches:
            m = b.measurement(spec.attribute)
            if m is None or m.result is None:
                missing.append(f"{b.batch_id}: no {spec.attribute} result")
                continue
            counts[m.result] = counts.get(m.result, 0) + 1
        return counts, missing

    rc, rmiss = tally(reference)
    tc, tmiss = tally(test)

    def show(c: dict[str, int]) -> str:
        return ", ".join(f"{n} {res!r}" for res, n in sorted(c.items())) or "no results"

    statement = f"{spec.label}: reference {show(rc)}; test {show(tc)} (required {spec.criterion!r})"
    off = sum(n for res, n in tc.items() if res != spec.criterion)
    if off:
        statement += f" — {off} test lot(s) do not meet the criterion"
    return AttributeComparison(
        attribute=spec.attribute,
        title=spec.label,
        unit="",
        tier=3,
        test_kind="descriptive (qualitative)",
        verdict="descriptive",
        matters=bool(off) or None,
        statement=statement,
        descriptive=DescriptiveResult(
            reference=None, test=None, reference_results=rc, test_results=tc, statement=statement
        ),
        excluded=tuple(rmiss + tmiss),
    )


def _compare_numeric(
    spec: AttributeSpec,
    tier: int,
    reference: Sequence[Batch],
    test: Sequence[Batch],
    *,
    margin_factor: float,
    alpha: float,
    k: float,
    required_fraction: float,
) -> AttributeComparison:
    name, unit = spec.label, spec.unit
    kind = {1: "equivalence (TOST)", 2: "quality range", 3: "descriptive"}[tier]
    base = {"attribute": spec.attribute, "title": name, "unit": unit, "tier": tier, "test_kind": kind}
    try:
        rs = attribute_series(reference, spec.attribute, unit)
        ts = attribute_series(test, spec.attribute, unit)
    except UnitMismatchError as exc:
        return AttributeComparison(
            **base, verdict="not evaluable", matters=None, statement=f"{name}: {exc.problems[0]}"
        )
    r, t = np.asarray(rs.values), np.asarray(ts.values)
    data = {
        "reference_labels": rs.labels,
        "reference_values": rs.values,
        "test_labels": ts.labels,
        "test_values": ts.values,
        "excluded": (*rs.excluded, *ts.excluded),
    }
    if r.size == 0 or t.size == 0:
        return AttributeComparison(
            **base,
            **data,
            verdict="not evaluable",
            matters=None,
            statement=f"{name}: no numeric results in the {'reference' if r.size == 0 else 'test'} lots",
        )
    diff, ci, shift, ratio, p_f = _shift_and_spread(r, t, alpha)
    sd_ref = float(r.std(ddof=1)) if r.size >= 2 else None
    changed = _what_changed(name, unit, diff, ci, shift, sd_ref, ratio, p_f, float(r.mean()))
    stats_fields = {
        "difference": diff,
        "difference_ci": ci,
        "difference_in_reference_sd": diff / sd_ref if sd_ref else None,
        "relative_difference_percent": 100 * diff / float(r.mean()) if r.mean() != 0 else None,
        "sd_ratio": ratio,
        "sd_ratio_p": p_f,
        "shift": shift,
    }
    warnings: list[str] = []
    if 0 < r.size < 3:
        warnings.append(f"only {r.size} reference lots: no margin or range can be set (need ≥ 3)")
    try:
        if tier == 1:
            eq = tost_equivalence(r, t, margin_factor=margin_factor, alpha=alpha)
            verdict: ComparabilityVerdict = "equivalent" if eq.equivalent else "not shown equivalent"
            u = f" {unit}" if unit else ""
            matters_text = (
                f"equivalent: the 90 % CI of the difference ({eq.ci_lower:.3g} to {eq.ci_upper:.3g}{u}) lies "
                f"within ±{eq.margin:.3g}{u} ({margin_factor:g} × reference SD)"
                if eq.equivalent
                else f"NOT shown equivalent: the 90 % CI ({eq.ci_lower:.3g} to {eq.ci_upper:.3g}{u}) "
                f"is not within ±{eq.margin:.3g}{u} ({margin_factor:g} × reference SD); "
                f"TOST p = {eq.p_tost:.2g}"
            )
            return AttributeComparison(
                **base,
                **data,
                **stats_fields,
                verdict=verdict,
                matters=not eq.equivalent,
                statement=f"{changed}. {matters_text}",
                equivalence=eq,
                warnings=(*warnings, *eq.warnings),
            )
        if tier == 2:
            qr = quality_range_test(r, t, k=k, required_fraction=required_fraction, test_labels=ts.labels)
            verdict = "within range" if qr.within else "outside range"
            u = f" {unit}" if unit else ""
            rng = f"{qr.range_lower:.4g}–{qr.range_upper:.4g}{u} (reference mean ± {k:g} SD)"
            matters_text = (
                f"{qr.n_inside} of {qr.test.n} test lots ({qr.fraction_inside:.0%}) "
                f"within the quality range {rng}"
                + (f"; outside: {', '.join(qr.outside_labels)}" if qr.outside_labels else "")
                + (
                    f" — meets the required {required_fraction:.0%}"
                    if qr.within
                    else f" — below the required {required_fraction:.0%}"
                )
            )
            return AttributeComparison(
                **base,
                **data,
                **stats_fields,
                verdict=verdict,
                matters=not qr.within,
                statement=f"{changed}. {matters_text}",
                quality_range=qr,
                warnings=(*warnings, *qr.warnings),
            )
    except QCInputError as exc:
        return AttributeComparison(
            **base,
            **data,
            **stats_fields,
            verdict="not evaluable",
            matters=None,
            statement=f"{changed}. Not evaluable: {exc}",
            warnings=tuple(warnings),
        )
    desc = descriptive_comparison(r, t, unit=unit, name=name)
    return AttributeComparison(
        **base,
        **data,
        **stats_fields,
        verdict="descriptive",
        matters=None,
        statement=f"{changed}. Descriptive (tier 3): {desc.statement.split(': ', 1)[-1]}",
        descriptive=desc,
        warnings=tuple(warnings),
    )


def _group_label(batches: Sequence[Batch], default: str) -> str:
    scales = sorted({b.scale for b in batches})
    return f"{'/'.join(scales) if scales else default} lots (n = {len(batches)})"


def compare_batches(
    reference: Sequence[Batch],
    test: Sequence[Batch],
    spec: Specification,
    *,
    margin_factor: float = DEFAULT_MARGIN_FACTOR,
    alpha: float = DEFAULT_ALPHA,
    k: float = DEFAULT_K,
    required_fraction: float = DEFAULT_REQUIRED_FRACTION,
    tiers: Mapping[str, int] | None = None,
    attributes: Sequence[str] | None = None,
) -> ComparabilityReport:
    """Compare ``test`` (e.g. scale-up) lots with ``reference`` (e.g. lab-scale) lots for every
    attribute of ``spec`` (or ``attributes``), each by the test of its tier (``spec``'s
    ``tier``, overridden by ``tiers``). Returns a :class:`ComparabilityReport`.

    The lots are comparable when every tier-1 attribute is equivalent and every tier-2
    attribute is within its quality range; a tier-1/2 attribute that is not evaluable makes the
    conclusion "not demonstrated" too. Tier 3 never decides.
    """
    cite("Tsong2017", "FDA2017_analytical_similarity", "FDA2019_comparative_analytical", "ICH_Q5E")
    if not reference:
        raise QCInputError("no reference batches to compare against")
    if not test:
        raise QCInputError("no test batches to compare")
    overlap = {b.batch_id for b in reference} & {b.batch_id for b in test}
    if overlap:
        raise QCInputError(f"batches in both the reference and the test group: {', '.join(sorted(overlap))}")
    tier_map = {canonical_attribute(a): int(v) for a, v in (tiers or {}).items()}
    for a, v in tier_map.items():
        if a not in spec:
            raise QCInputError(
                f"tiers: {a!r} is not in specification {spec.label}; {spec.unknown_attribute_hint(a)}"
            )
        if v not in (1, 2, 3):
            raise QCInputError(f"tiers: {a!r} has tier {v}; allowed: 1, 2, 3")
    specs: list[AttributeSpec] = []
    for name in attributes if attributes is not None else spec.names:
        a_spec = spec.get(name)
        if a_spec is None:
            raise QCInputError(
                f"{name!r} is not in specification {spec.label}; {spec.unknown_attribute_hint(name)}"
            )
        specs.append(a_spec)

    comparisons: list[AttributeComparison] = []
    for a_spec in specs:
        tier = tier_map.get(a_spec.attribute, a_spec.tier)
        if a_spec.is_qualitative:
            if tier != 3:
                raise QCInputError(f"{a_spec.attribute} is qualitative: only tier 3 (descriptive) applies")
            comparisons.append(_compare_qualitative(a_spec, reference, test))
        else:
            comparisons.append(
                _compare_numeric(
                    a_spec,
                    tier,
                    reference,
                    test,
                    margin_factor=margin_factor,
                    alpha=alpha,
                    k=k,
                    required_fraction=required_fraction,
                )
            )

    ref_label = _group_label(reference, "reference")
    test_label = _group_label(test, "test")
    decisive = [c for c in comparisons if c.tier in (1, 2)]
    failing = [c for c in decisive if c.verdict in {"not shown equivalent", "outside range"}]
    unknown = [c for c in decisive if c.verdict == "not evaluable"]
    comparable = bool(decisive) and not failing and not unknown
    conclusion = _conclusion(comparisons, ref_label, test_label, failing, unknown, comparable)
    caveats = [
        "The tiered approach with a 1.5 × SD equivalence margin comes from FDA's 2017 draft guidance on "
        "analytical similarity (withdrawn in 2018) and Tsong et al. 2017; FDA's 2019 draft favours "
        "quality ranges. Tier assignment is a risk assessment the sponsor must justify (ICH Q5E).",
        "Lots are treated as independent samples of each process; the reference SD from few lots understates "
        "process variability if lots are correlated (e.g. made from one intermediate).",
    ]
    caveats.extend(
        sorted({w for c in comparisons for w in c.warnings if "power" in w or "reference lots" in w})
    )
    return ComparabilityReport(
        reference_label=ref_label,
        test_label=test_label,
        reference_batches=tuple(b.batch_id for b in reference),
        test_batches=tuple(b.batch_id for b in test),
        specification=spec.label,
        attributes=tuple(comparisons),
        comparable=comparable,
        conclusion=conclusion,
        margin_factor=margin_factor,
        alpha=alpha,
        k=k,
        required_fraction=required_fraction,
        caveats=tuple(caveats),
    )


def _conclusion(
    comparisons: Sequence[AttributeComparison],
    ref_label: str,
    test_label: str,
    failing: Sequence[AttributeComparison],
    unknown: Sequence[AttributeComparison],
    comparable: bool,
) -> str:
    t1 = [c for c in comparisons if c.tier == 1]
    t2 = [c for c in comparisons if c.tier == 2]
    t3 = [c for c in comparisons if c.tier == 3]
    lines = [
        f"Comparability of {test_label} against {ref_label}: "
        + ("DEMONSTRATED." if comparable else "NOT DEMONSTRATED.")
    ]
    eq = [c.title for c in t1 if c.verdict == "equivalent"]
    inr = [c.title for c in t2 if c.verdict == "within range"]
    if t1:
        lines.append(
            f"Tier 1 (equivalence, margin ±1.5 reference SD): {len(eq)} of {len(t1)} equivalent"
            + (f" ({', '.join(eq)})" if eq else "")
            + "."
        )
    if t2:
        lines.append(
            f"Tier 2 (quality range): {len(inr)} of {len(t2)} within range"
            + (f" ({', '.join(inr)})" if inr else "")
            + "."
        )
    for c in failing:
        lines.append(f"Difference that matters — {c.statement}")
    for c in unknown:
        lines.append(f"Could not be assessed — {c.statement}")
    if t3:
        flagged = [c.title for c in t3 if c.matters]
        lines.append(
            f"Tier 3 (descriptive, no pass/fail): {', '.join(c.title for c in t3)}"
            + (f"; lots not meeting a qualitative criterion in: {', '.join(flagged)}" if flagged else "")
            + "."
        )
    if comparable:
        lines.append(
            "No difference of consequence was found in the attributes assessed; the scale-up lots can be "
            "considered comparable for these quality attributes (ICH Q5E), subject to the caveats below."
        )
    else:
        lines.append(
            "Before the test lots can be considered comparable, the differences above need a root-cause "
            "investigation and an assessment of their impact on safety and efficacy (ICH Q5E), e.g. "
            "biodistribution or clearance data for a size change; a process adjustment and new lots may be "
            "required."
        )
    return "\n".join(lines)
