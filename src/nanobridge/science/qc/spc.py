"""Statistical process control of batch attributes: I-MR charts, run rules, process capability.

Individuals (I) and moving-range (MR) charts (Montgomery2020): with ``x_1 … x_n`` one value per
batch, the moving ranges are ``MR_i = |x_i − x_{i−1}|``, the process sigma is estimated as
``σ̂ = MRbar / d2`` with ``d2 = 1.128`` (moving ranges of span 2), the I chart has centre line
``xbar`` and limits ``xbar ± 3σ̂``, the MR chart centre ``MRbar``, upper limit ``D4·MRbar``
(``D4 = 3.267``) and lower limit ``D3·MRbar = 0``.

Phase I computes trial limits from a baseline (Montgomery recommends 20–25 samples) and looks
for special causes in it; phase II monitors new batches against those fixed limits. Both are
:func:`imr_chart`: ``baseline=k`` takes the limits from the first ``k`` values and monitors
the rest.

Run rules, selectable: the eight tests of Nelson1984 (``N1`` … ``N8``) and the four Western
Electric rules (WesternElectric1956, ``WE1`` … ``WE4``), plus ``MR`` (a moving range above its
upper limit). Each :class:`RuleViolation` names the rule, the points and why.

Process capability (:func:`capability`): Cp, Cpk from the within-batch-to-batch sigma
(MRbar/d2) and Pp, Ppk from the overall sample SD (Kane1986, Montgomery2020), with confidence
intervals — Cp/Pp by the chi-square interval, Cpk/Ppk by Bissell1990's normal approximation —
a Shapiro–Wilk normality test (ShapiroWilk1965) and sample-size warnings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats

from nanobridge.citations import cite
from nanobridge.science.qc.errors import QCInputError

__all__ = [
    "D2_MR",
    "D3_MR",
    "D4_MR",
    "MIN_BASELINE_RECOMMENDED",
    "NELSON_RULES",
    "RULES",
    "WESTERN_ELECTRIC_RULES",
    "CapabilityResult",
    "ControlLimits",
    "IMRChart",
    "IntervalEstimate",
    "RuleInfo",
    "RuleViolation",
    "capability",
    "detect_rule_violations",
    "imr_chart",
    "imr_limits",
    "resolve_rules",
]

#: d2 for moving ranges of span 2 (Montgomery2020, table of control-chart constants, n = 2).
D2_MR = 1.128
#: D4 for n = 2: MR chart upper limit D4·MRbar (Montgomery2020).
D4_MR = 3.267
#: D3 for n = 2: MR chart lower limit D3·MRbar = 0 (Montgomery2020).
D3_MR = 0.0
#: Baseline size below which trial limits are flagged as provisional (Montgomery2020: 20–25).
MIN_BASELINE_RECOMMENDED = 20
#: Capability from fewer values than this gets a warning (an assumed rule of thumb).
MIN_CAPABILITY_N = 30

#: Largest sample for which scipy's Shapiro–Wilk p-value is accurate.
SHAPIRO_MAX_N = 5000

#: Numerical slack (in sigma units) so that a value exactly on a zone boundary is stable under
#: shifts and rescaling of the data (a point on the boundary is not "beyond" it).
_EPS = 1e-9


@dataclass(frozen=True)
class RuleInfo:
    """One run rule: identifier, family, and what it detects."""

    rule: str
    family: Literal["Nelson", "Western Electric", "MR chart"]
    description: str
    citation: str


RULES: dict[str, RuleInfo] = {
    r.rule: r
    for r in (
        RuleInfo("N1", "Nelson", "1 point more than 3 sigma from the centre line", "Nelson1984"),
        RuleInfo("N2", "Nelson", "9 points in a row on the same side of the centre line", "Nelson1984"),
        RuleInfo("N3", "Nelson", "6 points in a row steadily increasing or decreasing", "Nelson1984"),
        RuleInfo("N4", "Nelson", "14 points in a row alternating up and down", "Nelson1984"),
        RuleInfo(
            "N5",
            "Nelson",
            "2 of 3 points in a row more than 2 sigma from the centre, same side",
            "Nelson1984",
        ),
        RuleInfo(
            "N6",
            "Nelson",
            "4 of 5 points in a row more than 1 sigma from the centre, same side",
            "Nelson1984",
        ),
        RuleInfo("N7", "Nelson", "15 points in a row within 1 sigma of the centre line", "Nelson1984"),
        RuleInfo(
            "N8", "Nelson", "8 points in a row more than 1 sigma from the centre (either side)", "Nelson1984"
        ),
        RuleInfo("WE1", "Western Electric", "1 point beyond the 3-sigma limits", "WesternElectric1956"),
        RuleInfo(
            "WE2",
            "Western Electric",
            "2 of 3 consecutive points beyond 2 sigma, same side",
            "WesternElectric1956",
        ),
        RuleInfo(
            "WE3",
            "Western Electric",
            "4 of 5 consecutive points beyond 1 sigma, same side",
            "WesternElectric1956",
        ),
        RuleInfo(
            "WE4",
            "Western Electric",
            "8 consecutive points on the same side of the centre line",
            "WesternElectric1956",
        ),
        RuleInfo("MR", "MR chart", "moving range above its upper control limit D4·MRbar", "Montgomery2020"),
    )
}
NELSON_RULES: tuple[str, ...] = ("N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8")
WESTERN_ELECTRIC_RULES: tuple[str, ...] = ("WE1", "WE2", "WE3", "WE4")
_RULE_SETS = {
    "nelson": NELSON_RULES,
    "western_electric": WESTERN_ELECTRIC_RULES,
    "westernelectric": WESTERN_ELECTRIC_RULES,
    "we": WESTERN_ELECTRIC_RULES,
    "weco": WESTERN_ELECTRIC_RULES,
    "all": NELSON_RULES + WESTERN_ELECTRIC_RULES,
}

RuleSelection = str | Iterable[str]
#: A sequence of numbers (list, tuple or 1-D array).
Values = Sequence[float] | np.ndarray


def resolve_rules(rules: RuleSelection) -> tuple[str, ...]:
    """Rule identifiers from a selection: ``'nelson'``, ``'western_electric'``, ``'all'`` or
    identifiers such as ``['N1', 'n2', 'nelson5', 'WE4', 'MR']`` (order kept, no repeats)."""
    items = [rules] if isinstance(rules, str) else list(rules)
    out: list[str] = []
    for item in items:
        key = str(item).strip().lower().replace(" ", "").replace("-", "_")
        if key in _RULE_SETS:
            chosen: tuple[str, ...] = _RULE_SETS[key]
        else:
            ident = key.upper()
            for prefix, short in (("NELSON", "N"), ("WESTERNELECTRIC", "WE"), ("WESTERN_ELECTRIC", "WE")):
                if ident.startswith(prefix):
                    ident = short + ident[len(prefix) :].lstrip("_")
            if ident not in RULES:
                allowed = ", ".join([*RULES, *sorted(set(_RULE_SETS) - {"westernelectric", "we", "weco"})])
                raise QCInputError(f"unknown control-chart rule {item!r}; allowed: {allowed}")
            chosen = (ident,)
        out.extend(r for r in chosen if r not in out)
    if not out:
        raise QCInputError("no control-chart rules selected; use e.g. 'nelson' or ['N1', 'N2']")
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class ControlLimits(BaseModel):
    """I-MR control limits (same unit as the data)."""

    model_config = ConfigDict(frozen=True)

    center: float
    sigma: float
    lcl: float
    ucl: float
    mr_center: float
    mr_lcl: float
    mr_ucl: float
    n_baseline: int
    unit: str = ""
    method: str = "I-MR: sigma = MRbar/d2 (d2 = 1.128), limits centre ± 3 sigma, MR UCL = 3.267 MRbar"

    def zone_line(self, k: float) -> float:
        """The centre line plus ``k`` sigma (e.g. ``zone_line(-2)`` is the lower 2-sigma line)."""
        return self.center + k * self.sigma


class RuleViolation(BaseModel):
    """A run-rule signal: the rule, the points that form the pattern and why.

    ``points`` are 0-based indices into the chart's values (the whole pattern, merged over
    overlapping signals of the same rule and side); ``signal_points`` are the indices at which
    the pattern was complete (where the chart signals).
    """

    model_config = ConfigDict(frozen=True)

    rule: str
    family: str
    description: str
    chart: Literal["I", "MR"]
    side: Literal["above", "below", "either"]
    points: tuple[int, ...]
    signal_points: tuple[int, ...]
    labels: tuple[str, ...]
    explanation: str
    in_baseline: bool


class IMRChart(BaseModel):
    """An individuals and moving-range chart with its limits and run-rule signals."""

    model_config = ConfigDict(frozen=True)

    attribute: str = ""
    unit: str = ""
    labels: tuple[str, ...]
    values: tuple[float, ...]
    moving_ranges: tuple[float, ...]  # MR between point i-1 and i at index i-1
    limits: ControlLimits
    phase: Literal["I", "II"]
    n_baseline: int
    rules: tuple[str, ...]
    violations: tuple[RuleViolation, ...]
    warnings: tuple[str, ...] = ()

    @property
    def in_control(self) -> bool:
        """No rule signalled anywhere on the chart."""
        return not self.violations

    def violations_at(self, index: int) -> list[RuleViolation]:
        """Violations that signal at point ``index`` (negative counts from the end)."""
        i = index % len(self.values)
        return [v for v in self.violations if i in v.signal_points]

    def flagged_points(self) -> list[int]:
        """Indices of all points that take part in a violation."""
        return sorted({p for v in self.violations for p in v.points})

    def summary(self) -> str:
        """One line per violation, or 'in control'."""
        if not self.violations:
            return f"{self.attribute or 'series'}: in control ({', '.join(self.rules)})"
        return "\n".join(f"{v.rule}: {v.explanation}" for v in self.violations)


class IntervalEstimate(BaseModel):
    """A point estimate with a two-sided confidence interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    lower: float
    upper: float
    confidence: float
    method: str


