"""Batch release against a specification: per-attribute verdicts and the release decision.

:func:`release_decision` evaluates every attribute of a :class:`~nanobridge.domain.batch.Specification`
for one :class:`~nanobridge.domain.batch.Batch`:

- ``pass`` — within the limits (or the qualitative criterion is met) and in trend;
- ``fail`` — outside a limit, or the qualitative result differs from the criterion;
- ``out-of-trend`` — within specification, but unusual against the lot history: on an I-MR
  chart whose limits come from the earlier batches (phase II, Montgomery2020) the batch
  completes a Nelson1984 / Western Electric pattern (by default Nelson rules 1, 2, 3, 5, 6 and
  the moving-range limit), e.g. it lies beyond the 3-sigma limit or is the sixth rising lot;
- ``missing`` — no measurement;
- ``not-evaluable`` — a measurement that cannot be compared (unit of another quantity, a
  number where a pass/fail result is specified or the reverse, a censored value such as
  "< 2 %" against a lower limit).

The decision: any ``fail`` → ``reject``; otherwise any ``missing`` or ``not-evaluable`` →
``incomplete``; otherwise any ``out-of-trend`` → ``hold`` (hold for investigation); otherwise
``release``. Every non-pass attribute contributes a reason.

Limits are inclusive and results are compared as reported (no rounding to the limit's
significant figures, no guard band for measurement uncertainty; a result within two standard
uncertainties of a limit gets a warning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from nanobridge.citations import cite
from nanobridge.domain.batch import (
    AttributeSpec,
    Batch,
    Measurement,
    Specification,
    UnitMismatchError,
    attribute_series,
    convert_unit,
    sort_batches,
)
from nanobridge.science.qc.errors import QCInputError
from nanobridge.science.qc.spc import (
    RuleSelection,
    RuleViolation,
    imr_chart,
    imr_limits,
    resolve_rules,
)

__all__ = [
    "DEFAULT_TREND_RULES",
    "MIN_TREND_HISTORY",
    "AttributeResult",
    "AttributeStatus",
    "ReleaseDecision",
    "ReleaseVerdict",
    "evaluate_attribute",
    "release_decision",
]

AttributeStatus = Literal["pass", "fail", "out-of-trend", "missing", "not-evaluable"]
ReleaseVerdict = Literal["release", "reject", "hold", "incomplete"]

#: Rules that make a within-spec result out of trend (the moving-range rule is added).
DEFAULT_TREND_RULES: tuple[str, ...] = ("N1", "N2", "N3", "N5", "N6")
#: Fewest earlier values for a trend check (assumed; Montgomery2020 recommends 20–25 for limits).
MIN_TREND_HISTORY = 8

_VERDICT_TEXT = {
    "release": "release",
    "reject": "reject",
    "hold": "hold for investigation",
    "incomplete": "incomplete (cannot be released yet)",
}


class AttributeResult(BaseModel):
    """The verdict on one specified attribute of one batch.

    ``value`` is in the specification's ``unit`` (converted if the measurement used another
    unit of the same quantity); ``measured`` is the result as reported.
    """

    model_config = ConfigDict(frozen=True)

    attribute: str
    title: str
    status: AttributeStatus
    acceptance: str
    unit: str
    value: float | None = None
    qualifier: Literal["<", ">"] | None = None
    result: str | None = None
    measured: str | None = None
    method: str | None = None
    specified_method: str | None = None
    tier: int
    reasons: tuple[str, ...] = ()
    trend_violations: tuple[RuleViolation, ...] = ()
    trend_checked: bool = False
    notes: tuple[str, ...] = ()


class ReleaseDecision(BaseModel):
    """Release decision of one batch against one specification, with reasons."""

    model_config = ConfigDict(frozen=True)

    batch_id: str
    scale: str
    specification: str
    decision: ReleaseVerdict
    decision_text: str
    results: tuple[AttributeResult, ...]
    reasons: tuple[str, ...]
    unspecified_attributes: tuple[str, ...] = ()
    history_batches: tuple[str, ...] = ()
    trend_rules: tuple[str, ...] = ()

    def result(self, attribute: str) -> AttributeResult:
        """The result of ``attribute`` (KeyError if it is not specified)."""
        for r in self.results:
            if r.attribute == attribute:
                return r
        raise KeyError(f"{attribute!r} is not in specification {self.specification}")

    def counts(self) -> dict[str, int]:
        """Number of attributes per status."""
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def summary(self) -> str:
        """Decision and reasons as plain text."""
        lines = [
            f"Batch {self.batch_id} ({self.scale}) against {self.specification}: {self.decision_text.upper()}"
        ]
        lines.extend(f"  - {reason}" for reason in self.reasons)
        return "\n".join(lines)


def _fmt(value: float, unit: str) -> str:
    return f"{value:.4g}{' ' + unit if unit else ''}"


def _method_matches(measured: str | None, specified: str | None) -> bool:
    if not measured or not specified:
        return True
    a, b = measured.lower(), specified.lower()
    return a in b or b in a


def _check_limits(
    spec: AttributeSpec, value: float, qualifier: str | None
) -> tuple[AttributeStatus, list[str]]:
    lo, hi = spec.lower_limit, spec.upper_limit
    u = spec.unit
    shown = f"{qualifier + ' ' if qualifier else ''}{_fmt(value, u)}"
    if qualifier == "<":  # true value below `value`
        if lo is not None and value <= lo:
            return "fail", [f"{shown} is below the lower limit {_fmt(lo, u)}"]
        if hi is not None and value > hi:
            return "not-evaluable", [f"{shown} does not show the result is ≤ {_fmt(hi, u)}: report the value"]
        if lo is not None:
            return "not-evaluable", [f"{shown} does not show the result is ≥ {_fmt(lo, u)}: report the value"]
        return "pass", []
    if qualifier == ">":  # true value above `value`
        if hi is not None and value >= hi:
            return "fail", [f"{shown} is above the upper limit {_fmt(hi, u)}"]
        if lo is not None and value < lo:
            return "not-evaluable", [f"{shown} does not show the result is ≥ {_fmt(lo, u)}: report the value"]
        if hi is not None:
            return "not-evaluable", [f"{shown} does not show the result is ≤ {_fmt(hi, u)}: report the value"]
        return "pass", []
    reasons = []
    if lo is not None and value < lo:
        reasons.append(f"{shown} is below the lower limit {_fmt(lo, u)}")
    if hi is not None and value > hi:
        reasons.append(f"{shown} is above the upper limit {_fmt(hi, u)}")
    return ("fail" if reasons else "pass"), reasons


def _trend(
    spec: AttributeSpec,
    value: float,
    batch_id: str,
    history: Sequence[Batch],
    baseline: Sequence[Batch] | None,
    rules: tuple[str, ...],
    min_history: int,
) -> tuple[list[RuleViolation], list[str], bool]:
    """Violations that signal at the new point; notes; whether the check ran."""
    try:
        series = attribute_series(history, spec.attribute, spec.unit)
    except UnitMismatchError as exc:
        return [], [f"trend not checked: lot history has a unit problem ({exc.problems[0]})"], False
    if len(series) < min_history:
        return (
            [],
            [f"trend not checked: {len(series)} earlier values of {spec.attribute} (need ≥ {min_history})"],
            False,
        )
    values = [*series.values, value]
    labels = [*series.labels, batch_id]
    notes: list[str] = []
    try:
        if baseline is not None:
            base = attribute_series(baseline, spec.attribute, spec.unit)
            limits = imr_limits(base.values, unit=spec.unit)
            chart = imr_chart(values, labels, limits=limits, rules=rules, include_mr=True, unit=spec.unit)
            source = f"limits from {len(base)} baseline batches"
        else:
            chart = imr_chart(
                values, labels, baseline=len(series), rules=rules, include_mr=True, unit=spec.unit
            )
            source = f"limits from {len(series)} earlier batches"
    except (QCInputError, UnitMismatchError) as exc:
        return [], [f"trend not checked: {exc}"], False
    lim = chart.limits
    notes.append(
        f"trend: {source}, centre {_fmt(lim.center, spec.unit)}, limits "
        f"{_fmt(lim.lcl, spec.unit)}–{_fmt(lim.ucl, spec.unit)}"
    )
    return chart.violations_at(-1), notes, True


def evaluate_attribute(
    spec: AttributeSpec,
    measurement: Measurement | None,
    *,
    batch_id: str = "",
    history: Sequence[Batch] = (),
    baseline: Sequence[Batch] | None = None,
    rules: RuleSelection = DEFAULT_TREND_RULES,
    min_history: int = MIN_TREND_HISTORY,
) -> AttributeResult:
    """Verdict on one attribute (see the module docstring). ``history``: earlier batches in
    manufacturing order for the trend check; ``baseline``: batches that fix the control limits
    (default: the history itself). Records the attribute's citations."""
    if spec.citations:
        cite(*spec.citations)
    base = {
        "attribute": spec.attribute,
        "title": spec.label,
        "acceptance": spec.acceptance_text(),
        "unit": spec.unit,
        "specified_method": spec.method,
        "tier": spec.tier,
    }
    if measurement is None:
        return AttributeResult(**base, status="missing", reasons=(f"{spec.label}: no result",))
    notes: list[str] = []
    if not _method_matches(measurement.method, spec.method):
        notes.append(f"method {measurement.method!r} differs from the specified {spec.method!r}")
    common = {**base, "measured": measurement.display(), "method": measurement.method}

    if spec.is_qualitative:
        if measurement.result is None:
            return AttributeResult(
                **common,
                status="not-evaluable",
                reasons=(
                    f"{spec.label}: a number ({measurement.display()}) was reported, the specification "
                    f"expects the result {spec.criterion!r}",
                ),
                notes=tuple(notes),
            )
        ok = measurement.result == spec.criterion
        return AttributeResult(
            **common,
            status="pass" if ok else "fail",
            result=measurement.result,
            reasons=()
            if ok
            else (f"{spec.label}: result {measurement.result!r}, required {spec.criterion!r}",),
            notes=tuple(notes),
        )

    if measurement.value is None:
        return AttributeResult(
            **common,
            status="not-evaluable",
            result=measurement.result,
            reasons=(
                f"{spec.label}: a qualitative result ({measurement.result!r}) was reported, the "
                f"specification expects a number ({spec.acceptance_text()})",
            ),
            notes=tuple(notes),
        )
    try:
        value = convert_unit(measurement.value, measurement.unit, spec.unit, what=f"{spec.attribute}.unit")
    except UnitMismatchError as exc:
        return AttributeResult(
            **common,
            status="not-evaluable",
            reasons=(f"{spec.label}: {exc.problems[0].message} (reported {measurement.display()})",),
            notes=tuple(notes),
        )
    if measurement.unit != spec.unit:
        notes.append(f"converted {measurement.display()} to {_fmt(value, spec.unit)}")
    status, limit_reasons = _check_limits(spec, value, measurement.qualifier)
    reasons = [f"{spec.label}: {r} ({spec.acceptance_text()})" for r in limit_reasons]
    if measurement.uncertainty and status == "pass" and measurement.qualifier is None:
        u = convert_unit(measurement.uncertainty, measurement.unit, spec.unit)
        for limit in (spec.lower_limit, spec.upper_limit):
            if limit is not None and abs(value - limit) < 2 * u:
                notes.append(
                    f"within two standard uncertainties ({_fmt(2 * u, spec.unit)}) of the limit "
                    f"{_fmt(limit, spec.unit)}: conformity is not certain at ~95 % confidence"
                )
    violations: list[RuleViolation] = []
    checked = False
    if status == "pass" and measurement.qualifier is None and history:
        chosen = resolve_rules(rules)
        violations, trend_notes, checked = _trend(
            spec, value, batch_id or "this batch", history, baseline, chosen, min_history
        )
        notes.extend(trend_notes)
        if violations:
            status = "out-of-trend"
            reasons.extend(
                f"{spec.label}: within specification but out of trend — {v.rule} "
                f"({v.description}): {v.explanation}"
                for v in violations
            )
    elif not history and status == "pass":
        notes.append("trend not checked: no lot history given")
    return AttributeResult(
        **common,
        status=status,
        value=value,
        qualifier=measurement.qualifier,
        reasons=tuple(reasons),
        trend_violations=tuple(violations),
        trend_checked=checked,
        notes=tuple(notes),
    )