class CapabilityResult(BaseModel):
    """Process capability against specification limits.

    ``cp``/``cpk`` use the short-term sigma (MRbar/d2), ``pp``/``ppk`` the overall sample SD.
    With one limit only, ``cp``/``pp`` are ``None`` and ``cpk``/``ppk`` are the one-sided
    indices. ``expected_out_of_spec_ppm`` is the normal-model fraction outside the limits
    (overall SD), in parts per million.
    """

    model_config = ConfigDict(frozen=True)

    attribute: str = ""
    unit: str = ""
    n: int
    mean: float
    sigma_within: float
    sigma_overall: float
    lsl: float | None
    usl: float | None
    cp: IntervalEstimate | None
    cpk: IntervalEstimate
    pp: IntervalEstimate | None
    ppk: IntervalEstimate
    expected_out_of_spec_ppm: float
    shapiro_w: float | None
    shapiro_p: float | None
    normality: str
    stable: bool | None
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """``Cpk 1.21 (95 % CI 0.71–1.71), Ppk ...``."""
        parts = []
        for name in ("cp", "cpk", "pp", "ppk"):
            est: IntervalEstimate | None = getattr(self, name)
            if est is not None:
                parts.append(
                    f"{name.capitalize()} {est.value:.2f} "
                    f"({est.confidence:.0%} CI {est.lower:.2f}–{est.upper:.2f})"
                )
        return f"n = {self.n}: " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Limits and rules
# --------------------------------------------------------------------------------------------


def _as_array(values: Values, what: str = "values") -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    if arr.ndim != 1:
        raise QCInputError(f"{what} must be a flat sequence of numbers")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise QCInputError(f"{what}[{int(bad[0])}] is {arr[bad[0]]!r}: every value must be a finite number")
    return arr


def imr_limits(values: Values, *, unit: str = "") -> ControlLimits:
    """Phase I I-MR limits from baseline ``values`` (Montgomery2020).

    Raises :class:`QCInputError` for fewer than 2 values or an average moving range of zero
    (all values identical: no estimate of the process sigma).
    """
    cite("Montgomery2020")
    x = _as_array(values)
    if x.size < 2:
        raise QCInputError(f"control limits need at least 2 baseline values (moving ranges), got {x.size}")
    mr = np.abs(np.diff(x))
    mr_bar = float(mr.mean())
    if mr_bar <= 0.0:
        raise QCInputError(
            f"all {x.size} baseline values are identical ({x[0]:g}{' ' + unit if unit else ''}): the average "
            "moving range is 0, so sigma and the control limits are undefined; check the data and the "
            "resolution of the measurement"
        )
    center = float(x.mean())
    sigma = mr_bar / D2_MR
    return ControlLimits(
        center=center,
        sigma=sigma,
        lcl=center - 3.0 * sigma,
        ucl=center + 3.0 * sigma,
        mr_center=mr_bar,
        mr_lcl=D3_MR * mr_bar,
        mr_ucl=D4_MR * mr_bar,
        n_baseline=int(x.size),
        unit=unit,
    )