def release_decision(
    batch: Batch,
    spec: Specification,
    history: Sequence[Batch] = (),
    *,
    baseline: Sequence[Batch] | None = None,
    rules: RuleSelection = DEFAULT_TREND_RULES,
    min_history: int = MIN_TREND_HISTORY,
) -> ReleaseDecision:
    """Release decision for ``batch`` against ``spec``.

    ``history``: the lot history; the batch itself is dropped from it, it is put in
    manufacturing order (:func:`~nanobridge.domain.batch.sort_batches`), and, when the batch
    is dated, only batches made on or before its date are used. With fewer than
    ``min_history`` earlier values an attribute is not trend-checked (said in its notes).
    ``baseline``: batches that fix the control limits (e.g. the validated lab-scale lots);
    default: the history. ``rules``: run rules for the trend check (plus the MR rule).
    """
    cite("Montgomery2020")
    if spec.citations:
        cite(*spec.citations)
    earlier = [b for b in sort_batches(history) if b.batch_id != batch.batch_id]
    if batch.date is not None:
        earlier = [b for b in earlier if b.date is None or b.date <= batch.date]
    chosen = resolve_rules(rules)
    if len(earlier) >= 1:
        cite("Nelson1984")
    results = [
        evaluate_attribute(
            a,
            batch.measurement(a.attribute),
            batch_id=batch.batch_id,
            history=earlier,
            baseline=baseline,
            rules=chosen,
            min_history=min_history,
        )
        for a in spec.attributes
    ]
    unspecified = tuple(a for a in batch.attributes if a not in spec)
    statuses = {r.status for r in results}
    if "fail" in statuses:
        decision: ReleaseVerdict = "reject"
    elif statuses & {"missing", "not-evaluable"}:
        decision = "incomplete"
    elif "out-of-trend" in statuses:
        decision = "hold"
    else:
        decision = "release"
    order = {"fail": 0, "not-evaluable": 1, "missing": 2, "out-of-trend": 3, "pass": 4}
    reasons: list[str] = []
    for r in sorted(results, key=lambda r: order[r.status]):
        if r.status != "pass":
            reasons.extend(f"[{r.status}] {reason}" for reason in r.reasons)
    if decision == "release":
        n_trend = sum(r.trend_checked for r in results)
        reasons.append(
            f"all {len(results)} specified attributes meet {spec.label}"
            + (f"; {n_trend} numeric attributes checked for trend" if n_trend else "")
        )
    if unspecified:
        reasons.append(f"not in the specification (not evaluated): {', '.join(unspecified)}")
    return ReleaseDecision(
        batch_id=batch.batch_id,
        scale=batch.scale,
        specification=spec.label,
        decision=decision,
        decision_text=_VERDICT_TEXT[decision],
        results=tuple(results),
        reasons=tuple(reasons),
        unspecified_attributes=unspecified,
        history_batches=tuple(b.batch_id for b in earlier),
        trend_rules=(*chosen, "MR"),
    )