_Side = Literal["above", "below"]


@dataclass
class _Signal:
    rule: str
    chart: Literal["I", "MR"]
    side: Literal["above", "below", "either"]
    start: int
    end: int  # inclusive; the signal point


def _runs(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each index."""
    out = np.zeros(flags.size, dtype=int)
    count = 0
    for i, f in enumerate(flags):
        count = count + 1 if f else 0
        out[i] = count
    return out


def _rule_signals(rule: str, x: np.ndarray, limits: ControlLimits) -> list[_Signal]:
    z = (x - limits.center) / limits.sigma
    n = x.size
    above = z > _EPS
    below = z < -_EPS
    signals: list[_Signal] = []

    sides: tuple[tuple[_Side, float], ...] = (("above", 1.0), ("below", -1.0))

    def beyond_k_of_m(k_sigma: float, k: int, m: int) -> None:
        for side, sign in sides:
            out = sign * z > k_sigma + _EPS
            for i in range(m - 1, n):
                lo = i - m + 1
                if out[i] and int(out[lo : i + 1].sum()) >= k:
                    signals.append(_Signal(rule, "I", side, lo, i))

    def same_side(length: int) -> None:
        for side, sign in sides:
            run = _runs(above if sign > 0 else below)
            for i in np.flatnonzero(run >= length):
                signals.append(_Signal(rule, "I", side, int(i) - length + 1, int(i)))

    if rule in {"N1", "WE1"}:
        for i in np.flatnonzero(np.abs(z) > 3.0 + _EPS):
            signals.append(_Signal(rule, "I", "above" if z[i] > 0 else "below", int(i), int(i)))
    elif rule == "N2":
        same_side(9)
    elif rule == "WE4":
        same_side(8)
    elif rule == "N3":
        step = np.diff(x) / limits.sigma
        for side, sign in sides:  # "above" = increasing, "below" = decreasing
            run = _runs(sign * step > _EPS)  # run of steps ending at diff index j (points j, j+1)
            for j in np.flatnonzero(run >= 5):  # 5 steps = 6 points
                signals.append(_Signal(rule, "I", side, int(j) - 4, int(j) + 1))
    elif rule == "N4":
        step = np.diff(x) / limits.sigma
        direction = [1 if d > _EPS else -1 if d < -_EPS else 0 for d in step]
        count = 0
        for k in range(len(direction)):
            if direction[k] == 0:
                count = 0
            elif k > 0 and direction[k] == -direction[k - 1]:
                count += 1
            else:
                count = 1
            if count >= 13:  # 13 alternating differences = 14 points
                signals.append(_Signal(rule, "I", "either", k - 12, k + 1))
    elif rule in {"N5", "WE2"}:
        beyond_k_of_m(2.0, 2, 3)
    elif rule in {"N6", "WE3"}:
        beyond_k_of_m(1.0, 4, 5)
    elif rule == "N7":
        run = _runs(np.abs(z) < 1.0 - _EPS)
        for i in np.flatnonzero(run >= 15):
            signals.append(_Signal(rule, "I", "either", int(i) - 14, int(i)))
    elif rule == "N8":
        run = _runs(np.abs(z) > 1.0 + _EPS)
        for i in np.flatnonzero(run >= 8):
            signals.append(_Signal(rule, "I", "either", int(i) - 7, int(i)))
    elif rule == "MR":
        mr = np.abs(np.diff(x))
        for j in np.flatnonzero(mr > limits.mr_ucl * (1 + _EPS) + _EPS * limits.sigma):
            signals.append(_Signal(rule, "MR", "above", int(j), int(j) + 1))
    else:  # pragma: no cover - resolve_rules guards this
        raise QCInputError(f"unknown rule {rule!r}")
    return signals


def _merge(signals: list[_Signal]) -> list[tuple[_Signal, list[int]]]:
    """Merge overlapping or adjacent windows of the same rule, chart and side."""
    merged: list[tuple[_Signal, list[int]]] = []
    for s in sorted(signals, key=lambda s: (s.rule, s.chart, s.side, s.start, s.end)):
        if merged:
            last, ends = merged[-1]
            if (last.rule, last.chart, last.side) == (s.rule, s.chart, s.side) and s.start <= last.end + 1:
                merged[-1] = (
                    _Signal(s.rule, s.chart, s.side, last.start, max(last.end, s.end)),
                    [*ends, s.end],
                )
                continue
        merged.append((s, [s.end]))
    return merged


def _fmt(value: float, unit: str) -> str:
    return f"{value:.4g}{' ' + unit if unit else ''}"


def _span(labels: Sequence[str], start: int, end: int) -> str:
    return labels[start] if start == end else f"{labels[start]}–{labels[end]}"


def _explain(
    rule: str,
    side: str,
    start: int,
    end: int,
    x: np.ndarray,
    limits: ControlLimits,
    labels: Sequence[str],
    unit: str,
) -> str:
    n_pts = end - start + 1
    where = _span(labels, start, end)
    cl = _fmt(limits.center, unit)
    if rule in {"N1", "WE1"}:
        limit = limits.ucl if side == "above" else limits.lcl
        vals = ", ".join(f"{labels[i]} {_fmt(float(x[i]), unit)}" for i in range(start, end + 1))
        return f"{vals} {'above the UCL' if side == 'above' else 'below the LCL'} {_fmt(limit, unit)}"
    if rule in {"N2", "WE4"}:
        return f"{n_pts} points in a row ({where}) {side} the centre line {cl}"
    if rule == "N3":
        trend = "increasing" if side == "above" else "decreasing"
        return (
            f"{n_pts} points in a row steadily {trend} ({where}: "
            f"{_fmt(float(x[start]), unit)} → {_fmt(float(x[end]), unit)}): a drift"
        )
    if rule == "N4":
        return f"{n_pts} points in a row ({where}) alternating up and down: two alternating sources"
    if rule in {"N5", "WE2", "N6", "WE3"}:
        k = 2 if rule in {"N5", "WE2"} else 1
        line = limits.zone_line(k if side == "above" else -k)
        sign = 1.0 if side == "above" else -1.0
        hits = [labels[i] for i in range(start, end + 1) if sign * (x[i] - limits.center) / limits.sigma > k]
        return (
            f"{len(hits)} of {n_pts} points ({where}) more than {k} sigma {side} the centre "
            f"(beyond {_fmt(line, unit)}): {', '.join(hits)}"
        )
    if rule == "N7":
        return (
            f"{n_pts} points in a row ({where}) within 1 sigma ({_fmt(limits.sigma, unit)}) of the centre: "
            "less variation than the limits assume (stratified data or limits from another process)"
        )
    if rule == "N8":
        return (
            f"{n_pts} points in a row ({where}) more than 1 sigma from the centre with none near it: "
            "a mixture of two populations"
        )
    mr = np.abs(np.diff(x))
    jumps = ", ".join(
        f"{labels[j]}→{labels[j + 1]} {_fmt(float(mr[j]), unit)}"
        for j in range(start, end)
        if mr[j] > limits.mr_ucl
    )
    return (
        f"moving range above its UCL {_fmt(limits.mr_ucl, unit)}: {jumps} "
        "(a jump between consecutive batches)"
    )


def detect_rule_violations(
    values: Values,
    limits: ControlLimits,
    rules: RuleSelection = "nelson",
    *,
    labels: Sequence[str] | None = None,
    n_baseline: int = 0,
) -> list[RuleViolation]:
    """Run-rule signals of ``values`` against ``limits``.

    Zones are at 1, 2 and 3 sigma from the centre; "beyond" a line is strictly beyond it, and a
    point on the centre line breaks a same-side run. N5/N6 (WE2/WE3) signal at a point that is
    itself beyond the line, with the required count in the window ending there. N8 counts points
    more than 1 sigma out on either side. Overlapping signals of one rule on one side are merged.
    """
    chosen = resolve_rules(rules)
    cite(*sorted({RULES[r].citation for r in chosen}))
    x = _as_array(values)
    names = list(labels) if labels is not None else [str(i + 1) for i in range(x.size)]
    if len(names) != x.size:
        raise QCInputError(f"{len(names)} labels for {x.size} values: give one label per value")
    if limits.sigma <= 0:
        raise QCInputError("control limits with sigma <= 0 cannot classify points")
    out: list[RuleViolation] = []
    for rule in chosen:
        info = RULES[rule]
        for sig, ends in _merge(_rule_signals(rule, x, limits)):
            out.append(
                RuleViolation(
                    rule=rule,
                    family=info.family,
                    description=info.description,
                    chart=sig.chart,
                    side=sig.side,
                    points=tuple(range(sig.start, sig.end + 1)),
                    signal_points=tuple(sorted(set(ends))),
                    labels=tuple(names[sig.start : sig.end + 1]),
                    explanation=_explain(rule, sig.side, sig.start, sig.end, x, limits, names, limits.unit),
                    in_baseline=max(ends) < n_baseline,
                )
            )
    out.sort(key=lambda v: (min(v.signal_points), v.rule))
    return out


def imr_chart(
    values: Values,
    labels: Sequence[str] | None = None,
    *,
    baseline: int | None = None,
    limits: ControlLimits | None = None,
    rules: RuleSelection = "nelson",
    include_mr: bool = True,
    attribute: str = "",
    unit: str = "",
) -> IMRChart:
    """An I-MR chart of ``values`` (one per batch, in manufacturing order).

    - Phase I (default): limits from all values, rules applied to all.
    - Phase II, ``baseline=k``: limits from the first ``k`` values (they stay fixed), the
      remaining values are monitored; rules run over the whole sequence so a run may start in
      the baseline, and each violation says whether it signals in the baseline.
    - Phase II, ``limits=``: fixed limits from elsewhere; every value is monitored.

    ``rules``: ``'nelson'`` (default), ``'western_electric'``, ``'all'`` or a list of rule ids;
    ``include_mr`` adds the MR-chart rule.
    """
    cite("Montgomery2020")
    x = _as_array(values)
    names = [str(s) for s in labels] if labels is not None else [str(i + 1) for i in range(x.size)]
    if len(names) != x.size:
        raise QCInputError(f"{len(names)} labels for {x.size} values: give one label per value")
    if limits is not None and baseline is not None:
        raise QCInputError("give either baseline (limits from the first values) or fixed limits, not both")
    warnings: list[str] = []
    if limits is None:
        k = x.size if baseline is None else int(baseline)
        if not 2 <= k <= x.size:
            raise QCInputError(
                f"baseline must be between 2 and the number of values ({x.size}), got {baseline}"
            )
        limits = imr_limits(x[:k], unit=unit)
        n_baseline = k
        if k < MIN_BASELINE_RECOMMENDED:
            warnings.append(
                f"limits from only {k} baseline values (Montgomery2020 recommends 20–25 for trial limits): "
                "the limits are themselves uncertain, treat signals as provisional"
            )
    else:
        n_baseline = 0
    phase: Literal["I", "II"] = "I" if n_baseline == x.size else "II"
    chosen = resolve_rules(rules)
    if include_mr and "MR" not in chosen:
        chosen = (*chosen, "MR")
    violations = detect_rule_violations(x, limits, chosen, labels=names, n_baseline=n_baseline)
    return IMRChart(
        attribute=attribute,
        unit=unit or limits.unit,
        labels=tuple(names),
        values=tuple(float(v) for v in x),
        moving_ranges=tuple(float(v) for v in np.abs(np.diff(x))),
        limits=limits,
        phase=phase,
        n_baseline=n_baseline,
        rules=chosen,
        violations=tuple(violations),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Capability
# --------------------------------------------------------------------------------------------


def _chi2_interval(index: float, n: int, confidence: float, method: str) -> IntervalEstimate:
    alpha = 1.0 - confidence
    df = n - 1
    lower = index * math.sqrt(stats.chi2.ppf(alpha / 2, df) / df)
    upper = index * math.sqrt(stats.chi2.ppf(1 - alpha / 2, df) / df)
    return IntervalEstimate(value=index, lower=lower, upper=upper, confidence=confidence, method=method)


def _bissell_interval(index: float, n: int, confidence: float, method: str) -> IntervalEstimate:
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    se = math.sqrt(1.0 / (9.0 * n) + index**2 / (2.0 * (n - 1)))
    return IntervalEstimate(
        value=index, lower=index - z * se, upper=index + z * se, confidence=confidence, method=method
    )


def capability(
    values: Values,
    lsl: float | None = None,
    usl: float | None = None,
    *,
    confidence: float = 0.95,
    attribute: str = "",
    unit: str = "",
    stability_rules: RuleSelection = ("N1", "N2", "N3", "N5", "N6"),
) -> CapabilityResult:
    """Process capability of ``values`` against ``lsl``/``usl`` (at least one).

    ``Cp = (USL − LSL)/(6σ)``, ``Cpk = min(USL − μ, μ − LSL)/(3σ)`` (Kane1986) with σ the
    short-term sigma MRbar/d2; Pp, Ppk the same with the overall sample SD (Montgomery2020).
    Intervals: Cp and Pp by ``index·sqrt(χ²_{α/2, n−1}/(n−1))`` … ``index·sqrt(χ²_{1−α/2,
    n−1}/(n−1))`` — exact for Pp under normality, approximate for Cp since MRbar/d2 has fewer
    effective degrees of freedom than n − 1 (the Cp interval is somewhat too narrow); Cpk and
    Ppk by Bissell1990, ``index ± z·sqrt(1/(9n) + index²/(2(n−1)))``.

    Also reports a Shapiro–Wilk test (ShapiroWilk1965; the indices and intervals assume a normal
    distribution), whether an I-MR chart of the values shows special causes (``stability_rules``;
    capability means little for an unstable process) and sample-size warnings.
    """
    cite("Montgomery2020", "Kane1986", "Bissell1990", "ShapiroWilk1965")
    x = _as_array(values)
    n = int(x.size)
    if lsl is None and usl is None:
        raise QCInputError("capability needs at least one specification limit (lsl or usl)")
    if lsl is not None and usl is not None and not lsl < usl:
        raise QCInputError(f"lsl ({lsl:g}) must be below usl ({usl:g})")
    if not 0.5 < confidence < 1.0:
        raise QCInputError(f"confidence must be in (0.5, 1), got {confidence}")
    if n < 3:
        raise QCInputError(f"capability needs at least 3 values, got {n}")
    limits = imr_limits(x, unit=unit)
    sigma_w = limits.sigma
    sigma_o = float(x.std(ddof=1))
    mean = float(x.mean())
    warnings: list[str] = []
    if n < MIN_CAPABILITY_N:
        cite("Assumed")
        warnings.append(
            f"only {n} values (fewer than {MIN_CAPABILITY_N}, an assumed rule of thumb): the indices are "
            "imprecise — read the confidence intervals, not the point estimates"
        )

    def indices(sigma: float) -> tuple[float | None, float, float | None, float | None]:
        upper = (usl - mean) / (3 * sigma) if usl is not None else None
        lower = (mean - lsl) / (3 * sigma) if lsl is not None else None
        cp = (usl - lsl) / (6 * sigma) if usl is not None and lsl is not None else None
        k = min(v for v in (upper, lower) if v is not None)
        return cp, k, upper, lower

    cp, cpk, _, _ = indices(sigma_w)
    pp, ppk, _, _ = indices(sigma_o)
    level = f"{confidence:.0%}"
    cp_est = (
        _chi2_interval(cp, n, confidence, f"chi-square {level} (approximate for MRbar/d2 sigma)")
        if cp is not None
        else None
    )
    pp_est = (
        _chi2_interval(pp, n, confidence, f"chi-square {level} (exact under normality)")
        if pp is not None
        else None
    )
    cpk_est = _bissell_interval(cpk, n, confidence, f"Bissell 1990 normal approximation {level}")
    ppk_est = _bissell_interval(ppk, n, confidence, f"Bissell 1990 normal approximation {level}")

    out_ppm = 0.0
    if usl is not None:
        out_ppm += float(stats.norm.sf((usl - mean) / sigma_o))
    if lsl is not None:
        out_ppm += float(stats.norm.cdf((lsl - mean) / sigma_o))
    out_ppm *= 1e6

    shapiro_w: float | None = None
    shapiro_p: float | None = None
    if 3 <= n <= SHAPIRO_MAX_N and sigma_o > 0:
        res = stats.shapiro(x)
        shapiro_w, shapiro_p = float(res.statistic), float(res.pvalue)
    if shapiro_p is None:
        normality = f"normality not tested (Shapiro–Wilk p-values are unreliable above n = {SHAPIRO_MAX_N})"
    elif shapiro_p < 0.05:
        normality = (
            f"Shapiro–Wilk W = {shapiro_w:.3f}, p = {shapiro_p:.3g}: normality rejected at 5 %; the indices "
            "and their intervals assume a normal distribution and may be misleading"
        )
        warnings.append(normality)
    else:
        normality = (
            f"Shapiro–Wilk W = {shapiro_w:.3f}, p = {shapiro_p:.3g}: no evidence against normality "
            f"(with n = {n} the test has little power)"
        )

    violations = detect_rule_violations(x, limits, stability_rules, labels=None, n_baseline=n)
    stable = not violations
    if not stable:
        warnings.append(
            "the I-MR chart of these values shows special causes ("
            + ", ".join(sorted({v.rule for v in violations}))
            + "): capability describes a stable process only; the within (Cp/Cpk) and overall (Pp/Ppk) "
            "indices will disagree"
        )
    return CapabilityResult(
        attribute=attribute,
        unit=unit,
        n=n,
        mean=mean,
        sigma_within=sigma_w,
        sigma_overall=sigma_o,
        lsl=lsl,
        usl=usl,
        cp=cp_est,
        cpk=cpk_est,
        pp=pp_est,
        ppk=ppk_est,
        expected_out_of_spec_ppm=out_ppm,
        shapiro_w=shapiro_w,
        shapiro_p=shapiro_p,
        normality=normality,
        stable=stable,
        warnings=tuple(warnings),
    )
